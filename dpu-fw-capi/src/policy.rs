//! Policies: TOML text or a file, checked.

use core::ffi::c_char;
use std::ffi::{CStr, CString};

use dpu_fw::model::RuleSet;

use crate::error::{Failure, Result, dpufw_status, guard};

/// A checked policy (the TOML format of `docs/config.md`). Opaque.
///
/// Made by `dpufw_policy_parse` or `dpufw_policy_load`, freed by `dpufw_policy_free`.
/// Immutable: several threads may read one at once, and a firewall made from it keeps
/// its own copy, so it may be freed as soon as the firewall exists.
#[derive(Debug)]
pub struct dpufw_policy {
    pub(crate) rules: RuleSet,
    warnings: Vec<CString>,
}

impl dpufw_policy {
    fn from_checked(checked: dpu_fw::config::Checked) -> Self {
        let warnings = checked
            .warnings
            .iter()
            .map(|w| CString::new(w.to_string().replace('\0', " ")).unwrap_or_default())
            .collect();
        dpufw_policy {
            rules: checked.rules,
            warnings,
        }
    }
}

fn config_failure(e: dpu_fw::config::Error) -> Failure {
    let status = match e {
        dpu_fw::config::Error::Read { .. } => dpufw_status::DPUFW_ERR_IO,
        _ => dpufw_status::DPUFW_ERR_POLICY,
    };
    Failure::new(status, e.to_string())
}

/// A C string argument as UTF-8.
///
/// # Safety
/// `s` is NULL or a NUL-terminated string valid for reads.
pub(crate) unsafe fn c_str<'a>(s: *const c_char, what: &str) -> Result<&'a str> {
    if s.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL, and the caller promises a NUL-terminated readable string.
    unsafe { CStr::from_ptr(s) }
        .to_str()
        .map_err(|_| Failure::invalid(format!("{what} is not UTF-8")))
}

/// Parses and checks a policy from `len` bytes of TOML text at `text` (no NUL needed);
/// `name` (NUL-terminated, or NULL for `"policy.toml"`) names it in diagnostics. On
/// success `*out` is a new policy the caller owns (free it with `dpufw_policy_free`).
///
/// `DPUFW_ERR_POLICY`: the text has errors, every one in `dpufw_last_error()` as
/// `name:line:column: error: ...`, one per line. `DPUFW_ERR_INVALID_ARGUMENT`: the text
/// is not UTF-8.
///
/// # Safety
/// `text` points to `len` readable bytes (it may be NULL when `len` is 0); `name` is
/// NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_policy_parse(
    text: *const u8,
    len: usize,
    name: *const c_char,
    out: *mut *mut dpufw_policy,
) -> dpufw_status {
    guard(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        let bytes: &[u8] = if len == 0 {
            &[]
        } else if text.is_null() {
            return Err(Failure::null("text"));
        } else {
            // SAFETY: the caller promises `len` readable bytes at `text`, non-NULL here.
            unsafe { core::slice::from_raw_parts(text, len) }
        };
        let text = core::str::from_utf8(bytes)
            .map_err(|e| Failure::invalid(format!("the policy text is not UTF-8: {e}")))?;
        let name = if name.is_null() {
            "policy.toml"
        } else {
            // SAFETY: non-NULL, NUL-terminated by the caller's promise.
            unsafe { c_str(name, "name") }?
        };
        let checked = dpu_fw::config::parse(text, name).map_err(config_failure)?;
        let p = Box::new(dpufw_policy::from_checked(checked));
        // SAFETY: `out` is non-NULL and writable by the caller's promise.
        unsafe { out.write(Box::into_raw(p)) };
        Ok(())
    })
}

/// Reads, parses and checks the policy file at `path` (a NUL-terminated path). On
/// success `*out` is a new policy the caller owns (free it with `dpufw_policy_free`).
///
/// `DPUFW_ERR_IO`: the file cannot be read. `DPUFW_ERR_POLICY`: as for
/// `dpufw_policy_parse`, the diagnostics naming `path`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_policy_load(
    path: *const c_char,
    out: *mut *mut dpufw_policy,
) -> dpufw_status {
    guard(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: NULL or NUL-terminated by the caller's promise; c_str checks NULL.
        let path = unsafe { c_str(path, "path") }?;
        let checked = dpu_fw::config::load(path).map_err(config_failure)?;
        let p = Box::new(dpufw_policy::from_checked(checked));
        // SAFETY: `out` is non-NULL and writable by the caller's promise.
        unsafe { out.write(Box::into_raw(p)) };
        Ok(())
    })
}

/// Frees a policy. NULL is ignored. Firewalls made from it are not affected.
///
/// # Safety
/// `policy` is NULL or a pointer from `dpufw_policy_parse`/`dpufw_policy_load` not yet
/// freed; it must not be used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_policy_free(policy: *mut dpufw_policy) {
    if policy.is_null() {
        return;
    }
    // Dropping plain Rust data does not panic; a panic is still kept out of C.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: made by Box::into_raw in this crate and not freed yet (the caller's
        // promise), so ownership comes back here exactly once.
        drop(unsafe { Box::from_raw(policy) });
    }));
}

/// How many rules the policy has. 0 for NULL.
///
/// # Safety
/// `policy` is NULL or a live policy.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_policy_rule_count(policy: *const dpufw_policy) -> usize {
    // SAFETY: NULL or live, by the caller's promise.
    unsafe { policy.as_ref() }.map_or(0, |p| p.rules.rules.len())
}

/// How many warnings checking the policy gave (e.g. a rule shadowed by an earlier one).
/// 0 for NULL.
///
/// # Safety
/// `policy` is NULL or a live policy.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_policy_warning_count(policy: *const dpufw_policy) -> usize {
    // SAFETY: NULL or live, by the caller's promise.
    unsafe { policy.as_ref() }.map_or(0, |p| p.warnings.len())
}

/// Warning `index` as `file:line:column: warning: ...`, or NULL when `policy` is NULL or
/// `index` is past the end. The string belongs to the policy and lives as long as it.
///
/// # Safety
/// `policy` is NULL or a live policy.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dpufw_policy_warning(
    policy: *const dpufw_policy,
    index: usize,
) -> *const c_char {
    // SAFETY: NULL or live, by the caller's promise.
    unsafe { policy.as_ref() }
        .and_then(|p| p.warnings.get(index))
        .map_or(core::ptr::null(), |w| w.as_ptr())
}
