//! Filling DOCA Flow's C structs through the doca-sys shim's fillers.

use core::ptr;

use doca_sys::doca as sys;

use super::convert;
use super::error::unsupported;
use crate::error::Result;
use crate::matching::Match;
use crate::monitor::{Counters, Monitor};

/// Zeroed DOCA structs for optional pointers: `Some` becomes a pointer to
/// the filled struct, `None` a null pointer.
pub(super) fn opt_ptr<T>(v: &Option<T>) -> *const T {
    v.as_ref().map_or(ptr::null(), |v| v as *const T)
}

pub(super) fn fill_match(m: &Match) -> sys::dsys_doca_flow_match {
    let spec = convert::match_spec(m);
    let mut out = sys::dsys_doca_flow_match::default();
    // SAFETY: out is a valid, writable struct and spec a valid spec.
    unsafe { sys::dsys_doca_flow_match_fill(&mut out, &spec) };
    out
}

pub(super) fn fill_actions(
    a: &crate::action::Actions,
    op: &'static str,
) -> Result<Option<sys::dsys_doca_flow_actions>> {
    if a.dec_ttl {
        return Err(unsupported(op, "dec_ttl actions"));
    }
    Ok(convert::actions_spec(a).map(|spec| {
        let mut out = sys::dsys_doca_flow_actions::default();
        // SAFETY: out is a valid, writable struct and spec a valid spec.
        unsafe { sys::dsys_doca_flow_actions_fill(&mut out, &spec) };
        out
    }))
}

pub(super) fn fill_monitor(m: &Monitor) -> Option<sys::dsys_doca_flow_monitor> {
    if !m.counter && m.meter.is_none() {
        return None;
    }
    let (counter, meter, packets, cir, cbs) = convert::monitor_args(m);
    let mut out = sys::dsys_doca_flow_monitor::default();
    // SAFETY: out is a valid, writable struct.
    unsafe { sys::dsys_doca_flow_monitor_fill(&mut out, counter, meter, packets, cir, cbs) };
    Some(out)
}

pub(super) fn counters(q: &sys::dsys_doca_flow_resource_query) -> Counters {
    let (mut packets, mut bytes) = (0u64, 0u64);
    // SAFETY: q is a valid query result; the outputs are valid.
    unsafe { sys::dsys_doca_flow_query_counters(q, &mut packets, &mut bytes) };
    Counters { packets, bytes }
}
