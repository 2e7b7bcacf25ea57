//! Checks the install tests share: the demo traffic's decisions, the oracle's verdicts,
//! and an update that fails at every backend call in turn (the sw backend in switch and
//! vnf mode: `install_updates.rs`, `vnf_mode.rs`; the DOCA Flow emulator:
//! `hw_emu_install.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use doca_flow::packet::Headers;
use doca_flow::{Mode, SwBackend, Verdict};
use dpu_fw::compile::{Plan, Target, compile, diff::diff};
use dpu_fw::demo;
use dpu_fw::install::{InstallError, Installed};
use dpu_fw::model::{Action, RuleSet};
use dpu_fw::oracle;

use super::fixtures::stateless_demo;

/// `rules` compiled for the BlueField target.
pub(crate) fn plan(rules: &RuleSet) -> Plan {
    compile(rules, &Target::bluefield()).unwrap()
}

/// The decisions for the demo traffic: (rule, verdict) per packet.
pub(crate) fn decisions(fw: &Installed) -> Vec<(Option<u32>, Verdict)> {
    demo::traffic()
        .into_iter()
        .map(|(port, mut frame)| {
            let d = fw.process(fw.plan().port_id(&port).unwrap(), &mut frame);
            (d.rule, d.outcome.verdict)
        })
        .collect()
}

/// Every packet of the demo traffic gets the oracle's rule and action under `rules`;
/// `what` names the check in a failure.
pub(crate) fn assert_oracle(fw: &Installed, rules: &RuleSet, what: &str) {
    for (port, mut frame) in demo::traffic() {
        let want = oracle::evaluate(rules, &port, &Headers::parse(&frame));
        let d = fw.process(fw.plan().port_id(&port).unwrap(), &mut frame);
        assert_eq!(d.rule.map(|r| r as usize), want.rule, "{what}: port {port}");
        assert_eq!(
            matches!(d.outcome.verdict, Verdict::Drop(_)),
            want.action == Action::Drop,
            "{what}: port {port}: {:?} vs {}",
            d.outcome.verdict,
            want.action
        );
    }
}

/// The emulator recorded no broken DOCA rule.
#[cfg(feature = "doca-emu")]
pub(crate) fn no_violations(what: &str) {
    let v = doca_flow::backend::emu::violations();
    assert!(v.is_empty(), "{what}: DOCA rules broken:\n{}", v.join("\n"));
}

/// An update from the stateless demo to `new_rules` (in place or not, as
/// `expect_in_place` says) that fails at backend call `k`, for every `k` the update
/// makes, on the sw backend in `mode` (`None`: the mode [`Installed::with_backend`]
/// picks, switch): the old policy stays in force (same decisions, the oracle's), and a
/// retry gives the new one.
///
/// In switch mode (`None`) a failure the update absorbs (removing the old entries,
/// after the flip) must come in the second half of its calls; vnf mode flips its lanes
/// one after another and is held to the new policy only.
pub(crate) fn fails_cleanly_at_every_call(
    new_rules: &RuleSet,
    expect_in_place: bool,
    mode: Option<Mode>,
) {
    let old_rules = stateless_demo();
    let (old, new) = (plan(&old_rules), plan(new_rules));
    assert_eq!(
        diff(&old, &new).in_place(dpu_fw::install::IN_PLACE_OPS),
        expect_in_place
    );
    // The sw backend fails the fallible call that brings the countdown from 1 to 0
    // (negative: never).
    let faulty = || {
        let countdown = Arc::new(AtomicI64::new(-1));
        let backend = SwBackend::new().fail_at(countdown.clone());
        let fw = match mode {
            None => Installed::with_backend(&old, backend),
            Some(mode) => Installed::with_backend_mode(&old, backend, mode),
        }
        .expect("install without failures");
        (fw, countdown)
    };
    // The state-changing backend calls a successful update makes.
    let calls = {
        let (mut fw, countdown) = faulty();
        countdown.store(1_000_000, Ordering::SeqCst);
        fw.update(&new).expect("update without failures");
        1_000_000 - countdown.load(Ordering::SeqCst)
    };
    assert!(calls > 0);
    let mut failed = 0;
    for k in 1..=calls {
        let (mut fw, countdown) = faulty();
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
                assert_oracle(&fw, &old_rules, &format!("call {k} of {calls}, failed"));
            }
            // A failure after the flip (removing the old entries) is absorbed: the new
            // policy is then in force.
            Ok(()) => {
                if mode.is_none() {
                    assert!(
                        k > calls / 2,
                        "call {k} of {calls}: a failure before the flip was ignored"
                    );
                }
                assert_oracle(&fw, new_rules, &format!("call {k} of {calls}, absorbed"));
            }
            Err(e) => panic!("call {k} of {calls}: {e}"),
        }
        // The failed attempt does not poison the next one.
        fw.update(&new).expect("retry without failures");
        assert_oracle(&fw, new_rules, "retried");
    }
    assert!(
        failed * 2 >= calls,
        "only {failed} of {calls} injected failures failed the update"
    );
}
