//! ClassBench import: rule sets, header traces and expected-match files.
//!
//! Formats (see `classbench/README.md` in the shared data folder):
//!
//! * rules: `@SA/len DA/len SPlo : SPhi DPlo : DPhi 0xPP/0xMM 0xFFFF/0xFFFF`,
//!   whitespace separated, first line = highest priority; the flags column
//!   is parsed but the 5-tuple conversion ignores it;
//! * traces: seven unsigned decimal columns `SA DA SP DP PROTO FLAGS RULE`
//!   (the last two may be absent);
//! * match files: one signed decimal per line, the 0-based index of the
//!   first matching rule or `-1`.
//!
//! Every reader takes plain text or gzip (detected by its magic bytes, not
//! the file name). Errors name the file, the 1-based line and column, and
//! what was expected; no input makes these functions panic.
//!
//! # Examples
//!
//! ```
//! use dpu_fw::classbench;
//! let rules = classbench::parse_rules(
//!     "@10.0.0.0/8\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\t0x0000/0x0000\t\n",
//!     "inline".as_ref(),
//! )
//! .unwrap();
//! let r = rules[0].to_rule(0);
//! assert_eq!((r.dst_port.lo(), r.proto, r.priority), (80, 6, 0));
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use doca_flow::classifier::{Key, PortRange, Prefix, Rule};

/// Why a ClassBench file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClassBenchError {
    /// Opening, reading or decompressing the file failed (the cause is part of the
    /// message, not a source, so an error chain prints it once).
    #[error("{}: {cause}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O (or gzip) error.
        cause: std::io::Error,
    },
    /// The file (after gunzip) is not UTF-8 text: a binary or a wrong file.
    #[error(
        "{}: not UTF-8 text (invalid byte at offset {offset}); expected a ClassBench text file, plain or gzip",
        file.display()
    )]
    NotText {
        /// The file.
        file: PathBuf,
        /// Byte offset of the first invalid byte (in the decompressed bytes).
        offset: usize,
    },
    /// A token is not what the format expects.
    #[error("{}:{line}:{column}: expected {expected}, found {found:?}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column (character offset of the token in the line).
        column: usize,
        /// What the format wanted there.
        expected: &'static str,
        /// The offending token (empty at the end of a line).
        found: String,
    },
    /// The imported rules fail the model's checks (rule N is the file's N-th rule).
    #[error("{0}")]
    Checks(crate::model::ModelError),
    /// A rule that the firewall model cannot express (a protocol mask other than
    /// `0x00` or `0xFF`).
    #[error("rule {} `r{index}`: {reason}", index + 1)]
    Unsupported {
        /// The rule's 0-based index.
        index: usize,
        /// Why.
        reason: String,
    },
}

/// One ClassBench filter, as written in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CbRule {
    /// Source prefix.
    pub src: Prefix<u32>,
    /// Destination prefix.
    pub dst: Prefix<u32>,
    /// Source port range.
    pub src_port: PortRange,
    /// Destination port range.
    pub dst_port: PortRange,
    /// Protocol value.
    pub proto: u8,
    /// Protocol mask (`0` = any protocol).
    pub proto_mask: u8,
    /// Flags value (0 when the column is absent).
    pub flags: u16,
    /// Flags mask (0 when the column is absent).
    pub flags_mask: u16,
}

impl CbRule {
    /// The 5-tuple rule with `priority = id = index` (the line's 0-based
    /// index, so the first line wins); the flags are ignored.
    #[must_use]
    pub fn to_rule(&self, index: u32) -> Rule<u32> {
        Rule {
            src: self.src,
            dst: self.dst,
            src_port: self.src_port,
            dst_port: self.dst_port,
            proto: self.proto,
            proto_mask: self.proto_mask,
            priority: index,
            id: index,
        }
    }
}

/// Converts a parsed rule file into classifier rules (priority = id = index).
#[must_use]
pub fn to_rules(rules: &[CbRule]) -> Vec<Rule<u32>> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| r.to_rule(i as u32))
        .collect()
}

/// One header of a ClassBench trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CbHeader {
    /// Source address.
    pub src: u32,
    /// Destination address.
    pub dst: u32,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Protocol.
    pub proto: u8,
    /// The flags column (`(rule_flags << 16) | mask`, see the README); 0 if absent.
    pub flags: u32,
    /// The rule the generator drew the header from (not always the first
    /// match); `None` if absent.
    pub rule: Option<u32>,
}

