//! `dpu-fw bench --conntrack`: the connection tracker's costs, each beside a peer
//! measured in the same run.
//!
//! * **Handshakes**: full TCP handshakes (SYN, SYN-ACK, ACK) through a stateful
//!   policy on the software path (the conntrack stage, the compiled pipes on the sw
//!   backend, the commit), one core; peer: the same frames through a stateless policy
//!   with the same pipeline shape (what tracking adds per connection).
//! * **Established packets** with N live connections (IPv4 and IPv6): the tracker's
//!   lookup and update of a packet of a random live connection; peer: a lookup of the
//!   same keys in a `std::collections::HashMap` holding the same N connections.
//! * **Memory**: the table's bytes per connection at N (the target is at most 128 bytes
//!   per IPv4 connection, table included).

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use doca_flow::packet::{PacketBuilder, tcp_flags};
use dpu_fw::PortId;
use dpu_fw::compile::{Target, compile};
use dpu_fw::conntrack::{CtConfig, CtPacket, CtState, Info, TcpInfo, Tracker, Tuple};
use dpu_fw::firewall::Firewall;
use dpu_fw::install::Installed;

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Live connections for the established-packet and memory figures.
    pub connections: u32,
    /// Timing repetitions (the median is reported).
    pub reps: usize,
}

const POLICY: &str = r#"
[ports.p0]
role = "uplink"
id = 0
[ports.pf0hpf]
role = "host"
id = 1
[conntrack]
max_connections = MAX
[[rules]]
name = "return-traffic"
in_port = "p0"
state = ["established", "related"]
action = "accept"
[[rules]]
name = "invalid"
state = "invalid"
action = "drop"
[defaults]
inbound = "drop"
outbound = "accept"
"#;

/// The same pipeline shape without state: one rule per direction.
const STATELESS: &str = r#"
[ports.p0]
role = "uplink"
id = 0
[ports.pf0hpf]
role = "host"
id = 1
[[rules]]
name = "return-traffic"
in_port = "p0"
protocol = "tcp"
src_port = 443
action = "accept"
[[rules]]
name = "invalid"
protocol = "tcp"
dst_port = 1
action = "drop"
[defaults]
inbound = "drop"
outbound = "accept"
"#;

fn client_v4(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 + i / 60_000)
}

fn client_port(i: u32) -> u16 {
    1024 + (i % 60_000) as u16
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Nanoseconds per item of `f` over `items` items, median of `reps` runs.
fn time_ns(reps: usize, items: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_nanos() as f64 / items as f64
            })
            .collect(),
    )
}

fn handshake_frames(n: u32) -> Vec<[(PortId, Vec<u8>); 3]> {
    let server = Ipv4Addr::new(192, 0, 2, 80);
    (0..n)
        .map(|i| {
            let (c, cp) = (client_v4(i), client_port(i));
            [
                (
                    PortId(1),
                    PacketBuilder::tcp4(c, server, cp, 443)
                        .flags(tcp_flags::SYN)
                        .seq(1000)
                        .build(),
                ),
                (
                    PortId(0),
                    PacketBuilder::tcp4(server, c, 443, cp)
                        .flags(tcp_flags::SYN | tcp_flags::ACK)
                        .seq(9000)
                        .ack_number(1001)
                        .build(),
                ),
                (
                    PortId(1),
                    PacketBuilder::tcp4(c, server, cp, 443)
                        .flags(tcp_flags::ACK)
                        .seq(1001)
                        .ack_number(9001)
                        .build(),
                ),
            ]
        })
        .collect()
}

fn firewall(text: &str, max: u32) -> anyhow::Result<Firewall> {
    let text = text.replace("MAX", &max.to_string());
    let rules = dpu_fw::config::parse(&text, "bench.toml")
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .rules;
    let plan = compile(&rules, &Target::software()).context("compiling the bench policy")?;
    let installed = Installed::new(&plan).context("installing the bench policy")?;
    Ok(Firewall::new(Arc::new(installed), &rules, None))
}

/// A packet of connection `i` (`reply`: from the server), as the tracker reads it.
fn packet(i: u32, v6: bool, flags: u8, seq: u32, ack: u32, reply: bool) -> CtPacket {
    let (c, s): (IpAddr, IpAddr) = if v6 {
        (
            IpAddr::V6(Ipv6Addr::from(
                0x2001_0db8_0000_0000_0000_0000_0000_0000u128 | u128::from(i / 60_000),
            )),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 80)),
        )
    } else {
        (
            IpAddr::V4(client_v4(i)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 80)),
        )
    };
    let mut tuple = Tuple {
        src: c,
        dst: s,
        src_port: client_port(i),
        dst_port: 443,
        proto: 6,
    };
    if reply {
        tuple = tuple.reversed();
    }
    CtPacket {
        tuple,
        info: Info::Tcp(TcpInfo {
            flags,
            seq,
            ack,
            window: 65535,
            payload_len: 0,
            wscale: None,
        }),
        len: 64,
    }
}

