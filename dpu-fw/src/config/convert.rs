//! Raw TOML -> [`RuleSet`]: value parsing, set resolution, then the model's
//! semantic checks with their sites mapped back to file positions.

use core::ops::Range;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use toml::Spanned;

use core::time::Duration;

use super::raw::{Item, Items, RawChain, RawConfig, RawConntrack, RawPort, RawRateLimit, RawRule};
use super::{Checked, Diagnostic, Error, ErrorKind, Warning, locate};
use crate::conntrack::{CtState, StateSet, TableFull, Timeouts};
use crate::model::{
    Action, Chain, Conntrack, Defaults, FIREWALL_HOP, Family, Hop, IcmpMatch, PolicyPort, PortId,
    PortRange, PortRef, PortRole, Prefix, ProblemKind, Rate, RateLimit, Rule, RuleMatch, RuleSet,
    Set, SetValues, Site, TcpFlags, ValueError, WarningKind, Zone, problems, protocol, tcp_flag,
    warnings,
};

type Span = Range<usize>;

/// The spans of one table's keys, to place the model's problems.
#[derive(Debug, Default)]
struct Keyed {
    whole: Span,
    keys: HashMap<&'static str, Span>,
    /// Hop spans of a chain's `path` and `reverse`.
    hops: HashMap<&'static str, Vec<Span>>,
}

impl Keyed {
    fn new(whole: Span) -> Self {
        Keyed {
            whole,
            ..Keyed::default()
        }
    }

    fn key<T>(&mut self, key: &'static str, value: &Option<Spanned<T>>) {
        if let Some(v) = value {
            self.keys.insert(key, v.span());
        }
    }

    fn get(&self, key: &str) -> Span {
        self.keys.get(key).cloned().unwrap_or(self.whole.clone())
    }
}

#[derive(Debug, Default)]
struct Spans {
    ports: Vec<Keyed>,
    sets: Vec<Keyed>,
    rules: Vec<Keyed>,
    chains: Vec<Keyed>,
    defaults: Keyed,
    conntrack: Keyed,
}

impl Spans {
    fn of(&self, site: Site) -> Span {
        let pick = |v: &[Keyed], i: usize, key: &str| v.get(i).map(|k| k.get(key)).unwrap_or(0..0);
        match site {
            Site::Port { index, key } => pick(&self.ports, index, key),
            Site::Set { index, key } => pick(&self.sets, index, key),
            Site::Rule { index, key } => pick(&self.rules, index, key),
            Site::Defaults { key } => self.defaults.get(key),
            Site::Conntrack { key } => self.conntrack.get(key),
            Site::Chain { index, key, hop } => {
                let Some(k) = self.chains.get(index) else {
                    return 0..0;
                };
                hop.and_then(|h| k.hops.get(key).and_then(|v| v.get(h)).cloned())
                    .unwrap_or_else(|| k.get(key))
            }
        }
    }
}

struct Cx<'a> {
    text: &'a str,
    file: &'a Path,
    errors: Vec<Diagnostic>,
}

