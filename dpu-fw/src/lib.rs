//! dpu-fw
pub mod classbench;
#[cfg(feature = "dpdk")]
pub mod dataplane;
pub mod metrics;
pub mod pcap;
