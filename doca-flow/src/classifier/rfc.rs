//! Recursive Flow Classification (Gupta and McKeown, SIGCOMM 1999) tables: a
//! read-only snapshot of a small IPv4 rule set that answers a lookup in four
//! rounds of table loads, independent within a round, with no branches on the
//! data.
//!
//! A key is cut into seven *chunks*: the high and low 16 bits of each address,
//! each port, and `(has_ports << 8) | proto`. **Phase 0**: per chunk, a table
//! indexed by the chunk's value gives its *class*: values matched by the same
//! rules share one. **Phase 1**: `(src hi, src lo)`, `(dst hi, dst lo)` and
//! `(src port, dst port)` class pairs index tables giving the source, destination
//! and port classes. **Phase 2**: (source, destination) and (ports, protocol)
//! pairs give two classes, and the last table holds, per pair of those, the first
//! matching rule by rank.
//!
//! Classes are sets of rules while building (sorted lists of rule indexes, with
//! a bitmap each to test the other side of a pairing against). A set stops at
//! its first rule that is a wildcard in every chunk not yet combined: no rule
//! after it can win for any key in that class, and dropping them merges classes.
//! The last table's identical rows and columns are stored once, and the rest in
//! deduplicated blocks of [`BLOCK`] answers.
//!
//! A build spends at most [`MAX_WORK`] rule tests and gives up with
//! [`NotOptimized::TooCostly`] past it, and checks each pairing's cost bound
//! before making it: sets whose classes are long lists (ClassBench's fw1_10k and
//! ipc1_10k: hundreds of rules per address class) stop within about a second.
//!
//! Lookups read the tables without bounds checks (the only `unsafe` of the
//! classifier): a finished build proves once that no key can index past any table
//! (`Rfc::indexes_in_bounds`) or is refused, and the tables are read-only after. The
//! checks were a fifth of a lookup's instructions.
//!
//! The snapshot does not follow updates: [`Classifier`](super::Classifier) answers
//! beside a few (the tables' answers are rule indexes, [`Rfc::classify_batch_index`],
//! which it combines with the rules inserted and removed since, its trees rebuilt at
//! the first removal for the keys whose rule went), drops it after more, and builds
//! it again on [`Classifier::optimize`](super::Classifier::optimize). It is only built for
//! IPv4 sets of at most [`RFC_MAX_RULES`] rules whose tables fit the caller's
//! byte budget; on the ClassBench 1k sets its lookups are 3-4x the trees', on
//! acl1_10k 2.5-2.8x (`docs/classifier.md`, "RFC tables").

use rustc_hash::FxHashMap as HashMap;

use super::{Addr, Key, Rule};

/// The most rules an RFC snapshot is built for (rule indexes are `u16`, with
/// one value for "no match"; the build's cost grows with the product of class
/// counts, which grows with the rules; a work bound stops costly builds).
pub const RFC_MAX_RULES: usize = 16384;

/// The most (source, destination) x (ports, protocol) class pairs the last table
/// is computed for (before it is compressed): bounds the build's time and memory.
const MAX_PAIRS: usize = 1 << 26;

/// The most steps a build takes before it gives up: rule tests (one per rule of
/// the shorter set of each intersection) and phase-0 set scans. Bounds its time
/// whatever the budget: ClassBench's fw1_10k, whose address classes hold ~500
/// rules each, took 470 s to fail without it; acl1_10k's build takes 131 M
/// steps (0.35 s).
const MAX_WORK: u64 = 1 << 28;

/// Why [`Classifier::try_optimize`](super::Classifier::try_optimize) kept the trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotOptimized {
    /// The rules are IPv6: the tables are built for IPv4 sets only.
    #[error("the tables are built for IPv4 rule sets only")]
    NotIpv4,
    /// The set is small enough to be scanned in order, which is faster still.
    #[error("{rules} rules are scanned in order, faster than any table")]
    TooFewRules {
        /// Rules in the set.
        rules: usize,
    },
    /// More rules than [`RFC_MAX_RULES`].
    #[error("{rules} rules, more than the {max} the tables are built for")]
    TooManyRules {
        /// Rules in the set.
        rules: usize,
        /// [`RFC_MAX_RULES`].
        max: usize,
    },
    /// The tables would not fit the byte budget.
    #[error("the tables do not fit the budget of {max_bytes} bytes ({:.1} MiB)", *max_bytes as f64 / 1048576.0)]
    OverBudget {
        /// The budget given.
        max_bytes: usize,
    },
    /// Building them would take too long: the rules' classes are long lists
    /// (ClassBench's fw1_10k and ipc1_10k, whatever the budget).
    #[error("the rules' classes are too costly to combine: the build stopped at its work bound")]
    TooCostly,
    /// A table would need more than 65535 classes.
    #[error("a table would need more than 65535 classes")]
    TooManyClasses,
    /// The finished tables failed the check that every lookup's indexes are in
    /// bounds (the lookups rely on it): a bug in the build, never expected.
    #[error("the tables failed their bounds check (a bug in the table build)")]
    BoundsCheck,
}

