//! doca-flow: a safe DOCA Flow API with a software backend.

pub mod classifier;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod packet;

pub mod action;
pub mod backend;
pub mod entry;
pub mod error;
pub mod flow;
pub mod fwd;
pub mod matching;
pub mod monitor;
pub mod pipe;
pub mod port;

pub use action::Actions;
pub use backend::sw::{DropReason, Outcome, SwBackend, Verdict};
pub use backend::{
    AclFamily, Backend, Completion, Domain, EntryId, EntryOp, EntryStatus, Flags, Mode, PipeId,
    PipeType, PortId,
};
pub use classifier::PortRange;
pub use entry::{BasicEntry, ControlEntry, Entry, HashEntry, LpmEntry};
pub use error::{Error, Result};
pub use flow::{Flow, FlowBuilder, Queue, SwGuard};
pub use fwd::Fwd;
pub use matching::{Field, L3Type, L4Type, Match, PacketMeta};
pub use monitor::{Counters, MeterCfg, MeterLimit, Monitor};
pub use pipe::acl::{AclEntry, IpPrefix};
pub use pipe::{Pipe, builder::PipeBuilder};
pub use port::Port;
