//! A firewall's engine: the policy compiled and installed on a backend, with its
//! connection tracking, and what the C calls do with it.

use std::ffi::CString;
use std::sync::Arc;

use doca_flow::{PortId, Verdict};
use dpu_fw::compile::{Target, compile};
use dpu_fw::conntrack::{CtState, Tracker};
use dpu_fw::firewall::{Firewall, Processed, passes};
use dpu_fw::install::Installed;
use dpu_fw::model::RuleSet;

use crate::eal::dpufw_eal;
use crate::error::{Failure, Result, dpufw_status};
use crate::firewall::{
    DPUFW_BACKEND_HARDWARE, DPUFW_BACKEND_SOFTWARE, dpufw_action, dpufw_backend, dpufw_ct_state,
    dpufw_verdict,
};

/// What runs the packets.
enum Engine {
    /// The software backend: connection tracking, then the software plan's pipes.
    Software(Firewall),
    /// The hardware backend, stateless policy: the `bluefield` plan alone.
    #[cfg(any(feature = "doca", feature = "doca-emu"))]
    Hardware(Installed),
    /// The hardware backend, stateful policy: the `bluefield` plan in front of the
    /// software path, which offloads established connections to the CT pipe.
    #[cfg(any(feature = "doca", feature = "doca-emu"))]
    Offload(Box<dpu_fw::firewall::Offloading>),
}

/// How long an offloaded connection may go without a hit in the CT pipe, at most.
#[cfg(any(feature = "doca", feature = "doca-emu"))]
const MAX_OFFLOAD_TIMEOUT_S: u32 = 30;

/// A policy installed on a backend, with its connection tracking. Opaque.
///
/// Made by `dpufw_firewall_new`, freed by `dpufw_firewall_free`. Not thread-safe: one
/// thread at a time may call functions on it, any thread (different firewalls may be
/// used on different threads at once). Each firewall has its own connection table.
pub struct dpufw_firewall {
    pub(crate) rules: RuleSet,
    engine: Engine,
    backend: dpufw_backend,
    /// The connection table, made with the first policy with `[conntrack]` and kept
    /// across reloads to policies with `[conntrack]`.
    pub(crate) tracker: Option<Arc<Tracker>>,
    pub(crate) rule_names: Vec<CString>,
    pub(crate) port_names: Vec<(PortId, CString)>,
    /// A call panicked part-way: the firewall's state is unknown.
    pub(crate) poisoned: bool,
    /// A stateless software policy's briefs of the current burst (reused).
    briefs: Vec<doca_flow::Brief>,
}

impl core::fmt::Debug for dpufw_firewall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("dpufw_firewall")
            .field("rules", &self.rules.rules.len())
            .field("backend", &self.backend)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

fn compile_for(rules: &RuleSet, target: &Target, what: &str) -> Result<dpu_fw::compile::Plan> {
    compile(rules, target).map_err(|e| {
        Failure::new(
            dpufw_status::DPUFW_ERR_COMPILE,
            format!("compiling the policy for {what}: {e}"),
        )
    })
}

fn install_failure(what: &str) -> impl FnOnce(dpu_fw::install::InstallError) -> Failure + '_ {
    move |e| Failure::new(dpufw_status::DPUFW_ERR_INSTALL, format!("{what}: {e}"))
}

/// The software path of `rules`: a fresh flow on the sw backend.
fn software_path(rules: &RuleSet, tracker: Option<Arc<Tracker>>) -> Result<Firewall> {
    let plan = compile_for(rules, &Target::software(), "the software backend")?;
    let installed =
        Installed::new(&plan).map_err(install_failure("installing on the software backend"))?;
    Ok(Firewall::new(Arc::new(installed), rules, tracker))
}

/// The tracker for `rules`: the firewall's, once it has one (later `[conntrack]`
/// settings apply to a new firewall only), else a new one; `None` when `rules` is not
/// stateful.
fn tracker_for(rules: &RuleSet, current: Option<&Arc<Tracker>>) -> Option<Arc<Tracker>> {
    let cfg = rules.conntrack.as_ref()?.config;
    Some(
        current
            .cloned()
            .unwrap_or_else(|| Arc::new(Tracker::new(cfg))),
    )
}