/// Marks "no rule matches" in the last table.
const NONE: u16 = u16::MAX;

/// Rule sets of one chunk, pairing or table, each kept twice: as the sorted list
/// of its rule indexes (rank order), which pairings walk and the index hashes,
/// and as a bitmap of `w` words (bit `i` = rule `i`), which they test the other
/// side's rules against. Most sets are short once cut (acl1_10k's 3.9 million
/// (source, destination) pairs intersect sets of 18 and 65 rules on average, out
/// of 9710): walking the shorter list is far cheaper than whole bitmaps.
struct Sets {
    w: usize,
    bits: Vec<u64>,
    /// Set `c`'s rules are `items[starts[c]..starts[c + 1]]`.
    starts: Vec<u32>,
    items: Vec<u16>,
    index: HashMap<Box<[u16]>, u16>,
}

impl Sets {
    fn new(w: usize) -> Sets {
        Sets {
            w,
            bits: Vec::new(),
            starts: vec![0],
            items: Vec::new(),
            index: HashMap::default(),
        }
    }

    fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Set `c`'s rules, in rank order.
    fn list(&self, c: usize) -> &[u16] {
        &self.items[self.starts[c] as usize..self.starts[c + 1] as usize]
    }

    /// The shorter of set `i` of `a` and set `j` of `b` as a list, with the other
    /// set (its `Sets` and index) to test that list's rules against.
    #[inline(always)]
    fn shorter<'s>(a: &'s Sets, i: usize, b: &'s Sets, j: usize) -> (&'s [u16], &'s Sets, usize) {
        if a.list(i).len() <= b.list(j).len() {
            (a.list(i), b, j)
        } else {
            (b.list(j), a, i)
        }
    }

    /// Whether set `c` holds rule `r`.
    #[inline(always)]
    fn has(&self, c: usize, r: u16) -> bool {
        let r = usize::from(r);
        self.bits[c * self.w + r / 64] >> (r % 64) & 1 != 0
    }

    /// The class of the set of `bits` cut at its first rule that is in `full`
    /// (`scratch`: a buffer for its list).
    fn intern_bits(
        &mut self,
        bits: &[u64],
        full: &[u64],
        scratch: &mut Vec<u16>,
    ) -> Result<u16, NotOptimized> {
        scratch.clear();
        'words: for (k, (&b, &f)) in bits.iter().zip(full).enumerate() {
            let mut m = b;
            while m != 0 {
                let t = m.trailing_zeros();
                scratch.push((k * 64 + t as usize) as u16);
                if f >> t & 1 != 0 {
                    break 'words;
                }
                m &= m - 1;
            }
        }
        self.intern(scratch)
    }

    /// The class of the set of rules `list` (sorted, already cut), a new one if
    /// unseen.
    fn intern(&mut self, list: &[u16]) -> Result<u16, NotOptimized> {
        if let Some(&c) = self.index.get(list) {
            return Ok(c);
        }
        let c = u16::try_from(self.len())
            .ok()
            .filter(|&c| c < NONE)
            .ok_or(NotOptimized::TooManyClasses)?;
        self.items.extend_from_slice(list);
        let end = u32::try_from(self.items.len()).map_err(|_| NotOptimized::TooCostly)?;
        self.starts.push(end);
        let at = self.bits.len();
        self.bits.resize(at + self.w, 0);
        for &r in list {
            let r = usize::from(r);
            self.bits[at + r / 64] |= 1 << (r % 64);
        }
        self.index.insert(list.into(), c);
        Ok(c)
    }
}

/// The RFC tables of one rule set (see the module docs).
#[derive(Clone)]
pub(crate) struct Rfc {
    /// Phase 0, one table after the other in one array: chunk `c` < 6 (0/1 source
    /// high/low, 2/3 destination high/low, 4/5 source/destination port) at `c << 16`,
    /// chunk 6 (`(has_ports << 8) | proto`) at [`Q0`]. One base address for the seven
    /// loads, and a fixed size: the chunk values index it with no bounds checks.
    t0: Box<[u16; T0_LEN]>,
    /// Phase 1: source, destination and port classes; `w1` their row widths.
    t1: [Box<[u16]>; 3],
    w1: [u32; 3],
    /// Phase 2: (source, destination) classes and (ports, protocol) classes;
    /// `w2` their row widths.
    t2: [Box<[u16]>; 2],
    w2: [u32; 2],
    /// The answer (a rule index or [`NONE`]) per pair of phase-2 classes.
    last: Blocks,
    /// Rule index (rank order) -> rule id.
    ids: Box<[u32]>,
}