impl CbHeader {
    /// The classifier key. ClassBench headers always carry ports.
    #[must_use]
    pub fn to_key(&self) -> Key<u32> {
        Key {
            src: self.src,
            dst: self.dst,
            src_port: self.src_port,
            dst_port: self.dst_port,
            proto: self.proto,
            has_ports: true,
        }
    }
}

/// Reads a whole file, decompressing gzip when the content starts with the
/// gzip magic bytes.
///
/// # Errors
///
/// [`ClassBenchError::Io`] when the file cannot be read or is corrupt gzip,
/// [`ClassBenchError::NotText`] when it is not UTF-8 text.
pub fn read_text(path: &Path) -> Result<String, ClassBenchError> {
    let raw = std::fs::read(path).map_err(|cause| ClassBenchError::Io {
        file: path.to_owned(),
        cause,
    })?;
    decode_text(raw, path)
}

/// A file's bytes as text: gunzipped when they start with the gzip magic bytes;
/// `file` is used in errors only.
///
/// # Errors
///
/// [`ClassBenchError::Io`] for corrupt gzip, [`ClassBenchError::NotText`] when the
/// (decompressed) bytes are not UTF-8.
pub fn decode_text(raw: Vec<u8>, file: &Path) -> Result<String, ClassBenchError> {
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|cause| ClassBenchError::Io {
                file: file.to_owned(),
                cause,
            })?;
        out
    } else {
        raw
    };
    String::from_utf8(bytes).map_err(|e| ClassBenchError::NotText {
        file: file.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Reads a rule file (plain or gzip).
///
/// # Errors
///
/// I/O errors and syntax errors naming file, line and column.
pub fn read_rules(path: &Path) -> Result<Vec<CbRule>, ClassBenchError> {
    parse_rules(&read_text(path)?, path)
}

/// Reads a trace file (plain or gzip).
///
/// # Errors
///
/// I/O errors and syntax errors naming file, line and column.
pub fn read_trace(path: &Path) -> Result<Vec<CbHeader>, ClassBenchError> {
    parse_trace(&read_text(path)?, path)
}

/// Reads a match file (plain or gzip): `Some(index)` or `None` for `-1`.
///
/// # Errors
///
/// I/O errors and syntax errors naming file, line and column.
pub fn read_matches(path: &Path) -> Result<Vec<Option<u32>>, ClassBenchError> {
    parse_matches(&read_text(path)?, path)
}

/// Whitespace tokens of one line with their 1-based columns.
struct Tokens<'a> {
    line: &'a str,
    pos: usize,
    file: &'a Path,
    lineno: usize,
}

impl<'a> Tokens<'a> {
    fn new(line: &'a str, file: &'a Path, lineno: usize) -> Self {
        Tokens {
            line,
            pos: 0,
            file,
            lineno,
        }
    }

    fn err(&self, column: usize, expected: &'static str, found: &str) -> ClassBenchError {
        ClassBenchError::Syntax {
            file: self.file.to_owned(),
            line: self.lineno,
            column,
            expected,
            found: found.to_owned(),
        }
    }

    /// The next token and its column, or an error saying what was expected.
    fn next(&mut self, expected: &'static str) -> Result<(&'a str, usize), ClassBenchError> {
        self.next_opt()
            .ok_or_else(|| self.err(self.line.chars().count() + 1, expected, ""))
    }

    fn next_opt(&mut self) -> Option<(&'a str, usize)> {
        let rest = &self.line[self.pos..];
        let start = self.pos + rest.find(|c: char| !c.is_whitespace())?;
        let len = self.line[start..]
            .find(char::is_whitespace)
            .unwrap_or(self.line.len() - start);
        self.pos = start + len;
        let column = self.line[..start].chars().count() + 1;
        Some((&self.line[start..start + len], column))
    }
}

fn parse_num<T: TryFrom<u64>>(s: &str) -> Option<T> {
    let v = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()?
    } else {
        s.parse::<u64>().ok()?
    };
    T::try_from(v).ok()
}

fn parse_prefix(tok: &str) -> Option<Prefix<u32>> {
    let (addr, len) = tok.split_once('/')?;
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    Prefix::new(u32::from(addr), len).ok()
}