#[cfg(any(feature = "doca", feature = "doca-emu"))]
fn hardware_engine(
    rules: &RuleSet,
    eal: &doca_flow::dpdk::Eal,
    tracker: Option<Arc<Tracker>>,
) -> Result<Engine> {
    let plan = compile_for(
        rules,
        &Target::bluefield(),
        "the BlueField (hardware backend)",
    )?;
    let hw = Installed::with_backend(&plan, doca_flow::HwBackend::new(eal))
        .map_err(install_failure("installing on the hardware backend"))?;
    if !rules.is_stateful() {
        return Ok(Engine::Hardware(hw));
    }
    let soft = software_path(rules, tracker)?;
    Ok(Engine::Offload(Box::new(
        dpu_fw::firewall::Offloading::new(hw, soft, MAX_OFFLOAD_TIMEOUT_S),
    )))
}

impl dpufw_firewall {
    pub(crate) fn new(
        rules: RuleSet,
        backend: dpufw_backend,
        eal: Option<&dpufw_eal>,
    ) -> Result<Self> {
        let tracker = tracker_for(&rules, None);
        let engine = match backend {
            DPUFW_BACKEND_SOFTWARE => {
                if eal.is_some() {
                    return Err(Failure::invalid(
                        "the software backend takes no EAL: pass NULL",
                    ));
                }
                Engine::Software(software_path(&rules, tracker.clone())?)
            }
            DPUFW_BACKEND_HARDWARE => {
                let Some(eal) = eal else {
                    return Err(Failure::null(
                        "eal (the hardware backend runs on the DPDK EAL: dpufw_eal_init)",
                    ));
                };
                #[cfg(any(feature = "doca", feature = "doca-emu"))]
                {
                    // The hardware backend holds the EAL until DOCA Flow is destroyed.
                    hardware_engine(&rules, &eal.eal, tracker.clone())?
                }
                #[cfg(not(any(feature = "doca", feature = "doca-emu")))]
                {
                    let _ = eal;
                    return Err(crate::eal::no_hardware("DPUFW_BACKEND_HARDWARE"));
                }
            }
            other => {
                return Err(Failure::invalid(format!(
                    "unknown backend {other}: DPUFW_BACKEND_SOFTWARE (0) or \
                     DPUFW_BACKEND_HARDWARE (1)"
                )));
            }
        };
        let mut fw = dpufw_firewall {
            rules,
            engine,
            backend,
            tracker,
            rule_names: Vec::new(),
            port_names: Vec::new(),
            poisoned: false,
            briefs: Vec::new(),
        };
        fw.names();
        Ok(fw)
    }

    /// Rebuilds the C strings of the rule and port names.
    fn names(&mut self) {
        let c = |s: &str| CString::new(s.replace('\0', " ")).unwrap_or_default();
        self.rule_names = self.rules.rules.iter().map(|r| c(&r.name)).collect();
        self.port_names = self
            .plan()
            .ports
            .iter()
            .map(|p| (p.id, c(&p.name)))
            .collect();
    }

    /// The plan whose port ids packets use.
    fn plan(&self) -> &dpu_fw::compile::Plan {
        match &self.engine {
            Engine::Software(fw) => fw.installed().plan(),
            #[cfg(any(feature = "doca", feature = "doca-emu"))]
            Engine::Hardware(hw) => hw.plan(),
            #[cfg(any(feature = "doca", feature = "doca-emu"))]
            Engine::Offload(o) => o.hardware().plan(),
        }
    }

    fn check_port(&self, port: PortId) -> Result<()> {
        if self.port_names.iter().any(|(id, _)| *id == port) {
            return Ok(());
        }
        Err(Failure::invalid(format!(
            "the policy has no port with id {port} (dpufw_firewall_port_id maps names to ids)"
        )))
    }

