//! Fuzzes the `dpu-fw conntrack` control protocol (`dpu_fw::control::answer`, what the
//! socket server runs on the line it read) against a table with a connection in it, and
//! with no table. Nothing may panic; every answer ends with a newline and its last line
//! is `ok...` exactly when the request parsed, `error: ...` otherwise.
#![no_main]

use std::sync::OnceLock;

use doca_flow::packet::{Headers, PacketBuilder};
use dpu_fw::conntrack::{CtConfig, CtPacket, Tracker};
use dpu_fw::control::{answer, parse_request};
use libfuzzer_sys::fuzz_target;

fn tracker() -> &'static Tracker {
    static T: OnceLock<Tracker> = OnceLock::new();
    T.get_or_init(|| Tracker::new(CtConfig::default()))
}

fuzz_target!(|data: &[u8]| {
    let t = tracker();
    // One connection in the table, so `list` has a line to print (a `flush` may have
    // removed the last one).
    let f = PacketBuilder::udp4([10, 0, 0, 1].into(), [192, 0, 2, 1].into(), 4000, 53).build();
    let pkt = CtPacket::parse(&f, &Headers::parse(&f)).expect("a UDP packet is trackable");
    let tr = t.track(0, &pkt, 5);
    let _ = t.commit(&tr, 5);
    let parsed = parse_request(data);
    for a in [answer(data, Some((t, 1_000_000_000))), answer(data, None)] {
        assert!(a.ends_with('\n'), "{a:?}");
        let last = a.lines().last().unwrap_or("");
        assert!(
            last.starts_with("ok") || last.starts_with("error: "),
            "{a:?}"
        );
        if parsed.is_err() {
            assert_eq!(a.lines().count(), 1, "{a:?}");
            assert!(last.starts_with("error: "), "{a:?}");
        }
    }
});
