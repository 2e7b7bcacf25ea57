//! The shape of compiled plans: level bands and chained pipes, software vs hardware
//! targets, port groups, service chains and plain steering, rate limits, errors, and the
//! Graphviz drawing.

use doca_flow::Verdict;
use doca_flow::packet::{Headers, PacketBuilder};
use dpu_fw::compile::{
    CompileError, PlanFwd, PlanMatch, PlanPipeKind, Target, TargetKind, compile, dot,
};
use dpu_fw::demo;
use dpu_fw::install::Installed;
use dpu_fw::model::{
    Action, Family, PortId, PortRange, PortRef, PortRole, Rate, RateLimit, Rule, RuleSet,
};
use dpu_fw::oracle;

fn acl_pipes(plan: &dpu_fw::compile::Plan, fam: Family) -> usize {
    plan.pipes
        .iter()
        .filter(|p| p.kind == PlanPipeKind::Acl(fam))
        .count()
}

/// `n` TCP rules on nested port ranges: every rule overlaps every earlier one, so rule
/// `i` needs level `i`.
fn nested(n: u16) -> RuleSet {
    let mut b = RuleSet::builder()
        .port("p0", PortRole::Uplink, PortRef::Doca(PortId(0)))
        .port("pf0hpf", PortRole::Host, PortRef::Doca(PortId(1)));
    for i in 0..n {
        b = b.rule(
            Rule::builder(format!("r{i}"))
                .in_port("p0")
                .family(Family::Ipv4)
                .protocol(6)
                .dst_ports([PortRange::new(30000 - i, 30000 + i).unwrap()])
                .action(if i % 2 == 0 {
                    Action::Accept
                } else {
                    Action::Drop
                }),
        );
    }
    b.build().unwrap()
}

fn check_against_oracle(rules: &RuleSet, fw: &Installed, ports: impl Iterator<Item = u16>) {
    for dport in ports {
        let mut f =
            PacketBuilder::tcp4([1, 2, 3, 4].into(), [5, 6, 7, 8].into(), 1000, dport).build();
        let want = oracle::evaluate(rules, "p0", &Headers::parse(&f));
        let d = fw.process(PortId(0), &mut f);
        assert_eq!(d.rule.map(|r| r as usize), want.rule, "dst port {dport}");
    }
}

#[test]
fn deep_overlap_chains_acl_pipes_on_hardware_and_not_in_software() {
    let rules = nested(1100);
    let hw = compile(&rules, &Target::bluefield()).unwrap();
    let sw = compile(&rules, &Target::software()).unwrap();
    // 1100 levels: two bands of at most 1025 on hardware, one pipe in software.
    assert_eq!(acl_pipes(&hw, Family::Ipv4), 2);
    assert_eq!(acl_pipes(&sw, Family::Ipv4), 1);
    assert_eq!(hw.stats().max_priority, 1024);
    assert_eq!(sw.stats().max_priority, 1099);
    assert_eq!(hw.stats().worst_path_lookups, 3);
    assert_eq!(sw.stats().worst_path_lookups, 2);
    for plan in [&hw, &sw] {
        let fw = Installed::new(plan).unwrap();
        check_against_oracle(&rules, &fw, (28890..=31110).step_by(7));
    }
}

#[test]
fn a_tiny_level_limit_makes_one_pipe_per_band() {
    let rules = nested(10);
    for (limit, pipes) in [(1, 10), (3, 4), (10, 1), (1025, 1)] {
        let plan = compile(&rules, &Target::bluefield().with_acl_levels(limit)).unwrap();
        assert_eq!(acl_pipes(&plan, Family::Ipv4), pipes, "limit {limit}");
        let fw = Installed::new(&plan).unwrap();
        check_against_oracle(&rules, &fw, 29985..=30015);
    }
    assert!(matches!(
        compile(&rules, &Target::bluefield().with_acl_levels(0)),
        Err(CompileError::InvalidTarget(_))
    ));
}

#[test]
fn disjoint_rules_share_one_level() {
    let mut b = RuleSet::builder().port("p0", PortRole::Uplink, PortRef::Doca(PortId(0)));
    for i in 0..2000u16 {
        b = b.rule(
            Rule::builder(format!("r{i}"))
                .protocol(17)
                .dst_ports([PortRange::single(10000 + i)])
                .action(Action::Drop),
        );
    }
    let plan = compile(&b.build().unwrap(), &Target::bluefield()).unwrap();
    assert_eq!(plan.stats().max_priority, 0);
    assert_eq!(acl_pipes(&plan, Family::Ipv4), 1);
    assert_eq!(acl_pipes(&plan, Family::Ipv6), 1);
}

