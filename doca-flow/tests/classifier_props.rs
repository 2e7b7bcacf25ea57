//! Property tests: the classifier equals the linear first-match oracle on
//! random IPv4 and IPv6 rule sets (overlaps, ranges, wildcards, protocol
//! masks, keys without ports), after a build and after interleaved
//! inserts and removes.

mod common;

use doca_flow::classifier::{Addr, Classifier, ClassifierError, Key, PortRange, Prefix, Rule};
use doca_flow::net::ValueError;
use std::collections::HashSet;

use proptest::prelude::*;

/// The oracle: smallest `(priority, id)` among matching rules.
fn oracle<A: Addr>(rules: &[Rule<A>], key: &Key<A>) -> Option<u32> {
    rules
        .iter()
        .filter(|r| r.matches(key))
        .min_by_key(|r| (r.priority, r.id))
        .map(|r| r.id)
}

/// Addresses drawn from a small pool so prefixes overlap often.
fn addr_pool<A: Addr>(bits: u32) -> impl Strategy<Value = A> {
    (0u8..6, any::<u128>()).prop_map(move |(pick, noise)| {
        let base: u128 = match pick {
            0 => 0,
            1 => u128::MAX,
            2 => 0x0a00_0000_0000_0000_0000_0000_0000_0000,
            3 => 0x0a0b_0c0d_0000_0000_0000_0000_0000_0000,
            4 => 0xc0a8_0000_0000_0000_0000_0000_0000_0000,
            _ => noise,
        };
        // Keep the high bits meaningful for either width; a little noise.
        let v = (base >> (128 - bits)) ^ (noise & 0x0f0f);
        A::from_u128(v)
    })
}

fn prefix<A: Addr>(bits: u32) -> impl Strategy<Value = Prefix<A>> {
    let len = prop_oneof![Just(0u8), Just(bits as u8), 0..=bits as u8, 1..=16u8];
    (addr_pool::<A>(bits), len).prop_map(|(addr, len)| Prefix::new(addr, len).unwrap())
}

fn port_range() -> impl Strategy<Value = PortRange> {
    prop_oneof![
        Just(PortRange::ANY),
        Just(PortRange::new(1024, 65535).unwrap()),
        Just(PortRange::new(0, 1023).unwrap()),
        (0u16..100).prop_map(PortRange::single),
        (0u16..2000, 0u16..3000).prop_map(|(a, w)| PortRange::new(a, a.saturating_add(w)).unwrap()),
    ]
}

fn proto() -> impl Strategy<Value = (u8, u8)> {
    prop_oneof![
        Just((0u8, 0u8)),
        Just((6u8, 0xffu8)),
        Just((17u8, 0xffu8)),
        (any::<u8>(), any::<u8>()),
    ]
}

fn rules<A: Addr>(bits: u32, max: usize) -> impl Strategy<Value = Vec<Rule<A>>> {
    prop::collection::vec(
        (
            prefix::<A>(bits),
            prefix::<A>(bits),
            port_range(),
            port_range(),
            proto(),
            0u32..8,
        ),
        0..max,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (src, dst, sp, dp, (p, m), prio))| Rule {
                src,
                dst,
                src_port: sp,
                dst_port: dp,
                proto: p,
                proto_mask: m,
                priority: prio,
                id: i as u32 * 3 + 1,
            })
            .collect()
    })
}

fn key<A: Addr>(bits: u32) -> impl Strategy<Value = Key<A>> {
    (
        addr_pool::<A>(bits),
        addr_pool::<A>(bits),
        prop_oneof![0u16..2100, any::<u16>(), Just(65535u16), Just(1024u16)],
        prop_oneof![0u16..2100, any::<u16>(), Just(80u16)],
        prop_oneof![Just(6u8), Just(17u8), any::<u8>()],
        prop_oneof![4 => Just(true), 1 => Just(false)],
    )
        .prop_map(|(src, dst, src_port, dst_port, proto, has_ports)| Key {
            src,
            dst,
            src_port,
            dst_port,
            proto,
            has_ports,
        })
}

/// Keys at the corners of the rules' boxes, plus random ones.
fn corner_keys<A: Addr>(rules: &[Rule<A>], random: &[Key<A>]) -> Vec<Key<A>> {
    let mut out = random.to_vec();
    for (i, r) in rules.iter().enumerate() {
        let hi = |p: Prefix<A>| {
            let host = !A::prefix_mask(p.prefix_len()).to_u128();
            A::from_u128(p.addr().to_u128() | host)
        };
        let k = &random[i % random.len()];
        out.push(Key {
            src: if i % 2 == 0 { r.src.addr() } else { hi(r.src) },
            dst: if i % 3 == 0 { r.dst.addr() } else { hi(r.dst) },
            src_port: if i % 5 == 0 {
                r.src_port.lo()
            } else {
                r.src_port.hi()
            },
            dst_port: if i % 7 < 3 {
                r.dst_port.lo()
            } else {
                r.dst_port.hi()
            },
            proto: r.proto,
            has_ports: k.has_ports,
        });
    }
    out
}

