//! `dpu-fw run` with ports given as SF netdevs (feature `dpdk`, root), on a fake sysfs
//! tree: the netdevs are resolved to their auxiliary devices, the EAL is asked to
//! probe them, and the dataplane looks for those DPDK ports. This machine has no SF,
//! so `run` must stop there, naming the device; what happens on a BlueField never ran
//! (docs/dpf.md).
#![cfg(feature = "dpdk")]

#[cfg(feature = "doca-emu")]
mod fwrun;
#[cfg(feature = "doca-emu")]
mod netns;

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
    // With or without the hardware backend (which runs SF ports in DOCA Flow's vnf
    // mode), run goes as far as the missing DPDK ports.
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
    // `--port NAME=netdev:IF` names one too, and a wrong one is refused before the EAL
    // starts, with the SFs that exist.
    let (ok, log) = run(&dir, &["--port", "p0=netdev:p9_if"]);
    assert!(!ok);
    assert!(
        log.contains("port \"p0\" (netdev \"p9_if\"): no network interface `p9_if` in")
            && log.contains("(SFs there: p0_if, pf0hpf_if)"),
        "{log}"
    );
    // SF ports beside a port given by id: refused before the EAL starts, naming both,
    // where a hardware backend must pick one DOCA Flow mode.
    if cfg!(any(feature = "doca", feature = "doca-emu")) {
        std::fs::write(
            dir.join("policy.toml"),
            "[ports.p0]\nrole = \"uplink\"\nnetdev = \"p0_if\"\n\
             [ports.pf0hpf]\nrole = \"host\"\nid = 1\n\
             [defaults]\ninbound = \"drop\"\noutbound = \"accept\"\n",
        )
        .unwrap();
        let (ok, log) = run(&dir, &[]);
        assert!(!ok, "{log}");
        assert!(
            log.contains("choosing the DOCA Flow mode for the hardware backend")
                && log.contains("ports [\"p0\"] are scalable functions")
                && log.contains("ports [\"pf0hpf\"] are not"),
            "{log}"
        );
        assert!(!log.contains("EAL arguments added"), "{log}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `dpu-fw run` with a policy of SF netdev ports, given DPDK devices here by `--port`
/// (pcap vdevs: this machine has no SF), through the hardware backend on the DOCA Flow
/// contract emulator (feature `doca-emu`): the ports are SF ports, so DOCA Flow runs in
/// vnf mode with a lane per port; every frame leaves where the policy says. Only the
/// emulator ran this; no BlueField did.
#[cfg(feature = "doca-emu")]
#[test]
fn netdev_ports_run_in_vnf_mode_on_the_doca_flow_emulator() {
    use doca_flow::packet::PacketBuilder;
    use std::time::{Duration, Instant};
    let _g = fwrun::serial();
    let dir = fwrun::tmpdir("sfvnf");
    let cfg = dir.join("policy.toml");
    let policy = "[ports.p0]\nrole = \"uplink\"\nnetdev = \"p0_if\"\n\
         [ports.pf0hpf]\nrole = \"host\"\nnetdev = \"pf0hpf_if\"\n\
         [conntrack]\n\
         [[rules]]\nname = \"no-discard\"\nprotocol = \"udp\"\ndst_port = 9\n\
         action = \"drop\"\ncount = true\n\
         [defaults]\ninbound = \"drop\"\noutbound = \"accept\"\n";
    let write_policy = |text: &str| {
        let tmp = dir.join("policy.toml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        std::fs::rename(&tmp, &cfg).unwrap();
    };
    write_policy(policy);
    let host = std::net::Ipv4Addr::new(10, 0, 0, 1);
    let net = std::net::Ipv4Addr::new(192, 0, 2, 7);
    let out_ok: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            PacketBuilder::udp4(host, net, 40000 + i, 53)
                .payload(b"q")
                .build()
        })
        .collect();
    let mut from_host = out_ok.clone();
    from_host.extend((0..2).map(|i| PacketBuilder::udp4(host, net, 41000 + i, 9).build()));
    let from_net: Vec<Vec<u8>> = (0..2)
        .map(|i| PacketBuilder::udp4(net, host, 5000 + i, 22).build())
        .collect();
    let write = |name: &str, frames: &[Vec<u8>]| {
        let f = std::fs::File::create(dir.join(name)).unwrap();
        let mut w = dpu_fw::pcap::PcapWriter::new(std::io::BufWriter::new(f)).unwrap();
        for (i, fr) in frames.iter().enumerate() {
            w.write_packet(Duration::from_millis(i as u64), fr).unwrap();
        }
        w.flush().unwrap();
    };
    write("p0_in.pcap", &from_net);
    write("host_in.pcap", &from_host);
    let d = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let eal = vec![
        format!(
            "--vdev=net_pcap0,rx_pcap={},tx_pcap={}",
            d("p0_in.pcap"),
            d("p0_out.pcap")
        ),
        format!(
            "--vdev=net_pcap1,rx_pcap={},tx_pcap={}",
            d("host_in.pcap"),
            d("host_out.pcap")
        ),
    ];
    let log = dir.join("run.log");
    let mport = fwrun::free_port();
    let fw = fwrun::Fw::start_logged(
        &cfg,
        mport,
        &[
            "--port",
            "p0=net_pcap0",
            "--port",
            "pf0hpf=net_pcap1",
            "--control",
            "off",
        ],
        &eal,
        Some(&log),
        // The first reload's hardware update fails (an entry's completion): the old
        // policy must stay in force in every lane.
        &[("DPU_FW_EMU_FAIL_RELOADS", "1")],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = fwrun::metrics(mport);
        let rx = |port: &str| {
            fwrun::sample(
                &m,
                "dpufw_port_rx_packets_total",
                &format!("port=\"{port}\""),
            )
            .unwrap_or(0)
        };
        if rx("p0") >= from_net.len() as u64 && rx("pf0hpf") >= from_host.len() as u64 {
            break;
        }
        assert!(Instant::now() < deadline, "not every frame was read:\n{m}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Reloads: the vnf lanes are updated together; the first fails in hardware and
    // leaves the old policy, the next one takes.
    let reloads = |outcome: &str| {
        fwrun::sample(
            &fwrun::metrics(mport),
            "dpufw_reloads_total",
            &format!("outcome=\"{outcome}\""),
        )
        .unwrap_or(0)
    };
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    write_policy(&policy.replace("dst_port = 9", "dst_port = 19"));
    wait_for("the first reload did not fail", &|| reloads("failed") == 1);
    assert_eq!(reloads("ok"), 0);
    write_policy(&policy.replace("dst_port = 9", "dst_port = 1999"));
    wait_for("the second reload did not take", &|| reloads("ok") == 1);
    let (out, status) = fw.stop();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("reload failed, the old policy stays in force"),
        "{text}"
    );
    assert!(
        status.success(),
        "dpu-fw run failed: {status}\n{out}\n{text}"
    );
    assert!(
        text.contains("DOCA Flow hardware pipes installed")
            && text.contains("mode=Vnf")
            && text.contains("lanes=2"),
        "{text}"
    );
    let read = |name: &str| {
        let f = std::fs::File::open(dir.join(name)).unwrap();
        let mut r = dpu_fw::pcap::PcapReader::new(std::io::BufReader::new(f)).unwrap();
        let mut v = Vec::new();
        while let Some(p) = r.next_packet().unwrap() {
            v.push(p.data);
        }
        v
    };
    assert_eq!(
        read("p0_out.pcap"),
        out_ok,
        "the accepted frames leave through p0"
    );
    assert!(
        read("host_out.pcap").is_empty(),
        "nothing unsolicited reaches the host"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
