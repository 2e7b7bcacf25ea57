//! The library handle (`doca_flow_init` / `doca_flow_destroy`) and its queues.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backend::sw::SwBackend;
use crate::backend::{Backend, Completion, FlowCfg, Mode, PortCfg, PortId, PortKind};
use crate::error::{Error, Result};
use crate::port::Port;

type EntryCb = Box<dyn FnMut(&Completion) + Send>;

pub(crate) struct FlowInner {
    backend: Mutex<Box<dyn Backend>>,
    pub(crate) cfg: FlowCfg,
    queues: Vec<AtomicBool>,
    entry_cb: Mutex<Option<EntryCb>>,
    /// The largest ACL priority entries may have (DOCA: 1024).
    pub(crate) acl_max_priority: u32,
    /// Connection tracking, if the flow was built with it.
    pub(crate) ct: Option<crate::ct::CtCfg>,
}

impl FlowInner {
    /// Locks the backend. Poisoning is ignored: the backend's state is consistent between
    /// calls, and a panic in a caller's callback does not run inside the lock.
    pub(crate) fn backend(&self) -> MutexGuard<'_, Box<dyn Backend>> {
        self.backend.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn report(&self, completions: &[Completion]) {
        let mut cb = self.entry_cb.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cb) = cb.as_mut() {
            for c in completions {
                cb(c);
            }
        }
    }
}

/// The DOCA Flow library: configuration, backend, queues. Ports hold it alive, so it is
/// torn down last.
///
/// Cloning gives another handle to the same library.
#[derive(Clone)]
#[must_use]
pub struct Flow {
    pub(crate) inner: Arc<FlowInner>,
}

