//! Entry bookkeeping of the sw backend: slots, queued operations and their completion.

use std::collections::{HashMap, HashSet};

use super::table::{ACL_BATCH_BUILD_MIN, ACL_OPTIMIZE_MIN_OPS, Compiled, Table};
use super::{SwBackend, SwPipe};
use crate::acl_encoding::decode_acl;
use crate::action::Actions;
use crate::backend::{
    Completion, EntryError, EntryId, EntryOp, EntrySpec, EntryStatus, Flags, FwdSpec, PipeId,
    PortId,
};
use crate::error::{Error, Result};
use crate::matching::MaskedMatch;
use crate::monitor::{Counters, Monitor, TokenBucket};
use crate::net::Family;

/// What an entry does when it hits.
///
/// `repr(C)` with the fields a hit reads first: together with [`Slot::generation`] they
/// fill the slot's first cache line (checked by a test), so a hit on a cold entry costs
/// one miss, not three; the actions stay behind them.
#[derive(Debug, Clone, Default)]
#[repr(C)]
pub(super) struct EntryData {
    /// `!actions.is_empty()`, computed when the actions are set (the hot path asks per hit).
    pub(super) has_actions: bool,
    pub(super) modifies: bool,
    /// The entry has a counter: `counter` counts.
    pub(super) counted: bool,
    pub(super) meter: Option<Box<TokenBucket>>,
    pub(super) counter: Counters,
    pub(super) fwd: Option<FwdSpec>,
    pub(super) actions: Actions,
    /// A CT entry's reply direction and aging (the origin direction uses the fields
    /// above).
    pub(super) ct: Option<Box<CtData>>,
}

/// The CT part of an entry.
#[derive(Debug, Clone, Default)]
pub(super) struct CtData {
    pub(super) reply_actions: Actions,
    pub(super) reply_counted: bool,
    pub(super) reply_counter: Counters,
    /// Aging timeout (ns); 0: never.
    pub(super) timeout_ns: u64,
    /// The backend's time of the last hit (or of the add).
    pub(super) last_hit_ns: u64,
    /// Reported by `ct_aged` since the last hit.
    pub(super) aged: bool,
}

impl EntryData {
    /// The entry's counts, if it has a counter.
    pub(super) fn counters(&self) -> Option<Counters> {
        self.counted.then_some(self.counter)
    }
}

/// One entry's bookkeeping. `repr(C)` and cache-line aligned: the generation and the hot
/// part of [`EntryData`] share the first line.
#[derive(Debug, Default)]
#[repr(C, align(64))]
pub(super) struct Slot {
    pub(super) generation: u32,
    /// The caller's tag ([`SwBackend::set_entry_tag`]); 0 = none. Kept across entry
    /// updates, cleared when the slot is reused.
    pub(super) tag: u32,
    pub(super) data: EntryData,
    pub(super) live: bool,
    pub(super) pipe: u32,
    pub(super) status: Option<EntryStatus>,
    pub(super) installed: bool,
    pub(super) handle: bool,
    pub(super) pending: u32,
    pub(super) compiled: Option<Compiled>,
}

#[derive(Debug)]
pub(super) enum OpKind {
    Add,
    Update(Box<EntryData>),
    Remove,
}

#[derive(Debug)]
pub(super) struct Op {
    pub(super) port: PortId,
    pub(super) entry: EntryId,
    pub(super) kind: OpKind,
    #[allow(dead_code)]
    pub(super) flags: Flags,
}

/// The parts of a pipe that building an entry's data needs.
pub(super) struct SwPipeView {
    pub(super) monitor: Monitor,
    pub(super) actions: Actions,
    pub(super) fwd: Option<FwdSpec>,
}

impl SwBackend {
    /// Builds an ACL pipe's classifier once for a large batch of adds in one
    /// `entries_process` (see [`ACL_BATCH_BUILD_MIN`]); returns the slots now in their
    /// table, which [`SwBackend::complete_prebuilt`] then completes in queue order.
    pub(super) fn acl_batch_build(&mut self, ops: &[Op]) -> HashSet<u32> {
        let mut per_pipe: HashMap<u32, Vec<(Compiled, u32)>> = HashMap::new();
        for op in ops {
            if let OpKind::Add = op.kind {
                let s = &self.slots[op.entry.index as usize];
                if let Some(c @ (Compiled::Acl4(_) | Compiled::Acl6(_))) = &s.compiled {
                    per_pipe
                        .entry(s.pipe)
                        .or_default()
                        .push((c.clone(), op.entry.index));
                }
            }
        }
        let mut done = HashSet::new();
        for (pipe, items) in per_pipe {
            if items.len() < ACL_BATCH_BUILD_MIN {
                continue;
            }
            let Some(p) = self.pipes[pipe as usize].as_mut() else {
                continue;
            };
            // Every ACL insert makes memos stale, including a bulk one.
            self.acl_version = super::memo::next_version();
            if let Some(ok) = p.table.acl_bulk_insert(&items) {
                done.extend(
                    items
                        .iter()
                        .zip(ok)
                        .filter(|(_, ok)| *ok)
                        .map(|((_, slot), _)| *slot),
                );
            }
        }
        done
    }

