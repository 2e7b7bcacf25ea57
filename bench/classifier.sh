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
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for s in $SETS; do
  r="$CB/$s.rules"; [ -f "$r" ] || r="$r.gz"
  echo "bench $s ..." >&2
  "${CARGO_TARGET_DIR:-target}/release/dpu-fw" bench --rules "$r" --trace "$CB/$s.trace.gz" --matches "$CB/$s.match5.gz" \
    --churn "$CHURN" --optimize-mib "$OPTIMIZE_MIB" --json | sed "s/^{/{\"set\":\"$s\",/" >>"$out"
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mib = lambda b: b / 2**20 if b is not None else float("nan")
# Speedups (rte_acl ns / ours) come from the alternating rounds ("paired": the ratio
# taken per round, so the VM's drifting speed moves both sides alike); the ns/pkt
# columns are each side's own medians, seconds apart.
def speed(p, key):
    v = p.get("paired_" + key)
    if v is not None:
        return f"{v:.2f}x"
    v = p.get(key)
    return f"{v:.2f}x (seq)" if v is not None else "nan"
print("| set | rules | ours ns/pkt | rte_acl ns/pkt | rte_acl method | speedup (paired) | optimized ns/pkt | optimized speedup (paired) | optimize s | optimized MiB | ours build s | rte_acl build s | build speedup | ours MiB | rte_acl MiB | build mem MiB | updates/s (churn) | lookup after churn | mismatches |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
nan = float("nan")
for r in rows:
    p = r.get("rte_acl") or {}
    c = r.get("churn") or {}
    o = r.get("optimized") or {}
    if o.get("built"):
        opt = (f"{o['lookup_ns_per_packet']:.1f} | {speed(p, 'optimized_lookup_speedup')} "
               f"| {o['optimize_s']:.4f} | {mib(o['memory_bytes']):.2f}")
    elif not o:
        opt = "skipped (OPTIMIZE_MIB=0) | | |"
    else:
        opt = f"not built ({o.get('not_built')}) | | {o.get('optimize_s', nan):.4f} |"
    method = p.get("name", "not measured").removeprefix("rte_acl ")
    print(f"| {r['set']} | {r['rules']} | {r['lookup_ns_per_packet']:.1f} | {p.get('lookup_ns_per_packet', nan):.1f} "
          f"| {method} | {speed(p, 'lookup_speedup')} | {opt} | {r['build_s']:.4f} | {p.get('build_s', nan):.3f} "
          f"| {p.get('build_speedup', nan):.0f}x | {mib(r['memory_bytes']):.2f} | {mib(p.get('memory_bytes')):.2f} "
          f"| {mib(r.get('build_memory_bytes')):.1f} | {c.get('updates_per_s', nan)/1e6:.2f} M | {c.get('lookup_ratio', nan):.2f}x "
          f"| {r.get('mismatches')} / {o.get('mismatches')} / {c.get('mismatches')} |")
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
    for r in rows:
        ms = (r.get("peer") or {}).get("methods") or {}
        print(f"| {r['set']} | " + " | ".join(f"{ms[m]:.1f}" if m in ms else "-" for m in names) + " |")
PY