    /// Replaces the policy by `rules`; the old one stays in force on failure.
    pub(crate) fn reload(&mut self, rules: &RuleSet) -> Result<()> {
        let tracker = tracker_for(rules, self.tracker.as_ref());
        match &mut self.engine {
            Engine::Software(fw) => {
                // A fresh flow beside the old one: the old one is dropped only once the
                // new one is completely installed.
                *fw = software_path(rules, tracker.clone())?;
            }
            #[cfg(any(feature = "doca", feature = "doca-emu"))]
            Engine::Hardware(hw) => {
                if rules.is_stateful() {
                    return Err(stateful_change());
                }
                let plan = compile_for(rules, &Target::bluefield(), "the BlueField")?;
                hw.update(&plan)
                    .map_err(install_failure("updating the hardware pipes"))?;
            }
            #[cfg(any(feature = "doca", feature = "doca-emu"))]
            Engine::Offload(o) => {
                if !rules.is_stateful() {
                    return Err(stateful_change());
                }
                let plan = compile_for(rules, &Target::bluefield(), "the BlueField")?;
                // The software path first (nothing is touched if it fails), then the
                // hardware pipes, make-before-break (the old ones stay on failure).
                let soft = software_path(rules, tracker.clone())?;
                o.hardware_mut()
                    .update(&plan)
                    .map_err(install_failure("updating the hardware pipes"))?;
                o.replace_software(soft);
            }
        }
        self.rules = rules.clone();
        self.tracker = tracker;
        self.names();
        Ok(())
    }

    pub(crate) fn process(
        &mut self,
        port: PortId,
        frame: &mut [u8],
        now_ns: u64,
    ) -> Result<dpufw_verdict> {
        self.check_port(port)?;
        match &mut self.engine {
            Engine::Software(fw) => {
                fw.installed().set_time_ns(now_ns);
                Ok(verdict(&fw.process(port, frame, now_ns), false))
            }
            #[cfg(any(feature = "doca", feature = "doca-emu"))]
            Engine::Hardware(hw) => {
                nic_runs_the_pipes(hw)?;
                hw.set_time_ns(now_ns);
                let p = Processed {
                    decision: hw.process(port, frame),
                    state: None,
                    table_full: false,
                };
                Ok(verdict(&p, true))
            }
            #[cfg(any(feature = "doca", feature = "doca-emu"))]
            Engine::Offload(o) => {
                nic_runs_the_pipes(o.hardware())?;
                o.software().installed().set_time_ns(now_ns);
                let r = o.process(port, frame, now_ns).map_err(|e| {
                    Failure::new(
                        dpufw_status::DPUFW_ERR_INSTALL,
                        format!("offloading the packet's connection to the CT pipe: {e}"),
                    )
                })?;
                Ok(verdict(&r.processed, r.in_hardware))
            }
        }
    }

    pub(crate) fn process_burst(
        &mut self,
        port: PortId,
        frames: &mut [&mut [u8]],
        now_ns: u64,
        out: &mut [dpufw_verdict],
    ) -> Result<()> {
        self.check_port(port)?;
        match &mut self.engine {
            Engine::Software(fw) if fw.tracker().is_none() => {
                // A stateless policy: a verdict holds the pipes' verdict and rule only
                // (no state, no full table), so no outcome is built per frame.
                fw.installed().set_time_ns(now_ns);
                self.briefs.clear();
                fw.installed()
                    .process_batch_brief(port, frames, None, &mut self.briefs);
                for (v, b) in out.iter_mut().zip(&self.briefs) {
                    let rule = Installed::rule_of_tag(b.tag);
                    *v = verdict_of(b.verdict, rule, None, false, false);
                }
                Ok(())
            }
            Engine::Software(fw) => {
                fw.installed().set_time_ns(now_ns);
                fw.process_batch_each(port, frames, now_ns, |i, o, rule, state, table_full| {
                    let p = Processed {
                        decision: dpu_fw::install::Decision { outcome: *o, rule },
                        state,
                        table_full,
                    };
                    out[i] = verdict(&p, false);
                });
                Ok(())
            }
            #[cfg(any(feature = "doca", feature = "doca-emu"))]
            _ => {
                for (f, v) in frames.iter_mut().zip(out.iter_mut()) {
                    *v = self.process(port, f, now_ns)?;
                }
                Ok(())
            }
        }
    }

