//! The firewall-shaped pipeline both `pipes` (criterion, `firewall_shape`) and
//! `burst_cost` (callgrind, `bench/instructions.sh`) measure.

use doca_flow::{
    AclEntry, ControlEntry, Entry, Flags, Flow, Fwd, L3Type, Match, Port, PortId, PortRange,
    Prefix, SwFlow,
};

/// The pipeline and what must stay alive for it to run.
pub(crate) struct FirewallShape {
    pub(crate) flow: SwFlow,
    pub(crate) p0: Port,
    pub(crate) _p1: Port,
    pub(crate) _entries: [Entry; 3],
}

/// The shape `dpu-fw compile` gives a one-rule policy: a root control pipe sending port
/// 0's IPv4 frames to its ACL pipe (catch-all to port 1), the ACL pipe holding one
/// counted rule (TCP to port 80 -> port 1), its miss to port 1.
pub(crate) fn firewall_shape() -> FirewallShape {
    let flow = Flow::builder()
        .queue_depth(64)
        .counters(1 << 10)
        .build()
        .expect("flow");
    let p0 = flow.start_port(PortId(0), "p0").expect("port 0");
    let p1 = flow.start_port(PortId(1), "p1").expect("port 1");
    let mut q = flow.take_queue(0).expect("queue");
    let acl = p0
        .pipe_builder("p0/v4/acl")
        .acl()
        .nr_entries(16)
        .monitor(doca_flow::Monitor {
            counter: true,
            meter: None,
        })
        .fwd_miss(Fwd::Port(PortId(1)))
        .build()
        .expect("acl pipe");
    let root = p0
        .pipe_builder("root")
        .control()
        .root(true)
        .build()
        .expect("root pipe");
    let v4 = Match::new().port_id(PortId(0)).l3_type(L3Type::Ipv4);
    let entries = [
        root.add_entry(&mut q, ControlEntry::new(0, v4, Fwd::pipe(&acl))),
        root.add_entry(
            &mut q,
            ControlEntry::new(1, Match::new().port_id(PortId(0)), Fwd::Port(PortId(1))),
        ),
        acl.add_entry(
            &mut q,
            AclEntry::new(Prefix::ANY_V4, Prefix::ANY_V4, 0, Fwd::Port(PortId(1)))
                .proto(6)
                .dst_port(PortRange::new(80, 80).expect("range")),
            Flags::NoWait,
        ),
    ]
    .map(|e| e.expect("entry"));
    p0.entries_process(&mut q, 0).expect("entries");
    FirewallShape {
        flow,
        p0,
        _p1: p1,
        _entries: entries,
    }
}
