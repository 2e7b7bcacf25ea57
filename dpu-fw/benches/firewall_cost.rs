#![allow(missing_docs)]
//! `Firewall::process_batch_each` with connection tracking, as a plain binary: the
//! per-packet cost of established traffic, the path `bench/dataplane.sh`'s conntrack
//! step measures in the dataplane (where it is the ratio "conntrack / without").
//!
//! The policy: an uplink `p0` and a host port `p1`, `[conntrack]`, one rule accepting
//! established packets into `p0`, outbound accepted by default. `--flows N` (default
//! 4096, rounded up to a multiple of 64) UDP flows are opened from the host (one query each, then one reply makes the
//! flow established); then bursts of 64 replies, cycling over the flows, go through
//! `process_batch_each` on `p0`, all accepted as established. `--stateless` runs the
//! same replies through the policy without `[conntrack]` and with the rule's `state`
//! dropped (the peer of the ratio).
//!
//! `cargo bench -p dpu-fw --bench firewall_cost [-- --stateless]` prints the best ns
//! per frame; `BENCH=firewall_cost bash bench/instructions.sh` counts instructions per
//! frame under callgrind (`ARGS=--stateless` for the peer).
//!
//! `--paired` runs both in one process, a pass of each in turn (the order swapped every
//! second pass), and prints each one's best and the median over the pass pairs of
//! the rate ratio conntrack / stateless: the in-process figure of the dataplane's
//! "conntrack / without" (no DPDK ports, so no receive or transmit costs), on a VM
//! whose speed drifts between seconds.
//!
//! Arguments: `--bursts N` (default 2000) bursts per pass, `--passes N` (default 10),
//! `--flows N`, `--stateless` or `--paired`.

use std::time::Instant;

use dpu_fw::doca_flow::Verdict;
use dpu_fw::doca_flow::packet::PacketBuilder;
use dpu_fw::{Firewall, PortId};

fn arg(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .ok_or_else(|| format!("{name} needs a value"))?
            .parse()
            .map_err(|e| format!("{name}: {e}")),
    }
}

const STATEFUL: &str = r#"
[ports.p0]
role = "uplink"
id = 0
peer = "p1"
[ports.p1]
role = "host"
id = 1
peer = "p0"
[conntrack]
[[rules]]
name = "return-traffic"
in_port = "p0"
state = ["established"]
action = "accept"
[defaults]
inbound = "drop"
outbound = "accept"
"#;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let parsed = (
        arg(&args, "--bursts", 2000),
        arg(&args, "--passes", 10),
        arg(&args, "--flows", 4096),
    );
    let (bursts, passes, flows) = match parsed {
        (Ok(b), Ok(p), Ok(f)) if b > 0 && p > 0 && (1..=1_000_000).contains(&f) => (b, p, f as u32),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            eprintln!("firewall_cost: {e}");
            std::process::exit(2);
        }
        _ => {
            eprintln!("firewall_cost: --bursts and --passes >= 1, --flows 1..=1000000");
            std::process::exit(2);
        }
    };
    let stateless = args.iter().any(|a| a == "--stateless");
    let paired = args.iter().any(|a| a == "--paired");
    if stateless && paired {
        eprintln!("firewall_cost: --stateless and --paired exclude each other");
        std::process::exit(2);
    }
    // Whole bursts only: the flows are rounded up to a multiple of 64.
    let flows = flows.div_ceil(64) * 64;
    if !paired {
        let mut bench = Bench::new(stateless, flows);
        let best = (0..passes)
            .map(|_| bench.pass(bursts))
            .fold(f64::MAX, f64::min);
        println!(
            "firewall_cost ({}, {flows} flows): best of {passes} passes of {bursts} bursts of 64: {best:.2} ns/frame",
            bench.what()
        );
        return;
    }
    let mut ct = Bench::new(false, flows);
    let mut plain = Bench::new(true, flows);
    let (mut best_ct, mut best_plain) = (f64::MAX, f64::MAX);
    let mut ratios = Vec::with_capacity(passes as usize);
    for p in 0..passes {
        let (c, s) = if p % 2 == 0 {
            let c = ct.pass(bursts);
            (c, plain.pass(bursts))
        } else {
            let s = plain.pass(bursts);
            (ct.pass(bursts), s)
        };
        best_ct = best_ct.min(c);
        best_plain = best_plain.min(s);
        // Rates: the stateless pass's ns over the conntrack pass's.
        ratios.push(s / c);
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    println!(
        "firewall_cost (paired, {flows} flows, {passes} pass pairs of {bursts} bursts of 64): \
         conntrack best {best_ct:.2} ns/frame, stateless best {best_plain:.2} ns/frame, \
         conntrack / stateless (rate) median {median:.2} (pairs {:.2}-{:.2})",
        ratios[0],
        ratios[ratios.len() - 1]
    );
}

