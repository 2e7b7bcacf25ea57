#!/usr/bin/env bash
# Scaling with cores: `dpu-fw run --workers 2` against `--workers 1` on the same
# ports and traffic, alternating, and the ratio. bench/dataplane.sh runs it last;
# it also runs alone:
#
#   sudo bench/workers.sh                    # SET=acl1_10k SECS=5 ROUNDS=2 CPUS=0,1
#   SECS=2 ROUNDS=1 sudo -E bench/workers.sh # a quick look
#   POLICY=empty sudo bench/workers.sh       # the empty policy instead of the rule set
#
# Ports: net_pcap0 with two receive queues, each replaying the same PACKETS trace
# headers forever (one `rx_pcap=` per queue; net_pcap has no RSS, so the queues are
# what spreads the load), into the dataplane; net_null0 takes what is forwarded.
# Worker w polls queue w of every port (dpu-fw/src/dataplane), so one worker
# polls queue 0 only and two poll one queue each: the same traffic per queue, and
# the rate is dpufw_port_tx_packets_total{port="p1"} over SECS after 2 s of
# warm-up, as in bench/dataplane.sh.
#
# Cores: `dpu-fw run`'s workers are threads of the main thread, which inherit its
# CPU affinity; the EAL pins the main thread to its lcore's CPU set, so the EAL
# runs as `--lcores=0@(CPUS)`: lcore 0 on every CPU in CPUS, and the scheduler
# spreads the workers over them. Both runs use the same EAL arguments. With as
# many workers as CPUs, the workers share their cores with the main thread
# (metrics, reload watch, stats), the kernel and anything else running: on a
# 2-core machine the 2-worker rate is a lower bound for 2 dedicated cores.
#
# Needs: root (EAL), libdpdk (a dpu-fw built with feature dpdk), python3, curl;
# ClassBench data in CLASSBENCH_DIR (default ../shared/classbench).
set -euo pipefail
cd "$(dirname "$0")/.."

SET=${SET:-acl1_10k}
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-2}
CPUS=${CPUS:-0,1}
PACKETS=${PACKETS:-32768}
POLICY=${POLICY:-rules}
CB=${CLASSBENCH_DIR:-../shared/classbench}

die() { echo "bench/workers.sh: $*" >&2; exit 1; }
[[ $SECS =~ ^[1-9][0-9]*$ ]] || die "SECS=$SECS: a whole number of seconds >= 1"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS=$ROUNDS: a whole number >= 1"
[[ $PACKETS =~ ^[1-9][0-9]*$ ]] || die "PACKETS=$PACKETS: a whole number >= 1"
[[ $CPUS =~ ^[0-9]+([,-][0-9]+)*$ ]] || die "CPUS=$CPUS: a CPU list such as 0,1 or 0-3"
case $POLICY in rules) policy_file=policy.toml ;; empty) policy_file=empty.toml ;;
  *) die "POLICY=$POLICY: rules or empty" ;; esac
ncpus=$(python3 -c '
import sys
n = set()
for part in sys.argv[1].split(","):
    a, _, b = part.partition("-")
    n.update(range(int(a), int(b or a) + 1))
print(len(n))' "$CPUS")

rules="$CB/$SET.rules"; [ -f "$rules" ] || rules="$rules.gz"
trace="$CB/$SET.trace.gz"
for f in "$rules" "$trace"; do
  [ -f "$f" ] || die "missing $f (set CLASSBENCH_DIR)"
done
if [ -z "${FW:-}" ]; then
  echo "building (release, feature dpdk)..." >&2
  cargo build --release -q --features dpdk --bin dpu-fw
  FW=${CARGO_TARGET_DIR:-target}/release/dpu-fw
fi
[ -x "$FW" ] || die "FW=$FW is not an executable"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 bench/classbench_export.py "$rules" "$trace" "$work" --packets "$PACKETS" >&2

# shellcheck source=bench/hugepages.sh
source bench/hugepages.sh
EAL=(--lcores="0@($CPUS)" "${EAL_MEM[@]}" --no-pci --no-shconf --no-telemetry
  --log-level=lib.eal:error
  --vdev="net_pcap0,rx_pcap=$work/trace.pcap,rx_pcap=$work/trace.pcap,infinite_rx=1"
  --vdev="net_null0,no-rx=1")
# Each receive queue holds the whole file in mbufs (infinite_rx), both queues
# exist in either run, and every worker needs its bursts on top.
MBUFS=$((2 * PACKETS + 16384))

fw_mpps() { # WORKERS
  local workers=$1 port pid a b
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  "$FW" run --config "$work/$policy_file" --workers "$workers" --metrics "127.0.0.1:$port" \
    --mbufs "$MBUFS" --control off -- "${EAL[@]}" >"$work/fw.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q READY "$work/fw.log" 2>/dev/null && break; sleep 0.1; done
  grep -q READY "$work/fw.log" || { cat "$work/fw.log" >&2; kill $pid 2>/dev/null; die "dpu-fw run --workers $workers did not start"; }
  sleep 2
  a=$(curl -s "127.0.0.1:$port/metrics" | awk '/^dpufw_port_tx_packets_total\{port="p1"\}/ {print $2}')
  sleep "$SECS"
  b=$(curl -s "127.0.0.1:$port/metrics" | awk '/^dpufw_port_tx_packets_total\{port="p1"\}/ {print $2}')
  kill -TERM $pid; wait $pid || true
  [ -n "$a" ] && [ -n "$b" ] || die "no dpufw_port_tx_packets_total{port=\"p1\"} in the metrics (--workers $workers)"
  python3 -c "print(f'{($b - $a) / $SECS / 1e6:.3f}')"
}

one=() two=()
for r in $(seq "$ROUNDS"); do
  echo "workers: round $r of $ROUNDS: dpu-fw run --workers 1, then --workers 2 ($SET, $POLICY, ${SECS}s each)..." >&2
  one+=("$(fw_mpps 1)")
  two+=("$(fw_mpps 2)")
done

python3 - "$SET" "$POLICY" "$CPUS" "$ncpus" "$(nproc)" "${#one[@]}" "${one[@]}" "${two[@]}" <<'PY'
import sys
name, policy, cpus, ncpus, nproc, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
one = list(map(float, sys.argv[7:7 + n]))
two = list(map(float, sys.argv[7 + n:7 + 2 * n]))
mean = lambda v: sum(v) / len(v)
runs = lambda v: ", ".join(f"{x:.2f}" for x in v)
what = f"{name} policy" if policy == "rules" else "empty policy"
print(f"{'dpu-fw run --workers 1, ' + what:44} {mean(one):8.2f} Mpps   (runs {runs(one)})")
print(f"{'dpu-fw run --workers 2, ' + what:44} {mean(two):8.2f} Mpps   (runs {runs(two)})")
ratios = [b / a if a else 0 for a, b in zip(one, two)]
print(f"workers 2 / workers 1 = {mean(two) / mean(one) if mean(one) else 0:.2f}   (per round {runs(ratios)}; 2.00 is linear)")
if ncpus <= 2 or nproc <= 2:
    print(f"NOTE: the workers ran on CPUs {cpus} ({ncpus} of this machine's {nproc}); with 2 workers the main "
          "thread (metrics, reload watch), the kernel and other work share those cores, so the 2-worker "
          "rate and the ratio are lower bounds for 2 dedicated cores.")
PY
