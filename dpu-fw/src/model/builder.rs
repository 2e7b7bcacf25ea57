//! The programmatic way to make a [`RuleSet`]: for ClassBench import, tests
//! and the demo policy, without TOML.

use super::{
    Action, Chain, CheckOptions, Conntrack, CtState, Defaults, FIREWALL_HOP, Family, Hop,
    IcmpMatch, ModelError, PolicyPort, PortRange, PortRef, PortRole, Prefix, Problem, ProblemKind,
    RateLimit, Rule, RuleMatch, RuleSet, Set, SetValues, Site, StateSet, TcpFlags,
};

/// Builds one [`Rule`]; named sets it refers to are resolved by
/// [`RuleSetBuilder::build`].
///
/// Every list method appends, so `src(a).src(b)` matches either prefix.
#[derive(Debug, Clone)]
#[must_use]
pub struct RuleBuilder {
    rule: Rule,
    src_sets: Vec<String>,
    dst_sets: Vec<String>,
    src_port_sets: Vec<String>,
    dst_port_sets: Vec<String>,
}

impl RuleBuilder {
    /// A rule named `name` that matches everything and accepts.
    pub fn new(name: impl Into<String>) -> Self {
        RuleBuilder {
            rule: Rule {
                name: name.into(),
                matches: RuleMatch::default(),
                action: Action::Accept,
                count: false,
                rate_limit: None,
            },
            src_sets: Vec::new(),
            dst_sets: Vec::new(),
            src_port_sets: Vec::new(),
            dst_port_sets: Vec::new(),
        }
    }

    /// Match packets entering at the named port (appends).
    pub fn in_port(mut self, port: impl Into<String>) -> Self {
        self.rule.matches.in_ports.push(port.into());
        self
    }

    /// Match only one address family.
    pub fn family(mut self, family: Family) -> Self {
        self.rule.matches.family = Some(family);
        self
    }

    /// Match source addresses in these prefixes (appends).
    pub fn src(mut self, prefixes: impl IntoIterator<Item = Prefix>) -> Self {
        self.rule.matches.src.extend(prefixes);
        self
    }

    /// Match source addresses in the named prefix set (appends).
    pub fn src_set(mut self, set: impl Into<String>) -> Self {
        self.src_sets.push(set.into());
        self
    }

    /// Match destination addresses in these prefixes (appends).
    pub fn dst(mut self, prefixes: impl IntoIterator<Item = Prefix>) -> Self {
        self.rule.matches.dst.extend(prefixes);
        self
    }

    /// Match destination addresses in the named prefix set (appends).
    pub fn dst_set(mut self, set: impl Into<String>) -> Self {
        self.dst_sets.push(set.into());
        self
    }

    /// Match one IP protocol number (see [`super::protocol`]).
    pub fn protocol(mut self, protocol: u8) -> Self {
        self.rule.matches.protocol = Some(protocol);
        self
    }

    /// Match source ports in these ranges (appends).
    pub fn src_ports(mut self, ranges: impl IntoIterator<Item = PortRange>) -> Self {
        self.rule.matches.src_ports.extend(ranges);
        self
    }

    /// Match source ports in the named port set (appends).
    pub fn src_port_set(mut self, set: impl Into<String>) -> Self {
        self.src_port_sets.push(set.into());
        self
    }

    /// Match destination ports in these ranges (appends).
    pub fn dst_ports(mut self, ranges: impl IntoIterator<Item = PortRange>) -> Self {
        self.rule.matches.dst_ports.extend(ranges);
        self
    }

    /// Match destination ports in the named port set (appends).
    pub fn dst_port_set(mut self, set: impl Into<String>) -> Self {
        self.dst_port_sets.push(set.into());
        self
    }

    /// Match an ICMP / ICMPv6 type and optionally code.
    pub fn icmp(mut self, icmp_type: u8, code: Option<u8>) -> Self {
        self.rule.matches.icmp = Some(IcmpMatch { icmp_type, code });
        self
    }

    /// Match TCP flags: `flags & mask == value & mask`.
    pub fn tcp_flags(mut self, value: u8, mask: u8) -> Self {
        self.rule.matches.tcp_flags = Some(TcpFlags::new(value, mask));
        self
    }