/// The largest random sets `optimize` is tried on, and its byte budget there.
const RFC_TEST_RULES: usize = 64;
const RFC_TEST_BUDGET: usize = 1 << 20;

fn check_build<A: Addr>(rs: &[Rule<A>], keys: &[Key<A>]) -> Result<(), TestCaseError> {
    check_build_one(rs, keys)?;
    // The same rules with both addresses specific land in one partition
    // (deeper trees, one partition per key).
    let half = (A::BITS / 2) as u8;
    let specific: Vec<Rule<A>> = rs
        .iter()
        .map(|r| Rule {
            src: Prefix::new(r.src.addr(), r.src.prefix_len().max(half)).unwrap(),
            dst: Prefix::new(r.dst.addr(), r.dst.prefix_len().max(half)).unwrap(),
            ..*r
        })
        .collect();
    check_build_one(&specific, keys)
}

fn check_build_one<A: Addr>(rs: &[Rule<A>], keys: &[Key<A>]) -> Result<(), TestCaseError> {
    let c = Classifier::build(rs).unwrap();
    prop_assert_eq!(c.len(), rs.len());
    let keys = corner_keys(rs, keys);
    let mut out = vec![None; keys.len()];
    c.classify_batch(&keys, &mut out);
    for (k, o) in keys.iter().zip(&out) {
        let want = oracle(rs, k);
        prop_assert_eq!(c.classify(k), want, "key {:?}", k);
        prop_assert_eq!(*o, want, "batch key {:?}", k);
    }
    // Bursts of the sizes the software backend and the benches use: one
    // key at a time below 8, the small round up to 64, the full one above.
    for burst in [7, 8, 33, 64, 65, 256] {
        let mut got = vec![None; keys.len()];
        for (k, o) in keys.chunks(burst).zip(got.chunks_mut(burst)) {
            c.classify_batch(k, o);
        }
        prop_assert_eq!(&got, &out, "bursts of {}", burst);
    }
    // The RFC tables answer the same, one key at a time and in every burst size.
    // Random rules make far more classes than real ones: larger random sets may
    // not fit the budget, small ones must. (Building tables for hundreds of random
    // rules takes seconds in a debug build: the ClassBench test covers 1k sets.)
    if rs.len() > RFC_TEST_RULES {
        return Ok(());
    }
    let mut o = c.clone();
    let built = o.optimize(RFC_TEST_BUDGET);
    if A::BITS != 32 || rs.len() <= 8 {
        prop_assert!(!built, "optimize of {} rules", rs.len());
    } else if rs.len() <= 32 {
        prop_assert!(built, "optimize of {} rules", rs.len());
    }
    prop_assert_eq!(o.is_optimized(), built);
    for burst in [1, 7, 64, 65, 256] {
        let mut got = vec![None; keys.len()];
        for (k, g) in keys.chunks(burst).zip(got.chunks_mut(burst)) {
            o.classify_batch(k, g);
        }
        prop_assert_eq!(&got, &out, "optimized, bursts of {}", burst);
    }
    for (k, want) in keys.iter().zip(&out) {
        prop_assert_eq!(o.classify(k), *want, "optimized key {:?}", k);
    }
    Ok(())
}

