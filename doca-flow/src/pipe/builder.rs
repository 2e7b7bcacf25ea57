//! The pipe builder: `struct doca_flow_pipe_cfg` + `doca_flow_pipe_create`.

use std::sync::{Arc, Mutex};

use crate::action::Actions;
use crate::backend::{Domain, PipeCfg, PipeType, PortKind};
use crate::error::{Error, Result};
use crate::fwd::Fwd;
use crate::matching::{Field, Match, Template};
use crate::monitor::Monitor;
use crate::net::Family;
use crate::pipe::{Pipe, PipeInner, TypedPipe, check_fwd, kind};
use crate::port::PortInner;
use core::marker::PhantomData;

/// Builds a pipe; consumed by `build`. The kind is in the type: a builder starts as a
/// basic pipe's, [`PipeBuilder::control`], [`PipeBuilder::acl`], [`PipeBuilder::lpm`],
/// [`PipeBuilder::hash`] and [`PipeBuilder::ct`] make it another kind's, and `build`
/// returns that kind's [`TypedPipe`], whose `add_entry` takes that kind's entry only. A
/// kind known only at run time ([`PipeBuilder::pipe_type`]) builds an untyped [`Pipe`]
/// that takes an [`AnyEntry`](crate::pipe::AnyEntry), checked when it is added.
///
/// ```compile_fail,E0382
/// # let flow = doca_flow::Flow::builder().build().unwrap();
/// # let p0 = flow.start_port(doca_flow::PortId(0), "p0").unwrap();
/// let b = p0.pipe_builder("x").fwd(doca_flow::Fwd::Drop);
/// let pipe = b.build().unwrap();
/// let again = b.build(); // the builder was consumed
/// ```
#[must_use]
pub struct PipeBuilder<K = kind::Basic> {
    port: Arc<PortInner>,
    cfg: PipeCfg,
    fwd: Option<Fwd>,
    fwd_miss: Option<Fwd>,
    acl: Family,
    kind: PhantomData<K>,
}

impl<K> core::fmt::Debug for PipeBuilder<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PipeBuilder")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl PipeBuilder {
    pub(crate) fn new(port: Arc<PortInner>, name: &str) -> Self {
        let cfg = PipeCfg {
            name: name.into(),
            port: port.cfg.id,
            pipe_type: PipeType::Basic,
            domain: Domain::Ingress,
            is_root: false,
            nr_entries: 1024,
            matcher: Match::new(),
            match_mask: None,
            actions: Actions::default(),
            monitor: Monitor::default(),
            miss_counter: false,
        };
        Self {
            port,
            cfg,
            fwd: None,
            fwd_miss: None,
            acl: Family::Ipv4,
            kind: PhantomData,
        }
    }
}

impl<K> PipeBuilder<K> {
    fn into_kind<L>(mut self, t: PipeType) -> PipeBuilder<L> {
        self.cfg.pipe_type = t;
        PipeBuilder {
            port: self.port,
            cfg: self.cfg,
            fwd: self.fwd,
            fwd_miss: self.fwd_miss,
            acl: self.acl,
            kind: PhantomData,
        }
    }

    /// A control pipe's builder (`DOCA_FLOW_PIPE_CONTROL`).
    #[doc(alias = "doca_flow_pipe_cfg_set_type")]
    pub fn control(self) -> PipeBuilder<kind::Control> {
        self.into_kind(PipeType::Control)
    }

    /// An ACL pipe's builder (`DOCA_FLOW_PIPE_ACL`).
    pub fn acl(self) -> PipeBuilder<kind::Acl> {
        self.into_kind(PipeType::Acl)
    }

    /// An LPM pipe's builder (`DOCA_FLOW_PIPE_LPM`).
    pub fn lpm(self) -> PipeBuilder<kind::Lpm> {
        self.into_kind(PipeType::Lpm)
    }

    /// A hash pipe's builder (`DOCA_FLOW_PIPE_HASH`).
    pub fn hash(self) -> PipeBuilder<kind::Hash> {
        self.into_kind(PipeType::Hash)
    }

    /// A connection-tracking pipe's builder (`DOCA_FLOW_PIPE_CT`, see [`crate::ct`]).
    pub fn ct(self) -> PipeBuilder<kind::Ct> {
        self.into_kind(PipeType::Ct)
    }

