//! Scalable functions (SFs) by netdev name, from sysfs.
//!
//! Under DOCA Platform Framework a DPU service gets one SF per interface (its netdev
//! named after the DPUServiceInterface, e.g. `p0_if`), not the uplink or host
//! representors. DPDK opens an SF as an auxiliary-bus device (`-a
//! auxiliary:mlx5_core.sf.4,dv_flow_en=2`), so `dpu-fw run` turns a port's netdev name
//! into that device through sysfs:
//!
//! ```text
//! /sys/class/net/p0_if/device -> ../../../mlx5_core.sf.4     (the auxiliary device)
//! /sys/class/net/p0_if/device/subsystem -> .../bus/auxiliary (it is on that bus)
//! /sys/class/net/p0_if/device/sfnum                          ("4", the SF number)
//! ```
//!
//! Tested on a fake sysfs tree (`tests` below); never run on a BlueField.
//!
//! # Examples
//!
//! ```no_run
//! let sf = dpu_fw::sf::find(std::path::Path::new("/sys"), "p0_if")?;
//! assert_eq!(sf.device, "mlx5_core.sf.4");
//! assert_eq!(sf.eal_allow(), "auxiliary:mlx5_core.sf.4,dv_flow_en=2");
//! # Ok::<(), dpu_fw::sf::SfError>(())
//! ```

use std::path::{Path, PathBuf};

/// An SF found by its netdev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sf {
    /// The netdev name asked for.
    pub netdev: String,
    /// The auxiliary device (`mlx5_core.sf.4`): DPDK's device name for the port.
    pub device: String,
    /// The SF number (`sfnum`), when sysfs has it.
    pub sfnum: Option<u32>,
}

impl Sf {
    /// The EAL `-a` argument that probes the SF (`dv_flow_en=2`: the hardware steering
    /// DOCA Flow needs).
    pub fn eal_allow(&self) -> String {
        format!("auxiliary:{},dv_flow_en=2", self.device)
    }
}

/// Why a netdev is not an SF this process can open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SfError {
    /// No such netdev.
    #[error(
        "no network interface `{netdev}` in {root}/class/net{}",
        if known.is_empty() { String::new() } else { format!(" (SFs there: {})", known.join(", ")) }
    )]
    NoNetdev {
        /// The name asked for.
        netdev: String,
        /// The sysfs root.
        root: String,
        /// The netdevs there that are SFs.
        known: Vec<String>,
    },
    /// The netdev is not on the auxiliary bus (a PCI function, a veth, ...).
    #[error(
        "`{netdev}` is not a scalable function: its device is on the {bus} bus; give a \
         DPDK port id or device name instead (e.g. --port NAME=0000:03:00.0)"
    )]
    NotAnSf {
        /// The name asked for.
        netdev: String,
        /// The bus its device is on (`pci`, `none` for a virtual netdev).
        bus: String,
    },
}

/// Finds the SF whose netdev is `netdev`, in the sysfs mounted at `root` (`/sys`).
///
/// # Errors
/// [`SfError::NoNetdev`] (naming the SF netdevs that exist), [`SfError::NotAnSf`].
pub fn find(root: &Path, netdev: &str) -> Result<Sf, SfError> {
    let net = root.join("class/net");
    let link = net.join(netdev);
    if netdev.is_empty() || netdev.contains('/') || !link.exists() {
        return Err(SfError::NoNetdev {
            netdev: netdev.to_string(),
            root: root.display().to_string(),
            known: sf_netdevs(&net),
        });
    }
    let device = link.join("device");
    let bus = bus_of(&device);
    if bus != "auxiliary" {
        return Err(SfError::NotAnSf {
            netdev: netdev.to_string(),
            bus,
        });
    }
    let name = std::fs::canonicalize(&device)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let sfnum = std::fs::read_to_string(device.join("sfnum"))
        .ok()
        .and_then(|s| s.trim().parse().ok());
    Ok(Sf {
        netdev: netdev.to_string(),
        device: name,
        sfnum,
    })
}

