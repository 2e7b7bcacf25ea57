use std::ffi::{CString, c_char, c_int};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::{DpdkError, strerror};

/// Set once `rte_eal_init` has been called, whatever its outcome: DPDK does
/// not allow a second call in the same process.
static EAL_CALLED: AtomicBool = AtomicBool::new(false);

/// The initialised DPDK environment (EAL). Cheap to clone; `rte_eal_cleanup`
/// runs when the last clone (including those held by mempools and ports)
/// is dropped.
#[derive(Clone, Debug)]
#[must_use = "dropping the last Eal handle shuts the EAL down"]
pub struct Eal {
    inner: Arc<EalInner>,
}

#[derive(Debug)]
struct EalInner {
    args: Vec<String>,
}

impl Eal {
    /// Starts the EAL with `args` (the first is the program name, as in
    /// `argv`). Without hugepages, as on a development machine:
    /// `["app", "--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--vdev=net_null0"]`.
    ///
    /// # Errors
    /// [`DpdkError::EalAlreadyInitialized`] on any call after the first in a
    /// process (even if the first failed: DPDK cannot retry),
    /// [`DpdkError::BadArgument`] for an argument with a NUL byte, and
    /// [`DpdkError::EalInit`] when DPDK rejects the arguments or cannot start.
    #[doc(alias = "rte_eal_init")]
    pub fn init<I, S>(args: I) -> Result<Eal, DpdkError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let args: Vec<String> = args.into_iter().map(|s| s.as_ref().to_owned()).collect();
        let cargs = args
            .iter()
            .map(|a| CString::new(a.as_str()).map_err(|_| DpdkError::BadArgument(a.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        if EAL_CALLED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::EalAlreadyInitialized);
        }
        // The EAL may keep pointers into argv for the life of the process,
        // so the strings are leaked on purpose (once per process).
        let mut argv: Vec<*mut c_char> = cargs.into_iter().map(CString::into_raw).collect();
        let argc =
            c_int::try_from(argv.len()).map_err(|_| DpdkError::BadArgument("too many".into()))?;
        argv.push(std::ptr::null_mut());
        let argv = Box::leak(argv.into_boxed_slice());
        // SAFETY: argc/argv describe a NULL-terminated array of valid,
        // NUL-terminated C strings that live for the rest of the process;
        // EAL_CALLED guarantees this is the only call in the process.
        let ret = unsafe { doca_sys::dpdk::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            let errno = super::rte_errno();
            return Err(DpdkError::EalInit {
                errno,
                msg: strerror(errno),
                args,
            });
        }
        Ok(Eal {
            inner: Arc::new(EalInner { args }),
        })
    }

    /// The arguments the EAL was started with.
    pub fn args(&self) -> &[String] {
        &self.inner.args
    }

    /// Keeps the EAL alive for the rest of the process (used when a mempool
    /// must be leaked because mbufs from it are still alive).
    pub(crate) fn leak(&self) {
        std::mem::forget(self.clone());
    }
}

impl Drop for EalInner {
    fn drop(&mut self) {
        // SAFETY: every DPDK object of ours holds an Eal clone, so none is
        // alive any more; rte_eal_cleanup releases the EAL's resources.
        unsafe {
            doca_sys::dpdk::rte_eal_cleanup();
        }
    }
}
