use std::collections::BTreeSet;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use doca_sys::dpdk as sys;

use super::{DpdkError, Eal, MbufBurst, Mempool};

/// How to configure a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Receive queues (one per worker lcore).
    pub rx_queues: u16,
    /// Transmit queues.
    pub tx_queues: u16,
    /// Descriptors per receive queue.
    pub rx_desc: u16,
    /// Descriptors per transmit queue.
    pub tx_desc: u16,
    /// Spread received packets over the receive queues by an IP/TCP/UDP
    /// hash (when the device supports it and there is more than one queue).
    pub rss: bool,
    /// With `rss`: install the symmetric Toeplitz key ([`crate::rss`]), so
    /// both directions of a connection reach the same queue (a stateful
    /// worker then sees the whole connection). A device that reports its key
    /// size must take it; one that does not (net_null) is offered 40 bytes
    /// and may keep its own key ([`StartedPort::rss_key`] tells).
    pub symmetric_rss: bool,
    /// Receive every frame, not only those addressed to the port's MAC.
    pub promiscuous: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            rss: true,
            symmetric_rss: true,
            promiscuous: true,
        }
    }
}

/// Counters of a port (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the hardware dropped because receive queues were full.
    pub rx_missed: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Receive mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// Ports claimed by a [`PortHandle`] or a configured port of this process.
static CLAIMED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// One port's claim: while it lives, no other handle of the port can be made, so the
/// port's queues have one owner each and only one owner closes the device.
#[derive(Debug)]
struct Claim(u16);

