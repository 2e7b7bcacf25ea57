//! Entries: what each add-entry call takes, and the handle it returns.

use crate::action::Actions;
use crate::backend::{EntryId, EntryStatus};
use crate::error::Result;
use crate::fwd::Fwd;
use crate::matching::Match;
use crate::monitor::{Counters, Monitor};
use crate::pipe::Pipe;

/// An entry priority: the lower value wins; 0 is the highest.
///
/// Control pipes take any `u32`; ACL pipes take `0..=1024` ([`Priority::ACL_LOWEST`]).
/// Plain integers convert: `ControlEntry::new(3, ...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Priority(pub u32);

impl Priority {
    /// The highest priority, 0.
    pub const HIGHEST: Priority = Priority(0);
    /// The lowest priority an ACL pipe accepts, 1024.
    pub const ACL_LOWEST: Priority = Priority(crate::pipe::acl::ACL_MAX_PRIORITY);
}

impl From<u32> for Priority {
    fn from(p: u32) -> Self {
        Priority(p)
    }
}

impl core::fmt::Display for Priority {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

/// An entry of a basic pipe (`doca_flow_pipe_basic_add_entry`): values for the template's
/// changeable fields.
#[derive(Debug, Clone, Default)]
pub struct BasicEntry {
    /// Values of the changeable fields (others must be zero).
    pub matcher: Match,
    /// Per-entry actions (override the pipe's field by field).
    pub actions: Actions,
    /// Per-entry monitor (meter parameters).
    pub monitor: Option<Monitor>,
    /// Fwd, required when the pipe's fwd is [`Fwd::Changeable`], refused otherwise.
    pub fwd: Option<Fwd>,
}

impl BasicEntry {
    /// An entry matching `matcher`.
    pub fn new(matcher: Match) -> Self {
        Self {
            matcher,
            ..Self::default()
        }
    }
    /// With actions.
    #[must_use]
    pub fn actions(mut self, a: Actions) -> Self {
        self.actions = a;
        self
    }
    /// With a monitor.
    #[must_use]
    pub fn monitor(mut self, m: Monitor) -> Self {
        self.monitor = Some(m);
        self
    }
    /// With a fwd.
    #[must_use]
    pub fn fwd(mut self, f: Fwd) -> Self {
        self.fwd = Some(f);
        self
    }
}

/// An entry of a control pipe (`doca_flow_pipe_control_add_entry`).
#[derive(Debug, Clone)]
pub struct ControlEntry {
    /// Priority: lower wins; equal priorities are tried in insertion order.
    pub priority: Priority,
    /// Match values.
    pub matcher: Match,
    /// Match mask; `None`: non-zero fields of `matcher` are matched exactly.
    pub mask: Option<Match>,
    /// Actions.
    pub actions: Actions,
    /// Monitor.
    pub monitor: Option<Monitor>,
    /// Fwd.
    pub fwd: Fwd,
}

impl ControlEntry {
    /// An entry with a priority, a match and a fwd.
    pub fn new(priority: impl Into<Priority>, matcher: Match, fwd: Fwd) -> Self {
        Self {
            priority: priority.into(),
            matcher,
            mask: None,
            actions: Actions::default(),
            monitor: None,
            fwd,
        }
    }
    /// With an explicit mask.
    #[must_use]
    pub fn mask(mut self, m: Match) -> Self {
        self.mask = Some(m);
        self
    }
    /// With actions.
    #[must_use]
    pub fn actions(mut self, a: Actions) -> Self {
        self.actions = a;
        self
    }
    /// With a monitor.
    #[must_use]
    pub fn monitor(mut self, m: Monitor) -> Self {
        self.monitor = Some(m);
        self
    }
}

/// An entry of an LPM pipe (`doca_flow_pipe_lpm_add_entry`).
#[derive(Debug, Clone)]
pub struct LpmEntry {
    /// Address (and exact-field) values.
    pub matcher: Match,
    /// The prefix mask of the LPM field (use [`Match::prefix`]); exact fields need no mask.
    pub mask: Match,
    /// Actions.
    pub actions: Actions,
    /// Monitor.
    pub monitor: Option<Monitor>,
    /// Fwd when the pipe's is changeable.
    pub fwd: Option<Fwd>,
}

impl LpmEntry {
    /// An entry for `matcher` under `mask`.
    pub fn new(matcher: Match, mask: Match) -> Self {
        Self {
            matcher,
            mask,
            actions: Actions::default(),
            monitor: None,
            fwd: None,
        }
    }
    /// With a fwd.
    #[must_use]
    pub fn fwd(mut self, f: Fwd) -> Self {
        self.fwd = Some(f);
        self
    }
    /// With actions.
    #[must_use]
    pub fn actions(mut self, a: Actions) -> Self {
        self.actions = a;
        self
    }
    /// With a monitor.
    #[must_use]
    pub fn monitor(mut self, m: Monitor) -> Self {
        self.monitor = Some(m);
        self
    }
}

/// An entry of a hash pipe (`doca_flow_pipe_hash_add_entry`): owns bucket `index`.
#[derive(Debug, Clone, Default)]
pub struct HashEntry {
    /// The bucket, `0..nr_entries`.
    pub index: u32,
    /// Actions.
    pub actions: Actions,
    /// Monitor.
    pub monitor: Option<Monitor>,
    /// Fwd when the pipe's is changeable.
    pub fwd: Option<Fwd>,
}

impl HashEntry {
    /// The entry for bucket `index`.
    pub fn new(index: u32) -> Self {
        Self {
            index,
            ..Self::default()
        }
    }
    /// With a fwd.
    #[must_use]
    pub fn fwd(mut self, f: Fwd) -> Self {
        self.fwd = Some(f);
        self
    }
}

/// A handle to an entry (`struct doca_flow_pipe_entry *`). It holds its pipe alive.
///
/// Dropping the handle does not remove the entry (as in DOCA, it stays until removed or
/// until its pipe is destroyed); it only gives up the ability to query, update or remove it.
#[must_use = "an entry's status is only known through its handle"]
#[derive(Debug)]
pub struct Entry {
    pub(crate) pipe: Pipe,
    pub(crate) id: EntryId,
}

impl Entry {
    /// The backend's id.
    pub fn id(&self) -> EntryId {
        self.id
    }