/// The bus a device directory is on: the last part of its `subsystem` link, `none`
/// for a netdev without a device (veth, bridge).
fn bus_of(device: &Path) -> String {
    if !device.exists() {
        return "none".into();
    }
    std::fs::read_link(device.join("subsystem"))
        .ok()
        .and_then(|p: PathBuf| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".into())
}

/// The netdevs under `net` whose device is on the auxiliary bus, sorted.
fn sf_netdevs(net: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(net)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| bus_of(&e.path().join("device")) == "auxiliary")
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A sysfs tree as a BlueField's Arm cores show it: `p0_if` and `pf0hpf_if` are
    /// SFs (auxiliary devices under the PF), `p0` is the PF's netdev (PCI), `lo` has
    /// no device.
    fn fake_sysfs() -> PathBuf {
        let root = std::env::temp_dir().join(format!(
            "dpu-fw-sysfs-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        let pf = root.join("devices/pci0000:00/0000:00:00.0/0000:03:00.0");
        std::fs::create_dir_all(root.join("bus/pci")).unwrap();
        std::fs::create_dir_all(root.join("bus/auxiliary")).unwrap();
        std::fs::create_dir_all(root.join("class/net")).unwrap();
        std::fs::create_dir_all(&pf).unwrap();
        symlink(root.join("bus/pci"), pf.join("subsystem")).unwrap();
        for (netdev, sf) in [("p0_if", 4), ("pf0hpf_if", 5)] {
            let dev = pf.join(format!("mlx5_core.sf.{sf}"));
            std::fs::create_dir_all(dev.join("net").join(netdev)).unwrap();
            symlink(root.join("bus/auxiliary"), dev.join("subsystem")).unwrap();
            std::fs::write(dev.join("sfnum"), format!("{}\n", sf + 10)).unwrap();
            symlink(
                dev.join("net").join(netdev),
                root.join("class/net").join(netdev),
            )
            .unwrap();
            symlink(&dev, dev.join("net").join(netdev).join("device")).unwrap();
        }
        std::fs::create_dir_all(pf.join("net/p0")).unwrap();
        symlink(&pf, pf.join("net/p0/device")).unwrap();
        symlink(pf.join("net/p0"), root.join("class/net/p0")).unwrap();
        std::fs::create_dir_all(root.join("devices/virtual/net/lo")).unwrap();
        symlink(
            root.join("devices/virtual/net/lo"),
            root.join("class/net/lo"),
        )
        .unwrap();
        root
    }

    #[test]
    fn finds_an_sf_by_its_netdev() {
        let root = fake_sysfs();
        let sf = find(&root, "p0_if").unwrap();
        assert_eq!(
            sf,
            Sf {
                netdev: "p0_if".into(),
                device: "mlx5_core.sf.4".into(),
                sfnum: Some(14),
            }
        );
        assert_eq!(sf.eal_allow(), "auxiliary:mlx5_core.sf.4,dv_flow_en=2");
        assert_eq!(find(&root, "pf0hpf_if").unwrap().device, "mlx5_core.sf.5");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn says_what_is_wrong_with_other_netdevs() {
        let root = fake_sysfs();
        let e = find(&root, "fw_p9").unwrap_err();
        assert!(matches!(&e, SfError::NoNetdev { known, .. } if known == &["p0_if", "pf0hpf_if"]));
        assert!(
            e.to_string()
                .ends_with("/class/net (SFs there: p0_if, pf0hpf_if)"),
            "{e}"
        );
        let e = find(&root, "p0").unwrap_err();
        assert_eq!(
            e,
            SfError::NotAnSf {
                netdev: "p0".into(),
                bus: "pci".into()
            }
        );
        assert!(e.to_string().contains("--port NAME=0000:03:00.0"), "{e}");
        assert!(matches!(
            find(&root, "lo"),
            Err(SfError::NotAnSf { bus, .. }) if bus == "none"
        ));
        assert!(matches!(
            find(&root, "../p0"),
            Err(SfError::NoNetdev { .. })
        ));
        let _ = std::fs::remove_dir_all(&root);
    }
}
