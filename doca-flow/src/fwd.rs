//! Forwarding: where a packet goes after a pipe or entry (`struct doca_flow_fwd`).

use crate::backend::{FwdSpec, PipeId, PortId};
use crate::pipe::Pipe;

/// A forwarding target, as `struct doca_flow_fwd`.
///
/// `Fwd::Pipe` holds a [`Pipe`] handle, so a pipe that something forwards to stays alive as
/// long as the forwarding does.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Fwd {
    /// Send out of a port (`DOCA_FLOW_FWD_PORT`). In the ingress domain this first runs the
    /// egress-domain root pipe of that port (of its switch, in switch mode), if there is one.
    Port(PortId),
    /// Continue in another pipe of the same port and domain (`DOCA_FLOW_FWD_PIPE`).
    Pipe(Pipe),
    /// Drop (`DOCA_FLOW_FWD_DROP`).
    Drop,
    /// Deliver to software: one of `queues`, chosen by a hash of the packet's 5-tuple
    /// (`DOCA_FLOW_FWD_RSS`).
    Rss {
        /// The candidate queues (must be below the flow's queue count).
        queues: Vec<u16>,
    },
    /// Deliver to the kernel (`DOCA_FLOW_FWD_TARGET` with the kernel target).
    Kernel,
    /// Each entry gives its own fwd (`DOCA_FLOW_FWD_CHANGEABLE`); pipe-level only.
    Changeable,
}

impl Fwd {
    /// `Fwd::Pipe` to `pipe`, typed or not (a [`TypedPipe`](crate::TypedPipe) derefs to
    /// its [`Pipe`]): `Fwd::pipe(&acl)`.
    pub fn pipe(pipe: &Pipe) -> Fwd {
        Fwd::Pipe(pipe.clone())
    }

    /// The DOCA-side name of the kind, for errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Fwd::Port(_) => "port",
            Fwd::Pipe(_) => "pipe",
            Fwd::Drop => "drop",
            Fwd::Rss { .. } => "rss",
            Fwd::Kernel => "kernel",
            Fwd::Changeable => "changeable",
        }
    }

    /// The plain-data form handed to a backend.
    pub(crate) fn spec(&self) -> FwdSpec {
        match self {
            Fwd::Port(p) => FwdSpec::Port(*p),
            Fwd::Pipe(p) => FwdSpec::Pipe(p.id()),
            Fwd::Drop => FwdSpec::Drop,
            Fwd::Rss { queues } => FwdSpec::Rss(queues.clone().into_boxed_slice()),
            Fwd::Kernel => FwdSpec::Kernel,
            Fwd::Changeable => FwdSpec::Changeable,
        }
    }

    pub(crate) fn target_pipe(&self) -> Option<(&Pipe, PipeId)> {
        match self {
            Fwd::Pipe(p) => Some((p, p.id())),
            _ => None,
        }
    }
}