impl Claim {
    fn take(id: u16, name: &str) -> Result<Claim, DpdkError> {
        let mut c = CLAIMED.lock().unwrap_or_else(|e| e.into_inner());
        if !c.insert(id) {
            return Err(DpdkError::PortClaimed {
                port: id,
                name: name.into(),
            });
        }
        Ok(Claim(id))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        CLAIMED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

#[derive(Debug)]
struct PortInner {
    id: u16,
    name: String,
    rx_queues: u16,
    tx_queues: u16,
    started: AtomicBool,
    _pool: Option<Arc<Mempool>>,
    /// Released after `drop` has closed the device.
    _claim: Claim,
    _eal: Eal,
}

impl Drop for PortInner {
    fn drop(&mut self) {
        // SAFETY: no queue handle is alive (they hold this Arc), so nothing
        // polls the port; stop and close release its rings and the mbufs
        // in them. Errors cannot be reported from drop and leave nothing
        // unsafe behind.
        unsafe {
            if self.started.load(Ordering::Relaxed) {
                sys::rte_eth_dev_stop(self.id);
            }
            sys::rte_eth_dev_close(self.id);
        }
    }
}

/// An ethdev port, configured but not started.
#[derive(Debug)]
#[must_use]
pub struct Port {
    inner: Arc<PortInner>,
}

/// A started port. Split it into queue handles to receive and transmit.
#[derive(Debug)]
#[must_use]
pub struct StartedPort {
    inner: Arc<PortInner>,
    rx_taken: Vec<bool>,
    tx_taken: Vec<bool>,
}

/// An unconfigured port found by name.
#[derive(Debug)]
#[must_use]
pub struct PortHandle {
    id: u16,
    name: String,
    claim: Claim,
    eal: Eal,
}

impl Port {
    /// Finds the port named `name` (a vdev name such as `net_ring0`, or a PCI
    /// address) and claims it: a port has one handle in a process, so its queues
    /// have one poller each and one owner closes it. The claim ends when the
    /// handle, or the port configured from it, is dropped (after the device is
    /// closed).
    ///
    /// ```no_run
    /// use doca_flow::dpdk::{DpdkError, Eal, Port};
    /// let eal = Eal::init(["app", "--no-huge", "--no-pci", "--vdev=net_null0"]).unwrap();
    /// let p = Port::by_name(&eal, "net_null0").unwrap();
    /// // A second handle of the same device is refused, by name or by id.
    /// assert!(matches!(Port::by_id(&eal, p.id()), Err(DpdkError::PortClaimed { .. })));
    /// ```
    ///
    /// # Errors
    /// [`DpdkError::NoSuchPort`] when no ethdev has that name;
    /// [`DpdkError::PortClaimed`] when this process holds the port already.
    #[doc(alias = "rte_eth_dev_get_port_by_name")]
    pub fn by_name(eal: &Eal, name: &str) -> Result<PortHandle, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError::BadArgument(name.into()))?;
        let mut id = 0u16;
        // SAFETY: cname is a valid C string and id a valid out pointer.
        let ret = unsafe { sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        if ret != 0 {
            return Err(DpdkError::NoSuchPort { name: name.into() });
        }
        Ok(PortHandle {
            id,
            name: name.into(),
            claim: Claim::take(id, name)?,
            eal: eal.clone(),
        })
    }

    /// The port with DPDK port id `id` (ports are numbered in probe order:
    /// PCI devices, then `--vdev`s in the order given). On a BlueField this
    /// is also the DOCA Flow port id.
    ///
    /// Claims the port as [`Port::by_name`] does.
    ///
    /// # Errors
    /// [`DpdkError::NoSuchPort`] when no ethdev has that id;
    /// [`DpdkError::PortClaimed`] when this process holds the port already.
    #[doc(alias = "rte_eth_dev_get_name_by_port")]
    pub fn by_id(eal: &Eal, id: u16) -> Result<PortHandle, DpdkError> {
        let mut buf = [0 as core::ffi::c_char; 64];
        // SAFETY: the EAL is initialised; buf has room for
        // RTE_ETH_NAME_MAX_LEN (64) bytes including the NUL.
        let ret = unsafe { sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
        if ret != 0 {
            return Err(DpdkError::NoSuchPort {
                name: format!("port id {id}"),
            });
        }
        // SAFETY: DPDK wrote a NUL-terminated name into buf.
        let name = unsafe { core::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        Ok(PortHandle {
            id,
            claim: Claim::take(id, &name)?,
            name,
            eal: eal.clone(),
        })
    }

    /// Number of ports DPDK probed.
    #[doc(alias = "rte_eth_dev_count_avail")]
    pub fn count(_eal: &Eal) -> u16 {
        // SAFETY: the EAL is initialised (we borrow an Eal).
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    /// Starts the port.
    ///
    /// # Errors
    /// [`DpdkError::Call`] when the device fails to start.
    #[doc(alias = "rte_eth_dev_start")]
    pub fn start(self) -> Result<StartedPort, DpdkError> {
        let id = self.inner.id;
        // SAFETY: the port is configured with all its queues set up.
        let ret = unsafe { sys::rte_eth_dev_start(id) };
        if ret != 0 {
            return Err(DpdkError::call(
                format!("rte_eth_dev_start(port {id})"),
                ret,
            ));
        }
        self.inner.started.store(true, Ordering::Relaxed);
        Ok(StartedPort {
            rx_taken: vec![false; self.inner.rx_queues as usize],
            tx_taken: vec![false; self.inner.tx_queues as usize],
            inner: self.inner,
        })
    }

    /// The port id.
    pub fn id(&self) -> u16 {
        self.inner.id
    }
}

impl PortHandle {
    /// The port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The device name (`net_ring0`, a PCI address, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Configures the port with `cfg`; receive queues fill from `pool`.
    ///
    /// # Errors
    /// [`DpdkError::BadQueue`] when the device supports fewer queues than
    /// asked for, and [`DpdkError::Call`] when DPDK rejects the configuration.
    #[doc(alias = "rte_eth_dev_configure")]
    pub fn configure(self, cfg: &PortConfig, pool: &Arc<Mempool>) -> Result<Port, DpdkError> {
        let id = self.id;
        let info = dev_info(id)?;
        if cfg.rx_queues == 0 || cfg.rx_queues > info.max_rx_queues {
            return Err(DpdkError::BadQueue {
                port: id,
                what: format!(
                    "{} receive queues asked for, the device supports 1..={}",
                    cfg.rx_queues, info.max_rx_queues
                ),
            });
        }
        if cfg.tx_queues == 0 || cfg.tx_queues > info.max_tx_queues {
            return Err(DpdkError::BadQueue {
                port: id,
                what: format!(
                    "{} transmit queues asked for, the device supports 1..={}",
                    cfg.tx_queues, info.max_tx_queues
                ),
            });
        }
        let mut conf = sys::rte_eth_conf::default();
        // Lives until rte_eth_dev_configure has copied it.
        let mut key = Vec::new();
        if cfg.rss && cfg.rx_queues > 1 {
            // SAFETY: a pure function returning a constant.
            let wanted = unsafe { sys::dsys_eth_rss_ip_tcp_udp() };
            let hf = wanted & info.flow_type_rss_offloads;
            if hf != 0 {
                conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
                conf.rx_adv_conf.rss_conf.rss_hf = hf;
                if cfg.symmetric_rss {
                    // A device that does not report its key size gets the
                    // usual 40 bytes, through the update call only (below).
                    let len = rss_key_len(&info);
                    key = crate::rss::symmetric_key(usize::from(len));
                    if info.hash_key_size > 0 {
                        conf.rx_adv_conf.rss_conf.rss_key = key.as_mut_ptr();
                        conf.rx_adv_conf.rss_conf.rss_key_len = len;
                    }
                }
            }
        }
        // SAFETY: id names a probed, stopped port; conf is fully initialised;
        // its key pointer, if any, points into `key`, alive until after the call.
        let ret = unsafe { sys::rte_eth_dev_configure(id, cfg.rx_queues, cfg.tx_queues, &conf) };
        if ret != 0 {
            return Err(DpdkError::call(
                format!("rte_eth_dev_configure(port {id})"),
                ret,
            ));
        }
        if !key.is_empty() {
            // Some drivers take the key only from the update call (net_null
            // does; mlx5 takes both): install it there too. A driver without
            // the call (-ENOTSUP) keeps the key given to configure; one that
            // did not report its key size may refuse ours (then it keeps its
            // own: `StartedPort::rss_key` tells).
            let mut rss = conf.rx_adv_conf.rss_conf;
            rss.rss_key = key.as_mut_ptr();
            rss.rss_key_len = u8::try_from(key.len()).unwrap_or(u8::MAX);
            // SAFETY: valid, configured port; rss's key points into `key`
            // (rss_key_len bytes), alive across the call.
            let ret = unsafe { sys::rte_eth_dev_rss_hash_update(id, &mut rss) };
            if ret != 0 && ret != -ENOTSUP && info.hash_key_size > 0 {
                return Err(DpdkError::call(
                    format!("rte_eth_dev_rss_hash_update(port {id})"),
                    ret,
                ));
            }
        }
        drop(key);
        let (mut rx_desc, mut tx_desc) = (cfg.rx_desc, cfg.tx_desc);
        // SAFETY: valid port id and in/out pointers to local u16s.
        let ret = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc) };
        if ret != 0 {
            return Err(DpdkError::call(
                format!("rte_eth_dev_adjust_nb_rx_tx_desc(port {id})"),
                ret,
            ));
        }
        // SAFETY: valid port id.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        for q in 0..cfg.rx_queues {
            // SAFETY: the port is configured with rx_queues queues; a NULL
            // rx_conf takes the driver's defaults; the pool outlives the
            // port (PortInner holds an Arc to it).
            let ret = unsafe {
                sys::rte_eth_rx_queue_setup(id, q, rx_desc, socket, std::ptr::null(), pool.as_raw())
            };
            if ret != 0 {
                return Err(DpdkError::call(
                    format!("rte_eth_rx_queue_setup(port {id}, queue {q})"),
                    ret,
                ));
            }
        }
        for q in 0..cfg.tx_queues {
            // SAFETY: as above, for transmit queues.
            let ret =
                unsafe { sys::rte_eth_tx_queue_setup(id, q, tx_desc, socket, std::ptr::null()) };
            if ret != 0 {
                return Err(DpdkError::call(
                    format!("rte_eth_tx_queue_setup(port {id}, queue {q})"),
                    ret,
                ));
            }
        }
        if cfg.promiscuous {
            // Not every vdev supports it (net_ring does not); that is fine.
            // SAFETY: valid port id.
            unsafe { sys::rte_eth_promiscuous_enable(id) };
        }
        Ok(Port {
            inner: Arc::new(PortInner {
                id,
                name: self.name,
                rx_queues: cfg.rx_queues,
                tx_queues: cfg.tx_queues,
                started: AtomicBool::new(false),
                _pool: Some(pool.clone()),
                _claim: self.claim,
                _eal: self.eal,
            }),
        })
    }
}

impl StartedPort {
    /// The port id.
    pub fn id(&self) -> u16 {
        self.inner.id
    }