impl Cx<'_> {
    fn err(&mut self, span: &Span, kind: ErrorKind, message: impl Into<String>) {
        let (line, column) = locate(self.text, span);
        self.errors.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            kind,
            message: message.into(),
        });
    }

    fn semantic(&mut self, span: &Span, kind: ProblemKind, message: impl Into<String>) {
        self.err(span, ErrorKind::Semantic(kind), message);
    }

    fn value_error(&mut self, span: &Span, e: &ValueError) {
        let kind = match e {
            ValueError::InvertedRange(..) => ErrorKind::Semantic(ProblemKind::InvertedRange),
            _ => ErrorKind::InvalidValue,
        };
        self.err(span, kind, e.to_string());
    }

    /// An integer in `lo..=hi`, or an error naming `what`.
    fn int_in(&mut self, v: &Spanned<i64>, lo: i64, hi: i64, what: &str) -> Option<i64> {
        let n = *v.get_ref();
        if (lo..=hi).contains(&n) {
            Some(n)
        } else {
            self.semantic(
                &v.span(),
                ProblemKind::OutOfRange,
                format!("{what} {n} is out of range; expected {lo}..={hi}"),
            );
            None
        }
    }

    /// The elements of a list value, each with its span; an explicit empty
    /// array is an error.
    fn elements(&mut self, key: &str, v: &Spanned<Items>) -> Vec<(Item, Span)> {
        let items = v.get_ref();
        if items.is_array && items.items.is_empty() {
            self.semantic(
                &v.span(),
                ProblemKind::EmptyList,
                format!("`{key}` is an empty array; expected at least one element (omit the key to match any)"),
            );
        }
        items
            .items
            .iter()
            .map(|(item, span)| (item.clone(), span.clone().unwrap_or_else(|| v.span())))
            .collect()
    }

    fn string(&mut self, key: &str, item: Item, span: &Span, expected: &str) -> Option<String> {
        match item {
            Item::Str(s) => Some(s),
            Item::Int(n) => {
                self.err(
                    span,
                    ErrorKind::WrongType,
                    format!("`{key}`: found integer `{n}`, expected {expected}"),
                );
                None
            }
            Item::Bool(b) => {
                self.err(
                    span,
                    ErrorKind::WrongType,
                    format!("`{key}`: found boolean `{b}`, expected {expected}"),
                );
                None
            }
        }
    }
}

pub(super) fn parse(text: &str, file: &Path) -> Result<Checked, Error> {
    let mut cx = Cx {
        text,
        file,
        errors: Vec::new(),
    };
    // Syntax first, so that syntax errors are told apart from schema errors.
    if let Err(e) = text.parse::<toml::Table>() {
        let kind = if e.message().contains("duplicate key") {
            ErrorKind::DuplicateKey
        } else {
            ErrorKind::Syntax
        };
        cx.err(&e.span().unwrap_or(0..0), kind, first_line(e.message()));
        return Err(Error::Invalid {
            diagnostics: cx.errors,
        });
    }
    let raw: RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let msg = first_line(e.message());
            let kind = if msg.starts_with("unknown field") {
                ErrorKind::UnknownKey
            } else if msg.starts_with("missing field") {
                ErrorKind::MissingKey
            } else if msg.starts_with("invalid type") {
                ErrorKind::WrongType
            } else {
                ErrorKind::InvalidValue
            };
            cx.err(&e.span().unwrap_or(0..0), kind, msg);
            return Err(Error::Invalid {
                diagnostics: cx.errors,
            });
        }
    };
    let mut spans = Spans::default();
    let mut used_sets = HashSet::new();
    let rules = convert(&mut cx, &raw, &mut spans, &mut used_sets);
    if !cx.errors.is_empty() {
        return Err(sorted(cx.errors));
    }
    for p in &problems(&rules) {
        cx.err(
            &spans.of(p.at),
            ErrorKind::Semantic(p.kind),
            p.message.clone(),
        );
    }
    if !cx.errors.is_empty() {
        return Err(sorted(cx.errors));
    }
    let mut out: Vec<(Span, WarningKind, String)> = warnings(&rules)
        .into_iter()
        .map(|w| (spans.of(w.at), w.kind, w.message))
        .collect();
    for (index, set) in rules.sets.iter().enumerate() {
        if !used_sets.contains(set.name.as_str()) {
            out.push((
                spans.of(Site::Set { index, key: "name" }),
                WarningKind::Unused,
                format!("set `{}` is not used by any rule", set.name),
            ));
        }
    }
    out.sort_by_key(|w| w.0.start);
    let warnings = out
        .into_iter()
        .map(|(span, kind, message)| {
            let (line, column) = locate(text, &span);
            Warning {
                file: file.to_path_buf(),
                line,
                column,
                kind,
                message,
            }
        })
        .collect();
    Ok(Checked { rules, warnings })
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("").trim().to_string()
}

fn sorted(mut d: Vec<Diagnostic>) -> Error {
    d.sort_by_key(|d| (d.line, d.column));
    Error::Invalid { diagnostics: d }
}

