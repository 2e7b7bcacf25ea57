//! doca-flow: a safe DOCA Flow API with a software backend.
//!
//! The object model follows NVIDIA DOCA Flow: a [`Flow`] (the library, `doca_flow_init`)
//! starts [`Port`]s; a port builds [`Pipe`]s ([`PipeBuilder`], `doca_flow_pipe_cfg_set_*` +
//! `doca_flow_pipe_create`); pipes take [`Entry`]s, posted asynchronously on a [`Queue`] and
//! completed by [`Port::entries_process`] (`doca_flow_entries_process`). Wrappers carry
//! `#[doc(alias = "doca_flow_...")]`, so the C names find them.
//!
//! # Quick start
//!
//! ```
//! use core::net::Ipv4Addr;
//! use doca_flow::packet::PacketBuilder;
//! use doca_flow::{BasicEntry, EntryStatus, Flags, Flow, Fwd, Match, PortId, Verdict};
//!
//! # fn main() -> doca_flow::Result<()> {
//! let flow = Flow::builder().queues(1).build()?; // the sw backend
//! let p0 = flow.start_port(doca_flow::PortId(0), "p0")?;
//! let _p1 = flow.start_port(doca_flow::PortId(1), "p1")?;
//! let mut queue = flow.take_queue(0)?;
//!
//! // Root pipe: IPv4 destination changeable per entry (all ones), TCP port 443 constant.
//! let pipe = p0
//!     .pipe_builder("https")
//!     .root(true)
//!     .matcher(Match::new().ipv4_dst(Ipv4Addr::BROADCAST).tcp_dst_port(443))
//!     .fwd(Fwd::Port(PortId(1)))
//!     .build()?;
//! let entry = pipe.add_entry(
//!     &mut queue,
//!     BasicEntry::new(Match::new().ipv4_dst(Ipv4Addr::new(10, 0, 0, 1))),
//!     Flags::NoWait,
//! )?;
//! assert_eq!(entry.status(), EntryStatus::InProcess); // not active yet
//! p0.entries_process(&mut queue, 0)?;
//! assert_eq!(entry.status(), EntryStatus::Success);
//!
//! let mut frame =
//!     PacketBuilder::tcp4([192, 0, 2, 1].into(), [10, 0, 0, 1].into(), 40000, 443).build();
//! let out = flow.sw().process_packet(PortId(0), &mut frame);
//! assert_eq!(out.verdict, Verdict::Port(PortId(1)));
//! # Ok(())
//! # }
//! ```
//!
//! # Ownership
//!
//! Teardown follows DOCA's order: entries and pipes before their port, representors before
//! the switch port, the library last. Control handles hold an `Arc` to their parent (an
//! [`Entry`] holds its [`Pipe`], a pipe its [`Port`], a port its [`Flow`]; a
//! [`Fwd::Pipe`] holds its target), so no handle can outlive what it needs. Dropping the last
//! handle of a pipe destroys it (with its entries); dropping an [`Entry`] handle does not
//! remove the entry. Per-queue work borrows the [`Queue`] `&mut`; a queue is never shared.
//!
//! # Backends
//!
//! All DOCA calls go through the [`Backend`] trait, one method per DOCA Flow call (see
//! [`backend`]). The safe layer validates arguments first, so every backend sees the same
//! typed errors ([`Error`]).
//!
//! * **sw** ([`SwBackend`], always built): executes the pipes on packet bytes, sans-I/O:
//!   [`SwBackend::process_packet`] / [`SwBackend::process_batch`] take a port and frames and
//!   return [`Outcome`]s (egress port, drop, RSS queue, kernel, default miss), with headers
//!   rewritten in place and counters and meters updated. Time for meters is an explicit input
//!   ([`SwBackend::set_time_ns`]); nothing reads a wall clock.
//! * **hw** (`HwBackend`, features `doca` and `doca-emu`): translates each [`Backend`]
//!   method into its DOCA Flow call through the seam of `doca-sys`
//!   (`include/doca_sys_doca.h`: opaque handles, plain specs). With `doca` the seam is the
//!   C shim over the DOCA SDK, type-checked against DOCA 3.3.0109 and 3.0.0058 headers
//!   (3.2, 3.1 and 2.9 follow NVIDIA's samples, not compiled); **it has never been linked
//!   against `libdoca_flow` nor run on a BlueField.** With `doca-emu` the seam is the DOCA
//!   Flow contract emulator (`backend::emu`), which runs the pipes on the sw backend and
//!   checks DOCA's documented rules on every call; CI runs the hardware backend there.
//!   See `docs/doca-versions.md`.
//!
//! ## DOCA behaviours the sw backend reproduces
//!
//! Each is a test in `tests/flow_semantics.rs`, or a proptest against an oracle or model in
//! `tests/flow_oracle.rs` and `tests/flow_lifecycle.rs`.
//!
//! * Match masks ([`matching`]): a zero pipe value ignores a field, all ones makes it
//!   changeable per entry, any other value is a pipe constant; an explicit mask gives
//!   prefix / bit matching; a field the packet lacks never matches.
//! * Pipe types: basic (exact on changeable fields), control (per-entry match, mask and
//!   priority, lower wins; equal priorities in insertion order), ACL (5-tuple with prefixes
//!   and port ranges encoded `[value..mask]`, priorities `0..=1024`, lower wins, never root;
//!   executed by the crate's [`classifier`], large batches built in one pass), LPM (longest
//!   prefix on one address field, optional exact fields, mask 0 = default route), hash (the
//!   entry of bucket `hash(fields) % nr_entries`). Capacities (`nr_entries`, counter and
//!   meter pools).
//! * Forwarding: port, pipe, drop, RSS (a queue chosen by a hash of the 5-tuple), kernel,
//!   changeable per entry; `fwd_miss` chains; one root pipe per port and domain; a non-root
//!   pipe is reached only by a fwd; egress-domain pipes see packets that ingress forwarded
//!   to their port.
//! * Misses: a non-root pipe without `fwd_miss` drops; an ingress root pipe without
//!   `fwd_miss` (or a port without a root pipe) delivers to the port's RSS queues, as DOCA's
//!   vnf and switch modes document ([`Verdict::Miss`]); an egress root without `fwd_miss`
//!   lets the packet leave through its port.
//! * Async entries: add, update and remove are posted on a queue and take effect only when
//!   [`Port::entries_process`] completes them with success; status in process / success /
//!   error, through the entry, the returned completions and the entry-process callback; an
//!   entry whose add failed is never installed; a full queue is [`Error::QueueFull`].
//! * Monitor and actions: per-entry packet and byte counters, pipe miss counters,
//!   single-rate token-bucket meters (red is dropped), header rewrites (MACs, IPv4/IPv6
//!   addresses, ports, TTL / hop limit, DSCP) with checksum fixes, packet meta and scratch
//!   words; pipe actions are a template where all ones means changeable per entry
//!   ([`Actions`]).
//! * Switch mode: representors (`p0`, `pf0hpf`, VFs, SFs) are ports of one switch; the
//!   switch port's pipes see every representor's packets and match the ingress port with
//!   [`Field::PortId`].
//!
//! ## Not yet
//!
//! Tunnels (VXLAN, GRE, GENEVE) and inner headers, encap/decap, ordered-list and CT pipes,
//! shared resources (shared counters, meters, RSS), two-rate meters and meter colours as a
//! match field, mirroring, aging, pipe resize, port pairing beyond bookkeeping, Toeplitz RSS
//! (the sw RSS hash is its own), and the hardware's WAIT_FOR_BATCH timing (in the sw backend
//! both flags take effect at the next `entries_process`, where a large ACL batch is built
//! in one pass).