impl core::fmt::Debug for Rfc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Rfc")
            .field("rules", &self.ids.len())
            .field("bytes", &self.memory_bytes())
            .finish_non_exhaustive()
    }
}

/// A rule's value interval in each 16-bit chunk (0-5).
fn intervals<A: Addr>(r: &Rule<A>) -> [(u32, u32); 6] {
    let halves = |addr: u32, len: u32| {
        let hi = addr >> 16;
        let lo = addr & 0xffff;
        let h = if len >= 16 {
            (hi, hi)
        } else {
            let m = 0xffff_u32 >> len;
            (hi & !m, hi | m)
        };
        let l = if len <= 16 {
            (0, 0xffff)
        } else {
            let m = 0xffff_u32 >> (len - 16);
            (lo & !m, lo | m)
        };
        (h, l)
    };
    // IPv4 only (`Rfc::build` checks): the addresses are their low 32 bits.
    let v4 = |a: A| a.to_u128() as u32;
    let (sh, sl) = halves(v4(r.src.addr()), u32::from(r.src.prefix_len()));
    let (dh, dl) = halves(v4(r.dst.addr()), u32::from(r.dst.prefix_len()));
    [
        sh,
        sl,
        dh,
        dl,
        (u32::from(r.src_port.lo()), u32::from(r.src_port.hi())),
        (u32::from(r.dst_port.lo()), u32::from(r.dst_port.hi())),
    ]
}

/// Whether rule `r` matches chunk-6 value `v` (`(has_ports << 8) | proto`).
fn matches_q<A: Addr>(r: &Rule<A>, v: u32) -> bool {
    let proto = (v & 0xff) as u8;
    let has_ports = v >> 8 == 1;
    (proto & r.proto_mask) == (r.proto & r.proto_mask)
        && (has_ports || (r.src_port.is_any() && r.dst_port.is_any()))
}

/// What the builder keeps while pairing classes.
struct Builder {
    w: usize,
    /// Per chunk, the rules that are a wildcard in it.
    full: [Vec<u64>; 7],
    /// The byte budget left for tables, and the whole of it.
    budget: usize,
    max_bytes: usize,
    /// The work left: phase-0 set scans and the rule tests of the pairings and
    /// the last table (see [`MAX_WORK`]).
    work: u64,
}

impl Builder {
    /// The rules that are wildcards in every chunk of `chunks` (a bit mask).
    fn full_in(&self, chunks: u8) -> Vec<u64> {
        let mut b = vec![!0u64; self.w];
        for (c, f) in self.full.iter().enumerate() {
            if chunks & (1 << c) != 0 {
                for (x, y) in b.iter_mut().zip(f) {
                    *x &= y;
                }
            }
        }
        b
    }

    /// Takes `n` steps from the work left.
    #[inline(always)]
    fn spend(&mut self, n: usize) -> Result<(), NotOptimized> {
        self.work = self
            .work
            .checked_sub(n as u64 + 1)
            .ok_or(NotOptimized::TooCostly)?;
        Ok(())
    }

    /// Takes `n` table entries from the budget.
    fn take(&mut self, n: usize) -> Result<(), NotOptimized> {
        self.budget = n
            .checked_mul(2)
            .and_then(|b| self.budget.checked_sub(b))
            .ok_or(self.over())?;
        Ok(())
    }

    /// The error of a table past the budget.
    fn over(&self) -> NotOptimized {
        NotOptimized::OverBudget {
            max_bytes: self.max_bytes,
        }
    }

    /// A phase-0 table from the rules' intervals in its chunk (`iv[i]`: rule `i`'s),
    /// its sets cut at wildcards in the `rest` chunks.
    fn chunk(
        &mut self,
        iv: &[(u32, u32)],
        rest: u8,
    ) -> Result<(Box<[u16; 1 << 16]>, Sets), NotOptimized> {
        self.take(1 << 16)?;
        let full = self.full_in(rest);
        // Interval starts and ends as events over the 16-bit values.
        let mut events: Vec<(u32, bool, usize)> = Vec::with_capacity(2 * iv.len());
        for (i, &(lo, hi)) in iv.iter().enumerate() {
            events.push((lo, true, i));
            events.push((hi + 1, false, i));
        }
        events.sort_unstable();
        let mut sets = Sets::new(self.w);
        let mut table = zeroed::<{ 1 << 16 }>();
        let mut active = vec![0u64; self.w];
        let mut scratch = Vec::new();
        let mut at = 0;
        let mut start = 0u32;
        while start < 1 << 16 {
            while at < events.len() && events[at].0 == start {
                let (_, add, i) = events[at];
                if add {
                    active[i / 64] |= 1 << (i % 64);
                } else {
                    active[i / 64] &= !(1 << (i % 64));
                }
                at += 1;
            }
            let end = events.get(at).map_or(1 << 16, |e| e.0.min(1 << 16));
            let c = sets.intern_bits(&active, &full, &mut scratch)?;
            self.spend(self.w + scratch.len())?;
            table[start as usize..end as usize].fill(c);
            start = end;
        }
        Ok((table, sets))
    }