/// Fills a tracker with `n` established connections; returns it with the fill time
/// per connection (three packets and a commit each).
fn filled(n: u32, v6: bool) -> anyhow::Result<(Tracker, f64)> {
    let t = Tracker::new(CtConfig {
        max_connections: n,
        ..CtConfig::default()
    });
    let start = Instant::now();
    for i in 0..n {
        let syn = t.track(0, &packet(i, v6, tcp_flags::SYN, 1000, 0, false), 1);
        t.commit(&syn, 1)
            .map_err(|e| anyhow::anyhow!("filling the table: {e}"))?;
        t.track(
            0,
            &packet(i, v6, tcp_flags::SYN | tcp_flags::ACK, 9000, 1001, true),
            1,
        );
        let ack = t.track(0, &packet(i, v6, tcp_flags::ACK, 1001, 9001, false), 1);
        anyhow::ensure!(
            ack.state == CtState::Established,
            "connection {i} did not open"
        );
        if n >= 1_000_000 && i % 1_000_000 == 999_999 {
            eprintln!("  {} of {n} connections open", i + 1);
        }
    }
    let per = start.elapsed().as_nanos() as f64 / f64::from(n.max(1));
    Ok((t, per))
}

/// The std `HashMap` peer's key: zone, protocol and the two endpoints in canonical
/// order, as the tracker keys its table.
type PeerKey = (u16, u8, IpAddr, u16, IpAddr, u16);

fn peer_key(t: &Tuple) -> PeerKey {
    let (a, b) = ((t.src, t.src_port), (t.dst, t.dst_port));
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    (0, t.proto, a.0, a.1, b.0, b.1)
}

pub(crate) fn run(o: &Options) -> anyhow::Result<String> {
    let mut out = String::new();
    let reps = o.reps.max(1);
    let n = o.connections.max(1);
    // Handshakes through the software path.
    let k = n.min(100_000);
    eprintln!("dpu-fw bench --conntrack: {k} handshakes through the software path ...");
    let frames = handshake_frames(k);
    let mut runs = Vec::new();
    let mut peer_runs = Vec::new();
    for _ in 0..reps {
        let mut fw = firewall(POLICY, k)?;
        let mut work: Vec<[(PortId, Vec<u8>); 3]> = frames.clone();
        let t = Instant::now();
        let mut passed = 0u64;
        for hs in &mut work {
            for (port, f) in hs.iter_mut() {
                passed += u64::from(fw.process(*port, f, 1).passed());
            }
        }
        runs.push(t.elapsed().as_nanos() as f64 / f64::from(k));
        anyhow::ensure!(passed == 3 * u64::from(k), "a handshake packet was dropped");
        let opened = fw.tracker().map_or(0, |t| t.stats().created);
        anyhow::ensure!(
            opened == u64::from(k),
            "{opened} connections opened, not {k}"
        );
        let mut plain = firewall(STATELESS, k)?;
        let mut work: Vec<[(PortId, Vec<u8>); 3]> = frames.clone();
        let t = Instant::now();
        for hs in &mut work {
            for (port, f) in hs.iter_mut() {
                black_box(plain.process(*port, f, 1).passed());
            }
        }
        peer_runs.push(t.elapsed().as_nanos() as f64 / f64::from(k));
    }
    let (hs, peer) = (median(runs), median(peer_runs));
    out.push_str(&format!(
        "handshakes (SYN, SYN-ACK, ACK; conntrack stage + sw pipes + commit, one core):\n  \
         {:.0} ns per connection = {:.2} M new connections/s; the same frames through a \
         stateless policy: {:.0} ns ({:.2}x the stateless cost)\n",
        hs,
        1e3 / hs,
        peer,
        hs / peer
    ));
    for v6 in [false, true] {
        let fam = if v6 { "IPv6" } else { "IPv4" };
        eprintln!("dpu-fw bench --conntrack: {fam}: opening {n} connections ...");
        let (t, fill_ns) = filled(n, v6)?;
        // Established packets of random live connections (a fixed pseudo-random order).
        let m = 1_000_000usize.min(4 * n as usize);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let picks: Vec<CtPacket> = (0..m)
            .map(|j| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (x % u64::from(n)) as u32;
                // Pure ACKs both ways keep the windows valid on every repetition.
                if j % 2 == 0 {
                    packet(i, v6, tcp_flags::ACK, 1001, 9001, false)
                } else {
                    packet(i, v6, tcp_flags::ACK, 9001, 1001, true)
                }
            })
            .collect();
        let est = time_ns(reps, m, || {
            for p in &picks {
                black_box(t.track(0, p, 2).state);
            }
        });
        let check = t.track(0, &picks[0], 2).state;
        anyhow::ensure!(check == CtState::Established, "a lookup found {check}");
        let bytes = t.table_bytes();
        let per_conn = bytes as f64 / f64::from(n);
        // The peer: the same connections in a std HashMap.
        let mut map: HashMap<PeerKey, u32> = HashMap::with_capacity(n as usize);
        for i in 0..n {
            map.insert(peer_key(&packet(i, v6, 0, 0, 0, false).tuple), i);
        }
        let peer_ns = time_ns(reps, m, || {
            for p in &picks {
                black_box(map.get(&peer_key(&p.tuple)));
            }
        });
        drop(map);
        out.push_str(&format!(
            "{fam}, {n} live connections:\n  established packet (lookup + TCP checks + \
             update): {est:.1} ns; std HashMap lookup of the same keys: {peer_ns:.1} ns \
             ({:.2}x)\n  opening (3 packets + commit, tracker only): {fill_ns:.0} ns per \
             connection\n  table: {:.1} MiB = {per_conn:.1} bytes per connection{}\n",
            est / peer_ns,
            bytes as f64 / (1 << 20) as f64,
            if v6 {
                String::new()
            } else {
                format!(
                    " (target: at most 128; {})",
                    if per_conn <= 128.0 { "met" } else { "MISSED" }
                )
            }
        ));
    }
    Ok(out)
}
