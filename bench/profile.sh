#!/usr/bin/env bash
# Where one dataplane contestant's time goes, per packet: runs it alone on lcore 1 on
# the vdevs of bench/dataplane.sh (net_pcap replaying the set's trace, net_null
# taking what is forwarded), samples its forwarding thread with `perf record -e
# cpu-clock` for SECS seconds, reads its forwarded count before and after, and
# prints its rate and each library's (then each symbol's) share of the samples in
# ns per packet. What the profiles in BENCHMARKS.md and docs/performance.md
# ("Where a packet's time goes") were read from; compare two contestants by
# running it twice (the VM's speed moves between runs: the shares, not the
# absolute ns, compare).
#
#   bash bench/profile.sh policy            # dpu-fw run with SET's policy (default acl1_1k)
#   bash bench/profile.sh testpmd           # dpdk-testpmd --forward-mode=io
#   bash bench/profile.sh l3fwd             # l3fwd --lookup=acl (bench/build_l3fwd.sh)
#   bash bench/profile.sh empty|one|ct      # empty policy, one rule (tcp/80), policy
#                                           # with [conntrack] on FLOWS distinct flows
#   SET=fw1_10k SECS=10 FW=path/to/dpu-fw HUGE=1 bash bench/profile.sh policy
#
# The perf data stays in OUT (default a temporary directory, removed at the end;
# set OUT to keep it, then e.g. `perf annotate -i OUT/perf.data --stdio -s SYMBOL`).
# Needs: root (EAL, perf on another process), linux-perf, dpdk-dev (testpmd),
# python3, curl; l3fwd as bench/dataplane.sh builds it.
set -euo pipefail
cd "$(dirname "$0")/.."
WHO=${1:-}
case "$WHO" in
  testpmd | l3fwd | empty | one | policy | ct) ;;
  *) echo "usage: bench/profile.sh testpmd|l3fwd|empty|one|policy|ct (got '${WHO}')" >&2; exit 2 ;;
esac
command -v perf >/dev/null || { echo "perf not found: apt-get install linux-perf" >&2; exit 1; }
SET=${SET:-acl1_1k}
SECS=${SECS:-6}
PACKETS=${PACKETS:-32768}
FLOWS=${FLOWS:-100000}
CB=${CLASSBENCH_DIR:-../shared/classbench}
# shellcheck source=bench/hugepages.sh
source bench/hugepages.sh
# shellcheck source=bench/counts.sh
source bench/counts.sh
rules="$CB/$SET.rules"; [ -f "$rules" ] || rules="$rules.gz"
trace="$CB/$SET.trace.gz"
for f in "$rules" "$trace"; do
  [ -f "$f" ] || { echo "missing $f (set CLASSBENCH_DIR)" >&2; exit 1; }
done
keep=${OUT:-}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
pid=
cleanup() {
  [ -n "$pid" ] && { kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  [ -n "$keep" ] || rm -rf "$out"
}
trap cleanup EXIT
# net_pcap's infinite_rx holds the whole file in mbufs (dataplane.sh's sizing).
flows=(); pcap=$out/trace.pcap; stored=$PACKETS
if [ "$WHO" = ct ]; then flows=(--flows "$FLOWS"); pcap=$out/flows.pcap; stored=$FLOWS; fi
python3 bench/classbench_export.py "$rules" "$trace" "$out" --packets "$PACKETS" "${flows[@]}" >/dev/null
mbufs=$((2 * stored + 8192))
vdevs=(--vdev="net_pcap0,rx_pcap=$pcap,infinite_rx=1" --vdev="net_null0,no-rx=1")
prefix=dpufw-profile-$$
log=$out/contestant.log
case "$WHO" in
  testpmd)
    stdbuf -oL dpdk-testpmd -l 0,1 "${EAL_MEM[@]}" --no-pci --no-shconf --file-prefix="$prefix" \
      --log-level=lib.eal:error "${vdevs[@]}" -- --forward-mode=io --auto-start --nb-cores=1 \
      --stats-period=3600 --total-num-mbufs="$mbufs" >"$log" 2>&1 &
    pid=$! ;;
  l3fwd)
    if [ -z "${L3FWD:-}" ]; then
      l3=$(bash bench/build_l3fwd.sh) || { echo "bench/build_l3fwd.sh failed (see above)" >&2; exit 1; }
      read -r L3FWD L3FWD_SHIM <<<"$l3"
    fi
    [ -x "$L3FWD" ] || { echo "L3FWD=$L3FWD: not an executable (bench/build_l3fwd.sh)" >&2; exit 1; }
    LD_PRELOAD="${L3FWD_SHIM:-}" "$L3FWD" -l 1 "${EAL_MEM[@]}" --no-pci --no-shconf \
      --file-prefix="$prefix" --log-level=lib.eal:error --force-max-simd-bitwidth=512 "${vdevs[@]}" -- \
      -p 0x3 --config="(0,0,1),(1,0,1)" --lookup=acl --parse-ptype \
      --rule_ipv4="$out/l3fwd_ipv4.rules" --rule_ipv6="$out/l3fwd_ipv6.rules" \
      --rx-queue-size="$(( stored < 1024 ? 1024 : stored > 65535 ? 65535 : stored ))" >"$log" 2>&1 &
    pid=$! ;;
  *)
    FW=${FW:-target/release/dpu-fw}
    [ -x "$FW" ] || { echo "$FW not built: cargo build --release --features dpdk --bin dpu-fw" >&2; exit 1; }
    conf=$out/policy.toml
    case "$WHO" in
      empty) conf=$out/empty.toml ;;
      one) conf=$out/one_rule.toml ;;
      ct) conf=$out/policy_ct.toml ;;
    esac
    port=$(free_port)
    "$FW" run --config "$conf" --metrics "127.0.0.1:$port" --mbufs "$mbufs" --control off \
      -- -l 1 "${EAL_MEM[@]}" --no-pci --no-shconf --no-telemetry --log-level=lib.eal:error \
      --file-prefix="$prefix" "${vdevs[@]}" >"$log" 2>&1 &
    pid=$! ;;