    /// The table pairing classes of `a` (rows) with classes of `b` (columns).
    fn pair(&mut self, a: &Sets, b: &Sets, rest: u8) -> Result<(Box<[u16]>, Sets), NotOptimized> {
        let n = a.len().checked_mul(b.len()).ok_or(self.over())?;
        self.take(n)?;
        let full = self.full_in(rest);
        // What the intersections below cost at most, before making any: a set whose
        // classes are long lists gives up here.
        let lb: Vec<usize> = (0..b.len()).map(|j| b.list(j).len()).collect();
        let est: usize = (0..a.len())
            .map(|i| {
                let la = a.list(i).len();
                lb.iter().map(|&l| l.min(la)).sum::<usize>()
            })
            .sum();
        if est as u64 > self.work {
            return Err(NotOptimized::TooCostly);
        }
        let mut sets = Sets::new(self.w);
        let mut table = Vec::with_capacity(n);
        // Looked up at random per key: huge pages spare TLB misses (acl1_10k's
        // (source, destination) table is 7.7 MB).
        crate::hint::huge_pages(table.spare_capacity_mut());
        let mut list = Vec::new();
        let in_full = |r: u16| full[usize::from(r) / 64] >> (r % 64) & 1 != 0;
        for i in 0..a.len() {
            for j in 0..b.len() {
                // The rules of the shorter list that the other set holds, up to the
                // first one in `full`.
                let (x, other, k) = Sets::shorter(a, i, b, j);
                self.spend(x.len())?;
                list.clear();
                for &r in x {
                    if other.has(k, r) {
                        list.push(r);
                        if in_full(r) {
                            break;
                        }
                    }
                }
                table.push(sets.intern(&list)?);
            }
        }
        Ok((table.into(), sets))
    }
}

/// What [`answers`] returns.
type Answers = (Vec<u16>, Vec<u16>, Vec<u16>, usize);

/// The first rule in both set `i` of `a` and set `j` of `b`, or [`NONE`].
/// Counts the rules it tests in `work`.
fn first_common(a: &Sets, i: usize, b: &Sets, j: usize, work: &mut usize) -> u16 {
    let (x, other, k) = Sets::shorter(a, i, b, j);
    match x.iter().position(|&r| other.has(k, r)) {
        Some(at) => {
            *work += at + 1;
            x[at]
        }
        None => {
            *work += x.len() + 1;
            NONE
        }
    }
}

/// The last table: the first common rule of each (row class, column class), with
/// identical columns and then identical rows stored once. Returns the table, the
/// stored row of each row class, the stored column of each column class and the
/// row width. Spends `builder`'s work on the rule tests.
fn answers(a: &Sets, b: &Sets, builder: &mut Builder) -> Result<Answers, NotOptimized> {
    let mut col_index: HashMap<Vec<u16>, u16> = HashMap::default();
    let mut col_of = Vec::with_capacity(b.len());
    let mut cols: Vec<Vec<u16>> = Vec::new();
    for j in 0..b.len() {
        let mut work = 0usize;
        let col: Vec<u16> = (0..a.len())
            .map(|i| first_common(a, i, b, j, &mut work))
            .collect();
        builder.spend(work)?;
        let next = cols.len() as u16;
        let id = *col_index.entry(col.clone()).or_insert(next);
        if id == next {
            cols.push(col);
        }
        col_of.push(id);
    }
    let width = cols.len();
    let mut row_index: HashMap<Vec<u16>, u16> = HashMap::default();
    let mut row_of = Vec::with_capacity(a.len());
    let mut table = Vec::new();
    for i in 0..a.len() {
        let row: Vec<u16> = cols.iter().map(|c| c[i]).collect();
        let next = row_index.len() as u16;
        let id = *row_index.entry(row.clone()).or_insert(next);
        if id == next {
            table.extend_from_slice(&row);
        }
        row_of.push(id);
    }
    Ok((table, row_of, col_of, width))
}

/// A zeroed table of `N` entries, on the heap.
fn zeroed<const N: usize>() -> Box<[u16; N]> {
    vec![0u16; N]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("a slice of N entries"))
}

/// Where chunk 6's phase-0 table starts in [`Rfc`]'s `t0`, after the six 16-bit chunks'.
const Q0: usize = 6 << 16;
/// Entries of [`Rfc`]'s `t0`: six 16-bit chunks' tables and chunk 6's 512 entries.
const T0_LEN: usize = Q0 + 512;

/// Entries per block of the last table.
const BLOCK: usize = 8;