    /// The port's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Takes the handle of receive queue `q`. Each queue has one handle, so
    /// only one thread ever polls it.
    ///
    /// # Errors
    /// [`DpdkError::BadQueue`] when `q` does not exist or was already taken.
    pub fn rx_queue(&mut self, q: u16) -> Result<RxQueue, DpdkError> {
        take(&mut self.rx_taken, q, self.inner.id, "receive")?;
        Ok(RxQueue {
            port: self.inner.clone(),
            queue: q,
        })
    }

    /// Takes the handle of transmit queue `q`.
    ///
    /// # Errors
    /// [`DpdkError::BadQueue`] when `q` does not exist or was already taken.
    pub fn tx_queue(&mut self, q: u16) -> Result<TxQueue, DpdkError> {
        take(&mut self.tx_taken, q, self.inner.id, "transmit")?;
        Ok(TxQueue {
            port: self.inner.clone(),
            queue: q,
        })
    }

    /// Queue 0 in both directions: the common single-queue case. Consumes the
    /// port; it closes when both handles are dropped.
    ///
    /// # Panics
    /// Never: a fresh `StartedPort` has at least one queue each way and none
    /// taken.
    pub fn split_queues_0(mut self) -> (RxQueue, TxQueue) {
        let rx = RxQueue {
            port: self.inner.clone(),
            queue: 0,
        };
        let tx = TxQueue {
            port: self.inner.clone(),
            queue: 0,
        };
        self.rx_taken.fill(true);
        self.tx_taken.fill(true);
        (rx, tx)
    }

