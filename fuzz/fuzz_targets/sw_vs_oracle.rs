//! Differential: a fuzzed rule set, compiled for the software target and for the
//! BlueField target and installed on the software backend, decides fuzzed packets as the
//! oracle (`dpu_fw::oracle`, the linear first-match evaluator) does: the same deciding
//! rule, and a drop exactly when the oracle's action is drop. This is what
//! `dpu-fw/tests/compile_oracle.rs` checks with proptest, here on raw frames too: each
//! packet is a well-formed frame from small pools (so rules match often), then cut short
//! or with a byte overwritten, so the parser's edge cases reach both sides.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use doca_flow::Verdict;
use doca_flow::packet::{Headers, PacketBuilder};
use dpu_fw::compile::{Target, compile};
use dpu_fw::install::Installed;
use dpu_fw::model::{
    Action, Family, IcmpMatch, PortId, PortRange, PortRef, PortRole, Prefix, Rule, RuleMatch,
    RuleSet, TcpFlags,
};
use dpu_fw::oracle;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const PORTS: [&str; 3] = ["p0", "pf0hpf", "hbn"];
const PORT_POOL: [u16; 8] = [0, 1, 22, 80, 443, 1023, 1024, 65535];
const PROTOCOLS: [u8; 5] = [6, 17, 1, 58, 47];

fn v4(u: &mut Unstructured<'_>) -> Result<Ipv4Addr> {
    Ok(Ipv4Addr::new(
        *u.choose(&[10, 192])?,
        *u.choose(&[0, 1, 128])?,
        *u.choose(&[0, 7, 255])?,
        *u.choose(&[0, 1, 200])?,
    ))
}

fn v6(u: &mut Unstructured<'_>) -> Result<Ipv6Addr> {
    Ok(Ipv6Addr::new(
        *u.choose(&[0x2001, 0xfd00])?,
        0xdb8,
        *u.choose(&[0, 1, 0x8000])?,
        0,
        0,
        0,
        0,
        *u.choose(&[0, 1, 0xffff])?,
    ))
}

fn prefix(u: &mut Unstructured<'_>) -> Result<Prefix> {
    Ok(if u.arbitrary()? {
        let len = *u.choose(&[0, 8, 9, 16, 17, 24, 32])?;
        Prefix::new(IpAddr::V4(v4(u)?), len).expect("len <= 32")
    } else {
        let len = *u.choose(&[0, 16, 32, 33, 48, 64, 128])?;
        Prefix::new(IpAddr::V6(v6(u)?), len).expect("len <= 128")
    })
}

fn port_range(u: &mut Unstructured<'_>) -> Result<PortRange> {
    let (a, b) = (*u.choose(&PORT_POOL)?, *u.choose(&PORT_POOL)?);
    Ok(PortRange::new(a.min(b), a.max(b)).expect("lo <= hi"))
}

/// Up to two items, each field present about one time in four.
fn list<T>(u: &mut Unstructured<'_>, f: fn(&mut Unstructured<'_>) -> Result<T>) -> Result<Vec<T>> {
    let n = u.choose_index(8)?.saturating_sub(5);
    (0..n).map(|_| f(u)).collect()
}

