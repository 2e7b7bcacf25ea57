//! Firewalls from C: making one, packets, counters, reloads (the engine is in
//! `engine.rs`).
//!
//! Port ids cross the ABI as `uint16_t` (`include/dpu_fw.h`); inside, from the
//! `extern "C"` functions down, they are `doca_flow::PortId`, the library's one port id
//! type: these functions convert on the way in (`PortId(port)`) and out (`id.0`).

use core::ffi::c_char;

use doca_flow::PortId;

use crate::eal::dpufw_eal;
pub use crate::engine::dpufw_firewall;
use crate::error::{Failure, Result, dpufw_status, guard};
use crate::policy::{c_str, dpufw_policy};

/// Which DOCA Flow backend a firewall installs its pipes on (`DPUFW_BACKEND_*`).
#[allow(non_camel_case_types)]
pub type dpufw_backend = u32;

/// The software backend: the pipes run in this process, on any machine. Every build has
/// it. Policies are compiled for the `software` target.
pub const DPUFW_BACKEND_SOFTWARE: dpufw_backend = 0;

/// The hardware backend: DOCA Flow on a BlueField (library feature `doca`) or on the
/// DOCA Flow contract emulator (feature `doca-emu`). Needs a `dpufw_eal`. Policies are
/// compiled for the `bluefield` target. A policy with rules that match on `state` runs
/// as on a BlueField: the hardware pipes in front, the software path (connection
/// tracking) behind them offloading established connections to the hardware CT pipe,
/// whose packets skip the TCP window checks. A policy without such rules runs in the
/// hardware pipes alone, untracked (`DPUFW_CT_NONE`).
pub const DPUFW_BACKEND_HARDWARE: dpufw_backend = 1;

/// Where a packet went.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum dpufw_action {
    /// Sent out of port `out_port`.
    DPUFW_ACTION_FORWARD = 0,
    /// Dropped (by a rule, a default, a meter, or a full connection table).
    DPUFW_ACTION_DROP = 1,
    /// Delivered to software (an RSS queue: the hardware pipes sent it to the software
    /// path, or it missed every pipe).
    DPUFW_ACTION_TO_SOFTWARE = 2,
    /// Delivered to the kernel.
    DPUFW_ACTION_TO_KERNEL = 3,
}

/// A packet's connection-tracking state.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum dpufw_ct_state {
    /// Not tracked: the policy has no `[conntrack]`, the port is not tracked, or the
    /// frame is not IP.
    DPUFW_CT_NONE = 0,
    /// Opens a connection, or belongs to one that has seen no reply yet.
    DPUFW_CT_NEW = 1,
    /// Belongs to a connection that has seen traffic both ways.
    DPUFW_CT_ESTABLISHED = 2,
    /// An ICMP error about a packet of a tracked connection.
    DPUFW_CT_RELATED = 3,
    /// Belongs to no connection and cannot open one, or fails the TCP checks.
    DPUFW_CT_INVALID = 4,
}

/// What happened to one packet.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct dpufw_verdict {
    /// True if the packet leaves the firewall (not dropped).
    pub pass: bool,
    /// Where it went.
    pub action: dpufw_action,
    /// The port it was sent out of (`DPUFW_ACTION_FORWARD`), else -1.
    pub out_port: i32,
    /// The index of the rule that decided it (as in the policy file, from 0), or -1 for
    /// the direction's default.
    pub rule: i32,
    /// Its connection-tracking state.
    pub ct_state: dpufw_ct_state,
    /// The rules passed a packet opening a connection, but the connection table was full
    /// and the policy says `table_full = "drop-new"`: dropped.
    pub table_full: bool,
    /// The hardware pipes decided it (hardware backend only: a connection offloaded to
    /// the CT pipe, or an untracked port); false when the software path did.
    pub in_hardware: bool,
}

/// A rule's counters.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct dpufw_counters {
    /// Packets the rule decided since the current policy was installed or reloaded.
    pub packets: u64,
    /// Their bytes (whole frames).
    pub bytes: u64,
    /// True if the rule has `count = true`; rules without it have no counter and read 0.
    pub counted: bool,
}

