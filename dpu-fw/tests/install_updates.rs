//! Updates: make-before-break and in-place installs give the new plan's decisions, and a
//! failure at any backend call in the middle of an update leaves the old policy fully in
//! force (checked by running the same packets before and after the failed update).

mod common;

use common::fixtures::{big_change, small_change, stateless_demo};
mod strategies;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use doca_flow::packet::Headers;
use doca_flow::{SwBackend, Verdict};
use dpu_fw::compile::{Plan, Target, compile, diff::diff};
use dpu_fw::demo;
use dpu_fw::install::{InstallError, Installed};
use dpu_fw::model::{Action, RuleSet};
use dpu_fw::oracle;
use proptest::prelude::*;

fn faulty(plan: &Plan) -> (Installed, Arc<AtomicI64>) {
    let countdown = Arc::new(AtomicI64::new(-1));
    // The sw backend fails the fallible call that brings the countdown from 1 to 0
    // (negative: never).
    let fw = Installed::with_backend(plan, SwBackend::new().fail_at(countdown.clone()))
        .expect("install without failures");
    (fw, countdown)
}

/// The decisions for the demo traffic: (rule, verdict) per packet.
fn decisions(fw: &Installed) -> Vec<(Option<u32>, Verdict)> {
    demo::traffic()
        .into_iter()
        .map(|(port, mut frame)| {
            let id = fw.plan().port_id(&port).unwrap();
            let d = fw.process(id, &mut frame);
            (d.rule, d.outcome.verdict)
        })
        .collect()
}

fn assert_oracle(fw: &Installed, rules: &RuleSet) {
    for (port, mut frame) in demo::traffic() {
        let want = oracle::evaluate(rules, &port, &Headers::parse(&frame));
        let id = fw.plan().port_id(&port).unwrap();
        let d = fw.process(id, &mut frame);
        assert_eq!(d.rule.map(|r| r as usize), want.rule, "port {port}");
        assert_eq!(
            matches!(d.outcome.verdict, Verdict::Drop(_)),
            want.action == Action::Drop,
            "port {port}: {:?} vs {}",
            d.outcome.verdict,
            want.action
        );
    }
}

/// Counts the state-changing backend calls a successful update makes.
fn calls_for(old: &Plan, new: &Plan) -> i64 {
    let (mut fw, countdown) = faulty(old);
    countdown.store(1_000_000, Ordering::SeqCst);
    fw.update(new).expect("update without failures");
    1_000_000 - countdown.load(Ordering::SeqCst)
}

fn fails_cleanly_at_every_call(new_rules: &RuleSet, expect_in_place: bool) {
    let old_rules = stateless_demo();
    let old = compile(&old_rules, &Target::bluefield()).unwrap();
    let new = compile(new_rules, &Target::bluefield()).unwrap();
    assert_eq!(
        diff(&old, &new).in_place(dpu_fw::install::IN_PLACE_OPS),
        expect_in_place
    );
    let calls = calls_for(&old, &new);
    assert!(calls > 0);
    let mut failed = 0;
    for k in 1..=calls {
        let (mut fw, countdown) = faulty(&old);
        let before = decisions(&fw);
        countdown.store(k, Ordering::SeqCst);
        let res = fw.update(&new);
        countdown.store(-1, Ordering::SeqCst);
        match res {
            Err(InstallError::Flow { .. } | InstallError::Entry { .. }) => {
                failed += 1;
                assert_eq!(
                    decisions(&fw),
                    before,
                    "call {k} of {calls}: the old policy changed"
                );
                assert_oracle(&fw, &old_rules);
            }
            // A failure after the flip (removing the old entries) is absorbed: the new
            // policy is then in force.
            Ok(()) => {
                assert!(
                    k > calls / 2,
                    "call {k} of {calls}: a failure before the flip was ignored"
                );
                assert_oracle(&fw, new_rules);
            }
            Err(e) => panic!("call {k} of {calls}: {e}"),
        }
        // The failed attempt does not poison the next one.
        fw.update(&new).expect("retry without failures");
        assert_oracle(&fw, new_rules);
    }
    assert!(
        failed * 2 >= calls,
        "only {failed} of {calls} injected failures failed the update"
    );
}

#[test]
fn make_before_break_failure_at_any_call_keeps_the_old_policy() {
    fails_cleanly_at_every_call(&big_change(), false);
}

#[test]
fn in_place_failure_at_any_call_keeps_the_old_policy() {
    fails_cleanly_at_every_call(&small_change(), true);
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
        assert_oracle(&fw, &rules);
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