impl core::fmt::Debug for Flow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Flow")
            .field("cfg", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Flow`] (`struct doca_flow_cfg`).
#[must_use]
pub struct FlowBuilder {
    cfg: FlowCfg,
    cb: Option<EntryCb>,
    ct: Option<crate::ct::CtCfg>,
}

impl Default for FlowBuilder {
    fn default() -> Self {
        Self {
            cfg: FlowCfg {
                mode: Mode::Vnf,
                queues: 1,
                queue_depth: 128,
                counters: 1 << 16,
                meters: 1 << 12,
            },
            cb: None,
            ct: None,
        }
    }
}

impl FlowBuilder {
    /// vnf (default) or switch mode (`doca_flow_cfg_set_mode_args`).
    #[doc(alias = "doca_flow_cfg_set_mode_args")]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.cfg.mode = mode;
        self
    }

    /// Number of queues (default 1).
    #[doc(alias = "doca_flow_cfg_set_pipe_queues")]
    pub fn queues(mut self, n: u16) -> Self {
        self.cfg.queues = n;
        self
    }

    /// Operations a queue holds before it must be processed (default 128).
    #[doc(alias = "doca_flow_cfg_set_queue_depth")]
    pub fn queue_depth(mut self, n: u32) -> Self {
        self.cfg.queue_depth = n;
        self
    }

    /// Counter pool size (default 65536).
    #[doc(alias = "doca_flow_cfg_set_nr_counters")]
    pub fn counters(mut self, n: u32) -> Self {
        self.cfg.counters = n;
        self
    }

    /// Meter pool size (default 4096).
    #[doc(alias = "doca_flow_cfg_set_nr_meters")]
    pub fn meters(mut self, n: u32) -> Self {
        self.cfg.meters = n;
        self
    }

    /// Called once per completed entry operation, from `entries_process`, after the backend
    /// is unlocked (the callback may query entries). It must not call `entries_process`
    /// itself.
    #[doc(alias = "doca_flow_cfg_set_cb_entry_process")]
    pub fn entry_process_cb(mut self, cb: impl FnMut(&Completion) + Send + 'static) -> Self {
        self.cb = Some(Box::new(cb));
        self
    }

    /// Connection tracking (`doca_flow_ct_init`, called after `doca_flow_init` and before
    /// any port starts): lets the flow have CT pipes (see [`crate::ct`]).
    pub fn conntrack(mut self, cfg: crate::ct::CtCfg) -> Self {
        self.ct = Some(cfg);
        self
    }

    /// Initialises the library on the software backend: a [`SwFlow`], whose backend
    /// ([`SwFlow::sw`]) is always there to run packets.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero queues or a zero queue depth.
    #[doc(alias = "doca_flow_init")]
    pub fn build(self) -> Result<SwFlow> {
        self.build_with(SwBackend::new()).map(SwFlow)
    }

    /// Initialises the library on the given backend.
    ///
    /// # Errors
    /// [`Error::Invalid`] for zero queues or a zero queue depth; the backend's init failure.
    pub fn build_with(self, mut backend: impl Backend) -> Result<Flow> {
        if self.cfg.queues == 0 {
            return Err(Error::Invalid {
                what: "queues",
                reason: "at least one queue".into(),
            });
        }
        if self.cfg.queue_depth == 0 {
            return Err(Error::Invalid {
                what: "queue_depth",
                reason: "must be positive".into(),
            });
        }
        backend.init(&self.cfg)?;
        if let Some(ct) = &self.ct {
            // DOCA: after doca_flow_init, before any port starts.
            backend.ct_init(ct)?;
        }
        let acl_max_priority = backend.acl_max_priority();
        Ok(Flow {
            inner: Arc::new(FlowInner {
                backend: Mutex::new(Box::new(backend)),
                queues: (0..self.cfg.queues)
                    .map(|_| AtomicBool::new(false))
                    .collect(),
                cfg: self.cfg,
                entry_cb: Mutex::new(self.cb),
                acl_max_priority,
                ct: self.ct,
            }),
        })
    }
}

impl Flow {
    /// A builder with the defaults: vnf mode, one queue of depth 128.
    pub fn builder() -> FlowBuilder {
        FlowBuilder::default()
    }

    /// The configuration.
    pub fn cfg(&self) -> &FlowCfg {
        &self.inner.cfg
    }

    /// The CT entries of `port`'s pipes that have had no hit for their timeout
    /// (`doca_flow_aging_handle` with its `DOCA_FLOW_ENTRY_OP_AGED` callbacks), each
    /// reported once until it is hit again. The caller removes them
    /// ([`Pipe::remove_entry`](crate::Pipe::remove_entry), matching by [`Entry::id`](crate::Entry::id)).
    #[doc(alias = "doca_flow_aging_handle")]
    pub fn ct_aged(&self, port: &crate::Port) -> Vec<crate::EntryId> {
        let mut out = Vec::new();
        self.inner.backend().ct_aged(port.id(), &mut out);
        out
    }

    /// Takes queue `id` for this thread of work. A queue is held by one [`Queue`] at a time;
    /// dropping it gives it back.
    ///
    /// # Errors
    /// [`Error::Queue`] if `id` is out of range or already taken.
    pub fn take_queue(&self, id: u16) -> Result<Queue> {
        let slot = self.inner.queues.get(usize::from(id)).ok_or(Error::Queue {
            queue: id,
            reason: "out of range",
        })?;
        if slot.swap(true, Ordering::AcqRel) {
            return Err(Error::Queue {
                queue: id,
                reason: "already taken",
            });
        }
        Ok(Queue {
            flow: self.inner.clone(),
            id,
        })
    }

    /// Starts a port in vnf mode.
    ///
    /// # Errors
    /// [`Error::Invalid`] in switch mode (use [`Flow::start_switch_port`]); backend failures.
    #[doc(alias = "doca_flow_port_start")]
    pub fn start_port(&self, id: PortId, name: &str) -> Result<Port> {
        if self.inner.cfg.mode != Mode::Vnf {
            return Err(Error::Invalid {
                what: "port",
                reason: "switch mode: start the switch port, then representors".into(),
            });
        }
        Port::start(
            self.inner.clone(),
            PortCfg {
                id,
                name: name.into(),
                kind: PortKind::Plain,
            },
            None,
        )
    }

    /// Starts the switch manager port in switch mode (usually the uplink `p0`).
    ///
    /// # Errors
    /// [`Error::Invalid`] in vnf mode; backend failures.
    #[doc(alias = "doca_flow_port_start")]
    pub fn start_switch_port(&self, id: PortId, name: &str) -> Result<Port> {
        if self.inner.cfg.mode != Mode::Switch {
            return Err(Error::Invalid {
                what: "port",
                reason: "switch ports exist in switch mode only".into(),
            });
        }
        Port::start(
            self.inner.clone(),
            PortCfg {
                id,
                name: name.into(),
                kind: PortKind::Switch,
            },
            None,
        )
    }

    /// The software backend, locked, if this flow runs on it. Do not call other methods of
    /// this flow's handles, nor drop an [`Entry`](crate::Entry) or the last handle of a
    /// [`Pipe`](crate::Pipe), while holding it: they lock the same backend.
    ///
    /// The guard borrows the flow, so it cannot outlive it:
    /// ```compile_fail,E0597
    /// let sw = {
    ///     let flow: doca_flow::Flow = doca_flow::Flow::builder().build().unwrap().into();
    ///     flow.sw().unwrap()
    /// };
    /// ```
    pub fn sw(&self) -> Option<SwGuard<'_>> {
        let g = self.inner.backend();
        if g.as_any().is::<SwBackend>() {
            Some(SwGuard(g))
        } else {
            None
        }
    }
}

