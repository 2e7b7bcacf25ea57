//! `dpu-fw run`: forward real packets through the policy (feature `dpdk`).
//!
//! Starts the EAL, opens the policy's ports, compiles and installs the
//! policy on the software backend once per worker, and runs the dataplane.
//! Prints `READY` once every port is up. Reloads on SIGHUP and when the
//! policy file changes (a reload that fails keeps the old policy and logs
//! why); stops cleanly on SIGINT / SIGTERM and prints the final counters.
//! Serves Prometheus metrics on `--metrics` (loopback by default).

use std::path::PathBuf;

/// Arguments of `dpu-fw run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The policy file (TOML, see docs/config.md).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Worker threads; each polls its own receive queue of every port.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
    /// Print per-port and per-rule counters every SECS seconds (0 = only at exit).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    stats_interval: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics ("off" to disable).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    metrics: String,
    /// Use this DPDK device for a policy port: NAME=DEVICE, where DEVICE is
    /// a DPDK port id, a DPDK device name (e.g. p0=net_af_packet0), or
    /// netdev:IFNAME for a scalable function by its netdev (found in sysfs and
    /// probed as an auxiliary device). Without it, a port with `id = N` is DPDK
    /// port N, a port found by `representor` is the DPDK device of that name,
    /// and a port with `netdev` is that SF.
    #[arg(long = "port", value_name = "NAME=DEVICE")]
    ports: Vec<String>,
    /// Mbufs in the packet pool.
    #[arg(long, default_value_t = 8191)]
    mbufs: u32,
    /// The local socket `dpu-fw conntrack` talks to ("off" to disable). Made with mode
    /// 0600 in a directory of mode 0700, so only root can open it.
    #[arg(long, value_name = "PATH", default_value = crate::cli::control::DEFAULT_SOCKET)]
    control: String,
    /// Where sysfs is mounted, to find the scalable functions of `netdev` ports
    /// (a fake tree in tests).
    #[arg(long, value_name = "DIR", default_value = "/sys", hide = true)]
    sysfs_root: PathBuf,
    /// EAL arguments, after `--` (e.g. -- -l 0-1 --vdev=net_af_packet0,iface=eth1).
    #[arg(last = true, value_name = "EAL ARGS")]
    eal: Vec<String>,
}

/// Refuses a policy file that anyone may write: the policy decides what crosses the
/// DPU, and `run` reloads it whenever it changes. (A Kubernetes ConfigMap mount is a
/// symlink to a read-only file; the check follows links.)
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
fn check_policy_file(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o002 != 0 {
        anyhow::bail!(
            "{} is world-writable (mode {:o}): anyone on this machine could change the \
             firewall policy; run `chmod o-w {}` first",
            path.display(),
            mode & 0o7777,
            path.display()
        );
    }
    Ok(())
}

/// Without DPDK there is no dataplane to run.
#[cfg(not(feature = "dpdk"))]
pub(crate) fn run(_args: &Args) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!(
        "this dpu-fw was built without the `dpdk` feature, so it has no dataplane; \
         rebuild with `cargo build --release --features dpdk` (needs libdpdk-dev, clang); \
         `dpu-fw simulate` runs policies without DPDK"
    )
}

#[cfg(feature = "dpdk")]
pub(crate) use dataplane::run;

