//! Pipe handles that carry their kind: a wrong-kind entry add is a compile error.
//!
//! ```compile_fail,E0308
//! use doca_flow::{BasicEntry, Flags, Flow, Fwd, Match};
//! let flow = Flow::builder().build().unwrap();
//! let p0 = flow.start_port(doca_flow::PortId(0), "p0").unwrap();
//! let mut q = flow.take_queue(0).unwrap();
//! let acl = p0.pipe_builder("acl").acl().fwd(Fwd::Changeable).build().unwrap();
//! acl.add_entry(&mut q, BasicEntry::new(Match::new()), Flags::NoWait); // an ACL pipe takes AclEntry
//! ```

use core::marker::PhantomData;

use crate::backend::Flags;
use crate::ct::CtEntry;
use crate::entry::{BasicEntry, ControlEntry, Entry, HashEntry, LpmEntry};
use crate::error::Result;
use crate::flow::Queue;
use crate::pipe::Pipe;
use crate::pipe::acl::AclEntry;

/// The pipe kinds, as type parameters of [`TypedPipe`] and
/// [`PipeBuilder`](crate::PipeBuilder).
pub mod kind {
    use crate::backend::PipeType;

    mod sealed {
        pub trait Sealed {}
    }

    /// A pipe kind known at compile time.
    pub trait Kind: sealed::Sealed {
        /// Its DOCA pipe type.
        const TYPE: PipeType;
    }

    macro_rules! kinds {
        ($($(#[$doc:meta])* $name:ident => $ty:ident),* $(,)?) => {$(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub struct $name;
            impl sealed::Sealed for $name {}
            impl Kind for $name {
                const TYPE: PipeType = PipeType::$ty;
            }
        )*};
    }

    kinds! {
        /// `DOCA_FLOW_PIPE_BASIC`.
        Basic => Basic,
        /// `DOCA_FLOW_PIPE_CONTROL`.
        Control => Control,
        /// `DOCA_FLOW_PIPE_ACL`.
        Acl => Acl,
        /// `DOCA_FLOW_PIPE_LPM`.
        Lpm => Lpm,
        /// `DOCA_FLOW_PIPE_HASH`.
        Hash => Hash,
        /// `DOCA_FLOW_PIPE_CT`.
        Ct => Ct,
    }

    /// A kind chosen at run time ([`PipeBuilder::pipe_type`](crate::PipeBuilder::pipe_type)):
    /// the builder makes an untyped [`Pipe`](crate::Pipe).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Dynamic;
}

/// A pipe whose kind `K` is in its type. Derefs to the untyped [`Pipe`] for what every
/// kind has (removing and updating entries, the miss counter, forwarding to it with
/// [`Fwd::pipe`](crate::Fwd::pipe)).
#[must_use]
pub struct TypedPipe<K> {
    pipe: Pipe,
    kind: PhantomData<K>,
}

impl<K> TypedPipe<K> {
    pub(crate) fn new(pipe: Pipe) -> Self {
        TypedPipe {
            pipe,
            kind: PhantomData,
        }
    }

    /// The untyped handle.
    pub fn pipe(&self) -> &Pipe {
        &self.pipe
    }
}

impl<K> Clone for TypedPipe<K> {
    fn clone(&self) -> Self {
        TypedPipe::new(self.pipe.clone())
    }
}

impl<K> core::fmt::Debug for TypedPipe<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.pipe.fmt(f)
    }
}

impl<K> core::ops::Deref for TypedPipe<K> {
    type Target = Pipe;
    fn deref(&self) -> &Pipe {
        &self.pipe
    }
}

impl<K> From<TypedPipe<K>> for Pipe {
    fn from(p: TypedPipe<K>) -> Pipe {
        p.pipe
    }
}

/// A basic pipe.
pub type BasicPipe = TypedPipe<kind::Basic>;
/// A control pipe.
pub type ControlPipe = TypedPipe<kind::Control>;
/// An ACL pipe.
pub type AclPipe = TypedPipe<kind::Acl>;
/// An LPM pipe.
pub type LpmPipe = TypedPipe<kind::Lpm>;
/// A hash pipe.
pub type HashPipe = TypedPipe<kind::Hash>;
/// A connection-tracking pipe.
pub type CtPipe = TypedPipe<kind::Ct>;

impl BasicPipe {
    /// Posts an entry. It becomes active once `queue` is processed and it reports success.
    ///
    /// # Errors
    /// [`Error::ValueForConstantField`](crate::Error::ValueForConstantField),
    /// [`Error::MissingEntryFwd`](crate::Error::MissingEntryFwd),
    /// [`Error::FwdNotAllowed`](crate::Error::FwdNotAllowed),
    /// [`Error::CapacityExceeded`](crate::Error::CapacityExceeded),
    /// [`Error::QueueFull`](crate::Error::QueueFull).
    #[doc(alias = "doca_flow_pipe_basic_add_entry")]
    #[doc(alias = "doca_flow_pipe_add_entry")]
    pub fn add_entry(&self, queue: &mut Queue, e: BasicEntry, flags: Flags) -> Result<Entry> {
        self.pipe.add_basic(queue, e, flags)
    }
}

