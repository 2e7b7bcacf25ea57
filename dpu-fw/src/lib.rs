//! dpu-fw

// No `unsafe` here: the CPU prefetch is `doca_flow::hint`, the counting allocator of
// benchmark builds lives with the `dpu-fw` binary.
#![forbid(unsafe_code)]

pub mod bench;
pub mod classbench;
pub mod compile;
pub mod config;
pub mod conntrack;
pub mod control;
#[cfg(feature = "dpdk")]
pub mod dataplane;
pub mod demo;
pub mod error;
pub mod firewall;
pub mod install;
pub mod metrics;
pub mod model;
pub mod oracle;
pub mod pcap;
pub mod sf;
pub mod synth;
