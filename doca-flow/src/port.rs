//! Ports (`doca_flow_port_start` / `doca_flow_port_stop`), in vnf and switch mode.

use std::sync::{Arc, Mutex};

use crate::backend::{Completion, Domain, PortCfg, PortId, PortKind};
use crate::error::{Error, Result};
use crate::flow::{FlowInner, Queue};
use crate::pipe::builder::PipeBuilder;

pub(crate) struct PortInner {
    pub(crate) flow: Arc<FlowInner>,
    pub(crate) cfg: PortCfg,
    /// The switch port that owns this representor (kept alive by it).
    pub(crate) switch: Option<Arc<PortInner>>,
    /// Whether a root pipe exists, per domain.
    pub(crate) roots: Mutex<[bool; 2]>,
}

impl Drop for PortInner {
    fn drop(&mut self) {
        // SAFETY: this is the port's last handle. Every pipe holds its port, and every
        // representor its switch port, so all of them are gone: their pipes were
        // destroyed when their last handles dropped.
        let _ = unsafe { self.flow.backend().port_stop(self.cfg.id) };
    }
}

/// A started port. Pipes and representors hold it (an `Arc`), so it stops only after them;
/// it holds the [`Flow`](crate::Flow) alive in turn.
///
/// Stopping consumes the handle:
/// ```compile_fail,E0382
/// # let flow = doca_flow::Flow::builder().build().unwrap();
/// let p0 = flow.start_port(doca_flow::PortId(0), "p0").unwrap();
/// p0.stop().unwrap();
/// let _ = p0.id(); // used after stop
/// ```
#[must_use]
pub struct Port {
    pub(crate) inner: Arc<PortInner>,
}

impl core::fmt::Debug for Port {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Port")
            .field("cfg", &self.inner.cfg)
            .finish()
    }
}

impl Port {
    pub(crate) fn start(
        flow: Arc<FlowInner>,
        cfg: PortCfg,
        switch: Option<Arc<PortInner>>,
    ) -> Result<Port> {
        flow.backend().port_start(&cfg)?;
        Ok(Port {
            inner: Arc::new(PortInner {
                flow,
                cfg,
                switch,
                roots: Mutex::new([false; 2]),
            }),
        })
    }

    /// The port id.
    pub fn id(&self) -> PortId {
        self.inner.cfg.id
    }

    /// The port's name.
    pub fn name(&self) -> &str {
        &self.inner.cfg.name
    }

    /// Plain, switch or representor.
    pub fn kind(&self) -> PortKind {
        self.inner.cfg.kind
    }

    /// Starts a representor (`pf0hpf`, `pf0vf0`, an SF) of this switch port.
    ///
    /// # Errors
    /// [`Error::Invalid`] if this is not a switch port; backend failures.
    #[doc(alias = "doca_flow_port_start")]
    pub fn start_representor(&self, id: PortId, name: &str) -> Result<Port> {
        if self.kind() != PortKind::Switch {
            return Err(Error::Invalid {
                what: "representor",
                reason: format!("{} is not a switch port", self.name()),
            });
        }
        let cfg = PortCfg {
            id,
            name: name.into(),
            kind: PortKind::Representor { switch: self.id() },
        };
        Port::start(self.inner.flow.clone(), cfg, Some(self.inner.clone()))
    }

    /// Pairs two ports (for hairpin). The sw backend records the pair and nothing more.
    ///
    /// # Errors
    /// [`Error::Mismatch`] for ports of different flows; backend failures.
    #[doc(alias = "doca_flow_port_pair")]
    pub fn pair(&self, other: &Port) -> Result<()> {
        if !Arc::ptr_eq(&self.inner.flow, &other.inner.flow) {
            return Err(Error::Mismatch("ports of different flows"));
        }
        self.inner.flow.backend().port_pair(self.id(), other.id())
    }

    /// Starts building a pipe on this port (`doca_flow_pipe_cfg_create`).
    #[doc(alias = "doca_flow_pipe_cfg_create")]
    pub fn pipe_builder(&self, name: &str) -> PipeBuilder {
        PipeBuilder::new(self.inner.clone(), name)
    }

    /// How many pipes and representors still hold this port.
    pub fn holders(&self) -> usize {
        Arc::strong_count(&self.inner) - 1
    }

    /// Completes up to `max` (0: all) operations posted on `queue` for this port's pipes, and
    /// reports each through the flow's entry-process callback and the returned list. On a
    /// representor this processes its switch port, which owns the pipes.
    ///
    /// # Errors
    /// [`Error::Mismatch`] for a queue of another flow; backend failures.
    #[doc(alias = "doca_flow_entries_process")]
    pub fn entries_process(&self, queue: &mut Queue, max: u32) -> Result<Vec<Completion>> {
        if !Arc::ptr_eq(&self.inner.flow, &queue.flow) {
            return Err(Error::Mismatch("queue of another flow"));
        }
        let mut out = Vec::new();
        let owner = self.inner.owner_id();
        self.inner
            .flow
            .backend()
            .entries_process(owner, queue.id, max, &mut out)?;
        self.inner.flow.report(&out);
        Ok(out)
    }

    /// Stops the port.
    ///
    /// # Errors
    /// [`Error::PortBusy`] while pipes or representors hold it; the port then stays started
    /// until the last of them is gone.
    #[doc(alias = "doca_flow_port_stop")]
    pub fn stop(self) -> Result<()> {
        let live = self.holders();
        if live > 0 {
            return Err(Error::PortBusy {
                port: self.id().0,
                live,
            });
        }
        Ok(())
    }
}

impl PortInner {
    /// The port whose pipes handle this port's packets.
    pub(crate) fn owner_id(&self) -> PortId {
        self.switch.as_ref().map_or(self.cfg.id, |s| s.cfg.id)
    }

    pub(crate) fn claim_root(&self, domain: Domain) -> Result<()> {
        let mut r = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        if r[domain as usize] {
            return Err(Error::RootExists {
                port: self.cfg.id.0,
                domain: domain.name(),
            });
        }
        r[domain as usize] = true;
        Ok(())
    }

    pub(crate) fn release_root(&self, domain: Domain) {
        self.roots.lock().unwrap_or_else(|e| e.into_inner())[domain as usize] = false;
    }
}
