//! `dpu-fw simulate`: run packets through the installed plan on the sw backend.
//!
//! With no arguments: the built-in demo policy and service chains (`dpu_fw::demo`,
//! the text of `examples/firewall.toml`) against built-in synthetic traffic. With
//! `--config`, a policy file; with `--pcap`, packets from a capture (entering at
//! `--port`); with `--out`, the packets that passed are written to a capture.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use doca_flow::Verdict;
use doca_flow::packet::Headers;
use std::sync::Arc;

use dpu_fw::compile::Plan;
use dpu_fw::conntrack::CtPacket;
use dpu_fw::firewall::{Firewall, Offloading};
use dpu_fw::install::Installed;
use dpu_fw::model::RuleSet;
use dpu_fw::pcap::{PcapReader, PcapWriter};

use super::compile::{Format, TargetArg, compile_with_progress, load_rules, print_pipeline};

/// Arguments of `dpu-fw simulate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A TOML policy (default: the built-in demo policy).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Packets to run, from a pcap or pcapng file (default: the built-in demo traffic, which needs
    /// the demo policy's ports).
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// The port the pcap's packets enter at (default: the policy's first uplink).
    #[arg(long)]
    port: Option<String>,
    /// Write the packets that passed to this pcap file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// What to compile for.
    #[arg(long, value_enum, default_value = "software")]
    target: TargetArg,
    /// What runs the pipes: the software backend, or (with `--target bluefield`) the
    /// hardware backend on the DOCA Flow contract emulator, which checks DOCA's rules on
    /// every call (builds with feature `doca-emu`; root, for the DPDK EAL it runs on).
    #[arg(long, value_enum, default_value = "sw")]
    backend: BackendArg,
}

/// `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BackendArg {
    /// The software backend.
    Sw,
    /// The hardware backend on the DOCA Flow contract emulator.
    Hw,
}

/// Installs plans on the backend `--backend` names.
struct Backends {
    #[cfg(feature = "doca-emu")]
    eal: Option<doca_flow::dpdk::Eal>,
}

impl Backends {
    fn new(arg: BackendArg, target: TargetArg) -> anyhow::Result<Backends> {
        if arg == BackendArg::Sw {
            return Ok(Backends {
                #[cfg(feature = "doca-emu")]
                eal: None,
            });
        }
        if !matches!(target, TargetArg::Bluefield) {
            bail!(
                "--backend hw runs a BlueField's pipes: use it with --target bluefield \
                 (software plans take ACL priorities no DOCA release has)"
            );
        }
        #[cfg(feature = "doca-emu")]
        {
            doca_flow::backend::emu::reset();
            let eal = doca_flow::dpdk::Eal::init_without_devices("dpu-fw-simulate").context(
                "--backend hw: the hardware backend runs on a DPDK EAL, which needs root",
            )?;
            Ok(Backends { eal: Some(eal) })
        }
        #[cfg(not(feature = "doca-emu"))]
        bail!(
            "--backend hw runs the hardware backend on the DOCA Flow contract emulator, which \
             this build lacks: build with `--features doca-emu`"
        )
    }

    /// Installs `plan` where the pipes run.
    fn install(&self, plan: &Plan) -> anyhow::Result<Installed> {
        #[cfg(feature = "doca-emu")]
        if let Some(eal) = &self.eal {
            return Installed::with_backend(plan, doca_flow::HwBackend::new(eal))
                .context("installing the plan through the hardware backend (emulated)");
        }
        Installed::new(plan).context("installing the plan on the sw backend")
    }

    fn name(&self) -> &'static str {
        #[cfg(feature = "doca-emu")]
        if self.eal.is_some() {
            return "the hardware backend on the DOCA Flow contract emulator";
        }
        "the sw backend"
    }

    /// The DOCA rules the emulator saw broken (none on the sw backend).
    fn violations(&self) -> Vec<String> {
        #[cfg(feature = "doca-emu")]
        if self.eal.is_some() {
            return doca_flow::backend::emu::violations();
        }
        Vec::new()
    }
}

