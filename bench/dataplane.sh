#!/usr/bin/env bash
# Dataplane benchmark: packets per second on one core through `dpu-fw run`,
# beside dpdk-testpmd's io forwarding on the same ports in the same run.
#
#   bench/dataplane.sh            # SET=acl1_10k SECS=5 LCORE=1 by default
#
# Ports: a net_pcap vdev that replays the ClassBench trace's packets forever
# (infinite_rx) into the dataplane, and a net_null vdev that takes what is
# forwarded. Measured, in this order:
#   1. dpdk-testpmd --forward-mode=io (the peer: no policy at all);
#   2. dpu-fw run with an empty policy (default accept);
#   3. dpu-fw run with the ClassBench rule set as a policy (every rule accepts,
#      default drop; the trace's packets all match a rule);
#   4. dpu-fw bench on the same rules and trace: the classifier's standalone
#      lookup cost, for the issue's second target;
#   5. connection tracking: the rule set with and without [conntrack] on a
#      replay of FLOWS (default 100000) distinct flows of the trace, twice each,
#      alternating (the replay keeps FLOWS connections live: see
#      bench/classbench_export.py).
# Targets: empty policy >= 60% of testpmd's rate; with rules, ns/packet <=
# 1.3 x (classifier lookup ns + empty-policy ns); with conntrack >= 0.8 x the
# rate without, on the same flows.
#
# Needs: root (EAL), dpdk-dev (dpdk-testpmd), python3, curl; ClassBench data
# in CLASSBENCH_DIR (default ../shared/classbench).
set -euo pipefail
cd "$(dirname "$0")/.."

SET=${SET:-acl1_10k}
SECS=${SECS:-5}
LCORE=${LCORE:-1}
CB=${CLASSBENCH_DIR:-../shared/classbench}
EAL_COMMON=(--no-huge -m 1024 --no-pci --no-shconf --no-telemetry --log-level=lib.eal:error)

rules="$CB/$SET.rules"; [ -f "$rules" ] || rules="$rules.gz"
trace="$CB/$SET.trace.gz"
for f in "$rules" "$trace"; do
  [ -f "$f" ] || { echo "missing $f (set CLASSBENCH_DIR)" >&2; exit 1; }
done
command -v dpdk-testpmd >/dev/null || { echo "dpdk-testpmd not found: apt-get install dpdk-dev" >&2; exit 1; }

# FW=path/to/dpu-fw measures another build (e.g. an older commit's, for A/B).
if [ -z "${FW:-}" ]; then
  echo "building (release, feature dpdk)..." >&2
  cargo build --release -q --features dpdk --bin dpu-fw
  FW=target/release/dpu-fw
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# net_pcap's infinite_rx holds every packet of the file in mbufs.
PACKETS=${PACKETS:-32768}
FLOWS=${FLOWS:-100000}
python3 bench/classbench_export.py "$rules" "$trace" "$work" --packets "$PACKETS" --flows "$FLOWS" >&2

vdevs=(--vdev="net_pcap0,rx_pcap=$work/trace.pcap,infinite_rx=1" --vdev="net_null0,no-rx=1")
MBUFS=$((2 * PACKETS + 8192))

testpmd_mpps() {
  timeout $((SECS + 4)) dpdk-testpmd -l "0,$LCORE" "${EAL_COMMON[@]}" "${vdevs[@]}" -- \
    --forward-mode=io --auto-start --nb-cores=1 --stats-period=1 \
    --total-num-mbufs=$((2 * PACKETS + 8192)) >"$work/testpmd.log" 2>&1 || true
  # The Tx-pps lines of port 1, skipping the first two seconds of warm-up.
  awk '/NIC statistics for port/ {port=$(NF-1)} port==1 && /Tx-pps:/ {print $2}' "$work/testpmd.log" |
    tail -n +3 | sort -n | awk '{v[NR]=$1} END {if (NR==0) {print "0"} else {printf "%.3f\n", v[int((NR+1)/2)]/1e6}}'
}

