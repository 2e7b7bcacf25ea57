//! Pipes: creation ([`builder`]), entries, and the rules DOCA puts on both.

pub mod acl;
pub mod builder;
mod typed;

pub use typed::{
    AclPipe, AnyEntry, BasicPipe, ControlPipe, CtPipe, HashPipe, LpmPipe, TypedPipe, kind,
};

use std::sync::{Arc, Mutex};

use crate::backend::{Domain, EntrySpec, EntryUpdate, Flags, PipeCfg, PipeId, PipeType, PortId};
use crate::entry::{BasicEntry, ControlEntry, Entry, HashEntry, LpmEntry};
use crate::error::{Error, Result};
use crate::flow::{FlowInner, Queue};
use crate::fwd::Fwd;
use crate::matching::Template;
use crate::monitor::Counters;
use crate::port::PortInner;
use acl::AclEntry;

pub(crate) struct PipeInner {
    pub(crate) port: Arc<PortInner>,
    pub(crate) id: PipeId,
    pub(crate) cfg: PipeCfg,
    pub(crate) template: Template,
    /// Entries give their own fwd.
    pub(crate) fwd_changeable: bool,
    /// Pipes this pipe's fwd and fwd_miss forward to: kept alive while this pipe lives.
    pub(crate) targets: Mutex<Vec<Pipe>>,
    /// Pipes its entries forward to, per entry: kept alive while the entry may be in the
    /// data path, and let go once it left it and its handle is gone (an update keeps the
    /// old target too), so a generation of pipes replaced under a live root is freed.
    pub(crate) entry_targets: Mutex<std::collections::HashMap<crate::EntryId, Vec<Pipe>>>,
}

impl PipeInner {
    fn hold_target(&self, entry: crate::EntryId, target: Pipe) {
        self.entry_targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(entry)
            .or_default()
            .push(target);
    }

    /// Lets go of what `entry` held, once it can no longer forward packets.
    pub(crate) fn release_targets(&self, entry: crate::EntryId) -> Option<Vec<Pipe>> {
        self.entry_targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&entry)
    }
}

impl Drop for PipeInner {
    fn drop(&mut self) {
        // SAFETY: this is the pipe's last handle. Pipes and entries that forward to a
        // pipe hold a handle of it (`targets`), so none is left; the pipe holds its
        // port, which is therefore still started.
        unsafe { self.port.flow.backend().pipe_destroy(self.id) };
        if self.cfg.is_root {
            self.port.release_root(self.cfg.domain);
        }
    }
}

/// A pipe (`struct doca_flow_pipe *`). Holds its port alive; entries and other pipes that
/// forward to it hold it alive. Cloning gives another handle to the same pipe.
///
/// Forwarding targets are held strongly, so pipes that forward to each other in a cycle
/// (possible through entry fwds or [`Pipe::update_miss`]) keep each other alive until the
/// cycle is broken, e.g. by removing the entries or updating the miss.
#[derive(Clone)]
#[must_use]
pub struct Pipe {
    pub(crate) inner: Arc<PipeInner>,
}

impl core::fmt::Debug for Pipe {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pipe")
            .field("id", &self.inner.id)
            .field("name", &self.inner.cfg.name)
            .field("type", &self.inner.cfg.pipe_type)
            .finish()
    }
}

