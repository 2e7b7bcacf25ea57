//! The policy as a dataplane [`Processor`]: one worker's [`Firewall`] (conntrack stage
//! and installed pipes) between the dataplane's ports. `dpu-fw run` and
//! `examples/firewall.rs` both run their policy through it.

use std::sync::Arc;
use std::time::Instant;

use doca_flow::{PortId, Verdict};

use super::{Disposition, PortSpec, Processor};
use crate::firewall::{Firewall, OffloadRequest, Processed};
use crate::install::Decision;

/// What a [`FirewallProcessor`]'s owner wants to hear about the packets, beyond their
/// dispositions. Every method has a default that does nothing; `()` hears nothing.
pub trait Hooks: Send {
    /// A packet of `len` bytes from dataplane port `in_port` that no rule decided
    /// (the policy's default did).
    #[inline]
    fn default_decided(&mut self, in_port: usize, len: usize) {
        let _ = (in_port, len);
    }

    /// Whether [`Hooks::offload`] wants asks (a stateful policy on hardware pipes).
    #[inline]
    fn wants_offloads(&self) -> bool {
        false
    }

    /// An offload ask ([`Firewall::offload_request`]) for the agent that owns the
    /// hardware pipes; `fw` is the worker's, to give a claim back when the ask is
    /// dropped.
    fn offload(&mut self, ask: OffloadRequest, fw: &Firewall, now_ns: u64) {
        let _ = (ask, fw, now_ns);
    }
}

impl Hooks for () {}

/// Why a [`FirewallProcessor`] cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyPortError {
    /// A dataplane port the installed plan does not have.
    #[error("the installed plan has no port `{0}`")]
    NotInPlan(String),
}

/// One worker's policy: frames from dataplane port `i` enter the plan at its port
/// `ids[i]`; a verdict that sends a frame out of a plan port forwards it out of the
/// dataplane port of that name; everything else is dropped.
pub struct FirewallProcessor<H: Hooks = ()> {
    fw: Firewall,
    /// Dataplane port index -> plan (DOCA) port id.
    ids: Vec<PortId>,
    /// Plan port id -> dataplane port index.
    index_of: Vec<Option<usize>>,
    /// The connection tracker's clock starts here (share it among workers).
    epoch: Instant,
    hooks: H,
    /// The current burst's frame lengths, and its tracked packets for offload asks.
    lens: Vec<usize>,
    tracked: Vec<(usize, Processed)>,
}

impl<H: Hooks> core::fmt::Debug for FirewallProcessor<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FirewallProcessor")
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

impl FirewallProcessor<()> {
    /// The processor for `fw` between the dataplane's `ports` (matched to the installed
    /// plan's ports by name), its tracker's clock starting at `epoch`.
    ///
    /// # Errors
    /// [`PolicyPortError::NotInPlan`] for a dataplane port the plan does not have.
    pub fn new(fw: Firewall, ports: &[PortSpec], epoch: Instant) -> Result<Self, PolicyPortError> {
        FirewallProcessor::with_hooks(fw, ports, epoch, ())
    }
}

impl<H: Hooks> FirewallProcessor<H> {
    /// [`FirewallProcessor::new`], telling `hooks` what happens.
    ///
    /// # Errors
    /// As [`FirewallProcessor::new`].
    pub fn with_hooks(
        fw: Firewall,
        ports: &[PortSpec],
        epoch: Instant,
        hooks: H,
    ) -> Result<Self, PolicyPortError> {
        let plan = Arc::clone(fw.installed());
        let mut ids = Vec::with_capacity(ports.len());
        let mut index_of = Vec::new();
        for (i, spec) in ports.iter().enumerate() {
            let id = plan
                .plan()
                .port_id(&spec.name)
                .ok_or_else(|| PolicyPortError::NotInPlan(spec.name.clone()))?;
            ids.push(id);
            let at = usize::from(id.0);
            if index_of.len() <= at {
                index_of.resize(at + 1, None);
            }
            index_of[at] = Some(i);
        }
        Ok(FirewallProcessor {
            fw,
            ids,
            index_of,
            epoch,
            hooks,
            lens: Vec::with_capacity(64),
            tracked: Vec::with_capacity(64),
        })
    }

    /// The worker's firewall.
    pub fn firewall(&self) -> &Firewall {
        &self.fw
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Where a verdict sends a frame among the dataplane's ports.
#[inline]
fn disposition(index_of: &[Option<usize>], verdict: Verdict) -> Disposition {
    match verdict {
        Verdict::Port(p) => match index_of.get(usize::from(p.0)) {
            Some(&Some(i)) => Disposition::Forward(i),
            _ => Disposition::Drop,
        },
        _ => Disposition::Drop,
    }
}

impl<H: Hooks> Processor for FirewallProcessor<H> {
    fn process(&mut self, in_port: usize, packet: &mut [u8]) -> Disposition {
        let Some(&port_id) = self.ids.get(in_port) else {
            return Disposition::Drop;
        };
        let len = packet.len();
        let now = self.now_ns();
        let p = self.fw.process(port_id, packet, now);
        if self.hooks.wants_offloads() {
            if let Some(ask) = self.fw.offload_request(port_id, packet, &p, now) {
                self.hooks.offload(ask, &self.fw, now);
            }
        }
        if p.decision.rule.is_none() {
            self.hooks.default_decided(in_port, len);
        }
        if p.table_full {
            return Disposition::Drop;
        }
        disposition(&self.index_of, p.decision.outcome.verdict)
    }

    fn process_burst(
        &mut self,
        in_port: usize,
        packets: &mut [&mut [u8]],
        out: &mut Vec<Disposition>,
    ) {
        let Some(&port_id) = self.ids.get(in_port) else {
            out.extend(packets.iter().map(|_| Disposition::Drop));
            return;
        };
        self.lens.clear();
        self.lens.extend(packets.iter().map(|p| p.len()));
        let now = self.now_ns();
        let offloading = self.hooks.wants_offloads();
        let (hooks, lens, index_of) = (&mut self.hooks, &self.lens, &self.index_of);
        let tracked = &mut self.tracked;
        tracked.clear();
        self.fw
            .process_batch_each(port_id, packets, now, |i, o, rule, state, table_full| {
                if rule.is_none() {
                    hooks.default_decided(in_port, lens[i]);
                }
                if offloading && state.is_some() {
                    let decision = Decision { outcome: *o, rule };
                    tracked.push((
                        i,
                        Processed {
                            decision,
                            state,
                            table_full,
                        },
                    ));
                }
                out.push(if table_full {
                    Disposition::Drop
                } else {
                    disposition(index_of, o.verdict)
                });
            });
        for (i, p) in self.tracked.drain(..) {
            if let Some(ask) = self.fw.offload_request(port_id, packets[i], &p, now) {
                self.hooks.offload(ask, &self.fw, now);
            }
        }
    }
}
