//! The compiled plan, installed on the sw backend, decides every packet as the oracle
//! does (same rule, same action), and its per-rule counters equal the oracle's counts;
//! for the software target, the hardware target, and a hardware target with a tiny level
//! limit that forces chained pipes.

mod common;
mod strategies;

use std::collections::BTreeMap;

use doca_flow::Verdict;
use doca_flow::packet::{Headers, L3, L4, PacketBuilder, ethertype};
use dpu_fw::compile::{Plan, PlanPipeKind, Target, compile};
use dpu_fw::conntrack::{CtState, StateSet};
use dpu_fw::install::Installed;
use dpu_fw::model::{Action, Conntrack, Rate, RateLimit, RuleSet, Zone};
use dpu_fw::oracle;
use proptest::prelude::*;

/// A frame with (about) these headers. The comparison uses the headers parsed back from
/// the frame, so the frame only needs to be close.
fn frame_of(h: &Headers) -> Vec<u8> {
    let mut b = match h.l3 {
        L3::Ipv4(ip) => match h.l4 {
            L4::Tcp {
                src_port,
                dst_port,
                flags,
            } => PacketBuilder::tcp4(ip.src, ip.dst, src_port, dst_port).flags(flags),
            L4::Udp { src_port, dst_port } => {
                PacketBuilder::udp4(ip.src, ip.dst, src_port, dst_port)
            }
            L4::Icmp { icmp_type, code } => PacketBuilder::icmp4(ip.src, ip.dst, icmp_type, code),
            L4::None => PacketBuilder::ipv4(ip.src, ip.dst, ip.protocol)
                .fragment(8, false)
                .payload(&[0; 8]),
            _ => PacketBuilder::ipv4(ip.src, ip.dst, ip.protocol).payload(&[0; 8]),
        },
        L3::Ipv6(ip) => match h.l4 {
            L4::Tcp {
                src_port,
                dst_port,
                flags,
            } => PacketBuilder::tcp6(ip.src, ip.dst, src_port, dst_port).flags(flags),
            L4::Udp { src_port, dst_port } => {
                PacketBuilder::udp6(ip.src, ip.dst, src_port, dst_port)
            }
            L4::Icmp6 { icmp_type, code } => PacketBuilder::icmp6(ip.src, ip.dst, icmp_type, code),
            L4::None => PacketBuilder::ipv6(ip.src, ip.dst, ip.next_header)
                .fragment(8, false)
                .payload(&[0; 8]),
            _ => PacketBuilder::ipv6(ip.src, ip.dst, ip.next_header).payload(&[0; 8]),
        },
        _ => PacketBuilder::ethernet(ethertype::ARP).payload(&[0; 28]),
    };
    if let Some(eth) = h.eth {
        match (eth.vlan[0], eth.vlan[1]) {
            (Some(o), Some(i)) => b = b.qinq(o.tci & 0xfff, i.tci & 0xfff),
            (Some(o), None) => b = b.vlan(o.tci & 0xfff),
            _ => {}
        }
    }
    b.build()
}

/// Where the strategies' rule sets send a packet: p0 <-> pf0hpf are peers, hbn accepts
/// to pf0hpf (its next hop on chain `c`), chain `c` leaves the firewall to hbn.
fn expected_verdict(plan: &Plan, in_port: &str, action: &Action) -> Verdict {
    let id = |n: &str| plan.port_id(n).unwrap();
    match action {
        Action::Drop => Verdict::Drop(doca_flow::DropReason::Fwd),
        Action::Chain(_) => Verdict::Port(id("hbn")),
        Action::Accept => match in_port {
            "pf0hpf" => Verdict::Port(id("p0")),
            _ => Verdict::Port(id("pf0hpf")),
        },
    }
}

fn same_kind(got: Verdict, want: Verdict) -> bool {
    match (got, want) {
        (Verdict::Drop(_), Verdict::Drop(_)) => true,
        (g, w) => g == w,
    }
}

fn check(
    rules: &RuleSet,
    target: Target,
    packets: &[(&str, Headers)],
) -> Result<(), TestCaseError> {
    let tracked: Vec<(&str, Headers, Option<CtState>)> =
        packets.iter().map(|(p, h)| (*p, *h, None)).collect();
    check_tracked(rules, target, &tracked)
}