fn parse_value_mask<T: TryFrom<u64>>(tok: &str) -> Option<(T, T)> {
    let (v, m) = tok.split_once('/')?;
    Some((parse_num(v)?, parse_num(m)?))
}

/// Parses rule-file text; `file` is used in error messages only.
///
/// Blank lines are skipped (they do not consume a rule index).
///
/// # Errors
///
/// [`ClassBenchError::Syntax`] naming file, line, column and what was expected.
pub fn parse_rules(text: &str, file: &Path) -> Result<Vec<CbRule>, ClassBenchError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut t = Tokens::new(line, file, i + 1);
        let Some((first, col)) = t.next_opt() else {
            continue;
        };
        let sa = first
            .strip_prefix('@')
            .ok_or_else(|| t.err(col, "'@' starting a rule", first))?;
        let src = parse_prefix(sa)
            .ok_or_else(|| t.err(col + 1, "source prefix a.b.c.d/len (len <= 32)", sa))?;
        let (tok, col) = t.next("destination prefix")?;
        let dst = parse_prefix(tok)
            .ok_or_else(|| t.err(col, "destination prefix a.b.c.d/len (len <= 32)", tok))?;
        let mut ports = [PortRange::ANY; 2];
        for (p, what) in ports
            .iter_mut()
            .zip(["source port range", "destination port range"])
        {
            let (lo_tok, lo_col) = t.next(what)?;
            let lo: u16 =
                parse_num(lo_tok).ok_or_else(|| t.err(lo_col, "port number 0..=65535", lo_tok))?;
            let (colon, c) = t.next("':' in a port range")?;
            if colon != ":" {
                return Err(t.err(c, "':' in a port range", colon));
            }
            let (hi_tok, hi_col) = t.next(what)?;
            let hi: u16 =
                parse_num(hi_tok).ok_or_else(|| t.err(hi_col, "port number 0..=65535", hi_tok))?;
            *p = PortRange::new(lo, hi)
                .map_err(|_| t.err(lo_col, "port range with lo <= hi", &format!("{lo} : {hi}")))?;
        }
        let (tok, col) = t.next("protocol 0xPP/0xMM")?;
        let (proto, proto_mask) =
            parse_value_mask::<u8>(tok).ok_or_else(|| t.err(col, "protocol 0xPP/0xMM", tok))?;
        let (flags, flags_mask) = match t.next_opt() {
            None => (0, 0),
            Some((tok, col)) => parse_value_mask::<u16>(tok)
                .ok_or_else(|| t.err(col, "flags 0xFFFF/0xFFFF", tok))?,
        };
        if let Some((tok, col)) = t.next_opt() {
            return Err(t.err(col, "end of line", tok));
        }
        out.push(CbRule {
            src,
            dst,
            src_port: ports[0],
            dst_port: ports[1],
            proto,
            proto_mask,
            flags,
            flags_mask,
        });
    }
    Ok(out)
}

/// Parses trace text (5 to 7 decimal columns); `file` is used in errors only.
///
/// # Errors
///
/// [`ClassBenchError::Syntax`] naming file, line, column and what was expected.
pub fn parse_trace(text: &str, file: &Path) -> Result<Vec<CbHeader>, ClassBenchError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut t = Tokens::new(line, file, i + 1);
        if line.trim().is_empty() {
            continue;
        }
        let mut num = |what: &'static str| -> Result<u64, ClassBenchError> {
            let (tok, col) = t.next(what)?;
            parse_num::<u64>(tok).ok_or_else(|| t.err(col, what, tok))
        };
        let src = num("source address (u32 decimal)")?;
        let dst = num("destination address (u32 decimal)")?;
        let sp = num("source port (0..=65535)")?;
        let dp = num("destination port (0..=65535)")?;
        let proto = num("protocol (0..=255)")?;
        let mut rest = [None, None];
        for (slot, what) in rest
            .iter_mut()
            .zip(["flags (u32 decimal)", "rule index (u32 decimal)"])
        {
            if let Some((tok, col)) = t.next_opt() {
                *slot = Some(parse_num::<u32>(tok).ok_or_else(|| t.err(col, what, tok))?);
            }
        }
        if let Some((tok, col)) = t.next_opt() {
            return Err(t.err(col, "end of line after 7 columns", tok));
        }
        let narrow = |v: u64, what: &'static str, col: usize| -> Result<_, ClassBenchError> {
            Err(ClassBenchError::Syntax {
                file: file.to_owned(),
                line: i + 1,
                column: col,
                expected: what,
                found: v.to_string(),
            })
        };
        // Columns are reported by field position when a value is out of range.
        let src = match u32::try_from(src) {
            Ok(v) => v,
            Err(_) => return narrow(src, "source address (u32 decimal)", 1),
        };
        let dst = match u32::try_from(dst) {
            Ok(v) => v,
            Err(_) => return narrow(dst, "destination address (u32 decimal)", 2),
        };
        let (Ok(src_port), Ok(dst_port), Ok(proto)) =
            (u16::try_from(sp), u16::try_from(dp), u8::try_from(proto))
        else {
            let col = line
                .split_whitespace()
                .take(2)
                .map(|s| s.len() + 1)
                .sum::<usize>()
                + 1;
            return narrow(
                sp.max(dp).max(proto),
                "port (0..=65535) and protocol (0..=255)",
                col,
            );
        };
        out.push(CbHeader {
            src,
            dst,
            src_port,
            dst_port,
            proto,
            flags: rest[0].unwrap_or(0),
            rule: rest[1],
        });
    }
    Ok(out)
}

