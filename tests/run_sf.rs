//! `dpu-fw run` with ports given as SF netdevs (feature `dpdk`, root), on a fake sysfs
//! tree: the netdevs are resolved to their auxiliary devices, the EAL is asked to
//! probe them, and the dataplane looks for those DPDK ports. This machine has no SF,
//! so `run` must stop there, naming the device; what happens on a BlueField never ran
//! (docs/dpf.md).
#![cfg(feature = "dpdk")]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `class/net/{p0_if,pf0hpf_if}` -> SFs `mlx5_core.sf.{4,5}` on the auxiliary bus.
fn fake_sysfs(root: &Path) {
    let pf = root.join("devices/pci0000:00/0000:03:00.0");
    for d in ["bus/pci", "bus/auxiliary", "class/net"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::create_dir_all(&pf).unwrap();
    symlink(root.join("bus/pci"), pf.join("subsystem")).unwrap();
    for (netdev, sf) in [("p0_if", 4), ("pf0hpf_if", 5)] {
        let dev = pf.join(format!("mlx5_core.sf.{sf}"));
        std::fs::create_dir_all(dev.join("net").join(netdev)).unwrap();
        symlink(root.join("bus/auxiliary"), dev.join("subsystem")).unwrap();
        symlink(
            dev.join("net").join(netdev),
            root.join("class/net").join(netdev),
        )
        .unwrap();
        symlink(&dev, dev.join("net").join(netdev).join("device")).unwrap();
    }
}

fn tmp() -> PathBuf {
    let d = std::env::temp_dir().join(format!("dpfw-sf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(dir: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dpu-fw"))
        .arg("run")
        .arg("--config")
        .arg(dir.join("policy.toml"))
        .arg("--sysfs-root")
        .arg(dir.join("sys"))
        .args(["--metrics", "off", "--control", "off"])
        .args(extra)
        .args([
            "--",
            "-l",
            "0",
            "--no-huge",
            "-m",
            "256",
            "--no-pci",
            "--no-shconf",
        ])
        .args(["--no-telemetry", "--log-level=lib.eal:error"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run dpu-fw");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), text)
}

#[test]
fn netdev_ports_are_probed_as_scalable_functions() {
    let dir = tmp();
    fake_sysfs(&dir.join("sys"));
    std::fs::write(
        dir.join("policy.toml"),
        "[ports.p0]\nrole = \"uplink\"\nnetdev = \"p0_if\"\n\
         [ports.pf0hpf]\nrole = \"host\"\nnetdev = \"pf0hpf_if\"\n\
         [defaults]\ninbound = \"drop\"\noutbound = \"accept\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        dir.join("policy.toml"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let (ok, log) = run(&dir, &[]);
    assert!(!ok, "there is no SF here, yet run started:\n{log}");
    assert!(
        log.contains("scalable function port=p0 netdev=p0_if device=mlx5_core.sf.4"),
        "{log}"
    );
    if cfg!(any(feature = "doca", feature = "doca-emu")) {
        assert!(
            log.contains("the hardware backend runs in switch mode only"),
            "{log}"
        );
    } else {
        assert!(
            log.contains(
                "EAL arguments added for the SF ports: -a auxiliary:mlx5_core.sf.4,dv_flow_en=2 \
                 -a auxiliary:mlx5_core.sf.5,dv_flow_en=2"
            ),
            "{log}"
        );
        assert!(
            log.contains("port p0 (mlx5_core.sf.4) did not come up: no DPDK port named"),
            "{log}"
        );
    }
    // `--port NAME=netdev:IF` names one too, and a wrong one is refused before the EAL
    // starts, with the SFs that exist.
    let (ok, log) = run(&dir, &["--port", "p0=netdev:p9_if"]);
    assert!(!ok);
    assert!(
        log.contains("port \"p0\" (netdev \"p9_if\"): no network interface `p9_if` in")
            && log.contains("(SFs there: p0_if, pf0hpf_if)"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
