//! dpu-fw
pub mod classbench;
#[cfg(feature = "dpdk")]
pub mod dataplane;
pub mod metrics;
pub mod model;
pub mod oracle;
pub mod pcap;
pub mod compile;
pub mod bench;
pub mod synth;
