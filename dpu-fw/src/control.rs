//! The conntrack control protocol of `dpu-fw run`: what its local socket reads and
//! answers, without the socket.
//!
//! One request per connection, one line of at most [`MAX_REQUEST`] bytes: `list`,
//! `flush` or `stats` (surrounding whitespace is ignored). The answer is text lines
//! ending with a line that starts with `ok`, or one `error: ...` line. The command's
//! socket server (`src/cli/control.rs`) passes the bytes it read to [`answer`], so the
//! tests and the fuzz target (`fuzz/fuzz_targets/conntrack_control.rs`) run the real
//! protocol.
//!
//! ```
//! use dpu_fw::control::{Request, RequestError, parse_request};
//! assert_eq!(parse_request(b"list\n"), Ok(Request::List));
//! assert_eq!(parse_request(&[0xff]), Err(RequestError::NotUtf8));
//! ```

use crate::conntrack::Tracker;

/// The longest request line, newline included.
pub const MAX_REQUEST: usize = 64;

/// A request of the control protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Every connection, one per line.
    List,
    /// Remove every connection.
    Flush,
    /// The tracker's counters.
    Stats,
}

/// Why a request line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// More than [`MAX_REQUEST`] bytes.
    #[error("request longer than {MAX_REQUEST} bytes")]
    TooLong,
    /// The bytes are not UTF-8.
    #[error("the request is not UTF-8 text")]
    NotUtf8,
    /// Not one of the requests (its first 32 characters).
    #[error("unknown request {0:?}; expected list, flush or stats")]
    Unknown(String),
}

/// Parses one request line (the bytes the server read, newline included).
///
/// # Errors
/// [`RequestError`] for an over-long, non-UTF-8 or unknown request.
pub fn parse_request(line: &[u8]) -> Result<Request, RequestError> {
    if line.len() > MAX_REQUEST {
        return Err(RequestError::TooLong);
    }
    let text = std::str::from_utf8(line).map_err(|_| RequestError::NotUtf8)?;
    match text.trim() {
        "list" => Ok(Request::List),
        "flush" => Ok(Request::Flush),
        "stats" => Ok(Request::Stats),
        other => Err(RequestError::Unknown(other.chars().take(32).collect())),
    }
}

/// The answer to one request line; `tracker` is the running policy's connection table
/// and its clock's current time, `None` when the policy has no `[conntrack]`.
pub fn answer(line: &[u8], tracker: Option<(&Tracker, u64)>) -> String {
    let request = parse_request(line);
    if let Err(e @ (RequestError::TooLong | RequestError::NotUtf8)) = &request {
        return format!("error: {e}\n");
    }
    let Some((tracker, now)) = tracker else {
        return "error: the running policy does not track connections (no [conntrack])\n".into();
    };
    match request {
        Err(e) => format!("error: {e}\n"),
        Ok(Request::List) => {
            let mut conns = tracker.connections(now);
            conns.sort_by_key(|c| (c.zone, c.origin));
            let mut out = String::new();
            for c in &conns {
                let state = c
                    .tcp
                    .map_or(if c.replied { "REPLIED" } else { "UNREPLIED" }, |s| {
                        s.name()
                    });
                out.push_str(&format!(
                    "zone={} {} state={} expires_in={}s packets={}/{} bytes={}/{}\n",
                    c.zone,
                    c.origin,
                    state,
                    c.expires_in.as_secs(),
                    c.packets[0],
                    c.packets[1],
                    c.bytes[0],
                    c.bytes[1]
                ));
            }
            out.push_str(&format!("ok {} connections\n", conns.len()));
            out
        }
        Ok(Request::Flush) => format!("ok flushed {} connections\n", tracker.flush()),
        Ok(Request::Stats) => {
            let s = tracker.stats();
            format!(
                "connections {}\nopened {}\nexpired {}\ntable_full {}\ninvalid {}\nrelated {}\nok\n",
                s.connections, s.created, s.expired, s.table_full, s.invalid, s.related
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conntrack::CtConfig;

    #[test]
    fn requests_and_refusals() {
        assert_eq!(parse_request(b"  stats \r\n"), Ok(Request::Stats));
        assert_eq!(parse_request(b"flush"), Ok(Request::Flush));
        assert_eq!(parse_request(&[b'x'; 65]), Err(RequestError::TooLong));
        assert_eq!(parse_request(b"li\xffst"), Err(RequestError::NotUtf8));
        let t = Tracker::new(CtConfig::default());
        assert_eq!(
            answer(&[b' '; 200], Some((&t, 0))),
            "error: request longer than 64 bytes\n"
        );
        assert_eq!(
            answer(b"drop table\n", Some((&t, 0))),
            "error: unknown request \"drop table\"; expected list, flush or stats\n"
        );
        assert_eq!(
            answer(b"\xc3\n", None),
            "error: the request is not UTF-8 text\n"
        );
        assert!(answer(b"list\n", None).starts_with("error: the running policy"));
        assert_eq!(answer(b"list\n", Some((&t, 0))), "ok 0 connections\n");
    }
}
