//! The documented example policy parses, has no warnings, and holds what
//! its comments say.

use dpu_fw::config;
use dpu_fw::model::{Action, Family, Hop, PortId, PortRange, PortRole, Rate, SetValues};

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
    assert_eq!((p0.role, &p0.id), (PortRole::Uplink, &PortId::Doca(0)));
    assert_eq!(
        rs.port("hbn").unwrap().id,
        PortId::Representor("en3f0pf0sf1".into())
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
    let web = &rs.rules[3];
    assert_eq!(web.name, "web");
    assert_eq!(web.action, Action::Chain("web".into()));
    assert_eq!(web.matches.dst.len(), 2);
    assert_eq!(web.matches.dst_ports.len(), 3);
    assert!(web.count);
    let ssh = &rs.rules[1];
    assert_eq!(ssh.matches.family, Some(Family::Ipv4));
    let syn = &rs.rules[4];
    let flags = syn.matches.tcp_flags.unwrap();
    assert_eq!((flags.value(), flags.mask()), (0x02, 0x12));
    assert_eq!(syn.rate_limit.unwrap().rate, Rate::PacketsPerSecond(10000));
    assert_eq!(syn.rate_limit.unwrap().burst, 500);
    let dns = &rs.rules[6];
    assert_eq!(
        dns.rate_limit.unwrap().rate,
        Rate::BitsPerSecond(10_000_000)
    );
    let ping = &rs.rules[8];
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