/// Checks a fwd against the pipe it is used in.
pub(crate) fn check_fwd(
    f: &Fwd,
    owner: PortId,
    domain: Domain,
    nr_queues: u16,
    flow: &Arc<FlowInner>,
    changeable_ok: bool,
) -> Result<()> {
    match f {
        Fwd::Changeable if !changeable_ok => Err(Error::FwdNotAllowed {
            fwd: "changeable",
            reason: "entries and fwd_miss need a concrete fwd",
        }),
        Fwd::Rss { queues } => {
            if domain == Domain::Egress {
                return Err(Error::FwdNotAllowed {
                    fwd: "rss",
                    reason: "egress pipes cannot forward to software",
                });
            }
            if queues.is_empty() || queues.iter().any(|&q| q >= nr_queues) {
                return Err(Error::Invalid {
                    what: "rss queues",
                    reason: format!("need 1.. queues below {nr_queues}"),
                });
            }
            Ok(())
        }
        Fwd::Kernel if domain == Domain::Egress => Err(Error::FwdNotAllowed {
            fwd: "kernel",
            reason: "egress pipes cannot forward to the kernel",
        }),
        Fwd::Pipe(p) => {
            let t = &p.inner;
            if !Arc::ptr_eq(&t.port.flow, flow) || t.port.owner_id() != owner {
                return Err(Error::Mismatch("fwd to a pipe of another port"));
            }
            if t.cfg.domain != domain {
                return Err(Error::FwdNotAllowed {
                    fwd: "pipe",
                    reason: "the target pipe is in another domain",
                });
            }
            if t.cfg.is_root {
                return Err(Error::FwdNotAllowed {
                    fwd: "pipe",
                    reason: "a root pipe is reached only from its port",
                });
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

impl Pipe {
    /// The backend's id.
    pub fn id(&self) -> PipeId {
        self.inner.id
    }

    /// The configuration it was built from.
    pub fn cfg(&self) -> &PipeCfg {
        &self.inner.cfg
    }

    /// The port it belongs to.
    pub fn port_id(&self) -> PortId {
        self.inner.port.cfg.id
    }

    fn check_queue(&self, q: &Queue) -> Result<()> {
        if Arc::ptr_eq(&q.flow, &self.inner.port.flow) {
            Ok(())
        } else {
            Err(Error::Mismatch("queue of another flow"))
        }
    }

    fn check_type(&self, entry: PipeType) -> Result<()> {
        let pipe = self.inner.cfg.pipe_type;
        if pipe == entry {
            Ok(())
        } else {
            Err(Error::WrongPipeType {
                entry: entry.name(),
                pipe: pipe.name(),
            })
        }
    }

    /// Validates an entry's fwd and returns its spec.
    /// An entry's fwd, checked, and the pipe it forwards to (which the entry must hold
    /// alive while it is in the data path: see [`PipeInner::entry_targets`]).
    fn entry_fwd(
        &self,
        f: Option<&Fwd>,
    ) -> Result<(Option<crate::backend::FwdSpec>, Option<Pipe>)> {
        let i = &self.inner;
        match (f, i.fwd_changeable) {
            (None, true) => Err(Error::MissingEntryFwd),
            (None, false) => Ok((None, None)),
            (Some(f), false) => Err(Error::FwdNotAllowed {
                fwd: f.kind(),
                reason: "the pipe's fwd is not changeable",
            }),
            (Some(f), true) => {
                check_fwd(
                    f,
                    i.port.cfg.id,
                    i.cfg.domain,
                    i.port.flow.cfg.queues,
                    &i.port.flow,
                    false,
                )?;
                Ok((Some(f.spec()), f.target_pipe().map(|(p, _)| p.clone())))
            }
        }
    }

    fn add(
        &self,
        q: &mut Queue,
        spec: EntrySpec,
        flags: Flags,
        target: Option<Pipe>,
    ) -> Result<Entry> {
        let id = self
            .inner
            .port
            .flow
            .backend()
            .entry_add(q.id, self.inner.id, spec, flags)?;
        if let Some(t) = target {
            self.inner.hold_target(id, t);
        }
        Ok(Entry {
            pipe: self.clone(),
            id,
        })
    }

    /// Posts an entry on a basic pipe. It becomes active once `queue` is processed and it
    /// reports success.
    ///
    /// # Errors
    /// [`Error::WrongPipeType`], [`Error::ValueForConstantField`], [`Error::MissingEntryFwd`],
    /// [`Error::FwdNotAllowed`], [`Error::CapacityExceeded`], [`Error::QueueFull`].
    #[doc(alias = "doca_flow_pipe_basic_add_entry")]
    #[doc(alias = "doca_flow_pipe_add_entry")]
    pub(crate) fn add_basic(
        &self,
        queue: &mut Queue,
        e: BasicEntry,
        flags: Flags,
    ) -> Result<Entry> {
        self.check_queue(queue)?;
        self.check_type(PipeType::Basic)?;
        self.inner.template.check_entry(&e.matcher)?;
        self.inner.cfg.actions.check_entry(&e.actions)?;
        let (fwd, target) = self.entry_fwd(e.fwd.as_ref())?;
        let spec = EntrySpec::Basic {
            matcher: e.matcher,
            actions: e.actions,
            monitor: e.monitor,
            fwd,
        };
        self.add(queue, spec, flags, target)
    }

    /// Posts a connection on a CT pipe (`doca_flow_ct_add_entry`). It is in the data path
    /// once `queue` is processed and it reports success; remove it with
    /// [`Pipe::remove_entry`](crate::Pipe::remove_entry) (`doca_flow_ct_rm_entry`).
    ///
    /// # Errors
    /// [`Error::WrongPipeType`]; [`Error::Invalid`] for tuples of different families, a
    /// protocol other than TCP or UDP, or IPv6 without IPv6 connections configured; as
    /// [`Pipe::add_entry`].
    #[doc(alias = "doca_flow_ct_add_entry")]
    pub(crate) fn add_ct(
        &self,
        queue: &mut Queue,
        e: crate::ct::CtEntry,
        flags: Flags,
    ) -> Result<Entry> {
        self.check_queue(queue)?;
        self.check_type(PipeType::Ct)?;
        e.check(self.inner.port.flow.ct.as_ref())?;
        self.add(queue, EntrySpec::Ct(e), flags, None)
    }

    /// Posts an entry on a control pipe.
    ///
    /// # Errors
    /// As [`Pipe::add_entry`].
    #[doc(alias = "doca_flow_pipe_control_add_entry")]
    pub(crate) fn add_control(&self, queue: &mut Queue, e: ControlEntry) -> Result<Entry> {
        self.check_queue(queue)?;
        self.check_type(PipeType::Control)?;
        let (fwd, target) = self.entry_fwd(Some(&e.fwd))?;
        let fwd = fwd.expect("control pipes forward per entry");
        let spec = EntrySpec::Control {
            priority: e.priority.0,
            matcher: e.matcher,
            mask: e.mask,
            actions: e.actions,
            monitor: e.monitor,
            fwd,
        };
        self.add(queue, spec, Flags::NoWait, target)
    }

    /// Posts an entry on an ACL pipe. Use [`Flags::WaitForBatch`] for all but the last entry
    /// of a batch.
    ///
    /// # Errors
    /// [`Error::PriorityOutOfRange`] above 1024 (unless the flow was built with
    /// [`SwBackend::unbounded_acl_priorities`](crate::SwBackend::unbounded_acl_priorities)),
    /// [`Error::Invalid`] for a bad 5-tuple or a
    /// family other than the pipe's, and as [`Pipe::add_entry`].
    #[doc(alias = "doca_flow_pipe_acl_add_entry")]
    pub(crate) fn add_acl(&self, queue: &mut Queue, e: AclEntry, flags: Flags) -> Result<Entry> {
        self.check_queue(queue)?;
        self.check_type(PipeType::Acl)?;
        let max = self.inner.port.flow.acl_max_priority;
        if e.priority.0 > max {
            return Err(Error::PriorityOutOfRange {
                priority: e.priority.0,
                max,
            });
        }
        let fam = e.family()?;
        let v6 = self.inner.cfg.matcher.get(crate::Field::Ipv6Src) != 0;
        if v6 != (fam == crate::net::Family::Ipv6) {
            return Err(Error::Invalid {
                what: "acl entry",
                reason: "address family differs from the pipe's".into(),
            });
        }
        let (matcher, mask) = e.to_doca()?;
        let (fwd, target) = self.entry_fwd(Some(&e.fwd))?;
        let fwd = fwd.expect("acl pipes forward per entry");
        self.add(
            queue,
            EntrySpec::Acl {
                priority: e.priority.0,
                matcher,
                mask,
                fwd,
            },
            flags,
            target,
        )
    }

    /// Posts an entry on an LPM pipe.
    ///
    /// # Errors
    /// As [`Pipe::add_entry`]; [`Error::Invalid`] when the mask is not a prefix.
    #[doc(alias = "doca_flow_pipe_lpm_add_entry")]
    pub(crate) fn add_lpm(&self, queue: &mut Queue, e: LpmEntry, flags: Flags) -> Result<Entry> {
        self.check_queue(queue)?;
        self.check_type(PipeType::Lpm)?;
        self.inner.template.check_entry(&e.matcher)?;
        self.inner.cfg.actions.check_entry(&e.actions)?;
        let (fwd, target) = self.entry_fwd(e.fwd.as_ref())?;
        let mut mask = e.mask;
        // Exact fields need no mask from the caller.
        for &(f, m) in &self.inner.template.changeable {
            if !matches!(
                f,
                crate::Field::Ipv4Src
                    | crate::Field::Ipv4Dst
                    | crate::Field::Ipv6Src
                    | crate::Field::Ipv6Dst
            ) {
                mask.set(f, m);
            }
        }
        let spec = EntrySpec::Lpm {
            matcher: e.matcher,
            mask,
            actions: e.actions,
            monitor: e.monitor,
            fwd,
        };
        self.add(queue, spec, flags, target)
    }

    /// Posts the entry of one bucket of a hash pipe.
    ///
    /// # Errors
    /// As [`Pipe::add_entry`]; [`Error::CapacityExceeded`] for an index beyond `nr_entries`.
    #[doc(alias = "doca_flow_pipe_hash_add_entry")]
    pub(crate) fn add_hash(&self, queue: &mut Queue, e: HashEntry, flags: Flags) -> Result<Entry> {
        self.check_queue(queue)?;
        self.check_type(PipeType::Hash)?;
        if e.index >= self.inner.cfg.nr_entries {
            return Err(Error::CapacityExceeded {
                what: "hash pipe index",
                limit: self.inner.cfg.nr_entries,
            });
        }
        self.inner.cfg.actions.check_entry(&e.actions)?;
        let (fwd, target) = self.entry_fwd(e.fwd.as_ref())?;
        let spec = EntrySpec::Hash {
            index: e.index,
            actions: e.actions,
            monitor: e.monitor,
            fwd,
        };
        self.add(queue, spec, flags, target)
    }

    /// Posts an update of an entry's actions, monitor or fwd.
    ///
    /// # Errors
    /// [`Error::Mismatch`] for an entry of another pipe; as
    /// [`BasicPipe::add_entry`](crate::BasicPipe::add_entry).
    #[doc(alias = "doca_flow_pipe_update_entry")]
    pub fn update_entry(
        &self,
        queue: &mut Queue,
        entry: &Entry,
        actions: Option<crate::Actions>,
        monitor: Option<crate::Monitor>,
        fwd: Option<Fwd>,
        flags: Flags,
    ) -> Result<()> {
        self.check_queue(queue)?;
        if !Arc::ptr_eq(&entry.pipe.inner, &self.inner) {
            return Err(Error::Mismatch("entry of another pipe"));
        }
        if !matches!(
            self.inner.cfg.pipe_type,
            PipeType::Basic | PipeType::Lpm | PipeType::Acl
        ) {
            return Err(Error::Unsupported {
                what: "doca_flow_pipe_update_entry",
                reason: "DOCA updates entries of basic, LPM and ACL pipes only: \
                         add a new entry and remove the old one",
            });
        }
        if let Some(a) = &actions {
            if self.inner.cfg.pipe_type != PipeType::Control {
                self.inner.cfg.actions.check_entry(a)?;
            }
        }
        let (fwd, target) = match fwd {
            Some(f) => self.entry_fwd(Some(&f))?,
            None => (None, None),
        };
        let update = EntryUpdate {
            actions,
            monitor,
            fwd,
        };
        self.inner
            .port
            .flow
            .backend()
            .entry_update(queue.id, entry.id, update, flags)?;
        if let Some(t) = target {
            // The old target may still be in use until the update completes: both stay
            // held while the entry lives.
            self.inner.hold_target(entry.id, t);
        }
        Ok(())
    }

    /// Posts the removal of an entry; it leaves the data path when `queue` is processed.
    ///
    /// # Errors
    /// [`Error::Mismatch`] for an entry of another pipe; [`Error::QueueFull`].
    #[doc(alias = "doca_flow_pipe_remove_entry")]
    pub fn remove_entry(&self, queue: &mut Queue, entry: &Entry, flags: Flags) -> Result<()> {
        self.check_queue(queue)?;
        if !Arc::ptr_eq(&entry.pipe.inner, &self.inner) {
            return Err(Error::Mismatch("entry of another pipe"));
        }
        self.inner
            .port
            .flow
            .backend()
            .entry_remove(queue.id, entry.id, flags)
    }

    /// Replaces where this pipe's misses go, at once (no queue involved).
    ///
    /// # Errors
    /// As for `fwd_miss` in [`PipeBuilder::build`](builder::PipeBuilder::build).
    #[doc(alias = "doca_flow_pipe_update_miss")]
    pub fn update_miss(&self, fwd_miss: Fwd) -> Result<()> {
        let i = &self.inner;
        if matches!(fwd_miss, Fwd::Changeable) {
            return Err(Error::FwdNotAllowed {
                fwd: "changeable",
                reason: "fwd_miss cannot be changeable",
            });
        }
        if fwd_miss
            .target_pipe()
            .is_some_and(|(p, _)| Arc::ptr_eq(&p.inner, &self.inner))
        {
            return Err(Error::FwdNotAllowed {
                fwd: "pipe",
                reason: "a pipe cannot send its misses to itself",
            });
        }
        check_fwd(
            &fwd_miss,
            i.port.cfg.id,
            i.cfg.domain,
            i.port.flow.cfg.queues,
            &i.port.flow,
            false,
        )?;
        i.port
            .flow
            .backend()
            .pipe_update_miss(i.id, &fwd_miss.spec())?;
        if let Some((p, _)) = fwd_miss.target_pipe() {
            // The old miss target stays held too: DOCA may still send misses there until
            // the update is in force.
            i.targets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(p.clone());
        }
        Ok(())
    }

    /// The bucket of this hash pipe that a packet with these field values lands in, so an
    /// entry can be put where a flow will hash to.
    ///
    /// # Errors
    /// [`Error::WrongPipeType`] for pipes other than hash pipes.
    #[doc(alias = "doca_flow_pipe_calc_hash")]
    pub fn calc_hash(&self, values: &crate::Match) -> Result<u32> {
        self.inner
            .port
            .flow
            .backend()
            .pipe_calc_hash(self.inner.id, values)
    }

    /// Packets that missed this pipe (needs `miss_counter(true)`).
    ///
    /// # Errors
    /// [`Error::NoCounter`] when the pipe has no miss counter.
    #[doc(alias = "doca_flow_resource_query_pipe_miss")]
    pub fn query_miss(&self) -> Result<Counters> {
        self.inner
            .port
            .flow
            .backend()
            .query_pipe_miss(self.inner.id)
    }
}
