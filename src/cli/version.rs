//! `dpu-fw version`: the build facts.

use std::process::ExitCode;

/// Prints the crate version, the features compiled in, and the DPDK and DOCA
/// versions doca-sys was built against.
pub(crate) fn run() -> anyhow::Result<ExitCode> {
    println!("dpu-fw {}", env!("CARGO_PKG_VERSION"));
    println!(
        "features: dpdk={} doca={}",
        doca_sys::BUILD.dpdk,
        doca_sys::BUILD.doca
    );
    println!("DPDK: {}", env!("DPU_FW_DPDK_VERSION"));
    println!("DOCA: {}", env!("DPU_FW_DOCA_VERSION"));
    Ok(ExitCode::SUCCESS)
}
