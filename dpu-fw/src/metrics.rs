//! Prometheus text exposition of the firewall's counters, and a minimal
//! HTTP endpoint that serves it.
//!
//! The endpoint binds to loopback unless told otherwise, answers
//! `GET /metrics` (and `GET /`) with `text/plain; version=0.0.4`, and
//! anything else with 404. It is deliberately tiny (std only, one thread,
//! one request per connection): scrapers poll it every few seconds.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Counters of one dataplane port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortMetrics {
    /// The port's name in the policy.
    pub name: String,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Received packets the policy dropped.
    pub dropped: u64,
    /// Packets lost because a transmit queue was full.
    pub tx_dropped: u64,
}

/// Counters of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleMetrics {
    /// The rule's name (or its index, when unnamed).
    pub rule: String,
    /// Its action (`accept`, `drop`, ...).
    pub action: String,
    /// Packets that matched it.
    pub packets: u64,
    /// Bytes that matched it.
    pub bytes: u64,
}

/// Everything the endpoint exposes, as one consistent snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Per-port counters.
    pub ports: Vec<PortMetrics>,
    /// Per-rule counters (the default policy of each direction included).
    pub rules: Vec<RuleMetrics>,
    /// Policy reloads that took effect.
    pub reloads_ok: u64,
    /// Policy reloads rejected (the old policy stayed in force).
    pub reloads_failed: u64,
    /// Other errors the dataplane logged.
    pub errors: u64,
    /// Connection tracking, when the policy tracks connections.
    pub conntrack: Option<crate::conntrack::CtStats>,
    /// ACL lookups answered by a connection's remembered answer since the running
    /// policy was installed (a reload starts again from 0), when the policy tracks
    /// connections (`docs/conntrack.md`, "ACL memos").
    pub acl_memo_hits: Option<u64>,
    /// Connection offloads to the hardware CT pipe, when a stateful policy runs on the
    /// hardware backend.
    pub offload: Option<OffloadMetrics>,
    /// The packet pool: mbufs in use and the pool's size (`None` without a dataplane).
    pub mbufs: Option<(u64, u64)>,
}

/// The hardware path's connection offloads (`dpu-fw run` on a BlueField with a stateful
/// policy: see [`crate::firewall::OffloadAgent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffloadMetrics {
    /// Connections in the CT pipe now.
    pub in_hardware: u64,
    /// Connections put into the CT pipe.
    pub offloaded: u64,
    /// Connections taken out on a FIN or RST.
    pub closed: u64,
    /// Connections hardware aged out.
    pub aged: u64,
    /// Offloads the CT pipe refused (the connection stayed in software).
    pub refused: u64,
    /// Offload asks dropped because the agent's queue was full (the connection stays
    /// in software until hardware would have aged it; a later packet does not ask again).
    pub dropped_asks: u64,
}

