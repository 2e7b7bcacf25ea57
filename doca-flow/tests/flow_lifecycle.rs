//! Random sequences of entry adds, removes and queue processing on a basic pipe equal a
//! model of DOCA's asynchronous entry life cycle: ops take effect in order, only when their
//! queue is processed; a duplicate add fails and is never installed; capacity counts
//! installed entries plus queued adds; a full queue refuses new ops.

mod common;

use core::net::Ipv4Addr;
use std::collections::HashMap;

use doca_flow::packet::PacketBuilder;
use doca_flow::{BasicEntry, EntryStatus, Error, Flags, Flow, Fwd, Match, PortId, Verdict};
use proptest::prelude::*;

const CAPACITY: u32 = 8;
const DEPTH: u32 = 6;

#[derive(Debug, Clone)]
enum Op {
    Add { key: u16, out: u16 },
    Remove { which: usize },
    Process { max: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u16..12, 1u16..4).prop_map(|(key, out)| Op::Add { key, out }),
        2 => any::<usize>().prop_map(|which| Op::Remove { which }),
        2 => prop_oneof![Just(0u32), 1u32..4].prop_map(|max| Op::Process { max }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum MOp {
    Add(usize),
    Remove(usize),
}

#[derive(Debug, Default)]
struct Model {
    /// Per handle: (key, out, status, installed).
    entries: Vec<(u16, u16, EntryStatus, bool)>,
    queue: Vec<MOp>,
    installed: HashMap<u16, usize>,
    used: u32,
}

impl Model {
    fn process(&mut self, max: u32) {
        let n = if max == 0 {
            self.queue.len()
        } else {
            (max as usize).min(self.queue.len())
        };
        for op in self.queue.drain(..n).collect::<Vec<_>>() {
            match op {
                MOp::Add(h) => {
                    let key = self.entries[h].0;
                    if let std::collections::hash_map::Entry::Vacant(slot) =
                        self.installed.entry(key)
                    {
                        slot.insert(h);
                        self.entries[h].2 = EntryStatus::Success;
                        self.entries[h].3 = true;
                    } else {
                        self.entries[h].2 = EntryStatus::Error;
                        self.used -= 1;
                    }
                }
                MOp::Remove(h) => {
                    if self.entries[h].3 {
                        self.installed.remove(&self.entries[h].0);
                        self.entries[h].3 = false;
                        self.entries[h].2 = EntryStatus::Success;
                        self.used -= 1;
                    } else {
                        self.entries[h].2 = EntryStatus::Error;
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(128)))]

    #[test]
    fn entry_life_cycle_equals_model(ops in proptest::collection::vec(op(), 1..60)) {
        let flow = Flow::builder().queue_depth(DEPTH).build().unwrap();
        let p0 = flow.start_port(PortId(0), "p0").unwrap();
        let _ports: Vec<_> = (1..4).map(|i| flow.start_port(PortId(i), "p").unwrap()).collect();
        let mut q = flow.take_queue(0).unwrap();
        let pipe = p0
            .pipe_builder("b")
            .root(true)
            .nr_entries(CAPACITY)
            .matcher(Match::new().tcp_dst_port(u16::MAX))
            .fwd(Fwd::Changeable)
            .build()
            .unwrap();
        let mut handles = Vec::new();
        let mut m = Model::default();
        for op in ops {
            match op {
                Op::Add { key, out } => {
                    let e = BasicEntry::new(Match::new().tcp_dst_port(key)).fwd(Fwd::Port(PortId(out)));
                    let r = pipe.add_entry(&mut q, e, Flags::NoWait);
                    if m.queue.len() as u32 >= DEPTH {
                        prop_assert!(matches!(r, Err(Error::QueueFull { .. })), "{:?}", r);
                    } else if m.used >= CAPACITY {
                        prop_assert!(matches!(r, Err(Error::CapacityExceeded { .. })), "{:?}", r);
                    } else {
                        handles.push(r.unwrap());
                        m.entries.push((key, out, EntryStatus::InProcess, false));
                        m.queue.push(MOp::Add(m.entries.len() - 1));
                        m.used += 1;
                    }
                }
                Op::Remove { which } => {
                    if handles.is_empty() {
                        continue;
                    }
                    let h = which % handles.len();
                    let r = pipe.remove_entry(&mut q, &handles[h], Flags::NoWait);
                    if m.queue.len() as u32 >= DEPTH {
                        prop_assert!(matches!(r, Err(Error::QueueFull { .. })), "{:?}", r);
                    } else {
                        r.unwrap();
                        m.entries[h].2 = EntryStatus::InProcess;
                        m.queue.push(MOp::Remove(h));
                    }
                }
                Op::Process { max } => {
                    let before = m.queue.len();
                    m.process(max);
                    let done = p0.entries_process(&mut q, max).unwrap();
                    prop_assert_eq!(done.len(), before - m.queue.len());
                }
            }
            for (h, e) in handles.iter().enumerate() {
                prop_assert_eq!(e.status(), m.entries[h].2, "handle {}", h);
                prop_assert_eq!(e.is_installed(), m.entries[h].3, "handle {}", h);
            }
            let mut sw = flow.sw();
            for key in 1u16..12 {
                let mut pkt = PacketBuilder::tcp4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 1, key).build();
                let v = sw.process_packet(PortId(0), &mut pkt).verdict;
                match m.installed.get(&key) {
                    Some(&h) => prop_assert_eq!(v, Verdict::Port(PortId(m.entries[h].1))),
                    None => prop_assert!(matches!(v, Verdict::Miss { .. }), "{:?}", v),
                }
            }
        }
    }
}
