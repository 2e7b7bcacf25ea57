//! The DPDK dataplane end to end through real sockets: two network
//! namespaces joined through `net_af_packet` ports of the dataplane, with a
//! policy that forwards ICMP and TCP between them and drops UDP.
//!
//! Needs feature `dpdk`, root, iproute2, ethtool, ping, curl and python3
//! (`.ci/run` installs them).
#![cfg(feature = "dpdk")]

mod netns;

use std::io::Write;
use std::time::{Duration, Instant};

use doca_flow::dpdk::Eal;
use dpu_fw::dataplane::{Dataplane, DataplaneConfig, Device, Disposition, PortSpec, Processor};
use netns::{Lab, sh, try_sh};

/// Forward everything between ports 0 and 1, except IPv4 UDP.
fn policy() -> Box<dyn Processor> {
    Box::new(|in_port: usize, pkt: &mut [u8]| {
        let is_udp4 = pkt.len() >= 34 && pkt[12..14] == [0x08, 0x00] && pkt[23] == 17;
        if is_udp4 {
            Disposition::Drop
        } else {
            Disposition::Forward(1 - in_port)
        }
    })
}

fn sha256(path: &str) -> String {
    sh(&["sha256sum", path])
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn af_packet_ping_tcp_and_udp_drop() {
    let lab = Lab::new("dp");
    let eal = Eal::init(
        [
            "dataplane_netns".into(),
            "-l".into(),
            "0".into(),
            "--no-huge".into(),
            "-m".into(),
            "512".into(),
            "--no-pci".into(),
            "--no-shconf".into(),
            "--no-telemetry".into(),
            "--log-level=lib.eal:error".into(),
            format!("--vdev=net_af_packet0,iface={}", lab.a.outer_if),
            format!("--vdev=net_af_packet1,iface={}", lab.b.outer_if),
        ]
        .iter(),
    )
    .expect("EAL starts");
    let cfg = DataplaneConfig {
        ports: vec![
            PortSpec {
                name: "a".into(),
                device: Device::Name("net_af_packet0".into()),
            },
            PortSpec {
                name: "b".into(),
                device: Device::Id(1),
            },
        ],
        workers: 1,
        mbufs: 8191,
    };
    let dp = Dataplane::start(&eal, &cfg, |_| policy()).expect("dataplane starts");

    // ICMP passes (the first ping may be lost to ARP warm-up).
    let ok = (0..5).any(|_| try_sh(&lab.a.exec(&["ping", "-c", "1", "-W", "1", &lab.b.addr])));
    assert!(ok, "ping from A to B through the dataplane failed");

    // A 4 MB HTTP transfer arrives intact.
    let dir = std::env::temp_dir().join(format!("dpfw-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let payload = dir.join("blob.bin");
    {
        let mut f = std::fs::File::create(&payload).unwrap();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut buf = Vec::with_capacity(4 << 20);
        while buf.len() < 4 << 20 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf.extend_from_slice(&x.to_le_bytes());
        }
        f.write_all(&buf).unwrap();
    }
    let dir_s = dir.to_str().unwrap().to_string();
    let _server = lab.b.spawn(&[
        "python3",
        "-m",
        "http.server",
        "8080",
        "--bind",
        &lab.b.addr,
        "--directory",
        &dir_s,
    ]);
    let got = dir.join("got.bin");
    let got_s = got.to_str().unwrap().to_string();
    let url = format!("http://{}:8080/blob.bin", lab.b.addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut fetched = false;
    while Instant::now() < deadline {
        if try_sh(
            &lab.a
                .exec(&["curl", "-sf", "--max-time", "20", "-o", &got_s, &url]),
        ) {
            fetched = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        fetched,
        "HTTP transfer from B to A through the dataplane failed"
    );
    assert_eq!(
        sha256(&got_s),
        sha256(payload.to_str().unwrap()),
        "transfer corrupted"
    );

    // UDP is dropped: a datagram from A never reaches B.
    let before = dp.counters();
    let recv = format!(
        "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);\
         s.bind(('{}',9999));s.settimeout(2)\n\
         try:\n  s.recvfrom(100); print('GOT')\nexcept socket.timeout:\n  print('NONE')",
        lab.b.addr
    );
    let receiver = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.b.ns, "python3", "-c", &recv])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    lab.b.wait_udp_bound(9999, 20);
    let send = format!(
        "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);\
         [s.sendto(b'x'*64,('{}',9999)) for _ in range(5)]",
        lab.b.addr
    );
    sh(&lab.a.exec(&["python3", "-c", &send]));
    let out = receiver.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "NONE",
        "UDP crossed the dataplane"
    );
    let after = dp.counters();
    assert!(
        after[0].policy_drops >= before[0].policy_drops + 5,
        "the 5 UDP datagrams were not counted as policy drops: {before:?} -> {after:?}"
    );

    let fin = dp.stop();
    assert!(fin[0].rx_packets > 0 && fin[1].rx_packets > 0 && fin[1].tx_packets > 0);
    let _ = std::fs::remove_dir_all(&dir);
    drop(lab);
}