/// The last table cut into blocks of [`BLOCK`] entries, identical blocks stored
/// once (ClassBench's ipc1_1k: 6.9 MB of answers in 1.2 MB): `index[row * width
/// + col / BLOCK]` is the block holding `(row, col)`.
#[derive(Clone)]
struct Blocks {
    index: Box<[u16]>,
    blocks: Box<[u16]>,
    /// Blocks per row.
    width: u32,
}

impl Blocks {
    /// The blocks of `table` (rows of `width` entries).
    fn new(table: &[u16], width: usize) -> Result<Blocks, NotOptimized> {
        let rows = table.len() / width.max(1);
        let per_row = width.div_ceil(BLOCK);
        let mut seen: HashMap<[u16; BLOCK], u16> = HashMap::default();
        let mut blocks = Vec::new();
        let mut index = Vec::with_capacity(rows * per_row);
        crate::hint::huge_pages(index.spare_capacity_mut());
        for row in table.chunks(width.max(1)) {
            for part in row.chunks(BLOCK) {
                let mut block = [NONE; BLOCK];
                block[..part.len()].copy_from_slice(part);
                let next = u16::try_from(seen.len()).map_err(|_| NotOptimized::TooManyClasses)?;
                let id = *seen.entry(block).or_insert(next);
                if id == next {
                    blocks.extend_from_slice(&block);
                }
                index.push(id);
            }
        }
        Ok(Blocks {
            index: index.into(),
            blocks: blocks.into(),
            width: per_row as u32,
        })
    }

    /// Where the answer at `(row, col)` is in `blocks`, unchecked: the first of the
    /// two dependent loads of a lookup here (the block number from `index`).
    ///
    /// # Safety
    /// `row` and `col` must be values of the `t2` tables of the [`Rfc`] that holds these
    /// blocks, and that `Rfc` must have passed `Rfc::indexes_in_bounds`.
    #[inline(always)]
    unsafe fn position(&self, row: u32, col: u32) -> u32 {
        // SAFETY: by the contract, `row * width + col / BLOCK` is at most the largest
        // index `indexes_in_bounds` found within `index`.
        let b = u32::from(unsafe {
            *self
                .index
                .get_unchecked((row * self.width + col / BLOCK as u32) as usize)
        });
        // At most 65535 x BLOCK + BLOCK - 1: no overflow.
        b * BLOCK as u32 + col % BLOCK as u32
    }

    /// The answer at `pos`, unchecked: the second load.
    ///
    /// # Safety
    /// `pos` must come from [`Blocks::position`] under its contract.
    #[inline(always)]
    unsafe fn at(&self, pos: u32) -> u16 {
        // SAFETY: every block number `index` holds starts a whole block of `blocks`
        // (checked by `indexes_in_bounds`), so `pos` is inside `blocks`.
        unsafe { *self.blocks.get_unchecked(pos as usize) }
    }
}

/// Chunk masks of the four phase-1 classes: source, destination, ports, protocol.
const REG_CHUNKS: [u8; 4] = [0b11, 0b1100, 0b11_0000, 0b100_0000];
const ALL_CHUNKS: u8 = 0b111_1111;

