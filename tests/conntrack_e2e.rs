//! Connection tracking in `dpu-fw run`, end to end (feature `dpdk`, root): a client
//! in namespace B (behind the host port) talks to servers in namespace A (the network
//! side) through `net_af_packet` ports, under a policy that lets traffic in from the
//! network only as `established` or `related`.
//!
//! What is checked: a 4 MB TCP download and a DNS-style UDP exchange work; an ICMP
//! port unreachable about a tracked UDP flow passes as `related`; unsolicited SYN,
//! ACK, SYN-ACK and UDP from the network are dropped and the metrics count them
//! exactly; a download survives 10 policy reloads; after a short UDP timeout a
//! connection is gone and its late "reply" is dropped; `dpu-fw conntrack` lists and
//! flushes over the control socket; and two workers share one connection table.
#![cfg(feature = "dpdk")]

mod fwrun;
mod netns;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fwrun::{
    Fw, af_packet_eal, free_port, metrics, quiet_hosts, sample, serial, tmpdir, two_ports,
};
use netns::{Lab, sh, try_sh};

/// A (198.18.0.1) is the network, B (198.18.0.2) the host. Inbound: only what belongs
/// to connections B opened. `EXTRA` is replaced by the reload test.
const POLICY: &str = concat!(
    two_ports!(),
    r#"
[conntrack]
timeouts = { udp = "2s", udp_stream = "2s" }

[[rules]]
name = "return"
in_port = "a"
state = ["established", "related"]
action = "accept"
count = true

[[rules]]
name = "invalid-in"
in_port = "a"
state = "invalid"
action = "drop"
count = true

# EXTRA

[[rules]]
name = "other-in"
in_port = "a"
action = "drop"
count = true

[defaults]
inbound = "drop"
outbound = "accept"
"#
);

/// Runs a Python program in a namespace and returns its stdout (fails the test if it
/// fails).
fn py(ns: &str, program: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", program])
        .output()
        .expect("python3 in a namespace");
    assert!(
        out.status.success(),
        "python in {ns} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A UDP server on A at `port`: answers every datagram `answers` times, the `i`-th
/// answer after `delays[i]` seconds.
fn udp_server(lab: &Lab, port: u16, delays: &[f64]) -> netns::ChildGuard {
    let program = format!(
        "import socket,time\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('{a}',{port}))\n\
         while True:\n\
         \x20 d,peer=s.recvfrom(2048)\n\
         \x20 t0=time.time()\n\
         \x20 for i,w in enumerate({delays:?}):\n\
         \x20\x20 time.sleep(max(0,t0+w-time.time()))\n\
         \x20\x20 s.sendto(b'answer%d:'%i+d,peer)",
        a = lab.a.addr
    );
    let server = lab.a.spawn(&["python3", "-u", "-c", &program]);
    lab.a.wait_udp_bound(port, 20);
    server
}

/// Sends a query from B to A:`port` from source port `sport` and returns the answers
/// that arrive within `wait` seconds, one per line.
fn udp_query(lab: &Lab, port: u16, sport: u16, wait: f64) -> String {
    py(
        &lab.b.ns,
        &format!(
            "import socket,time\n\
             s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('{b}',{sport}))\n\
             s.sendto(b'query',('{a}',{port})); end=time.time()+{wait}; got=[]\n\
             while time.time()<end:\n\
             \x20 s.settimeout(max(0.01,end-time.time()))\n\
             \x20 try: got.append(s.recv(2048).decode())\n\
             \x20 except socket.timeout: pass\n\
             print('\\n'.join(got))",
            b = lab.b.addr,
            a = lab.a.addr
        ),
    )
}

/// Serves `data` over HTTP on A:8080 and returns the server's guard and the URL.
fn http_server(lab: &Lab, dir: &Path, data: &[u8]) -> (netns::ChildGuard, String) {
    std::fs::write(dir.join("blob.bin"), data).unwrap();
    let dir_s = dir.to_str().unwrap().to_string();
    let server = lab.a.spawn(&[
        "python3",
        "-m",
        "http.server",
        "8080",
        "--bind",
        &lab.a.addr,
        "--directory",
        &dir_s,
    ]);
    // A download started before python listens is refused.
    lab.a.wait_tcp_listening(8080, 20);
    let url = format!("http://{}:8080/blob.bin", lab.a.addr);
    (server, url)
}

fn blob() -> Vec<u8> {
    (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

/// An HTTP server in A that serves `data` once, paced, and holds the end of it (the
/// last 16 KiB and the FIN) until the file `go` exists. Between the download's start
/// and `go` the connection is open on the wire whatever the load: with a server that
/// sends as fast as the client reads, a receive buffer on B can hold the end of the
/// download, FIN included, while curl still reads at its limited rate (CI, 2026-12-07:
/// the connection left the CT pipe on its FIN while curl still ran).
fn paced_http_server(lab: &Lab, dir: &Path, data: &[u8], go: &Path) -> (netns::ChildGuard, String) {
    const SERVER: &str = r#"
import os, socket, sys, time
blob, go, addr = sys.argv[1:4]
data = open(blob, "rb").read()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, 8080))
s.listen(1)
c, _ = s.accept()
req = b""
while b"\r\n\r\n" not in req:
    got = c.recv(4096)
    if not got:
        sys.exit("paced server: the client closed before its request ended")
    req += got
c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data))
CHUNK = 16384
sent = 0
# 16 KiB every 50 ms (320 KiB/s) until `go`, keeping the last chunk back.
while sent < len(data) - CHUNK and not os.path.exists(go):
    c.sendall(data[sent:sent + CHUNK])
    sent += CHUNK
    time.sleep(0.05)
deadline = time.time() + 120
while not os.path.exists(go):
    if time.time() > deadline:
        sys.exit("paced server: no go within 120 s")
    time.sleep(0.05)
c.sendall(data[sent:])
c.shutdown(socket.SHUT_WR)
while c.recv(4096):
    pass
c.close()
"#;
    let blob_path = dir.join("paced.bin");
    std::fs::write(&blob_path, data).unwrap();
    let server = lab.a.spawn(&[
        "python3",
        "-c",
        SERVER,
        blob_path.to_str().unwrap(),
        go.to_str().unwrap(),
        &lab.a.addr,
    ]);
    // Probed with `ss`, not a connection: the server takes one connection only.
    lab.a.wait_tcp_listening(8080, 20);
    (server, format!("http://{}:8080/paced.bin", lab.a.addr))
}

