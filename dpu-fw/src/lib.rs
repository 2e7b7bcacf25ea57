//! dpu-fw
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
pub mod synth;