    /// The port's counters.
    ///
    /// # Errors
    /// [`DpdkError::Call`] when the driver cannot report them.
    #[doc(alias = "rte_eth_stats_get")]
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        stats(self.inner.id)
    }

    /// The RSS hash key the device uses now (`None` when it cannot say). A
    /// device that does not report its key size is read as 40 bytes.
    ///
    /// # Errors
    /// [`DpdkError::Call`] when the driver fails to report its RSS configuration.
    #[doc(alias = "rte_eth_dev_rss_hash_conf_get")]
    pub fn rss_key(&self) -> Result<Option<Vec<u8>>, DpdkError> {
        let id = self.inner.id;
        let len = rss_key_len(&dev_info(id)?);
        // Room for any key a u8 length can describe: a driver that does not
        // report its size may copy its whole key.
        let mut key = vec![0u8; 255];
        let mut conf = sys::rte_eth_rss_conf {
            rss_key: key.as_mut_ptr(),
            rss_key_len: len,
            ..Default::default()
        };
        // SAFETY: valid port id; conf's key points to 255 writable bytes,
        // at least what ethdev and any driver write.
        let ret = unsafe { sys::rte_eth_dev_rss_hash_conf_get(id, &mut conf) };
        if ret == -ENOTSUP {
            return Ok(None);
        }
        if ret != 0 {
            return Err(DpdkError::call(
                format!("rte_eth_dev_rss_hash_conf_get(port {id})"),
                ret,
            ));
        }
        key.truncate(usize::from(len));
        Ok(Some(key))
    }

    /// Stops the port, keeping its configuration; start it again with
    /// [`Port::start`].
    ///
    /// # Errors
    /// [`DpdkError::QueuesInUse`] while queue handles are alive, and
    /// [`DpdkError::Call`] when the device fails to stop.
    #[doc(alias = "rte_eth_dev_stop")]
    pub fn stop(self) -> Result<Port, DpdkError> {
        if Arc::strong_count(&self.inner) > 1 {
            return Err(DpdkError::QueuesInUse(self.inner.id));
        }
        let id = self.inner.id;
        // SAFETY: no queue handle exists, so nothing polls the port.
        let ret = unsafe { sys::rte_eth_dev_stop(id) };
        if ret != 0 {
            return Err(DpdkError::call(format!("rte_eth_dev_stop(port {id})"), ret));
        }
        self.inner.started.store(false, Ordering::Relaxed);
        Ok(Port { inner: self.inner })
    }
}

fn take(taken: &mut [bool], q: u16, port: u16, dir: &str) -> Result<(), DpdkError> {
    match taken.get_mut(q as usize) {
        None => Err(DpdkError::BadQueue {
            port,
            what: format!("no {dir} queue {q} (the port has {})", taken.len()),
        }),
        Some(true) => Err(DpdkError::BadQueue {
            port,
            what: format!("{dir} queue {q} was already taken"),
        }),
        Some(t) => {
            *t = true;
            Ok(())
        }
    }
}

/// A port's counters and link state, read without a handle (any thread may read
/// them while workers poll the port).
///
/// # Errors
/// [`DpdkError::Call`] when the driver cannot report them (or `id` is no port).
#[doc(alias = "rte_eth_stats_get")]
pub fn port_stats(_eal: &Eal, id: u16) -> Result<PortStats, DpdkError> {
    stats(id)
}

