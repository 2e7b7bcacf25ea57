//! Faults injected into a running `dpu-fw run` (feature `dpdk`, root): the egress
//! port's link going down and up (`net_af_packet` on a veth: its sends fail and its
//! transmit ring fills), a tiny mbuf pool under a flood, and the policy file replaced
//! the way Kubernetes updates a ConfigMap (a symlink swap). Each ends with packets
//! flowing again, the old or the new policy wholly in force, and a log line saying
//! what happened. (`net_af_packet` in DPDK 22.11 reports neither link changes nor
//! receives that found no free mbuf: `run` logs the failed sends, and warns at start
//! that the pool is smaller than one burst per port; on a NIC that reports them, the
//! link and `rx_nombuf` lines of `run`'s health check say more.)
//!
//! With feature `doca-emu`, a reload that meets an entry failure in the hardware
//! backend (the DOCA Flow emulator fails an entry's completion) leaves the old policy
//! in force, and the next reload takes. (`dpu-fw/tests/hw_emu_install.rs` and
//! `dpu-fw/tests/install_updates.rs` inject failures at every step of an update.)
#![cfg(feature = "dpdk")]

mod fwrun;
mod netns;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fwrun::{
    Fw, af_packet_eal, free_port, metrics, quiet_hosts, sample, serial, tmpdir, two_ports,
};
use netns::{Lab, sh};

/// A (198.18.0.1) is the network, B (198.18.0.2) the host; UDP to B's port 9000 passes
/// inbound when `VERDICT` is accept.
const POLICY: &str = concat!(
    two_ports!(),
    r#"
[[rules]]
name = "udp-9000"
in_port = "a"
protocol = "udp"
dst_port = 9000
action = "VERDICT"
count = true

[defaults]
inbound = "drop"
outbound = "accept"
"#
);

fn policy(verdict: &str) -> String {
    POLICY.replace("VERDICT", verdict)
}

/// B's UDP receiver on port 9000: counts datagrams until it has been idle for
/// `idle` seconds after the first, or `max` seconds in all.
struct Receiver(std::process::Child);

impl Receiver {
    fn start(lab: &Lab, max: f64) -> Receiver {
        let prog = format!(
            "import socket,time\n\
             s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('{b}',9000))\n\
             s.settimeout(0.2); n=0; end=time.time()+{max}\n\
             while time.time()<end:\n\
             \x20 try: d=s.recv(2048)\n\
             \x20 except socket.timeout: continue\n\
             \x20 if d==b'stop': break\n\
             \x20 n+=1\n\
             print(n)",
            b = lab.b.addr
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &lab.b.ns, "python3", "-c", &prog])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 in a namespace");
        let receiver = Receiver(child);
        lab.b.wait_udp_bound(9000, 20);
        receiver
    }

    /// Stops it (a `stop` datagram straight from A; the caller's policy must pass it)
    /// and returns the count.
    fn count(self, lab: &Lab) -> u64 {
        send(lab, 3, 0.01, b"stop");
        let out = self.0.wait_with_output().expect("receiver");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("receiver output: {out:?}"))
    }
}

/// Sends `n` datagrams from A to B:9000, `gap` seconds apart.
fn send(lab: &Lab, n: usize, gap: f64, payload: &[u8]) {
    let prog = format!(
        "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         for _ in range({n}):\n\
         \x20 s.sendto(b'{payload}',('{b}',9000)); time.sleep({gap})",
        payload = String::from_utf8_lossy(payload),
        b = lab.b.addr
    );
    sh(&lab.a.exec(&["python3", "-c", &prog]));
}