impl ControlPipe {
    /// Posts an entry (control entries take no flags in DOCA: pushed at once).
    ///
    /// # Errors
    /// As [`BasicPipe::add_entry`].
    #[doc(alias = "doca_flow_pipe_control_add_entry")]
    pub fn add_entry(&self, queue: &mut Queue, e: ControlEntry) -> Result<Entry> {
        self.pipe.add_control(queue, e)
    }
}

impl AclPipe {
    /// Posts an entry. Use [`Flags::WaitForBatch`] for all but the last entry of a batch.
    ///
    /// # Errors
    /// [`Error::PriorityOutOfRange`](crate::Error::PriorityOutOfRange) above 1024 (unless
    /// the flow was built with
    /// [`SwBackend::unbounded_acl_priorities`](crate::SwBackend::unbounded_acl_priorities)),
    /// [`Error::Invalid`](crate::Error::Invalid) for a bad 5-tuple or a family other than
    /// the pipe's, and as [`BasicPipe::add_entry`].
    #[doc(alias = "doca_flow_pipe_acl_add_entry")]
    pub fn add_entry(&self, queue: &mut Queue, e: AclEntry, flags: Flags) -> Result<Entry> {
        self.pipe.add_acl(queue, e, flags)
    }
}

impl LpmPipe {
    /// Posts an entry.
    ///
    /// # Errors
    /// As [`BasicPipe::add_entry`]; [`Error::Invalid`](crate::Error::Invalid) when the mask
    /// is not a prefix.
    #[doc(alias = "doca_flow_pipe_lpm_add_entry")]
    pub fn add_entry(&self, queue: &mut Queue, e: LpmEntry, flags: Flags) -> Result<Entry> {
        self.pipe.add_lpm(queue, e, flags)
    }
}

impl HashPipe {
    /// Posts an entry in its bucket.
    ///
    /// # Errors
    /// As [`BasicPipe::add_entry`]; a bucket index out of range.
    #[doc(alias = "doca_flow_pipe_hash_add_entry")]
    pub fn add_entry(&self, queue: &mut Queue, e: HashEntry, flags: Flags) -> Result<Entry> {
        self.pipe.add_hash(queue, e, flags)
    }
}

impl CtPipe {
    /// Posts a connection (see [`crate::ct`]).
    ///
    /// # Errors
    /// What DOCA refuses of a connection ([`Error::Invalid`](crate::Error::Invalid)), and
    /// as [`BasicPipe::add_entry`].
    #[doc(alias = "doca_flow_ct_add_entry")]
    pub fn add_entry(&self, queue: &mut Queue, e: CtEntry, flags: Flags) -> Result<Entry> {
        self.pipe.add_ct(queue, e, flags)
    }
}

/// An entry of any kind, for pipes whose kind is known only at run time
/// ([`Pipe::add_any`]).
#[derive(Debug, Clone)]
pub enum AnyEntry {
    /// For a basic pipe.
    Basic(BasicEntry),
    /// For a control pipe (flags are ignored: DOCA pushes control entries at once).
    Control(ControlEntry),
    /// For an ACL pipe.
    Acl(AclEntry),
    /// For an LPM pipe.
    Lpm(LpmEntry),
    /// For a hash pipe.
    Hash(HashEntry),
    /// For a CT pipe.
    Ct(CtEntry),
}

impl Pipe {
    /// Posts an entry whose kind is checked now, against the pipe's: for pipes whose kind
    /// is data (a compiled plan). Pipes of a known kind take their entries through
    /// [`TypedPipe`]'s `add_entry`, checked by the compiler.
    ///
    /// # Errors
    /// [`Error::WrongPipeType`](crate::Error::WrongPipeType) for another kind's entry; as
    /// the typed adds.
    pub fn add_any(&self, queue: &mut Queue, e: AnyEntry, flags: Flags) -> Result<Entry> {
        match e {
            AnyEntry::Basic(e) => self.add_basic(queue, e, flags),
            AnyEntry::Control(e) => self.add_control(queue, e),
            AnyEntry::Acl(e) => self.add_acl(queue, e, flags),
            AnyEntry::Lpm(e) => self.add_lpm(queue, e, flags),
            AnyEntry::Hash(e) => self.add_hash(queue, e, flags),
            AnyEntry::Ct(e) => self.add_ct(queue, e, flags),
        }
    }
}