#[test]
fn compiling_is_deterministic() {
    let rules = demo::policy();
    for t in [Target::software(), Target::bluefield()] {
        assert_eq!(compile(&rules, &t).unwrap(), compile(&rules, &t).unwrap());
    }
    assert_eq!(
        compile(&rules, &Target::software()).unwrap().target,
        TargetKind::Software
    );
}

#[test]
fn the_demo_plan_has_the_documented_shape() {
    let rules = demo::policy();
    let plan = compile(&rules, &Target::bluefield()).unwrap();
    plan.validate().unwrap();
    let root = &plan.pipes[plan.root()];
    assert_eq!(root.kind, PlanPipeKind::Root);
    // Three tracked ports, on hardware: per port, TCP and UDP of each family to the CT
    // pipe, the rest of each family to software, and one catch-all for non-IP frames.
    assert_eq!(root.entries.len(), 3 * (2 * 2 + 2 + 1));
    let ct = plan
        .pipes
        .iter()
        .position(|p| matches!(p.kind, PlanPipeKind::Ct { .. }))
        .expect("a CT pipe");
    assert_eq!(
        plan.pipes[ct].fwd_miss,
        Some(PlanFwd::Software),
        "misses go to software"
    );
    let PlanPipeKind::Ct {
        hit: PlanFwd::Pipe(flags),
    } = plan.pipes[ct].kind
    else {
        panic!("CT hits go to a pipe")
    };
    assert_eq!(plan.pipes[flags].name, "ct/tcp-control");
    assert_eq!(
        plan.pipes[flags]
            .entries
            .iter()
            .filter(|e| e.fwd == PlanFwd::Software)
            .count(),
        3,
        "SYN, FIN and RST go to software"
    );
    assert!(
        root.entries
            .iter()
            .any(|e| e.zone == Some(0) && e.fwd == PlanFwd::Pipe(ct))
    );
    // The software target dispatches every state at the root instead.
    let sw = compile(&rules, &Target::software()).unwrap();
    assert!(
        !sw.pipes
            .iter()
            .any(|p| matches!(p.kind, PlanPipeKind::Ct { .. }))
    );
    assert_eq!(sw.pipes[sw.root()].entries.len(), 3 * (5 * 2 + 1));
    // Every deciding entry counts; meter pipes exist for the three policed rules per
    // port group that can see them.
    for p in &plan.pipes {
        for e in &p.entries {
            assert_eq!(e.counter, e.rule.is_some() && p.kind != PlanPipeKind::Meter);
            assert_eq!(e.meter.is_some(), p.kind == PlanPipeKind::Meter);
        }
    }
    let meters: Vec<&str> = plan
        .pipes
        .iter()
        .filter(|p| p.kind == PlanPipeKind::Meter)
        .map(|p| p.name.as_str())
        .collect();
    // dns-out matches new connections only: on hardware software decides those, so
    // its meter is in the software plan only.
    assert!(!meters.iter().any(|n| n.starts_with("meter/dns-out/")));
    let sw_plan = compile(&rules, &Target::software()).unwrap();
    assert!(
        sw_plan
            .pipes
            .iter()
            .any(|p| p.kind == PlanPipeKind::Meter && p.name.starts_with("meter/dns-out/"))
    );
    assert!(meters.iter().any(|n| n.starts_with("meter/ping/")));
    // ICMP and VLAN rules need control pipes.
    assert!(plan.pipes.iter().any(|p| p.kind == PlanPipeKind::Control));
    let d = dot::to_dot(&plan);
    assert!(d.starts_with("digraph plan {"));
    for i in 0..plan.pipes.len() {
        assert!(d.contains(&format!("pipe{i} [")), "pipe {i} drawn");
    }
    assert!(d.contains("style=dashed"));
}

#[test]
fn chains_and_peers_decide_where_packets_go() {
    let rules = demo::policy();
    let plan = compile(&rules, &Target::software()).unwrap();
    let fw = Installed::new(&plan).unwrap();
    let id = |n: &str| plan.port_id(n).unwrap();
    for p in demo::traffic_described() {
        let mut f = p.frame.clone();
        let d = fw.process(id(p.in_port), &mut f);
        let want = oracle::evaluate(&rules, p.in_port, &Headers::parse(&p.frame));
        let expect = match (&want.action, p.in_port) {
            (Action::Drop, _) => None,
            // chain web: p0 -> firewall -> hbn -> pf0hpf; chain direct: -> pf0hpf.
            (Action::Chain(c), _) if c == "web" => Some(id("hbn")),
            (Action::Chain(_), _) => Some(id("pf0hpf")),
            (Action::Accept, "p0") => Some(id("pf0hpf")),
            (Action::Accept, "pf0hpf") => Some(id("p0")),
            // hbn has no peer: accepts continue on its chain, to pf0hpf.
            (Action::Accept, _) => Some(id("pf0hpf")),
        };
        match expect {
            None => assert!(matches!(d.outcome.verdict, Verdict::Drop(_)), "{}", p.note),
            Some(port) => assert_eq!(d.outcome.verdict, Verdict::Port(port), "{}", p.note),
        }
    }
}

