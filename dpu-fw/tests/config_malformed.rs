//! The malformed-config corpus: each case asserts the error kind and the
//! line and column of the first diagnostic.

use dpu_fw::config::{self, ErrorKind};
use dpu_fw::model::ProblemKind as P;

/// Ports and sets the cases build on (6 lines; cases start on line 7).
const BASE: &str = r#"[ports.p0]
role = "uplink"
[ports.pf0hpf]
role = "host"
[sets.lan]
prefixes = ["10.0.0.0/8"]
"#;

struct Case {
    name: &'static str,
    text: &'static str,
    /// Prepend BASE (line numbers then count from BASE's first line).
    base: bool,
    kind: ErrorKind,
    line: usize,
    column: usize,
}

const fn c(
    name: &'static str,
    base: bool,
    text: &'static str,
    kind: ErrorKind,
    line: usize,
    column: usize,
) -> Case {
    Case {
        name,
        text,
        base,
        kind,
        line,
        column,
    }
}

use ErrorKind::{DuplicateKey, InvalidValue, MissingKey, Semantic, Syntax, UnknownKey, WrongType};

const CASES: &[Case] = &[
    // --- TOML syntax ---
    c(
        "unterminated string",
        false,
        "[ports.p0]\nrole = \"uplink\n",
        Syntax,
        2,
        15,
    ),
    c(
        "missing value",
        false,
        "[defaults]\ninbound =\n",
        Syntax,
        2,
        10,
    ),
    c(
        "bad table header",
        false,
        "[ports.p0\nrole = \"uplink\"\n",
        Syntax,
        1,
        10,
    ),
    c(
        "duplicate key",
        false,
        "[defaults]\ninbound = \"drop\"\ninbound = \"accept\"\n",
        DuplicateKey,
        3,
        1,
    ),
    c(
        "duplicate table",
        false,
        "[ports.p0]\nrole = \"uplink\"\n[ports.p0]\nrole = \"host\"\n",
        DuplicateKey,
        3,
        8,
    ),
    // --- schema: unknown keys, missing keys, wrong types ---
    c(
        "unknown top-level key",
        false,
        "[firewall]\nx = 1\n",
        UnknownKey,
        1,
        2,
    ),
    c(
        "unknown port key",
        false,
        "[ports.p0]\nrole = \"uplink\"\nspeed = 100\n",
        UnknownKey,
        3,
        1,
    ),
    c(
        "unknown rule key",
        true,
        "[[rules]]\naction = \"accept\"\ndport = 80\n",
        UnknownKey,
        9,
        1,
    ),
    c(
        "unknown rate key",
        true,
        "[[rules]]\naction = \"accept\"\nrate_limit = { mbps = 5 }\n",
        UnknownKey,
        9,
        16,
    ),
    c(
        "missing role",
        false,
        "[ports.p0]\nid = 0\n",
        MissingKey,
        1,
        1,
    ),
    c(
        "missing action",
        true,
        "[[rules]]\nname = \"x\"\n",
        MissingKey,
        7,
        1,
    ),
    c(
        "missing chain path",
        false,
        "[chains.c]\nreverse = true\n",
        MissingKey,
        1,
        1,
    ),
    c(
        "count not a boolean",
        true,
        "[[rules]]\naction = \"accept\"\ncount = \"yes\"\n",
        WrongType,
        9,
        9,
    ),
    c(
        "vlan as string",
        true,
        "[[rules]]\naction = \"accept\"\nvlan = \"100\"\n",
        WrongType,
        9,
        8,
    ),
    c(
        "float port",
        true,
        "[[rules]]\naction = \"accept\"\nprotocol = \"tcp\"\ndst_port = [80, 1.5]\n",
        WrongType,
        10,
        17,
    ),
    c(
        "rules not an array of tables",
        false,
        "rules = 5\n",
        WrongType,
        1,
        9,
    ),
    c(
        "integer port name",
        true,
        "[[rules]]\naction = \"accept\"\nin_port = [1]\n",
        WrongType,
        9,
        12,
    ),
    // --- bad values ---
    c(
        "unknown role",
        false,
        "[ports.p0]\nrole = \"wan\"\n",
        InvalidValue,
        2,
        8,
    ),
    c(
        "unknown action",
        true,
        "[[rules]]\naction = \"allow\"\n",
        InvalidValue,
        8,
        10,
    ),
    c(
        "count as action",
        true,
        "[[rules]]\naction = \"count\"\n",
        InvalidValue,
        8,
        10,
    ),
    c(
        "unknown protocol",
        true,
        "[[rules]]\naction = \"accept\"\nprotocol = \"sctp6\"\n",
        InvalidValue,
        9,
        12,
    ),
    c(
        "bad prefix",
        true,
        "[[rules]]\naction = \"accept\"\nsrc = [\"10.0.0.0/8\", \"10.0.0/8\"]\n",
        InvalidValue,
        9,
        22,
    ),
    c(
        "host bits set",
        true,
        "[[rules]]\naction = \"accept\"\ndst = \"10.0.0.1/8\"\n",
        InvalidValue,
        9,
        7,
    ),
    c(
        "prefix too long",
        false,
        "[sets.s]\nprefixes = [\"2001:db8::/129\"]\n",
        InvalidValue,
        2,
        13,
    ),
    c(
        "unknown tcp flag",
        true,
        "[[rules]]\naction = \"accept\"\nprotocol = \"tcp\"\ntcp_flags = [\"syn\", \"!fyn\"]\n",
        InvalidValue,
        10,
        21,
    ),
    c(
        "unknown family",
        true,
        "[[rules]]\naction = \"accept\"\nfamily = \"ip4\"\n",
        InvalidValue,
        9,
        10,
    ),
    c(
        "unknown default",
        false,
        "[defaults]\ninbound = \"reject\"\n",
        InvalidValue,
        2,
        11,
    ),
    c(
        "both id and representor",
        false,
        "[ports.p0]\nrole = \"uplink\"\nid = 0\nrepresentor = \"p0\"\n",
        InvalidValue,
        4,
        15,
    ),
    c(
        "pps and bps",
        true,
        "[[rules]]\naction = \"accept\"\nrate_limit = { pps = 5, bps = 5 }\n",
        InvalidValue,
        9,
        31,
    ),
    c(
        "set with both kinds",
        false,
        "[sets.s]\nprefixes = [\"10.0.0.0/8\"]\nports = [1]\n",
        InvalidValue,
        3,
        9,
    ),
    c(
        "chain action without chain",
        true,
        "[[rules]]\naction = \"chain\"\n",
        MissingKey,
        8,
        10,
    ),
    c(
        "icmp code without type",
        true,
        "[[rules]]\naction = \"accept\"\nprotocol = \"icmp\"\nicmp_code = 0\n",
        MissingKey,
        10,
        13,
    ),
    // --- semantic errors ---
    c(
        "undefined set",
        true,
        "[[rules]]\naction = \"accept\"\nsrc = [\"@lan\", \"@wan\"]\n",
        Semantic(P::UndefinedSet),
        9,
        16,
    ),
    c(
        "port set used as prefixes",
        false,
        "[sets.web]\nports = [80]\n[[rules]]\naction = \"accept\"\ndst = \"@web\"\n",
        Semantic(P::WrongSetKind),
        5,
        7,
    ),
    c(
        "prefix set used as ports",
        true,
        "[[rules]]\naction = \"accept\"\nprotocol = \"tcp\"\ndst_port = [\"@lan\"]\n",
        Semantic(P::WrongSetKind),
        10,
        13,
    ),
    c(
        "empty port list",
        true,
        "[[rules]]\naction = \"accept\"\nprotocol = \"tcp\"\ndst_port = []\n",
        Semantic(P::EmptyList),
        10,
        12,
    ),
    c(
        "empty set",
        false,
        "[sets.none]\nprefixes = []\n",
        Semantic(P::EmptyList),
        2,
        12,
    ),
    c(
        "inverted range",
        true,
        "[[rules]]\naction = \"accept\"\nprotocol = \"udp\"\nsrc_port = \"2000-1000\"\n",
        Semantic(P::InvertedRange),
        10,
        12,
    ),
    c(
        "port out of range",
        true,
        "[[rules]]\naction = \"accept\"\nprotocol = \"udp\"\ndst_port = 70000\n",
        Semantic(P::OutOfRange),
        10,
        12,
    ),
    c(
        "vlan out of range",
        true,
        "[[rules]]\naction = \"accept\"\nvlan = 4096\n",
        Semantic(P::OutOfRange),
        9,
        8,
    ),
    c(
        "icmp type out of range",
        true,
        "[[rules]]\naction = \"accept\"\nprotocol = \"icmp\"\nicmp_type = 256\n",
        Semantic(P::OutOfRange),
        10,
        13,
    ),
    c(
        "zero rate",
        true,
        "[[rules]]\naction = \"accept\"\nrate_limit = { pps = 0 }\n",
        Semantic(P::OutOfRange),
        9,
        22,
    ),
    c(
        "ipv4 prefix in ipv6 rule",
        true,
        "[[rules]]\naction = \"accept\"\nfamily = \"ipv6\"\nsrc = \"@lan\"\n",
        Semantic(P::FamilyMismatch),
        10,
        7,
    ),
    c(
        "v4 source, v6 destination",
        true,
        "[[rules]]\naction = \"accept\"\nsrc = \"10.0.0.0/8\"\ndst = \"2001:db8::/32\"\n",
        Semantic(P::FamilyMismatch),
        10,
        7,
    ),
    c(
        "protocol-less port match",
        true,
        "[[rules]]\naction = \"accept\"\ndst_port = 80\n",
        Semantic(P::ProtocolRequired),
        9,
        12,
    ),
    c(
        "ports with icmp",
        true,
        "[[rules]]\naction = \"accept\"\nprotocol = \"icmp\"\nsrc_port = 80\n",
        Semantic(P::ProtocolRequired),
        10,
        12,
    ),
    c(
        "icmp type with tcp",
        true,
        "[[rules]]\naction = \"accept\"\nprotocol = \"tcp\"\nicmp_type = 8\n",
        Semantic(P::ProtocolRequired),
        10,
        13,
    ),
    c(
        "tcp flags without tcp",
        true,
        "[[rules]]\naction = \"accept\"\ntcp_flags = \"syn\"\n",
        Semantic(P::ProtocolRequired),
        9,
        13,
    ),
    c(
        "undefined ingress port",
        true,
        "[[rules]]\naction = \"accept\"\nin_port = [\"p0\", \"p1\"]\n",
        Semantic(P::UndefinedPort),
        9,
        11,
    ),
    c(
        "undefined chain",
        true,
        "[[rules]]\naction = \"chain\"\nchain = \"web\"\n",
        Semantic(P::UndefinedChain),
        9,
        9,
    ),
    c(
        "chain with accept",
        true,
        "[[rules]]\naction = \"accept\"\nchain = \"web\"\n",
        Semantic(P::InvalidAction),
        9,
        9,
    ),
    c(
        "rate limit on drop",
        true,
        "[[rules]]\naction = \"drop\"\nrate_limit = { pps = 10 }\n",
        Semantic(P::InvalidAction),
        9,
        14,
    ),
    c(
        "duplicate rule name",
        true,
        "[[rules]]\nname = \"a\"\naction = \"accept\"\n[[rules]]\nname = \"a\"\naction = \"drop\"\n",
        Semantic(P::DuplicateName),
        11,
        8,
    ),
    c(
        "duplicate port id",
        false,
        "[ports.p0]\nrole = \"uplink\"\nid = 0\n[ports.p1]\nrole = \"uplink\"\nid = 0\n",
        Semantic(P::DuplicateName),
        6,
        6,
    ),
    c(
        "reserved port name",
        false,
        "[ports.firewall]\nrole = \"service\"\n",
        Semantic(P::BadName),
        1,
        8,
    ),
    c(
        "undefined peer",
        false,
        "[ports.p0]\nrole = \"uplink\"\npeer = \"pf1hpf\"\n",
        Semantic(P::UndefinedPort),
        3,
        8,
    ),
    c(
        "undefined chain hop",
        true,
        "[chains.c]\npath = \"p0 -> firewall -> hbn -> pf0hpf\"\n",
        Semantic(P::UndefinedPort),
        8,
        27,
    ),
    c(
        "chain without firewall",
        true,
        "[chains.c]\npath = [\"p0\", \"pf0hpf\", \"p0\"]\n",
        Semantic(P::InvalidChain),
        8,
        8,
    ),
    c(
        "chain too short",
        true,
        "[chains.c]\npath = \"p0 -> firewall\"\n",
        Semantic(P::InvalidChain),
        8,
        8,
    ),
    c(
        "bad reverse path",
        true,
        "[chains.c]\npath = \"p0 -> firewall -> pf0hpf\"\nreverse = \"p0 -> firewall -> pf0hpf\"\n",
        Semantic(P::InvalidChain),
        9,
        11,
    ),
    c(
        "chain as a default",
        false,
        "[defaults]\noutbound = \"chain\"\n",
        InvalidValue,
        2,
        12,
    ),
    // --- connection tracking ---
    c(
        "state without [conntrack]",
        true,
        "[[rules]]\nstate = \"established\"\naction = \"accept\"\n",
        Semantic(P::Untracked),
        8,
        9,
    ),
    c(
        "unknown state",
        true,
        "[conntrack]\n[[rules]]\nstate = [\"established\", \"open\"]\naction = \"accept\"\n",
        InvalidValue,
        9,
        25,
    ),
    c(
        "empty state list",
        true,
        "[conntrack]\n[[rules]]\nstate = []\naction = \"accept\"\n",
        Semantic(P::EmptyList),
        9,
        9,
    ),
    c(
        "state on ports no zone tracks",
        true,
        "[conntrack]\nzones = { lan = [\"pf0hpf\"] }\n[[rules]]\nin_port = \"p0\"\nstate = \"new\"\naction = \"accept\"\n",
        Semantic(P::Untracked),
        11,
        9,
    ),
    c(
        "zone names an undefined port",
        true,
        "[conntrack]\nzones = { lan = [\"p0\", \"p9\"] }\n",
        Semantic(P::UndefinedPort),
        8,
        9,
    ),
    c(
        "port in two zones",
        true,
        "[conntrack]\nzones = { a = [\"p0\"], b = [\"p0\"] }\n",
        Semantic(P::Untracked),
        8,
        9,
    ),
    c(
        "unknown conntrack key",
        true,
        "[conntrack]\nmax_conns = 5\n",
        UnknownKey,
        8,
        1,
    ),
    c(
        "max_connections 0",
        true,
        "[conntrack]\nmax_connections = 0\n",
        Semantic(P::OutOfRange),
        8,
        19,
    ),
    c(
        "unknown timeout",
        true,
        "[conntrack]\ntimeouts = { tcp_open = 5 }\n",
        UnknownKey,
        8,
        14,
    ),
    c(
        "timeout with an unknown unit",
        true,
        "[conntrack]\ntimeouts = { udp = \"30x\" }\n",
        InvalidValue,
        8,
        20,
    ),
    c(
        "zero timeout",
        true,
        "[conntrack]\ntimeouts = { udp = 0 }\n",
        InvalidValue,
        8,
        20,
    ),
    c(
        "unknown table_full",
        true,
        "[conntrack]\ntable_full = \"evict\"\n",
        InvalidValue,
        8,
        14,
    ),
];

#[test]
fn corpus_has_at_least_30_cases() {
    assert!(CASES.len() >= 30, "{}", CASES.len());
}

#[test]
fn each_case_reports_kind_line_and_column() {
    let mut failures = Vec::new();
    for case in CASES {
        let text = if case.base {
            format!("{BASE}{}", case.text)
        } else {
            case.text.to_string()
        };
        match config::parse(&text, "bad.toml") {
            Ok(_) => failures.push(format!("{}: parsed", case.name)),
            Err(e) => {
                let d = &e.diagnostics()[0];
                assert_eq!(d.file.to_str(), Some("bad.toml"));
                if (d.kind, d.line, d.column) != (case.kind, case.line, case.column) {
                    failures.push(format!(
                        "{}: got {:?} {}:{} `{}`, want {:?} {}:{}",
                        case.name,
                        d.kind,
                        d.line,
                        d.column,
                        d.message,
                        case.kind,
                        case.line,
                        case.column
                    ));
                }
                assert!(!d.message.is_empty());
                assert!(
                    e.to_string()
                        .starts_with(&format!("bad.toml:{}:{}: error: ", d.line, d.column))
                );
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
