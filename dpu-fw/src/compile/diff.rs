//! The difference between two plans: which pipes come and go, and the minimal entry adds
//! and removes inside the pipes both plans have.
//!
//! Pipes are identified by name (the compiler's names say group, family, segment and
//! band, so they are stable across compiles) and kind; a pipe whose miss now goes
//! elsewhere counts as removed and added. Entries are compared as a multiset of their
//! whole content (rule, match, priority, forward, counter, meter), with forwards to pipes
//! compared by the target's name.
//!
//! `install::Installed::update` applies a diff in place when the pipes are the same
//! and the entry changes are few ([`PlanDiff::in_place`]); otherwise it installs
//! make-before-break.

use std::collections::HashMap;

use super::plan::{Plan, PlanEntry, PlanFwd, PlanPipe};

/// What changes from one plan to another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanDiff {
    /// Names of pipes only the new plan has.
    pub pipes_added: Vec<String>,
    /// Names of pipes only the old plan has.
    pub pipes_removed: Vec<String>,
    /// Entries to add to pipes both plans have: (index of the pipe in the new plan, index
    /// of the entry in that pipe).
    pub entries_added: Vec<(usize, usize)>,
    /// Entries to remove from pipes both plans have: (index of the pipe in the old plan,
    /// index of the entry in that pipe).
    pub entries_removed: Vec<(usize, usize)>,
    /// The two plans have the same pipes at the same positions (same name, kind and miss),
    /// so the entry changes can be applied to the installed pipes.
    pub same_pipes: bool,
}

impl PlanDiff {
    /// Nothing changes.
    pub fn is_empty(&self) -> bool {
        self.pipes_added.is_empty()
            && self.pipes_removed.is_empty()
            && self.entries_added.is_empty()
            && self.entries_removed.is_empty()
    }

    /// Entry operations the in-place path would post.
    pub fn entry_ops(&self) -> usize {
        self.entries_added.len() + self.entries_removed.len()
    }

    /// Whether the change can be applied to the installed pipes with at most `max_ops`
    /// entry operations (adds first, then removes).
    pub fn in_place(&self, max_ops: usize) -> bool {
        self.same_pipes && self.entry_ops() <= max_ops
    }
}

fn fwd_name(plan: &Plan, f: PlanFwd) -> String {
    match f {
        PlanFwd::Pipe(i) => format!("pipe:{}", plan.pipes[i].name),
        other => format!("{other:?}"),
    }
}

fn pipe_key(plan: &Plan, p: &PlanPipe) -> String {
    let miss = p.fwd_miss.map_or("-".into(), |f| fwd_name(plan, f));
    format!("{}|{:?}|{miss}", p.name, p.kind)
}

/// The identity of an entry for diffing (forwards to pipes by the target's name).
pub(crate) fn entry_key(plan: &Plan, e: &PlanEntry) -> String {
    format!(
        "{:?}|{:?}|{}|{}|{:?}",
        e.rule,
        e.matcher,
        fwd_name(plan, e.fwd),
        e.counter,
        e.meter
    )
}

/// The difference from `old` to `new`.
pub fn diff(old: &Plan, new: &Plan) -> PlanDiff {
    let old_keys: Vec<String> = old.pipes.iter().map(|p| pipe_key(old, p)).collect();
    let new_keys: Vec<String> = new.pipes.iter().map(|p| pipe_key(new, p)).collect();
    let mut d = PlanDiff {
        same_pipes: old_keys == new_keys && old.ports == new.ports,
        ..PlanDiff::default()
    };
    let old_by_key: HashMap<&str, usize> = old_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let new_by_key: HashMap<&str, usize> = new_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    for (i, k) in old_keys.iter().enumerate() {
        if !new_by_key.contains_key(k.as_str()) {
            d.pipes_removed.push(old.pipes[i].name.clone());
        }
    }
    for (j, k) in new_keys.iter().enumerate() {
        let Some(&i) = old_by_key.get(k.as_str()) else {
            d.pipes_added.push(new.pipes[j].name.clone());
            continue;
        };
        // A multiset difference of the two pipes' entries.
        let mut pool: HashMap<String, Vec<usize>> = HashMap::new();
        for (n, e) in old.pipes[i].entries.iter().enumerate() {
            pool.entry(entry_key(old, e)).or_default().push(n);
        }
        for (n, e) in new.pipes[j].entries.iter().enumerate() {
            match pool.get_mut(&entry_key(new, e)).and_then(Vec::pop) {
                Some(_) => {}
                None => d.entries_added.push((j, n)),
            }
        }
        let mut left: Vec<(usize, usize)> = pool.into_values().flatten().map(|n| (i, n)).collect();
        left.sort_unstable();
        d.entries_removed.extend(left);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{Target, compile};
    use crate::model::{Action, PortId, PortRange, PortRef, PortRole, Rule, RuleSet};

    fn rules(ports: &[u16]) -> RuleSet {
        let mut b = RuleSet::builder()
            .port("p0", PortRole::Uplink, PortRef::Doca(PortId(0)))
            .port("pf0hpf", PortRole::Host, PortRef::Doca(PortId(1)));
        for (i, p) in ports.iter().enumerate() {
            b = b.rule(
                Rule::builder(format!("r{i}"))
                    .protocol(6)
                    .dst_ports([PortRange::single(*p)])
                    .action(Action::Drop),
            );
        }
        b.build().unwrap()
    }

    #[test]
    fn equal_plans_have_an_empty_diff() {
        let a = compile(&rules(&[22, 80]), &Target::bluefield()).unwrap();
        let d = diff(&a, &a);
        assert!(d.is_empty());
        assert!(d.same_pipes);
    }

    #[test]
    fn one_more_rule_is_one_entry_per_family_and_port_group() {
        let a = compile(&rules(&[22, 80]), &Target::bluefield()).unwrap();
        let b = compile(&rules(&[22, 80, 443]), &Target::bluefield()).unwrap();
        let d = diff(&a, &b);
        assert!(d.same_pipes, "{d:?}");
        assert!(d.entries_removed.is_empty(), "{d:?}");
        // 2 port groups x 2 families.
        assert_eq!(d.entries_added.len(), 4);
        for (p, e) in &d.entries_added {
            assert_eq!(b.pipes[*p].entries[*e].rule, Some(2));
        }
        let back = diff(&b, &a);
        assert_eq!(back.entries_removed.len(), 4);
        assert!(back.entries_added.is_empty());
    }

    #[test]
    fn a_new_segment_adds_pipes() {
        let a = compile(&rules(&[22]), &Target::bluefield()).unwrap();
        let mut r = rules(&[22]);
        r.rules.push(Rule {
            name: "ping".into(),
            matches: crate::model::RuleMatch {
                protocol: Some(1),
                icmp: Some(crate::model::IcmpMatch {
                    icmp_type: 8,
                    code: None,
                }),
                ..Default::default()
            },
            action: Action::Accept,
            count: false,
            rate_limit: None,
        });
        let b = compile(&r, &Target::bluefield()).unwrap();
        let d = diff(&a, &b);
        assert!(!d.same_pipes);
        assert!(!d.pipes_added.is_empty());
    }
}