/// A metric family: name, help text, and how to read it from a sample.
type Family<T> = (&'static str, &'static str, fn(&T) -> u64);

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Snapshot {
    /// The Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let port_metrics: [Family<PortMetrics>; 6] = [
            (
                "dpufw_port_rx_packets_total",
                "Packets received on the port.",
                |p| p.rx_packets,
            ),
            (
                "dpufw_port_rx_bytes_total",
                "Bytes received on the port.",
                |p| p.rx_bytes,
            ),
            (
                "dpufw_port_tx_packets_total",
                "Packets sent out of the port.",
                |p| p.tx_packets,
            ),
            (
                "dpufw_port_tx_bytes_total",
                "Bytes sent out of the port.",
                |p| p.tx_bytes,
            ),
            (
                "dpufw_port_dropped_total",
                "Packets received on the port that the policy dropped.",
                |p| p.dropped,
            ),
            (
                "dpufw_port_tx_dropped_total",
                "Packets lost because the port's transmit queue was full.",
                |p| p.tx_dropped,
            ),
        ];
        for (name, help, get) in port_metrics {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for p in &self.ports {
                let _ = writeln!(out, "{name}{{port=\"{}\"}} {}", escape(&p.name), get(p));
            }
        }
        let rule_metrics: [Family<RuleMetrics>; 2] = [
            (
                "dpufw_rule_packets_total",
                "Packets that matched the rule.",
                |r| r.packets,
            ),
            (
                "dpufw_rule_bytes_total",
                "Bytes that matched the rule.",
                |r| r.bytes,
            ),
        ];
        for (name, help, get) in rule_metrics {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for r in &self.rules {
                let _ = writeln!(
                    out,
                    "{name}{{rule=\"{}\",action=\"{}\"}} {}",
                    escape(&r.rule),
                    escape(&r.action),
                    get(r)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP dpufw_reloads_total Policy reloads by outcome.\n# TYPE dpufw_reloads_total counter\n\
             dpufw_reloads_total{{outcome=\"ok\"}} {}\ndpufw_reloads_total{{outcome=\"failed\"}} {}",
            self.reloads_ok, self.reloads_failed
        );
        let _ = writeln!(
            out,
            "# HELP dpufw_errors_total Errors the dataplane logged.\n# TYPE dpufw_errors_total counter\n\
             dpufw_errors_total {}",
            self.errors
        );
        if let Some(ct) = &self.conntrack {
            let gauge = "# HELP dpufw_conntrack_connections Connections in the table.\n\
                         # TYPE dpufw_conntrack_connections gauge";
            let _ = writeln!(
                out,
                "{gauge}\ndpufw_conntrack_connections {}",
                ct.connections
            );
            let counters: [(&str, &str, u64); 5] = [
                (
                    "dpufw_conntrack_new_total",
                    "Connections opened.",
                    ct.created,
                ),
                (
                    "dpufw_conntrack_expired_total",
                    "Connections removed after their timeout.",
                    ct.expired,
                ),
                (
                    "dpufw_conntrack_table_full_total",
                    "New connections refused because the table was full.",
                    ct.table_full,
                ),
                (
                    "dpufw_conntrack_invalid_total",
                    "Packets tracked as invalid.",
                    ct.invalid,
                ),
                (
                    "dpufw_conntrack_related_total",
                    "Packets tracked as related (ICMP errors about a connection).",
                    ct.related,
                ),
            ];
            for (name, help, v) in counters {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
                );
            }
        }
        if let Some(hits) = self.acl_memo_hits {
            let _ = writeln!(
                out,
                "# HELP dpufw_acl_memo_hits ACL lookups answered by a connection's remembered answer since the running policy was installed.\n\
                 # TYPE dpufw_acl_memo_hits gauge\ndpufw_acl_memo_hits {hits}"
            );
        }
        if let Some((in_use, size)) = self.mbufs {
            let _ = writeln!(
                out,
                "# HELP dpufw_mbufs_in_use Packet buffers taken from the pool.\n\
                 # TYPE dpufw_mbufs_in_use gauge\ndpufw_mbufs_in_use {in_use}\n\
                 # HELP dpufw_mbufs Packet buffers in the pool.\n\
                 # TYPE dpufw_mbufs gauge\ndpufw_mbufs {size}"
            );
        }
        if let Some(o) = &self.offload {
            let _ = writeln!(
                out,
                "# HELP dpufw_offload_connections Connections in the hardware CT pipe.\n\
                 # TYPE dpufw_offload_connections gauge\ndpufw_offload_connections {}",
                o.in_hardware
            );
            let counters: [(&str, &str, u64); 5] = [
                (
                    "dpufw_offload_added_total",
                    "Connections offloaded to the hardware CT pipe.",
                    o.offloaded,
                ),
                (
                    "dpufw_offload_closed_total",
                    "Offloaded connections taken out on a FIN or RST.",
                    o.closed,
                ),
                (
                    "dpufw_offload_aged_total",
                    "Offloaded connections hardware aged out.",
                    o.aged,
                ),
                (
                    "dpufw_offload_refused_total",
                    "Offloads the CT pipe refused (the connection stayed in software).",
                    o.refused,
                ),
                (
                    "dpufw_offload_dropped_asks_total",
                    "Offload asks dropped because the agent's queue was full.",
                    o.dropped_asks,
                ),
            ];
            for (name, help, v) in counters {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
                );
            }
        }
        out
    }
}