esac
# Forwarded packets so far (port 1's transmit count) and the time.
count() { if [ -n "${port:-}" ]; then forwarded fw "$port"; else forwarded tel "$prefix"; fi; }
# Up and forwarding: a count that moves (30 s at most).
a=
for _ in $(seq 60); do
  sleep 0.5
  kill -0 "$pid" 2>/dev/null || { echo "$WHO exited:" >&2; tail -n 20 "$log" >&2; pid=; exit 1; }
  b=$(count 2>/dev/null || true)
  if [ -n "$a" ] && [ -n "${b%% *}" ] && [ "${b%% *}" != "${a%% *}" ]; then break; fi
  a=$b
done
[ -n "${b%% *}" ] && [ "${b%% *}" != "${a%% *}" ] || { echo "$WHO does not forward:" >&2; tail -n 20 "$log" >&2; exit 1; }
sleep 1
# The forwarding thread: the one that used the most CPU over the next second (not in
# total: loading the trace into the mbufs can give the main thread more).
cpu() { for t in /proc/"$pid"/task/*; do echo "${t##*/} $(awk '{print $14 + $15}' "$t/stat")"; done | sort; }
t0=$(cpu); sleep 1; t1=$(cpu)
tid=$(join <(echo "$t0") <(echo "$t1") | awk '{print $1, $3 - $2}' | sort -k2 -n | tail -n 1 | cut -d' ' -f1)
before=$(count)
perf record -q -e cpu-clock -t "$tid" -o "$out/perf.data" -- sleep "$SECS" 2>"$out/perf.err" ||
  { echo "perf record of thread $tid failed (root, or perf_event_paranoid <= 1, is needed):" >&2; cat "$out/perf.err" >&2; exit 1; }
after=$(count)
ns=$(python3 -c "a, b = '$before'.split(), '$after'.split(); n = float(b[0]) - float(a[0]); t = float(b[1]) - float(a[1]); print(f'{t * 1e9 / n:.2f} {n / t / 1e6:.2f}' if n > 0 else '')")
[ -n "$ns" ] || { echo "$WHO forwarded nothing while it was sampled (counts: $before -> $after):" >&2; tail -n 20 "$log" >&2; exit 1; }
echo "$WHO ($SET${HUGE:+, HUGE=$HUGE}): ${ns#* } Mpps, ${ns% *} ns per packet over ${SECS} s of samples of thread $tid"
per_pkt=${ns% *}
report() { # perf report arguments...
  perf report -i "$out/perf.data" --no-children "$@" 2>/dev/null | grep -v '^#' | grep -v '^$' |
    awk -v ns="$per_pkt" '{p = $1; sub("%", "", p); $1 = ""; printf "  %6.2f%% %7.2f ns  %s\n", p, p * ns / 100, $0}' | head -n "${TOP:-15}"
}
echo "by library (share of samples, ns per packet):"
report --sort dso
echo "by symbol:"
report --sort dso,sym