/// Interleaved inserts and removes, checked against the oracle after each
/// step on a fixed key set.
fn check_updates<A: Addr>(
    initial: &[Rule<A>],
    extra: &[Rule<A>],
    ops: &[(bool, usize)],
    keys: &[Key<A>],
) -> Result<(), TestCaseError> {
    let (first, rest) = initial.split_at(initial.len() / 2);
    let mut live: Vec<Rule<A>> = first.to_vec();
    let mut c = Classifier::build(first).unwrap();
    let mut pool: Vec<Rule<A>> = rest.iter().chain(extra).copied().collect();
    // Give `extra` rules fresh ids.
    for (i, r) in pool.iter_mut().enumerate() {
        r.id = 1_000_000 + i as u32;
    }
    let keys = corner_keys(initial, keys);
    // What the RFC tables hold and the updates since (the classifier's documented
    // bounds): the snapshot's ids, the rules inserted since and still in the set, the
    // snapshot's rules removed since, and whether the tables were dropped.
    let mut snap: Option<HashSet<u32>> = None;
    let mut added: HashSet<u32> = HashSet::new();
    let mut removed: HashSet<u32> = HashSet::new();
    for (step, &(ins, pick)) in ops.iter().enumerate() {
        // Now and then the RFC tables: the first update after them must rebuild the
        // trees they replaced, and lookups combine the tables with the updates since
        // until there are too many.
        if step % 5 == 0 && live.len() <= RFC_TEST_RULES && c.optimize(RFC_TEST_BUDGET) {
            snap = Some(live.iter().map(|r| r.id).collect());
            added.clear();
            removed.clear();
            // Refused updates as the first after the tables change nothing.
            if let Some(&r) = live.first() {
                prop_assert_eq!(c.insert(r), Err(ClassifierError::DuplicateId { id: r.id }));
            }
            if let Some(r) = pool.first() {
                prop_assert!(c.remove(r.id).is_none());
            }
        }
        if ins && !pool.is_empty() {
            let r = pool.swap_remove(pick % pool.len());
            c.insert(r).unwrap();
            prop_assert_eq!(c.insert(r), Err(ClassifierError::DuplicateId { id: r.id }));
            live.push(r);
            added.insert(r.id);
        } else if !live.is_empty() {
            let r = live.swap_remove(pick % live.len());
            let got = c.remove(r.id);
            prop_assert_eq!(got.map(|g| g.id), Some(r.id));
            prop_assert!(c.remove(r.id).is_none());
            pool.push(r);
            if !added.remove(&r.id) {
                removed.insert(r.id);
            }
        }
        prop_assert_eq!(c.len(), live.len());
        // More than 8 insertions, or removals of more than an eighth of the snapshot,
        // drop the tables (for good, until the next optimize).
        if snap
            .as_ref()
            .is_some_and(|s| added.len() > 8 || removed.len() > s.len() / 8)
        {
            snap = None;
        }
        prop_assert_eq!(c.is_optimized(), snap.is_some(), "step {}", step);
        // The batch path keeps per-partition state (root-child bounds)
        // that updates must maintain: check it too.
        let mut out = vec![None; keys.len()];
        c.classify_batch(&keys, &mut out);
        for (k, o) in keys.iter().zip(&out) {
            let want = oracle(&live, k);
            prop_assert_eq!(c.classify(k), want, "key {:?}", k);
            prop_assert_eq!(*o, want, "batch key {:?}", k);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(128)))]

    #[test]
    fn ipv4_build_equals_oracle(rs in rules::<u32>(32, 300), keys in prop::collection::vec(key::<u32>(32), 1..200)) {
        check_build(&rs, &keys)?;
    }

    #[test]
    fn ipv6_build_equals_oracle(rs in rules::<u128>(128, 300), keys in prop::collection::vec(key::<u128>(128), 1..200)) {
        check_build(&rs, &keys)?;
    }

    #[test]
    fn ipv4_updates_equal_oracle(
        rs in rules::<u32>(32, 200),
        extra in rules::<u32>(32, 60),
        ops in prop::collection::vec((any::<bool>(), any::<usize>()), 1..120),
        keys in prop::collection::vec(key::<u32>(32), 1..60),
    ) {
        check_updates(&rs, &extra, &ops, &keys)?;
    }

    /// Sets around the scan-list limit (8 rules): updates move them between
    /// the scan list and the trees in both directions.
    #[test]
    fn small_sets_across_the_scan_limit_equal_oracle(
        rs in rules::<u32>(32, 12),
        extra in rules::<u32>(32, 12),
        ops in prop::collection::vec((any::<bool>(), any::<usize>()), 1..60),
        keys in prop::collection::vec(key::<u32>(32), 1..40),
    ) {
        check_build(&rs, &keys)?;
        check_updates(&rs, &extra, &ops, &keys)?;
    }

    #[test]
    fn ipv6_updates_equal_oracle(
        rs in rules::<u128>(128, 200),
        extra in rules::<u128>(128, 60),
        ops in prop::collection::vec((any::<bool>(), any::<usize>()), 1..120),
        keys in prop::collection::vec(key::<u128>(128), 1..60),
    ) {
        check_updates(&rs, &extra, &ops, &keys)?;
    }
}

#[test]
fn errors_name_the_rule_and_bad_values_cannot_be_made() {
    let ok = Rule::<u32> {
        src: Prefix::ANY,
        dst: Prefix::ANY,
        src_port: PortRange::ANY,
        dst_port: PortRange::ANY,
        proto: 0,
        proto_mask: 0,
        priority: 0,
        id: 5,
    };
    let e = Classifier::build(&[ok, ok]).unwrap_err();
    assert_eq!(e, ClassifierError::DuplicateId { id: 5 });
    let mut c = Classifier::new();
    c.insert(ok).unwrap();
    assert_eq!(c.insert(ok), Err(ClassifierError::DuplicateId { id: 5 }));
    assert_eq!(c.len(), 1);
    // An inverted range or an over-long prefix is refused when it is made, so no rule
    // can hold one.
    assert_eq!(PortRange::new(9, 3), Err(ValueError::InvertedRange(9, 3)));
    assert_eq!(
        Prefix::new(0u32, 33).unwrap_err().to_string(),
        "prefix length `33` is not in 0..=32"
    );
    assert!(Prefix::new(0u128, 129).is_err());
}