#[cfg(feature = "dpdk")]
mod dataplane {
    use std::collections::HashMap;
    use std::io::Write;
    use std::path::Path;
    use std::process::ExitCode;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant, SystemTime};

    use anyhow::{Context, bail};
    use doca_flow::dpdk::Eal;
    use dpu_fw::compile::{Plan, Target, compile};
    use dpu_fw::conntrack::Tracker;
    use dpu_fw::dataplane::{
        Dataplane, DataplaneConfig, Device, Disposition, FirewallProcessor, Hooks, PortSnapshot,
        PortSpec, Processor,
    };
    use dpu_fw::firewall::{Firewall, OffloadRequest};
    use dpu_fw::install::Installed;
    use dpu_fw::metrics::{MetricsServer, OffloadMetrics, PortMetrics, RuleMetrics, Snapshot};
    use dpu_fw::model::{Direction, PortId, PortRef, RuleSet};
    use tracing::{error, info, warn};

    use super::Args;
    use crate::cli::control;

    /// Per-rule packet and byte counts of one policy generation. Rules are
    /// counted by the entries the policy installed: the sw backend's entry
    /// counters count each packet once, on the entries of the rule that decided
    /// it, so a snapshot sums `Installed::rule_counters` over the workers'
    /// copies (a second per-packet count here cost a cache miss per packet on
    /// big rule sets). Packets no rule decided go to the inbound or outbound
    /// default, counted in one lane per worker: only that worker writes it (a
    /// plain load and store, no locked add per packet); snapshots sum the
    /// lanes.
    struct RuleStats {
        /// Rule names, then "default-inbound" and "default-outbound".
        names: Vec<String>,
        actions: Vec<String>,
        /// Every worker's installed copy of the policy, for its entry counters.
        installed: Mutex<Vec<Arc<Installed>>>,
        /// Per worker, per default (inbound, outbound): packets and bytes.
        defaults: Vec<[[AtomicU64; 2]; 2]>,
        /// Per rule: what the earlier generations counted for the rule of the same
        /// name and action, so the exported counters never go backwards on a reload.
        base: Mutex<Vec<[u64; 2]>>,
    }

    impl RuleStats {
        fn new(rules: &RuleSet, workers: usize) -> RuleStats {
            let mut names: Vec<String> = rules
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    if r.name.is_empty() {
                        format!("#{i}")
                    } else {
                        r.name.clone()
                    }
                })
                .collect();
            let mut actions: Vec<String> =
                rules.rules.iter().map(|r| r.action.to_string()).collect();
            names.push("default-inbound".into());
            actions.push(rules.defaults.inbound.to_string());
            names.push("default-outbound".into());
            actions.push(rules.defaults.outbound.to_string());
            let base = Mutex::new(vec![[0; 2]; names.len()]);
            RuleStats {
                names,
                actions,
                installed: Mutex::new(Vec::with_capacity(workers)),
                defaults: (0..workers.max(1)).map(|_| Default::default()).collect(),
                base,
            }
        }

        /// Carries the counts of `old` (a generation no worker runs any more) over to
        /// the rules of the same name and action.
        fn carry_from(&self, old: &RuleStats) {
            let totals: HashMap<(String, String), [u64; 2]> = old
                .snapshot()
                .into_iter()
                .map(|m| ((m.rule, m.action), [m.packets, m.bytes]))
                .collect();
            let mut base = self.base.lock().unwrap_or_else(|e| e.into_inner());
            for (i, slot) in base.iter_mut().enumerate() {
                let key = (self.names[i].clone(), self.actions[i].clone());
                *slot = totals.get(&key).copied().unwrap_or_default();
            }
        }

        /// Counts `packets` packets of `bytes` bytes in all that no rule decided on
        /// default `which` (0 inbound, 1 outbound) in `lane`. Only the lane's worker
        /// may call this.
        #[inline]
        fn record_default(&self, lane: usize, which: usize, packets: u64, bytes: u64) {
            if let Some([p, b]) = self.defaults.get(lane).and_then(|l| l.get(which)) {
                p.store(p.load(Ordering::Relaxed) + packets, Ordering::Relaxed);
                b.store(b.load(Ordering::Relaxed) + bytes, Ordering::Relaxed);
            }
        }

        /// ACL lookups that connections' remembered answers saved, over every
        /// worker's copy of this generation.
        fn memo_hits(&self) -> u64 {
            let installed = self.installed.lock().unwrap_or_else(|e| e.into_inner());
            installed.iter().map(|fw| fw.memo_stats().hits).sum()
        }

        fn snapshot(&self) -> Vec<RuleMetrics> {
            let rules = self.names.len() - 2;
            let mut counts = self.base.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let installed = self
                .installed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            for fw in &installed {
                for (slot, c) in counts.iter_mut().zip(fw.rule_counters().iter().take(rules)) {
                    slot[0] += c.packets;
                    slot[1] += c.bytes;
                }
            }
            for lane in &self.defaults {
                for (slot, d) in counts[rules..].iter_mut().zip(lane) {
                    slot[0] += d[0].load(Ordering::Relaxed);
                    slot[1] += d[1].load(Ordering::Relaxed);
                }
            }
            (0..self.names.len())
                .map(|i| RuleMetrics {
                    rule: self.names[i].clone(),
                    action: self.actions[i].clone(),
                    packets: counts[i][0],
                    bytes: counts[i][1],
                })
                .collect()
        }
    }

    /// What `run` hears from each worker's [`FirewallProcessor`]: packets the policy's
    /// defaults decided (counted in this worker's lane), and offload asks.
    struct RunHooks {
        stats: Arc<RuleStats>,
        /// This worker's lane of `stats`.
        lane: usize,
        /// Dataplane port index -> its direction's default (0 inbound, 1 outbound).
        default_slot: Vec<usize>,
        /// Where offload asks go (a stateful policy on the hardware backend).
        offload: Option<Arc<OffloadAsks>>,
    }

    impl Hooks for RunHooks {
        #[inline]
        fn default_decided(&mut self, in_port: usize, packets: u64, bytes: u64) {
            if let Some(&slot) = self.default_slot.get(in_port) {
                self.stats.record_default(self.lane, slot, packets, bytes);
            }
        }

        fn wants_offloads(&self) -> bool {
            self.offload.is_some()
        }

        fn offload(&mut self, ask: OffloadRequest, fw: &Firewall, now_ns: u64) {
            if let Some(asks) = &self.offload {
                asks.push(ask, fw, now_ns);
            }
        }
    }

    /// Nanoseconds since `epoch`: the connection tracker's clock.
    fn clock_ns(epoch: Instant) -> u64 {
        u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The process's connection tracker: one table for every worker and every policy
    /// generation, so connections survive reloads. Made with the first policy that has
    /// `[conntrack]`; later changes to the table's settings need a restart.
    struct Conntrack {
        tracker: Mutex<Option<Arc<Tracker>>>,
        epoch: Instant,
    }

    impl Conntrack {
        /// The tracker for `rules`, made on first use; `None` if the policy does not
        /// track connections.
        fn for_policy(&self, rules: &RuleSet) -> Option<Arc<Tracker>> {
            let cfg = rules.conntrack.as_ref()?.config;
            let mut t = self.tracker.lock().unwrap_or_else(|e| e.into_inner());
            match t.as_ref() {
                Some(tracker) => {
                    if *tracker.config() != cfg {
                        warn!(
                            "the policy's [conntrack] settings changed; the connection table \
                             keeps its size, timeouts and window checking until dpu-fw restarts"
                        );
                    }
                    Some(tracker.clone())
                }
                None => {
                    let tracker = Arc::new(Tracker::new(cfg));
                    info!(
                        max_connections = cfg.max_connections,
                        "connection tracking on"
                    );
                    *t = Some(tracker.clone());
                    Some(tracker)
                }
            }
        }

        fn current(&self) -> Option<Arc<Tracker>> {
            self.tracker
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        }

        fn now(&self) -> u64 {
            clock_ns(self.epoch)
        }
    }

    /// A compiled policy, ready to be installed once per worker.
    struct Policy {
        rules: RuleSet,
        /// What the workers run on the sw backend: everything that reaches software.
        plan: Plan,
        /// What goes into DOCA Flow hardware pipes (feature `doca`).
        #[cfg(any(feature = "doca", feature = "doca-emu"))]
        hw_plan: Plan,
        stats: Arc<RuleStats>,
    }

    /// Asks held for the offload agent at most (a burst of new connections between two
    /// control-loop ticks; beyond it asks are dropped and counted).
    const OFFLOAD_ASKS: usize = 65_536;

    /// Offload asks from the workers to the offload agent on the control thread.
    struct OffloadAsks {
        list: Mutex<Vec<OffloadRequest>>,
        dropped: AtomicU64,
    }

    impl OffloadAsks {
        fn new() -> Self {
            OffloadAsks {
                list: Mutex::new(Vec::new()),
                dropped: AtomicU64::new(0),
            }
        }

        /// Queues `r`; when the list is full the ask is dropped and its claim given back,
        /// so a later packet of the connection asks again.
        fn push(&self, r: OffloadRequest, fw: &Firewall, now: u64) {
            let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
            if list.len() < OFFLOAD_ASKS {
                list.push(r);
                return;
            }
            drop(list);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            if let (OffloadRequest::Offload { zone, tuple }, Some(t)) = (r, fw.tracker()) {
                t.release_offload(zone, &tuple, now);
            }
        }

        /// Moves the queued asks into `into`.
        #[cfg_attr(not(any(feature = "doca", feature = "doca-emu")), allow(dead_code))]
        fn take(&self, into: &mut Vec<OffloadRequest>) {
            let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::swap(&mut *list, into);
        }
    }

    /// The longest aging hardware gets for an offloaded connection (otherwise the
    /// timeout of its state: `[conntrack] timeouts`). A day: an idle established TCP
    /// connection leaves the CT pipe then and its next packet goes to software, which
    /// still knows it (its software timeout is 5 days by default).
    #[cfg(any(feature = "doca", feature = "doca-emu"))]
    const OFFLOAD_MAX_AGING_S: u32 = 86_400;

    /// On a BlueField (feature `doca`) the policy is also installed into DOCA
    /// Flow hardware pipes (compiled for the `bluefield` target), and the workers
    /// see only what the hardware sends up, which they decide with the `software`
    /// plan. With a stateful policy, the workers ask for the offload of each
    /// connection they pass as established, and the control thread's offload agent
    /// puts it into the CT pipe (`doca_flow_ct`), takes it out on FIN/RST and when
    /// hardware ages it, and moves the offloaded connections into the new CT pipe on a
    /// reload. Ran on the DOCA Flow emulator (feature `doca-emu`), never on a
    /// BlueField: see docs/doca-versions.md.
    #[cfg(any(feature = "doca", feature = "doca-emu"))]
    struct Hardware {
        installed: Installed,
        agent: dpu_fw::firewall::OffloadAgent,
        asks: Arc<OffloadAsks>,
        /// The asks being applied (reused).
        applying: Vec<OffloadRequest>,
        /// Reloads still to fail on the emulator (`DPU_FW_EMU_FAIL_RELOADS`, for the
        /// fault tests).
        #[cfg(feature = "doca-emu")]
        fail_reloads: u32,
    }

    #[cfg(any(feature = "doca", feature = "doca-emu"))]
    impl Hardware {
        fn install(
            eal: &Eal,
            policy: &Policy,
            mode: doca_flow::Mode,
            asks: Arc<OffloadAsks>,
        ) -> anyhow::Result<Hardware> {
            let installed =
                Installed::with_backend_mode(&policy.hw_plan, doca_flow::HwBackend::new(eal), mode)
                    .with_context(|| {
                        format!(
                            "installing the policy into DOCA Flow hardware pipes ({mode:?} mode)"
                        )
                    })?;
            info!(
                ?mode,
                lanes = installed.lanes(),
                "DOCA Flow hardware pipes installed"
            );
            #[cfg(feature = "doca-emu")]
            let fail_reloads = match std::env::var("DPU_FW_EMU_FAIL_RELOADS") {
                Ok(v) => v.parse().with_context(|| {
                    format!("DPU_FW_EMU_FAIL_RELOADS={v:?}: expected a number of reloads")
                })?,
                Err(_) => 0,
            };
            Ok(Hardware {
                installed,
                agent: dpu_fw::firewall::OffloadAgent::new(OFFLOAD_MAX_AGING_S),
                asks,
                applying: Vec::new(),
                #[cfg(feature = "doca-emu")]
                fail_reloads,
            })
        }

        /// Make-before-break: the old pipes stay in force if this fails; offloaded
        /// connections move into the new CT pipe.
        fn update(&mut self, policy: &Policy) -> anyhow::Result<()> {
            // The fault tests: the emulator fails this update's first entry add when it
            // completes (as a full or failing NIC table reports it).
            #[cfg(feature = "doca-emu")]
            if self.fail_reloads > 0 {
                self.fail_reloads -= 1;
                warn!("DPU_FW_EMU_FAIL_RELOADS: the emulator fails this reload's first entry");
                doca_flow::backend::emu::inject(doca_flow::backend::emu::Fault::AsyncError {
                    nth: 1,
                });
            }
            self.installed
                .update(&policy.hw_plan)
                .context("updating the DOCA Flow hardware pipes")
        }

        /// Applies the workers' offload asks; returns how many failed (each logged).
        fn offload(&mut self, ct: &Conntrack) -> u64 {
            // Emulated hardware (feature `doca-emu`) ages on this clock; a BlueField on
            // its own.
            self.installed.set_time_ns(ct.now());
            let mut applying = std::mem::take(&mut self.applying);
            self.asks.take(&mut applying);
            let mut failed = 0;
            if let Some(t) = ct.current() {
                for r in applying.drain(..) {
                    if let Err(e) = self.agent.apply(&mut self.installed, &t, r, ct.now()) {
                        failed += 1;
                        if failed == 1 {
                            warn!("a connection stays in software: {}", crate::cli::Causes(&e));
                        }
                    }
                }
            }
            applying.clear();
            self.applying = applying;
            failed
        }

        /// Takes out what hardware aged, and keeps the software timeouts of the
        /// offloaded connections running; returns how many removals failed.
        fn age(&mut self, ct: &Conntrack) -> u64 {
            let Some(t) = ct.current() else {
                return 0;
            };
            let failed = match self.agent.age(&mut self.installed, &t, ct.now()) {
                Ok(_) => 0,
                Err(e) => {
                    warn!(
                        "removing an aged connection from the CT pipe: {}",
                        crate::cli::Causes(&e)
                    );
                    1
                }
            };
            self.agent.refresh(&t, ct.now());
            failed
        }

        fn metrics(&self) -> Option<OffloadMetrics> {
            let s = self.agent.stats();
            (self.installed.plan().ct_connections > 0).then(|| OffloadMetrics {
                in_hardware: self.installed.ct_offloaded() as u64,
                offloaded: s.offloaded,
                closed: s.closed,
                aged: s.aged,
                refused: s.refused,
                dropped_asks: self.asks.dropped.load(Ordering::Relaxed),
            })
        }
    }

    #[cfg(not(any(feature = "doca", feature = "doca-emu")))]
    struct Hardware;

    #[cfg(not(any(feature = "doca", feature = "doca-emu")))]
    impl Hardware {
        fn install(_: &Eal, _: &Policy, _: Arc<OffloadAsks>) -> anyhow::Result<Hardware> {
            Ok(Hardware)
        }

        fn update(&mut self, _: &Policy) -> anyhow::Result<()> {
            Ok(())
        }

        fn offload(&mut self, _: &Conntrack) -> u64 {
            0
        }

        fn age(&mut self, _: &Conntrack) -> u64 {
            0
        }

        fn metrics(&self) -> Option<OffloadMetrics> {
            None
        }
    }

    /// Where a worker sends offload asks: only with hardware pipes and a stateful
    /// policy.
    fn offload_asks(policy: &Policy, asks: &Arc<OffloadAsks>) -> Option<Arc<OffloadAsks>> {
        (cfg!(any(feature = "doca", feature = "doca-emu")) && policy.rules.conntrack.is_some())
            .then(|| asks.clone())
    }

    fn load_policy(path: &Path, workers: usize) -> anyhow::Result<Policy> {
        super::check_policy_file(path)?;
        let checked = dpu_fw::config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
        for w in &checked.warnings {
            warn!(file = %path.display(), "{w}");
        }
        let plan = compile(&checked.rules, &Target::software())
            .with_context(|| format!("compiling {}", path.display()))?;
        #[cfg(any(feature = "doca", feature = "doca-emu"))]
        let hw_plan = compile(&checked.rules, &Target::bluefield())
            .with_context(|| format!("compiling {} for the BlueField", path.display()))?;
        let stats = Arc::new(RuleStats::new(&checked.rules, workers));
        Ok(Policy {
            rules: checked.rules,
            plan,
            #[cfg(any(feature = "doca", feature = "doca-emu"))]
            hw_plan,
            stats,
        })
    }

    /// Which DPDK device each policy port is, in policy port order, the EAL `-a`
    /// arguments that probe the ports given as SF netdevs, and whether each port is an
    /// SF (`netdev` in the policy or `--port NAME=netdev:IF`; a `--port` device for a
    /// `netdev` port keeps it an SF port, it only names the device), which decides the
    /// DOCA Flow mode of the hardware backend.
    fn port_specs(
        rules: &RuleSet,
        overrides: &[String],
        sysfs: &Path,
    ) -> anyhow::Result<(Vec<PortSpec>, Vec<String>, Vec<bool>)> {
        enum Given {
            Device(Device),
            Netdev(String),
        }
        let mut map = HashMap::new();
        for o in overrides {
            let Some((name, dev)) = o.split_once('=') else {
                bail!("--port {o:?}: expected NAME=DEVICE, e.g. p0=net_af_packet0");
            };
            if rules.port(name).is_none() {
                bail!("--port {o:?}: the policy has no port named {name:?}");
            }
            let given = if let Some(netdev) = dev.strip_prefix("netdev:") {
                Given::Netdev(netdev.to_string())
            } else {
                match dev.parse::<u16>() {
                    Ok(id) => Given::Device(Device::Id(id)),
                    Err(_) if !dev.is_empty() => Given::Device(Device::Name(dev.to_string())),
                    Err(_) => bail!("--port {o:?}: empty DEVICE"),
                }
            };
            if map.insert(name.to_string(), given).is_some() {
                bail!("--port: port {name:?} given twice");
            }
        }
        let mut specs = Vec::with_capacity(rules.ports.len());
        let mut allow = Vec::new();
        let mut sf = Vec::with_capacity(rules.ports.len());
        for p in &rules.ports {
            let given = map.remove(&p.name).unwrap_or_else(|| match &p.id {
                // A DOCA port id given as the DPDK port id (a different number in
                // general; on a BlueField the same, and `--port` overrides it).
                PortRef::Doca(PortId(id)) => Given::Device(Device::Id(*id)),
                PortRef::Representor(n) => Given::Device(Device::Name(n.clone())),
                PortRef::Netdev(n) => Given::Netdev(n.clone()),
            });
            sf.push(matches!(p.id, PortRef::Netdev(_)) || matches!(given, Given::Netdev(_)));
            let device = match given {
                Given::Device(d) => d,
                Given::Netdev(n) => {
                    let sf = dpu_fw::sf::find(sysfs, &n)
                        .with_context(|| format!("port {:?} (netdev {n:?})", p.name))?;
                    info!(port = %p.name, netdev = %n, device = %sf.device, "scalable function");
                    allow.push("-a".to_string());
                    allow.push(sf.eal_allow());
                    Device::Name(sf.device)
                }
            };
            specs.push(PortSpec {
                name: p.name.clone(),
                device,
            });
        }
        Ok((specs, allow, sf))
    }

    fn processor(
        policy: &Policy,
        specs: &[PortSpec],
        lane: usize,
        ct: &Conntrack,
        asks: &Arc<OffloadAsks>,
    ) -> anyhow::Result<Box<dyn Processor>> {
        let installed = Arc::new(Installed::new(&policy.plan).context("installing the policy")?);
        let fw = Firewall::new(
            installed.clone(),
            &policy.rules,
            ct.for_policy(&policy.rules),
        );
        let default_slot = specs
            .iter()
            .map(|spec| match policy.rules.direction_of(&spec.name) {
                Direction::Inbound => 0,
                Direction::Outbound => 1,
            })
            .collect();
        policy
            .stats
            .installed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(installed);
        let hooks = RunHooks {
            stats: policy.stats.clone(),
            lane,
            default_slot,
            offload: offload_asks(policy, asks),
        };
        let p = FirewallProcessor::with_hooks(fw, specs, ct.epoch, hooks)
            .context("the policy's ports")?;
        Ok(Box::new(p))
    }

    /// Installs `policy` once per worker, all or nothing.
    fn processors(
        policy: &Policy,
        specs: &[PortSpec],
        workers: usize,
        ct: &Conntrack,
        asks: &Arc<OffloadAsks>,
    ) -> anyhow::Result<Vec<Box<dyn Processor>>> {
        // The policy's stats read the entry counters of exactly these copies.
        policy
            .stats
            .installed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        (0..workers)
            .map(|w| processor(policy, specs, w, ct, asks))
            .collect()
    }

    /// What the control loop and the metrics endpoint share.
    struct Shared {
        stats: Mutex<Arc<RuleStats>>,
        ports: Mutex<Vec<PortSnapshot>>,
        names: Vec<String>,
        reloads_ok: AtomicU64,
        reloads_failed: AtomicU64,
        errors: AtomicU64,
        conntrack: Arc<Conntrack>,
        /// The offload agent's figures, copied by the control loop.
        offload: Mutex<Option<OffloadMetrics>>,
        /// The packet pool (in use, size), copied by the control loop.
        mbufs: Mutex<Option<(u64, u64)>>,
    }

    impl Shared {
        fn snapshot(&self) -> Snapshot {
            let ports = self.ports.lock().map(|p| p.clone()).unwrap_or_default();
            let stats = self.stats.lock().map(|s| s.clone());
            Snapshot {
                ports: self
                    .names
                    .iter()
                    .zip(ports)
                    .map(|(name, p)| PortMetrics {
                        name: name.clone(),
                        rx_packets: p.rx_packets,
                        rx_bytes: p.rx_bytes,
                        tx_packets: p.tx_packets,
                        tx_bytes: p.tx_bytes,
                        dropped: p.policy_drops,
                        tx_dropped: p.tx_drops,
                    })
                    .collect(),
                acl_memo_hits: match (&stats, self.conntrack.current()) {
                    (Ok(s), Some(_)) => Some(s.memo_hits()),
                    _ => None,
                },
                rules: stats.map(|s| s.snapshot()).unwrap_or_default(),
                reloads_ok: self.reloads_ok.load(Ordering::Relaxed),
                reloads_failed: self.reloads_failed.load(Ordering::Relaxed),
                errors: self.errors.load(Ordering::Relaxed),
                conntrack: self.conntrack.current().map(|t| t.stats()),
                offload: self.offload.lock().map(|o| *o).unwrap_or_default(),
                mbufs: self.mbufs.lock().map(|m| *m).unwrap_or_default(),
            }
        }
    }

    /// The ports' driver view at the last check, to log what changed: links going
    /// down or up, packets lost for want of mbufs, device drops, send errors, full
    /// transmit queues.
    struct Health {
        ports: Vec<dpu_fw::dataplane::PortHealth>,
        tx_drops: Vec<u64>,
    }

    impl Health {
        fn new(dp: &Dataplane) -> Health {
            Health {
                ports: dp.health(),
                tx_drops: dp.counters().iter().map(|c| c.tx_drops).collect(),
            }
        }

        fn check(&mut self, dp: &Dataplane, names: &[String]) {
            let now = dp.health();
            let tx_drops: Vec<u64> = dp.counters().iter().map(|c| c.tx_drops).collect();
            let grew = |a: Option<u64>, b: Option<u64>| match (a, b) {
                (Some(a), Some(b)) if b > a => b - a,
                _ => 0,
            };
            for (i, (was, is)) in self.ports.iter().zip(&now).enumerate() {
                let port = names.get(i).map_or("?", String::as_str);
                match (was.link_up, is.link_up) {
                    (Some(true), Some(false)) => {
                        warn!(port, "link down: nothing passes this port until it is back")
                    }
                    (Some(false), Some(true)) => info!(port, "link up again"),
                    _ => {}
                }
                let n = grew(was.rx_nombuf, is.rx_nombuf);
                if n > 0 {
                    warn!(
                        port,
                        lost = n,
                        "packets waited or were lost for want of a free mbuf: the pool is \
                         exhausted (raise --mbufs)"
                    );
                }
                let n = grew(was.rx_missed, is.rx_missed);
                if n > 0 {
                    warn!(
                        port,
                        dropped = n,
                        "the device dropped packets: its receive queue was full (the \
                         workers are not keeping up; add --workers)"
                    );
                }
                let n = grew(was.tx_errors, is.tx_errors);
                if n > 0 {
                    warn!(
                        port,
                        failed = n,
                        "packets could not be sent (transmit errors: is the link down?)"
                    );
                }
                let n = grew(self.tx_drops.get(i).copied(), tx_drops.get(i).copied());
                if n > 0 {
                    warn!(
                        port,
                        dropped = n,
                        "packets dropped: the port's transmit queue was full"
                    );
                }
            }
            self.ports = now;
            self.tx_drops = tx_drops;
        }
    }

    fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
        let m = std::fs::metadata(path).ok()?;
        Some((m.modified().ok()?, m.len()))
    }

    fn print_counters(shared: &Shared, title: &str) {
        let s = shared.snapshot();
        println!("--- {title} ---");
        println!(
            "{:<16} {:>12} {:>12} {:>12} {:>12} {:>10}",
            "port", "rx_pkts", "tx_pkts", "rx_bytes", "tx_bytes", "dropped"
        );
        for p in &s.ports {
            println!(
                "{:<16} {:>12} {:>12} {:>12} {:>12} {:>10}",
                p.name, p.rx_packets, p.tx_packets, p.rx_bytes, p.tx_bytes, p.dropped
            );
        }
        println!(
            "{:<24} {:<16} {:>12} {:>14}",
            "rule", "action", "packets", "bytes"
        );
        for r in &s.rules {
            println!(
                "{:<24} {:<16} {:>12} {:>14}",
                r.rule, r.action, r.packets, r.bytes
            );
        }
        println!("reloads: {} ok, {} failed", s.reloads_ok, s.reloads_failed);
        if let Some(ct) = s.conntrack {
            println!(
                "connections: {} in the table, {} opened, {} expired, {} refused (table full); \
                 {} invalid and {} related packets",
                ct.connections, ct.created, ct.expired, ct.table_full, ct.invalid, ct.related
            );
        }
        let _ = std::io::stdout().flush();
    }

    /// `dpu-fw run`.
    pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init();

        let workers = usize::from(args.workers);
        // Stamped before the first read: a change made while `run` starts is reloaded.
        let mut stamp = file_stamp(&args.config);
        let policy = load_policy(&args.config, workers)?;
        let (specs, sf_allow, sf) = port_specs(&policy.rules, &args.ports, &args.sysfs_root)?;
        // The hardware backend's DOCA Flow mode: vnf for SF ports (each port started on
        // its own, a root pipe per port), switch for an uplink and its representors. One
        // DOCA Flow instance runs one mode, so a mix is refused before anything starts.
        #[cfg(any(feature = "doca", feature = "doca-emu"))]
        let mode =
            dpu_fw::install::port_mode(specs.iter().zip(&sf).map(|(s, &sf)| (s.name.as_str(), sf)))
                .context("choosing the DOCA Flow mode for the hardware backend")?;
        #[cfg(not(any(feature = "doca", feature = "doca-emu")))]
        let _ = sf;
        let ct = Arc::new(Conntrack {
            tracker: Mutex::new(None),
            epoch: Instant::now(),
        });
        let asks = Arc::new(OffloadAsks::new());
        let mut first = processors(&policy, &specs, workers, &ct, &asks)?.into_iter();

        // The process's EAL: the dataplane and DOCA Flow (feature `doca`) run on it and
        // keep it alive, so it shuts down after both.
        // SF ports are probed on the auxiliary bus, unless the EAL arguments already
        // name the device.
        let sf_allow: Vec<String> = sf_allow
            .chunks(2)
            .filter(|a| {
                let device = a[1].split(',').next().unwrap_or_default();
                !args.eal.iter().any(|e| e.contains(device))
            })
            .flatten()
            .cloned()
            .collect();
        if !sf_allow.is_empty() {
            info!(
                "EAL arguments added for the SF ports: {}",
                sf_allow.join(" ")
            );
        }
        let eal_args: Vec<String> = std::iter::once("dpu-fw".to_string())
            .chain(args.eal.iter().cloned())
            .chain(sf_allow)
            .collect();
        let eal = Eal::init(&eal_args).context("starting the DPDK EAL")?;
        let cfg = DataplaneConfig {
            ports: specs.clone(),
            workers,
            mbufs: args.mbufs,
        };
        let dp = Dataplane::start(&eal, &cfg, |_| {
            first
                .next()
                .unwrap_or_else(|| Box::new(|_: usize, _: &mut [u8]| Disposition::Drop))
        })
        .context("starting the dataplane")?;
        #[cfg(any(feature = "doca", feature = "doca-emu"))]
        let mut hardware = Hardware::install(&eal, &policy, mode, asks.clone())?;
        #[cfg(not(any(feature = "doca", feature = "doca-emu")))]
        let mut hardware = Hardware::install(&eal, &policy, asks.clone())?;
        // One full receive burst per port and worker must fit in the pool, or packets
        // wait in the ports' rings (or are lost) under load. (net_af_packet in DPDK
        // 22.11 does not count the receives a lack of mbufs failed, so say it now.)
        let burst_need = specs.len() * workers * doca_flow::dpdk::BURST_MAX;
        if (args.mbufs as usize) < burst_need {
            warn!(
                mbufs = args.mbufs,
                needed = burst_need,
                "--mbufs {} is below one receive burst per port and worker ({burst_need}): \
                 under load packets will wait for a free mbuf or be lost (raise --mbufs)",
                args.mbufs
            );
        }

        let shared = Arc::new(Shared {
            stats: Mutex::new(policy.stats.clone()),
            ports: Mutex::new(dp.counters()),
            names: specs.iter().map(|s| s.name.clone()).collect(),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            conntrack: ct.clone(),
            offload: Mutex::new(hardware.metrics()),
            mbufs: Mutex::new(None),
        });
        let _metrics = if args.metrics == "off" {
            None
        } else {
            let addr = args
                .metrics
                .parse()
                .with_context(|| format!("--metrics {:?}: not an IP:PORT address", args.metrics))?;
            let s = shared.clone();
            let server = MetricsServer::start(addr, Arc::new(move || s.snapshot().render()))
                .with_context(|| format!("serving metrics on {addr}"))?;
            info!(addr = %server.local_addr(), "metrics at http://{}/metrics", server.local_addr());
            Some(server)
        };

        let stop = Arc::new(AtomicBool::new(false));
        let hup = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
        }
        signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
            .context("installing signal handlers")?;

        info!(
            config = %args.config.display(),
            ports = specs.len(),
            workers,
            rules = policy.rules.rules.len(),
            "dataplane up"
        );
        println!("READY");
        let _ = std::io::stdout().flush();

        let _control = match args.control.as_str() {
            "off" => None,
            path => {
                let c = ct.clone();
                let source: control::Source = Arc::new(move || c.current().map(|t| (t, c.now())));
                match control::ControlServer::start(Path::new(path), source) {
                    Ok(server) => {
                        info!(socket = path, "conntrack control socket (root only)");
                        Some(server)
                    }
                    Err(e) => {
                        warn!(
                            "no conntrack control socket at {path}: {}",
                            crate::cli::Causes(&*e)
                        );
                        None
                    }
                }
            }
        };

        let mut health = Health::new(&dp);
        let mut last_stats = Instant::now();
        let mut last_sweep = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            // Offload the connections the workers asked for.
            let mut failed = hardware.offload(&ct);
            // Age connections off the packet path.
            if last_sweep.elapsed() >= Duration::from_secs(1) {
                last_sweep = Instant::now();
                if let Some(t) = ct.current() {
                    t.expire(ct.now());
                }
                failed += hardware.age(&ct);
                health.check(&dp, &shared.names);
            }
            shared.errors.fetch_add(failed, Ordering::Relaxed);
            if let Ok(mut o) = shared.offload.lock() {
                *o = hardware.metrics();
            }
            if let Ok(mut p) = shared.ports.lock() {
                *p = dp.counters();
            }
            if let Ok(mut m) = shared.mbufs.lock() {
                let (in_use, size) = dp.mbufs();
                *m = Some((u64::from(in_use), u64::from(size)));
            }
            let now_stamp = file_stamp(&args.config);
            let changed = now_stamp.is_some() && now_stamp != stamp;
            if hup.swap(false, Ordering::Relaxed) || changed {
                stamp = now_stamp;
                let why = if changed { "file changed" } else { "SIGHUP" };
                match load_policy(&args.config, workers).and_then(|p| {
                    let procs = processors(&p, &specs, workers, &ct, &asks)?;
                    hardware.update(&p)?;
                    Ok((p, procs))
                }) {
                    Ok((p, procs)) => {
                        let mut procs = procs.into_iter();
                        dp.swap(|_| {
                            procs.next().unwrap_or_else(|| {
                                Box::new(|_: usize, _: &mut [u8]| Disposition::Drop)
                            })
                        });
                        // Every worker runs the new policy now: the old counts are
                        // final, and the new stats start from them.
                        if let Ok(mut s) = shared.stats.lock() {
                            p.stats.carry_from(&s);
                            *s = p.stats.clone();
                        }
                        shared.reloads_ok.fetch_add(1, Ordering::Relaxed);
                        info!(reason = why, rules = p.rules.rules.len(), "policy reloaded");
                    }
                    Err(e) => {
                        shared.reloads_failed.fetch_add(1, Ordering::Relaxed);
                        error!(
                            reason = why,
                            "reload failed, the old policy stays in force: {}",
                            crate::cli::Causes(&*e)
                        );
                    }
                }
            }
            if args.stats_interval > 0
                && last_stats.elapsed() >= Duration::from_secs(args.stats_interval)
            {
                last_stats = Instant::now();
                print_counters(&shared, "counters");
            }
        }
        info!("stopping");
        let fin = dp.stop();
        if let Ok(mut p) = shared.ports.lock() {
            *p = fin;
        }
        print_counters(&shared, "final counters");
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn world_writable_policies_are_refused() {
        let path = std::env::temp_dir().join(format!("dpu-fw-perm-{}.toml", std::process::id()));
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = super::check_policy_file(&path).unwrap_err().to_string();
        assert!(err.contains("world-writable (mode 666)"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(super::check_policy_file(&path).is_ok());
        let _ = std::fs::remove_file(&path);
        assert!(
            super::check_policy_file(&path).is_err(),
            "a missing file is an error"
        );
    }
}