fn convert(
    cx: &mut Cx<'_>,
    raw: &RawConfig,
    spans: &mut Spans,
    used: &mut HashSet<String>,
) -> RuleSet {
    let mut rules = RuleSet::default();
    for (name, port) in in_file_order(&raw.ports) {
        let mut keyed = Keyed::new(name.span());
        keyed.keys.insert("name", name.span());
        if let Some(p) = convert_port(cx, name.get_ref(), port.get_ref(), &mut keyed) {
            rules.ports.push(p);
            spans.ports.push(keyed);
        }
    }
    for (name, set) in in_file_order(&raw.sets) {
        let mut keyed = Keyed::new(name.span());
        keyed.keys.insert("name", name.span());
        let s = set.get_ref();
        keyed.key("prefixes", &s.prefixes);
        keyed.key("ports", &s.ports);
        let values = match (&s.prefixes, &s.ports) {
            (Some(p), None) => SetValues::Prefixes(prefixes(cx, "prefixes", p, None)),
            (None, Some(p)) => SetValues::Ports(ports(cx, "ports", p, None)),
            (Some(_), Some(p)) => {
                cx.err(
                    &p.span(),
                    ErrorKind::InvalidValue,
                    format!(
                        "set `{}` has both `prefixes` and `ports`; expected one of them",
                        name.get_ref()
                    ),
                );
                continue;
            }
            (None, None) => {
                cx.err(
                    &name.span(),
                    ErrorKind::MissingKey,
                    format!("set `{}` needs `prefixes` or `ports`", name.get_ref()),
                );
                continue;
            }
        };
        rules.sets.push(Set {
            name: name.get_ref().clone(),
            values,
        });
        spans.sets.push(keyed);
    }
    for (index, rule) in raw.rules.iter().enumerate() {
        let mut keyed = Keyed::new(rule.span());
        let r = convert_rule(cx, index, rule.get_ref(), &rules.sets, used, &mut keyed);
        rules.rules.push(r);
        spans.rules.push(keyed);
    }
    if let Some(d) = &raw.defaults {
        let mut keyed = Keyed::new(d.span());
        let d = d.get_ref();
        keyed.key("inbound", &d.inbound);
        keyed.key("outbound", &d.outbound);
        let mut pick = |v: &Option<Spanned<String>>, fallback: Action| match v {
            None => fallback,
            Some(s) => match s.get_ref().as_str() {
                "accept" => Action::Accept,
                "drop" => Action::Drop,
                other => {
                    cx.err(
                        &s.span(),
                        ErrorKind::InvalidValue,
                        format!("unknown default `{other}`; expected `accept` or `drop`"),
                    );
                    fallback
                }
            },
        };
        let base = Defaults::default();
        rules.defaults = Defaults {
            inbound: pick(&d.inbound, base.inbound),
            outbound: pick(&d.outbound, base.outbound),
        };
        spans.defaults = keyed;
    }
    for (name, chain) in in_file_order(&raw.chains) {
        let mut keyed = Keyed::new(name.span());
        keyed.keys.insert("name", name.span());
        let c = convert_chain(cx, name.get_ref(), chain.get_ref(), &mut keyed);
        rules.chains.push(c);
        spans.chains.push(keyed);
    }
    if let Some(ct) = &raw.conntrack {
        let mut keyed = Keyed::new(ct.span());
        rules.conntrack = Some(convert_conntrack(cx, ct.get_ref(), &mut keyed));
        spans.conntrack = keyed;
    }
    rules
}