struct Packet {
    in_port: String,
    frame: Vec<u8>,
    time: Duration,
    note: Option<&'static str>,
}

#[derive(Default, Clone, Copy)]
struct PortTally {
    passed: u64,
    dropped: u64,
}

fn verdict_name(plan: &Plan, v: Verdict) -> String {
    match v {
        Verdict::Port(p) => format!("-> {}", plan.port_name(p).unwrap_or("?")),
        Verdict::Drop(r) => format!("drop ({r:?})"),
        Verdict::Rss { queue } => format!("-> software (queue {queue})"),
        Verdict::Kernel => "-> kernel".into(),
        Verdict::Miss { queue } => format!("-> software (miss, queue {queue})"),
        _ => format!("{v:?}"),
    }
}

fn passed(v: Verdict) -> bool {
    !matches!(v, Verdict::Drop(_))
}

/// Runs `dpu-fw simulate`.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let rules: RuleSet = match &args.config {
        Some(path) => load_rules(path, Format::Toml)?,
        None => {
            println!(
                "simulate: built-in demo policy ({}) and synthetic traffic",
                dpu_fw::demo::POLICY_FILE
            );
            dpu_fw::demo::policy()
        }
    };
    let packets: Vec<Packet> = match &args.pcap {
        Some(path) => read_pcap(path, &rules, args.port.as_deref())?,
        None => {
            if args.config.is_some() {
                bail!("--config needs --pcap: the built-in traffic is made for the demo policy");
            }
            dpu_fw::demo::traffic_described()
                .into_iter()
                .enumerate()
                .map(|(i, p)| Packet {
                    in_port: p.in_port.to_string(),
                    frame: p.frame,
                    time: Duration::from_millis(i as u64),
                    note: Some(p.note),
                })
                .collect()
        }
    };
    let backends = Backends::new(args.backend, args.target)?;
    let plan = compile_with_progress(&rules, args.target)?;
    println!();
    print_pipeline(&plan);
    println!();
    // On the BlueField target a stateful policy runs as a BlueField would: the hardware
    // pipes in front, the software path behind them offloading established connections
    // to the CT pipe (dpu_fw::firewall::Offloading).
    let offload = matches!(args.target, TargetArg::Bluefield) && rules.is_stateful();
    let mut path = if offload {
        let sw_plan = dpu_fw::compile::compile(&rules, &dpu_fw::compile::Target::software())
            .context("compiling the software path")?;
        let soft = Firewall::new(
            Arc::new(Installed::new(&sw_plan).context("installing the software path")?),
            &rules,
            None,
        );
        let hw = backends.install(&plan)?;
        println!(
            "the bluefield plan runs on {} in front of the software path, which \
             offloads established connections to its CT pipe (marked [hw] below: decided in \
             the pipes)",
            backends.name()
        );
        println!();
        Path::Offload(Box::new(Offloading::new(hw, soft, 30)))
    } else {
        let installed = backends.install(&plan)?;
        if args.backend == BackendArg::Hw {
            println!("the plan runs on {}", backends.name());
            println!();
        }
        Path::Soft(Box::new(Firewall::new(Arc::new(installed), &rules, None)))
    };
    let mut in_hardware = 0usize;
    let mut offloads = 0usize;
    // The stateful contract: the reference tracker, then the oracle. A new connection
    // is stored when the packet passed (meters included, which the oracle leaves out).
    let mut reference = rules
        .conntrack
        .as_ref()
        .map(|ct| dpu_fw::conntrack::reference::Reference::new(ct.config));
    let mut writer = match &args.out {
        Some(path) => Some(PcapWriter::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ))?),
        None => None,
    };
    let mut ports: Vec<PortTally> = vec![PortTally::default(); plan.ports.len()];
    let mut rule_tally: Vec<PortTally> = vec![PortTally::default(); rules.rules.len()];
    let mut default_tally = PortTally::default();
    let mut mismatches = 0usize;
    let show = packets.iter().all(|p| p.note.is_some());
    if show {
        println!("packets:");
        println!(
            "  {:<7} {:<12} {:<18} {:<24} what",
            "port", "state", "rule", "verdict"
        );
    }
    for p in &packets {
        let Some(id) = plan.port_id(&p.in_port) else {
            bail!(
                "packet enters at port `{}`, which the policy does not have",
                p.in_port
            );
        };
        let slot = plan.ports.iter().position(|q| q.id == id).unwrap_or(0);
        let now = u64::try_from(p.time.as_nanos()).unwrap_or(u64::MAX);
        let mut frame = p.frame.clone();
        let headers = Headers::parse(&frame);
        let expected = match (&mut reference, rules.zone_of(&p.in_port)) {
            (Some(r), Some(zone)) => {
                CtPacket::parse(&frame, &headers).map(|c| r.track(zone, &c, now))
            }
            _ => None,
        };
        let want_state = expected.as_ref().map(|e| e.0);
        let want = dpu_fw::oracle::evaluate_tracked(&rules, &p.in_port, &headers, want_state);
        let (got, hw) = match &mut path {
            Path::Soft(fw) => {
                fw.installed().set_time_ns(now);
                (fw.process(id, &mut frame, now), false)
            }
            Path::Offload(o) => {
                o.software().installed().set_time_ns(now);
                let r = o.process(id, &mut frame, now)?;
                if r.offloaded {
                    offloads += 1;
                    // The offloaded connection is no longer window-checked (its packets
                    // go through hardware unseen); the reference follows.
                    if let (Some(r), Some(zone)) = (&mut reference, rules.zone_of(&p.in_port)) {
                        if let Some(c) = CtPacket::parse(&p.frame, &headers) {
                            r.mark_offloaded(zone, &c.tuple, now);
                        }
                    }
                }
                (r.processed, r.in_hardware)
            }
        };
        in_hardware += usize::from(hw);
        let d = got.decision;
        let mut ok = d.rule.map(|r| r as usize) == want.rule && got.state == want_state;
        if let (Some(r), Some((_, Some(pending)))) = (&mut reference, expected) {
            if passed(d.outcome.verdict) {
                // Stored by the reference exactly when the fast table had room.
                ok &= r.commit(pending, now) != got.table_full;
            }
        }
        if !ok {
            mismatches += 1;
        }
        let pass = got.passed();
        let tally = match d.rule {
            Some(r) => &mut rule_tally[r as usize],
            None => &mut default_tally,
        };
        if pass {
            tally.passed += 1;
            ports[slot].passed += 1;
            if let Some(w) = writer.as_mut() {
                w.write_packet(p.time, &frame)?;
            }
        } else {
            tally.dropped += 1;
            ports[slot].dropped += 1;
        }
        if let Some(note) = p.note {
            let rule = d.rule.map_or("(default)".to_string(), |r| {
                rules.rules[r as usize].name.clone()
            });
            let state = got.state.map_or("-", |s| s.name());
            let mut verdict = if got.table_full {
                "drop (table full)".to_string()
            } else {
                verdict_name(&plan, d.outcome.verdict)
            };
            if hw {
                verdict.push_str(" [hw]");
            }
            println!(
                "  {:<7} {:<12} {:<18} {:<24} {}{}",
                p.in_port,
                state,
                rule,
                verdict,
                note,
                if ok {
                    ""
                } else {
                    "   <-- differs from the oracle"
                }
            );
        }
    }
    if let Some(w) = writer.as_mut() {
        w.flush()?;
    }
    let counters = path.rule_counters();
    println!();
    println!("per rule:");
    println!(
        "  {:<20} {:<18} {:>8} {:>8} {:>10} {:>10}",
        "rule", "action", "passed", "dropped", "counted", "bytes"
    );
    for (i, r) in rules.rules.iter().enumerate() {
        let t = rule_tally[i];
        let (counted, bytes) = if r.count {
            (
                counters[i].packets.to_string(),
                counters[i].bytes.to_string(),
            )
        } else {
            ("-".to_string(), "-".to_string())
        };
        let mut action = r.action.to_string();
        if r.rate_limit.is_some() {
            action.push_str(" (policed)");
        }
        println!(
            "  {:<20} {:<18} {:>8} {:>8} {:>10} {:>10}",
            r.name, action, t.passed, t.dropped, counted, bytes
        );
    }
    println!(
        "  {:<20} {:<18} {:>8} {:>8}",
        "(defaults)", "", default_tally.passed, default_tally.dropped
    );
    println!();
    println!("per ingress port:");
    println!("  {:<12} {:>8} {:>8}", "port", "passed", "dropped");
    for (p, t) in plan.ports.iter().zip(&ports) {
        println!("  {:<12} {:>8} {:>8}", p.name, t.passed, t.dropped);
    }
    if offload {
        println!();
        println!(
            "{in_hardware} packets decided in the hardware pipes, {} in software; \
             {offloads} connections offloaded to the CT pipe",
            packets.len() - in_hardware
        );
    }
    if let Some(ct) = path.tracker() {
        let last = packets.last().map_or(0, |p| p.time.as_nanos() as u64);
        let s = ct.stats();
        println!();
        println!(
            "connections: {} open at the end, {} opened, {} expired, {} refused (table full); \
             {} invalid and {} related packets",
            ct.connections(last).len(),
            s.created,
            s.expired,
            s.table_full,
            s.invalid,
            s.related
        );
    }
    println!();
    // Teardown is part of DOCA's contract too: the emulator checks it.
    drop(path);
    let broken = backends.violations();
    if !broken.is_empty() {
        println!(
            "the DOCA Flow emulator saw {} broken DOCA rules:",
            broken.len()
        );
        for v in &broken {
            println!("  {v}");
        }
        return Ok(ExitCode::FAILURE);
    }
    if mismatches == 0 {
        println!(
            "{} packets; every decision equals the oracle's",
            packets.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "{} packets; {mismatches} decisions differ from the oracle",
            packets.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// What runs the packets: the software path, or the BlueField's hardware path in front
/// of it.
enum Path {
    Soft(Box<Firewall>),
    Offload(Box<Offloading>),
}

impl Path {
    /// Per-rule counters, summed over the hardware and software pipes.
    fn rule_counters(&self) -> Vec<doca_flow::Counters> {
        match self {
            Path::Soft(fw) => fw.installed().rule_counters(),
            Path::Offload(o) => {
                let mut c = o.software().installed().rule_counters();
                for (a, b) in c.iter_mut().zip(o.hardware().rule_counters()) {
                    a.packets += b.packets;
                    a.bytes += b.bytes;
                }
                c
            }
        }
    }

    fn tracker(&self) -> Option<&Arc<dpu_fw::conntrack::Tracker>> {
        match self {
            Path::Soft(fw) => fw.tracker(),
            Path::Offload(o) => o.software().tracker(),
        }
    }
}

fn read_pcap(
    path: &std::path::Path,
    rules: &RuleSet,
    port: Option<&str>,
) -> anyhow::Result<Vec<Packet>> {
    let in_port = match port {
        Some(p) => {
            if rules.port(p).is_none() {
                let names: Vec<&str> = rules.ports.iter().map(|p| p.name.as_str()).collect();
                bail!(
                    "--port {p}: the policy has no such port; its ports are {}",
                    names.join(", ")
                );
            }
            p.to_string()
        }
        None => rules
            .ports
            .iter()
            .find(|p| p.role == dpu_fw::model::PortRole::Uplink)
            .or(rules.ports.first())
            .map(|p| p.name.clone())
            .context("the policy has no ports")?,
    };
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = PcapReader::new(std::io::BufReader::new(file))
        .with_context(|| format!("{}: not a pcap or pcapng file", path.display()))?;
    let mut out = Vec::new();
    while let Some(p) = reader
        .next_packet()
        .with_context(|| format!("{}: packet {}", path.display(), out.len() + 1))?
    {
        out.push(Packet {
            in_port: in_port.clone(),
            frame: p.data,
            time: p.timestamp,
            note: None,
        });
    }
    Ok(out)
}
