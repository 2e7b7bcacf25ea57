#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Criterion benchmarks of the sw backend: entry insertion rates for basic, control and ACL
//! pipes, packets per second through a 3-hop pipeline (control -> ACL -> basic), and a
//! firewall-shaped pipeline (root by port and IP version -> one-rule ACL pipe -> port)
//! in bursts of 64 with the walk-prefix memo on and off (`SwBackend::set_prefix_memo`).
//!
//! Run: `cargo bench -p doca-flow --bench pipes`.

use core::net::{IpAddr, Ipv4Addr};
use std::hint::black_box;

mod common;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use doca_flow::packet::PacketBuilder;
use doca_flow::{
    AclEntry, BasicEntry, ControlEntry, Field, Flags, Flow, Fwd, L3Type, Match, Pipe, Port, PortId,
    PortRange, Prefix, Queue,
};

const N: u32 = 1000;

fn setup(depth: u32) -> (doca_flow::SwFlow, Port, Port, Queue) {
    let flow = Flow::builder()
        .queue_depth(depth)
        .counters(1 << 20)
        .build()
        .unwrap();
    let p0 = flow.start_port(PortId(0), "p0").unwrap();
    let p1 = flow.start_port(PortId(1), "p1").unwrap();
    let q = flow.take_queue(0).unwrap();
    (flow, p0, p1, q)
}

fn addr(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | i)
}

fn acl_rule(i: u32) -> AclEntry {
    AclEntry::new(
        Prefix::new(IpAddr::from(Ipv4Addr::from(0xc000_0000 | (i << 8))), 24).unwrap(),
        Prefix::new(IpAddr::from(addr(i & !0xff)), 24).unwrap(),
        i % 1025,
        Fwd::Port(PortId(1)),
    )
    .proto(6)
    .dst_port(PortRange::new((i % 1000) as u16 + 1, (i % 1000) as u16 + 100).unwrap())
}

