//! doca-flow: a safe DOCA Flow API with a software backend.

pub mod classifier;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod packet;
