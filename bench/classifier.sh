#!/usr/bin/env bash
# Classifier benchmark: `dpu-fw bench` on every ClassBench set, our
# classifier beside DPDK rte_acl (best of scalar/SSE/AVX2 and, on a CPU with
# AVX-512, avx512x16/avx512x32, NEON on Arm; the table names the method) built and timed in
# the same process, results checked against match5. Prints a Markdown table:
# the trees (as built), the classifier after `optimize` (RFC tables: built for the
# 1k sets and acl1_10k within OPTIMIZE_MIB of tables, default 16; the table says why
# not for the others), churn on the trees, and mismatches (trees / optimized /
# after churn). The speedups are paired: rte_acl's fastest method and ours timed in
# alternating rounds of 50 ms turns, the median of the per-round ratios (this VM's
# speed drifts by up to 2x within seconds, so medians taken seconds apart did not
# compare); "(seq)" marks a ratio of the separate medians where no rounds ran.
#
#   sudo bench/classifier.sh                 # all nine sets
#   SETS="acl1_1k fw1_10k" bench/classifier.sh
#   RUNS=3 JSON_OUT=cb.jsonl bench/classifier.sh   # three runs (run 1 of every set,
#                                            # then run 2, ...): medians, the runs'
#                                            # speedups in brackets; the JSON lines kept
#
# Needs root (the EAL for rte_acl), ClassBench data in CLASSBENCH_DIR
# (default ../shared/classbench), ~10 GiB free memory for rte_acl on fw1_100k.
set -euo pipefail
cd "$(dirname "$0")/.."
CB=${CLASSBENCH_DIR:-../shared/classbench}
SETS=${SETS:-"acl1_1k fw1_1k ipc1_1k acl1_10k fw1_10k ipc1_10k acl1_100k fw1_100k ipc1_100k"}
CHURN=${CHURN:-10}
OPTIMIZE_MIB=${OPTIMIZE_MIB:-16}
cargo build --release -q --features dpdk,bench-alloc --bin dpu-fw
RUNS=${RUNS:-1}
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "RUNS must be a whole number >= 1, not '$RUNS'" >&2; exit 2; }
if [ -n "${JSON_OUT:-}" ]; then out=$JSON_OUT; : >"$out"; else out=$(mktemp); trap 'rm -f "$out"' EXIT; fi
# Run k of every set, then run k + 1: the runs of one set are minutes apart, so a
# slow phase of the machine does not fall on all of them.
for run in $(seq "$RUNS"); do
  for s in $SETS; do
    r="$CB/$s.rules"; [ -f "$r" ] || r="$r.gz"
    echo "bench $s (run $run of $RUNS, $(date -u +%H:%M:%S) UTC) ..." >&2
    "${CARGO_TARGET_DIR:-target}/release/dpu-fw" bench --rules "$r" --trace "$CB/$s.trace.gz" --matches "$CB/$s.match5.gz" \
      --churn "$CHURN" --optimize-mib "$OPTIMIZE_MIB" --json | sed "s/^{/{\"set\":\"$s\",\"run\":$run,/" >>"$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sets = list(dict.fromkeys(r["set"] for r in rows))
runs = {s: [r for r in rows if r["set"] == s] for s in sets}
nan = float("nan")
mib = lambda b: b / 2**20 if b is not None else nan

def med(rs, *path):
    """The median over a set's runs of the number at `path` (nan if none has it)."""
    vals = []
    for r in rs:
        v = r
        for k in path:
            v = (v or {}).get(k) if isinstance(v, dict) else None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            vals.append(v)
    return statistics.median(vals) if vals else nan

