//! Test hosts in network namespaces for the end-to-end dataplane tests.
//!
//! Each [`Lab`] makes two namespaces joined to the root namespace by veth
//! pairs whose root ends a DPDK `net_af_packet` vdev attaches to. Names are
//! unique per process; everything is removed on drop, also after a failed
//! assertion. Addresses come from 198.18.0.0/15 (RFC 2544 benchmarking) and
//! exist only inside the namespaces.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};

/// Runs a command, failing the test with its output if it fails.
pub(crate) fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command and returns whether it succeeded (no assertion).
pub(crate) fn try_sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// One namespace host: its name, its address and the root-side veth end.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    /// The namespace.
    pub(crate) ns: String,
    /// Its IPv4 address.
    pub(crate) addr: String,
    /// The veth end inside the namespace.
    pub(crate) inner_if: String,
    /// The veth end in the root namespace (the DPDK port attaches here).
    pub(crate) outer_if: String,
}

impl Host {
    /// A command line to run inside the namespace.
    pub(crate) fn exec<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["ip", "netns", "exec", self.ns.as_str()];
        v.extend_from_slice(args);
        v
    }

    /// Waits until a UDP socket is bound to `port` inside the namespace, failing the
    /// test after `secs` seconds. A receiver started with `spawn` is not listening
    /// yet when `spawn` returns: python's start-up can take longer than a fixed
    /// settling sleep on a loaded machine, and a datagram sent before the bind is
    /// lost.
    pub(crate) fn wait_udp_bound(&self, port: u16, secs: u64) {
        self.wait_socket("-Hlun", "UDP socket bound", port, secs);
    }

    /// Waits until a TCP socket listens on `port` inside the namespace, failing the
    /// test after `secs` seconds (as [`Host::wait_udp_bound`]: a connection made
    /// before the server listens is refused).
    pub(crate) fn wait_tcp_listening(&self, port: u16, secs: u64) {
        self.wait_socket("-Hltn", "TCP socket listening", port, secs);
    }

    /// Polls `ss <flags> sport = :port` inside the namespace until it lists a socket.
    fn wait_socket(&self, flags: &str, what: &str, port: u16, secs: u64) {
        let filter = format!("sport = :{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.ns, "ss", flags, &filter])
                .output()
                .unwrap_or_else(|e| panic!("cannot run ss (iproute2) in {}: {e}", self.ns));
            if !out.stdout.is_empty() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {what} on port {port} in {} within {secs} s",
                self.ns
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Starts a background process inside the namespace; killed on drop of
    /// the returned guard.
    pub(crate) fn spawn(&self, args: &[&str]) -> ChildGuard {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?} in {}: {e}", self.ns));
        ChildGuard(child)
    }
}

/// Kills and reaps a child process on drop.
pub(crate) struct ChildGuard(pub(crate) Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two hosts, A (198.18.0.1) and B (198.18.0.2), on one /24, whose traffic
/// crosses only through the root-side veth ends.
pub(crate) struct Lab {
    /// Host A.
    pub(crate) a: Host,
    /// Host B.
    pub(crate) b: Host,
}

impl Lab {
    /// Creates the namespaces and veth pairs. Requires root and iproute2.
    pub(crate) fn new(tag: &str) -> Lab {
        assert!(
            Command::new("id")
                .arg("-u")
                .output()
                .map(|o| o.stdout == b"0\n")
                .unwrap_or(false),
            "the end-to-end dataplane tests need root (network namespaces, DPDK EAL)"
        );
        let pid = std::process::id();
        let mk = |side: &str, addr: &str| Host {
            ns: format!("dpfw-{tag}-{side}-{pid}"),
            addr: addr.into(),
            inner_if: format!("i{side}{}", pid % 1_000_000),
            outer_if: format!("o{side}{}", pid % 1_000_000),
        };
        let lab = Lab {
            a: mk("a", "198.18.0.1"),
            b: mk("b", "198.18.0.2"),
        };
        lab.cleanup();
        for h in [&lab.a, &lab.b] {
            sh(&["ip", "netns", "add", &h.ns]);
            sh(&[
                "ip",
                "link",
                "add",
                &h.inner_if,
                "type",
                "veth",
                "peer",
                "name",
                &h.outer_if,
            ]);
            sh(&["ip", "link", "set", &h.inner_if, "netns", &h.ns]);
            sh(&h.exec(&["ip", "link", "set", "lo", "up"]));
            let cidr = format!("{}/24", h.addr);
            sh(&h.exec(&["ip", "addr", "add", &cidr, "dev", &h.inner_if]));
            sh(&h.exec(&["ip", "link", "set", &h.inner_if, "up"]));
            // Without this the kernel leaves TCP checksums to an offload
            // that af_packet never performs, and TCP breaks.
            sh(&h.exec(&["ethtool", "-K", &h.inner_if, "tx", "off"]));
            // The root side stays silent: no IPv6 router solicitations or MLD
            // reports that the DPDK port (which sees outgoing frames too) would count.
            sh(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{}.disable_ipv6=1", h.outer_if),
            ]);
            sh(&["ip", "link", "set", &h.outer_if, "up"]);
            sh(&["ethtool", "-K", &h.outer_if, "tx", "off"]);
        }
        lab
    }

    fn cleanup(&self) {
        for h in [&self.a, &self.b] {
            // Deleting the namespace removes its veth end, and with it the pair.
            try_sh(&["ip", "netns", "pids", &h.ns]);
            if let Ok(out) = Command::new("ip").args(["netns", "pids", &h.ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    try_sh(&["kill", "-9", pid]);
                }
            }
            try_sh(&["ip", "netns", "del", &h.ns]);
            try_sh(&["ip", "link", "del", &h.outer_if]);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.cleanup();
    }
}