/// [`check`] for packets that carry a connection-tracking state into the plan (the
/// state's bit in the packet meta, as `dpu_fw::firewall` puts it there; `None` = meta 0).
fn check_tracked(
    rules: &RuleSet,
    target: Target,
    packets: &[(&str, Headers, Option<CtState>)],
) -> Result<(), TestCaseError> {
    let plan = compile(rules, &target).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(plan.validate(), Ok(()));
    if let Some(limit) = target.acl_levels() {
        for p in &plan.pipes {
            if matches!(p.kind, PlanPipeKind::Acl(_)) {
                for e in &p.entries {
                    prop_assert!(e.matcher.priority() < limit);
                }
            }
        }
    }
    let fw = Installed::new(&plan).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut counts = vec![0u64; rules.rules.len()];
    // Per ingress port: each packet's frame, meta word and decision (verdict, rule).
    type Decided = (Vec<u8>, u32, (Verdict, Option<u32>));
    let mut by_port: BTreeMap<&str, Vec<Decided>> = BTreeMap::new();
    for (in_port, h, state) in packets {
        if *in_port == "unknown" {
            continue;
        }
        let mut frame = frame_of(h);
        let original = frame.clone();
        let parsed = Headers::parse(&frame);
        // An untracked port's packets have no state, whatever the meta says.
        let state = state.filter(|_| rules.zone_of(in_port).is_some());
        let want = oracle::evaluate_tracked(rules, in_port, &parsed, state);
        let meta = state.map_or(0, |s| u32::from(s.bit()));
        let d = fw.process_with_meta(plan.port_id(in_port).unwrap(), meta, &mut frame);
        prop_assert_eq!(
            d.rule.map(|r| r as usize),
            want.rule,
            "port {} state {:?} headers {:?}",
            in_port,
            state,
            parsed
        );
        let v = expected_verdict(&plan, in_port, &want.action);
        // With reverse chains, accepted packets may be steered to another hop.
        let steered = !rules.chains.iter().all(|c| c.reverse.is_none())
            && want.action == Action::Accept
            && matches!(d.outcome.verdict, Verdict::Port(_));
        prop_assert!(
            steered || same_kind(d.outcome.verdict, v),
            "verdict {:?}, want {:?} ({})",
            d.outcome.verdict,
            v,
            want.action
        );
        if let Some(r) = want.rule {
            counts[r] += 1;
        }
        by_port
            .entry(in_port)
            .or_default()
            .push((original, meta, (d.outcome.verdict, d.rule)));
    }
    let got: Vec<u64> = fw.rule_counters().iter().map(|c| c.packets).collect();
    prop_assert_eq!(got, counts.clone());
    // The same packets in bursts, per ingress port, through `process_batch_brief` (what
    // `dpu-fw run` calls), twice: the second time every packet's key has a remembered
    // walk prefix, so the bursts take the direct path where the plan has its shape.
    // Each verdict and rule is the packet's own decision; every rule counts twice.
    let batched = Installed::new(&plan).map_err(|e| TestCaseError::fail(e.to_string()))?;
    for _ in 0..2 {
        for (in_port, decided) in &by_port {
            let mut frames: Vec<Vec<u8>> = decided.iter().map(|d| d.0.clone()).collect();
            let metas: Vec<u32> = decided.iter().map(|d| d.1).collect();
            let mut briefs = Vec::new();
            let port = plan.port_id(in_port).unwrap();
            batched.process_batch_brief(port, &mut frames, Some(&metas), &mut briefs);
            let briefs: Vec<_> = briefs
                .iter()
                .map(|b| (b.verdict, Installed::rule_of_tag(b.tag)))
                .collect();
            let want: Vec<_> = decided.iter().map(|d| d.2).collect();
            prop_assert_eq!(briefs, want, "bursts from {}", in_port);
        }
    }
    let got: Vec<u64> = batched.rule_counters().iter().map(|c| c.packets).collect();
    let twice: Vec<u64> = counts.iter().map(|c| 2 * c).collect();
    prop_assert_eq!(got, twice);
    Ok(())
}

/// Rule sets of pure-prefix rules (only `src` or only `dst`, sometimes host prefixes
/// only), with now and then another rule in between.
fn prefix_rule_set() -> impl Strategy<Value = RuleSet> {
    let host = || strategies::prefix().prop_map(|p| dpu_fw::model::Prefix::host(p.addr()));
    let rule = prop_oneof![
        4 => (any::<bool>(), prop::collection::vec(strategies::prefix(), 1..3)),
        2 => (any::<bool>(), prop::collection::vec(host(), 1..3)),
    ];
    (
        strategies::rule_set(3),
        prop::collection::vec((rule, strategies::action()), 0..24),
    )
        .prop_map(|(mut rs, extra)| {
            let others = std::mem::take(&mut rs.rules);
            for (i, ((dst, prefixes), action)) in extra.into_iter().enumerate() {
                let mut m = dpu_fw::model::RuleMatch::default();
                if dst {
                    m.dst = prefixes;
                } else {
                    m.src = prefixes;
                }
                rs.rules.push(dpu_fw::model::Rule {
                    name: format!("p{i}"),
                    matches: m,
                    action,
                    count: i % 2 == 0,
                    rate_limit: None,
                });
                if i % 7 == 6 {
                    if let Some(o) = others.get(i / 7) {
                        let mut o = o.clone();
                        o.name = format!("o{i}");
                        rs.rules.push(o);
                    }
                }
            }
            rs
        })
}