    /// The ACL pipes with at least [`ACL_OPTIMIZE_MIN_OPS`] of `ops` (adds and
    /// removes): the ones `entries_process` optimizes once they are applied.
    pub(super) fn acl_batches(&self, ops: &[Op]) -> Vec<u32> {
        let mut per_pipe: HashMap<u32, usize> = HashMap::new();
        for op in ops {
            let Some(s) = self.slots.get(op.entry.index as usize) else {
                continue;
            };
            if let Some(Compiled::Acl4(_) | Compiled::Acl6(_)) = &s.compiled {
                *per_pipe.entry(s.pipe).or_default() += 1;
            }
        }
        per_pipe
            .into_iter()
            .filter(|&(_, n)| n >= ACL_OPTIMIZE_MIN_OPS)
            .map(|(pipe, _)| pipe)
            .collect()
    }

    /// Completes an add whose rule [`SwBackend::acl_batch_build`] already put in its table.
    pub(super) fn complete_prebuilt(&mut self, queue: u16, op: &Op) -> Completion {
        let s = &mut self.slots[op.entry.index as usize];
        s.pending -= 1;
        s.installed = true;
        s.status = Some(EntryStatus::Success);
        Completion {
            entry: op.entry,
            queue,
            op: EntryOp::Add,
            status: EntryStatus::Success,
            error: None,
        }
    }

