//! Policies installed into DOCA Flow through the hardware backend, on the DOCA Flow
//! contract emulator (feature `doca-emu`; root, for the EAL the backend runs on):
//! the installed pipes give the oracle's verdicts, make-before-break and in-place
//! updates keep the emulator's count of pipes and entries at what the last policy
//! needs (no old pipes left behind, 100 reloads), a failure injected at any add or
//! pipe creation leaves the old policy in force, every valid random rule set installs
//! and gives the oracle's verdicts, and no DOCA rule is broken on the way.
#![cfg(feature = "doca-emu")]

mod strategies;

mod common;

use common::fixtures::{big_change, small_change, stateless_demo};
use common::installs::{assert_oracle, decisions, no_violations, plan};

use doca_flow::HwBackend;
use doca_flow::backend::emu::{self, Census, Fault};
use doca_flow::dpdk::Eal;
use doca_flow::packet::Headers;
use dpu_fw::PortId;
use dpu_fw::compile::{Target, compile};
use dpu_fw::install::Installed;
use dpu_fw::model::RuleSet;
use dpu_fw::oracle;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// What the emulator holds for `rules` installed alone.
fn fresh_census(eal: &Eal, rules: &RuleSet) -> Census {
    let fw = Installed::with_backend(&plan(rules), HwBackend::new(eal)).unwrap();
    let c = emu::census();
    drop(fw);
    c
}

fn reloads_leave_nothing_behind(eal: &Eal) {
    let policies = [stateless_demo(), big_change(), small_change()];
    let want: Vec<Census> = policies.iter().map(|r| fresh_census(eal, r)).collect();
    no_violations("fresh installs");
    let mut fw = Installed::with_backend(&plan(&policies[0]), HwBackend::new(eal)).unwrap();
    assert_oracle(&fw, &policies[0], "first install");
    for k in 1..=100 {
        let i = k % policies.len();
        fw.update(&plan(&policies[i])).unwrap();
        let c = emu::census();
        assert_eq!(
            c, want[i],
            "reload {k}: the emulator holds what a fresh install of the policy holds"
        );
        if k % 10 == 0 {
            assert_oracle(&fw, &policies[i], &format!("reload {k}"));
        }
    }
    no_violations("100 reloads");
    drop(fw);
    assert_eq!(emu::census(), Census::default());
    no_violations("teardown");
}

/// Arms `fault(k)` for every k until an update succeeds untouched: each failed update
/// leaves the old policy deciding as before, and a retry succeeds.
fn failures_keep_the_old_policy(eal: &Eal, new: &RuleSet, fault: fn(u32) -> Fault) {
    let old = stateless_demo();
    let mut k = 1;
    let mut failed = 0;
    loop {
        let mut fw = Installed::with_backend(&plan(&old), HwBackend::new(eal)).unwrap();
        let before = decisions(&fw);
        emu::inject(fault(k));
        let res = fw.update(&plan(new));
        emu::reset();
        match res {
            Err(_) => {
                failed += 1;
                assert_eq!(
                    decisions(&fw),
                    before,
                    "{:?}: the old policy changed",
                    fault(k)
                );
                fw.update(&plan(new)).expect("retry without failures");
                assert_oracle(&fw, new, &format!("{:?}, retried", fault(k)));
            }
            Ok(()) => {
                // A failure after the flip is absorbed (the new policy is in force),
                // or the fault was never hit: the update made fewer calls.
                assert_oracle(&fw, new, &format!("{:?}", fault(k)));
            }
        }
        drop(fw);
        let v = emu::violations();
        assert!(v.is_empty(), "{:?}: {v:#?}", fault(k));
        assert_eq!(emu::census(), Census::default(), "{:?}", fault(k));
        if failed + 8 < k as usize {
            break; // eight in a row absorbed or missed: past the update's calls
        }
        k += 1;
    }
    assert!(failed > 0, "no injected failure failed the update");
}

