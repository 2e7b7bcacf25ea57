//! Properties of the oracle and of the shadowing analysis, over random rule
//! sets and packets.

mod common;
mod strategies;

use dpu_fw::model::{RuleMatch, RuleSet, match_contains};
use dpu_fw::oracle;
use proptest::prelude::*;
use strategies::{any_match, headers, in_port, match_with_density, rule_set};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(2000)))]

    /// "Shadowed" is sound: if `outer` contains `inner`, every packet that
    /// the oracle says `inner` matches, `outer` matches too.
    #[test]
    fn containment_is_sound(outer in match_with_density(0.2), inner in match_with_density(0.2),
                            packets in prop::collection::vec((in_port(), headers()), 1..40)) {
        if match_contains(&outer, &inner) {
            for (port, h) in &packets {
                if oracle::matches(&inner, port, h) {
                    prop_assert!(oracle::matches(&outer, port, h),
                        "outer {outer:?}\ninner {inner:?}\nport {port} {h:?}");
                }
            }
        }
    }

    /// Every match contains itself, and the empty match contains everything.
    #[test]
    fn containment_is_reflexive(m in any_match()) {
        prop_assert!(match_contains(&m, &m));
        prop_assert!(match_contains(&RuleMatch::default(), &m));
    }

    /// The verdict is the first matching rule's, else the direction's default.
    #[test]
    fn verdict_is_first_match_or_default(rs in rule_set(12), port in in_port(), h in headers()) {
        let v = oracle::evaluate(&rs, port, &h);
        let first = rs.rules.iter().position(|r| oracle::matches(&r.matches, port, &h));
        prop_assert_eq!(v.rule, first);
        match first {
            Some(i) => {
                prop_assert_eq!(&v.action, &rs.rules[i].action);
                prop_assert_eq!(v.count, rs.rules[i].count);
            }
            None => prop_assert_eq!(&v.action, rs.defaults.of(rs.direction_of(port))),
        }
        for r in &rs.rules[..first.unwrap_or(rs.rules.len())] {
            prop_assert!(!oracle::matches(&r.matches, port, &h));
        }
    }

    /// A rule the checker calls shadowed never decides a packet.
    #[test]
    fn shadowed_rules_never_decide(rs in rule_set(10),
                                   packets in prop::collection::vec((in_port(), headers()), 1..40)) {
        let shadowed: Vec<usize> = shadowed_rules(&rs);
        for (port, h) in &packets {
            if let Some(i) = oracle::evaluate(&rs, port, h).rule {
                prop_assert!(!shadowed.contains(&i), "rule {i} is shadowed but decided {h:?}");
            }
        }
    }
}

fn shadowed_rules(rs: &RuleSet) -> Vec<usize> {
    (0..rs.rules.len())
        .filter(|&j| (0..j).any(|i| match_contains(&rs.rules[i].matches, &rs.rules[j].matches)))
        .collect()
}
