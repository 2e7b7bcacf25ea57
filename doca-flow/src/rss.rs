//! Receive-side scaling: the Toeplitz hash NICs spread flows with, and the
//! symmetric key that sends both directions of a connection to one queue.
//!
//! A NIC hashes `source address, destination address, source port,
//! destination port` with a secret key and picks the receive queue from the
//! hash. With the usual random key the two directions of a connection
//! usually land on different queues, so on different workers: a stateful
//! firewall then shares each connection between two cores. The key made of
//! `0x6d5a` repeated (Woo and Park, "Scalable TCP Session Monitoring with
//! Symmetric Receive-side Scaling", KAIST 2012) repeats every 16 bits, and
//! swapping the addresses (32 or 128 bits each) and the ports (16 bits
//! each) shifts every input bit by a multiple of 16, so the hash, and the
//! queue, are the same for both directions. The DPDK ports of `dpu-fw run`
//! install it (`dpdk::PortConfig::symmetric_rss`, feature `dpdk`).

/// The two bytes the symmetric key repeats.
const PATTERN: [u8; 2] = [0x6d, 0x5a];

/// The symmetric Toeplitz key of `len` bytes (`0x6d5a` repeated).
#[must_use]
pub fn symmetric_key(len: usize) -> Vec<u8> {
    (0..len).map(|i| PATTERN[i % 2]).collect()
}

/// The Toeplitz hash of `input` under `key`, as NICs compute RSS hashes:
/// for every input bit set, from the first byte's top bit on, XOR in the 32
/// key bits starting at that bit's position. The key must be at least 4
/// bytes longer than the input (40-byte keys cover IPv4 and IPv6 4-tuples).
///
/// # Panics
/// When `key.len() < input.len() + 4`.
#[must_use]
pub fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
    assert!(
        key.len() >= input.len() + 4,
        "toeplitz: a {}-byte key is too short for {} input bytes",
        key.len(),
        input.len()
    );
    let mut hash = 0u32;
    // The 32-bit key window at the current bit, refilled one byte at a time.
    let mut window =
        u64::from(u32::from_be_bytes([key[0], key[1], key[2], key[3]])) << 8 | u64::from(key[4]);
    for (i, &byte) in input.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= (window >> (8 - bit)) as u32;
            }
        }
        window = (window << 8) | u64::from(key.get(i + 5).copied().unwrap_or(0));
    }
    hash
}

/// The RSS input of an IPv4 4-tuple: addresses, then ports, big-endian.
#[must_use]
pub fn ipv4_tuple(src: u32, dst: u32, sport: u16, dport: u16) -> [u8; 12] {
    let mut t = [0u8; 12];
    t[..4].copy_from_slice(&src.to_be_bytes());
    t[4..8].copy_from_slice(&dst.to_be_bytes());
    t[8..10].copy_from_slice(&sport.to_be_bytes());
    t[10..].copy_from_slice(&dport.to_be_bytes());
    t
}

/// The RSS input of an IPv6 4-tuple: addresses, then ports, big-endian.
#[must_use]
pub fn ipv6_tuple(src: u128, dst: u128, sport: u16, dport: u16) -> [u8; 36] {
    let mut t = [0u8; 36];
    t[..16].copy_from_slice(&src.to_be_bytes());
    t[16..32].copy_from_slice(&dst.to_be_bytes());
    t[32..34].copy_from_slice(&sport.to_be_bytes());
    t[34..].copy_from_slice(&dport.to_be_bytes());
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of Microsoft's RSS verification suite (and DPDK's default).
    const MS_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    fn v4(a: [u8; 4]) -> u32 {
        u32::from_be_bytes(a)
    }

    #[test]
    fn matches_the_verification_suite() {
        // (source, source port, destination, destination port, IPv4-only
        // hash, IPv4+TCP hash), from Microsoft's "Verifying the RSS Hash
        // Calculation".
        #[rustfmt::skip]
        let cases = [
            ([66, 9, 149, 187], 2794, [161, 142, 100, 80], 1766, 0x323e_8fc2, 0x51cc_c178),
            ([199, 92, 111, 2], 14230, [65, 69, 140, 83], 4739, 0xd718_262a, 0xc626_b0ea),
            ([24, 19, 198, 95], 12898, [12, 22, 207, 184], 38024, 0xd2d0_a5de, 0x5c2b_394a),
            ([38, 27, 205, 30], 48228, [209, 142, 163, 6], 2217, 0x8298_9176, 0xafc7_327f),
            ([153, 39, 163, 191], 44251, [202, 188, 127, 2], 1303, 0x5d18_09c5, 0x10e8_28a2),
        ];
        for (src, sport, dst, dport, ip, tcp) in cases {
            let t = ipv4_tuple(v4(src), v4(dst), sport, dport);
            assert_eq!(toeplitz(&MS_KEY, &t[..8]), ip, "{src:?} -> {dst:?}");
            assert_eq!(
                toeplitz(&MS_KEY, &t),
                tcp,
                "{src:?}:{sport} -> {dst:?}:{dport}"
            );
        }
    }

    #[test]
    fn the_symmetric_key_hashes_both_directions_alike() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // 52 bytes: the mlx5 key size; 40: the common one.
        for len in [40, 52] {
            let key = symmetric_key(len);
            let mut distinct = std::collections::HashSet::new();
            for _ in 0..1000 {
                let (a, b, r) = (next(), next(), next());
                let (sp, dp) = (r as u16, (r >> 16) as u16);
                let fwd = toeplitz(&key, &ipv4_tuple(a as u32, b as u32, sp, dp));
                let rev = toeplitz(&key, &ipv4_tuple(b as u32, a as u32, dp, sp));
                assert_eq!(fwd, rev, "IPv4, {len}-byte key");
                let (a6, b6) = ((u128::from(a) << 64) | u128::from(b), u128::from(r) << 3);
                let fwd = toeplitz(&key, &ipv6_tuple(a6, b6, sp, dp));
                assert_eq!(fwd, toeplitz(&key, &ipv6_tuple(b6, a6, dp, sp)), "IPv6");
                distinct.insert(fwd & 0xff);
            }
            // Symmetric, yet still spreading: the low byte (what picks the
            // queue from a redirection table) takes many values.
            assert!(distinct.len() > 100, "{} low-byte values", distinct.len());
        }
        // The usual key is not symmetric: the property above is the key's.
        let t = ipv4_tuple(v4([66, 9, 149, 187]), v4([161, 142, 100, 80]), 2794, 1766);
        let r = ipv4_tuple(v4([161, 142, 100, 80]), v4([66, 9, 149, 187]), 1766, 2794);
        assert_ne!(toeplitz(&MS_KEY, &t), toeplitz(&MS_KEY, &r));
    }
}