fw_mpps() {
  local config=$1 port
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  "$FW" run --config "$config" --metrics "127.0.0.1:$port" --mbufs "$MBUFS" --control off \
    -- -l "$LCORE" "${EAL_COMMON[@]}" "${vdevs[@]}" \
    >"$work/fw.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do grep -q READY "$work/fw.log" 2>/dev/null && break; sleep 0.1; done
  grep -q READY "$work/fw.log" || { cat "$work/fw.log" >&2; kill $pid; exit 1; }
  sleep 2
  local a b
  a=$(curl -s "127.0.0.1:$port/metrics" | awk '/^dpufw_port_tx_packets_total\{port="p1"\}/ {print $2}')
  sleep "$SECS"
  b=$(curl -s "127.0.0.1:$port/metrics" | awk '/^dpufw_port_tx_packets_total\{port="p1"\}/ {print $2}')
  kill -TERM $pid; wait $pid || true
  python3 -c "print(f'{($b - $a) / $SECS / 1e6:.3f}')"
}

echo "measuring dpdk-testpmd io forwarding..." >&2
peer=$(testpmd_mpps)
echo "measuring dpu-fw run, empty policy..." >&2
empty=$(fw_mpps "$work/empty.toml")
echo "measuring dpu-fw run, $SET policy..." >&2
full=$(fw_mpps "$work/policy.toml")
echo "measuring the classifier alone (dpu-fw bench)..." >&2
lookup=$("$FW" bench --rules "$rules" --trace "$trace" --format classbench --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["lookup_ns_per_packet"])')

echo "measuring dpu-fw run, $SET policy with and without conntrack on $FLOWS flows..." >&2
vdevs=(--vdev="net_pcap0,rx_pcap=$work/flows.pcap,infinite_rx=1" --vdev="net_null0,no-rx=1")
MBUFS=$((2 * FLOWS + 8192))
plain1=$(fw_mpps "$work/policy.toml")
ct1=$(fw_mpps "$work/policy_ct.toml")
plain2=$(fw_mpps "$work/policy.toml")
ct2=$(fw_mpps "$work/policy_ct.toml")

python3 - "$peer" "$empty" "$full" "$lookup" "$SET" "$plain1" "$ct1" "$plain2" "$ct2" "$FLOWS" <<'PY'
import sys
peer, empty, full, lookup = map(float, sys.argv[1:5])
name = sys.argv[5]
plain1, ct1, plain2, ct2 = map(float, sys.argv[6:10])
flows = sys.argv[10]
ns = lambda mpps: 1e3 / mpps if mpps > 0 else float("inf")
print(f"{'':34} {'Mpps':>8} {'ns/pkt':>8}")
print(f"{'dpdk-testpmd io (peer)':34} {peer:8.2f} {ns(peer):8.1f}")
print(f"{'dpu-fw run, empty policy':34} {empty:8.2f} {ns(empty):8.1f}")
print(f"{'dpu-fw run, ' + name:34} {full:8.2f} {ns(full):8.1f}")
print(f"{'classifier lookup alone':34} {'':8} {lookup:8.1f}")
r1 = empty / peer if peer else 0
bound = 1.3 * (lookup + ns(empty))
print(f"empty policy / testpmd = {r1:.2f} (target >= 0.60): {'ok' if r1 >= 0.6 else 'MISSED'}")
print(f"{name}: {ns(full):.1f} ns/pkt vs 1.3 x ({lookup:.1f} + {ns(empty):.1f}) = {bound:.1f}: "
      f"{'ok' if ns(full) <= bound else 'MISSED'}")
plain, ct = (plain1 + plain2) / 2, (ct1 + ct2) / 2
print(f"{'dpu-fw run, ' + name + ', ' + flows + ' flows':34} {plain:8.2f} {ns(plain):8.1f}   (runs {plain1:.2f}, {plain2:.2f})")
print(f"{'  + conntrack, ' + flows + ' live':34} {ct:8.2f} {ns(ct):8.1f}   (runs {ct1:.2f}, {ct2:.2f})")
r = ct / plain if plain else 0
print(f"conntrack / without = {r:.2f} (target >= 0.80): {'ok' if r >= 0.8 else 'MISSED'}")
PY