    /// The pipe.
    pub fn pipe(&self) -> &Pipe {
        &self.pipe
    }

    /// The status of the last operation on this entry: in process until its queue was
    /// processed, then success or error.
    #[doc(alias = "doca_flow_pipe_entry_get_status")]
    pub fn status(&self) -> EntryStatus {
        self.pipe.inner.port.flow.backend().entry_status(self.id)
    }

    /// Whether the entry is in the data path: its add completed with success and no remove
    /// has completed since.
    pub fn is_installed(&self) -> bool {
        self.pipe.inner.port.flow.backend().entry_installed(self.id)
    }

    /// Its packet and byte counts.
    ///
    /// # Errors
    /// [`Error::NoCounter`](crate::Error::NoCounter) when the entry has no counter.
    #[doc(alias = "doca_flow_resource_query_entry")]
    pub fn query(&self) -> Result<Counters> {
        self.pipe.inner.port.flow.backend().query_entry(self.id)
    }

    /// A CT entry's per-direction counters and last hit (`doca_flow_ct_query_entry`).
    ///
    /// # Errors
    /// When the entry is not a CT entry or is not installed, or the backend has no CT.
    #[doc(alias = "doca_flow_ct_query_entry")]
    pub fn ct_query(&self) -> Result<crate::ct::CtCounters> {
        self.pipe.inner.port.flow.backend().ct_query(self.id)
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let gone = {
            let mut b = self.pipe.inner.port.flow.backend();
            // Out of the data path for good: never added, or removed, and nothing pending.
            let gone =
                !b.entry_installed(self.id) && b.entry_status(self.id) != EntryStatus::InProcess;
            b.entry_release(self.id);
            gone
        };
        if gone {
            // Dropped outside the backend's lock: a target may be a pipe whose last
            // handle this was, and destroying it locks the backend.
            drop(self.pipe.inner.release_targets(self.id));
        }
    }
}
