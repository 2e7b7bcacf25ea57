//! dpu-fw