fn convert_conntrack(cx: &mut Cx<'_>, c: &RawConntrack, keyed: &mut Keyed) -> Conntrack {
    keyed.key("zones", &c.zones);
    keyed.key("max_connections", &c.max_connections);
    keyed.key("table_full", &c.table_full);
    keyed.key("tcp_liberal", &c.tcp_liberal);
    keyed.key("timeouts", &c.timeouts);
    let mut out = Conntrack::default();
    if let Some(zones) = &c.zones {
        for (i, (name, ports)) in in_file_order(zones.get_ref()).into_iter().enumerate() {
            let mut zone = Zone {
                name: name.get_ref().clone(),
                id: u16::try_from(i + 1).unwrap_or(u16::MAX),
                ports: Vec::new(),
            };
            for (item, span) in cx.elements("zones", ports) {
                if let Some(p) = cx.string("zones", item, &span, "a port name") {
                    zone.ports.push(p);
                }
            }
            out.zones.push(zone);
        }
    }
    if let Some(m) = &c.max_connections {
        if let Some(n) = cx.int_in(m, 1, i64::from(u32::MAX), "max_connections") {
            out.config.max_connections = n as u32;
        }
    }
    if let Some(t) = &c.table_full {
        out.config.table_full = match t.get_ref().as_str() {
            "drop-new" => TableFull::DropNew,
            "untracked" => TableFull::Untracked,
            other => {
                cx.err(
                    &t.span(),
                    ErrorKind::InvalidValue,
                    format!("unknown `table_full` `{other}`; expected `drop-new` or `untracked`"),
                );
                TableFull::DropNew
            }
        };
    }
    if let Some(l) = &c.tcp_liberal {
        out.config.tcp_liberal = *l.get_ref();
    }
    if let Some(t) = &c.timeouts {
        for (name, value) in in_file_order(t.get_ref()) {
            let Some(slot) = out.config.timeouts.get_mut(name.get_ref()) else {
                cx.err(
                    &name.span(),
                    ErrorKind::UnknownKey,
                    format!(
                        "unknown timeout `{}`; expected one of {}",
                        name.get_ref(),
                        Timeouts::NAMES.join(", ")
                    ),
                );
                continue;
            };
            match duration(value.get_ref()) {
                Ok(d) => *slot = d,
                Err(e) => cx.err(
                    &value.span(),
                    ErrorKind::InvalidValue,
                    format!("timeout `{}`: {e}", name.get_ref()),
                ),
            }
        }
    }
    out
}

/// The longest timeout accepted (a year).
const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// A duration: an integer number of seconds, or a string with a unit: `500ms`, `30s`,
/// `5m`, `2h`, `5d`. At least 1 ms, at most a year.
fn duration(v: &Item) -> Result<Duration, String> {
    let d = match v {
        Item::Int(n) if *n >= 0 => Duration::from_secs(*n as u64),
        Item::Str(s) => {
            let s = s.trim();
            let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            let n: u64 = num.parse().map_err(|_| {
                format!("`{s}` is not a duration; expected e.g. 30, \"30s\", \"500ms\", \"5m\", \"2h\", \"5d\"")
            })?;
            let ms = match unit.trim() {
                "ms" => 1,
                "s" | "" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                u => {
                    return Err(format!(
                        "unknown unit `{u}` in `{s}`; expected ms, s, m, h or d"
                    ));
                }
            };
            Duration::from_millis(n.saturating_mul(ms))
        }
        Item::Int(n) => return Err(format!("{n} is negative")),
        Item::Bool(b) => return Err(format!("found boolean `{b}`, expected a duration")),
    };
    if d.is_zero() {
        return Err(
            "must be above 0 (a zero timeout would forget every connection at once)".into(),
        );
    }
    if d > MAX_TIMEOUT {
        return Err(format!("{d:?} is longer than a year"));
    }
    Ok(d)
}