#[test]
fn ports_with_the_same_rules_share_a_pipeline_and_ruleless_ports_are_steered() {
    let rules = RuleSet::builder()
        .port("p0", PortRole::Uplink, PortRef::Doca(PortId(0)))
        .port("p1", PortRole::Uplink, PortRef::Doca(PortId(1)))
        .port(
            "pf0hpf",
            PortRole::Host,
            PortRef::Representor("pf0hpf".into()),
        )
        .rule(
            Rule::builder("ssh")
                .in_port("p0")
                .in_port("p1")
                .protocol(6)
                .dst_ports([22.into()])
                .action(Action::Drop),
        )
        .defaults(Action::Drop, Action::Accept)
        .build()
        .unwrap();
    let mut rules = rules;
    for p in rules
        .ports
        .iter_mut()
        .filter(|p| p.role == PortRole::Uplink)
    {
        p.peer = Some("pf0hpf".into());
    }
    let plan = compile(&rules, &Target::bluefield()).unwrap();
    // The representor gets the first free id.
    assert_eq!(plan.port_id("pf0hpf"), Some(PortId(2)));
    // p0 and p1: one shared pipeline (one ACL pipe per family).
    assert_eq!(acl_pipes(&plan, Family::Ipv4), 1);
    assert_eq!(acl_pipes(&plan, Family::Ipv6), 1);
    let root = &plan.pipes[plan.root()];
    // pf0hpf has no rules and no peer: one plain entry to its default (software).
    let host: Vec<_> = root
        .entries
        .iter()
        .filter(|e| match &e.matcher {
            PlanMatch::Control { matcher, .. } => matcher.get(doca_flow::Field::PortId) == 2,
            _ => false,
        })
        .collect();
    assert_eq!(host.len(), 1);
    assert_eq!(host[0].fwd, PlanFwd::Software);
    assert_eq!(root.entries.len(), 3 + 3 + 1);
}

#[test]
fn rate_limits_drop_red_packets_and_count_them_on_the_rule() {
    let rules = RuleSet::builder()
        .port("p0", PortRole::Uplink, PortRef::Doca(PortId(0)))
        .port("pf0hpf", PortRole::Host, PortRef::Doca(PortId(1)))
        .rule(
            Rule::builder("udp")
                .protocol(17)
                .action(Action::Accept)
                .rate_limit(RateLimit {
                    rate: Rate::PacketsPerSecond(10),
                    burst: 3,
                }),
        )
        .build()
        .unwrap();
    let plan = compile(&rules, &Target::software()).unwrap();
    let fw = Installed::new(&plan).unwrap();
    fw.set_time_ns(1);
    let mut verdicts = Vec::new();
    for _ in 0..5 {
        let mut f = PacketBuilder::udp4([1, 1, 1, 1].into(), [2, 2, 2, 2].into(), 1, 2).build();
        let d = fw.process(PortId(0), &mut f);
        assert_eq!(d.rule, Some(0));
        verdicts.push(d.outcome.verdict);
    }
    let passed = verdicts
        .iter()
        .filter(|v| **v == Verdict::Port(doca_flow::PortId(1)))
        .count();
    assert_eq!(passed, 3, "{verdicts:?}");
    assert_eq!(fw.rule_counters()[0].packets, 5);
}

#[test]
fn compile_errors_name_the_problem() {
    let empty = RuleSet::default();
    assert_eq!(
        compile(&empty, &Target::software()),
        Err(CompileError::NoPorts)
    );
    let mut rules = demo::policy();
    rules.chains.retain(|c| c.name != "web");
    let err = compile(&rules, &Target::software()).unwrap_err();
    assert_eq!(
        err,
        CompileError::Chain {
            site: "rule `web`".into(),
            chain: "web".into()
        }
    );
    assert!(err.to_string().contains("chain `web`"));
}