/// A running metrics endpoint. Stops when dropped.
///
/// One thread runs an event loop (epoll, through `mio`) over at most
/// [`MAX_CONNECTIONS`] open connections, so slow or idle clients cost a buffer each, not
/// the endpoint: a scrape is answered while a thousand others dawdle. Each connection
/// has [`CONNECTION_DEADLINE`] in all to send its request head (at most
/// [`MAX_REQUEST_HEAD`] bytes) and take its answer; when the table is full, the
/// longest-waiting connection that has not finished its request is closed to make room.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    waker: Arc<mio::Waker>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The most connections the endpoint holds open at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// How long a connection may take, from accept to the last byte of the answer.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(2);

const LISTENER: mio::Token = mio::Token(usize::MAX);
const WAKER: mio::Token = mio::Token(usize::MAX - 1);

/// One client connection of the endpoint.
struct Client {
    stream: mio::net::TcpStream,
    /// The request head read so far.
    head: Vec<u8>,
    /// The answer, once the head is complete, and how much of it was written.
    answer: Option<(Vec<u8>, usize)>,
    deadline: std::time::Instant,
}

impl MetricsServer {
    /// Serves `render()` at `http://addr/metrics` from a background thread.
    ///
    /// # Errors
    /// The bind error, e.g. the address is in use or not local.
    pub fn start(
        addr: SocketAddr,
        render: Arc<dyn Fn() -> String + Send + Sync>,
    ) -> std::io::Result<MetricsServer> {
        let std_listener = TcpListener::bind(addr)?;
        let addr = std_listener.local_addr()?;
        std_listener.set_nonblocking(true)?;
        let mut listener = mio::net::TcpListener::from_std(std_listener);
        let poll = mio::Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, mio::Interest::READABLE)?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("dpu-fw-metrics".into())
            .spawn(move || event_loop(poll, listener, &stop2, render.as_ref()))?;
        Ok(MetricsServer {
            addr,
            waker,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn event_loop(
    mut poll: mio::Poll,
    listener: mio::net::TcpListener,
    stop: &AtomicBool,
    render: &(dyn Fn() -> String + Send + Sync),
) {
    let mut events = mio::Events::with_capacity(256);
    let mut clients: std::collections::HashMap<usize, Client> = std::collections::HashMap::new();
    // Accept order, for evicting the longest-waiting client when the table is full.
    let mut order: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    let mut next_token = 0usize;
    while !stop.load(Ordering::Relaxed) {
        // Wake for the nearest deadline at the latest.
        if poll
            .poll(&mut events, Some(Duration::from_millis(250)))
            .is_err()
        {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let now = std::time::Instant::now();
        for event in events.iter() {
            match event.token() {
                LISTENER => loop {
                    let (mut stream, _) = match listener.accept() {
                        Ok(c) => c,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        // A connection that died before it was accepted, or no file
                        // descriptors left: try again at the next event.
                        Err(_) => break,
                    };
                    while clients.len() >= MAX_CONNECTIONS {
                        // Evict the longest-waiting client still sending its request.
                        let Some(pos) = order
                            .iter()
                            .position(|t| clients.get(t).is_some_and(|c| c.answer.is_none()))
                        else {
                            break;
                        };
                        let t = order.remove(pos).unwrap_or_default();
                        if let Some(mut c) = clients.remove(&t) {
                            let _ = poll.registry().deregister(&mut c.stream);
                        }
                    }
                    if clients.len() >= MAX_CONNECTIONS {
                        // Every slot is writing an answer: this one waits its turn in
                        // the kernel's backlog no more; it is closed.
                        continue;
                    }
                    next_token = (next_token + 1) % (usize::MAX - 2);
                    let token = next_token;
                    if poll
                        .registry()
                        .register(&mut stream, mio::Token(token), mio::Interest::READABLE)
                        .is_err()
                    {
                        continue;
                    }
                    clients.insert(
                        token,
                        Client {
                            stream,
                            head: Vec::with_capacity(256),
                            answer: None,
                            deadline: now + CONNECTION_DEADLINE,
                        },
                    );
                    order.push_back(token);
                },
                WAKER => {}
                mio::Token(token) => {
                    let done = match clients.get_mut(&token) {
                        Some(c) => step(c, &poll, token, render),
                        None => false,
                    };
                    if done {
                        if let Some(mut c) = clients.remove(&token) {
                            let _ = poll.registry().deregister(&mut c.stream);
                        }
                    }
                }
            }
        }
        // Deadlines: slow clients are closed.
        let now = std::time::Instant::now();
        clients.retain(|_, c| {
            let keep = c.deadline > now;
            if !keep {
                let _ = poll.registry().deregister(&mut c.stream);
            }
            keep
        });
        order.retain(|t| clients.contains_key(t));
    }
}

/// Reads what a client sent and writes what it is owed; true when the connection is
/// finished (answered, broken or refused).
fn step(
    c: &mut Client,
    poll: &mio::Poll,
    token: usize,
    render: &(dyn Fn() -> String + Send + Sync),
) -> bool {
    if c.answer.is_none() {
        let mut buf = [0u8; 1024];
        loop {
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    // The client closed its side: answer what it sent, if anything.
                    if c.head.is_empty() {
                        return true;
                    }
                    break;
                }
                Ok(n) => {
                    c.head.extend_from_slice(&buf[..n]);
                    if head_complete(&c.head) || c.head.len() > MAX_REQUEST_HEAD {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if !head_complete(&c.head) && c.head.len() <= MAX_REQUEST_HEAD {
                        return false;
                    }
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
        c.head.truncate(MAX_REQUEST_HEAD + 1);
        c.answer = Some((respond(&c.head, render), 0));
        if poll
            .registry()
            .reregister(&mut c.stream, mio::Token(token), mio::Interest::WRITABLE)
            .is_err()
        {
            return true;
        }
    }
    let Some((answer, written)) = c.answer.as_mut() else {
        return true;
    };
    while *written < answer.len() {
        match c.stream.write(&answer[*written..]) {
            Ok(0) => return true,
            Ok(n) => *written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    let _ = c.stream.flush();
    true
}

/// The head ends at its first empty line.
fn head_complete(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n")
}

/// The longest request head (request line and headers) the endpoint reads.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// The request line of an HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method (`GET`, ...).
    pub method: &'a str,
    /// The request target (`/metrics`, ...).
    pub path: &'a str,
}

/// Why a request head was refused (answered with 400 Bad Request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// More than [`MAX_REQUEST_HEAD`] bytes.
    #[error("request head longer than {MAX_REQUEST_HEAD} bytes")]
    TooLong,
    /// The request line is not UTF-8.
    #[error("the request line is not UTF-8 text")]
    NotUtf8,
    /// The request line is not `METHOD TARGET HTTP/x.y`.
    #[error("the request line is not `METHOD TARGET HTTP/x.y`")]
    Malformed,
}

/// Parses a request head (what the endpoint read up to the blank line, or all it got);
/// only the request line matters, the headers are ignored.
///
/// # Errors
/// [`RequestError`] for an over-long head or a malformed request line.
pub fn parse_request(head: &[u8]) -> Result<Request<'_>, RequestError> {
    if head.len() > MAX_REQUEST_HEAD {
        return Err(RequestError::TooLong);
    }
    let end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = std::str::from_utf8(&head[..end]).map_err(|_| RequestError::NotUtf8)?;
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(path), version, None)
            if version.is_none_or(|v| v.starts_with("HTTP/")) =>
        {
            Ok(Request { method, path })
        }
        _ => Err(RequestError::Malformed),
    }
}

/// The whole HTTP response to a request head: `render()` for `GET /metrics` and `GET /`,
/// 404 for other paths, 405 for other methods, 400 for a head [`parse_request`] refuses.
pub fn respond(head: &[u8], render: &dyn Fn() -> String) -> Vec<u8> {
    let (status, ctype, body) = match parse_request(head) {
        Err(e) => ("400 Bad Request", "text/plain", format!("{e}\n")),
        Ok(Request {
            method: "GET",
            path: "/metrics" | "/",
        }) => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(),
        ),
        Ok(Request { method: "GET", .. }) => (
            "404 Not Found",
            "text/plain",
            "not found: try /metrics\n".into(),
        ),
        Ok(_) => ("405 Method Not Allowed", "text/plain", "only GET\n".into()),
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    fn sample() -> Snapshot {
        Snapshot {
            ports: vec![PortMetrics {
                name: "p0".into(),
                rx_packets: 10,
                rx_bytes: 1000,
                tx_packets: 7,
                tx_bytes: 700,
                dropped: 3,
                tx_dropped: 0,
            }],
            rules: vec![RuleMetrics {
                rule: "allow \"web\"".into(),
                action: "accept".into(),
                packets: 7,
                bytes: 700,
            }],
            reloads_ok: 2,
            reloads_failed: 1,
            errors: 0,
            conntrack: Some(crate::conntrack::CtStats {
                connections: 5,
                created: 9,
                expired: 4,
                table_full: 2,
                invalid: 3,
                related: 1,
            }),
            offload: Some(OffloadMetrics {
                in_hardware: 6,
                offloaded: 11,
                closed: 4,
                aged: 1,
                refused: 0,
                dropped_asks: 0,
            }),
            mbufs: Some((40, 8191)),
            acl_memo_hits: Some(12),
        }
    }

    #[test]
    fn renders_every_family_with_labels_escaped() {
        let text = sample().render();
        assert!(text.contains("dpufw_port_rx_packets_total{port=\"p0\"} 10\n"));
        assert!(text.contains("dpufw_port_dropped_total{port=\"p0\"} 3\n"));
        assert!(text.contains(
            "dpufw_rule_packets_total{rule=\"allow \\\"web\\\"\",action=\"accept\"} 7\n"
        ));
        assert!(text.contains("dpufw_reloads_total{outcome=\"failed\"} 1\n"));
        assert!(text.contains("dpufw_conntrack_connections 5\n"));
        assert!(text.contains("dpufw_conntrack_table_full_total 2\n"));
        assert!(text.contains("dpufw_conntrack_invalid_total 3\n"));
        assert!(text.contains("dpufw_offload_connections 6\n"));
        assert!(text.contains("dpufw_offload_added_total 11\n"));
        assert!(text.contains("dpufw_mbufs_in_use 40\n"));
        assert!(text.contains("dpufw_acl_memo_hits 12\n"));
        // Every sample line belongs to a family declared before it.
        let mut declared = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.insert(rest.split_whitespace().next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(declared.contains(name), "{name} has no TYPE line");
            }
        }
    }

    #[test]
    fn serves_metrics_over_http_on_loopback() {
        let snap = sample();
        let server = MetricsServer::start(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(move || snap.render()),
        )
        .unwrap();
        let get = |path: &str| {
            let mut s = TcpStream::connect(server.local_addr()).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let ok = get("/metrics");
        assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
        assert!(ok.contains("dpufw_port_tx_packets_total{port=\"p0\"} 7"));
        assert!(get("/nope").starts_with("HTTP/1.1 404"));
    }

    #[test]
    fn requests_and_refusals() {
        let render = || "m 1\n".to_string();
        let text = |head: &[u8]| String::from_utf8(respond(head, &render)).unwrap();
        assert_eq!(
            parse_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok(Request {
                method: "GET",
                path: "/metrics"
            })
        );
        assert!(text(b"GET / HTTP/1.0\r\n\r\n").ends_with("\r\n\r\nm 1\n"));
        assert!(text(b"POST /metrics HTTP/1.1\r\n").starts_with("HTTP/1.1 405"));
        assert_eq!(parse_request(b""), Err(RequestError::Malformed));
        assert_eq!(
            parse_request(b"GET / FTP/1\r\n"),
            Err(RequestError::Malformed)
        );
        assert_eq!(
            parse_request(b"GET /\xff HTTP/1.1"),
            Err(RequestError::NotUtf8)
        );
        let long = vec![b'a'; MAX_REQUEST_HEAD + 1];
        assert_eq!(parse_request(&long), Err(RequestError::TooLong));
        assert!(text(&long).starts_with("HTTP/1.1 400 Bad Request\r\n"));
    }

    /// Raises this process's open-file limit to `want` (or the hard limit), so a test
    /// can hold both ends of a thousand connections.
    fn raise_fd_limit(want: u64) -> u64 {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut r = getrlimit(Resource::Nofile);
        // `None` is unlimited.
        let max = r.maximum.unwrap_or(u64::MAX);
        let cur = r.current.unwrap_or(u64::MAX).max(want.min(max));
        r.current = Some(cur);
        setrlimit(Resource::Nofile, r).expect("setrlimit(RLIMIT_NOFILE)");
        cur
    }

    fn scrape(addr: SocketAddr, within: Duration) -> String {
        let t = std::time::Instant::now();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(within)).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out)
            .unwrap_or_else(|e| panic!("no answer within {within:?}: {e}"));
        assert!(t.elapsed() < within, "the scrape took {:?}", t.elapsed());
        out
    }

    /// A thousand clients that connect and send half a request line, then nothing:
    /// a scrape is still answered at once; they are closed at their deadline; more
    /// connections than the table holds evict the dawdlers, not the scrape.
    #[test]
    fn stays_responsive_under_a_thousand_slow_clients() {
        let limit = raise_fd_limit(8192);
        assert!(
            limit >= 2 * 1100 + 64,
            "the open-file limit ({limit}) is too low for this test"
        );
        let server = MetricsServer::start(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(|| "dpufw_up 1\n".to_string()),
        )
        .unwrap();
        let addr = server.local_addr();
        let mut slow: Vec<TcpStream> = (0..1000)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /metr").unwrap();
                s
            })
            .collect();
        let ok = scrape(addr, Duration::from_secs(1));
        assert!(
            ok.starts_with("HTTP/1.1 200 OK") && ok.ends_with("dpufw_up 1\n"),
            "{ok}"
        );
        // More than the table holds: the oldest dawdlers make room.
        slow.extend((0..100).map(|_| TcpStream::connect(addr).unwrap()));
        let ok = scrape(addr, Duration::from_secs(1));
        assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
        let mut buf = [0u8; 16];
        let mut first = slow[0].try_clone().unwrap();
        first
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        assert!(
            matches!(first.read(&mut buf), Ok(0) | Err(_)),
            "the oldest dawdler was evicted"
        );
        // At their deadline every dawdler is closed, without an answer.
        std::thread::sleep(CONNECTION_DEADLINE + Duration::from_millis(600));
        let (mut answered, mut still_open) = (0, 0);
        for s in &mut slow {
            s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            match s.read(&mut buf) {
                Ok(n) if n > 0 => answered += 1,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    still_open += 1
                }
                _ => {}
            }
        }
        assert_eq!(answered, 0, "a half request got an answer");
        assert_eq!(still_open, 0, "dawdlers outlived their deadline");
        let ok = scrape(addr, Duration::from_secs(1));
        assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
    }

    /// A client that sends its request a byte at a time is answered (within its
    /// deadline); other methods than GET are refused.
    #[test]
    fn byte_by_byte_requests_and_methods() {
        let server = MetricsServer::start(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(|| "dpufw_up 1\n".to_string()),
        )
        .unwrap();
        let mut s = TcpStream::connect(server.local_addr()).unwrap();
        for b in b"GET /metrics HTTP/1.1\r\n\r\n" {
            s.write_all(&[*b]).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        for (req, want) in [
            (&b"POST /metrics HTTP/1.1\r\n\r\n"[..], "HTTP/1.1 405"),
            (b"DELETE / HTTP/1.1\r\n\r\n", "HTTP/1.1 405"),
            (b"GET /admin HTTP/1.1\r\n\r\n", "HTTP/1.1 404"),
            // A TLS client hello is no HTTP.
            (
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
                "HTTP/1.1 400",
            ),
        ] {
            let mut s = TcpStream::connect(server.local_addr()).unwrap();
            s.write_all(req).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            assert!(out.starts_with(want), "{req:?}: {out}");
        }
    }
}