/// Map entries in the order their keys appear in the file.
fn in_file_order<V>(map: &BTreeMap<Spanned<String>, V>) -> Vec<(&Spanned<String>, &V)> {
    let mut v: Vec<_> = map.iter().collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

fn convert_port(cx: &mut Cx<'_>, name: &str, p: &RawPort, keyed: &mut Keyed) -> Option<PolicyPort> {
    keyed.keys.insert("role", p.role.span());
    keyed.key("id", &p.id);
    keyed.key("representor", &p.representor);
    keyed.key("peer", &p.peer);
    let role = match p.role.get_ref().as_str() {
        "uplink" => PortRole::Uplink,
        "host" => PortRole::Host,
        "service" => PortRole::Service,
        other => {
            cx.err(
                &p.role.span(),
                ErrorKind::InvalidValue,
                format!("unknown port role `{other}`; expected `uplink`, `host` or `service`"),
            );
            return None;
        }
    };
    keyed.key("netdev", &p.netdev);
    let given = [
        p.id.as_ref().map(|v| ("id", v.span())),
        p.representor.as_ref().map(|v| ("representor", v.span())),
        p.netdev.as_ref().map(|v| ("netdev", v.span())),
    ];
    let mut given = given.into_iter().flatten();
    if let (Some((first, _)), Some((second, span))) = (given.next(), given.next()) {
        cx.err(
            &span,
            ErrorKind::InvalidValue,
            format!(
                "port `{name}` has both `{first}` and `{second}`; expected one of `id`, \
                 `representor` or `netdev`"
            ),
        );
        return None;
    }
    let id = match (&p.id, &p.representor, &p.netdev) {
        (Some(id), _, _) => PortRef::Doca(PortId(
            cx.int_in(id, 0, i64::from(u16::MAX), "port id")? as u16,
        )),
        (_, Some(r), _) => PortRef::Representor(r.get_ref().clone()),
        (_, _, Some(n)) => PortRef::Netdev(n.get_ref().clone()),
        (None, None, None) => PortRef::Representor(name.to_string()),
    };
    Some(PolicyPort {
        name: name.to_string(),
        role,
        id,
        peer: p.peer.as_ref().map(|s| s.get_ref().clone()),
    })
}

/// A set reference `@name` in a list.
fn set_ref(s: &str) -> Option<&str> {
    s.strip_prefix('@')
}

fn find_set<'s>(
    cx: &mut Cx<'_>,
    sets: &'s [Set],
    name: &str,
    span: &Span,
    want_prefixes: bool,
) -> Option<&'s SetValues> {
    let Some(set) = sets.iter().find(|s| s.name == name) else {
        cx.semantic(
            span,
            ProblemKind::UndefinedSet,
            format!("undefined set `{name}`"),
        );
        return None;
    };
    match (&set.values, want_prefixes) {
        (SetValues::Prefixes(_), true) | (SetValues::Ports(_), false) => Some(&set.values),
        (SetValues::Ports(_), true) => {
            cx.semantic(
                span,
                ProblemKind::WrongSetKind,
                format!("set `{name}` holds ports; expected a prefix set"),
            );
            None
        }
        (SetValues::Prefixes(_), false) => {
            cx.semantic(
                span,
                ProblemKind::WrongSetKind,
                format!("set `{name}` holds prefixes; expected a port set"),
            );
            None
        }
    }
}

/// Prefixes and, when `sets` is given, `@set` references.
fn prefixes(
    cx: &mut Cx<'_>,
    key: &str,
    v: &Spanned<Items>,
    sets: Option<(&[Set], &mut HashSet<String>)>,
) -> Vec<Prefix> {
    let mut out = Vec::new();
    let mut sets = sets;
    for (item, span) in cx.elements(key, v) {
        let Some(s) = cx.string(key, item, &span, "a prefix such as \"10.0.0.0/8\"") else {
            continue;
        };
        if let Some(name) = set_ref(&s) {
            match sets.as_mut() {
                Some((all, used)) => {
                    used.insert(name.to_string());
                    if let Some(SetValues::Prefixes(p)) = find_set(cx, all, name, &span, true) {
                        out.extend(p.iter().copied());
                    }
                }
                None => cx.err(
                    &span,
                    ErrorKind::InvalidValue,
                    format!("`{s}`: a set cannot refer to another set; expected a prefix"),
                ),
            }
            continue;
        }
        match s.parse::<Prefix>() {
            Ok(p) => out.push(p),
            Err(e) => cx.value_error(&span, &e),
        }
    }
    out
}