/// One firewall with its flows open and the replies to send through it.
struct Bench {
    fw: Firewall,
    stateless: bool,
    replies: Vec<Vec<u8>>,
    at: usize,
    now: u64,
}

impl Bench {
    /// The policy (with `[conntrack]`, or `stateless` without it and without the
    /// rule's `state`), and `flows` UDP flows opened through it.
    fn new(stateless: bool, flows: u32) -> Bench {
        let policy = if stateless {
            STATEFUL
                .replace("[conntrack]\n", "")
                .replace("state = [\"established\"]\n", "")
        } else {
            STATEFUL.to_string()
        };
        let rules = dpu_fw::config::parse(&policy, "firewall_cost.toml")
            .expect("the bench's policy parses")
            .rules;
        assert_eq!(
            rules.conntrack.is_none(),
            stateless,
            "--stateless drops [conntrack] from the policy"
        );
        let mut fw = Firewall::software(&rules).expect("the bench's policy installs");
        let host = |i: u32| core::net::Ipv4Addr::from(0x0a00_0000 | i);
        let server = |i: u32| core::net::Ipv4Addr::new(192, 0, 2, (i % 250) as u8 + 1);
        let sport = |i: u32| 10_000 + (i % 50_000) as u16;
        let mut now = 1_000u64;
        // Open every flow: a query out of the host, its reply in.
        for i in 0..flows {
            let mut q = PacketBuilder::udp4(host(i), server(i), sport(i), 53).build();
            let mut r = PacketBuilder::udp4(server(i), host(i), 53, sport(i)).build();
            assert!(
                fw.process(PortId(1), &mut q, now).passed(),
                "the query of flow {i} was dropped"
            );
            assert!(
                fw.process(PortId(0), &mut r, now).passed(),
                "the reply of flow {i} was dropped"
            );
            now += 1_000;
        }
        let replies = (0..flows)
            .map(|i| PacketBuilder::udp4(server(i), host(i), 53, sport(i)).build())
            .collect();
        Bench {
            fw,
            stateless,
            replies,
            at: 0,
            now,
        }
    }

    fn what(&self) -> &'static str {
        if self.stateless {
            "stateless"
        } else {
            "conntrack"
        }
    }

    /// `bursts` bursts of 64 replies, cycling over the flows: ns per frame.
    fn pass(&mut self, bursts: u64) -> f64 {
        let t = Instant::now();
        let mut passed = 0u64;
        for _ in 0..bursts {
            let burst = &mut self.replies[self.at..self.at + 64];
            self.fw
                .process_batch_each(PortId(0), burst, self.now, |_, o, _, _, full| {
                    passed += u64::from(!full && matches!(o.verdict, Verdict::Port(_)));
                });
            self.at = (self.at + 64) % self.replies.len();
            self.now += 1_000;
        }
        // Every reply is established (or, stateless, matches the rule): all pass.
        assert_eq!(passed, 64 * bursts, "a reply was dropped");
        t.elapsed().as_nanos() as f64 / (bursts * 64) as f64
    }
}