impl Rfc {
    /// Builds the tables of `rules` in at most `max_bytes`; `None` when they are not
    /// IPv4, the set has more than [`RFC_MAX_RULES`] rules or the tables would not
    /// fit.
    pub(crate) fn build<A: Addr>(rules: &[Rule<A>], max_bytes: usize) -> Result<Rfc, NotOptimized> {
        if A::BITS != 32 {
            return Err(NotOptimized::NotIpv4);
        }
        if rules.len() > RFC_MAX_RULES {
            return Err(NotOptimized::TooManyRules {
                rules: rules.len(),
                max: RFC_MAX_RULES,
            });
        }
        let over = NotOptimized::OverBudget { max_bytes };
        let mut r = rules.to_vec();
        r.sort_unstable_by_key(Rule::rank);
        let n = r.len();
        let w = n.div_ceil(64).max(1);
        let ivs: Vec<[(u32, u32); 6]> = r.iter().map(intervals).collect();
        let mut full: [Vec<u64>; 7] = Default::default();
        for (c, f) in full.iter_mut().enumerate() {
            *f = vec![0u64; w];
            for (i, rule) in r.iter().enumerate() {
                let wild = if c < 6 {
                    ivs[i][c] == (0, 0xffff)
                } else {
                    rule.proto_mask == 0 && rule.src_port.is_any() && rule.dst_port.is_any()
                };
                if wild {
                    f[i / 64] |= 1 << (i % 64);
                }
            }
        }
        let ids_bytes = n * 4;
        let mut b = Builder {
            w,
            full,
            budget: max_bytes.checked_sub(ids_bytes).ok_or(over)?,
            max_bytes,
            work: MAX_WORK,
        };
        // Phases 0 and 1, a pairing right after its two chunks: a set too costly to
        // build gives up before its other chunks are made.
        let mut t0: Vec<Box<[u16; 1 << 16]>> = Vec::with_capacity(6);
        let mut c0: Vec<Sets> = Vec::with_capacity(6);
        let mut t1: [Box<[u16]>; 3] = Default::default();
        let mut regs: Vec<Sets> = Vec::with_capacity(4);
        for k in 0..3 {
            for c in [2 * k, 2 * k + 1] {
                let iv: Vec<(u32, u32)> = ivs.iter().map(|x| x[c]).collect();
                let (t, s) = b.chunk(&iv, ALL_CHUNKS & !(1 << c))?;
                t0.push(t);
                c0.push(s);
            }
            let (t, s) = b.pair(&c0[2 * k], &c0[2 * k + 1], ALL_CHUNKS & !REG_CHUNKS[k])?;
            t1[k] = t;
            regs.push(s);
        }
        let w1 = [c0[1].len() as u32, c0[3].len() as u32, c0[5].len() as u32];
        b.take(512)?;
        let qfull = b.full_in(ALL_CHUNKS & !(1 << 6));
        let mut q = Sets::new(w);
        let mut scratch = Vec::new();
        let mut tq = Vec::with_capacity(512);
        for v in 0..512u32 {
            let mut bits = vec![0u64; w];
            for (i, rule) in r.iter().enumerate() {
                if matches_q(rule, v) {
                    bits[i / 64] |= 1 << (i % 64);
                }
            }
            b.spend(n)?;
            tq.push(q.intern_bits(&bits, &qfull, &mut scratch)?);
        }
        let mut all = zeroed::<T0_LEN>();
        for (c, t) in t0.iter().enumerate() {
            all[c << 16..(c + 1) << 16].copy_from_slice(&t[..]);
        }
        all[Q0..].copy_from_slice(&tq);
        drop(t0);
        let t0 = all;
        regs.push(q);
        // Phase 2: (source, destination) and (ports, protocol) classes, then the
        // answer of each pair of those.
        let (tx, x) = b.pair(&regs[0], &regs[1], REG_CHUNKS[2] | REG_CHUNKS[3])?;
        let (ty, y) = b.pair(&regs[2], &regs[3], REG_CHUNKS[0] | REG_CHUNKS[1])?;
        // Bounds the build's time and transient memory.
        if x.len().saturating_mul(y.len()) > MAX_PAIRS {
            return Err(NotOptimized::TooCostly);
        }
        let (t_last, row_of, col_of, width) = answers(&x, &y, &mut b)?;
        let last = Blocks::new(&t_last, width)?;
        let w2 = [regs[1].len() as u32, regs[3].len() as u32];
        let mut t2: [Box<[u16]>; 2] = [tx, ty];
        // Only the last table reads x and y classes: renumber them to its rows
        // and columns.
        for (t, map) in t2.iter_mut().zip([&row_of, &col_of]) {
            for v in t.iter_mut() {
                *v = map[*v as usize];
            }
        }
        let rfc = Rfc {
            t0,
            t1,
            w1,
            w2,
            t2,
            last,
            ids: r.iter().map(|x| x.id).collect(),
        };
        if rfc.memory_bytes() > max_bytes {
            return Err(over);
        }
        if !rfc.indexes_in_bounds() {
            return Err(NotOptimized::BoundsCheck);
        }
        Ok(rfc)
    }

    /// Whether every index a lookup can compute is within its table: what the lookups'
    /// unchecked reads rely on. An index `a * w + b` is at most `max(a) * w + max(b)` over
    /// the values the tables that give `a` and `b` hold, so the largest values suffice;
    /// the tables never change after [`Rfc::build`] checked them (no method takes `&mut
    /// self`, and the fields are private to this module).
    fn indexes_in_bounds(&self) -> bool {
        let max = |t: &[u16]| t.iter().copied().max().map_or(0, usize::from);
        let fits = |a: usize, w: u32, b: usize, len: usize| {
            a.checked_mul(w as usize)
                .and_then(|x| x.checked_add(b))
                .is_some_and(|i| i < len)
        };
        let m0: [usize; 6] = core::array::from_fn(|c| max(&self.t0[c << 16..(c + 1) << 16]));
        let m1 = self.t1.each_ref().map(|t| max(t));
        let (mx, my) = (max(&self.t2[0]), max(&self.t2[1]));
        let last = &self.last;
        let answers = last.blocks.iter().copied().filter(|&f| f != NONE);
        (0..3).all(|k| fits(m0[2 * k], self.w1[k], m0[2 * k + 1], self.t1[k].len()))
            && fits(m1[0], self.w2[0], m1[1], self.t2[0].len())
            && fits(m1[2], self.w2[1], max(&self.t0[Q0..]), self.t2[1].len())
            && fits(mx, last.width, my / BLOCK, last.index.len())
            && fits(max(&last.index), BLOCK as u32, BLOCK - 1, last.blocks.len())
            && answers
                .map(usize::from)
                .max()
                .is_none_or(|f| f < self.ids.len())
    }

