//! Seeded synthetic rule sets and traces with ClassBench-like statistics,
//! so tests and benches run without the shared ClassBench folder.
//!
//! The generator draws, per rule: a `(src len, dst len)` pair from a
//! profile's table, addresses from a small pool of "networks" (so prefixes
//! nest and overlap, as in real sets), port classes (wildcard, HI
//! `1024..=65535`, LO `0..=1023`, exact, arbitrary range) and a protocol
//! mix. Traces mix rule corners (every field at the low or high end of a
//! random rule, as ClassBench's trace generator does) with uniformly random
//! headers that mostly miss. Everything is deterministic from a `u64` seed.
//!
//! # Examples
//!
//! ```
//! use dpu_fw::synth::{Profile, rules_v4, trace_v4};
//! let rules = rules_v4(Profile::Acl, 500, 7);
//! let keys = trace_v4(&rules, 1000, 0.1, 8);
//! assert_eq!((rules.len(), keys.len()), (500, 1000));
//! assert_eq!(rules, rules_v4(Profile::Acl, 500, 7));
//! ```

use doca_flow::classifier::{Addr, Key, PortRange, Prefix, Rule};

/// splitmix64: a tiny, fast, well-mixed 64-bit PRNG.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`; 0 when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// Which ClassBench family to imitate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Profile {
    /// Access-control lists: specific addresses, exact destination ports.
    Acl,
    /// Firewalls: many wildcard addresses, port ranges.
    Fw,
    /// IP chains: a mix of everything.
    Ipc,
}

struct Shape {
    /// `(src len, dst len, weight)` as fractions of the address width.
    lens: &'static [(f32, f32, u32)],
    /// Destination port class weights: wildcard, HI, LO, exact, range.
    dport: [u32; 5],
    /// Source port wildcard probability (otherwise the same classes).
    sport_wild: f64,
    /// Protocol weights: TCP, UDP, any, ICMP, GRE.
    proto: [u32; 5],
}

fn shape(p: Profile) -> Shape {
    match p {
        Profile::Acl => Shape {
            lens: &[
                (1.0, 0.75, 30),
                (1.0, 1.0, 20),
                (0.75, 0.75, 15),
                (0.9, 0.5, 15),
                (1.0, 0.0, 5),
                (0.5, 1.0, 15),
            ],
            dport: [29, 0, 1, 58, 12],
            sport_wild: 1.0,
            proto: [87, 1, 8, 3, 1],
        },
        Profile::Fw => Shape {
            lens: &[
                (0.0, 1.0, 25),
                (0.0, 0.75, 15),
                (0.0, 0.0, 15),
                (1.0, 0.0, 15),
                (0.75, 1.0, 15),
                (1.0, 1.0, 15),
            ],
            dport: [30, 4, 2, 61, 3],
            sport_wild: 0.77,
            proto: [58, 32, 1, 4, 5],
        },
        Profile::Ipc => Shape {
            lens: &[
                (1.0, 1.0, 25),
                (0.75, 0.75, 20),
                (0.0, 0.75, 7),
                (0.75, 0.0, 5),
                (0.5, 1.0, 20),
                (1.0, 0.5, 23),
            ],
            dport: [55, 3, 3, 36, 3],
            sport_wild: 0.8,
            proto: [27, 38, 32, 2, 1],
        },
    }
}

fn pick(rng: &mut SplitMix64, weights: &[u32]) -> usize {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let mut x = rng.below(total);
    for (i, &w) in weights.iter().enumerate() {
        if x < u64::from(w) {
            return i;
        }
        x -= u64::from(w);
    }
    weights.len() - 1
}

fn port_range(rng: &mut SplitMix64, class: usize) -> PortRange {
    const COMMON: [u16; 10] = [80, 443, 53, 22, 25, 110, 123, 161, 389, 8080];
    match class {
        0 => PortRange::ANY,
        1 => PortRange::new(1024, 65535).unwrap(),
        2 => PortRange::new(0, 1023).unwrap(),
        3 => PortRange::single(if rng.chance(0.6) {
            COMMON[rng.below(10) as usize]
        } else {
            rng.below(65536) as u16
        }),
        _ => {
            let lo = rng.below(65000) as u16;
            PortRange::new(lo, lo.saturating_add(1 + rng.below(2000) as u16)).unwrap()
        }
    }
}

/// A random address near one of `pool` networks.
fn address<A: Addr>(rng: &mut SplitMix64, pool: &[u128]) -> A {
    let base = pool[rng.below(pool.len() as u64) as usize];
    // Keep the top quarter of the bits (the network), randomise the rest.
    let keep = A::BITS / 4 + rng.below(u64::from(A::BITS / 4)) as u32;
    let noise = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
    let keep_mask = if keep == 0 {
        0
    } else {
        u128::MAX << (128 - keep)
    };
    let full = (base & keep_mask) | (noise & !keep_mask);
    A::from_u128(full >> (128 - A::BITS))
}