/// Runs `body` on a live, unpoisoned firewall; a panic inside poisons it.
///
/// # Safety
/// `fw` is NULL or a live firewall not used by another thread during the call.
unsafe fn with_fw<T>(
    fw: *mut dpufw_firewall,
    body: impl FnOnce(&mut dpufw_firewall) -> Result<T>,
) -> Result<T> {
    // SAFETY: NULL or live and unshared, by the caller's promise.
    let fw = unsafe { fw.as_mut() }.ok_or_else(|| Failure::null("fw"))?;
    if fw.poisoned {
        return Err(Failure::new(
            dpufw_status::DPUFW_ERR_INTERNAL,
            "an earlier call on this firewall failed with an internal error; free it",
        ));
    }
    fw.poisoned = true;
    let r = body(fw);
    fw.poisoned = false;
    r
}

/// Compiles `policy` for `backend` and installs it, with a new connection table if the
/// policy has `[conntrack]`. On success `*out` is a new firewall the caller owns (free
/// it with `dpufw_firewall_free`); it keeps its own copy of the policy, so `policy` may
/// be freed at once.
///
/// `eal` is NULL for `DPUFW_BACKEND_SOFTWARE` and a running EAL (`dpufw_eal_init`) for
/// `DPUFW_BACKEND_HARDWARE`. `DPUFW_ERR_UNSUPPORTED`: the hardware backend in a library
/// built without it. `DPUFW_ERR_COMPILE`, `DPUFW_ERR_INSTALL`: the message says which
/// rule, pipe or port failed.
///
/// # Safety
/// `policy` and `eal` are NULL or live handles; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_firewall_new(
    policy: *const dpufw_policy,
    backend: dpufw_backend,
    eal: *const dpufw_eal,
    out: *mut *mut dpufw_firewall,
) -> dpufw_status {
    guard(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: NULL or live, by the caller's promise.
        let policy = unsafe { policy.as_ref() }.ok_or_else(|| Failure::null("policy"))?;
        // SAFETY: NULL or live, by the caller's promise.
        let eal = unsafe { eal.as_ref() };
        let fw = Box::new(dpufw_firewall::new(policy.rules.clone(), backend, eal)?);
        // SAFETY: `out` is non-NULL and writable by the caller's promise.
        unsafe { out.write(Box::into_raw(fw)) };
        Ok(())
    })
}

/// Frees a firewall: its pipes are destroyed. NULL is ignored.
///
/// # Safety
/// `fw` is NULL or a firewall from `dpufw_firewall_new` not yet freed; it must not be
/// used afterwards, nor any string it returned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_firewall_free(fw: *mut dpufw_firewall) {
    if fw.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: made by Box::into_raw here and not freed yet (the caller's promise).
        drop(unsafe { Box::from_raw(fw) });
    }));
}

/// Replaces the firewall's policy by `policy`. On the software backend the new policy is
/// installed completely beside the old one before it takes over; on the hardware backend
/// the pipes are updated make-before-break. On any failure the old policy stays in force
/// and the firewall is unchanged.
///
/// Tracked connections survive a reload to a policy that also has `[conntrack]`: the
/// table keeps the size and timeouts of the policy that made it (new settings take
/// effect in a new firewall, or after a reload to a policy without `[conntrack]`,
/// which drops the table). Rule counters restart from 0. Rule and port name strings returned before
/// are invalid after a successful reload. On the hardware backend a reload cannot
/// switch between a policy with `state` rules and one without (`DPUFW_ERR_UNSUPPORTED`).
///
/// # Safety
/// `fw` is NULL or a live firewall not used by another thread during the call; `policy`
/// is NULL or a live policy.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_firewall_reload(
    fw: *mut dpufw_firewall,
    policy: *const dpufw_policy,
) -> dpufw_status {
    guard(|| {
        // SAFETY: NULL or live, by the caller's promise.
        let policy = unsafe { policy.as_ref() }.ok_or_else(|| Failure::null("policy"))?;
        // SAFETY: the caller's promise about `fw` is with_fw's.
        unsafe { with_fw(fw, |fw| fw.reload(&policy.rules)) }
    })
}

/// Runs one Ethernet frame of `len` bytes that arrived on port `port` (a port id, see
/// `dpufw_firewall_port_id`) at time `now_ns` (nanoseconds on any monotonic clock, the
/// same for every call on this firewall: connection timeouts and meters use it), and
/// writes what happened to `*out`.
///
/// The frame is rewritten in place when the policy modifies headers. Packets of one
/// connection must be given in order.
///
/// # Safety
/// `fw` is NULL or a live firewall not used by another thread during the call; `frame`
/// points to `len` readable and writable bytes (NULL when `len` is 0); `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_firewall_process(
    fw: *mut dpufw_firewall,
    port: u16,
    frame: *mut u8,
    len: usize,
    now_ns: u64,
    out: *mut dpufw_verdict,
) -> dpufw_status {
    guard(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        let frame: &mut [u8] = if len == 0 {
            &mut []
        } else if frame.is_null() {
            return Err(Failure::null("frame"));
        } else {
            // SAFETY: `len` readable and writable bytes at `frame` (the caller's
            // promise), not aliased during the call.
            unsafe { core::slice::from_raw_parts_mut(frame, len) }
        };
        // The ABI's `uint16_t` port id is the library's `PortId` from here on.
        let port = PortId(port);
        // SAFETY: the caller's promise about `fw` is with_fw's.
        let v = unsafe { with_fw(fw, |fw| fw.process(port, frame, now_ns)) }?;
        // SAFETY: `out` is non-NULL and writable by the caller's promise.
        unsafe { out.write(v) };
        Ok(())
    })
}

