//! The documented example policy parses, has no warnings, and holds what
//! its comments say.

use dpu_fw::config;
use dpu_fw::conntrack::{CtState, StateSet};
use dpu_fw::model::{Action, Family, Hop, PortId, PortRange, PortRef, PortRole, Rate, SetValues};

fn example() -> config::Checked {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/firewall.toml");
    match config::load(path) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn example_parses_without_warnings() {
    let c = example();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.rules.rules.len(), 12);
    assert_eq!(c.rules.ports.len(), 3);
    assert_eq!(c.rules.chains.len(), 2);
}

#[test]
fn example_values() {
    let rs = example().rules;
    let p0 = rs.port("p0").unwrap();
    assert_eq!(
        (p0.role, &p0.id),
        (PortRole::Uplink, &PortRef::Doca(PortId(0)))
    );
    assert_eq!(
        rs.port("hbn").unwrap().id,
        PortRef::Representor("en3f0pf0sf1".into())
    );
    assert_eq!(rs.peer_of("p0").unwrap().name, "pf0hpf");
    assert_eq!(rs.peer_of("pf0hpf").unwrap().name, "p0");
    assert!(rs.peer_of("hbn").is_none());
    match &rs.set("web_ports").unwrap().values {
        SetValues::Ports(p) => assert_eq!(
            p,
            &[
                PortRange::single(80),
                PortRange::single(443),
                PortRange::new(8000, 8080).unwrap()
            ]
        ),
        other => panic!("{other:?}"),
    }
    let rule = |name: &str| rs.rules.iter().find(|r| r.name == name).unwrap();
    let web = rule("web");
    assert_eq!(web.action, Action::Chain("web".into()));
    assert_eq!(web.matches.dst.len(), 2);
    assert_eq!(web.matches.dst_ports.len(), 3);
    assert!(web.count);
    assert_eq!(rule("ssh-admins").matches.family, Some(Family::Ipv4));
    // Stateful: return traffic by state, invalid packets from the network dropped.
    let est = rule("established");
    let want: StateSet = [CtState::Established, CtState::Related]
        .into_iter()
        .collect();
    assert_eq!(est.matches.state, Some(want));
    assert_eq!(est.action, Action::Accept);
    assert_eq!(
        rule("invalid").matches.state,
        Some(StateSet::EMPTY.with(CtState::Invalid))
    );
    let ct = rs.conntrack.as_ref().unwrap();
    assert!(ct.zones.is_empty(), "every port in one zone");
    assert_eq!(ct.config.max_connections, 262_144);
    assert_eq!(ct.config.timeouts.udp.as_secs(), 30);
    assert_eq!(ct.config.timeouts.tcp_established.as_secs(), 5 * 86_400);
    let dns = rule("dns-out");
    assert_eq!(dns.matches.state, Some(StateSet::EMPTY.with(CtState::New)));
    assert_eq!(
        dns.rate_limit.unwrap().rate,
        Rate::BitsPerSecond(10_000_000)
    );
    assert_eq!(dns.rate_limit.unwrap().burst, 125_000);
    let ping = rule("ping");
    assert_eq!(
        ping.rate_limit.unwrap().burst,
        100,
        "burst defaults to one second"
    );
    let web_chain = rs.chain("web").unwrap();
    assert_eq!(
        web_chain.path,
        vec![
            Hop::Port("p0".into()),
            Hop::Firewall,
            Hop::Port("hbn".into()),
            Hop::Port("pf0hpf".into())
        ]
    );
    assert_eq!(
        web_chain.next_after_firewall(),
        Some(&Hop::Port("hbn".into()))
    );
    let mut rev = web_chain.path.clone();
    rev.reverse();
    assert_eq!(web_chain.reverse.as_ref(), Some(&rev));
    assert_eq!(rs.chain("direct").unwrap().reverse, None);
    assert_eq!(rs.defaults.inbound, Action::Drop);
    assert_eq!(rs.defaults.outbound, Action::Accept);
}
