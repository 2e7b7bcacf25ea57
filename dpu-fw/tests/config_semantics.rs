//! Config behaviour beyond single errors: warnings, defaults, equivalent
//! spellings, several errors at once, and the builder agreeing with TOML.

use dpu_fw::config::{self, ErrorKind};
use dpu_fw::model::{
    Action, Defaults, PortRange, PortRef, PortRole, ProblemKind, Rule, RuleSet, WarningKind,
    protocol::TCP,
};

const PORTS: &str = "[ports.p0]\nrole = \"uplink\"\n[ports.h]\nrole = \"host\"\n";

fn ok(text: &str) -> config::Checked {
    match config::parse(text, "t.toml") {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn shadowed_rule_is_a_warning_at_the_later_rule() {
    let text = format!(
        "{PORTS}[[rules]]\nname = \"web\"\nprotocol = \"tcp\"\ndst_port = \"0-1023\"\naction = \"accept\"\n\
         [[rules]]\nname = \"https\"\nprotocol = \"tcp\"\ndst_port = 443\nsrc = \"10.0.0.0/8\"\naction = \"drop\"\n"
    );
    let c = ok(&text);
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    let w = &c.warnings[0];
    assert_eq!(w.kind, WarningKind::Shadowed { by: 0 });
    assert_eq!((w.line, w.column), (11, 8));
    assert!(
        w.to_string()
            .starts_with("t.toml:11:8: warning: rule `https`"),
        "{w}"
    );
}

#[test]
fn union_of_earlier_rules_is_not_reported() {
    // Documented limit: containment in ONE earlier rule only.
    let text = format!(
        "{PORTS}[[rules]]\nsrc = \"10.0.0.0/9\"\naction = \"accept\"\n\
         [[rules]]\nsrc = \"10.128.0.0/9\"\naction = \"accept\"\n\
         [[rules]]\nsrc = \"10.0.0.0/8\"\naction = \"drop\"\n"
    );
    assert!(ok(&text).warnings.is_empty());
}

#[test]
fn unused_sets_and_chains_are_warnings() {
    let text =
        format!("{PORTS}[sets.s]\nports = [1]\n[chains.c]\npath = \"p0 -> firewall -> h\"\n");
    let c = ok(&text);
    let kinds: Vec<_> = c.warnings.iter().map(|w| (w.kind, w.line)).collect();
    assert_eq!(
        kinds,
        vec![(WarningKind::Unused, 5), (WarningKind::Unused, 7)]
    );
}

#[test]
fn defaults_and_implicit_values() {
    let c = ok(PORTS);
    assert_eq!(c.rules.defaults, Defaults::default());
    assert_eq!(c.rules.defaults.inbound, Action::Drop);
    assert_eq!(
        c.rules.port("h").unwrap().id,
        PortRef::Representor("h".into())
    );
    let c = ok(&format!(
        "{PORTS}[[rules]]\naction = \"drop\"\n[[rules]]\naction = \"accept\"\n"
    ));
    assert_eq!(c.rules.rules[0].name, "rule-1");
    assert_eq!(c.rules.rules[1].name, "rule-2");
    // The second rule is shadowed by the first (match-all).
    assert_eq!(c.warnings[0].kind, WarningKind::Shadowed { by: 0 });
}

#[test]
fn single_value_and_array_spellings_agree() {
    let one = ok(&format!(
        "{PORTS}[[rules]]\nin_port = \"p0\"\nsrc = \"10.0.0.0/8\"\nprotocol = \"tcp\"\ndst_port = 80\ntcp_flags = \"syn\"\naction = \"accept\"\n\
         [chains.c]\npath = \"p0->firewall ->h\"\n[[rules]]\nname = \"x\"\naction = \"chain\"\nchain = \"c\"\n"
    ));
    let many = ok(&format!(
        "{PORTS}[[rules]]\nin_port = [\"p0\"]\nsrc = [\"10.0.0.0/8\"]\nprotocol = 6\ndst_port = [\"80\"]\ntcp_flags = [\"syn\"]\naction = \"accept\"\n\
         [chains.c]\npath = [\"p0\", \"firewall\", \"h\"]\n[[rules]]\nname = \"x\"\naction = \"chain\"\nchain = \"c\"\n"
    ));
    assert_eq!(one.rules, many.rules);
}

#[test]
fn every_error_is_reported_in_file_order() {
    let text = format!(
        "{PORTS}[[rules]]\naction = \"accept\"\nsrc = \"@nope\"\nvlan = 5000\n[[rules]]\naction = \"nope\"\n"
    );
    let err = config::parse(&text, "t.toml").unwrap_err();
    let got: Vec<_> = err.diagnostics().iter().map(|d| (d.kind, d.line)).collect();
    assert_eq!(
        got,
        vec![
            (ErrorKind::Semantic(ProblemKind::UndefinedSet), 7),
            (ErrorKind::Semantic(ProblemKind::OutOfRange), 8),
            (ErrorKind::InvalidValue, 10),
        ]
    );
    assert_eq!(err.to_string().lines().count(), 3);
}

#[test]
fn mixed_family_sets() {
    let sets = "[sets.m]\nprefixes = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n";
    // A family-free rule may use a mixed set ...
    let c = ok(&format!(
        "{PORTS}{sets}[[rules]]\nsrc = \"@m\"\naction = \"accept\"\n"
    ));
    assert_eq!(c.rules.rules[0].matches.src.len(), 2);
    // ... an IPv6 rule may not.
    let err = config::parse(
        &format!("{PORTS}{sets}[[rules]]\nfamily = \"ipv6\"\nsrc = \"@m\"\naction = \"accept\"\n"),
        "t.toml",
    )
    .unwrap_err();
    let d = &err.diagnostics()[0];
    assert_eq!(d.kind, ErrorKind::Semantic(ProblemKind::FamilyMismatch));
    assert_eq!((d.line, d.column), (9, 7));
    assert!(
        d.message.contains("IPv4 prefix 10.0.0.0/8 in an IPv6 rule"),
        "{}",
        d.message
    );
}

#[test]
fn missing_file_is_a_read_error() {
    let err = config::load("/nonexistent/dpu-fw.toml").unwrap_err();
    assert!(matches!(err, config::Error::Read { .. }));
    assert!(err.diagnostics().is_empty());
}

#[test]
fn builder_and_toml_agree() {
    let toml = ok(&format!(
        "{PORTS}[sets.web]\nports = [80, 443]\n[[rules]]\nname = \"web\"\nin_port = \"p0\"\nprotocol = \"tcp\"\n\
         dst_port = \"@web\"\naction = \"accept\"\ncount = true\n[defaults]\ninbound = \"drop\"\noutbound = \"drop\"\n"
    ));
    let built = RuleSet::builder()
        .port("p0", PortRole::Uplink, PortRef::Representor("p0".into()))
        .port("h", PortRole::Host, PortRef::Representor("h".into()))
        .port_set("web", [PortRange::single(80), PortRange::single(443)])
        .rule(
            Rule::builder("web")
                .in_port("p0")
                .protocol(TCP)
                .dst_port_set("web")
                .count(),
        )
        .defaults(Action::Drop, Action::Drop)
        .build()
        .unwrap();
    assert_eq!(toml.rules, built);
}

#[test]
fn builder_reports_problems() {
    let err = RuleSet::builder()
        .rule(Rule::builder("a").src_set("missing"))
        .rule(
            Rule::builder("a")
                .dst_ports([PortRange::single(1)])
                .action(Action::Chain("x".into())),
        )
        .build()
        .unwrap_err();
    let kinds: Vec<_> = err.problems.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        vec![
            ProblemKind::UndefinedSet,
            ProblemKind::DuplicateName,
            ProblemKind::ProtocolRequired,
            ProblemKind::UndefinedChain,
        ]
    );
}

#[test]
fn import_options_allow_protocol_wildcard_port_rules() {
    use dpu_fw::model::CheckOptions;
    let rule = || Rule::builder("dns").dst_ports([PortRange::single(53)]);
    let strict = RuleSet::builder().rule(rule()).build().unwrap_err();
    assert_eq!(strict.problems[0].kind, ProblemKind::ProtocolRequired);
    let rs = RuleSet::builder()
        .check_options(CheckOptions::IMPORT)
        .rule(rule())
        .rule(
            Rule::builder("icmp-any-port")
                .protocol(1)
                .dst_ports([PortRange::ANY]),
        )
        .build()
        .unwrap();
    assert_eq!(rs.rules.len(), 2);
    // Still refused on import: a real port match with a port-less protocol.
    let err = RuleSet::builder()
        .check_options(CheckOptions::IMPORT)
        .rule(
            Rule::builder("x")
                .protocol(1)
                .dst_ports([PortRange::single(1)]),
        )
        .build()
        .unwrap_err();
    assert_eq!(err.problems[0].kind, ProblemKind::ProtocolRequired);
}

#[test]
fn conntrack_section_and_state_matches() {
    use core::time::Duration;
    use dpu_fw::conntrack::{CtState, StateSet, TableFull};
    let c = ok(r#"
[ports.p0]
role = "uplink"
[ports.pf0hpf]
role = "host"
[ports.svc]
role = "service"

[conntrack]
max_connections = 5000
table_full = "untracked"
tcp_liberal = true
zones = { edge = ["p0", "pf0hpf"] }
timeouts = { tcp_established = "2h", udp = 45, icmp = "500ms" }

[[rules]]
name = "return"
state = ["established", "related"]
action = "accept"

[[rules]]
name = "bad"
in_port = "p0"
state = "invalid"
action = "drop"
"#);
    let rules = c.rules;
    let ct = rules.conntrack.as_ref().unwrap();
    assert_eq!(ct.config.max_connections, 5000);
    assert_eq!(ct.config.table_full, TableFull::Untracked);
    assert!(ct.config.tcp_liberal);
    assert_eq!(
        ct.config.timeouts.tcp_established,
        Duration::from_secs(7200)
    );
    assert_eq!(ct.config.timeouts.udp, Duration::from_secs(45));
    assert_eq!(ct.config.timeouts.icmp, Duration::from_millis(500));
    // Untouched timeouts keep Linux's defaults.
    assert_eq!(ct.config.timeouts.tcp_close, Duration::from_secs(10));
    assert_eq!(ct.zones.len(), 1);
    assert_eq!((ct.zones[0].name.as_str(), ct.zones[0].id), ("edge", 1));
    assert_eq!(rules.zone_of("p0"), Some(1));
    assert_eq!(
        rules.zone_of("svc"),
        None,
        "a port in no zone is not tracked"
    );
    let want: StateSet = [CtState::Established, CtState::Related]
        .into_iter()
        .collect();
    assert_eq!(rules.rules[0].matches.state, Some(want));
    assert_eq!(
        rules.rules[1].matches.state,
        Some(StateSet::EMPTY.with(CtState::Invalid))
    );
    // An empty section tracks every port in zone 0 with the defaults.
    let c = ok("[ports.p0]\nrole = \"uplink\"\n[conntrack]\n");
    assert_eq!(c.rules.zone_of("p0"), Some(0));
    assert_eq!(
        c.rules.conntrack.unwrap().config,
        dpu_fw::conntrack::CtConfig::default()
    );
}