/// A synthetic rule set: `n` rules, `priority = id = index`.
#[must_use]
pub fn rules<A: Addr>(profile: Profile, n: usize, seed: u64) -> Vec<Rule<A>> {
    let mut rng = SplitMix64::new(seed ^ 0x5eed_0000_0000_0001);
    let s = shape(profile);
    let pool: Vec<u128> = (0..(n / 50).clamp(4, 256))
        .map(|_| (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()))
        .collect();
    let weights: Vec<u32> = s.lens.iter().map(|l| l.2).collect();
    let bits = A::BITS as f32;
    (0..n)
        .map(|i| {
            let (fs, fd, _) = s.lens[pick(&mut rng, &weights)];
            let jitter = |rng: &mut SplitMix64, f: f32| -> u8 {
                if f == 0.0 {
                    return 0;
                }
                let base = (f * bits).round() as i64;
                let j = rng.below(9) as i64 - 4;
                (base - if f >= 1.0 { j.abs() } else { j }).clamp(1, A::BITS as i64) as u8
            };
            let sl = jitter(&mut rng, fs);
            let dl = jitter(&mut rng, fd);
            let src = Prefix::new(address::<A>(&mut rng, &pool), sl).unwrap();
            let dst = Prefix::new(address::<A>(&mut rng, &pool), dl).unwrap();
            let src_port = if rng.chance(s.sport_wild) {
                PortRange::ANY
            } else {
                {
                    let c = pick(&mut rng, &[0, 60, 20, 15, 5]);
                    port_range(&mut rng, c)
                }
            };
            let dc = pick(&mut rng, &s.dport);
            let dst_port = port_range(&mut rng, dc);
            let (proto, proto_mask) = match pick(&mut rng, &s.proto) {
                0 => (6, 0xff),
                1 => (17, 0xff),
                2 => (0, 0),
                3 => (1, 0xff),
                _ => (47, 0xff),
            };
            Rule {
                src,
                dst,
                src_port,
                dst_port,
                proto,
                proto_mask,
                priority: i as u32,
                id: i as u32,
            }
        })
        .collect()
}

/// IPv4 rules; see [`rules`].
#[must_use]
pub fn rules_v4(profile: Profile, n: usize, seed: u64) -> Vec<Rule<u32>> {
    rules(profile, n, seed)
}

/// IPv6 rules; see [`rules`].
#[must_use]
pub fn rules_v6(profile: Profile, n: usize, seed: u64) -> Vec<Rule<u128>> {
    rules(profile, n, seed)
}

/// A trace of `n` keys: a `miss_share` fraction uniformly random, the rest
/// corners of random rules. Keys always carry ports.
#[must_use]
pub fn trace<A: Addr>(rules: &[Rule<A>], n: usize, miss_share: f64, seed: u64) -> Vec<Key<A>> {
    let mut rng = SplitMix64::new(seed ^ 0x7ace_0000_0000_0002);
    let rnd = |rng: &mut SplitMix64| {
        A::from_u128(
            ((u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())) >> (128 - A::BITS),
        )
    };
    (0..n)
        .map(|_| {
            if rules.is_empty() || rng.chance(miss_share) {
                return Key {
                    src: rnd(&mut rng),
                    dst: rnd(&mut rng),
                    src_port: rng.next_u64() as u16,
                    dst_port: rng.next_u64() as u16,
                    proto: [6, 17, 1, 47, 132][rng.below(5) as usize],
                    has_ports: true,
                };
            }
            let r = &rules[rng.below(rules.len() as u64) as usize];
            let end = |rng: &mut SplitMix64, p: Prefix<A>| {
                if rng.chance(0.5) {
                    p.addr()
                } else {
                    let host = if p.prefix_len() == 0 {
                        u128::MAX
                    } else {
                        !(u128::MAX << (128 - u32::from(p.prefix_len())))
                    };
                    A::from_u128((p.addr().to_u128() << (128 - A::BITS) | host) >> (128 - A::BITS))
                }
            };
            let port = |rng: &mut SplitMix64, pr: PortRange| {
                if rng.chance(0.5) { pr.lo() } else { pr.hi() }
            };
            Key {
                src: end(&mut rng, r.src),
                dst: end(&mut rng, r.dst),
                src_port: port(&mut rng, r.src_port),
                dst_port: port(&mut rng, r.dst_port),
                proto: if r.proto_mask == 0 {
                    [6, 17][rng.below(2) as usize]
                } else {
                    r.proto
                },
                has_ports: true,
            }
        })
        .collect()
}

/// IPv4 trace; see [`trace`].
#[must_use]
pub fn trace_v4(rules: &[Rule<u32>], n: usize, miss_share: f64, seed: u64) -> Vec<Key<u32>> {
    trace(rules, n, miss_share, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_valid() {
        for p in [Profile::Acl, Profile::Fw, Profile::Ipc] {
            let a = rules_v4(p, 300, 1);
            assert_eq!(a, rules_v4(p, 300, 1));
            assert_ne!(a, rules_v4(p, 300, 2));
            assert!(doca_flow::classifier::Classifier::build(&a).is_ok());
            let b = rules_v6(p, 300, 1);
            assert!(doca_flow::classifier::Classifier::build(&b).is_ok());
            let t = trace(&b, 100, 0.0, 3);
            // Corner keys hit their rule, so at least one rule matches.
            assert!(t.iter().all(|k| b.iter().any(|r| r.matches(k))));
        }
    }
}
