//! The C API of dpu-fw: `libdpufw.a` / `libdpufw.so` and the header
//! `include/dpu_fw.h` (generated from this crate by cbindgen; the header's comments are
//! these docs).
//!
//! # Quick start (C)
//!
//! ```c
//! #include "dpu_fw.h"
//!
//! dpufw_policy *policy;
//! if (dpufw_policy_load("examples/firewall.toml", &policy) != DPUFW_OK) {
//!     fprintf(stderr, "%s\n", dpufw_last_error());
//!     return 1;
//! }
//! dpufw_firewall *fw;
//! dpufw_status s = dpufw_firewall_new(policy, DPUFW_BACKEND_SOFTWARE, NULL, &fw);
//! dpufw_policy_free(policy);          /* the firewall keeps its own copy */
//! if (s != DPUFW_OK) { fprintf(stderr, "%s\n", dpufw_last_error()); return 1; }
//! uint16_t p0;
//! dpufw_firewall_port_id(fw, "p0", &p0);
//! dpufw_verdict v;
//! dpufw_firewall_process(fw, p0, frame, frame_len, now_ns, &v);
//! dpufw_firewall_free(fw);
//! ```
//!
//! `examples/c/demo.c` is a complete program; the README's "From C" says how to build
//! and link it.
//!
//! # Rules of the API
//!
//! * **Errors:** every function that can fail returns a `dpufw_status`; on failure
//!   `dpufw_last_error()` holds a message (per thread, valid until the next failing call
//!   on that thread) and out-parameters are left untouched.
//! * **Panics** never cross into C: each entry point catches them and returns
//!   `DPUFW_ERR_INTERNAL`; a firewall on which one happened refuses later calls.
//! * **Ownership:** a handle returned through an out-parameter (`dpufw_policy`,
//!   `dpufw_firewall`, `dpufw_eal`) belongs to the caller, who frees it with the
//!   matching `*_free` exactly once (NULL is ignored). Strings returned by the library
//!   belong to it and say how long they live; never free them. The library never keeps
//!   a pointer the caller passed in (frames, policy text, names) after the call returns.
//! * **Threads:** a `dpufw_policy` may be read from several threads at once; a
//!   `dpufw_firewall` is used by one thread at a time (make one per thread, each with
//!   its own connection table, or lock around it).
//! * **NULL** for a required pointer gives `DPUFW_ERR_NULL`.

#![allow(non_camel_case_types)]

mod eal;
mod engine;
mod error;
mod firewall;
mod policy;

pub use eal::{dpufw_eal, dpufw_eal_free, dpufw_eal_init};
pub use error::{dpufw_last_error, dpufw_status, dpufw_status_name};
pub use firewall::{
    DPUFW_BACKEND_HARDWARE, DPUFW_BACKEND_SOFTWARE, dpufw_action, dpufw_backend, dpufw_counters,
    dpufw_ct_state, dpufw_firewall, dpufw_firewall_connections, dpufw_firewall_free,
    dpufw_firewall_new, dpufw_firewall_port_id, dpufw_firewall_port_name, dpufw_firewall_process,
    dpufw_firewall_process_burst, dpufw_firewall_reload, dpufw_firewall_rule_count,
    dpufw_firewall_rule_counters, dpufw_firewall_rule_name, dpufw_verdict,
};
pub use policy::{
    dpufw_policy, dpufw_policy_free, dpufw_policy_load, dpufw_policy_parse,
    dpufw_policy_rule_count, dpufw_policy_warning, dpufw_policy_warning_count,
};

/// The library's version, e.g. `"0.1.0"`. A static string: never NULL, never freed.
#[unsafe(no_mangle)]
pub extern "C" fn dpufw_version() -> *const core::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