/// Runs a burst of `count` frames that arrived on port `port` at `now_ns`, in order:
/// frame `i` is `lens[i]` bytes at `frames[i]`, and its verdict goes to `out[i]`. The
/// same verdicts as `count` calls of `dpufw_firewall_process`, faster on the software
/// backend (the connection table is read for the whole burst at once).
///
/// # Safety
/// `fw` is NULL or a live firewall not used by another thread during the call; `frames`
/// and `lens` point to `count` elements, `out` to `count` writable verdicts (all may be
/// NULL when `count` is 0); each `frames[i]` points to `lens[i]` readable and writable
/// bytes, and no two frames overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_firewall_process_burst(
    fw: *mut dpufw_firewall,
    port: u16,
    frames: *const *mut u8,
    lens: *const usize,
    count: usize,
    now_ns: u64,
    out: *mut dpufw_verdict,
) -> dpufw_status {
    guard(|| {
        if count == 0 {
            // SAFETY: the caller's promise about `fw` is with_fw's.
            return unsafe { with_fw(fw, |_| Ok(())) };
        }
        if frames.is_null() || lens.is_null() || out.is_null() {
            return Err(Failure::null(if frames.is_null() {
                "frames"
            } else if lens.is_null() {
                "lens"
            } else {
                "out"
            }));
        }
        // SAFETY: `count` elements each at `frames`, `lens` (readable) and `out`
        // (writable), by the caller's promise; `out` is not aliased by the frames.
        let (ptrs, lens, out) = unsafe {
            (
                core::slice::from_raw_parts(frames, count),
                core::slice::from_raw_parts(lens, count),
                core::slice::from_raw_parts_mut(out, count),
            )
        };
        let mut bufs: Vec<&mut [u8]> = Vec::with_capacity(count);
        for (i, (&p, &len)) in ptrs.iter().zip(lens).enumerate() {
            if len == 0 {
                bufs.push(&mut []);
            } else if p.is_null() {
                return Err(Failure::null(&format!("frames[{i}]")));
            } else {
                // SAFETY: `len` readable and writable bytes at `p`, overlapping no other
                // frame (the caller's promise), so the slices do not alias.
                bufs.push(unsafe { core::slice::from_raw_parts_mut(p, len) });
            }
        }
        // The ABI's `uint16_t` port id is the library's `PortId` from here on.
        let port = PortId(port);
        // SAFETY: the caller's promise about `fw` is with_fw's.
        unsafe { with_fw(fw, |fw| fw.process_burst(port, &mut bufs, now_ns, out)) }
    })
}

/// The id of the port named `name` (as in the policy's `[ports.NAME]`) in `*out`.
/// `DPUFW_ERR_INVALID_ARGUMENT` if the policy has no such port.
///
/// # Safety
/// `fw` is NULL or a live firewall; `name` is NULL or NUL-terminated; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_firewall_port_id(
    fw: *const dpufw_firewall,
    name: *const c_char,
    out: *mut u16,
) -> dpufw_status {
    guard(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: NULL or live, by the caller's promise.
        let fw = unsafe { fw.as_ref() }.ok_or_else(|| Failure::null("fw"))?;
        // SAFETY: NULL or NUL-terminated, by the caller's promise.
        let name = unsafe { c_str(name, "name") }?;
        let id = fw
            .port_names
            .iter()
            .find(|(_, n)| n.to_bytes() == name.as_bytes())
            .map(|(id, _)| *id)
            .ok_or_else(|| Failure::invalid(format!("the policy has no port `{name}`")))?;
        // SAFETY: `out` is non-NULL and writable by the caller's promise. (The library's
        // `PortId` leaves as the ABI's `uint16_t`.)
        unsafe { out.write(id.0) };
        Ok(())
    })
}

