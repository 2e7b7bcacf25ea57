//! DOCA error codes as Rust errors.

use core::ffi::CStr;
use core::fmt;

use doca_sys::doca as sys;

use crate::error::{Error, Result};

/// A `doca_error_t` with DOCA's name and description for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocaError {
    /// The numeric code.
    pub code: i32,
    /// DOCA's name, e.g. `DOCA_ERROR_NO_MEMORY`.
    pub name: String,
    /// DOCA's description.
    pub descr: String,
}

impl DocaError {
    pub(super) fn new(code: sys::dsys_rc) -> DocaError {
        // SAFETY: both functions take any code and return a pointer to a static
        // NUL-terminated string (or NULL for unknown codes).
        let (name, descr) = unsafe { (sys::dsys_error_name(code), sys::dsys_error_descr(code)) };
        let text = |p: *const core::ffi::c_char| {
            if p.is_null() {
                String::from("unknown")
            } else {
                // SAFETY: non-null, static and NUL-terminated (see above).
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        };
        DocaError {
            code,
            name: text(name),
            descr: text(descr),
        }
    }
}

impl fmt::Display for DocaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name, self.code, self.descr)
    }
}

impl std::error::Error for DocaError {}

/// `DOCA_SUCCESS`.
pub(super) const OK: sys::dsys_rc = sys::DSYS_OK as sys::dsys_rc;

pub(super) fn check(op: &'static str, rc: sys::dsys_rc) -> Result<()> {
    if rc == OK {
        Ok(())
    } else {
        Err(Error::Backend {
            op,
            source: Box::new(DocaError::new(rc)),
        })
    }
}

pub(super) fn unsupported(op: &'static str, what: &str) -> Error {
    Error::Backend {
        op,
        source: format!("not supported by the hw backend yet: {what}").into(),
    }
}
