//! Nothing panics on arbitrary or mutated config text, and every diagnostic
//! points inside the text.

mod common;

use dpu_fw::config;
use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../../examples/firewall.toml");

/// Parse, and check the diagnostics' positions lie within the text.
fn check(text: &str) -> Result<(), TestCaseError> {
    match config::parse(text, "fuzz.toml") {
        Ok(c) => {
            let lines = text.lines().count() + 1;
            for w in &c.warnings {
                prop_assert!(w.line >= 1 && w.line <= lines && w.column >= 1);
            }
        }
        Err(e) => {
            prop_assert!(!e.diagnostics().is_empty());
            let lines = text.split('\n').count();
            for d in e.diagnostics() {
                prop_assert!(d.line >= 1 && d.line <= lines, "{d} in {lines} lines");
                let width = text
                    .split('\n')
                    .nth(d.line - 1)
                    .map_or(0, |l| l.chars().count());
                prop_assert!(
                    d.column >= 1 && d.column <= width + 1,
                    "{d}: line is {width} wide"
                );
                prop_assert!(!d.message.is_empty());
            }
        }
    }
    Ok(())
}

fn char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

const TOKENS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "=",
    "\"",
    "'",
    ",",
    "\n",
    "#",
    "-",
    "->",
    "@",
    "!",
    ".",
    "/",
    "0",
    "65536",
    "-1",
    "1.5",
    "true",
    "[[rules]]",
    "[ports.x]",
    "[sets.s]",
    "[chains.c]",
    "[defaults]",
    "action = \"chain\"",
    "chain = \"nope\"",
    "src = \"@bogons\"",
    "dst_port = \"@servers4\"",
    "protocol = \"icmp\"",
    "family = \"ipv6\"",
    "vlan = 9999",
    "rate_limit = {}",
    "\u{e9}",
    "\u{1F525}",
    "\t",
    "\r\n",
    "path = \"firewall\"",
    "reverse = \"p0\"",
    "in_port = []",
    "tcp_flags = [\"syn\", \"syn\"]",
    "icmp_code = 3",
    "2001:db8::/129",
    "10.0.0.1/8",
];

fn mutation() -> impl Strategy<Value = (usize, usize, usize)> {
    (0..EXAMPLE.len(), 0usize..40, 0..TOKENS.len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(1500)))]

    #[test]
    fn arbitrary_text(text in ".{0,400}") {
        check(&text)?;
    }

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    /// Delete a stretch of the example and insert a token in its place, a
    /// few times over.
    #[test]
    fn mutated_example(muts in prop::collection::vec(mutation(), 1..5)) {
        let mut text = EXAMPLE.to_string();
        for (at, del, tok) in muts {
            let start = char_boundary(&text, at);
            let end = char_boundary(&text, start + del);
            text.replace_range(start..end, TOKENS[tok]);
        }
        check(&text)?;
    }

    /// Swap, drop or repeat whole lines of the example.
    #[test]
    fn shuffled_lines(ops in prop::collection::vec((0usize..200, 0usize..200, 0u8..3), 1..8)) {
        let mut lines: Vec<&str> = EXAMPLE.lines().collect();
        for (a, b, op) in ops {
            let n = lines.len();
            if n == 0 { break; }
            let (a, b) = (a % n, b % n);
            match op {
                0 => lines.swap(a, b),
                1 => { lines.remove(a); }
                _ => { let l = lines[a]; lines.insert(b, l); }
            }
        }
        check(&lines.join("\n"))?;
    }

    /// Random rules assembled from valid and invalid key/value pieces: this
    /// reaches the semantic checks, not just the parser.
    #[test]
    fn generated_rules(rules in prop::collection::vec(prop::collection::vec(0..PIECES.len(), 0..8), 0..6)) {
        let mut text = String::from(PRELUDE);
        for rule in rules {
            text.push_str("[[rules]]\naction = \"accept\"\n");
            let mut seen = std::collections::HashSet::new();
            for p in rule {
                let piece = PIECES[p];
                let key = piece.split('=').next().unwrap_or("");
                if seen.insert(key) {
                    text.push_str(piece);
                    text.push('\n');
                }
            }
        }
        check(&text)?;
    }
}

const PRELUDE: &str = "[ports.p0]\nrole = \"uplink\"\n[ports.h]\nrole = \"host\"\n\
[sets.a]\nprefixes = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n[sets.w]\nports = [80, \"8000-8080\"]\n\
[chains.c]\npath = \"p0 -> firewall -> h\"\nreverse = true\n";

const PIECES: &[&str] = &[
    "name = \"r\"",
    "in_port = \"p0\"",
    "in_port = [\"h\", \"zz\"]",
    "family = \"ipv4\"",
    "family = \"ipv6\"",
    "src = \"@a\"",
    "src = [\"10.1.0.0/16\", \"@w\"]",
    "dst = \"2001:db8:1::/48\"",
    "dst = [\"0.0.0.0/0\"]",
    "protocol = \"tcp\"",
    "protocol = \"udp\"",
    "protocol = 1",
    "protocol = \"icmpv6\"",
    "src_port = \"1024-65535\"",
    "dst_port = \"@w\"",
    "dst_port = [22, \"0-65535\"]",
    "dst_port = \"9-1\"",
    "icmp_type = 8",
    "icmp_code = 0",
    "tcp_flags = [\"syn\", \"!ack\"]",
    "vlan = 100",
    "vlan = -1",
    "chain = \"c\"",
    "count = true",
    "rate_limit = { pps = 10 }",
    "rate_limit = { bps = 1000, burst = 0 }",
];

/// Deep nesting is a syntax error, not a stack overflow.
#[test]
fn deep_nesting_is_an_error() {
    for n in [100usize, 100_000] {
        for text in [
            format!("a = {}{}", "[".repeat(n), "]".repeat(n)),
            format!("a = {}", "{ b = ".repeat(n)),
            format!(
                "[[rules]]\naction = \"accept\"\nsrc = {}{}",
                "[".repeat(n),
                "]".repeat(n)
            ),
        ] {
            let err = config::parse(&text, "deep.toml").unwrap_err();
            assert_eq!(err.diagnostics()[0].kind, config::ErrorKind::Syntax);
        }
    }
}
