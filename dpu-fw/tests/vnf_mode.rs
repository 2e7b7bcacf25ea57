//! DOCA Flow vnf mode, for policies whose ports are SF netdevs (`netdev = "p0_if"`, as
//! DOCA Platform Framework gives a service): one lane (root pipe and pipes) per port.
//!
//! On the sw backend (any machine): the mode follows the ports (a mix is refused,
//! naming the ports), every packet gets the oracle's rule and the switch-mode install's
//! verdict, per-rule counters are the switch mode's (summed over lanes), updates give
//! the new policy in every lane, and a failure at any backend call of an update leaves
//! the old policy in force in every lane.
//!
//! With feature `doca-emu` (root, for the EAL): the same policies through the hardware
//! backend on the DOCA Flow contract emulator, which picks vnf mode from the netdev
//! ports and must record no broken DOCA rule (a pipe forwarding to a pipe of another
//! port, a second root on a port, ...); reloads leave exactly what a fresh install
//! holds, and injected failures leave the old policy in force. Nothing here ran on
//! real DOCA or a BlueField.

mod common;
mod strategies;

use common::fixtures::{big_change, small_change, stateless_demo};
use common::installs::{assert_oracle, decisions, fails_cleanly_at_every_call, plan};
use doca_flow::packet::Headers;
use doca_flow::{Mode, SwBackend};
use dpu_fw::compile::{Plan, PlanPortKind, Target, compile};
use dpu_fw::demo;
use dpu_fw::install::{InstallError, Installed, mode_for};
use dpu_fw::model::{PortRef, RuleSet};
use dpu_fw::oracle;
use proptest::prelude::*;

/// `rules` with every port given as an SF netdev (`<name>_if`).
fn netdev(mut rules: RuleSet) -> RuleSet {
    for p in &mut rules.ports {
        p.id = PortRef::Netdev(format!("{}_if", p.name));
    }
    rules
}

fn vnf(plan: &Plan) -> Installed {
    let fw = Installed::with_backend_mode(plan, SwBackend::new(), Mode::Vnf).unwrap();
    assert_eq!(fw.mode(), Mode::Vnf);
    assert_eq!(fw.lanes(), plan.ports.len());
    fw
}

#[test]
fn the_mode_follows_the_ports_and_a_mix_is_refused() {
    let ids = plan(&stateless_demo());
    assert!(ids.ports.iter().all(|p| p.kind != PlanPortKind::Netdev));
    assert_eq!(mode_for(&ids).unwrap(), Mode::Switch);
    let sfs = plan(&netdev(stateless_demo()));
    assert!(sfs.ports.iter().all(|p| p.kind == PlanPortKind::Netdev));
    assert_eq!(mode_for(&sfs).unwrap(), Mode::Vnf);
    // The software backend (the software dataplane) runs every plan in switch mode.
    assert_eq!(Installed::new(&sfs).unwrap().mode(), Mode::Switch);
    let mut mixed = stateless_demo();
    mixed.ports[0].id = PortRef::Netdev("p0_if".into());
    let e = mode_for(&plan(&mixed)).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(&e, InstallError::MixedPortModes { netdev, other }
            if netdev == &["p0"] && other == &["pf0hpf", "hbn"]),
        "{e:?}"
    );
    assert!(
        text.contains("give every port as a `netdev`, or none"),
        "{text}"
    );
}

#[test]
fn vnf_lanes_decide_as_the_oracle_and_as_switch_mode() {
    for rules in [
        stateless_demo(),
        big_change(),
        small_change(),
        demo::policy(),
    ] {
        for target in [Target::bluefield(), Target::software()] {
            let p = compile(&rules, &target).unwrap();
            let lanes = vnf(&p);
            let switch = Installed::new(&p).unwrap();
            assert_eq!(decisions(&lanes), decisions(&switch), "{:?}", p.target);
            if rules.conntrack.is_none() {
                assert_oracle(&lanes, &rules, "vnf");
            }
            // Per-rule counters: each packet hits one lane's copy of a shared pipe.
            let (lanes, switch) = (vnf(&p), Installed::new(&p).unwrap());
            decisions(&lanes);
            decisions(&switch);
            assert_eq!(lanes.rule_counters(), switch.rule_counters());
            if rules.conntrack.is_none() {
                assert!(lanes.rule_counters().iter().any(|c| c.packets > 0));
            }
        }
    }
}

#[test]
fn updates_switch_every_lane() {
    let mut fw = vnf(&plan(&stateless_demo()));
    for rules in [
        big_change(),
        small_change(),
        stateless_demo(),
        small_change(),
        big_change(),
    ] {
        let p = plan(&rules);
        fw.update(&p).unwrap();
        assert_oracle(&fw, &rules, "after an update");
        assert_eq!(fw.plan(), &p);
    }
}

#[test]
fn make_before_break_failure_at_any_call_keeps_the_old_policy_in_every_lane() {
    fails_cleanly_at_every_call(&big_change(), false, Some(Mode::Vnf));
}