#[test]
fn long_pure_prefix_runs_go_to_lpm_and_exact_pipes() {
    let mut b = RuleSet::builder()
        .port("p0", PortRole::Uplink, PortRef::Doca(PortId(0)))
        .port("pf0hpf", PortRole::Host, PortRef::Doca(PortId(1)));
    // 64 nested and disjoint destination prefixes, then 64 host sources.
    for i in 0..64u32 {
        let len = 8 + (i % 24) as u8;
        let addr = std::net::Ipv4Addr::from(0x0a00_0000 | (i << 8));
        let p = dpu_fw::model::Prefix::new(addr.into(), len).unwrap();
        b = b.rule(
            Rule::builder(format!("d{i}"))
                .dst([p])
                .action(if i % 3 == 0 {
                    Action::Drop
                } else {
                    Action::Accept
                }),
        );
    }
    for i in 0..64u32 {
        let addr = std::net::Ipv4Addr::from(0xc000_0200 | i);
        b = b.rule(
            Rule::builder(format!("s{i}"))
                .src([dpu_fw::model::Prefix::host(addr.into())])
                .action(Action::Drop),
        );
    }
    let rules = b.build().unwrap();
    let plan = compile(&rules, &Target::bluefield()).unwrap();
    let kinds: Vec<PlanPipeKind> = plan.pipes.iter().map(|p| p.kind).collect();
    assert!(
        kinds.contains(&PlanPipeKind::Lpm(doca_flow::Field::Ipv4Dst)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&PlanPipeKind::Exact(doca_flow::Field::Ipv4Src)),
        "{kinds:?}"
    );
    assert_eq!(acl_pipes(&plan, Family::Ipv4), 0);
    // Below the threshold the same rules are ACL entries.
    let acl = compile(&rules, &Target::bluefield().with_lpm_min(usize::MAX)).unwrap();
    assert_eq!(acl.stats().prefix_pipes, 0);
    assert!(acl_pipes(&acl, Family::Ipv4) > 0);
    for plan in [&plan, &acl] {
        let fw = Installed::new(plan).unwrap();
        for i in 0..300u32 {
            let src = std::net::Ipv4Addr::from(0xc000_0200 | (i % 80));
            let dst = std::net::Ipv4Addr::from(0x0a00_0000 | (i << 7));
            let mut f = PacketBuilder::udp4(src, dst, 1, 2).build();
            let want = oracle::evaluate(&rules, "p0", &Headers::parse(&f));
            let d = fw.process(PortId(0), &mut f);
            assert_eq!(d.rule.map(|r| r as usize), want.rule, "{src} -> {dst}");
        }
    }
}

#[test]
fn chains_steer_forward_and_return_traffic_along_their_hops() {
    // chain web: p0 -> firewall -> hbn -> pf0hpf, reverse: pf0hpf -> hbn -> firewall -> p0.
    // Steering is stateless: the demo policy without its stateful rules and tracking, so
    // that the hardware plan, too, decides these packets in its pipes.
    let mut rules = demo::policy();
    rules.conntrack = None;
    rules.rules.retain(|r| r.matches.state.is_none());
    let server = std::net::Ipv4Addr::new(10, 1, 0, 10);
    let client = std::net::Ipv4Addr::new(198, 51, 100, 7);
    let web_fwd = || PacketBuilder::tcp4(client, server, 40000, 443).flags(0x10);
    let web_back = || PacketBuilder::tcp4(server, client, 443, 40000).flags(0x10);
    let other_out = || PacketBuilder::tcp4(server, client, 5555, 40000).flags(0x10);
    for target in [Target::software(), Target::bluefield()] {
        let plan = compile(&rules, &target).unwrap();
        let fw = Installed::new(&plan).unwrap();
        let id = |n: &str| plan.port_id(n).unwrap();
        let cases = [
            // Forward web traffic: the rule chains it to hbn; hbn's accept goes on to the host.
            ("p0", web_fwd().build(), Some("web"), "hbn"),
            ("hbn", web_fwd().build(), None, "pf0hpf"),
            // Return traffic: the host's reply goes to hbn, hbn's to the network.
            ("pf0hpf", web_back().build(), None, "hbn"),
            ("hbn", web_back().build(), None, "p0"),
            // The steering follows the decision of whichever rule accepted.
            (
                "pf0hpf",
                web_back().vlan(100).build(),
                Some("mgmt-vlan"),
                "hbn",
            ),
            // Not web: the host's peer.
            ("pf0hpf", other_out().build(), None, "p0"),
        ];
        for (port, frame, rule, to) in cases {
            let want = oracle::evaluate(&rules, port, &Headers::parse(&frame));
            let mut f = frame.clone();
            let d = fw.process(id(port), &mut f);
            let got_rule = d.rule.map(|r| rules.rules[r as usize].name.as_str());
            assert_eq!(got_rule, rule, "{port}: rule");
            assert_eq!(
                want.rule.map(|r| rules.rules[r].name.as_str()),
                rule,
                "{port}: oracle"
            );
            assert_eq!(d.outcome.verdict, Verdict::Port(id(to)), "{port} -> {to}");
        }
    }
}