fn wait_for_log(log: &Path, what: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let text = std::fs::read_to_string(log)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", log.display()));
        if text.contains(what) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the log never said {what:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_egress_link_goes_down_and_up() {
    let _g = serial();
    let lab = Lab::new("flink");
    quiet_hosts(&lab);
    let dir = tmpdir("flink");
    let cfg = dir.join("policy.toml");
    std::fs::write(&cfg, policy("accept")).unwrap();
    let log = dir.join("run.log");
    let mport = free_port();
    let fw = Fw::start_logged(&cfg, mport, &[], &af_packet_eal(&lab), Some(&log), &[]);

    let r = Receiver::start(&lab, 30.0);
    send(&lab, 50, 0.002, b"before");
    // The port toward B loses its link; what A sends meanwhile cannot go out: the
    // sends fail, and once net_af_packet's transmit ring (512 frames) is full of
    // frames the kernel could not send, its transmit queue takes no more.
    sh(&["ip", "link", "set", &lab.b.outer_if, "down"]);
    send(&lab, 1500, 0.001, b"during");
    let text = wait_for_log(&log, "the port's transmit queue was full", 5);
    sh(&["ip", "link", "set", &lab.b.outer_if, "up"]);
    std::thread::sleep(Duration::from_millis(1500));
    let delivered_before_after = r.count(&lab);
    let r = Receiver::start(&lab, 30.0);
    send(&lab, 50, 0.002, b"after");
    let after = r.count(&lab);
    let (out, status) = fw.stop();
    assert!(status.success(), "{out}");
    assert!(
        text.contains("packets could not be sent (transmit errors: is the link down?) port=\"b\""),
        "no log line about the failed sends:\n{text}"
    );
    assert!(
        delivered_before_after >= 45,
        "{delivered_before_after} delivered"
    );
    assert_eq!(
        after, 50,
        "packets do not flow again after the link came back"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tiny_mbuf_pool_under_a_flood() {
    let _g = serial();
    let lab = Lab::new("fmbuf");
    quiet_hosts(&lab);
    let dir = tmpdir("fmbuf");
    let cfg = dir.join("policy.toml");
    std::fs::write(&cfg, policy("accept")).unwrap();
    let log = dir.join("run.log");
    let mport = free_port();
    let fw = Fw::start_logged(
        &cfg,
        mport,
        &["--mbufs", "4"],
        &af_packet_eal(&lab),
        Some(&log),
        &[],
    );
    let r = Receiver::start(&lab, 30.0);
    // A flood: far more frames at once than the pool holds.
    send(&lab, 5000, 0.0, b"flood");
    let text = wait_for_log(&log, "wait for a free mbuf", 5);
    r.count(&lab);
    // Packets flow again, every one.
    let r = Receiver::start(&lab, 30.0);
    send(&lab, 50, 0.005, b"after");
    let after = r.count(&lab);
    std::thread::sleep(Duration::from_millis(300));
    let m = metrics(mport);
    let (out, status) = fw.stop();
    assert!(status.success(), "{out}");
    assert!(text.contains("raise --mbufs"), "{text}");
    assert_eq!(after, 50, "packets do not flow again after the flood:\n{m}");
    assert_eq!(
        sample(&m, "dpufw_mbufs ", ""),
        Some(4),
        "the pool is the size asked for:\n{m}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kubernetes mounts a ConfigMap as `KEY -> ..data/KEY` with `..data -> ..<timestamp>`
/// and updates it by making a new timestamped directory and renaming a new `..data`
/// symlink over the old one: the file's path never changes, what it resolves to does.
#[test]
fn the_policy_is_replaced_by_a_symlink_swap() {
    let _g = serial();
    let lab = Lab::new("fswap");
    quiet_hosts(&lab);
    let dir = tmpdir("fswap");
    let version = |n: u32, text: &str| {
        let d = dir.join(format!("..2026_12_04_v{n}"));
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("firewall.toml");
        std::fs::write(&f, text).unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        d
    };
    let v1 = version(1, &policy("accept"));
    std::os::unix::fs::symlink(v1.file_name().unwrap(), dir.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/firewall.toml", dir.join("firewall.toml")).unwrap();
    let cfg = dir.join("firewall.toml");
    let log = dir.join("run.log");
    let mport = free_port();
    let fw = Fw::start_logged(&cfg, mport, &[], &af_packet_eal(&lab), Some(&log), &[]);

    let r = Receiver::start(&lab, 30.0);
    send(&lab, 20, 0.005, b"v1");
    let under_v1 = r.count(&lab);

    // The swap: a new version, a new `..data` link renamed over the old one.
    let v2 = version(2, &policy("drop"));
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(v2.file_name().unwrap(), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    std::fs::remove_dir_all(&v1).unwrap();
    let text = wait_for_log(&log, "policy reloaded", 5);
    let r = Receiver::start(&lab, 3.0);
    send(&lab, 20, 0.005, b"v2");
    // The receiver's `stop` is dropped now too: it ends at its deadline.
    let under_v2 = r.count(&lab);
    let m = metrics(mport);
    let (out, status) = fw.stop();
    assert!(status.success(), "{out}");
    assert!(text.contains("file changed"), "{text}");
    assert_eq!(under_v1, 20, "the first policy accepts");
    assert_eq!(under_v2, 0, "the swapped-in policy drops:\n{m}");
    assert_eq!(
        sample(&m, "dpufw_reloads_total", "outcome=\"ok\""),
        Some(1),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "dpufw_rule_packets_total",
            "rule=\"udp-9000\",action=\"drop\""
        ),
        Some(20 + 3),
        "the new policy counted the v2 datagrams and the receiver's stops:\n{m}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reload whose hardware update meets a failing entry (the emulator fails the
/// completion of the update's first add): the old policy stays in force in hardware
/// and software, the log says why, and the next reload takes.
#[cfg(feature = "doca-emu")]
#[test]
fn a_reload_meets_a_hardware_entry_failure() {
    let _g = serial();
    let lab = Lab::new("fhw");
    quiet_hosts(&lab);
    let dir = tmpdir("fhw");
    let cfg = dir.join("policy.toml");
    let write = |text: &str| {
        let tmp = dir.join("policy.toml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        std::fs::rename(&tmp, &cfg).unwrap();
    };
    write(&policy("accept"));
    let log = dir.join("run.log");
    let mport = free_port();
    let fw = Fw::start_logged(
        &cfg,
        mport,
        &[],
        &af_packet_eal(&lab),
        Some(&log),
        &[("DPU_FW_EMU_FAIL_RELOADS", "1")],
    );
    let reloads = |outcome: &str| {
        sample(
            &metrics(mport),
            "dpufw_reloads_total",
            &format!("outcome=\"{outcome}\""),
        )
        .unwrap_or(0)
    };
    // The first reload (to a policy that drops) fails in hardware: the old policy,
    // which accepts, stays in force.
    write(&policy("drop"));
    let text = wait_for_log(&log, "reload failed, the old policy stays in force", 5);
    let r = Receiver::start(&lab, 30.0);
    send(&lab, 20, 0.005, b"old");
    let under_old = r.count(&lab);
    assert_eq!(under_old, 20, "the old policy is not wholly in force");
    assert!(text.contains("DOCA Flow hardware pipes"), "{text}");
    assert_eq!((reloads("ok"), reloads("failed")), (0, 1));
    // The next change takes.
    write(&format!("{}\n# again\n", policy("drop")));
    let deadline = Instant::now() + Duration::from_secs(5);
    while reloads("ok") == 0 {
        assert!(Instant::now() < deadline, "the second reload did not take");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = Receiver::start(&lab, 3.0);
    send(&lab, 20, 0.005, b"new");
    let under_new = r.count(&lab);
    let (out, status) = fw.stop();
    assert!(status.success(), "{out}");
    assert_eq!(under_new, 0, "the new policy drops");
    let _ = std::fs::remove_dir_all(&dir);
}