impl Flow {
    /// Where software can run this flow's packets, locked: the software backend itself,
    /// or, for the hardware backend on the DOCA Flow contract emulator (feature
    /// `doca-emu`), the emulated hardware's wire. `None` on real hardware, where the NIC
    /// runs them. The same locking rules as [`Flow::sw`] apply.
    ///
    /// Only packet processing, time and counters read by the wire's own ids belong
    /// here: on the emulator the wire's pipe and entry ids are not this flow's.
    pub fn datapath(&self) -> Option<Datapath<'_>> {
        if let Some(sw) = self.sw() {
            return Some(Datapath::Sw(sw));
        }
        #[cfg(feature = "doca-emu")]
        if self.inner.backend().as_any().is::<crate::HwBackend>() {
            return crate::backend::emu::wire().map(Datapath::Emulated);
        }
        None
    }

    /// Tags an entry ([`Backend::entry_tag`]): packets that hit it (and no tagged entry
    /// after it) report `tag` in [`Outcome::tag`](crate::Outcome::tag). On the software
    /// backend and the emulated hardware; real hardware has no tags.
    ///
    /// # Errors
    /// [`Error::Unsupported`] on real hardware; an error for an entry that is not live.
    pub fn tag_entry(&self, entry: crate::EntryId, tag: u32) -> Result<()> {
        self.inner.backend().entry_tag(entry, tag)
    }
}

/// A flow on the software backend ([`FlowBuilder::build`]): a [`Flow`] (it derefs to
/// one) whose [`SwFlow::sw`] needs no unwrapping.
///
/// ```
/// use doca_flow::{Flow, PortId};
/// let flow = Flow::builder().build().unwrap();
/// let _p0 = flow.start_port(doca_flow::PortId(0), "p0").unwrap();
/// let mut frame = vec![0u8; 64];
/// let out = flow.sw().process_packet(PortId(0), &mut frame);
/// # let _ = out;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct SwFlow(Flow);

impl SwFlow {
    /// The software backend, locked (the locking rules of [`Flow::sw`] apply).
    pub fn sw(&self) -> SwGuard<'_> {
        // An SwFlow is made only by FlowBuilder::build, on an SwBackend.
        self.0.sw().expect("an SwFlow runs on the software backend")
    }

    /// The flow.
    pub fn flow(&self) -> &Flow {
        &self.0
    }

    /// The flow, untyped.
    pub fn into_flow(self) -> Flow {
        self.0
    }
}

impl core::ops::Deref for SwFlow {
    type Target = Flow;
    fn deref(&self) -> &Flow {
        &self.0
    }
}

impl From<SwFlow> for Flow {
    fn from(f: SwFlow) -> Flow {
        f.0
    }
}

/// A flow's packet path, locked ([`Flow::datapath`]); derefs to the [`SwBackend`]
/// that runs it.
pub enum Datapath<'a> {
    /// The flow runs on the software backend.
    Sw(SwGuard<'a>),
    /// The flow runs on the hardware backend over the contract emulator.
    #[cfg(feature = "doca-emu")]
    Emulated(crate::backend::emu::Wire),
}

impl core::ops::Deref for Datapath<'_> {
    type Target = SwBackend;
    fn deref(&self) -> &SwBackend {
        match self {
            Datapath::Sw(g) => g,
            #[cfg(feature = "doca-emu")]
            Datapath::Emulated(w) => w,
        }
    }
}

impl core::ops::DerefMut for Datapath<'_> {
    fn deref_mut(&mut self) -> &mut SwBackend {
        match self {
            Datapath::Sw(g) => &mut *g,
            #[cfg(feature = "doca-emu")]
            Datapath::Emulated(w) => &mut *w,
        }
    }
}

/// The locked software backend; derefs to [`SwBackend`].
pub struct SwGuard<'a>(MutexGuard<'a, Box<dyn Backend>>);

impl core::ops::Deref for SwGuard<'_> {
    type Target = SwBackend;
    fn deref(&self) -> &SwBackend {
        self.0.as_any().downcast_ref().expect("checked in Flow::sw")
    }
}

impl core::ops::DerefMut for SwGuard<'_> {
    fn deref_mut(&mut self) -> &mut SwBackend {
        self.0
            .as_any_mut()
            .downcast_mut()
            .expect("checked in Flow::sw")
    }
}

/// A DOCA Flow queue (`pipe_queue`): entry operations are posted on it and completed by
/// [`Port::entries_process`]. Not `Clone`: the hot path borrows it `&mut`, so one thread of
/// work owns a queue at a time.
///
/// ```compile_fail,E0599
/// # let flow = doca_flow::Flow::builder().build().unwrap();
/// let q = flow.take_queue(0).unwrap();
/// let q2 = q.clone(); // queues are not shared
/// ```
///
/// Work on a queue borrows it exclusively, so two operations cannot interleave on it:
/// ```compile_fail,E0499
/// # let flow = doca_flow::Flow::builder().build().unwrap();
/// # let p0 = flow.start_port(doca_flow::PortId(0), "p0").unwrap();
/// let mut q = flow.take_queue(0).unwrap();
/// let held = &mut q;
/// p0.entries_process(&mut q, 0).unwrap(); // `q` is already borrowed
/// held.id();
/// ```
#[must_use]
pub struct Queue {
    pub(crate) flow: Arc<FlowInner>,
    pub(crate) id: u16,
}

impl core::fmt::Debug for Queue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Queue").field("id", &self.id).finish()
    }
}

impl Queue {
    /// The queue id.
    pub fn id(&self) -> u16 {
        self.id
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.flow.queues[usize::from(self.id)].store(false, Ordering::Release);
    }
}
