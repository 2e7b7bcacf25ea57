//! `dpu-fw run` as a child process for the end-to-end tests: start it on
//! `net_af_packet` ports of a [`Lab`](super::netns::Lab), read its metrics, stop it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::netns::{Host, Lab, sh};

/// The ports of the two-namespace lab: `a` the uplink (the network side, namespace
/// A), `b` the host (namespace B), each the other's peer. A test's policy is
/// `concat!(two_ports!(), r#"...the rest..."#)`.
#[allow(unused_macros)] // not every test that includes this module uses it
macro_rules! two_ports {
    () => {
        r#"[ports.a]
role = "uplink"
id = 0
peer = "b"

[ports.b]
role = "host"
id = 1
peer = "a"
"#
    };
}
#[allow(unused_imports)]
pub(crate) use two_ports;

static SERIAL: Mutex<()> = Mutex::new(());

pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dpfw-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A free loopback TCP port for the metrics endpoint.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The running `dpu-fw run` process; killed on drop.
pub(crate) struct Fw {
    child: Child,
    stdout: Option<BufReader<std::process::ChildStdout>>,
}

impl Fw {
    pub(crate) fn start(config: &Path, metrics_port: u16, eal: &[String]) -> Fw {
        Fw::start_with(config, metrics_port, &[], eal)
    }

    /// [`Fw::start`] with more `dpu-fw run` options (before the EAL arguments).
    pub(crate) fn start_with(
        config: &Path,
        metrics_port: u16,
        options: &[&str],
        eal: &[String],
    ) -> Fw {
        Fw::start_logged(config, metrics_port, options, eal, None, &[])
    }

    /// [`Fw::start_with`], its log (stderr) written to `log` when given, with more
    /// environment variables.
    pub(crate) fn start_logged(
        config: &Path,
        metrics_port: u16,
        options: &[&str],
        eal: &[String],
        log: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Fw {
        // `run` refuses a world-writable policy; whatever the umask, it is not.
        std::fs::set_permissions(config, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .expect("chmod the policy file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dpu-fw"));
        cmd.arg("run")
            .arg("--config")
            .arg(config)
            .arg("--metrics")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .args(options)
            .arg("--")
            .args([
                "-l",
                "0",
                "--no-huge",
                "-m",
                "512",
                "--no-pci",
                "--no-shconf",
                "--no-telemetry",
                "--log-level=lib.eal:error",
            ])
            .args(eal)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(match log {
                Some(path) => {
                    Stdio::from(std::fs::File::create(path).expect("create the log file"))
                }
                None => Stdio::inherit(),
            });
        let mut child = cmd.spawn().expect("start dpu-fw run");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            line.clear();
            let n = stdout.read_line(&mut line).unwrap_or(0);
            assert!(
                n > 0,
                "dpu-fw run exited before READY: {:?}",
                child.try_wait()
            );
            if line.trim() == "READY" {
                break;
            }
            assert!(Instant::now() < deadline, "no READY from dpu-fw run");
        }
        Fw {
            child,
            stdout: Some(stdout),
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the rest of stdout (the final counters) and the exit status.
    pub(crate) fn stop(mut self) -> (String, std::process::ExitStatus) {
        sh(&["kill", "-TERM", &self.child.id().to_string()]);
        let mut rest = String::new();
        if let Some(mut out) = self.stdout.take() {
            let _ = out.read_to_string(&mut rest);
        }
        let status = self.child.wait().unwrap();
        (rest, status)
    }
}

impl Drop for Fw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn metrics(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("metrics endpoint");
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The value of one sample line `name{labels} value` of the exposition.
pub(crate) fn sample(text: &str, name: &str, label: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(name) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Static neighbours, so that the policy need not pass ARP, and no IPv6
/// chatter (router solicitations, MLD) that would muddy the counters.
pub(crate) fn quiet_hosts(lab: &Lab) {
    let mac = |h: &Host| {
        let out = sh(&h.exec(&["cat", &format!("/sys/class/net/{}/address", h.inner_if)]));
        out.trim().to_string()
    };
    let (ma, mb) = (mac(&lab.a), mac(&lab.b));
    for (h, peer, peer_mac) in [(&lab.a, &lab.b, &mb), (&lab.b, &lab.a, &ma)] {
        sh(&h.exec(&[
            "ip",
            "neigh",
            "replace",
            &peer.addr,
            "lladdr",
            peer_mac,
            "dev",
            &h.inner_if,
            "nud",
            "permanent",
        ]));
        sh(&h.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]));
    }
}

pub(crate) fn af_packet_eal(lab: &Lab) -> Vec<String> {
    vec![
        format!("--vdev=net_af_packet0,iface={}", lab.a.outer_if),
        format!("--vdev=net_af_packet1,iface={}", lab.b.outer_if),
    ]
}
