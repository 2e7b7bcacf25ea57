//! Long insert/remove churn on a few thousand rules against the linear
//! oracle: exercises leaf growth and splits, subtree rebuilds after a
//! shadowing rule leaves, and partition compaction.

use doca_flow::classifier::{Classifier, Key, PortRange, Prefix, Rule};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn rule(rng: &mut Rng, id: u32) -> Rule<u32> {
    let nets = [0x0a00_0000u32, 0x0a0b_0000, 0xc0a8_0100, 0xac10_0000];
    let prefix = |rng: &mut Rng| {
        let len = [0u8, 8, 16, 24, 28, 32][rng.below(6) as usize];
        let a = nets[rng.below(4) as usize] | (rng.next() as u32 & 0xff);
        Prefix::new(a, len).unwrap()
    };
    let src = prefix(rng);
    let dst = prefix(rng);
    let port = |rng: &mut Rng| match rng.below(4) {
        0 => PortRange::ANY,
        1 => PortRange::new(1024, 65535).unwrap(),
        2 => PortRange::single(rng.below(64) as u16),
        _ => {
            let lo = rng.below(200) as u16;
            PortRange::new(lo, lo + rng.below(100) as u16).unwrap()
        }
    };
    let src_port = port(rng);
    let dst_port = port(rng);
    let (proto, proto_mask) = [(6, 0xff), (17, 0xff), (0, 0), (4, 0xfc)][rng.below(4) as usize];
    Rule {
        src,
        dst,
        src_port,
        dst_port,
        proto,
        proto_mask,
        priority: rng.below(50) as u32,
        id,
    }
}

fn key(rng: &mut Rng, rules: &[Rule<u32>]) -> Key<u32> {
    let r = &rules[rng.below(rules.len() as u64) as usize];
    let host = |p: Prefix<u32>, rng: &mut Rng| {
        let m = if p.prefix_len() == 0 {
            0
        } else {
            u32::MAX << (32 - p.prefix_len())
        };
        p.addr() | (rng.next() as u32 & !m)
    };
    Key {
        src: host(r.src, rng),
        dst: host(r.dst, rng),
        src_port: if rng.below(2) == 0 {
            r.src_port.lo()
        } else {
            r.src_port.hi()
        },
        dst_port: r.dst_port.lo()
            + (rng.below(u64::from(r.dst_port.hi() - r.dst_port.lo()) + 1) as u16),
        proto: [6, 17, 4, 5, 1][rng.below(5) as usize],
        has_ports: rng.below(8) != 0,
    }
}

fn oracle(rules: &[Rule<u32>], k: &Key<u32>) -> Option<u32> {
    rules
        .iter()
        .filter(|r| r.matches(k))
        .min_by_key(|r| (r.priority, r.id))
        .map(|r| r.id)
}

#[test]
fn churn_equals_oracle() {
    let mut rng = Rng(42);
    let n = if cfg!(debug_assertions) { 1500 } else { 4000 };
    let mut live: Vec<Rule<u32>> = (0..n).map(|i| rule(&mut rng, i)).collect();
    let mut c = Classifier::build(&live).unwrap();
    let mut next_id = n;
    let keys: Vec<Key<u32>> = (0..600).map(|_| key(&mut rng, &live)).collect();
    let rounds = if cfg!(debug_assertions) { 8 } else { 20 };
    for round in 0..rounds {
        for _ in 0..1000 {
            if rng.below(2) == 0 && !live.is_empty() {
                let r = live.swap_remove(rng.below(live.len() as u64) as usize);
                assert_eq!(c.remove(r.id), Some(r));
            } else {
                let r = rule(&mut rng, next_id);
                next_id += 1;
                c.insert(r).unwrap();
                live.push(r);
            }
        }
        assert_eq!(c.len(), live.len());
        let mut out = vec![None; keys.len()];
        c.classify_batch(&keys, &mut out);
        for (k, o) in keys.iter().zip(&out) {
            let want = oracle(&live, k);
            assert_eq!(c.classify(k), want, "round {round} key {k:?}");
            assert_eq!(*o, want, "batch, round {round} key {k:?}");
        }
    }
    // A fresh build gives the same answers.
    let fresh = Classifier::build(&live).unwrap();
    for k in &keys {
        assert_eq!(fresh.classify(k), c.classify(k));
    }
}
