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

    /// Starts the EAL on lcore 0 with no hugepages, no PCI and no virtual devices
    /// (`-l 0 --no-huge -m 64 --no-pci --no-shconf --no-telemetry`, EAL logs at error
    /// level): what the hardware backend needs on the DOCA Flow contract emulator,
    /// where no port is polled. Root, as any EAL start without hugepages here.
    ///
    /// # Errors
    /// As [`Eal::init`].
    pub fn init_without_devices(program: &str) -> Result<Eal, DpdkError> {
        Eal::init([
            program,
            "-l",
            "0",
            "--no-huge",
            "-m",
            "64",
            "--no-pci",
            "--no-shconf",
            "--no-telemetry",
            "--log-level=lib.eal:error",
        ])
    }

    /// The arguments the EAL was started with.
    pub fn args(&self) -> &[String] {
        &self.inner.args
    }

    /// Registers the calling thread with the EAL (`rte_thread_register`), so it
    /// gets an lcore id of its own: mempool operations on it then go through a
    /// per-lcore cache instead of the pool's shared ring. A thread that polls
    /// ports should do this first. The registration ends when the returned
    /// guard is dropped (on the same thread: the guard is not `Send`).
    ///
    /// # Errors
    /// [`DpdkError::Call`] when DPDK refuses (for example, no lcore id is free:
    /// at most `RTE_MAX_LCORE` threads, EAL lcores included).
    #[doc(alias = "rte_thread_register")]
    pub fn register_thread(&self) -> Result<LcoreThread, DpdkError> {
        // SAFETY: the EAL is initialised (self proves it); registering the
        // calling thread has no other precondition.
        let ret = unsafe { doca_sys::dpdk::rte_thread_register() };
        // SAFETY: reads the calling thread's lcore id; no precondition.
        let id = unsafe { doca_sys::dpdk::dsys_lcore_id() };
        if ret != 0 || id == doca_sys::dpdk::LCORE_ID_ANY {
            // 0: the reason is in rte_errno.
            return Err(DpdkError::call("rte_thread_register", 0));
        }
        Ok(LcoreThread {
            _eal: self.clone(),
            lcore_id: id,
            _not_send: std::marker::PhantomData,
        })
    }

    /// Keeps the EAL alive for the rest of the process (used when a mempool
    /// must be leaked because mbufs from it are still alive).
    pub(crate) fn leak(&self) {
        std::mem::forget(self.clone());
    }
}

/// The calling thread's registration with the EAL (see
/// [`Eal::register_thread`]); unregisters on drop.
#[derive(Debug)]
#[must_use = "dropping the guard unregisters the thread"]
pub struct LcoreThread {
    _eal: Eal,
    lcore_id: u32,
    /// Registration is per thread: the guard must be dropped where it was made.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl LcoreThread {
    /// The lcore id DPDK gave this thread.
    pub fn lcore_id(&self) -> u32 {
        self.lcore_id
    }
}

impl Drop for LcoreThread {
    fn drop(&mut self) {
        // SAFETY: the guard is not Send, so this runs on the thread that
        // registered; the EAL is alive (the guard holds an Eal).
        unsafe { doca_sys::dpdk::rte_thread_unregister() }
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