    /// The pipe type, known only at run time: the builder makes an untyped [`Pipe`].
    #[doc(alias = "doca_flow_pipe_cfg_set_type")]
    pub fn pipe_type(self, t: PipeType) -> PipeBuilder<kind::Dynamic> {
        self.into_kind(t)
    }

    /// The domain (default ingress).
    #[doc(alias = "doca_flow_pipe_cfg_set_domain")]
    pub fn domain(mut self, d: Domain) -> Self {
        self.cfg.domain = d;
        self
    }

    /// Whether packets of the port and domain start here (default false).
    #[doc(alias = "doca_flow_pipe_cfg_set_is_root")]
    pub fn root(mut self, is_root: bool) -> Self {
        self.cfg.is_root = is_root;
        self
    }

    /// Capacity: the most entries the pipe holds (default 1024). A CT pipe
    /// ([`PipeType::Ct`]) ignores it: it holds the connections the CT
    /// configuration sizes ([`CtCfg`](crate::ct::CtCfg), per family), as DOCA sizes its CT.
    #[doc(alias = "doca_flow_pipe_cfg_set_nr_entries")]
    pub fn nr_entries(mut self, n: u32) -> Self {
        self.cfg.nr_entries = n;
        self
    }

    /// The match template (see [`matching`](crate::matching) for DOCA's rules).
    #[doc(alias = "doca_flow_pipe_cfg_set_match")]
    pub fn matcher(mut self, m: Match) -> Self {
        self.cfg.matcher = m;
        self
    }

    /// An explicit match mask.
    #[doc(alias = "doca_flow_pipe_cfg_set_match")]
    pub fn match_mask(mut self, m: Match) -> Self {
        self.cfg.match_mask = Some(m);
        self
    }

    /// The address family of an ACL pipe (default IPv4).
    pub fn acl_family(mut self, f: Family) -> Self {
        self.acl = f;
        self
    }

    /// Actions applied on every hit.
    #[doc(alias = "doca_flow_pipe_cfg_set_actions")]
    pub fn actions(mut self, a: Actions) -> Self {
        self.cfg.actions = a;
        self
    }

    /// Counters and meters on every entry.
    #[doc(alias = "doca_flow_pipe_cfg_set_monitor")]
    pub fn monitor(mut self, m: Monitor) -> Self {
        self.cfg.monitor = m;
        self
    }

    /// Count packets that miss.
    #[doc(alias = "doca_flow_pipe_cfg_set_miss_counter")]
    pub fn miss_counter(mut self, on: bool) -> Self {
        self.cfg.miss_counter = on;
        self
    }

    /// Where hits go. Basic, LPM and hash pipes need one ([`Fwd::Changeable`] for per-entry);
    /// control and ACL pipes forward per entry and take none.
    pub fn fwd(mut self, f: Fwd) -> Self {
        self.fwd = Some(f);
        self
    }

    /// Where misses go. Without one, a miss in a non-root pipe drops the packet, a miss in
    /// the ingress root goes to the port's RSS queues, and a miss in the egress root leaves
    /// through the port.
    pub fn fwd_miss(mut self, f: Fwd) -> Self {
        self.fwd_miss = Some(f);
        self
    }

