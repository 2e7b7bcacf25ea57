//! Status codes, the thread's last error message, and the guard every entry point runs
//! its body in (panics never cross into C).

use core::cell::RefCell;
use core::ffi::c_char;
use std::ffi::CString;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// What a call did. Every function that can fail returns one; on anything but
/// `DPUFW_OK`, `dpufw_last_error()` says why and the out-parameters are untouched.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum dpufw_status {
    /// Success.
    DPUFW_OK = 0,
    /// A required pointer argument was NULL.
    DPUFW_ERR_NULL = 1,
    /// An argument is out of range or malformed: text that is not UTF-8, an unknown
    /// port or backend, a rule index past the end, a handle of the wrong kind.
    DPUFW_ERR_INVALID_ARGUMENT = 2,
    /// A policy file could not be read.
    DPUFW_ERR_IO = 3,
    /// The policy text has errors; the message lists each as `file:line:column: error: ...`.
    DPUFW_ERR_POLICY = 4,
    /// The policy does not compile for the backend's target.
    DPUFW_ERR_COMPILE = 5,
    /// The compiled policy could not be installed in DOCA Flow (or, for a reload, the new
    /// one could not replace the old one, which stays in force).
    DPUFW_ERR_INSTALL = 6,
    /// This build cannot do it (e.g. the hardware backend without feature `doca` or
    /// `doca-emu`); the message says how to build a library that can.
    DPUFW_ERR_UNSUPPORTED = 7,
    /// The DPDK EAL could not start.
    DPUFW_ERR_EAL = 8,
    /// A bug in dpu-fw: a Rust panic was caught at the API boundary. A firewall on which
    /// it happened refuses every later call with this code; free it.
    DPUFW_ERR_INTERNAL = 9,
}

/// A failure on its way to C: the code and the message for `dpufw_last_error()`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: dpufw_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: dpufw_status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn null(what: &str) -> Self {
        Failure::new(dpufw_status::DPUFW_ERR_NULL, format!("{what} is NULL"))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure::new(dpufw_status::DPUFW_ERR_INVALID_ARGUMENT, message)
    }
}

pub(crate) type Result<T> = core::result::Result<T, Failure>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // A message with an interior NUL is cut there (C reads up to the first NUL anyway).
    let bytes = message.as_bytes();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let c = CString::new(&bytes[..end]).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Runs an entry point's body: its `Err` becomes the status and the thread's last error;
/// a panic becomes `DPUFW_ERR_INTERNAL` with the panic's message.
pub(crate) fn guard(body: impl FnOnce() -> Result<()>) -> dpufw_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => dpufw_status::DPUFW_OK,
        Ok(Err(f)) => {
            set_last_error(&f.message);
            f.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_string());
            set_last_error(&format!(
                "internal error in dpu-fw (a bug; please report it): {what}"
            ));
            dpufw_status::DPUFW_ERR_INTERNAL
        }
    }
}

/// The message of the last call on this thread that did not return `DPUFW_OK` (an empty
/// string before any failure). Never NULL.
///
/// The string belongs to the library: do not free it. It stays valid until the next
/// failing `dpufw_*` call on the same thread; copy it to keep it longer. Each thread
/// has its own.
#[unsafe(no_mangle)]
pub extern "C" fn dpufw_last_error() -> *const c_char {
    // Reading a thread-local cannot panic except during thread teardown; the fallback
    // is a static empty string.
    catch_unwind(|| LAST_ERROR.with(|e| e.borrow().as_ptr())).unwrap_or(c"".as_ptr())
}

/// The name of a status code, e.g. `"DPUFW_ERR_POLICY"` (`"DPUFW_UNKNOWN"` for a value
/// that is not one). A static string: never NULL, never freed.
#[unsafe(no_mangle)]
pub extern "C" fn dpufw_status_name(status: u32) -> *const c_char {
    STATUS_NAMES
        .iter()
        .find(|(s, _)| *s as u32 == status)
        .map_or(c"DPUFW_UNKNOWN", |(_, name)| name)
        .as_ptr()
}

/// Every status code and its name, in one place.
const STATUS_NAMES: [(dpufw_status, &core::ffi::CStr); 10] = {
    use dpufw_status::*;
    [
        (DPUFW_OK, c"DPUFW_OK"),
        (DPUFW_ERR_NULL, c"DPUFW_ERR_NULL"),
        (DPUFW_ERR_INVALID_ARGUMENT, c"DPUFW_ERR_INVALID_ARGUMENT"),
        (DPUFW_ERR_IO, c"DPUFW_ERR_IO"),
        (DPUFW_ERR_POLICY, c"DPUFW_ERR_POLICY"),
        (DPUFW_ERR_COMPILE, c"DPUFW_ERR_COMPILE"),
        (DPUFW_ERR_INSTALL, c"DPUFW_ERR_INSTALL"),
        (DPUFW_ERR_UNSUPPORTED, c"DPUFW_ERR_UNSUPPORTED"),
        (DPUFW_ERR_EAL, c"DPUFW_ERR_EAL"),
        (DPUFW_ERR_INTERNAL, c"DPUFW_ERR_INTERNAL"),
    ]
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        // SAFETY: dpufw_last_error returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(dpufw_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_a_code_and_a_message() {
        let s = guard(|| panic!("boom {}", 7));
        assert_eq!(s, dpufw_status::DPUFW_ERR_INTERNAL);
        assert!(last().contains("boom 7"), "{}", last());
    }

    #[test]
    fn an_error_sets_the_message_and_success_keeps_it() {
        let s = guard(|| Err(Failure::invalid("bad\0tail")));
        assert_eq!(s, dpufw_status::DPUFW_ERR_INVALID_ARGUMENT);
        assert_eq!(last(), "bad");
        assert_eq!(guard(|| Ok(())), dpufw_status::DPUFW_OK);
        assert_eq!(last(), "bad");
    }

    #[test]
    fn status_names() {
        let name = |s| {
            // SAFETY: static NUL-terminated strings.
            unsafe { CStr::from_ptr(dpufw_status_name(s)) }
                .to_str()
                .unwrap()
        };
        assert_eq!(name(0), "DPUFW_OK");
        assert_eq!(name(4), "DPUFW_ERR_POLICY");
        assert_eq!(name(9), "DPUFW_ERR_INTERNAL");
        assert_eq!(name(10), "DPUFW_UNKNOWN");
    }
}