# Speedups (rte_acl ns / ours) come from the alternating rounds ("paired": the ratio
# taken per round, so the VM's drifting speed moves both sides alike); the ns/pkt
# columns are each side's own medians, seconds apart. With RUNS > 1 every figure is
# the median over the runs, and the speedups list the runs in brackets.
def speed(rs, key):
    paired = [r["rte_acl"].get("paired_" + key) for r in rs if r.get("rte_acl")]
    if paired and all(v is not None for v in paired):
        each, tag = paired, ""
    else:
        each = [(r.get("rte_acl") or {}).get(key) for r in rs]
        if any(v is None for v in each):
            return "nan"
        tag = " (seq)"
    s = f"{statistics.median(each):.2f}x{tag}"
    if len(each) > 1:
        s += " (" + " / ".join(f"{v:.2f}" for v in each) + ")"
    return s

print(f"{len(rows)} runs of {len(sets)} sets ({max(len(v) for v in runs.values())} per set): medians over a set's runs")
print()
print("| set | rules | ours ns/pkt | rte_acl ns/pkt | rte_acl method | speedup (paired) | optimized ns/pkt | optimized speedup (paired) | optimize s | optimized MiB | ours build s | rte_acl build s | build speedup | ours MiB | rte_acl MiB | build mem MiB | updates/s (churn, first pass / sustained) | lookup after churn | mismatches |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for s in sets:
    rs = runs[s]
    built = [r for r in rs if (r.get("optimized") or {}).get("built")]
    o0 = rs[0].get("optimized") or {}
    if built and len(built) == len(rs):
        opt = (f"{med(built, 'optimized', 'lookup_ns_per_packet'):.1f} "
               f"| {speed(built, 'optimized_lookup_speedup')} "
               f"| {med(built, 'optimized', 'optimize_s'):.4f} | {mib(med(built, 'optimized', 'memory_bytes')):.2f}")
    elif built:
        opt = f"built in {len(built)} of {len(rs)} runs (see the JSON) | | |"
    elif not o0:
        opt = "skipped (OPTIMIZE_MIB=0) | | |"
    else:
        opt = f"not built ({o0.get('not_built')}) | | {med(rs, 'optimized', 'optimize_s'):.4f} |"
    methods = list(dict.fromkeys((r.get("rte_acl") or {}).get("name", "not measured").removeprefix("rte_acl ") for r in rs))
    mism = " ; ".join(f"{r.get('mismatches')} / {(r.get('optimized') or {}).get('mismatches')} / {(r.get('churn') or {}).get('mismatches')}" for r in rs)
    print(f"| {s} | {rs[0]['rules']} | {med(rs, 'lookup_ns_per_packet'):.1f} | {med(rs, 'rte_acl', 'lookup_ns_per_packet'):.1f} "
          f"| {', '.join(methods)} | {speed(rs, 'lookup_speedup')} | {opt} | {med(rs, 'build_s'):.4f} | {med(rs, 'rte_acl', 'build_s'):.3f} "
          f"| {med(rs, 'rte_acl', 'build_speedup'):.0f}x | {mib(med(rs, 'memory_bytes')):.2f} | {mib(med(rs, 'rte_acl', 'memory_bytes')):.2f} "
          f"| {mib(med(rs, 'build_memory_bytes')):.1f} | {med(rs, 'churn', 'updates_per_s')/1e6:.2f} / {med(rs, 'churn', 'sustained_updates_per_s')/1e6:.2f} M | {med(rs, 'churn', 'lookup_ratio'):.2f}x "
          f"| {mism} |")
# Every rte_acl method measured (the table above takes the fastest): what DPDK's
# default would pick on this CPU is among them.
names = []
for r in rows:
    for m in ((r.get("peer") or {}).get("methods") or {}):
        if m not in names:
            names.append(m)
if names:
    print()
    print("| set | " + " | ".join(f"rte_acl {m} ns/pkt" for m in names) + " |")
    print("|---|" + "---|" * len(names))
    for s in sets:
        print(f"| {s} | " + " | ".join(f"{med(runs[s], 'peer', 'methods', m):.1f}" for m in names) + " |")
PY