/// Ports, `lo-hi` ranges and, when `sets` is given, `@set` references.
fn ports(
    cx: &mut Cx<'_>,
    key: &str,
    v: &Spanned<Items>,
    sets: Option<(&[Set], &mut HashSet<String>)>,
) -> Vec<PortRange> {
    let mut out = Vec::new();
    let mut sets = sets;
    for (item, span) in cx.elements(key, v) {
        match item {
            Item::Int(n) => {
                if let Some(n) = cx.int_in(
                    &Spanned::new(span.clone(), n),
                    0,
                    i64::from(u16::MAX),
                    "port",
                ) {
                    out.push(PortRange::single(n as u16));
                }
            }
            Item::Str(s) => {
                if let Some(name) = set_ref(&s) {
                    match sets.as_mut() {
                        Some((all, used)) => {
                            used.insert(name.to_string());
                            if let Some(SetValues::Ports(p)) = find_set(cx, all, name, &span, false)
                            {
                                out.extend(p.iter().copied());
                            }
                        }
                        None => cx.err(
                            &span,
                            ErrorKind::InvalidValue,
                            format!(
                                "`{s}`: a set cannot refer to another set; expected a port or range"
                            ),
                        ),
                    }
                    continue;
                }
                match s.parse::<PortRange>() {
                    Ok(r) => out.push(r),
                    Err(e) => cx.value_error(&span, &e),
                }
            }
            Item::Bool(b) => cx.err(
                &span,
                ErrorKind::WrongType,
                format!(
                    "`{key}`: found boolean `{b}`, expected a port, a range \"lo-hi\" or \"@set\""
                ),
            ),
        }
    }
    out
}