    /// Match the connection-tracking state (any of `states`; appends).
    pub fn state(mut self, states: impl IntoIterator<Item = CtState>) -> Self {
        let set = self.rule.matches.state.unwrap_or_default();
        self.rule.matches.state = Some(states.into_iter().fold(set, StateSet::with));
        self
    }

    /// Match the VLAN id of the outermost tag.
    pub fn vlan(mut self, vid: u16) -> Self {
        self.rule.matches.vlan = Some(vid);
        self
    }

    /// Set the whole match at once (replaces the fields set so far, keeps
    /// set references).
    pub fn matches(mut self, m: RuleMatch) -> Self {
        self.rule.matches = m;
        self
    }

    /// The terminal action (default: accept).
    pub fn action(mut self, action: Action) -> Self {
        self.rule.action = action;
        self
    }

    /// Count matching packets.
    pub fn count(mut self) -> Self {
        self.rule.count = true;
        self
    }

    /// Police matching packets.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rule.rate_limit = Some(limit);
        self
    }

    /// The rule, with set references resolved against `sets`; `index` is the
    /// rule's position, for the problems reported.
    fn resolve(self, sets: &[Set], index: usize, problems: &mut Vec<Problem>) -> Rule {
        let mut rule = self.rule;
        let find =
            |name: &str, key: &'static str, want_prefixes: bool, problems: &mut Vec<Problem>| {
                let at = Site::Rule { index, key };
                match sets.iter().find(|s| s.name == name) {
                    None => {
                        problems.push(Problem::new(
                            at,
                            ProblemKind::UndefinedSet,
                            format!("undefined set `{name}`"),
                        ));
                        None
                    }
                    Some(s) => match (&s.values, want_prefixes) {
                        (SetValues::Prefixes(_), true) | (SetValues::Ports(_), false) => {
                            Some(s.values.clone())
                        }
                        _ => {
                            let want = if want_prefixes { "prefix" } else { "port" };
                            problems.push(Problem::new(
                                at,
                                ProblemKind::WrongSetKind,
                                format!("set `{name}` is not a {want} set"),
                            ));
                            None
                        }
                    },
                }
            };
        for name in &self.src_sets {
            if let Some(SetValues::Prefixes(p)) = find(name, "src", true, problems) {
                rule.matches.src.extend(p);
            }
        }
        for name in &self.dst_sets {
            if let Some(SetValues::Prefixes(p)) = find(name, "dst", true, problems) {
                rule.matches.dst.extend(p);
            }
        }
        for name in &self.src_port_sets {
            if let Some(SetValues::Ports(p)) = find(name, "src_port", false, problems) {
                rule.matches.src_ports.extend(p);
            }
        }
        for name in &self.dst_port_sets {
            if let Some(SetValues::Ports(p)) = find(name, "dst_port", false, problems) {
                rule.matches.dst_ports.extend(p);
            }
        }
        rule
    }
}

impl From<Rule> for RuleBuilder {
    fn from(rule: Rule) -> Self {
        let mut b = RuleBuilder::new(String::new());
        b.rule = rule;
        b
    }
}

/// Builds a [`RuleSet`], checked by [`RuleSetBuilder::build`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RuleSetBuilder {
    ports: Vec<PolicyPort>,
    sets: Vec<Set>,
    rules: Vec<RuleBuilder>,
    defaults: Defaults,
    chains: Vec<Chain>,
    conntrack: Option<Conntrack>,
    options: CheckOptions,
}

impl RuleSetBuilder {
    /// Check with `options` instead of the config language's rules (e.g.
    /// [`CheckOptions::IMPORT`] for ClassBench rule sets, whose
    /// protocol-wildcard rules match ports).
    pub fn check_options(mut self, options: CheckOptions) -> Self {
        self.options = options;
        self
    }

    /// Add a port.
    pub fn port(mut self, name: impl Into<String>, role: PortRole, id: PortRef) -> Self {
        self.ports.push(PolicyPort {
            name: name.into(),
            role,
            id,
            peer: None,
        });
        self
    }