/// Whether the port's link is up, as the driver reports it without waiting. Some
/// virtual drivers (`net_af_packet`, `net_null`, `net_ring`) always say up.
///
/// # Errors
/// [`DpdkError::Call`] when the driver cannot report it (or `id` is no port).
#[doc(alias = "rte_eth_link_get_nowait")]
pub fn link_up(_eal: &Eal, id: u16) -> Result<bool, DpdkError> {
    let mut link = sys::rte_eth_link::default();
    // SAFETY: an out pointer to a live struct; DPDK checks the port id.
    let ret = unsafe { sys::rte_eth_link_get_nowait(id, &mut link) };
    if ret != 0 {
        return Err(DpdkError::call(
            format!("rte_eth_link_get_nowait(port {id})"),
            ret,
        ));
    }
    Ok(link.link_status() != 0)
}

fn stats(id: u16) -> Result<PortStats, DpdkError> {
    let mut s = sys::rte_eth_stats::default();
    // SAFETY: valid port id and out pointer.
    let ret = unsafe { sys::rte_eth_stats_get(id, &mut s) };
    if ret != 0 {
        return Err(DpdkError::call(
            format!("rte_eth_stats_get(port {id})"),
            ret,
        ));
    }
    Ok(PortStats {
        rx_packets: s.ipackets,
        tx_packets: s.opackets,
        rx_bytes: s.ibytes,
        tx_bytes: s.obytes,
        rx_missed: s.imissed,
        rx_errors: s.ierrors,
        tx_errors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
    })
}

/// The only handle to one receive queue of a started port. `Send`, so a
/// worker thread can own it; polling takes `&mut self`.
#[derive(Debug)]
pub struct RxQueue {
    port: Arc<PortInner>,
    queue: u16,
}

/// The only handle to one transmit queue of a started port.
#[derive(Debug)]
pub struct TxQueue {
    port: Arc<PortInner>,
    queue: u16,
}

impl RxQueue {
    /// Receives up to the free room of `burst`, appending to it; returns how
    /// many arrived.
    #[doc(alias = "rte_eth_rx_burst")]
    pub fn rx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        self.rx_burst_upto(burst, u16::MAX)
    }

    /// [`RxQueue::rx_burst`] asking for at most `max` mbufs.
    #[doc(alias = "rte_eth_rx_burst")]
    pub fn rx_burst_upto(&mut self, burst: &mut MbufBurst, max: u16) -> usize {
        let (ptr, room) = burst.spare_raw();
        let room = room.min(max);
        if room == 0 {
            return 0;
        }
        // SAFETY: the port is started and this is the only handle of the
        // queue (&mut self); ptr has room for `room` pointers.
        let n = unsafe { sys::dsys_eth_rx_burst(self.port.id, self.queue, ptr, room) };
        // SAFETY: DPDK wrote n valid mbufs that we now own.
        unsafe { burst.commit(n as usize) };
        n as usize
    }

    /// The port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// The queue index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// The port's counters.
    ///
    /// # Errors
    /// [`DpdkError::Call`] when the driver cannot report them.
    pub fn port_stats(&self) -> Result<PortStats, DpdkError> {
        stats(self.port.id)
    }
}

impl TxQueue {
    /// Transmits the mbufs of `burst` from the front; those the device took
    /// leave the burst, those it had no room for stay (retry or drop them).
    /// Returns how many were sent.
    #[doc(alias = "rte_eth_tx_burst")]
    pub fn tx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        let (ptr, len) = burst.held_raw();
        if len == 0 {
            return 0;
        }
        // SAFETY: the port is started, this is the only handle of the queue,
        // and ptr holds len valid mbufs; DPDK takes ownership of the first n.
        let n = unsafe { sys::dsys_eth_tx_burst(self.port.id, self.queue, ptr, len) };
        burst.consumed(n as usize);
        n as usize
    }

    /// The port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// The queue index.
    pub fn queue(&self) -> u16 {
        self.queue
    }
}

/// The device's capabilities (`rte_eth_dev_info_get`).
fn dev_info(id: u16) -> Result<sys::rte_eth_dev_info, DpdkError> {
    let mut info = sys::rte_eth_dev_info::default();
    // SAFETY: info is a valid out pointer; ethdev checks the port id.
    let ret = unsafe { sys::rte_eth_dev_info_get(id, &mut info) };
    if ret != 0 {
        return Err(DpdkError::call(
            format!("rte_eth_dev_info_get(port {id})"),
            ret,
        ));
    }
    Ok(info)
}

/// The device's RSS key length: what it reports, or the usual 40 bytes when it
/// reports none (net_null).
fn rss_key_len(info: &sys::rte_eth_dev_info) -> u8 {
    match info.hash_key_size {
        0 => 40,
        n => n,
    }
}

/// `ENOTSUP` on Linux (`EOPNOTSUPP`; DPDK returns it negated).
const ENOTSUP: i32 = 95;
