//! Build facts for the `dpu-fw` command: which DPDK and DOCA versions
//! doca-sys found, printed by `dpu-fw version`.
fn main() {
    for (var, name) in [
        ("DEP_DOCA_SYS_DPDK_VERSION", "DPU_FW_DPDK_VERSION"),
        ("DEP_DOCA_SYS_DOCA_VERSION", "DPU_FW_DOCA_VERSION"),
    ] {
        println!("cargo:rerun-if-env-changed={var}");
        let value = std::env::var(var).unwrap_or_else(|_| "not built".into());
        println!("cargo:rustc-env={name}={value}");
    }
}