fn convert_rule(
    cx: &mut Cx<'_>,
    index: usize,
    r: &RawRule,
    sets: &[Set],
    used: &mut HashSet<String>,
    keyed: &mut Keyed,
) -> Rule {
    keyed.key("name", &r.name);
    keyed.key("in_port", &r.in_port);
    keyed.key("family", &r.family);
    keyed.key("src", &r.src);
    keyed.key("dst", &r.dst);
    keyed.key("protocol", &r.protocol);
    keyed.key("src_port", &r.src_port);
    keyed.key("dst_port", &r.dst_port);
    keyed.key("icmp_type", &r.icmp_type);
    keyed.key("icmp_code", &r.icmp_code);
    keyed.key("tcp_flags", &r.tcp_flags);
    keyed.key("vlan", &r.vlan);
    keyed.key("state", &r.state);
    keyed.keys.insert("action", r.action.span());
    keyed.key("chain", &r.chain);
    keyed.key("count", &r.count);
    keyed.key("rate_limit", &r.rate_limit);
    if !keyed.keys.contains_key("name") {
        keyed.keys.insert("name", keyed.whole.clone());
    }
    // A missing chain is reported at `chain`, or at `action` without one.
    if !keyed.keys.contains_key("chain") {
        keyed.keys.insert("chain", r.action.span());
    }
    let mut m = RuleMatch::default();
    if let Some(v) = &r.in_port {
        for (item, span) in cx.elements("in_port", v) {
            if let Some(s) = cx.string("in_port", item, &span, "a port name") {
                m.in_ports.push(s);
            }
        }
    }
    if let Some(f) = &r.family {
        m.family = match f.get_ref().as_str() {
            "ipv4" => Some(Family::Ipv4),
            "ipv6" => Some(Family::Ipv6),
            other => {
                cx.err(
                    &f.span(),
                    ErrorKind::InvalidValue,
                    format!("unknown family `{other}`; expected `ipv4` or `ipv6`"),
                );
                None
            }
        };
    }
    if let Some(v) = &r.src {
        m.src = prefixes(cx, "src", v, Some((sets, used)));
    }
    if let Some(v) = &r.dst {
        m.dst = prefixes(cx, "dst", v, Some((sets, used)));
    }
    if let Some(p) = &r.protocol {
        m.protocol = match p.get_ref() {
            Item::Int(n) => cx
                .int_in(&Spanned::new(p.span(), *n), 0, 255, "protocol number")
                .map(|n| n as u8),
            Item::Str(s) => match protocol::by_name(s) {
                Some(n) => Some(n),
                None => {
                    cx.err(&p.span(), ErrorKind::InvalidValue, format!("unknown protocol `{s}`; expected `tcp`, `udp`, `icmp`, `icmpv6`, `gre` or a number 0..=255"));
                    None
                }
            },
            Item::Bool(b) => {
                cx.err(
                    &p.span(),
                    ErrorKind::WrongType,
                    format!("`protocol`: found boolean `{b}`, expected a protocol name or number"),
                );
                None
            }
        };
    }
    if let Some(v) = &r.src_port {
        m.src_ports = ports(cx, "src_port", v, Some((sets, used)));
    }
    if let Some(v) = &r.dst_port {
        m.dst_ports = ports(cx, "dst_port", v, Some((sets, used)));
    }
    match (&r.icmp_type, &r.icmp_code) {
        (Some(t), code) => {
            let t = cx.int_in(t, 0, 255, "ICMP type");
            let code = match code {
                Some(c) => cx.int_in(c, 0, 255, "ICMP code").map(Some),
                None => Some(None),
            };
            if let (Some(t), Some(code)) = (t, code) {
                m.icmp = Some(IcmpMatch {
                    icmp_type: t as u8,
                    code: code.map(|c| c as u8),
                });
            }
        }
        (None, Some(c)) => cx.err(
            &c.span(),
            ErrorKind::MissingKey,
            "`icmp_code` needs `icmp_type`",
        ),
        (None, None) => {}
    }
    if let Some(v) = &r.tcp_flags {
        m.tcp_flags = tcp_flags(cx, v);
    }
    if let Some(v) = &r.vlan {
        m.vlan = cx.int_in(v, 0, 4095, "VLAN id").map(|n| n as u16);
    }
    if let Some(v) = &r.state {
        let mut set = StateSet::EMPTY;
        for (item, span) in cx.elements("state", v) {
            let Some(name) = cx.string("state", item, &span, "a connection state") else {
                continue;
            };
            match name.parse::<CtState>() {
                Ok(st) => set = set.with(st),
                Err(e) => cx.err(&span, ErrorKind::InvalidValue, e),
            }
        }
        m.state = Some(set);
    }
    let action = match (r.action.get_ref().as_str(), &r.chain) {
        ("accept", None) => Action::Accept,
        ("drop", None) => Action::Drop,
        ("chain", Some(c)) => Action::Chain(c.get_ref().clone()),
        ("chain", None) => {
            cx.err(
                &r.action.span(),
                ErrorKind::MissingKey,
                "`action = \"chain\"` needs `chain = \"NAME\"`",
            );
            Action::Drop
        }
        ("accept" | "drop", Some(c)) => {
            cx.semantic(
                &c.span(),
                ProblemKind::InvalidAction,
                format!(
                    "`chain` goes with `action = \"chain\"`, not `{}`",
                    r.action.get_ref()
                ),
            );
            Action::Drop
        }
        ("count", _) => {
            cx.err(&r.action.span(), ErrorKind::InvalidValue, "`count` is a modifier, not an action: write `count = true` beside `action = \"accept\"` (or drop, chain)");
            Action::Drop
        }
        ("rate-limit" | "rate_limit" | "ratelimit", _) => {
            cx.err(&r.action.span(), ErrorKind::InvalidValue, "rate limiting is a modifier, not an action: write `rate_limit = { pps = N }` beside `action = \"accept\"` (or chain)");
            Action::Drop
        }
        (other, _) => {
            cx.err(
                &r.action.span(),
                ErrorKind::InvalidValue,
                format!("unknown action `{other}`; expected `accept`, `drop` or `chain`"),
            );
            Action::Drop
        }
    };
    let rate_limit = r.rate_limit.as_ref().and_then(|v| rate_limit(cx, v));
    Rule {
        name: r
            .name
            .as_ref()
            .map_or_else(|| format!("rule-{}", index + 1), |n| n.get_ref().clone()),
        matches: m,
        action,
        count: r.count.as_ref().is_some_and(|c| *c.get_ref()),
        rate_limit,
    }
}

fn tcp_flags(cx: &mut Cx<'_>, v: &Spanned<Items>) -> Option<TcpFlags> {
    let (mut value, mut mask) = (0u8, 0u8);
    let mut ok = true;
    for (item, span) in cx.elements("tcp_flags", v) {
        let Some(s) = cx.string(
            "tcp_flags",
            item,
            &span,
            "a flag name such as \"syn\" or \"!ack\"",
        ) else {
            ok = false;
            continue;
        };
        let (clear, name) = match s.strip_prefix('!') {
            Some(n) => (true, n),
            None => (false, s.as_str()),
        };
        let Some(&(_, bit)) = tcp_flag::NAMES
            .iter()
            .find(|(n, _)| *n == name.to_ascii_lowercase())
        else {
            cx.err(&span, ErrorKind::InvalidValue, format!("unknown TCP flag `{s}`; expected one of fin, syn, rst, psh, ack, urg, ece, cwr, each optionally prefixed by `!`"));
            ok = false;
            continue;
        };
        if mask & bit != 0 {
            cx.err(
                &span,
                ErrorKind::InvalidValue,
                format!("TCP flag `{name}` is given twice"),
            );
            ok = false;
            continue;
        }
        mask |= bit;
        if !clear {
            value |= bit;
        }
    }
    ok.then(|| TcpFlags::new(value, mask))
}

