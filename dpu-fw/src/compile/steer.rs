//! Service-chain steering: where accepted packets go along a chain's hops.

use super::plan::PlanPort;
use super::port_id_of;
use crate::model::{Action, Hop, PortId, RuleMatch, RuleSet};

/// A steering rule derived from a service chain: accepted packets that entered `from`
/// and match `matches` go to port `to`.
#[derive(Debug, Clone)]
pub(super) struct Steer {
    pub(super) from: String,
    pub(super) matches: RuleMatch,
    pub(super) to: PortId,
}

/// The steering of every chain that a rule sends packets into: on the forward path, an
/// accepted packet entering a port hop that matches the rule goes to the next port hop
/// (the hop after `firewall` is the rule's own chain action); on the reverse path (when
/// configured), an accepted packet matching the rule with source and destination swapped
/// goes to the next port hop, past `firewall` too. In rule order.
pub(super) fn chain_steers(rules: &RuleSet, ports: &[PlanPort]) -> Vec<Steer> {
    let mut out = Vec::new();
    // `across`: whether a pair of ports with `firewall` between them steers too. On the
    // forward path the rule's own chain action does that; the reverse path has no rule.
    let mut add = |path: &[Hop], m: &RuleMatch, across: bool| {
        for (i, h) in path.iter().enumerate() {
            let Hop::Port(from) = h else { continue };
            let next = match path.get(i + 1) {
                Some(Hop::Firewall) if across => path.get(i + 2),
                Some(Hop::Firewall) | None => None,
                other => other,
            };
            if let Some(Hop::Port(to)) = next {
                if ports.iter().any(|p| p.name == *to) {
                    out.push(Steer {
                        from: from.clone(),
                        matches: m.clone(),
                        to: port_id_of(ports, to),
                    });
                }
            }
        }
    };
    for r in &rules.rules {
        let Action::Chain(name) = &r.action else {
            continue;
        };
        let Some(chain) = rules.chain(name) else {
            continue;
        };
        let mut fwd = r.matches.clone();
        fwd.in_ports.clear();
        // Steering picks the path of packets that were accepted; it matches headers only,
        // so every packet of a connection that a chain rule opened follows the chain,
        // whatever its state.
        fwd.state = None;
        add(&chain.path, &fwd, false);
        if let Some(rev) = &chain.reverse {
            // Return traffic: addresses and ports swapped; ICMP types and TCP flags describe
            // the forward packets, so they are left out.
            let back = RuleMatch {
                in_ports: Vec::new(),
                family: fwd.family,
                src: fwd.dst.clone(),
                dst: fwd.src.clone(),
                protocol: fwd.protocol,
                src_ports: fwd.dst_ports.clone(),
                dst_ports: fwd.src_ports.clone(),
                icmp: None,
                tcp_flags: None,
                vlan: fwd.vlan,
                state: None,
            };
            add(rev, &back, true);
        }
    }
    out
}
