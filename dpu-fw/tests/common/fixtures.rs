//! Policies the update tests share (on the sw backend and on the DOCA Flow emulator).

use dpu_fw::demo;
use dpu_fw::model::{Action, RuleSet};

/// The demo policy without its `state` rules and connection tracking: the update tests
/// are about updates, and on the hardware target a stateful policy leaves the packets of
/// new connections to software (`tests/ct_offload.rs` covers that path).
pub(crate) fn stateless_demo() -> RuleSet {
    let mut r = demo::policy();
    r.conntrack = None;
    r.rules.retain(|r| r.matches.state.is_none());
    r
}

/// The demo policy with its first rules removed and the defaults flipped: a big change
/// (other segments, other pipes).
pub(crate) fn big_change() -> RuleSet {
    let mut r = stateless_demo();
    r.rules.drain(..3);
    r.defaults.inbound = Action::Accept;
    r
}

/// The demo policy with one rule's port changed: a small, in-place change.
pub(crate) fn small_change() -> RuleSet {
    let mut r = stateless_demo();
    let ssh = r
        .rules
        .iter_mut()
        .find(|r| r.name == "ssh-others")
        .expect("the demo policy has ssh-others");
    ssh.matches.dst_ports = vec![2222.into()];
    r
}