fn entries(c: &mut Criterion) {
    let mut g = c.benchmark_group("entries_add");
    g.throughput(Throughput::Elements(u64::from(N)));
    g.bench_function("basic", |b| {
        b.iter_batched(
            || {
                let (f, p0, p1, q) = setup(2 * N);
                let pipe = p0
                    .pipe_builder("b")
                    .nr_entries(N)
                    .matcher(Match::new().ipv4_dst(Ipv4Addr::BROADCAST))
                    .fwd(Fwd::Drop)
                    .build()
                    .unwrap();
                (f, p0, p1, q, pipe)
            },
            |(f, p0, p1, mut q, pipe)| {
                let es: Vec<_> = (0..N)
                    .map(|i| {
                        pipe.add_entry(
                            &mut q,
                            BasicEntry::new(Match::new().ipv4_dst(addr(i))),
                            Flags::WaitForBatch,
                        )
                        .unwrap()
                    })
                    .collect();
                p0.entries_process(&mut q, 0).unwrap();
                (es, pipe, q, p1, p0, f)
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("control", |b| {
        b.iter_batched(
            || {
                let (f, p0, p1, q) = setup(2 * N);
                let pipe = p0
                    .pipe_builder("c")
                    .nr_entries(N)
                    .control()
                    .build()
                    .unwrap();
                (f, p0, p1, q, pipe)
            },
            |(f, p0, p1, mut q, pipe)| {
                let es: Vec<_> = (0..N)
                    .map(|i| {
                        let e =
                            ControlEntry::new(i % 16, Match::new().ipv4_dst(addr(i)), Fwd::Drop)
                                .mask(Match::new().prefix(Field::Ipv4Dst, 24 + (i % 9) as u8));
                        pipe.add_entry(&mut q, e).unwrap()
                    })
                    .collect();
                p0.entries_process(&mut q, 0).unwrap();
                (es, pipe, q, p1, p0, f)
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("acl", |b| {
        b.iter_batched(
            || {
                let (f, p0, p1, q) = setup(2 * N);
                let pipe = p0.pipe_builder("a").nr_entries(N).acl().build().unwrap();
                (f, p0, p1, q, pipe)
            },
            |(f, p0, p1, mut q, pipe)| {
                let es: Vec<_> = (0..N)
                    .map(|i| {
                        let flags = if i + 1 == N {
                            Flags::NoWait
                        } else {
                            Flags::WaitForBatch
                        };
                        pipe.add_entry(&mut q, acl_rule(i), flags).unwrap()
                    })
                    .collect();
                p0.entries_process(&mut q, 0).unwrap();
                (es, pipe, q, p1, p0, f)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();

    // A batch large enough to be built in one pass (see the sw backend's
    // ACL_BATCH_BUILD_MIN).
    const BIG: u32 = 10_000;
    let mut g = c.benchmark_group("entries_add_batch");
    g.throughput(Throughput::Elements(u64::from(BIG)));
    g.sample_size(10);
    g.bench_function("acl_10000", |b| {
        b.iter_batched(
            || {
                let (f, p0, p1, q) = setup(2 * BIG);
                let pipe = p0.pipe_builder("a").nr_entries(BIG).acl().build().unwrap();
                (f, p0, p1, q, pipe)
            },
            |(f, p0, p1, mut q, pipe)| {
                let es: Vec<_> = (0..BIG)
                    .map(|i| {
                        let flags = if i + 1 == BIG {
                            Flags::NoWait
                        } else {
                            Flags::WaitForBatch
                        };
                        pipe.add_entry(&mut q, acl_rule(i), flags).unwrap()
                    })
                    .collect();
                p0.entries_process(&mut q, 0).unwrap();
                (es, pipe, q, p1, p0, f)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

/// control (by L3 type) -> ACL (N rules) -> basic (exact IPv4 dst) -> port 1.
fn pipeline() -> (
    doca_flow::SwFlow,
    Port,
    Port,
    Vec<Pipe>,
    Vec<doca_flow::Entry>,
) {
    let (flow, p0, p1, mut q) = setup(8 * N);
    let basic = p0
        .pipe_builder("basic")
        .nr_entries(4096)
        .matcher(Match::new().ipv4_dst(Ipv4Addr::BROADCAST))
        .fwd(Fwd::Port(PortId(1)))
        .fwd_miss(Fwd::Drop)
        .build()
        .unwrap();
    let acl = p0
        .pipe_builder("acl")
        .acl()
        .nr_entries(N + 1)
        .fwd_miss(Fwd::Drop)
        .build()
        .unwrap();
    let root = p0
        .pipe_builder("root")
        .control()
        .root(true)
        .build()
        .unwrap();
    let mut es = Vec::new();
    es.push(
        root.add_entry(
            &mut q,
            ControlEntry::new(0, Match::new().l3_type(L3Type::Ipv4), Fwd::pipe(&acl)),
        )
        .unwrap(),
    );
    for i in 0..N {
        es.push(
            acl.add_entry(&mut q, acl_rule(i), Flags::WaitForBatch)
                .unwrap(),
        );
    }
    let all = AclEntry::new(Prefix::ANY_V4, Prefix::ANY_V4, 1024, Fwd::pipe(&basic));
    es.push(acl.add_entry(&mut q, all, Flags::NoWait).unwrap());
    for i in 0..4096 {
        es.push(
            basic
                .add_entry(
                    &mut q,
                    BasicEntry::new(Match::new().ipv4_dst(addr(i))),
                    Flags::WaitForBatch,
                )
                .unwrap(),
        );
    }
    p0.entries_process(&mut q, 0).unwrap();
    (
        flow,
        p0,
        p1,
        vec![root.into(), acl.into(), basic.into()],
        es,
    )
}

fn packets(c: &mut Criterion) {
    let (flow, p0, _p1, _pipes, _es) = pipeline();
    let mut frames: Vec<Vec<u8>> = (0..256u32)
        .map(|i| {
            PacketBuilder::tcp4(
                Ipv4Addr::new(198, 51, 100, 7),
                addr(i * 13 % 4096),
                40000,
                2000 + i as u16,
            )
            .build()
        })
        .collect();
    let mut out = Vec::with_capacity(frames.len());
    {
        // The pipeline does what it says: every frame crosses 3 pipes to port 1.
        let mut sw = flow.sw();
        sw.process_batch(p0.id(), &mut frames, &mut out);
        assert!(
            out.iter()
                .all(|o| o.verdict == doca_flow::Verdict::Port(PortId(1)) && o.hops == 3)
        );
    }
    let mut g = c.benchmark_group("pipeline_3hop");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("process_batch_256", |b| {
        let mut sw = flow.sw();
        b.iter(|| {
            out.clear();
            sw.process_batch(p0.id(), &mut frames, &mut out);
            black_box(&out);
        });
    });
    g.finish();
}

/// One root basic pipe (exact IPv4 dst, 4096 entries) -> port 1: the per-packet floor
/// (parse, key extraction, one lookup).
fn one_hop(c: &mut Criterion) {
    let (flow, p0, _p1, mut q) = setup(8192);
    let basic = p0
        .pipe_builder("basic")
        .root(true)
        .nr_entries(4096)
        .matcher(Match::new().ipv4_dst(Ipv4Addr::BROADCAST))
        .fwd(Fwd::Port(PortId(1)))
        .build()
        .unwrap();
    let _es: Vec<_> = (0..4096)
        .map(|i| {
            basic
                .add_entry(
                    &mut q,
                    BasicEntry::new(Match::new().ipv4_dst(addr(i))),
                    Flags::WaitForBatch,
                )
                .unwrap()
        })
        .collect();
    p0.entries_process(&mut q, 0).unwrap();
    let mut frames: Vec<Vec<u8>> = (0..256u32)
        .map(|i| {
            PacketBuilder::tcp4(
                Ipv4Addr::new(198, 51, 100, 7),
                addr(i * 13 % 4096),
                40000,
                80,
            )
            .build()
        })
        .collect();
    let mut out = Vec::with_capacity(frames.len());
    let mut g = c.benchmark_group("pipeline_1hop");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("process_batch_256", |b| {
        let mut sw = flow.sw();
        b.iter(|| {
            out.clear();
            sw.process_batch(p0.id(), &mut frames, &mut out);
            black_box(&out);
        });
    });
    g.finish();
}

/// The shape `dpu-fw compile` gives a one-rule policy ([`common::firewall_shape`]).
/// Bursts of 64 (`dpdk::BURST_MAX`), with the walk-prefix memo on and off: the ratio is
/// what the memo saves per packet.
fn firewall_shape(c: &mut Criterion) {
    // Bound whole: its entries and port 1 must outlive the measurement.
    let shape = common::firewall_shape();
    let (flow, p0) = (&shape.flow, &shape.p0);
    let mut frames: Vec<Vec<u8>> = (0..64u32)
        .map(|i| {
            let dst = if i % 4 == 0 { 80 } else { 1000 + i as u16 };
            PacketBuilder::tcp4(Ipv4Addr::new(198, 51, 100, 7), addr(i), 40000, dst).build()
        })
        .collect();
    let mut g = c.benchmark_group("firewall_shape");
    g.throughput(Throughput::Elements(frames.len() as u64));
    for on in [true, false] {
        let name = if on {
            "prefix_memo_on"
        } else {
            "prefix_memo_off"
        };
        g.bench_function(name, |b| {
            let mut sw = flow.sw();
            sw.set_prefix_memo(on);
            b.iter(|| {
                let mut ports = 0u32;
                sw.process_batch_each(p0.id(), &mut frames, |_, o| {
                    ports += u32::from(o.verdict == doca_flow::Verdict::Port(PortId(1)));
                });
                assert_eq!(ports, 64);
            });
        });
    }
    g.finish();
}

criterion_group!(benches, entries, packets, one_hop, firewall_shape);
criterion_main!(benches);
