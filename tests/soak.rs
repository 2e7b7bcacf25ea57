//! Soak: `dpu-fw run` for a while (env `DPU_FW_SOAK_SECS`, default 30; CI runs 120
//! through `.ci/soak`) on `net_af_packet` ports between two network namespaces, under
//! mixed traffic (TCP connection churn, UDP to an allowed and a denied port, TCP
//! connects to a denied port, ping) with a policy reload every second.
//!
//! It fails when:
//! * a denied packet is ever delivered (UDP to port 7, TCP to port 2222);
//! * the process's resident memory grows after warm-up (more than 4 MiB or 5%);
//! * mbufs leak (the pool's in-use count, idle after the traffic, above its idle
//!   count before the traffic);
//! * any counter of the metrics endpoint goes backwards between two samples;
//! * a reload fails, or allowed traffic stops flowing.
//!
//! Needs feature `dpdk`, root, iproute2, ethtool, ping and python3. Ignored in the
//! plain test run (it is long); `.ci/soak` runs it, and CI runs `.ci/soak 120`.
#![cfg(feature = "dpdk")]

mod fwrun;
mod netns;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fwrun::{
    Fw, af_packet_eal, free_port, metrics, quiet_hosts, sample, serial, tmpdir, two_ports,
};
use netns::Lab;

/// A (198.18.0.1) is the network, B (198.18.0.2) the host. Short timeouts, so that the
/// connection table reaches its steady state within the warm-up.
const POLICY: &str = concat!(
    two_ports!(),
    r#"
[conntrack]
timeouts = { tcp_time_wait = "2s", tcp_close = "2s", tcp_fin_wait = "2s", tcp_last_ack = "2s", tcp_close_wait = "2s", udp = "2s", udp_stream = "2s", icmp = "2s" }

[[rules]]
name = "return"
in_port = "a"
state = ["established", "related"]
action = "accept"
count = true

[[rules]]
name = "udp-in"
in_port = "a"
protocol = "udp"
dst_port = 9000
action = "accept"
count = true

# EXTRA

[[rules]]
name = "denied-in"
in_port = "a"
action = "drop"
count = true

[defaults]
inbound = "drop"
outbound = "accept"
"#
);

/// The other policy the reloads flip to: one more rule, the same verdicts for the
/// soak's traffic.
const EXTRA: &str = "[[rules]]\nname = \"no-telnet\"\nin_port = \"a\"\nprotocol = \"tcp\"\n\
                     dst_port = 23\naction = \"drop\"\ncount = true\n";

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Every counter sample of the exposition: `name{labels}` -> value.
fn counters(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, v) = l.rsplit_once(' ')?;
            let name = key.split('{').next()?;
            (name.ends_with("_total")).then(|| Some((key.to_string(), v.parse().ok()?)))?
        })
        .collect()
}

/// Runs a Python program in a namespace in the background; its stdout is the result.
fn py_bg(ns: &str, program: &str) -> std::process::Child {
    Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", program])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 in a namespace")
}

