//! dpu-fw
pub mod classbench;
