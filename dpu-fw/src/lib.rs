//! dpu-fw: a DOCA Flow firewall and service-chain engine, as a library a DPU app links.
//!
//! A policy (TOML: ports, ordered rules on the 5-tuple, ICMP, TCP flags and connection
//! state, service chains, `[conntrack]`) goes through four stages, each a module:
//!
//! 1. [`config`] reads and checks it into a [`RuleSet`] (every error located);
//! 2. [`compile`](mod@compile) turns the rule set into a [`Plan`] of DOCA Flow pipes for a
//!    [`Target`]: `software`, or `bluefield` (the CT pipe and the hardware's limits);
//! 3. [`install`] puts a plan on a backend as an [`Installed`] policy: doca-flow's
//!    software backend, or DOCA Flow hardware (feature `doca`; `doca-emu` runs the
//!    same code on the DOCA Flow contract emulator), and updates it in place on reload;
//! 4. [`Firewall`] runs packets through it: connection tracking ([`conntrack`]), then
//!    the pipes, then the connections the pipes let open are stored.
//!
//! With feature `dpdk`, `dataplane` runs firewalls on DPDK ports, one per worker, on
//! an EAL the caller owns. The `dpu-fw` command (`check`, `compile`, `simulate`, `run`,
//! `bench`, `conntrack`) is a thin front end over these modules; `docs/architecture.md`
//! draws the crates and the paths of a packet and of a policy.
//!
//! # Quick start
//!
//! ```
//! use doca_flow::packet::{PacketBuilder, tcp_flags};
//! use dpu_fw::{CtState, Firewall, PortId};
//!
//! // Host port 1 may open connections to the network (port 0); from the network only
//! // their replies come back.
//! let policy = r#"
//!     [ports.p0]
//!     role = "uplink"
//!     id = 0
//!     [ports.pf0hpf]
//!     role = "host"
//!     id = 1
//!     [conntrack]
//!     [[rules]]
//!     name = "return-traffic"
//!     in_port = "p0"
//!     state = ["established", "related"]
//!     action = "accept"
//!     [defaults]
//!     inbound = "drop"
//!     outbound = "accept"
//! "#;
//! let checked = dpu_fw::config::parse(policy, "fw.toml")?;
//! let mut fw = Firewall::software(&checked.rules)?;
//!
//! let (host, web) = ([10, 0, 0, 1].into(), [192, 0, 2, 80].into());
//! let mut syn = PacketBuilder::tcp4(host, web, 40000, 443).flags(tcp_flags::SYN).seq(1).build();
//! assert!(fw.process(PortId(1), &mut syn, 0).passed());
//! let mut synack = PacketBuilder::tcp4(web, host, 443, 40000)
//!     .flags(tcp_flags::SYN | tcp_flags::ACK).seq(700).ack_number(2).build();
//! let reply = fw.process(PortId(0), &mut synack, 1_000);
//! assert_eq!(reply.state, Some(CtState::Established));
//! assert!(reply.passed());
//! // An ACK from the network that no connection expects is dropped.
//! let mut stray = PacketBuilder::tcp4(web, host, 443, 40001).flags(tcp_flags::ACK).build();
//! assert!(!fw.process(PortId(0), &mut stray, 2_000).passed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! * `tools` (default): what the `dpu-fw` command needs beside the engine: [`bench`](mod@bench)
//!   (the classifier benchmark harness), [`metrics`] (the Prometheus endpoint), [`demo`]
//!   (the built-in policy and traffic) and [`synth`] (the synthetic rule generator). An
//!   app that only embeds the engine can leave them out: `default-features = false`.
//! * `dpdk`: `dataplane` and the DPDK paths of doca-flow (needs libdpdk).
//! * `doca`: the DOCA Flow hardware backend (needs the DOCA SDK; `docs/doca-versions.md`).
//! * `doca-emu`: the hardware backend on the DOCA Flow contract emulator (no SDK).

// No `unsafe` here: the CPU prefetch is `doca_flow::hint`, the counting allocator of
// benchmark builds lives with the `dpu-fw` binary.
#![forbid(unsafe_code)]

pub use doca_flow;

pub use compile::{Plan, Target, compile};
pub use conntrack::{CtConfig, CtState, Tracker};
pub use firewall::{BuildError, Firewall, Processed};
// The DOCA port id: the type of every port id in the library (rule sets, plans,
// installs, firewalls); `model` re-exports it too.
pub use doca_flow::PortId;
pub use install::{Decision, Installed};
pub use model::RuleSet;

#[cfg(feature = "tools")]
pub mod bench;
pub mod classbench;
pub mod compile;
pub mod config;
pub mod conntrack;
pub mod control;
#[cfg(feature = "dpdk")]
pub mod dataplane;
#[cfg(feature = "tools")]
pub mod demo;
pub mod error;
pub mod firewall;
pub mod install;
#[cfg(feature = "tools")]
pub mod metrics;
pub mod model;
pub mod oracle;
pub mod pcap;
pub mod sf;
#[cfg(feature = "tools")]
pub mod synth;
