//! rte_acl through doca-sys, in its own process: build a context from a
//! handful of rules and check that packets are classified as a linear
//! first-match search says.
#![cfg(feature = "dpdk")]

use doca_flow::dpdk::{AclAlgorithm, AclContext, AclIpv4Key, AclIpv4Rule, Eal};

/// (src, dst, src port, dst port, protocol), host order.
type Tuple = (u32, u32, u16, u16, u8);

fn ip(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

fn rules() -> Vec<AclIpv4Rule> {
    let any = (0u16, 65535u16);
    let r = |src: (u32, u8), dst: (u32, u8), sp, dp, proto| (src, dst, sp, dp, proto);
    let list = [
        // 0: TCP 10.0.0.0/8 -> 192.168.1.10:443
        r(
            (ip(10, 0, 0, 0), 8),
            (ip(192, 168, 1, 10), 32),
            any,
            (443, 443),
            (6, 0xff),
        ),
        // 1: UDP anything -> 192.168.1.0/24 ports 1000-2000
        r(
            (0, 0),
            (ip(192, 168, 1, 0), 24),
            any,
            (1000, 2000),
            (17, 0xff),
        ),
        // 2: any protocol from 10.1.0.0/16
        r((ip(10, 1, 0, 0), 16), (0, 0), any, any, (0, 0)),
        // 3: TCP from source ports 0-1023 to anywhere
        r((0, 0), (0, 0), (0, 1023), any, (6, 0xff)),
    ];
    list.iter()
        .enumerate()
        .map(|(i, &(src, dst, src_port, dst_port, proto))| AclIpv4Rule {
            src,
            dst,
            src_port,
            dst_port,
            proto,
            // First rule wins: higher priority for earlier rules.
            priority: 1000 - i as i32,
            userdata: i as u32 + 1,
        })
        .collect()
}

/// The linear first-match reference.
fn linear(rules: &[AclIpv4Rule], k: Tuple) -> u32 {
    let pm = |a: u32, (p, l): (u32, u8)| l == 0 || (a >> (32 - l)) == (p >> (32 - l));
    rules
        .iter()
        .find(|r| {
            pm(k.0, r.src)
                && pm(k.1, r.dst)
                && (r.src_port.0..=r.src_port.1).contains(&k.2)
                && (r.dst_port.0..=r.dst_port.1).contains(&k.3)
                && (k.4 & r.proto.1) == (r.proto.0 & r.proto.1)
        })
        .map_or(0, |r| r.userdata)
}

#[test]
fn rte_acl_classifies_like_first_match() {
    let eal = Eal::init([
        "dpdk_acl_test",
        "-l",
        "0",
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:error",
    ])
    .expect("EAL init (run as root with DPDK installed)");
    let rules = rules();
    let mut ctx = AclContext::build(&eal, &rules).expect("rte_acl build");
    assert_eq!(ctx.len(), 4);

    let cases: Vec<(Tuple, u32)> = vec![
        ((ip(10, 9, 9, 9), ip(192, 168, 1, 10), 5555, 443, 6), 1),
        ((ip(10, 1, 2, 3), ip(192, 168, 1, 10), 5555, 443, 6), 1), // 0 before 2
        ((ip(10, 1, 2, 3), ip(192, 168, 1, 10), 5555, 80, 6), 3),
        ((ip(10, 1, 2, 3), ip(8, 8, 8, 8), 5555, 80, 17), 3),
        ((ip(172, 16, 0, 1), ip(192, 168, 1, 99), 53, 1500, 17), 2),
        ((ip(172, 16, 0, 1), ip(192, 168, 1, 99), 53, 2001, 17), 0),
        ((ip(172, 16, 0, 1), ip(1, 2, 3, 4), 80, 9999, 6), 4),
        ((ip(172, 16, 0, 1), ip(1, 2, 3, 4), 1024, 9999, 6), 0),
        ((ip(172, 16, 0, 1), ip(192, 168, 2, 1), 53, 1500, 17), 0),
    ];
    // The table above is checked against the linear reference first, so a
    // wrong expectation cannot make rte_acl look right.
    for (k, want) in &cases {
        assert_eq!(linear(&rules, *k), *want, "reference disagrees on {k:?}");
    }
    let keys: Vec<AclIpv4Key> = cases
        .iter()
        .map(|&((s, d, sp, dp, p), _)| AclIpv4Key::new(s, d, sp, dp, p))
        .collect();
    for alg in [AclAlgorithm::Default, AclAlgorithm::Scalar] {
        ctx.set_algorithm(alg).expect("algorithm");
        let mut out = vec![u32::MAX; keys.len()];
        ctx.classify(&keys, &mut out).expect("classify");
        let want: Vec<u32> = cases.iter().map(|c| c.1).collect();
        assert_eq!(out, want, "rte_acl ({alg:?}) disagrees with first match");
    }
    drop(ctx);
    drop(eal);
}