/// The name of the port with id `port`, or NULL if `fw` is NULL or has no such port. The
/// string belongs to the firewall: valid until its next successful reload or its free.
///
/// # Safety
/// `fw` is NULL or a live firewall.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_firewall_port_name(
    fw: *const dpufw_firewall,
    port: u16,
) -> *const c_char {
    // SAFETY: NULL or live, by the caller's promise.
    unsafe { fw.as_ref() }
        .and_then(|fw| fw.port_names.iter().find(|(id, _)| *id == PortId(port)))
        .map_or(core::ptr::null(), |(_, n)| n.as_ptr())
}

/// How many rules the installed policy has (0 for NULL). Rule indexes run from 0 to this
/// less one, in the policy file's order.
///
/// # Safety
/// `fw` is NULL or a live firewall.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_firewall_rule_count(fw: *const dpufw_firewall) -> usize {
    // SAFETY: NULL or live, by the caller's promise.
    unsafe { fw.as_ref() }.map_or(0, |fw| fw.rule_names.len())
}

/// The name of rule `index`, or NULL if `fw` is NULL or `index` is past the end. The
/// string belongs to the firewall: valid until its next successful reload or its free.
///
/// # Safety
/// `fw` is NULL or a live firewall.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_firewall_rule_name(
    fw: *const dpufw_firewall,
    index: usize,
) -> *const c_char {
    // SAFETY: NULL or live, by the caller's promise.
    unsafe { fw.as_ref() }
        .and_then(|fw| fw.rule_names.get(index))
        .map_or(core::ptr::null(), |n| n.as_ptr())
}

/// Rule `index`'s counters in `*out` (packets and bytes since the policy was installed
/// or last reloaded; on the hardware backend, the hardware and software pipes'
/// together). Each call reads every counter of the policy once.
/// `DPUFW_ERR_INVALID_ARGUMENT` if `index` is past the end.
///
/// # Safety
/// `fw` is NULL or a live firewall not used by another thread during the call; `out` is
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_firewall_rule_counters(
    fw: *mut dpufw_firewall,
    index: usize,
    out: *mut dpufw_counters,
) -> dpufw_status {
    guard(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: the caller's promise about `fw` is with_fw's.
        let c = unsafe {
            with_fw(fw, |fw| {
                let rule = fw.rules.rules.get(index).ok_or_else(|| {
                    Failure::invalid(format!(
                        "rule index {index} is past the end (the policy has {} rules)",
                        fw.rules.rules.len()
                    ))
                })?;
                // Only rules with `count = true` are promised a counter; the compiler may
                // give others one (policers, chains), which is not reported, as in
                // `dpu-fw simulate`.
                let c = if rule.count {
                    fw.rule_counters().get(index).copied().unwrap_or_default()
                } else {
                    doca_flow::Counters::default()
                };
                Ok(dpufw_counters {
                    packets: c.packets,
                    bytes: c.bytes,
                    counted: rule.count,
                })
            })
        }?;
        // SAFETY: `out` is non-NULL and writable by the caller's promise.
        unsafe { out.write(c) };
        Ok(())
    })
}

/// How many connections the firewall's table holds (0 when the policy tracks none, or
/// `fw` is NULL).
///
/// # Safety
/// `fw` is NULL or a live firewall.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_firewall_connections(fw: *const dpufw_firewall) -> usize {
    // SAFETY: NULL or live, by the caller's promise.
    unsafe { fw.as_ref() }
        .and_then(|fw| fw.tracker.as_ref())
        .map_or(0, |t| t.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic inside a call on a firewall is a code, and the firewall refuses every
    /// later call (its state is unknown) until it is freed.
    #[test]
    fn a_panic_poisons_the_firewall() {
        let rules = dpu_fw::demo::policy();
        let fw = Box::into_raw(Box::new(
            dpufw_firewall::new(rules, DPUFW_BACKEND_SOFTWARE, None).unwrap(),
        ));
        // SAFETY: `fw` is live and used by this thread only.
        let s = guard(|| unsafe { with_fw(fw, |_| -> Result<()> { panic!("inside") }) });
        assert_eq!(s, dpufw_status::DPUFW_ERR_INTERNAL);
        let mut c = dpufw_counters::default();
        // SAFETY: `fw` is live; `c` is writable.
        let s = unsafe { dpufw_firewall_rule_counters(fw, 0, &mut c) };
        assert_eq!(s, dpufw_status::DPUFW_ERR_INTERNAL);
        // SAFETY: live, freed once.
        unsafe { dpufw_firewall_free(fw) };
    }
}