    /// Phases 0 and 1 of `k`: where its (source, destination) and (ports, protocol)
    /// class pairs are in `t2[0]` and `t2[1]` (computed here, where the classes
    /// are in registers: the pass between the two phases stores two words per key).
    #[inline(always)]
    fn phase1<A: Addr>(&self, k: &Key<A>) -> [u32; 2] {
        let (src, dst) = (k.src.to_u128() as u32, k.dst.to_u128() as u32);
        // A key without ports keeps whatever port values it has: chunk 6 already
        // rules out every rule that needs ports, and the others take any port.
        let (sp, dp) = (k.src_port, k.dst_port);
        let t0 = &self.t0;
        let c = [
            t0[(src >> 16) as usize],
            t0[1 << 16 | (src & 0xffff) as usize],
            t0[2 << 16 | (dst >> 16) as usize],
            t0[3 << 16 | (dst & 0xffff) as usize],
            t0[4 << 16 | usize::from(sp)],
            t0[5 << 16 | usize::from(dp)],
        ]
        .map(usize::from);
        // SAFETY: at most the largest index `indexes_in_bounds` found within `t1[i]`
        // (the classes come from `t0`), checked when `build` made these tables.
        let at = |i: usize| unsafe {
            u32::from(*self.t1[i].get_unchecked(c[2 * i] * self.w1[i] as usize + c[2 * i + 1]))
        };
        let q = u32::from(t0[Q0 | (usize::from(k.has_ports) << 8) | usize::from(k.proto)]);
        // At most 65535 x 65535 + 65535: no overflow.
        [at(0) * self.w2[0] + at(1), at(2) * self.w2[1] + q]
    }

    /// Phase 2 of the phase-2 indexes `at` ([`Rfc::phase1`]): the position of the
    /// answer in the last table's blocks (which takes the block index's load too).
    #[inline(always)]
    fn phase2(&self, at: [u32; 2]) -> u32 {
        let (x, y) = self.phase2_classes(at);
        // SAFETY: `x` and `y` are values of `t2[0]` and `t2[1]`, and `build` checked
        // these tables with `indexes_in_bounds`.
        unsafe { self.last.position(x, y) }
    }

    /// The (source, destination) and (ports, protocol) classes at the phase-2 indexes
    /// `at` ([`Rfc::phase1`]).
    #[inline(always)]
    fn phase2_classes(&self, at: [u32; 2]) -> (u32, u32) {
        // SAFETY: `at` was made by `phase1` from classes of `t1` and chunk 6: the
        // indexes are at most the largest `indexes_in_bounds` found within `t2`,
        // checked when `build` made them.
        unsafe {
            (
                u32::from(*self.t2[0].get_unchecked(at[0] as usize)),
                u32::from(*self.t2[1].get_unchecked(at[1] as usize)),
            )
        }
    }

    /// The answer at `pos`, a position [`Rfc::phase2`] gave.
    #[inline(always)]
    fn answer(&self, pos: u32) -> Option<u32> {
        // SAFETY: `pos` came from `Blocks::position` of classes of `t2` (`phase2`).
        let f = unsafe { self.last.at(pos) };
        // SAFETY: `indexes_in_bounds` checked that every answer but `NONE` the blocks
        // hold is an index of `ids`.
        (f != NONE).then(|| unsafe { *self.ids.get_unchecked(usize::from(f)) })
    }

    /// The index (rank order, as [`Rfc::ids`] holds them) of the rule at `pos`, a
    /// position [`Rfc::phase2`] gave.
    #[inline(always)]
    fn answer_index(&self, pos: u32) -> Option<u32> {
        // SAFETY: `pos` came from `Blocks::position` of classes of `t2` (`phase2`).
        let f = unsafe { self.last.at(pos) };
        (f != NONE).then_some(u32::from(f))
    }

    /// The id of the first matching rule by rank.
    #[inline]
    pub(crate) fn classify<A: Addr>(&self, k: &Key<A>) -> Option<u32> {
        self.answer(self.phase2(self.phase1(k)))
    }

    /// The index of the first matching rule by rank (into [`Rfc::ids`]).
    #[inline]
    pub(crate) fn classify_index<A: Addr>(&self, k: &Key<A>) -> Option<u32> {
        self.answer_index(self.phase2(self.phase1(k)))
    }