/// Parses match-file text; `file` is used in errors only.
///
/// # Errors
///
/// [`ClassBenchError::Syntax`] naming file, line, column and what was expected.
pub fn parse_matches(text: &str, file: &Path) -> Result<Vec<Option<u32>>, ClassBenchError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut t = Tokens::new(line, file, i + 1);
        let Some((tok, col)) = t.next_opt() else {
            continue;
        };
        let v = if tok == "-1" {
            None
        } else {
            Some(
                tok.parse::<u32>()
                    .map_err(|_| t.err(col, "rule index or -1", tok))?,
            )
        };
        if let Some((tok, col)) = t.next_opt() {
            return Err(t.err(col, "end of line", tok));
        }
        out.push(v);
    }
    Ok(out)
}

/// Converts a parsed rule file into a firewall rule set with the semantics of
/// `match5`: rule `i` is named `r{i}`, keeps its line order (first line = highest
/// priority), matches IPv4 only, its prefixes, inclusive port ranges and protocol
/// (value/mask `0xPP/0xFF` or any with `0x00/0x00`), ignores the flags, and accepts. The
/// rule set has one port, the uplink `p0` (DOCA port 0) where the trace enters; it has no
/// peer, so accepted packets go to software, and the default is drop, so "no rule
/// matched" stays visible. Checked with [`CheckOptions::IMPORT`](crate::model::CheckOptions::IMPORT):
/// ClassBench has port ranges under a protocol wildcard.
///
/// # Errors
///
/// [`ClassBenchError::Unsupported`] for a protocol mask other than `0x00`/`0xFF`, or a
/// rule the model's checker refuses.
pub fn to_rule_set(rules: &[CbRule]) -> Result<crate::model::RuleSet, ClassBenchError> {
    use crate::model::{
        Action, CheckOptions, PortId, PortRef, PortRole, Rule as ModelRule, RuleSet,
    };
    // The model holds prefixes of either family: the same type, its `IpAddr` form.
    let prefix = |p: Prefix<u32>| -> Option<Prefix> {
        (p.prefix_len() > 0).then(|| {
            Prefix::new(std::net::Ipv4Addr::from(p.addr()).into(), p.prefix_len())
                .expect("a length <= 32 is valid for IPv4")
        })
    };
    let range = |r: PortRange| -> Option<PortRange> { (!r.is_any()).then_some(r) };
    let mut b = RuleSet::builder()
        .check_options(CheckOptions::IMPORT)
        .port("p0", PortRole::Uplink, PortRef::Doca(PortId(0)))
        .defaults(Action::Drop, Action::Drop);
    for (i, r) in rules.iter().enumerate() {
        let mut rb = ModelRule::builder(format!("r{i}"))
            .family(crate::model::Family::Ipv4)
            .action(Action::Accept);
        rb = rb.src(prefix(r.src));
        rb = rb.dst(prefix(r.dst));
        rb = rb.src_ports(range(r.src_port));
        rb = rb.dst_ports(range(r.dst_port));
        match r.proto_mask {
            0 => {}
            0xff => rb = rb.protocol(r.proto),
            m => {
                return Err(ClassBenchError::Unsupported {
                    index: i,
                    reason: format!(
                        "protocol mask {m:#04x} cannot be expressed; use 0x00/0x00 (any protocol) or 0xPP/0xFF (one protocol)"
                    ),
                });
            }
        }
        b = b.rule(rb);
    }
    b.build().map_err(ClassBenchError::Checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "@195.120.234.169/32\t16.254.228.217/32\t0 : 65535\t19856 : 19856\t0x06/0xFF\t0x1000/0x1000\t\n";

    #[test]
    fn parses_the_readme_example() {
        let r = parse_rules(LINE, Path::new("x")).unwrap();
        assert_eq!(r.len(), 1);
        let r = r[0];
        assert_eq!(
            r.src,
            Prefix::new(u32::from_be_bytes([195, 120, 234, 169]), 32).unwrap()
        );
        assert_eq!(r.dst_port, PortRange::single(19856));
        assert_eq!(
            (r.proto, r.proto_mask, r.flags, r.flags_mask),
            (6, 0xff, 0x1000, 0x1000)
        );
        let t = parse_trace(
            "1044126168\t1559590493\t65535\t65535\t6\t4294967295\t743\n",
            Path::new("t"),
        )
        .unwrap();
        assert_eq!(t[0].rule, Some(743));
        assert_eq!(t[0].to_key().dst_port, 65535);
        assert_eq!(
            parse_matches("3\n-1\n", Path::new("m")).unwrap(),
            vec![Some(3), None]
        );
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let bad = format!("{LINE}@1.2.3.4/33\t0.0.0.0/0\t0 : 1\t0 : 1\t0x06/0xFF\n");
        let e = parse_rules(&bad, Path::new("f.rules"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f.rules:2:2: expected source prefix"), "{e}");
        let e = parse_rules("@1.2.3.4/8 0.0.0.0/0 5 : 1 0 : 1 0x06/0xFF", Path::new("f"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("lo <= hi"), "{e}");
        let e = parse_rules("@1.2.3.4/8 0.0.0.0/0 5 - 1", Path::new("f"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f:1:24: expected ':'"), "{e}");
        let e = parse_rules("@1.2.3.4/8 0.0.0.0/0 5 : 7", Path::new("f"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("destination port range"), "{e}");
        let e = parse_trace("1 2 3 70000 6", Path::new("t"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t:1:"), "{e}");
        let e = parse_trace("1 2 x", Path::new("t"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t:1:5: expected source port"), "{e}");
        let e = parse_matches("1\nfoo\n", Path::new("m"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m:2:1: expected rule index"), "{e}");
        assert!(read_text(Path::new("/nonexistent/classbench")).is_err());
        let masked = parse_rules(
            &format!("{LINE}@1.2.3.4/32 0.0.0.0/0 0 : 65535 0 : 65535 0x06/0x0F\n"),
            Path::new("m"),
        )
        .unwrap();
        assert_eq!(
            to_rule_set(&masked).unwrap_err().to_string(),
            "rule 2 `r1`: protocol mask 0x0f cannot be expressed; use 0x00/0x00 (any protocol) or 0xPP/0xFF (one protocol)"
        );
        assert_eq!(
            decode_text(b"ab\xffc".to_vec(), Path::new("b.rules"))
                .unwrap_err()
                .to_string(),
            "b.rules: not UTF-8 text (invalid byte at offset 2); expected a ClassBench text file, plain or gzip"
        );
    }

    #[test]
    fn never_panics_on_junk() {
        for junk in [
            "@",
            "@/",
            "@1.2.3.4/",
            "\u{fffd}@x",
            "@1.2.3.4/1 1.1.1.1/1 0 : 0 0 : 0 0x/0x",
        ] {
            assert!(parse_rules(junk, Path::new("j")).is_err(), "{junk}");
        }
        assert!(parse_trace("1 2 3 4", Path::new("j")).is_err());
    }

    #[test]
    fn reads_gzip() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("cb-gz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("r.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(LINE.as_bytes()).unwrap();
        std::fs::write(&p, enc.finish().unwrap()).unwrap();
        assert_eq!(read_rules(&p).unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