#[test]
fn prefixes_are_normalised_and_no_port_keys_skip_port_rules() {
    let r = Rule::<u32> {
        src: Prefix::new(0x0a01_0203, 8).unwrap(),
        dst: Prefix::ANY,
        src_port: PortRange::ANY,
        dst_port: PortRange::single(80),
        proto: 6,
        proto_mask: 0xff,
        priority: 1,
        id: 1,
    };
    let any = Rule {
        dst_port: PortRange::ANY,
        priority: 2,
        id: 2,
        ..r
    };
    let c = Classifier::build(&[r, any]).unwrap();
    assert_eq!(c.get(1).unwrap().src.addr(), 0x0a00_0000);
    let k = Key {
        src: 0x0aff_0000,
        dst: 1,
        src_port: 0,
        dst_port: 80,
        proto: 6,
        has_ports: true,
    };
    assert_eq!(c.classify(&k), Some(1));
    assert_eq!(
        c.classify(&Key {
            has_ports: false,
            ..k
        }),
        Some(2)
    );
    assert_eq!(c.classify(&Key { proto: 17, ..k }), None);
}

#[test]
fn empty_classifier_matches_nothing() {
    let c = Classifier::<u128>::new();
    let k = Key {
        src: 1,
        dst: 2,
        src_port: 3,
        dst_port: 4,
        proto: 6,
        has_ports: true,
    };
    assert_eq!(c.classify(&k), None);
    assert!(c.is_empty());
    assert_eq!(c.len(), 0);
}

/// Insertions alone after `optimize`: the tables answer beside up to 8 of them with no
/// trees rebuilt (the footprint stays the tables'), and the ninth drops the tables and
/// builds the trees; every step agrees with the oracle.
#[test]
fn insertions_alone_keep_the_tables_without_trees() {
    let rule = |id: u32, priority: u32, src: u32, len: u8, port: u16| Rule {
        src: Prefix::new(src, len).unwrap(),
        dst: Prefix::new(0xc000_0200u32, 24).unwrap(),
        src_port: PortRange::ANY,
        dst_port: PortRange::single(port),
        proto: 6,
        proto_mask: 0xff,
        priority,
        id,
    };
    // 20 rules, source 10.0.i.0/24 to port 1000 + i; then 9 inserted above them,
    // source 10.0.0.0/20 (covering the first 16) to port 1000 + 2j.
    let mut live: Vec<Rule<u32>> = (0..20)
        .map(|i| rule(i, 10 + i, 0x0a00_0000 | (i << 8), 24, 1000 + i as u16))
        .collect();
    let mut c = Classifier::build(&live).unwrap();
    assert!(c.optimize(RFC_TEST_BUDGET), "20 rules get tables");
    let tables = c.memory_bytes();
    let keys: Vec<Key<u32>> = (0..24u32)
        .flat_map(|i| {
            (0..24u16).map(move |p| Key {
                src: 0x0a00_0005 | (i << 8),
                dst: 0xc000_0207,
                src_port: 40000,
                dst_port: 1000 + p,
                proto: 6,
                has_ports: true,
            })
        })
        .collect();
    for j in 0..9u32 {
        let r = rule(100 + j, 0, 0x0a00_0000, 20, 1000 + 2 * j as u16);
        c.insert(r).unwrap();
        live.push(r);
        let mut out = vec![None; keys.len()];
        c.classify_batch(&keys, &mut out);
        for (k, o) in keys.iter().zip(&out) {
            assert_eq!(*o, oracle(&live, k), "insertion {j}, batch, key {k:?}");
            assert_eq!(c.classify(k), *o, "insertion {j}, one key, key {k:?}");
        }
        assert!(
            out.iter().any(|o| *o == Some(100 + j)),
            "insertion {j} decides some key"
        );
        if j < 8 {
            assert!(c.is_optimized(), "{} insertions keep the tables", j + 1);
            // The snapshot's id map and ranks and the inserted rules: no trees.
            assert!(
                c.memory_bytes() < tables + 2048,
                "insertion {j}: {} bytes against the tables' {tables}",
                c.memory_bytes()
            );
        } else {
            assert!(!c.is_optimized(), "a ninth insertion drops the tables");
        }
    }
}