fn rate_limit(cx: &mut Cx<'_>, v: &Spanned<RawRateLimit>) -> Option<RateLimit> {
    let r = v.get_ref();
    let rate = match (&r.pps, &r.bps) {
        (Some(p), None) => Rate::PacketsPerSecond(cx.int_in(p, 1, i64::MAX, "rate")? as u64),
        (None, Some(b)) => Rate::BitsPerSecond(cx.int_in(b, 1, i64::MAX, "rate")? as u64),
        (Some(_), Some(b)) => {
            cx.err(
                &b.span(),
                ErrorKind::InvalidValue,
                "a rate limit has `pps` or `bps`, not both",
            );
            return None;
        }
        (None, None) => {
            cx.err(
                &v.span(),
                ErrorKind::MissingKey,
                "a rate limit needs `pps` (packets per second) or `bps` (bits per second)",
            );
            return None;
        }
    };
    let mut limit = RateLimit::per_second(rate);
    if let Some(b) = &r.burst {
        limit.burst = cx.int_in(b, 1, i64::MAX, "burst")? as u64;
    } else if limit.burst == 0 {
        limit.burst = 1;
    }
    Some(limit)
}

/// Hops of a path: one string `"a -> b -> c"` or an array of names.
fn path(cx: &mut Cx<'_>, key: &'static str, v: &Spanned<Items>, keyed: &mut Keyed) -> Vec<Hop> {
    let mut hops = Vec::new();
    let mut spans = Vec::new();
    let items = v.get_ref();
    if !items.is_array {
        if let Some((Item::Str(s), _)) = items.items.first() {
            // Place each hop inside the string when the source is the plain
            // quoted text; otherwise at the string.
            let span = v.span();
            let raw = cx.text.get(span.clone()).unwrap_or("");
            let inner = span.start + 1;
            let exact = raw.len() == s.len() + 2;
            let mut offset = 0;
            for part in s.split("->") {
                let lead = part.len() - part.trim_start().len();
                let start = if exact {
                    inner + offset + lead
                } else {
                    span.start
                };
                spans.push(start..start + part.trim().len());
                hops.push(hop(part));
                offset += part.len() + 2;
            }
            keyed.hops.insert(key, spans);
            return hops;
        }
    }
    for (item, span) in cx.elements(key, v) {
        if let Some(s) = cx.string(key, item, &span, "a hop name") {
            hops.push(hop(&s));
            spans.push(span);
        }
    }
    keyed.hops.insert(key, spans);
    hops
}

fn hop(s: &str) -> Hop {
    match s.trim() {
        FIREWALL_HOP => Hop::Firewall,
        p => Hop::Port(p.to_string()),
    }
}

fn convert_chain(cx: &mut Cx<'_>, name: &str, c: &RawChain, keyed: &mut Keyed) -> Chain {
    keyed.keys.insert("path", c.path.span());
    keyed.key("reverse", &c.reverse);
    let forward = path(cx, "path", &c.path, keyed);
    let reverse = match &c.reverse {
        None => None,
        Some(v) => match v.get_ref().items.as_slice() {
            [(Item::Bool(false), None)] => None,
            [(Item::Bool(true), None)] => {
                let mut rev = forward.clone();
                rev.reverse();
                keyed.hops.insert("reverse", vec![v.span(); rev.len()]);
                Some(rev)
            }
            _ => Some(path(cx, "reverse", v, keyed)),
        },
    };
    Chain {
        name: name.to_string(),
        path: forward,
        reverse,
    }
}