    pub(super) fn alloc_slot(&mut self, pipe: PipeId) -> EntryId {
        let index = match self.free_slots.pop() {
            Some(i) => i,
            None => {
                if self.slots.len() == self.slots.capacity() {
                    // Grown by doubling, as `push` would, with the new half's pages on
                    // huge pages: a packet's hit reads its entry's slot at random (10k
                    // entries are 3 MB of slots).
                    self.slots.reserve(self.slots.len().max(64));
                    crate::hint::huge_pages(self.slots.spare_capacity_mut());
                    // The old half's pages, for the kernel to merge in the background.
                    crate::hint::huge_pages(&self.slots);
                }
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[index as usize];
        s.generation = s.generation.wrapping_add(1);
        s.tag = 0;
        s.live = true;
        s.pipe = pipe.0;
        s.status = Some(EntryStatus::InProcess);
        s.installed = false;
        s.handle = true;
        s.pending = 0;
        s.compiled = None;
        s.data = EntryData::default();
        EntryId {
            index,
            generation: s.generation,
        }
    }

    pub(super) fn release_resources(&mut self, data: &EntryData) {
        if data.counted {
            self.counters_used -= 1;
        }
        if data.meter.is_some() {
            self.meters_used -= 1;
        }
    }

    /// Frees a slot when nothing refers to it any more.
    pub(super) fn maybe_free(&mut self, index: u32) {
        let s = &mut self.slots[index as usize];
        if s.live && !s.handle && !s.installed && s.pending == 0 {
            s.live = false;
            s.compiled = None;
            let data = std::mem::take(&mut s.data);
            self.release_resources(&data);
            self.free_slots.push(index);
        }
    }

    pub(super) fn push_op(&mut self, queue: u16, op: Op) -> Result<()> {
        let depth = self.flow_cfg()?.queue_depth;
        let q = self
            .queues
            .get_mut(usize::from(queue))
            .ok_or(Error::Queue {
                queue,
                reason: "no such queue",
            })?;
        if q.len() as u32 >= depth {
            return Err(Error::QueueFull { queue, depth });
        }
        q.push_back(op);
        Ok(())
    }

    pub(super) fn check_queue_room(&self, queue: u16) -> Result<()> {
        let depth = self.flow_cfg()?.queue_depth;
        let q = self.queues.get(usize::from(queue)).ok_or(Error::Queue {
            queue,
            reason: "no such queue",
        })?;
        if q.len() as u32 >= depth {
            return Err(Error::QueueFull { queue, depth });
        }
        Ok(())
    }

    /// Builds an entry's runtime data, taking a counter and a meter from the pools.
    pub(super) fn entry_data(
        &mut self,
        pipe: &SwPipeView,
        actions: &Actions,
        monitor: Option<&Monitor>,
        fwd: Option<FwdSpec>,
    ) -> Result<EntryData> {
        let cfg = self.flow_cfg()?.clone();
        let mon = monitor.copied().unwrap_or(pipe.monitor);
        let counter = pipe.monitor.counter || mon.counter;
        if counter && self.counters_used >= cfg.counters {
            return Err(Error::CapacityExceeded {
                what: "counters",
                limit: cfg.counters,
            });
        }
        if mon.meter.is_some() && self.meters_used >= cfg.meters {
            return Err(Error::CapacityExceeded {
                what: "meters",
                limit: cfg.meters,
            });
        }
        if counter {
            self.counters_used += 1;
        }
        if mon.meter.is_some() {
            self.meters_used += 1;
        }
        let actions = pipe.actions.constants().overlay(actions);
        let fwd = match (&pipe.fwd, fwd) {
            (Some(f), None) if *f != FwdSpec::Changeable => Some(f.clone()),
            (_, f) => f,
        };
        Ok(EntryData {
            has_actions: !actions.is_empty(),
            modifies: actions.modifies_headers(),
            actions,
            fwd,
            counted: counter,
            counter: Counters::default(),
            meter: mon.meter.map(|m| Box::new(TokenBucket::new(m))),
            ct: None,
        })
    }

    pub(super) fn compile(&self, p: &SwPipe, spec: &EntrySpec) -> Result<Compiled> {
        Ok(match spec {
            EntrySpec::Basic { matcher, .. } => Compiled::Basic {
                key: p.template.entry_key(matcher),
            },
            EntrySpec::Control {
                priority,
                matcher,
                mask,
                ..
            } => Compiled::Control {
                priority: *priority,
                matcher: MaskedMatch::compile(matcher, mask.as_ref()),
            },
            EntrySpec::Acl {
                priority,
                matcher,
                mask,
                ..
            } => match p.acl {
                Family::Ipv4 => {
                    let r = decode_acl(Family::Ipv4, matcher, mask, *priority)?;
                    Compiled::Acl4(crate::classifier::Rule {
                        src: crate::classifier::Prefix {
                            addr: r.src.0 as u32,
                            len: r.src.1,
                        },
                        dst: crate::classifier::Prefix {
                            addr: r.dst.0 as u32,
                            len: r.dst.1,
                        },
                        src_port: r.src_port,
                        dst_port: r.dst_port,
                        proto: r.proto,
                        proto_mask: r.proto_mask,
                        priority: r.priority,
                        id: 0,
                    })
                }
                Family::Ipv6 => {
                    let r = decode_acl(Family::Ipv6, matcher, mask, *priority)?;
                    Compiled::Acl6(crate::classifier::Rule {
                        src: crate::classifier::Prefix {
                            addr: r.src.0,
                            len: r.src.1,
                        },
                        dst: crate::classifier::Prefix {
                            addr: r.dst.0,
                            len: r.dst.1,
                        },
                        src_port: r.src_port,
                        dst_port: r.dst_port,
                        proto: r.proto,
                        proto_mask: r.proto_mask,
                        priority: r.priority,
                        id: 0,
                    })
                }
            },
            EntrySpec::Lpm { matcher, mask, .. } => {
                let field = p.lpm_field.ok_or(Error::Invalid {
                    what: "lpm pipe",
                    reason: "no changeable address field".into(),
                })?;
                let m = mask.get(field);
                let plen = (m << (128 - field.bits())).leading_ones() as u8;
                if crate::matching::prefix_mask(field, plen) != m {
                    return Err(Error::Invalid {
                        what: "lpm mask",
                        reason: format!("{m:#x} is not a prefix"),
                    });
                }
                let Table::Lpm(t) = &p.table else {
                    unreachable!()
                };
                let mut key: Vec<u128> =
                    t.exact.iter().map(|&(f, mk)| matcher.get(f) & mk).collect();
                key.push(matcher.get(field) & m);
                Compiled::Lpm {
                    len: plen,
                    key: key.into_boxed_slice(),
                }
            }
            EntrySpec::Ct(e) => {
                let origin = super::table::CtKey::of(e.zone, &e.origin);
                let reply = e.reply.map(|r| super::table::CtKey::of(e.zone, &r));
                Compiled::Ct { origin, reply }
            }
            EntrySpec::Hash { index, .. } => {
                if *index >= p.cfg.nr_entries {
                    return Err(Error::CapacityExceeded {
                        what: "hash pipe index",
                        limit: p.cfg.nr_entries,
                    });
                }
                Compiled::Hash { index: *index }
            }
        })
    }
    /// Completes one queued operation.
    pub(super) fn complete(&mut self, queue: u16, op: Op) -> Completion {
        let idx = op.entry.index;
        let done = |status, error, op_kind| Completion {
            entry: op.entry,
            queue,
            op: op_kind,
            status,
            error,
        };
        let s = &mut self.slots[idx as usize];
        s.pending -= 1;
        let pipe_idx = s.pipe as usize;
        let c = match op.kind {
            OpKind::Add => {
                let compiled = s.compiled.clone().expect("added entries are compiled");
                let pipe = self.pipes[pipe_idx]
                    .as_mut()
                    .expect("ops of destroyed pipes are dropped");
                let acl = matches!(pipe.table, super::table::Table::Acl(_));
                match pipe.table.insert(&compiled, idx) {
                    Ok(()) => {
                        if acl {
                            self.acl_changed();
                        }
                        if let Compiled::Control { matcher, .. } = &compiled {
                            self.fields_used |= matcher.required;
                            if let Some(p) = self.pipes[pipe_idx].as_mut() {
                                p.reads |= matcher.required;
                            }
                        }
                        let s = &mut self.slots[idx as usize];
                        s.installed = true;
                        s.status = Some(EntryStatus::Success);
                        done(EntryStatus::Success, None, EntryOp::Add)
                    }
                    Err(_) => {
                        pipe.used -= 1;
                        pipe.used_v6 -= u32::from(compiled.is_v6_ct());
                        let s = &mut self.slots[idx as usize];
                        s.status = Some(EntryStatus::Error);
                        s.compiled = None;
                        let data = std::mem::take(&mut s.data);
                        self.release_resources(&data);
                        done(
                            EntryStatus::Error,
                            Some(EntryError::Duplicate),
                            EntryOp::Add,
                        )
                    }
                }
            }
            OpKind::Update(data) => {
                if s.installed {
                    let (counted, counter) = (s.data.counted, s.data.counter);
                    s.data = *data;
                    s.data.counted = counted;
                    s.data.counter = counter;
                    s.status = Some(EntryStatus::Success);
                    done(EntryStatus::Success, None, EntryOp::Update)
                } else {
                    s.status = Some(EntryStatus::Error);
                    done(
                        EntryStatus::Error,
                        Some(EntryError::NotInstalled),
                        EntryOp::Update,
                    )
                }
            }
            OpKind::Remove => {
                if s.installed {
                    s.installed = false;
                    s.status = Some(EntryStatus::Success);
                    let compiled = s.compiled.take().expect("installed entries are compiled");
                    let data = std::mem::take(&mut s.data);
                    let pipe = self.pipes[pipe_idx].as_mut().expect("live");
                    let acl = matches!(pipe.table, super::table::Table::Acl(_));
                    pipe.table.remove(&compiled, idx);
                    pipe.used -= 1;
                    pipe.used_v6 -= u32::from(compiled.is_v6_ct());
                    if acl {
                        self.acl_changed();
                    }
                    self.release_resources(&data);
                    done(EntryStatus::Success, None, EntryOp::Remove)
                } else {
                    s.status = Some(EntryStatus::Error);
                    done(
                        EntryStatus::Error,
                        Some(EntryError::NotInstalled),
                        EntryOp::Remove,
                    )
                }
            }
        };
        self.maybe_free(idx);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_reads_one_cache_line_of_its_slot() {
        let s = Slot::default();
        let base = &s as *const Slot as usize;
        let end = |p: usize, size: usize| p - base + size;
        assert_eq!(base % 64, 0);
        assert!(end(&s.generation as *const _ as usize, 4) <= 64);
        assert!(end(&s.tag as *const _ as usize, 4) <= 64);
        assert!(end(&s.data.meter as *const _ as usize, 8) <= 64);
        assert!(end(&s.data.counter as *const _ as usize, 16) <= 64);
        let fwd = core::mem::size_of::<Option<FwdSpec>>();
        assert!(end(&s.data.fwd as *const _ as usize, fwd) <= 64);
    }
}