pub mod acl_encoding;
pub mod classifier;
pub mod ct;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod hint;
pub mod net;
pub mod packet;
pub mod rss;

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
#[cfg(any(feature = "doca", feature = "doca-emu"))]
pub use backend::hw::HwBackend;

#[cfg(all(feature = "doca", feature = "doca-emu"))]
compile_error!(
    "features `doca` and `doca-emu` exclude each other: both define DOCA Flow's seam \
     (the SDK shim and the emulator); build with one"
);
pub use backend::sw::{
    ACL_OPTIMIZE_BYTES, ACL_OPTIMIZE_MIN_OPS, AclMemo, Brief, DropReason, MemoStats, Outcome,
    SwBackend, TRAIL_LEN, Verdict,
};
pub use backend::{
    Backend, Completion, Domain, EntryId, EntryOp, EntryStatus, Flags, Mode, PipeId, PipeType,
    PortId,
};
pub use entry::{BasicEntry, ControlEntry, Entry, HashEntry, LpmEntry, Priority};
pub use error::{Error, Result};
pub use flow::{Datapath, Flow, FlowBuilder, Queue, SwFlow, SwGuard};
pub use fwd::Fwd;
pub use matching::{Field, L3Type, L4Type, Match, PacketMeta};
pub use monitor::{Counters, MeterCfg, MeterLimit, Monitor};
pub use net::{Family, PortRange, Prefix, ValueError};
pub use pipe::acl::AclEntry;
pub use pipe::{
    AclPipe, AnyEntry, BasicPipe, ControlPipe, CtPipe, HashPipe, LpmPipe, Pipe, TypedPipe,
    builder::PipeBuilder,
};
pub use port::Port;