    /// Add a port given in full (with a `peer`).
    pub fn port_full(mut self, port: PolicyPort) -> Self {
        self.ports.push(port);
        self
    }

    /// Add a named prefix set.
    pub fn prefix_set(
        mut self,
        name: impl Into<String>,
        prefixes: impl IntoIterator<Item = Prefix>,
    ) -> Self {
        self.sets.push(Set {
            name: name.into(),
            values: SetValues::Prefixes(prefixes.into_iter().collect()),
        });
        self
    }

    /// Add a named port set.
    pub fn port_set(
        mut self,
        name: impl Into<String>,
        ranges: impl IntoIterator<Item = PortRange>,
    ) -> Self {
        self.sets.push(Set {
            name: name.into(),
            values: SetValues::Ports(ranges.into_iter().collect()),
        });
        self
    }

    /// Append a rule (rules are evaluated in the order they are added).
    pub fn rule(mut self, rule: impl Into<RuleBuilder>) -> Self {
        self.rules.push(rule.into());
        self
    }

    /// Track connections (see [`Conntrack`]).
    pub fn conntrack(mut self, conntrack: Conntrack) -> Self {
        self.conntrack = Some(conntrack);
        self
    }

    /// Set the default actions (the builder starts with inbound drop,
    /// outbound accept).
    pub fn defaults(mut self, inbound: Action, outbound: Action) -> Self {
        self.defaults = Defaults { inbound, outbound };
        self
    }

    /// Add a service chain from hop names (`firewall` is the firewall hop).
    pub fn chain<S: AsRef<str>>(
        mut self,
        name: impl Into<String>,
        path: impl IntoIterator<Item = S>,
    ) -> Self {
        self.chains.push(Chain {
            name: name.into(),
            path: hops(path),
            reverse: None,
        });
        self
    }

    /// Add a service chain that also steers return traffic along `reverse`.
    pub fn chain_with_reverse<S: AsRef<str>, T: AsRef<str>>(
        mut self,
        name: impl Into<String>,
        path: impl IntoIterator<Item = S>,
        reverse: impl IntoIterator<Item = T>,
    ) -> Self {
        self.chains.push(Chain {
            name: name.into(),
            path: hops(path),
            reverse: Some(hops(reverse)),
        });
        self
    }

    /// Resolve set references and check the rule set for errors (see
    /// [`super::problems`]); the (quadratic) warning analysis is skipped, so
    /// this is fit for large imported rule sets.
    ///
    /// # Errors
    /// [`ModelError`] with every problem found.
    pub fn build(self) -> Result<RuleSet, ModelError> {
        self.resolve_and_check(false).map(|(rules, _)| rules)
    }

    /// Like [`RuleSetBuilder::build`], also returning the warnings.
    ///
    /// # Errors
    /// [`ModelError`] with every problem found.
    pub fn build_checked(self) -> Result<(RuleSet, Vec<super::Warning>), ModelError> {
        self.resolve_and_check(true)
    }

    fn resolve_and_check(
        self,
        with_warnings: bool,
    ) -> Result<(RuleSet, Vec<super::Warning>), ModelError> {
        let mut problems = Vec::new();
        let rules = self
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.resolve(&self.sets, i, &mut problems))
            .collect();
        let set = RuleSet {
            ports: self.ports,
            sets: self.sets,
            rules,
            defaults: self.defaults,
            chains: self.chains,
            conntrack: self.conntrack,
        };
        problems.extend(super::problems_with(&set, self.options));
        if problems.is_empty() {
            let warnings = if with_warnings {
                super::warnings(&set)
            } else {
                Vec::new()
            };
            Ok((set, warnings))
        } else {
            Err(ModelError::new(problems, &set))
        }
    }
}

fn hops<S: AsRef<str>>(path: impl IntoIterator<Item = S>) -> Vec<Hop> {
    path.into_iter()
        .map(|h| match h.as_ref().trim() {
            FIREWALL_HOP => Hop::Firewall,
            p => Hop::Port(p.to_string()),
        })
        .collect()
}
