//! The conntrack control socket of `dpu-fw run`, and `dpu-fw conntrack`, its client.
//!
//! A Unix stream socket, mode 0600 in a directory of mode 0700 (only root, which runs
//! the dataplane, can connect). One request per connection, one line of at most 64
//! bytes: `list`, `flush` or `stats`; the answer is text lines, ending with a line that
//! starts with `ok` (or one `error: ...` line). The protocol is `dpu_fw::control`, a
//! pure function of the bytes read, so it is tested and fuzzed without a socket.

// The server runs only in `dpu-fw run`, which needs the `dpdk` feature.
#![cfg_attr(not(feature = "dpdk"), allow(dead_code))]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, bail};
use dpu_fw::conntrack::Tracker;
use dpu_fw::control::MAX_REQUEST;

/// Where `run` listens unless told otherwise.
pub(crate) const DEFAULT_SOCKET: &str = "/run/dpu-fw/control.sock";

/// The tracker and its clock's current time, if the running policy tracks connections.
pub(crate) type Source = Arc<dyn Fn() -> Option<(Arc<Tracker>, u64)> + Send + Sync>;

/// The answer to one request line: [`dpu_fw::control::answer`] on the current tracker.
pub(crate) fn handle(request: &[u8], source: &Source) -> String {
    let current = source();
    dpu_fw::control::answer(request, current.as_ref().map(|(t, now)| (&**t, *now)))
}

/// The listening socket and its thread. Removes the socket file when dropped.
pub(crate) struct ControlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ControlServer {
    /// Listens at `path`: makes its directory (mode 0700) if missing, replaces a stale
    /// socket file, and sets the socket's mode to 0600.
    pub(crate) fn start(path: &Path, source: Source) -> anyhow::Result<ControlServer> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("making {}", dir.display()))?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("restricting {}", dir.display()))?;
            }
        }
        if path.exists() {
            // A socket left by an earlier run that nobody answers on.
            if UnixStream::connect(path).is_ok() {
                bail!("{} is in use by another dpu-fw", path.display());
            }
            std::fs::remove_file(path)
                .with_context(|| format!("removing stale {}", path.display()))?;
        }
        let listener =
            UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("dpu-fw-control".into())
            .spawn(move || {
                while !stop2.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            // A broken client's error is its own.
                            let _ = serve(stream, &source);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            })?;
        Ok(ControlServer {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(stream: UnixStream, source: &Source) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut line = Vec::new();
    BufReader::new((&stream).take(MAX_REQUEST as u64 + 1)).read_until(b'\n', &mut line)?;
    let answer = handle(&line, source);
    (&stream).write_all(answer.as_bytes())?;
    // Read what a client sent beyond the request before closing: closing with unread
    // input resets the connection, and the client would lose the answer.
    stream.shutdown(std::net::Shutdown::Write)?;
    let _ = std::io::copy(&mut (&stream).take(64 * 1024), &mut std::io::sink());
    Ok(())
}

/// Arguments of `dpu-fw conntrack`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What to do: list the connections, flush them all, or print the counters.
    #[arg(value_enum)]
    request: Request,
    /// The control socket of the running `dpu-fw run`.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Request {
    List,
    Flush,
    Stats,
}

/// Runs `dpu-fw conntrack`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut stream = UnixStream::connect(&args.socket).with_context(|| {
        format!(
            "cannot connect to {} (is `dpu-fw run` running with --control there, and are you root?)",
            args.socket.display()
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let req = match args.request {
        Request::List => "list\n",
        Request::Flush => "flush\n",
        Request::Stats => "stats\n",
    };
    stream.write_all(req.as_bytes())?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .with_context(|| format!("reading the answer from {}", args.socket.display()))?;
    print!("{answer}");
    let last = answer.lines().last().unwrap_or("");
    if last.starts_with("ok") {
        Ok(ExitCode::SUCCESS)
    } else if let Some(msg) = last.strip_prefix("error: ") {
        bail!("{msg}")
    } else {
        bail!("the answer from {} ended early", args.socket.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use doca_flow::packet::{Headers, PacketBuilder};
    use dpu_fw::conntrack::{CtConfig, CtPacket};

    #[test]
    fn the_protocol() {
        let t = Arc::new(Tracker::new(CtConfig::default()));
        let f = PacketBuilder::udp4([10, 0, 0, 1].into(), [192, 0, 2, 1].into(), 4000, 53).build();
        let pkt = CtPacket::parse(&f, &Headers::parse(&f)).unwrap();
        let tr = t.track(0, &pkt, 5);
        t.commit(&tr, 5).unwrap();
        let t2 = t.clone();
        let source: Source = Arc::new(move || Some((t2.clone(), 1_000_000_000)));
        let list = handle(b"list\n", &source);
        assert_eq!(
            list,
            "zone=0 udp 10.0.0.1:4000 -> 192.0.2.1:53 state=UNREPLIED expires_in=29s packets=1/0 bytes=42/0\nok 1 connections\n"
        );
        assert!(handle(b"stats", &source).contains("connections 1\n"));
        assert_eq!(handle(b"flush\n", &source), "ok flushed 1 connections\n");
        assert!(handle(b"drop table\n", &source).starts_with("error: unknown request"));
        let none: Source = Arc::new(|| None);
        assert!(handle(b"list", &none).starts_with("error: the running policy"));
    }

    #[test]
    fn the_socket_is_root_only_and_answers() {
        let dir = std::env::temp_dir().join(format!("dpu-fw-control-{}", std::process::id()));
        let path = dir.join("sub").join("c.sock");
        let t = Arc::new(Tracker::new(CtConfig::default()));
        let source: Source = Arc::new(move || Some((t.clone(), 0)));
        let server = ControlServer::start(&path, source).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let mut s = UnixStream::connect(&path).unwrap();
        s.write_all(b"stats\n").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.ends_with("ok\n"), "{answer}");
        // An over-long request gets an error, not a hang.
        let mut s = UnixStream::connect(&path).unwrap();
        s.write_all(&[b'x'; 200]).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("error: request longer"), "{answer}");
        drop(server);
        assert!(!path.exists(), "the socket file is removed on exit");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