    /// Validates the configuration and creates the pipe.
    fn create(mut self) -> Result<Pipe> {
        let cfg = &mut self.cfg;
        if matches!(self.port.cfg.kind, PortKind::Representor { .. }) {
            return Err(Error::Mismatch(
                "in switch mode, pipes are created on the switch port",
            ));
        }
        if cfg.nr_entries == 0 {
            return Err(Error::Invalid {
                what: "nr_entries",
                reason: "must be positive".into(),
            });
        }
        let ty = cfg.pipe_type;
        if ty == PipeType::Ct {
            if self.port.flow.ct.is_none() {
                return Err(Error::Unsupported {
                    what: "DOCA_FLOW_PIPE_CT",
                    reason: "the flow was built without FlowBuilder::conntrack",
                });
            }
            if cfg.is_root {
                return Err(Error::Invalid {
                    what: "ct pipe",
                    reason: "a CT pipe cannot be a root pipe".into(),
                });
            }
            if cfg.matcher != Match::default() || cfg.match_mask.is_some() {
                return Err(Error::Invalid {
                    what: "ct pipe match",
                    reason: "a CT pipe matches nothing of its own: its entries are connections"
                        .into(),
                });
            }
            if !matches!(
                self.fwd,
                Some(Fwd::Pipe(_) | Fwd::Port(_) | Fwd::Drop | Fwd::Rss { .. })
            ) {
                return Err(Error::Invalid {
                    what: "ct pipe fwd",
                    reason: "a CT pipe needs a concrete fwd for hits".into(),
                });
            }
        }
        if ty == PipeType::Acl {
            if cfg.is_root {
                return Err(Error::AclRoot);
            }
            // The template names the family; entries carry the 5-tuple.
            cfg.matcher = match self.acl {
                Family::Ipv4 => Match::changeable(&[Field::Ipv4Src, Field::Ipv4Dst]),
                Family::Ipv6 => Match::changeable(&[Field::Ipv6Src, Field::Ipv6Dst]),
            };
            cfg.match_mask = None;
        }
        let template = Template::compile(&cfg.matcher, cfg.match_mask.as_ref());
        if ty == PipeType::Lpm {
            let addr = template
                .changeable
                .iter()
                .filter(|(f, _)| {
                    matches!(
                        f,
                        Field::Ipv4Src | Field::Ipv4Dst | Field::Ipv6Src | Field::Ipv6Dst
                    )
                })
                .count();
            if addr != 1 {
                return Err(Error::Invalid {
                    what: "lpm pipe match",
                    reason: format!("exactly one changeable address field, found {addr}"),
                });
            }
        }
        match (&self.fwd, ty) {
            (Some(f), PipeType::Control | PipeType::Acl) if !matches!(f, Fwd::Changeable) => {
                return Err(Error::FwdNotAllowed {
                    fwd: f.kind(),
                    reason: "control and ACL pipes forward per entry",
                });
            }
            (None, PipeType::Basic | PipeType::Lpm | PipeType::Hash) => {
                return Err(Error::Invalid {
                    what: "fwd",
                    reason: format!(
                        "{} pipes need a fwd (Fwd::Changeable for per-entry)",
                        ty.name()
                    ),
                });
            }
            _ => {}
        }
        let nr_queues = self.port.flow.cfg.queues;
        let owner = self.port.cfg.id;
        if let Some(f) = &self.fwd {
            check_fwd(f, owner, cfg.domain, nr_queues, &self.port.flow, true)?;
        }
        if let Some(f) = &self.fwd_miss {
            if matches!(f, Fwd::Changeable) {
                return Err(Error::FwdNotAllowed {
                    fwd: "changeable",
                    reason: "fwd_miss cannot be changeable",
                });
            }
            check_fwd(f, owner, cfg.domain, nr_queues, &self.port.flow, false)?;
        }
        if cfg.is_root {
            self.port.claim_root(cfg.domain)?;
        }
        let fwd_spec = self.fwd.as_ref().map(Fwd::spec);
        let miss_spec = self.fwd_miss.as_ref().map(Fwd::spec);
        let created =
            self.port
                .flow
                .backend()
                .pipe_create(cfg, fwd_spec.as_ref(), miss_spec.as_ref());
        let id = match created {
            Ok(id) => id,
            Err(e) => {
                if cfg.is_root {
                    self.port.release_root(cfg.domain);
                }
                return Err(e);
            }
        };
        let mut targets = Vec::new();
        for f in [&self.fwd, &self.fwd_miss].into_iter().flatten() {
            if let Fwd::Pipe(p) = f {
                targets.push(p.clone());
            }
        }
        let fwd_changeable = matches!(self.fwd, None | Some(Fwd::Changeable));
        Ok(Pipe {
            inner: Arc::new(PipeInner {
                port: self.port,
                id,
                cfg: self.cfg,
                template,
                fwd_changeable,
                targets: Mutex::new(targets),
                entry_targets: Mutex::default(),
            }),
        })
    }
}

impl<K: kind::Kind> PipeBuilder<K> {
    /// Validates the configuration and creates the pipe.
    ///
    /// # Errors
    /// [`Error::AclRoot`], [`Error::RootExists`], [`Error::FwdNotAllowed`],
    /// [`Error::Invalid`], [`Error::Mismatch`], backend failures.
    #[doc(alias = "doca_flow_pipe_create")]
    pub fn build(self) -> Result<TypedPipe<K>> {
        self.create().map(TypedPipe::new)
    }
}

impl PipeBuilder<kind::Dynamic> {
    /// Validates the configuration and creates the pipe, of the type given at run time.
    ///
    /// # Errors
    /// As the typed builders' `build`.
    #[doc(alias = "doca_flow_pipe_create")]
    pub fn build(self) -> Result<Pipe> {
        self.create()
    }
}
