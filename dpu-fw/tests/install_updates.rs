//! Updates: make-before-break and in-place installs give the new plan's decisions, and a
//! failure at any backend call in the middle of an update leaves the old policy fully in
//! force (checked by running the same packets before and after the failed update).

mod common;

use common::fixtures::{big_change, small_change, stateless_demo};
use common::installs::{assert_oracle, decisions, fails_cleanly_at_every_call};
mod strategies;

use doca_flow::packet::Headers;
use dpu_fw::compile::{Target, compile};
use dpu_fw::install::Installed;
use dpu_fw::oracle;
use proptest::prelude::*;

#[test]
fn make_before_break_failure_at_any_call_keeps_the_old_policy() {
    fails_cleanly_at_every_call(&big_change(), false, None);
}

#[test]
fn in_place_failure_at_any_call_keeps_the_old_policy() {
    fails_cleanly_at_every_call(&small_change(), true, None);
}

#[test]
fn updates_back_and_forth_equal_the_oracle() {
    let a = stateless_demo();
    let plan_a = compile(&a, &Target::software()).unwrap();
    let mut fw = Installed::new(&plan_a).unwrap();
    for rules in [
        big_change(),
        small_change(),
        stateless_demo(),
        small_change(),
    ] {
        let plan = compile(&rules, &Target::software()).unwrap();
        fw.update(&plan).unwrap();
        assert_oracle(&fw, &rules, "after an update");
        assert_eq!(fw.plan(), &plan);
    }
}

#[test]
fn counters_restart_with_a_new_plan_and_count_per_rule() {
    let rules = stateless_demo();
    let fw = Installed::new(&compile(&rules, &Target::software()).unwrap()).unwrap();
    decisions(&fw);
    let c = fw.rule_counters();
    let by_name = |n: &str| c[rules.rules.iter().position(|r| r.name == n).unwrap()].packets;
    assert_eq!(by_name("web"), 2);
    assert_eq!(by_name("drop-bogons"), 1);
    assert_eq!(by_name("ping"), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(48)))]

    #[test]
    fn any_update_equals_the_new_rule_sets_oracle(
        a in strategies::rule_set(10),
        b in strategies::rule_set(10),
        packets in prop::collection::vec((strategies::in_port(), strategies::headers()), 1..32),
        levels in 1u32..4,
    ) {
        let target = Target::bluefield().with_acl_levels(levels);
        let mut fw = Installed::new(&compile(&a, &target).unwrap()).unwrap();
        // b, then a small edit of b (last rule dropped), in place or not.
        let mut b2 = b.clone();
        b2.rules.pop();
        for rules in [&b, &b2] {
            fw.update(&compile(rules, &target).unwrap()).unwrap();
            for (port, frame) in strategies::frames(&packets) {
                let mut f = frame.clone();
                let want = oracle::evaluate(rules, port, &Headers::parse(&frame));
                let d = fw.process(fw.plan().port_id(port).unwrap(), &mut f);
                prop_assert_eq!(d.rule.map(|r| r as usize), want.rule);
            }
        }
    }
}
