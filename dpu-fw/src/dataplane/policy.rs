//! The policy as a dataplane [`Processor`]: one worker's [`Firewall`] (conntrack stage
//! and installed pipes) between the dataplane's ports. `dpu-fw run` and
//! `examples/firewall.rs` both run their policy through it.

use std::sync::Arc;
use std::time::Instant;

use doca_flow::{PortId, Verdict};

use super::{Disposition, PortSpec, Processor};
use crate::firewall::{Firewall, OffloadRequest, Processed};
use crate::install::{Decision, Installed};

/// What a [`FirewallProcessor`]'s owner wants to hear about the packets, beyond their
/// dispositions. Every method has a default that does nothing; `()` hears nothing.
pub trait Hooks: Send {
    /// `packets` packets of `bytes` bytes in all from dataplane port `in_port` that no
    /// rule decided (the policy's default did): told once per burst (a burst comes from
    /// one port), and only when `packets > 0`.
    #[inline]
    fn default_decided(&mut self, in_port: usize, packets: u64, bytes: u64) {
        let _ = (in_port, packets, bytes);
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
    /// With a tracker: the current burst's frame lengths, and its tracked packets for
    /// offload asks.
    lens: Vec<usize>,
    tracked: Vec<(usize, Processed)>,
    /// A stateless policy's briefs of the current burst.
    briefs: Vec<doca_flow::Brief>,
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
            briefs: Vec::with_capacity(64),
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
            self.hooks.default_decided(in_port, 1, len as u64);
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
        // Summed over the burst and told once, not a hook call (a load and a store of
        // a shared counter) per packet; in turns that measured at most 2% (docs/performance.md).
        let (mut defaults, mut default_bytes) = (0u64, 0u64);
        if self.fw.tracker().is_none() {
            // A stateless policy: each frame's verdict and rule is all this reads, so
            // the pipes build no outcome per frame (`Installed::process_batch_brief`),
            // and this loop, not a callback, keeps the sums in registers. (A frame's
            // length does not change in the pipes: a rewrite changes bytes only.)
            self.briefs.clear();
            self.fw
                .installed()
                .process_batch_brief(port_id, packets, None, &mut self.briefs);
            // `extend` of an exact-size iterator: one reservation, no capacity check
            // per frame; the sums stay branch-free.
            let index_of = &self.index_of;
            out.extend(self.briefs.iter().zip(packets.iter()).map(|(b, p)| {
                let default = Installed::rule_of_tag(b.tag).is_none();
                defaults += u64::from(default);
                default_bytes += if default { p.len() as u64 } else { 0 };
                disposition(index_of, b.verdict)
            }));
            if defaults > 0 {
                self.hooks.default_decided(in_port, defaults, default_bytes);
            }
            return;
        }
        self.lens.clear();
        self.lens.extend(packets.iter().map(|p| p.len()));
        // Only the connection tracker (and its offload asks) reads the clock.
        let now = self.now_ns();
        let offloading = self.hooks.wants_offloads();
        let (lens, index_of) = (&self.lens, &self.index_of);
        let tracked = &mut self.tracked;
        tracked.clear();
        self.fw
            .process_batch_each(port_id, packets, now, |i, o, rule, state, table_full| {
                if rule.is_none() {
                    defaults += 1;
                    default_bytes += lens[i] as u64;
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
        if defaults > 0 {
            self.hooks.default_decided(in_port, defaults, default_bytes);
        }
        for (i, p) in self.tracked.drain(..) {
            if let Some(ask) = self.fw.offload_request(port_id, packets[i], &p, now) {
                self.hooks.offload(ask, &self.fw, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{Target, compile};
    use crate::dataplane::Device;
    use crate::install::Installed;
    use doca_flow::packet::PacketBuilder;

    /// Counts what the processor tells it.
    #[derive(Default)]
    struct Counting {
        calls: Vec<(usize, u64, u64)>,
    }

    impl Hooks for Counting {
        fn default_decided(&mut self, in_port: usize, packets: u64, bytes: u64) {
            self.calls.push((in_port, packets, bytes));
        }
    }

    /// A burst tells its defaults once, summed; a rule's packets are not among them,
    /// and a burst with none tells nothing. A single packet tells its own.
    #[test]
    fn defaults_are_told_once_per_burst_with_their_sums() {
        let rules = crate::config::parse(
            r#"
            [ports.p0]
            role = "uplink"
            id = 0
            [ports.p1]
            role = "host"
            id = 1
            [[rules]]
            name = "web"
            in_port = "p0"
            protocol = "tcp"
            dst_port = 80
            action = "accept"
            [defaults]
            inbound = "drop"
            outbound = "accept"
            "#,
            "fw.toml",
        )
        .unwrap()
        .rules;
        let plan = compile(&rules, &Target::software()).unwrap();
        let fw = Firewall::new(Arc::new(Installed::new(&plan).unwrap()), &rules, None);
        let ports: Vec<PortSpec> = ["p0", "p1"]
            .iter()
            .enumerate()
            .map(|(i, name)| PortSpec {
                name: (*name).into(),
                device: Device::Id(i as u16),
            })
            .collect();
        let mut p =
            FirewallProcessor::with_hooks(fw, &ports, Instant::now(), Counting::default()).unwrap();
        let (a, b) = ([10, 0, 0, 1].into(), [192, 0, 2, 80].into());
        let web = || PacketBuilder::tcp4(a, b, 40000, 80).build();
        let other = |pad: usize| {
            PacketBuilder::udp4(a, b, 5000, 53)
                .payload(&vec![0; pad])
                .build()
        };
        let mut frames = [web(), other(10), web(), other(30), other(0)];
        let want_bytes: u64 = [1, 3, 4].iter().map(|&i| frames[i].len() as u64).sum();
        let mut burst: Vec<&mut [u8]> = frames.iter_mut().map(|f| &mut f[..]).collect();
        let mut out = Vec::new();
        p.process_burst(0, &mut burst, &mut out);
        assert_eq!(out.len(), 5);
        assert_eq!(p.hooks.calls, vec![(0, 3, want_bytes)]);
        // Only rule hits: nothing told.
        let mut frames = [web(), web()];
        let mut burst: Vec<&mut [u8]> = frames.iter_mut().map(|f| &mut f[..]).collect();
        p.process_burst(0, &mut burst, &mut out);
        assert_eq!(p.hooks.calls.len(), 1);
        // One packet at a time, from the host side (the outbound default).
        let mut one = other(7);
        let len = one.len() as u64;
        p.process(1, &mut one);
        assert_eq!(p.hooks.calls[1], (1, 1, len));
    }
}