fn output(child: std::process::Child) -> String {
    let out = child
        .wait_with_output()
        .expect("wait for a traffic program");
    assert!(out.status.success(), "traffic program failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
#[ignore = "long: run by .ci/soak (CI: 120 s), or with --ignored"]
fn soak() {
    let secs: u64 = std::env::var("DPU_FW_SOAK_SECS")
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("DPU_FW_SOAK_SECS={v:?}: not a number of seconds"))
        })
        .unwrap_or(30);
    assert!(secs >= 20, "DPU_FW_SOAK_SECS={secs}: at least 20 s");
    let _g = serial();
    let lab = Lab::new("soak");
    quiet_hosts(&lab);
    let dir = tmpdir("soak");
    let cfg = dir.join("policy.toml");
    std::fs::write(&cfg, POLICY.replace("# EXTRA", "")).unwrap();
    let mport = free_port();
    let fw = Fw::start_with(&cfg, mport, &["--control", "off"], &af_packet_eal(&lab));
    let pid = fw.pid();
    let (a, b) = (lab.a.addr.clone(), lab.b.addr.clone());

    // Idle baseline (the control loop copies the pool's figures every 100 ms).
    std::thread::sleep(Duration::from_millis(500));
    let m0 = metrics(mport);
    let mbufs_idle_before = sample(&m0, "dpufw_mbufs_in_use", "").expect("mbufs metric");

    let traffic_secs = secs.saturating_sub(4);
    // B: counts UDP on 7 (denied) and 9000 (allowed), and TCP accepts on 2222 (denied).
    let receiver = py_bg(
        &lab.b.ns,
        &format!(
            "import socket,select,time\n\
             u7=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u7.bind(('{b}',7))\n\
             u9=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u9.bind(('{b}',9000))\n\
             t=socket.socket(); t.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
             t.bind(('{b}',2222)); t.listen(64); t.setblocking(False)\n\
             n={{'u7':0,'u9':0,'t':0}}; end=time.time()+{traffic_secs}+3\n\
             while time.time()<end:\n\
             \x20 r,_,_=select.select([u7,u9,t],[],[],0.2)\n\
             \x20 for s in r:\n\
             \x20\x20 if s is t:\n\
             \x20\x20\x20 c,_=t.accept(); c.close(); n['t']+=1\n\
             \x20\x20 else:\n\
             \x20\x20\x20 s.recv(2048); n['u7' if s is u7 else 'u9']+=1\n\
             print(n['u7'],n['u9'],n['t'])"
        ),
    );
    // A: a TCP server B's clients churn through (one short reply per connection).
    let server = py_bg(
        &lab.a.ns,
        &format!(
            "import socket,select,time\n\
             s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
             s.bind(('{a}',8080)); s.listen(128); s.settimeout(0.2)\n\
             n=0; end=time.time()+{traffic_secs}+2\n\
             while time.time()<end:\n\
             \x20 try: c,_=s.accept()\n\
             \x20 except socket.timeout: continue\n\
             \x20 c.sendall(b'z'*1000); c.close(); n+=1\n\
             print(n)"
        ),
    );
    std::thread::sleep(Duration::from_millis(300));
    // B: connection churn to A:8080 (each connection a handshake, 1000 bytes, a close).
    let clients = py_bg(
        &lab.b.ns,
        &format!(
            "import socket,time\n\
             ok=0; tried=0; end=time.time()+{traffic_secs}\n\
             while time.time()<end:\n\
             \x20 tried+=1\n\
             \x20 try:\n\
             \x20\x20 c=socket.create_connection(('{a}',8080),timeout=1); d=b''\n\
             \x20\x20 while len(d)<1000:\n\
             \x20\x20\x20 x=c.recv(2048)\n\
             \x20\x20\x20 if not x: break\n\
             \x20\x20\x20 d+=x\n\
             \x20\x20 c.close(); ok+= len(d)==1000\n\
             \x20 except OSError: pass\n\
             \x20 time.sleep(0.01)\n\
             print(ok,tried)"
        ),
    );
    // A: UDP to B's allowed and denied ports, and TCP connects to the denied 2222.
    let sender = py_bg(
        &lab.a.ns,
        &format!(
            "import socket,time\n\
             u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
             sent=0; syn=0; end=time.time()+{traffic_secs}; i=0\n\
             while time.time()<end:\n\
             \x20 u.sendto(b'x'*64,('{b}',7)); u.sendto(b'y'*64,('{b}',9000)); sent+=1; i+=1\n\
             \x20 if i%100==0:\n\
             \x20\x20 c=socket.socket(); c.settimeout(0.05)\n\
             \x20\x20 try: c.connect(('{b}',2222))\n\
             \x20\x20 except OSError: pass\n\
             \x20\x20 c.close(); syn+=1\n\
             \x20 time.sleep(0.001)\n\
             print(sent,syn)"
        ),
    );
    let ping = Command::new("ip")
        .args(["netns", "exec", &lab.b.ns, "ping", "-q", "-i", "0.2"])
        .args(["-w", &traffic_secs.to_string(), &a])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ping");

    // Reload every second, sample metrics and memory.
    let start = Instant::now();
    let warm_up = Duration::from_secs((secs / 4).max(10));
    let mut rss_warm = None;
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut samples = 0;
    let mut flips = 0u64;
    while start.elapsed() < Duration::from_secs(traffic_secs) {
        std::thread::sleep(Duration::from_secs(1));
        flips += 1;
        let text = POLICY.replace("# EXTRA", if flips % 2 == 1 { EXTRA } else { "" });
        let tmp = dir.join("policy.toml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        std::fs::rename(&tmp, &cfg).unwrap();
        let now = counters(&metrics(mport));
        for (k, v) in &now {
            if let Some(&was) = last.get(k) {
                assert!(*v >= was, "counter {k} went backwards: {was} -> {v}");
            }
        }
        last = now;
        samples += 1;
        if rss_warm.is_none() && start.elapsed() >= warm_up {
            rss_warm = Some(rss_kib(pid));
        }
    }
    let rss_end = rss_kib(pid);
    let (u7, u9, t2222) = {
        let out = output(receiver);
        let v: Vec<u64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
        (v[0], v[1], v[2])
    };
    let served: u64 = output(server).parse().unwrap();
    let (conn_ok, conn_tried) = {
        let out = output(clients);
        let v: Vec<u64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
        (v[0], v[1])
    };
    let (sent, syns) = {
        let out = output(sender);
        let v: Vec<u64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
        (v[0], v[1])
    };
    let ping_out = String::from_utf8_lossy(&ping.wait_with_output().unwrap().stdout).to_string();
    // Idle again: every mbuf back in the pool.
    std::thread::sleep(Duration::from_millis(1500));
    let m = metrics(mport);
    let mbufs_idle_after = sample(&m, "dpufw_mbufs_in_use", "").expect("mbufs metric");
    let reloads_ok = sample(&m, "dpufw_reloads_total", "outcome=\"ok\"").unwrap_or(0);
    let reloads_failed = sample(&m, "dpufw_reloads_total", "outcome=\"failed\"").unwrap_or(0);
    let rx: u64 = ["port=\"a\"", "port=\"b\""]
        .iter()
        .map(|p| sample(&m, "dpufw_port_rx_packets_total", p).unwrap_or(0))
        .sum();
    let rss_warm = rss_warm.expect("warm-up ended before the traffic did");
    let (out, status) = fw.stop();
    let summary = format!(
        "soak: {secs} s; RSS {rss_warm} KiB after warm-up -> {rss_end} KiB at end; \
         mbufs in use idle {mbufs_idle_before} -> {mbufs_idle_after}; reloads {reloads_ok} ok / \
         {reloads_failed} failed of {flips}; {samples} metric samples monotonic; \
         {rx} packets received; denied delivered: udp/7 {u7} of {sent}, tcp/2222 {t2222} of \
         {syns} connects; allowed: udp/9000 {u9} of {sent}, tcp {conn_ok} of {conn_tried} \
         connections ({served} served)"
    );
    println!("{summary}");
    assert!(status.success(), "dpu-fw run did not stop cleanly:\n{out}");
    assert_eq!(u7, 0, "denied UDP was delivered: {summary}");
    assert_eq!(t2222, 0, "a denied TCP connection was accepted: {summary}");
    assert!(syns > 0 && sent > 1000, "too little traffic: {summary}");
    assert!(u9 * 10 >= sent * 9, "allowed UDP lost: {summary}");
    assert!(
        conn_ok > 100 && conn_ok * 10 >= conn_tried * 9,
        "allowed TCP connections failed: {summary}"
    );
    assert!(
        !ping_out.contains(" 100% packet loss"),
        "ping got no replies: {ping_out}"
    );
    assert_eq!(reloads_failed, 0, "{summary}");
    assert!(reloads_ok * 10 >= flips * 8, "reloads missed: {summary}");
    assert!(
        mbufs_idle_after <= mbufs_idle_before,
        "mbufs leaked: {summary}"
    );
    let slack = (rss_warm / 20).max(4096);
    assert!(
        rss_end <= rss_warm + slack,
        "resident memory grew after warm-up: {summary}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
