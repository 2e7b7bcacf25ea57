//! The DPDK EAL, which the hardware backend runs on. The application starts it (once per
//! process) and lends it to the firewalls it makes.

use core::ffi::{c_char, c_int};

use crate::error::{Failure, Result, dpufw_status, guard};

/// The running DPDK EAL. Opaque.
///
/// Made by `dpufw_eal_init`, freed by `dpufw_eal_free`. Firewalls on the hardware
/// backend keep it running: the EAL shuts down when the handle and every firewall made
/// with it are freed. DPDK starts the EAL once per process: a second `dpufw_eal_init`
/// fails, even after the first handle is freed.
#[derive(Debug)]
pub struct dpufw_eal {
    /// Held: the EAL runs while a handle on it lives. Read by the hardware backend only.
    #[cfg(feature = "dpdk")]
    #[cfg_attr(not(any(feature = "doca", feature = "doca-emu")), allow(dead_code))]
    pub(crate) eal: doca_flow::dpdk::Eal,
}

/// Why this library cannot do hardware work, and how to build one that can.
#[cfg(not(any(feature = "doca", feature = "doca-emu")))]
pub(crate) fn no_hardware(what: &str) -> Failure {
    Failure::new(
        dpufw_status::DPUFW_ERR_UNSUPPORTED,
        format!(
            "{what} needs a library built with the hardware backend: \
             `cargo build --release -p dpu-fw-capi --features doca` on a DOCA host \
             (see the README's \"With DOCA\"), or `--features doca-emu` for the DOCA Flow \
             contract emulator"
        ),
    )
}

#[cfg(feature = "dpdk")]
fn start(args: Vec<String>) -> Result<dpufw_eal> {
    let eal = if args.is_empty() {
        doca_flow::dpdk::Eal::init_without_devices("dpufw")
    } else {
        doca_flow::dpdk::Eal::init(&args)
    };
    eal.map(|eal| dpufw_eal { eal })
        .map_err(|e| Failure::new(dpufw_status::DPUFW_ERR_EAL, format!("rte_eal_init: {e}")))
}

#[cfg(not(feature = "dpdk"))]
fn start(_: Vec<String>) -> Result<dpufw_eal> {
    Err(no_hardware("the DPDK EAL (for DPUFW_BACKEND_HARDWARE)"))
}

/// Starts the DPDK EAL with `argc` arguments `argv` (as DPDK's `rte_eal_init`: the first
/// is the program name; e.g. `-l 0 -a 03:00.0,dv_flow_en=2` on a BlueField). With
/// `argc == 0` it starts without devices or hugepages (`-l 0 --no-huge -m 64 --no-pci
/// --no-shconf`), which is what the DOCA Flow emulator needs. Usually needs root. On
/// success `*out` is a handle the caller owns (free it with `dpufw_eal_free`).
///
/// `DPUFW_ERR_UNSUPPORTED`: the library was built without DPDK (feature `doca` or
/// `doca-emu`). `DPUFW_ERR_EAL`: DPDK refused the arguments or could not start, or the
/// EAL was started before in this process.
///
/// # Safety
/// `argv` points to `argc` NUL-terminated strings (it may be NULL when `argc` is 0);
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_eal_init(
    argc: c_int,
    argv: *const *const c_char,
    out: *mut *mut dpufw_eal,
) -> dpufw_status {
    guard(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        let n = usize::try_from(argc).map_err(|_| Failure::invalid("argc is negative"))?;
        let mut args = Vec::with_capacity(n);
        if n > 0 {
            if argv.is_null() {
                return Err(Failure::null("argv"));
            }
            for i in 0..n {
                // SAFETY: the caller promises `argc` readable pointers at `argv`.
                let a = unsafe { *argv.add(i) };
                // SAFETY: each is NULL or NUL-terminated (c_str checks NULL).
                args.push(unsafe { crate::policy::c_str(a, "an argv element") }?.to_string());
            }
        }
        let eal = Box::new(start(args)?);
        // SAFETY: `out` is non-NULL and writable by the caller's promise.
        unsafe { out.write(Box::into_raw(eal)) };
        Ok(())
    })
}

/// Gives up the caller's hold on the EAL. NULL is ignored. The EAL shuts down once no
/// firewall made with it is left either.
///
/// # Safety
/// `eal` is NULL or a handle from `dpufw_eal_init` not yet freed; it must not be used
/// afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_eal_free(eal: *mut dpufw_eal) {
    if eal.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: made by Box::into_raw here and not freed yet (the caller's promise).
        drop(unsafe { Box::from_raw(eal) });
    }));
}
