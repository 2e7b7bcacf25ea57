//! The DPDK layer end to end, in its own process: start the EAL without
//! hugepages on `net_ring` and `net_null` vdevs, send a burst and receive the
//! same bytes back, check the counters, and shut down cleanly.
//!
//! Needs feature `dpdk` and root (the EAL opens /dev and sets up memory).
#![cfg(feature = "dpdk")]

use doca_flow::dpdk::{DpdkError, Eal, MbufBurst, Mempool, Port, PortConfig};

fn frame(i: u8) -> Vec<u8> {
    // A broadcast Ethernet frame with an experimental ethertype and a
    // payload that differs per packet.
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, i]);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend((0..60u8).map(|b| b.wrapping_mul(i).wrapping_add(7)));
    f
}

#[test]
fn eal_ring_loopback_and_null_port() {
    let eal = Eal::init([
        "dpdk_eal_test",
        "-l",
        "0",
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:error",
        "--vdev=net_ring0",
        "--vdev=net_null0",
    ])
    .expect("EAL init (run as root with DPDK installed)");

    // A second start in the same process is a clear error, not UB.
    assert!(matches!(
        Eal::init(["again", "--no-huge"]),
        Err(DpdkError::EalAlreadyInitialized)
    ));
    assert!(Port::count(&eal) >= 2);
    assert!(matches!(
        Port::by_name(&eal, "net_nonexistent9"),
        Err(DpdkError::NoSuchPort { .. })
    ));

    let pool = Mempool::pktmbuf(&eal, "test_pool", 2047, 32, 2048).expect("mempool");
    let avail_before = pool.available();

    // net_ring0 loops what it transmits back to its receive queue.
    let port = Port::by_name(&eal, "net_ring0")
        .unwrap()
        .configure(&PortConfig::default(), &pool)
        .expect("configure net_ring0");
    let port = port.start().expect("start net_ring0");
    // One owner per port: a second handle, by name or by id, is refused while the
    // port lives (two would poll one queue, and the first dropped would close the
    // device under the other).
    let ring_id = port.id();
    assert!(matches!(
        Port::by_name(&eal, "net_ring0"),
        Err(DpdkError::PortClaimed { port, .. }) if port == ring_id
    ));
    assert!(matches!(
        Port::by_id(&eal, ring_id),
        Err(DpdkError::PortClaimed { .. })
    ));
    let (mut rx, mut tx) = port.split_queues_0();

    let sent: Vec<Vec<u8>> = (1..=32u8).map(frame).collect();
    let mut burst = MbufBurst::new();
    for f in &sent {
        burst.push(pool.alloc_with(f).unwrap()).unwrap();
    }
    assert_eq!(burst.len(), 32);
    let n = tx.tx_burst(&mut burst);
    assert_eq!(n, 32, "net_ring accepts a whole burst");
    assert!(burst.is_empty());

    let mut got = MbufBurst::new();
    // A receive asks for at most what it is told (net_ring holds all 32).
    assert_eq!(rx.rx_burst_upto(&mut got, 5), 5);
    assert_eq!(got.len(), 5);
    for _ in 0..100 {
        rx.rx_burst(&mut got);
        if got.len() == sent.len() {
            break;
        }
    }
    assert_eq!(got.len(), sent.len());
    for (i, f) in sent.iter().enumerate() {
        assert_eq!(got.data(i).unwrap(), &f[..], "packet {i} came back changed");
    }
    let stats = rx.port_stats().unwrap();
    assert_eq!(stats.tx_packets, 32);
    assert_eq!(stats.rx_packets, 32);

    // The burst-level accessors agree with the per-mbuf ones.
    let want_total: u64 = sent.iter().map(|f| f.len() as u64).sum();
    assert_eq!(got.total_len(), want_total);
    {
        let mut lens = [0u32; doca_flow::dpdk::BURST_MAX];
        let mut slices = Vec::new();
        got.slices_and_lens(&mut slices, &mut lens);
        assert_eq!(slices.len(), sent.len());
        for (i, f) in sent.iter().enumerate() {
            assert_eq!(&slices[i][..], &f[..], "slice {i}");
            assert_eq!(lens[i] as usize, f.len(), "pkt_len {i}");
        }
    }

    // A thread of our own gets an lcore id while registered (so mempool
    // operations on it use a per-lcore cache), and gives it back after.
    let eal2 = eal.clone();
    let ids = std::thread::spawn(move || {
        let a = eal2.register_thread().expect("register a thread");
        let id = a.lcore_id();
        drop(a);
        let b = eal2.register_thread().expect("register again");
        (id, b.lcore_id())
    })
    .join()
    .unwrap();
    assert_ne!(ids.0, 0, "lcore 0 is the main lcore (-l 0), not free");
    assert_eq!(ids.0, ids.1, "an unregistered thread's lcore id is reused");

    // Retain frees what it drops: keep the even-numbered packets.
    let freed = got.retain(|i, _| i % 2 == 0);
    assert_eq!(freed, 16);
    assert_eq!(got.len(), 16);
    assert_eq!(got.data(1).unwrap(), &sent[2][..]);
    drop(got);

    // net_null: a sink that accepts everything and a source of empty-ish
    // frames; the mbufs given to it go back to the pool.
    // A handle dropped before it is configured gives its claim back.
    drop(Port::by_name(&eal, "net_null0").unwrap());
    let mut null = Port::by_name(&eal, "net_null0")
        .unwrap()
        .configure(
            &PortConfig {
                rx_queues: 2,
                tx_queues: 2,
                ..PortConfig::default()
            },
            &pool,
        )
        .expect("configure net_null0")
        .start()
        .expect("start net_null0");
    // Two queues: RSS on, with the symmetric key installed (net_null keeps
    // the key it is given and reports it; without `symmetric_rss` it reports
    // DPDK's default key).
    assert_eq!(
        null.rss_key().expect("net_null0's RSS key"),
        Some(doca_flow::rss::symmetric_key(40))
    );
    let mut ntx = null.tx_queue(1).unwrap();
    assert!(matches!(null.tx_queue(1), Err(DpdkError::BadQueue { .. })));
    assert!(matches!(null.rx_queue(7), Err(DpdkError::BadQueue { .. })));
    let mut b = MbufBurst::new();
    for f in &sent[..8] {
        b.push(pool.alloc_with(f).unwrap()).unwrap();
    }
    assert_eq!(ntx.tx_burst(&mut b), 8);
    drop(ntx);
    let null = null
        .stop()
        .expect("stop net_null0 once its queues are gone");
    drop(null);

    drop((rx, tx));
    // Every mbuf is back: nothing leaked by the bursts, the ring port or
    // the null port (the ports closed when their last handle went).
    assert_eq!(pool.available(), avail_before);
    drop(pool);
    drop(eal);
}