#[test]
fn in_place_failure_at_any_call_keeps_the_old_policy_in_every_lane() {
    fails_cleanly_at_every_call(&small_change(), true, Some(Mode::Vnf));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(48)))]

    /// Any rule set, any ACL depth: the vnf lanes give the oracle's rule and the switch
    /// install's verdict for every packet, before and after an update.
    #[test]
    fn any_rule_set_in_vnf_mode_equals_the_oracle(
        a in strategies::rule_set(10),
        b in strategies::rule_set(10),
        packets in prop::collection::vec((strategies::in_port(), strategies::headers()), 1..24),
        levels in 1u32..4,
    ) {
        let target = Target::bluefield().with_acl_levels(levels);
        let pa = compile(&a, &target).unwrap();
        let mut fw = Installed::with_backend_mode(&pa, SwBackend::new(), Mode::Vnf).unwrap();
        for rules in [&a, &b] {
            let p = compile(rules, &target).unwrap();
            fw.update(&p).unwrap();
            let switch = Installed::new(&p).unwrap();
            for (port, frame) in strategies::frames(&packets) {
                let want = oracle::evaluate(rules, port, &Headers::parse(&frame));
                let id = fw.plan().port_id(port).unwrap();
                let d = fw.process(id, &mut frame.clone());
                let s = switch.process(id, &mut frame.clone());
                prop_assert_eq!(d.rule.map(|r| r as usize), want.rule);
                prop_assert_eq!(d.outcome.verdict, s.outcome.verdict);
            }
        }
    }
}

/// Through the hardware backend on the DOCA Flow contract emulator. (One test: the EAL
/// starts once per process.)
#[cfg(feature = "doca-emu")]
#[test]
fn vnf_mode_on_the_doca_flow_emulator() {
    use common::installs::no_violations;
    use doca_flow::HwBackend;
    use doca_flow::backend::emu::{self, Census, Fault};
    use dpu_fw::compile::diff::diff;
    let eal = doca_flow::dpdk::Eal::init_without_devices("vnf_mode")
        .expect("EAL init (run as root with DPDK installed)");
    emu::reset();
    let hw = |rules: &RuleSet| Installed::with_backend(&plan(rules), HwBackend::new(&eal));

    // The netdev ports pick vnf mode; a mix is refused before DOCA Flow starts.
    let fw = hw(&netdev(stateless_demo())).unwrap();
    assert_eq!((fw.mode(), fw.lanes()), (Mode::Vnf, 3));
    assert_oracle(&fw, &stateless_demo(), "first install");
    drop(fw);
    let mut mixed = stateless_demo();
    mixed.ports[1].id = PortRef::Netdev("pf0hpf_if".into());
    assert!(matches!(
        hw(&mixed),
        Err(InstallError::MixedPortModes { .. })
    ));
    assert_eq!(emu::census(), Census::default());
    no_violations("first install");

    // Reloads leave exactly what a fresh install holds.
    let policies = [
        netdev(stateless_demo()),
        netdev(big_change()),
        netdev(small_change()),
    ];
    let want: Vec<Census> = policies
        .iter()
        .map(|r| {
            let fw = hw(r).unwrap();
            let c = emu::census();
            drop(fw);
            c
        })
        .collect();
    let mut fw = hw(&policies[0]).unwrap();
    for k in 1..=30 {
        let i = k % policies.len();
        fw.update(&plan(&policies[i])).unwrap();
        assert_eq!(emu::census(), want[i], "reload {k}");
        assert_oracle(&fw, &policies[i], &format!("reload {k}"));
    }
    drop(fw);
    assert_eq!(emu::census(), Census::default());
    no_violations("30 reloads");

    // An injected failure anywhere in an update leaves the old policy in every lane.
    let faults: [fn(u32) -> Fault; 3] = [
        |nth| Fault::EntryAddRefused { nth },
        |nth| Fault::AsyncError { nth },
        |nth| Fault::PipeCreateRefused { nth },
    ];
    for new in [netdev(big_change()), netdev(small_change())] {
        for fault in faults {
            let mut k = 1;
            let mut failed = 0;
            loop {
                let mut fw = hw(&netdev(stateless_demo())).unwrap();
                let before = decisions(&fw);
                emu::inject(fault(k));
                let res = fw.update(&plan(&new));
                // The failure is DOCA's answer, not a broken rule; the rollback breaks none.
                no_violations(&format!("{:?}, the update", fault(k)));
                emu::reset();
                // Ok: a failure after the flip is absorbed, or the fault was never hit.
                if res.is_err() {
                    failed += 1;
                    assert_eq!(
                        decisions(&fw),
                        before,
                        "{:?}: the old policy changed",
                        fault(k)
                    );
                    fw.update(&plan(&new)).expect("retry without failures");
                }
                assert_oracle(&fw, &new, &format!("{:?}", fault(k)));
                drop(fw);
                assert_eq!(emu::census(), Census::default(), "{:?}", fault(k));
                no_violations(&format!("{:?}", fault(k)));
                if failed + 8 < k as usize {
                    break;
                }
                k += 1;
            }
            let in_place = matches!(fault(1), Fault::PipeCreateRefused { .. })
                && diff(&plan(&netdev(stateless_demo())), &plan(&new))
                    .in_place(dpu_fw::install::IN_PLACE_OPS);
            assert!(
                failed > 0 || in_place,
                "{:?}: no injected failure failed the update",
                fault(1)
            );
        }
    }
}