fn with_limits(mut rules: RuleSet) -> RuleSet {
    // Generous policers on some accepting rules: packets still take the rule's action,
    // but go through a meter pipe.
    for (i, r) in rules.rules.iter_mut().enumerate() {
        if i % 3 == 1 && r.action != Action::Drop {
            r.rate_limit = Some(RateLimit::per_second(Rate::PacketsPerSecond(1_000_000)));
        }
    }
    rules
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(96)))]

    #[test]
    fn plan_equals_oracle(
        rules in strategies::rule_set(14),
        packets in prop::collection::vec((strategies::in_port(), strategies::headers()), 1..48),
    ) {
        let rules = with_limits(rules);
        check(&rules, Target::software(), &packets)?;
        check(&rules, Target::bluefield(), &packets)?;
        check(&rules, Target::bluefield().with_acl_levels(1), &packets)?;
        check(&rules, Target::bluefield().with_acl_levels(2), &packets)?;
        check(&rules, Target::bluefield().with_lpm_min(1), &packets)?;
    }

    #[test]
    fn stateful_plan_equals_oracle(
        rules in strategies::rule_set(14),
        states in prop::collection::vec(prop::option::weighted(0.5, 1u8..16), 14),
        zones in 0usize..3,
        packets in prop::collection::vec(
            (
                strategies::in_port(),
                strategies::headers(),
                prop::option::weighted(0.85, prop::sample::select(CtState::ALL.to_vec())),
            ),
            1..64,
        ),
    ) {
        let mut rules = with_limits(rules);
        for (r, s) in rules.rules.iter_mut().zip(states) {
            r.matches.state = s.map(|bits| {
                CtState::ALL.into_iter().filter(|st| bits & st.bit() != 0).collect::<StateSet>()
            });
        }
        let zone = |name: &str, id, ports: &[&str]| Zone {
            name: name.into(),
            id,
            ports: ports.iter().map(|p| p.to_string()).collect(),
        };
        rules.conntrack = Some(Conntrack {
            zones: match zones {
                0 => Vec::new(),
                1 => vec![zone("edge", 1, &["p0", "pf0hpf"])],
                _ => vec![zone("up", 1, &["p0"]), zone("svc", 2, &["hbn"])],
            },
            ..Conntrack::default()
        });
        // The software target: the conntrack stage hands every packet's state to the
        // pipes. (On the hardware target only offloaded connections reach the pipes; its
        // plans are checked with an offloading software path in tests/ct_offload.rs.)
        check_tracked(&rules, Target::software(), &packets)?;
        check_tracked(&rules, Target::software().with_lpm_min(1), &packets)?;
    }

    #[test]
    fn prefix_rules_equal_oracle(
        rules in prefix_rule_set(),
        packets in prop::collection::vec((strategies::in_port(), strategies::headers()), 1..48),
        lpm_min in 1usize..4,
    ) {
        check(&rules, Target::bluefield().with_lpm_min(lpm_min), &packets)?;
        check(&rules, Target::software().with_lpm_min(lpm_min), &packets)?;
    }

    #[test]
    fn reverse_chains_keep_every_decision(
        rules in strategies::rule_set(14),
        packets in prop::collection::vec((strategies::in_port(), strategies::headers()), 1..48),
    ) {
        let mut rules = with_limits(rules);
        for c in &mut rules.chains {
            let mut back = c.path.clone();
            back.reverse();
            c.reverse = Some(back);
        }
        check(&rules, Target::software(), &packets)?;
        check(&rules, Target::bluefield().with_acl_levels(2), &packets)?;
    }

    #[test]
    fn dense_overlaps_equal_oracle(
        rules in strategies::rule_set(30),
        packets in prop::collection::vec((strategies::in_port(), strategies::headers()), 1..64),
    ) {
        check(&rules, Target::bluefield().with_acl_levels(3), &packets)?;
    }
}