fn any_rule_set_equals_the_oracle(eal: &Eal) {
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        strategies::rule_set(10),
        prop::collection::vec((strategies::in_port(), strategies::headers()), 1..24),
        1u32..4,
    );
    // Every rule set a policy file can hold installs. The generator also makes rule sets
    // that validation refuses; one of those may hold a match with no DOCA form (an ICMP
    // type beside ports), which the hw backend refuses, saying so.
    let installed = std::cell::Cell::new(0u32);
    runner
        .run(&strategy, |(rules, packets, levels)| {
            let target = Target::bluefield().with_acl_levels(levels);
            let plan = compile(&rules, &target).unwrap();
            let fw = match Installed::with_backend(&plan, HwBackend::new(eal)) {
                Ok(fw) => fw,
                Err(e) => {
                    let why = format!("{e:?}");
                    prop_assert!(
                        rules.check().is_err(),
                        "a valid rule set was refused: {}",
                        why
                    );
                    prop_assert!(why.contains("DOCA's match holds one"), "{}", why);
                    let v = emu::violations();
                    prop_assert!(v.is_empty(), "{:#?}", v);
                    return Ok(());
                }
            };
            installed.set(installed.get() + 1);
            for (port, frame) in strategies::frames(&packets) {
                let mut frame = frame.clone();
                let want = oracle::evaluate(&rules, port, &Headers::parse(&frame));
                let d = fw.process(fw.plan().port_id(port).unwrap(), &mut frame);
                prop_assert_eq!(d.rule.map(|r| r as usize), want.rule);
            }
            drop(fw);
            let v = emu::violations();
            prop_assert!(v.is_empty(), "{:#?}", v);
            Ok(())
        })
        .unwrap();
    assert!(
        installed.get() >= 24,
        "only {} of 48 generated rule sets installed",
        installed.get()
    );
}

/// Rules that validate (TCP flags with `protocol = "tcp"`, ICMP types with `"icmp"`)
/// install through the hw backend with ports beside flags, and decide as the oracle.
fn valid_rules_with_flags_and_ports_install(eal: &Eal) {
    let rules = dpu_fw::config::parse(
        r#"
        [ports.p0]
        role = "uplink"
        id = 0
        [ports.pf0hpf]
        role = "host"
        id = 1
        [[rules]]
        name = "syn-to-web"
        in_port = "p0"
        protocol = "tcp"
        tcp_flags = ["syn"]
        dst_port = 80
        action = "accept"
        [[rules]]
        name = "ping"
        protocol = "icmp"
        icmp_type = 8
        action = "accept"
        [defaults]
        inbound = "drop"
        outbound = "accept"
        "#,
        "flags.toml",
    )
    .unwrap()
    .rules;
    let fw = Installed::with_backend(&plan(&rules), HwBackend::new(eal))
        .expect("valid rules with TCP flags and ports install through the hw backend");
    use doca_flow::packet::{PacketBuilder, tcp_flags};
    let web = |flags| {
        PacketBuilder::tcp4([192, 0, 2, 1].into(), [10, 0, 0, 1].into(), 4000, 80)
            .flags(flags)
            .build()
    };
    for (frame, want) in [(web(tcp_flags::SYN), Some(0)), (web(tcp_flags::ACK), None)] {
        let mut f = frame.clone();
        let d = fw.process(PortId(0), &mut f);
        assert_eq!(d.rule, want, "{:?}", d.outcome.verdict);
        let o = oracle::evaluate(&rules, "p0", &Headers::parse(&frame));
        assert_eq!(d.rule.map(|r| r as usize), o.rule);
    }
    drop(fw);
    no_violations("flags and ports");
}

#[test]
fn policies_on_the_hardware_backend_over_the_doca_flow_emulator() {
    let eal = Eal::init_without_devices("hw_emu_install")
        .expect("EAL init (run as root with DPDK installed)");
    emu::reset();
    valid_rules_with_flags_and_ports_install(&eal);
    reloads_leave_nothing_behind(&eal);
    for new in [big_change(), small_change()] {
        failures_keep_the_old_policy(&eal, &new, |nth| Fault::EntryAddRefused { nth });
        failures_keep_the_old_policy(&eal, &new, |nth| Fault::AsyncError { nth });
    }
    failures_keep_the_old_policy(&eal, &big_change(), |nth| Fault::PipeCreateRefused { nth });
    any_rule_set_equals_the_oracle(&eal);
}