/// Fetches `url` from B into `out` (retrying while the server starts).
fn fetch(lab: &Lab, url: &str, out: &Path, extra: &[&str]) -> bool {
    let out_s = out.to_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        let mut args = vec!["curl", "-sf", "--max-time", "30", "-o", &out_s];
        args.extend_from_slice(extra);
        args.push(url);
        if try_sh(&lab.b.exec(&args)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn metric(port: u16, name: &str, label: &str) -> u64 {
    sample(&metrics(port), name, label).unwrap_or(0)
}

fn rule_packets(port: u16, rule: &str) -> u64 {
    metric(
        port,
        "dpufw_rule_packets_total",
        &format!("rule=\"{rule}\""),
    )
}

/// Raw TCP segments and UDP datagrams from A to B that belong to no connection.
fn unsolicited(lab: &Lab, syn: usize, ack: usize, synack: usize, udp: usize) {
    py(
        &lab.a.ns,
        &format!(
            "import socket,struct\n\
             def csum(b):\n\
             \x20 b+=b'\\0'*(len(b)%2); s=sum(struct.unpack('!%dH'%(len(b)//2),b))\n\
             \x20 s=(s>>16)+(s&0xffff); s+=s>>16; return (~s)&0xffff\n\
             src,dst='{a}','{b}'\n\
             def tcp(sport,dport,flags,seq,ack):\n\
             \x20 h=struct.pack('!HHIIBBHHH',sport,dport,seq,ack,5<<4,flags,8192,0,0)\n\
             \x20 ph=socket.inet_aton(src)+socket.inet_aton(dst)+struct.pack('!BBH',0,6,len(h))\n\
             \x20 return h[:16]+struct.pack('!H',csum(ph+h))+h[18:]\n\
             r=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_TCP)\n\
             for i in range({syn}): r.sendto(tcp(40000+i,22,0x02,1000,0),(dst,0))\n\
             for i in range({ack}): r.sendto(tcp(41000+i,22,0x10,1000,5000),(dst,0))\n\
             for i in range({synack}): r.sendto(tcp(443,42000+i,0x12,1000,5000),(dst,0))\n\
             u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
             for i in range({udp}): u.sendto(b'x'*32,(dst,53))",
            a = lab.a.addr,
            b = lab.b.addr
        ),
    );
}

/// Writes the policy (with `extra` rules) to `dir/policy.toml`, atomically: a running
/// `dpu-fw run` may read the file at any moment, and a truncate-then-write let it read
/// a half-written policy once (a failed reload the test then counted).
fn policy_file(dir: &Path, extra: &str) -> std::path::PathBuf {
    let cfg = dir.join("policy.toml");
    let tmp = dir.join("policy.toml.tmp");
    std::fs::write(&tmp, POLICY.replace("# EXTRA", extra)).unwrap();
    std::fs::rename(&tmp, &cfg).unwrap();
    cfg
}

#[test]
fn stateful_policy_end_to_end() {
    let _g = serial();
    let lab = Lab::new("ct");
    quiet_hosts(&lab);
    let dir = tmpdir("ct");
    let cfg = policy_file(&dir, "");
    let control = dir.join("ctl").join("control.sock");
    let control_s = control.to_str().unwrap().to_string();
    let mport = free_port();
    let fw = Fw::start_with(
        &cfg,
        mport,
        &["--control", &control_s],
        &af_packet_eal(&lab),
    );

    // 1. Unsolicited traffic from the network, on a quiet link: every packet is
    //    dropped, counted by the right rule, and none reaches B (B would answer a SYN
    //    or a datagram, and its answer would cross port b).
    //    Counted as differences: the hosts' IPv6 chatter from before `quiet_hosts`
    //    turned it off may still arrive (ICMPv6 is `invalid`).
    std::thread::sleep(Duration::from_millis(500));
    let before = metrics(mport);
    let value = |m: &str, name: &str, label: &str| sample(m, name, label).unwrap_or(0);
    unsolicited(&lab, 3, 4, 7, 6);
    std::thread::sleep(Duration::from_millis(500));
    let m = metrics(mport);
    let delta = |name: &str, label: &str| value(&m, name, label) - value(&before, name, label);
    assert_eq!(
        delta("dpufw_rule_packets_total", "rule=\"other-in\""),
        3 + 6,
        "unsolicited SYN and UDP are new, dropped by other-in:\n{m}"
    );
    assert_eq!(
        delta("dpufw_rule_packets_total", "rule=\"invalid-in\""),
        4 + 7,
        "unsolicited ACK and SYN-ACK are invalid:\n{m}"
    );
    assert_eq!(delta("dpufw_conntrack_invalid_total", ""), 11, "{m}");
    assert_eq!(value(&m, "dpufw_conntrack_new_total", ""), 0, "{m}");
    assert_eq!(
        delta("dpufw_port_rx_packets_total", "port=\"b\""),
        0,
        "B answered something it should never have received:\n{m}"
    );

    // 2. A TCP download from the network side, opened by B.
    let data = blob();
    let (_http, url) = http_server(&lab, &dir, &data);
    let got = dir.join("got.bin");
    assert!(
        fetch(&lab, &url, &got, &[]),
        "the download through dpu-fw failed"
    );
    assert_eq!(
        std::fs::read(&got).unwrap(),
        data,
        "the download arrived corrupted"
    );
    assert!(
        rule_packets(mport, "return") > 100,
        "the answers passed as established"
    );

    // 3. A DNS-style UDP exchange opened by B.
    let _dns = udp_server(&lab, 5353, &[0.0]);
    std::thread::sleep(Duration::from_millis(300));
    let answers = udp_query(&lab, 5353, 33001, 2.0);
    assert_eq!(answers, "answer0:query", "the UDP answer did not come back");

    // 4. An ICMP port unreachable about a tracked UDP flow passes as related: B's
    //    connected socket sees the refusal.
    let related_before = metric(mport, "dpufw_conntrack_related_total", "");
    let refused = py(
        &lab.b.ns,
        &format!(
            "import socket\n\
             s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.connect(('{a}',5999))\n\
             s.settimeout(3); s.send(b'anyone?')\n\
             try: s.recv(100); print('ANSWER')\n\
             except ConnectionRefusedError: print('REFUSED')\n\
             except socket.timeout: print('TIMEOUT')",
            a = lab.a.addr
        ),
    );
    assert_eq!(
        refused, "REFUSED",
        "the ICMP port unreachable did not reach B"
    );
    assert_eq!(
        metric(mport, "dpufw_conntrack_related_total", ""),
        related_before + 1,
        "one related packet"
    );

    // 5. The control socket lists the tracked connections and flushes them.
    let ct = |req: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_dpu-fw"))
            .args(["conntrack", req, "--socket", &control_s])
            .output()
            .unwrap();
        assert!(out.status.success(), "dpu-fw conntrack {req}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let list = ct("list");
    assert!(
        list.contains("tcp 198.18.0.2:") && list.contains("-> 198.18.0.1:8080"),
        "the download's connection is listed:\n{list}"
    );
    assert!(list.lines().last().unwrap().starts_with("ok "), "{list}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&control).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the control socket is root-only");
    assert!(ct("flush").starts_with("ok flushed "));
    assert_eq!(ct("list").trim(), "ok 0 connections");

    // 6. After the UDP timeout (2 s) the connection is gone: the server's late second
    //    answer (4 s after the first) is new from the network, and dropped.
    let _late = udp_server(&lab, 6000, &[0.0, 4.0]);
    std::thread::sleep(Duration::from_millis(300));
    let other_before = rule_packets(mport, "other-in");
    let answers = udp_query(&lab, 6000, 33002, 6.0);
    assert_eq!(answers, "answer0:query", "only the prompt answer arrives");
    assert_eq!(
        rule_packets(mport, "other-in"),
        other_before + 1,
        "the late answer was dropped as new"
    );
    assert!(metric(mport, "dpufw_conntrack_expired_total", "") >= 1);

    let (out, status) = fw.stop();
    assert!(
        status.success(),
        "dpu-fw run did not stop cleanly: {status}"
    );
    assert!(
        out.contains("connections:"),
        "final counters lack conntrack:\n{out}"
    );
    assert!(!control.exists(), "the control socket is removed on exit");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_download_survives_ten_reloads() {
    let _g = serial();
    let lab = Lab::new("ctrl");
    quiet_hosts(&lab);
    let dir = tmpdir("ctreload");
    let cfg = policy_file(&dir, "");
    let mport = free_port();
    let fw = Fw::start_with(&cfg, mport, &["--control", "off"], &af_packet_eal(&lab));
    let data = blob();
    let go = dir.join("go");
    let (_http, url) = paced_http_server(&lab, &dir, &data, &go);
    // The server sends 320 KiB/s (13 s for the whole blob) and holds the end until
    // `go`: the ten reloads (0.5 s apart, 6-7 s in all) happen while data flows, and
    // the connection is open on the wire until the test says so.
    let got = dir.join("got.bin");
    let got_s = got.to_str().unwrap().to_string();
    let mut curl = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.b.ns,
            "curl",
            "-sf",
            "--max-time",
            "120",
        ])
        .args(["-o", &got_s, &url])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let extra = "[[rules]]\nname = \"no-telnet\"\nin_port = \"a\"\nprotocol = \"tcp\"\ndst_port = 23\naction = \"drop\"\n";
    for i in 0..10 {
        std::thread::sleep(Duration::from_millis(500));
        let before = metric(mport, "dpufw_reloads_total", "outcome=\"ok\"");
        policy_file(&dir, if i % 2 == 0 { extra } else { "" });
        let deadline = Instant::now() + Duration::from_secs(10);
        while metric(mport, "dpufw_reloads_total", "outcome=\"ok\"") == before {
            assert!(Instant::now() < deadline, "reload {i} did not happen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // On the hardware path (the DOCA Flow emulator), the download's connection was
    // offloaded to the CT pipe once and stays there across the reloads (these change
    // ACL entries in place; tests/ct_offload.rs has the reloads that rebuild the pipes
    // and move offloaded connections into the new CT pipe).
    let offloaded_mid_download = metric(mport, "dpufw_offload_connections", "");
    if let Some(early) = curl.try_wait().unwrap() {
        panic!("the download ended ({early}) before the server sent its end: it broke");
    }
    std::fs::write(&go, b"").unwrap();
    let status = curl.wait().unwrap();
    assert!(
        status.success(),
        "the download failed across the reloads: {status}"
    );
    assert_eq!(
        std::fs::read(&got).unwrap(),
        data,
        "the download arrived corrupted"
    );
    let m = metrics(mport);
    assert_eq!(
        sample(&m, "dpufw_reloads_total", "outcome=\"ok\""),
        Some(10),
        "{m}"
    );
    assert_eq!(
        sample(&m, "dpufw_reloads_total", "outcome=\"failed\""),
        Some(0),
        "{m}"
    );
    if cfg!(feature = "doca-emu") {
        assert_eq!(offloaded_mid_download, 1, "{m}");
        assert_eq!(sample(&m, "dpufw_offload_added_total", ""), Some(1), "{m}");
        // The FIN takes it out again.
        let deadline = Instant::now() + Duration::from_secs(5);
        while metric(mport, "dpufw_offload_connections", "") != 0 {
            assert!(Instant::now() < deadline, "{}", metrics(mport));
            std::thread::sleep(Duration::from_millis(50));
        }
        let m = metrics(mport);
        assert_eq!(sample(&m, "dpufw_offload_closed_total", ""), Some(1), "{m}");
        assert_eq!(sample(&m, "dpufw_errors_total", ""), Some(0), "{m}");
    } else {
        assert_eq!(sample(&m, "dpufw_offload_connections", ""), None, "{m}");
    }
    let (_, status) = fw.stop();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_workers_share_connection_state() {
    let _g = serial();
    let lab = Lab::new("ct2w");
    quiet_hosts(&lab);
    let dir = tmpdir("ct2w");
    let cfg = policy_file(&dir, "");
    let mport = free_port();
    // Two queue pairs per port: the kernel's fanout spreads flows over both sockets,
    // and each worker polls its own queue of every port.
    let eal = vec![
        format!("--vdev=net_af_packet0,iface={},qpairs=2", lab.a.outer_if),
        format!("--vdev=net_af_packet1,iface={},qpairs=2", lab.b.outer_if),
    ];
    let fw = Fw::start_with(&cfg, mport, &["--workers", "2", "--control", "off"], &eal);
    let _dns = udp_server(&lab, 5353, &[0.0]);
    std::thread::sleep(Duration::from_millis(300));
    // Many flows, so that both workers carry some.
    let answered = py(
        &lab.b.ns,
        &format!(
            "import socket\n\
             ok=0\n\
             for p in range(34000,34064):\n\
             \x20 s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('{b}',p)); s.settimeout(2)\n\
             \x20 s.sendto(b'q',('{a}',5353))\n\
             \x20 try: s.recv(100); ok+=1\n\
             \x20 except socket.timeout: pass\n\
             print(ok)",
            a = lab.a.addr,
            b = lab.b.addr
        ),
    );
    assert_eq!(answered, "64", "every flow's answer came back");
    let data = blob();
    let (_http, url) = http_server(&lab, &dir, &data);
    let got = dir.join("got.bin");
    assert!(
        fetch(&lab, &url, &got, &[]),
        "the download with two workers failed"
    );
    assert_eq!(std::fs::read(&got).unwrap(), data);
    if cfg!(feature = "doca-emu") {
        // Every connection went into the CT pipe: the 64 UDP flows and the download
        // (a CT pipe holds what `[conntrack] max_connections` sizes; it once held 64).
        let deadline = Instant::now() + Duration::from_secs(5);
        while metric(mport, "dpufw_offload_added_total", "") < 65 {
            assert!(Instant::now() < deadline, "{}", metrics(mport));
            std::thread::sleep(Duration::from_millis(50));
        }
        let m = metrics(mport);
        assert_eq!(sample(&m, "dpufw_offload_added_total", ""), Some(65), "{m}");
        assert_eq!(
            sample(&m, "dpufw_offload_refused_total", ""),
            Some(0),
            "{m}"
        );
        assert_eq!(sample(&m, "dpufw_errors_total", ""), Some(0), "{m}");
    }
    let (out, status) = fw.stop();
    assert!(status.success(), "{out}");
    let _ = sh(&["true"]);
    let _ = std::fs::remove_dir_all(&dir);
}
