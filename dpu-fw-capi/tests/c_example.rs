//! `examples/c/build.sh` builds `examples/c/demo.c` with the system C compiler against
//! this build's `libdpufw.a` and `libdpufw.so` and runs both: every verdict, counter,
//! error path and reload check in demo.c holds. With feature `doca-emu` the demo runs
//! on the hardware backend over the DOCA Flow contract emulator (as root: the EAL).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory of the libraries this test was linked with: `target/<profile>/deps`,
/// where cargo writes the crate's `.a`, `.so` and `.rlib` in one rustc run. (The copies
/// in `target/<profile>` are refreshed only by a build of the library itself.)
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    // target/<profile>/deps/c_example-<hash>
    exe.parent().expect("target/<profile>/deps").to_path_buf()
}

/// Cargo names a cdylib crate's outputs without a hash, so a build with other features
/// overwrites them; a fresh build for this one's features does not write them again.
fn built_with_dpdk(dir: &Path) -> bool {
    let out = Command::new("ldd")
        .arg(dir.join("libdpufw.so"))
        .output()
        .expect("run ldd");
    String::from_utf8_lossy(&out.stdout).contains("librte_eal")
}

#[test]
fn c_example_builds_and_passes_against_static_and_shared_libraries() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mode = if cfg!(feature = "doca-emu") {
        "hardware"
    } else {
        "software"
    };
    let dir = lib_dir();
    assert_eq!(
        built_with_dpdk(&dir),
        cfg!(feature = "dpdk"),
        "{}/libdpufw.so is from a build with other features than this test's (cargo names \
         it without a hash): `touch dpu-fw-capi/src/lib.rs` and run the test again",
        dir.display()
    );
    let out = Command::new("bash")
        .arg(root.join("examples/c/build.sh"))
        .arg(&dir)
        .arg(mode)
        .output()
        .expect("run bash examples/c/build.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "examples/c/build.sh failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(&format!(
            "ok: the C example passed against the static and the shared library ({mode} backend)"
        )),
        "{stdout}"
    );
    assert_eq!(
        stdout
            .matches("every check held (25 packets, twice)")
            .count(),
        2,
        "{stdout}"
    );
}