    pub(crate) fn rule_counters(&self) -> Vec<doca_flow::Counters> {
        match &self.engine {
            Engine::Software(fw) => fw.installed().rule_counters(),
            #[cfg(any(feature = "doca", feature = "doca-emu"))]
            Engine::Hardware(hw) => hw.rule_counters(),
            #[cfg(any(feature = "doca", feature = "doca-emu"))]
            Engine::Offload(o) => {
                let mut c = o.software().installed().rule_counters();
                for (a, b) in c.iter_mut().zip(o.hardware().rule_counters()) {
                    a.packets += b.packets;
                    a.bytes += b.bytes;
                }
                c
            }
        }
    }
}

#[cfg(any(feature = "doca", feature = "doca-emu"))]
fn stateful_change() -> Failure {
    Failure::new(
        dpufw_status::DPUFW_ERR_UNSUPPORTED,
        "a reload on the hardware backend cannot switch between a policy with rules that \
         match on `state` (the hardware pipes in front of the software path) and one \
         without (the hardware pipes alone); free the firewall and make a new one",
    )
}

/// On a real BlueField the NIC runs the pipes: no packet passes through this process.
#[cfg(any(feature = "doca", feature = "doca-emu"))]
fn nic_runs_the_pipes(hw: &Installed) -> Result<()> {
    if hw.flow().datapath().is_some() {
        return Ok(());
    }
    Err(Failure::new(
        dpufw_status::DPUFW_ERR_UNSUPPORTED,
        "on the hardware backend the NIC runs the pipes: packets are classified on the \
         wire, not through dpufw_firewall_process (read the rule counters instead)",
    ))
}

fn verdict(p: &Processed, in_hardware: bool) -> dpufw_verdict {
    let d = &p.decision;
    verdict_of(
        d.outcome.verdict,
        d.rule,
        p.state,
        p.table_full,
        in_hardware,
    )
}

/// [`verdict`] from its parts: the pipes' verdict and deciding rule, the connection
/// state, whether a full table dropped the packet.
fn verdict_of(
    v: Verdict,
    rule: Option<u32>,
    state: Option<CtState>,
    table_full: bool,
    in_hardware: bool,
) -> dpufw_verdict {
    let (action, out_port) = match v {
        _ if table_full => (dpufw_action::DPUFW_ACTION_DROP, -1),
        Verdict::Port(id) => (dpufw_action::DPUFW_ACTION_FORWARD, i32::from(id.0)),
        Verdict::Drop(_) => (dpufw_action::DPUFW_ACTION_DROP, -1),
        Verdict::Kernel => (dpufw_action::DPUFW_ACTION_TO_KERNEL, -1),
        // Rss, Miss, and any later way to software.
        _ => (dpufw_action::DPUFW_ACTION_TO_SOFTWARE, -1),
    };
    dpufw_verdict {
        pass: passes(v) && !table_full,
        action,
        out_port,
        rule: rule.map_or(-1, |r| i32::try_from(r).unwrap_or(i32::MAX)),
        ct_state: match state {
            None => dpufw_ct_state::DPUFW_CT_NONE,
            Some(CtState::New) => dpufw_ct_state::DPUFW_CT_NEW,
            Some(CtState::Established) => dpufw_ct_state::DPUFW_CT_ESTABLISHED,
            Some(CtState::Related) => dpufw_ct_state::DPUFW_CT_RELATED,
            Some(CtState::Invalid) => dpufw_ct_state::DPUFW_CT_INVALID,
        },
        table_full,
        in_hardware,
    }
}

// The header promises that a firewall may be used from any thread, one at a time, and
// that a policy may be read from several at once.
const _: () = {
    const fn send<T: Send>() {}
    const fn sync<T: Sync>() {}
    send::<dpufw_firewall>();
    send::<crate::policy::dpufw_policy>();
    sync::<crate::policy::dpufw_policy>();
};
