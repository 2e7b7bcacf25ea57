#!/usr/bin/env bash
# Instructions per frame, counted by callgrind: exact and repeatable, where a
# timing on a VM drifts by 2x between seconds. Two builds compare by this figure
# (lower is better); BENCHMARKS.md ("Instructions per frame") has the current
# ones. Two benches:
#   BENCH=burst_cost (default): the sw backend's batched path on a firewall-shaped
#     pipeline (doca-flow/benches/burst_cost.rs: one-rule ACL pipe behind a root
#     control pipe, bursts of 64; ARGS=--brief for process_batch_brief, what
#     `dpu-fw run` calls for a stateless policy);
#   BENCH=firewall_cost: Firewall::process_batch_each on established UDP replies
#     with connection tracking (dpu-fw/benches/firewall_cost.rs; ARGS=--stateless
#     for the same replies without it, ARGS="--flows N" for the table size).
#
#   bench/instructions.sh            # builds the bench (release profile) and counts
#   BIN=path/to/burst_cost bench/instructions.sh   # counts another build
#   PROFILE=burst_cost::main bench/instructions.sh # ... and where one function's go
#     (the batched path inlines into the bench's main; with conntrack, memos take
#     the general path: BENCH=firewall_cost PROFILE=batch_chunk)
#
# PROFILE=NAME (a substring of a function name) also prints that function's
# instructions per frame source line by source line and instruction by instruction
# (bench/instruction_profile.py; needs objdump): what a change should cut.
#
# The count is (Ir(3N bursts) - Ir(N bursts)) / (2N x 64): the setup's
# instructions cancel. N = BURSTS (default 1000). Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install valgrind" >&2; exit 1; }
N=${BURSTS:-1000}
BENCH=${BENCH:-burst_cost}
case "$BENCH" in
  burst_cost) pkg=doca-flow ;;
  firewall_cost) pkg=dpu-fw ;;
  *) echo "BENCH=$BENCH: burst_cost or firewall_cost" >&2; exit 2 ;;
esac
read -r -a args <<<"${ARGS:-}"
if [ -z "${BIN:-}" ]; then
  echo "building $pkg's $BENCH bench (release)..." >&2
  BIN=$(cargo bench -q -p "$pkg" --bench "$BENCH" --no-run --message-format=json |
    BENCH=$BENCH python3 -c 'import json, os, sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == os.environ["BENCH"] and m.get("executable"):
        print(m["executable"])')
  [ -n "$BIN" ] || { echo "could not build the $BENCH bench (cargo's errors above)" >&2; exit 1; }
fi
# Ir of one run of BURSTS bursts; a run that fails (the bench asserts its
# verdicts) stops the script with its output: its count would mean nothing.
cg=()
if [ -n "${PROFILE:-}" ]; then
  command -v objdump >/dev/null || { echo "PROFILE needs objdump: apt-get install binutils" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cg=(--dump-instr=yes --compress-strings=no --compress-pos=no)
fi
ir() { # BURSTS
  local out file=/dev/null
  [ -n "${PROFILE:-}" ] && file="$work/$1.out"
  out=$(valgrind --tool=callgrind "${cg[@]}" --callgrind-out-file="$file" "$BIN" "${args[@]}" --bursts "$1" --passes 1 2>&1) ||
    { printf '%s failed under callgrind:\n%s\n' "$BIN" "$(tail -n 20 <<<"$out")" >&2; exit 1; }
  awk '/refs:/ {gsub(",", "", $4); print $4}' <<<"$out"
}
a=$(ir "$N"); b=$(ir $((3 * N)))
[ -n "$a" ] && [ -n "$b" ] || { echo "callgrind gave no count (is $BIN runnable?)" >&2; exit 1; }
python3 -c "print(f'instructions per frame: {($b - $a) / (2 * $N * 64):.1f} (callgrind, $(basename "$BIN") ${ARGS:-})')"
if [ -n "${PROFILE:-}" ]; then
  echo
  python3 bench/instruction_profile.py "$work/$N.out" "$work/$((3 * N)).out" $((2 * N * 64)) "$BIN" "$PROFILE"
fi