fn maybe<T>(
    u: &mut Unstructured<'_>,
    f: impl FnOnce(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Option<T>> {
    if u.ratio(1, 4)? {
        f(u).map(Some)
    } else {
        Ok(None)
    }
}

fn a_match(u: &mut Unstructured<'_>) -> Result<RuleMatch> {
    Ok(RuleMatch {
        in_ports: list(u, |u| Ok(u.choose(&PORTS)?.to_string()))?,
        family: maybe(u, |u| {
            Ok(if u.arbitrary()? {
                Family::Ipv4
            } else {
                Family::Ipv6
            })
        })?,
        src: list(u, prefix)?,
        dst: list(u, prefix)?,
        protocol: maybe(u, |u| Ok(*u.choose(&PROTOCOLS)?))?,
        src_ports: list(u, port_range)?,
        dst_ports: list(u, port_range)?,
        icmp: maybe(u, |u| {
            Ok(IcmpMatch {
                icmp_type: *u.choose(&[0, 3, 8])?,
                code: if u.arbitrary()? {
                    Some(u.int_in_range(0..=1)?)
                } else {
                    None
                },
            })
        })?,
        tcp_flags: maybe(u, |u| {
            Ok(TcpFlags::new(
                u.arbitrary()?,
                *u.choose(&[0x02, 0x12, 0x10, 0x01, 0xff])?,
            ))
        })?,
        vlan: maybe(u, |u| Ok(*u.choose(&[1, 100])?))?,
        state: None,
    })
}

/// [`a_match`], made to pass the checker more often: the protocol a port, TCP-flags or
/// ICMP match needs, and prefixes of the rule's family (the checker refuses the rest,
/// and the target skips rule sets it refuses).
fn a_valid_match(u: &mut Unstructured<'_>) -> Result<RuleMatch> {
    let mut m = a_match(u)?;
    if m.tcp_flags.is_some() {
        m.protocol = Some(6);
        m.icmp = None;
    } else if !m.src_ports.is_empty() || !m.dst_ports.is_empty() {
        m.protocol = Some(*u.choose(&[6, 17])?);
        m.icmp = None;
    } else if m.icmp.is_some() {
        m.protocol = Some(*u.choose(&[1, 58])?);
    }
    if let Some(f) = m.family {
        m.src.retain(|p| p.family() == f);
        m.dst.retain(|p| p.family() == f);
    }
    Ok(m)
}

fn action(u: &mut Unstructured<'_>) -> Result<Action> {
    Ok(if u.arbitrary()? {
        Action::Accept
    } else {
        Action::Drop
    })
}

fn rule_set(u: &mut Unstructured<'_>) -> Result<RuleSet> {
    let mut rs = RuleSet::builder()
        .port("p0", PortRole::Uplink, PortRef::Doca(PortId(0)))
        .port("pf0hpf", PortRole::Host, PortRef::Doca(PortId(1)))
        .port("hbn", PortRole::Service, PortRef::Doca(PortId(2)))
        .defaults(action(u)?, action(u)?)
        .build()
        .expect("three ports and defaults are a valid rule set");
    let n = u.int_in_range(0..=12)?;
    for i in 0..n {
        rs.rules.push(Rule {
            name: format!("r{i}"),
            matches: a_valid_match(u)?,
            action: action(u)?,
            count: u.arbitrary()?,
            rate_limit: None,
        });
    }
    Ok(rs)
}

fn frame(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let port = |u: &mut Unstructured<'_>| -> Result<u16> {
        let p = *u.choose(&PORT_POOL)?;
        Ok(if u.arbitrary()? {
            p.saturating_add(1)
        } else {
            p
        })
    };
    let mut b = match u.choose_index(8)? {
        0 => PacketBuilder::tcp4(v4(u)?, v4(u)?, port(u)?, port(u)?).flags(u.arbitrary()?),
        1 => PacketBuilder::udp4(v4(u)?, v4(u)?, port(u)?, port(u)?),
        2 => PacketBuilder::icmp4(
            v4(u)?,
            v4(u)?,
            *u.choose(&[0, 3, 8])?,
            u.int_in_range(0..=2)?,
        ),
        3 => PacketBuilder::tcp6(v6(u)?, v6(u)?, port(u)?, port(u)?).flags(u.arbitrary()?),
        4 => PacketBuilder::udp6(v6(u)?, v6(u)?, port(u)?, port(u)?),
        5 => PacketBuilder::icmp6(
            v6(u)?,
            v6(u)?,
            *u.choose(&[0, 3, 8, 135])?,
            u.int_in_range(0..=2)?,
        ),
        6 => PacketBuilder::ipv4(v4(u)?, v4(u)?, *u.choose(&PROTOCOLS)?)
            .fragment(u.int_in_range(0..=2)? * 8, u.arbitrary()?)
            .payload(&[0; 8]),
        _ => PacketBuilder::ipv6(v6(u)?, v6(u)?, *u.choose(&PROTOCOLS)?).payload(&[0; 8]),
    };
    match u.choose_index(4)? {
        0 => b = b.vlan(*u.choose(&[1, 100, 7])?),
        1 => b = b.qinq(*u.choose(&[1, 100])?, *u.choose(&[1, 100])?),
        _ => {}
    }
    let mut f = b.build();
    // Damage some frames: cut short, or one byte overwritten.
    match u.choose_index(6)? {
        0 => f.truncate(u.choose_index(f.len() + 1)?),
        1 => {
            let i = u.choose_index(f.len())?;
            f[i] = u.arbitrary()?;
        }
        _ => {}
    }
    Ok(f)
}

fn same(rules: &RuleSet, target: &Target, packets: &[(usize, Vec<u8>)]) {
    let plan = match compile(rules, target) {
        Ok(plan) => plan,
        // The checker accepted the rule set, so the compiler must take it.
        Err(e) => panic!(
            "a checked rule set does not compile for {}: {e}",
            target.kind()
        ),
    };
    let fw = Installed::new(&plan).expect("a compiled plan installs on the sw backend");
    for (port, original) in packets {
        let in_port = PORTS[*port];
        let want = oracle::evaluate(rules, in_port, &Headers::parse(original));
        let mut frame = original.clone();
        let d = fw.process(plan.port_id(in_port).expect("a plan port"), &mut frame);
        assert_eq!(
            d.rule.map(|r| r as usize),
            want.rule,
            "{} target, port {in_port}, frame {original:02x?}",
            target.kind()
        );
        assert_eq!(
            matches!(d.outcome.verdict, Verdict::Drop(_)),
            want.action == Action::Drop,
            "{} target, port {in_port}, verdict {:?}, oracle {:?}, frame {original:02x?}",
            target.kind(),
            d.outcome.verdict,
            want
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(rules) = rule_set(&mut u) else {
        return;
    };
    // Only rule sets the checker accepts: the compiler's contract starts there.
    if rules.check().is_err() {
        return;
    }
    let mut packets = Vec::new();
    while !u.is_empty() && packets.len() < 16 {
        let Ok(port) = u.choose_index(PORTS.len()) else {
            break;
        };
        let Ok(f) = frame(&mut u) else {
            break;
        };
        packets.push((port, f));
    }
    same(&rules, &Target::software(), &packets);
    same(&rules, &Target::bluefield(), &packets);
});