    /// The rules' ids in rank order: what an index of [`Rfc::classify_index`] names.
    pub(crate) fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// `out[i] = self.classify(&keys[i])`, in four passes over each group of keys:
    /// phases 0 and 1; the two phase-2 classes; the last table's block index; the
    /// block. Each pass's loads are independent of one another, so a pass has dozens
    /// in flight, where a key's own chain of dependent loads would wait for each in
    /// turn; the passes between keep one `u32` pair per key. (Three passes, with the
    /// block index and the block in one, were 8% slower on acl1_10k's 11.5 MiB of
    /// tables; a fifth pass splitting phase 0 from phase 1 was slower everywhere.)
    pub(crate) fn classify_batch<A: Addr>(&self, keys: &[Key<A>], out: &mut [Option<u32>]) {
        self.batch::<true, A>(keys, out);
    }

    /// [`Rfc::classify_batch`] giving each key's [`Rfc::classify_index`] instead of
    /// its id.
    pub(crate) fn classify_batch_index<A: Addr>(&self, keys: &[Key<A>], out: &mut [Option<u32>]) {
        self.batch::<false, A>(keys, out);
    }

    /// The passes of [`Rfc::classify_batch`]; `IDS`: answers are ids, else indexes.
    #[inline(always)]
    fn batch<const IDS: bool, A: Addr>(&self, keys: &[Key<A>], out: &mut [Option<u32>]) {
        const GROUP: usize = 64;
        let mut mid = [[0u32; 2]; GROUP];
        let mut pos = [0u32; GROUP];
        for (ks, os) in keys.chunks(GROUP).zip(out.chunks_mut(GROUP)) {
            let n = ks.len();
            for (k, m) in ks.iter().zip(&mut mid) {
                *m = self.phase1(k);
            }
            for m in &mut mid[..n] {
                let (x, y) = self.phase2_classes(*m);
                *m = [x, y];
            }
            for (m, p) in mid[..n].iter().zip(&mut pos) {
                // SAFETY: `m` holds values of `t2[0]` and `t2[1]` (the pass before),
                // and `build` checked these tables with `indexes_in_bounds`.
                *p = unsafe { self.last.position(m[0], m[1]) };
            }
            for (p, o) in pos.iter().zip(os.iter_mut()) {
                *o = if IDS {
                    self.answer(*p)
                } else {
                    self.answer_index(*p)
                };
            }
        }
    }

    /// Bytes held by the tables.
    pub(crate) fn memory_bytes(&self) -> usize {
        let tables: usize = self.t0.len()
            + self
                .t1
                .iter()
                .chain(&self.t2)
                .map(|t| t.len())
                .sum::<usize>()
            + self.last.index.len()
            + self.last.blocks.len();
        tables * 2 + self.ids.len() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{PortRange, Prefix};

    fn rule(
        id: u32,
        src: (u32, u8),
        dst: (u32, u8),
        dport: (u16, u16),
        proto: Option<u8>,
    ) -> Rule<u32> {
        Rule {
            src: Prefix::new(src.0, src.1).unwrap(),
            dst: Prefix::new(dst.0, dst.1).unwrap(),
            src_port: PortRange::ANY,
            dst_port: PortRange::new(dport.0, dport.1).unwrap(),
            proto: proto.unwrap_or(0),
            proto_mask: if proto.is_some() { 0xff } else { 0 },
            priority: id,
            id,
        }
    }

    fn tables() -> Rfc {
        let rules: Vec<Rule<u32>> = (0..40)
            .map(|i| {
                rule(
                    i,
                    (0x0a00_0000 | (i << 12), 20),
                    (0xc0a8_0000 | (i << 4), 28 - (i % 5) as u8),
                    (1000 + i as u16 * 7, 2000 + i as u16 * 11),
                    [Some(6), Some(17), None][i as usize % 3],
                )
            })
            .chain([rule(99, (0, 0), (0, 0), (0, 65535), None)])
            .collect();
        Rfc::build(&rules, 16 << 20).expect("40 rules fit 16 MiB")
    }

    #[test]
    fn built_tables_pass_the_bounds_check_the_lookups_rely_on() {
        assert!(tables().indexes_in_bounds());
    }

    /// The check fails for a value past any table it indexes, in each round.
    #[test]
    fn the_bounds_check_catches_an_index_past_each_table() {
        let corrupt: [fn(&mut Rfc); 7] = [
            |t| t.t0[5] = u16::MAX,                    // source high -> t1[0]
            |t| t.t0[(3 << 16) | 9] = u16::MAX,        // destination low -> t1[1]
            |t| t.t0[Q0 + 6] = u16::MAX,               // protocol -> t2[1]
            |t| t.t1[2][0] = u16::MAX,                 // ports -> t2[1]
            |t| t.t2[0][0] = u16::MAX,                 // rows of the last table
            |t| t.last.index[0] = u16::MAX,            // blocks
            |t| t.last.blocks[0] = t.ids.len() as u16, // an answer past the rules
        ];
        for (i, f) in corrupt.iter().enumerate() {
            let mut t = tables();
            f(&mut t);
            assert!(!t.indexes_in_bounds(), "corruption {i} passed the check");
        }
    }
}
