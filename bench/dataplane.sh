#!/usr/bin/env bash
# Dataplane benchmark: packets per second on one core through `dpu-fw run`,
# beside dpdk-testpmd's io forwarding and DPDK's l3fwd --lookup=acl on the
# same ports in the same run.
#
#   bench/dataplane.sh            # SET=acl1_10k ROUNDS=20 ROUND_SECS=1 LCORE=1 by default
#                                 # (SECS=5: the seconds per figure of step 6)
#
# Ports: a net_pcap vdev that replays the ClassBench trace's packets forever
# (infinite_rx) into the dataplane, and a net_null vdev that takes what is
# forwarded. Measured:
#   1-3. five forwarders, all started (each on LCORE, with its own ports) and
#      then measured in turns: in each of ROUNDS (default 20) rounds each runs
#      alone for ROUND_SECS (default 1) while the others are stopped (SIGSTOP),
#      so all five see the same machine (a VM's speed drifts by tens of percent
#      between seconds: sequential runs seconds apart do not compare), in an
#      order that puts the two sides of each ratio back to back, reversed every
#      second round (t_run); half the rounds with the five started in one order,
#      half restarted in the reverse order (an instance started later had been
#      favoured). Rates are the medians over the rounds; ratios are the medians
#      of the rounds' ratios. The five:
#      dpdk-testpmd --forward-mode=io (the peer: no policy at all);
#      dpu-fw run with an empty policy (default accept), and with a one-rule
#      policy (accept TCP port 80, default accept: every packet is parsed and
#      classified, all are forwarded; the empty policy's bursts skip parsing);
#      dpu-fw run with the ClassBench rule set as a policy (every rule accepts,
#      default drop; the trace's packets all match a rule), and DPDK 22.11's
#      examples/l3fwd --lookup=acl (rte_acl) with the same rule set converted
#      to its rule file (bench/build_l3fwd.sh builds it from Debian's source
#      package; bench/classbench_export.py writes the rules);
#   4. dpu-fw bench on the same rules and trace: the classifier's standalone
#      lookup cost, for the issue's second target;
#   5. connection tracking: the rule set with and without [conntrack] on a
#      replay of FLOWS (default 100000) distinct flows of the trace (the replay
#      keeps FLOWS connections live: see bench/classbench_export.py), both
#      instances up at once and measured in turns, one second each, ROUNDS
#      (default 20) times (fw_turns below); the ratio is the median of the
#      turn pairs' ratios;
#   6. scaling with cores: bench/workers.sh, dpu-fw run --workers 2 against
#      --workers 1 with the rule set on the same traffic (a net_pcap port with
#      two receive queues), both rates and the ratio (WORKERS=0 skips it; on a
#      2-core machine the 2-worker figure is a lower bound: see that script).
# Before measuring, l3fwd-acl and dpu-fw run each forward check.pcap once (the
# trace plus altered copies, some of which no rule matches) under the policy
# and under a mixed one (every second rule drops); the script stops unless both
# forward the same number of packets in each case (CHECK_ONLY=1: stop there).
# AB=path/to/another/dpu-fw: after the check, only an A/B of that build against
# FW in turns (one-rule policy and the set's policy; see fw_turns; AB_CT=1 adds the
# set's policy with [conntrack] on the flows of step 5), then stop.
# HUGE=1: every contestant (testpmd, l3fwd-acl, dpu-fw run) on hugepages, as
# production runs DPDK: each EAL's memory (mbufs, rte_acl's tables) on 2 MiB
# hugepages, and every process's large heap allocations (dpu-fw run's lookup
# tables) on transparent huge pages through glibc's glibc.malloc.hugetlb=1
# tunable; needs free hugepages (bench/hugepages.sh says how many and how).
# Default: 4 KiB pages for everyone (--no-huge), which any machine can run.
# L3FWD_ALG=avx2 (scalar, sse, avx512x16, avx512x32, ...) picks l3fwd's rte_acl
# method; by default rte_acl picks the best the CPU has (its EAL allows 512-bit
# SIMD, so on an AVX-512 CPU that is avx512x32; before 2026-12-06 it was
# avx512x16, DPDK's default under its 256-bit SIMD limit).
# Targets: empty policy >= 60% of testpmd's rate; with rules, ns/packet <=
# 1.3 x (classifier lookup ns + one-rule-policy ns); with conntrack >= 0.8 x the
# rate without, on the same flows; dpu-fw run's rate with rules >= 1.5 x
# l3fwd-acl's on acl1_10k, >= 1.0 x on acl1_1k and fw1_10k.
#
# Needs: root (EAL), dpdk-dev (dpdk-testpmd), libdpdk-dev, dpkg-dev, make, cc,
# python3, curl, and once apt access to Debian's dpdk source package (see
# bench/build_l3fwd.sh; L3FWD=path/to/l3fwd L3FWD_SHIM=path/to/shim.so use
# another build); ClassBench data in CLASSBENCH_DIR (default
# ../shared/classbench).
set -euo pipefail
cd "$(dirname "$0")/.."

SET=${SET:-acl1_10k}
SECS=${SECS:-5}
LCORE=${LCORE:-1}
CB=${CLASSBENCH_DIR:-../shared/classbench}
# Every contestant's EAL memory: 1 GiB of 4 KiB pages (--no-huge), or with HUGE=1
# of 2 MiB hugepages (bench/hugepages.sh).
# shellcheck source=bench/hugepages.sh
source bench/hugepages.sh
EAL_COMMON=("${EAL_MEM[@]}" --no-pci --no-shconf --no-telemetry --log-level=lib.eal:error)

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
if [ -z "${L3FWD:-}" ]; then
  echo "building DPDK's l3fwd (bench/build_l3fwd.sh)..." >&2
  l3=$(bash bench/build_l3fwd.sh) || { echo "bench/build_l3fwd.sh failed: no l3fwd-acl peer (see above)" >&2; exit 1; }
  read -r L3FWD L3FWD_SHIM <<<"$l3"
fi
work=$(mktemp -d)
l3prefix=dpufw-l3fwd-$$
trap 't_cleanup; rm -rf "$work" "/var/run/dpdk/$l3prefix" "/var/run/dpdk/dpufw-testpmd-$$"' EXIT
# net_pcap's infinite_rx holds every packet of the file in mbufs.
PACKETS=${PACKETS:-32768}
FLOWS=${FLOWS:-100000}
python3 bench/classbench_export.py "$rules" "$trace" "$work" --packets "$PACKETS" --flows "$FLOWS" >&2
CHECK_PACKETS=$((2 * PACKETS)) # check.pcap: the trace's PACKETS and as many altered

vdevs=(--vdev="net_pcap0,rx_pcap=$work/trace.pcap,infinite_rx=1" --vdev="net_null0,no-rx=1")
MBUFS=$((2 * PACKETS + 8192))

# free_port, tel_counts, forwarded
# shellcheck source=bench/counts.sh
source bench/counts.sh

# The turns of steps 1-3: contestants are started, warmed up (2 s) and stopped;
# t_pids/t_reads hold each one's pid and how to read its forwarded count
# ("fw PORT": dpu-fw's metrics; "tel PREFIX": ethdev stats over DPDK telemetry).
t_names=(); t_pids=(); t_reads=(); t_order=()
t_cleanup() {
  local p
  for p in "${t_pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -INT "$p" 2>/dev/null || true; done
  for p in "${t_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  t_names=(); t_pids=(); t_reads=(); t_order=()
}
t_fw() { # NAME CONFIG [BINARY, default $FW]
  local port log="$work/t_$1.log"
  port=$(free_port)
  "${3:-$FW}" run --config "$2" --metrics "127.0.0.1:$port" --mbufs "$MBUFS" --control off \
    -- -l "$LCORE" "${EAL_COMMON[@]}" "${vdevs[@]}" >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do grep -q READY "$log" 2>/dev/null && break; sleep 0.1; done
  grep -q READY "$log" || { cat "$log" >&2; kill $pid; exit 1; }
  sleep 2
  kill -STOP $pid
  t_names+=("$1"); t_pids+=("$pid"); t_reads+=("fw $port")
}
t_testpmd() { # NAME
  local log="$work/t_$1.log" prefix="dpufw-testpmd-$$"
  # Line-buffered: the line waited for below can otherwise sit in stdio's buffer
  # (a Zen 5 host, 2026-12-06: testpmd's log stopped at "Checking link statuses...").
  stdbuf -oL dpdk-testpmd -l "0,$LCORE" "${EAL_MEM[@]}" --no-pci --no-shconf --file-prefix="$prefix" \
    --log-level=lib.eal:error "${vdevs[@]}" -- --forward-mode=io --auto-start --nb-cores=1 \
    --stats-period=3600 --total-num-mbufs="$MBUFS" >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do grep -q 'forwards packets on' "$log" 2>/dev/null && break; sleep 0.1; done
  grep -q 'forwards packets on' "$log" || { cat "$log" >&2; kill $pid; exit 1; }
  sleep 2
  kill -STOP $pid
  t_names+=("$1"); t_pids+=("$pid"); t_reads+=("tel $prefix")
}
t_l3fwd() { # NAME RULES_V4
  l3fwd_start "$2" "${vdevs[@]}"
  sleep 2
  kill -STOP "$l3pid"
  t_names+=("$1"); t_pids+=("$l3pid"); t_reads+=("tel $l3prefix")
}
# Runs the turns; writes one line per round (each contestant's Mpps, in the
# order they were started) to FILE. The turns of a round run in t_order (indexes
# into t_pids; default: start order), reversed every second round: two contestants
# whose ratio is reported run back to back (this VM's speed moves within seconds),
# and neither always goes first.
t_run() { # FILE
  : >"$1"
  local r i
  local -a order
  if [ ${#t_order[@]} -gt 0 ]; then order=("${t_order[@]}"); else order=("${!t_pids[@]}"); fi
  for r in $(seq "${ROUNDS:-20}"); do
    local -a turns=() rate=()
    if (( r % 2 )); then turns=("${order[@]}"); else
      for (( i = ${#order[@]} - 1; i >= 0; i-- )); do turns+=("${order[$i]}"); done
    fi
    for i in "${turns[@]}"; do
      kill -CONT "${t_pids[$i]}"; sleep 0.2
      local a b
      # shellcheck disable=SC2086
      a=$(forwarded ${t_reads[$i]}); sleep "${ROUND_SECS:-1}"; b=$(forwarded ${t_reads[$i]})
      kill -STOP "${t_pids[$i]}"
      rate[$i]=$(python3 -c "a, b = '$a'.split(), '$b'.split(); print((float(b[0]) - float(a[0])) / (float(b[1]) - float(a[1])) / 1e6)")
    done
    local line=""
    for i in "${!t_pids[@]}"; do line+="${rate[$i]} "; done
    echo "$line" >>"$1"
    echo "  round $r/${ROUNDS:-20}: $line" >&2
  done
}

# Two dpu-fw run instances on the same lcore, measured in turns (t_run above).
# Prints "median-of-round-ratios mean-a mean-b" (ratio b/a, rates in Mpps).
# FW_A / FW_B: the binaries of the two sides (default: both $FW). Half the rounds
# run with a started first, half (both restarted) with b first: an A/A of one
# build had favoured the side started second by up to 9% (2026-12-06).
fw_turns() {
  local half=$(( (${ROUNDS:-20} + 1) / 2 ))
  : >"$work/turns_ab"
  t_fw a "$1" "${FW_A:-$FW}"
  t_fw b "$2" "${FW_B:-$FW}"
  ROUNDS=$half t_run "$work/turns"
  t_cleanup
  cat "$work/turns" >>"$work/turns_ab"
  t_fw b "$2" "${FW_B:-$FW}"
  t_fw a "$1" "${FW_A:-$FW}"
  ROUNDS=$(( ${ROUNDS:-20} - half )) t_run "$work/turns"
  t_cleanup
  # t_run's columns follow the start order: back to (a, b).
  awk '{print $2, $1}' "$work/turns" >>"$work/turns_ab"
  python3 - "$work/turns_ab" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
a = [r[0] for r in rows]; b = [r[1] for r in rows]
print(f"{statistics.median(y / x for x, y in rows):.4f} {statistics.mean(a):.4f} {statistics.mean(b):.4f}")
PY
}

# l3fwd: one lcore polling both ports (as testpmd's one forwarding core does),
# rules from classbench_export.py, --parse-ptype because the vdevs set no packet
# type (l3fwd's ACL path only classifies packets typed IPv4/IPv6). The Rx queue
# size only sizes its mbuf pool (2 ports x queue size + its Tx rings), which
# must hold the whole replayed file, as testpmd's --total-num-mbufs does; the
# vdevs ignore it (it is 16 bits: PACKETS above ~130000 do not fit). Its counters are read from its ethdev stats over DPDK
# telemetry (so its EAL runs without --no-telemetry): l3fwd prints none.
# 512-bit SIMD allowed: DPDK's default (256) keeps rte_acl from its fastest method
# on an AVX-512 CPU (avx512x32, 1.2-1.7x faster than its avx512x16 in `dpu-fw bench`); rte_acl
# then picks the best the CPU has.
L3FWD_EAL=("${EAL_MEM[@]}" --no-pci --no-shconf --file-prefix="$l3prefix" --log-level=lib.eal:error
  --force-max-simd-bitwidth=512)
l3fwd_start() { # RULES_V4 VDEV...
  local v4=$1; shift
  LD_PRELOAD="$L3FWD_SHIM" "$L3FWD" -l "$LCORE" "${L3FWD_EAL[@]}" "$@" -- \
    -p 0x3 --config="(0,0,$LCORE),(1,0,$LCORE)" --lookup=acl --parse-ptype \
    --rule_ipv4="$v4" --rule_ipv6="$work/l3fwd_ipv6.rules" ${L3FWD_ALG:+--alg="$L3FWD_ALG"} \
    --rx-queue-size="$(( PACKETS < 1024 ? 1024 : PACKETS > 65535 ? 65535 : PACKETS ))" >"$work/l3fwd.log" 2>&1 &
  l3pid=$!
  for _ in $(seq 200); do grep -q 'entering main loop' "$work/l3fwd.log" 2>/dev/null && break; sleep 0.1; done
  grep -q 'entering main loop' "$work/l3fwd.log" || { cat "$work/l3fwd.log" >&2; kill $l3pid; exit 1; }
  # rte_acl's context dump names the classify method it runs (RTE_ACL_CLASSIFY_*:
  # 3 avx2, 6 avx512x16, 7 avx512x32).
  local alg
  alg=$(grep -o 'alg=[0-9]*' "$work/l3fwd.log" | sort -u | tr '\n' ' ')
  echo "l3fwd-acl: rte_acl ${alg:-method unknown: no context dump in the l3fwd log}" >&2
}
l3fwd_stop() { kill -INT $l3pid; wait $l3pid || true; }
# Counts "received forwarded" once all CHECK_PACKETS of check.pcap are in and
# the forwarded count has stopped moving (5 s at most).
settle() { # command printing "rx tx"
  local now last=
  for _ in $(seq 50); do
    now=$("$@" | awk '{print $1, $2}')
    [ "${now%% *}" = "$CHECK_PACKETS" ] && [ "$now" = "$last" ] && break
    last=$now
    sleep 0.1
  done
  echo "$now"
}
check_vdevs=(--vdev="net_pcap0,rx_pcap=$work/check.pcap" --vdev="net_null0,no-rx=1")
l3fwd_check() {
  l3fwd_start "$1" "${check_vdevs[@]}"
  settle tel_counts "$l3prefix"
  l3fwd_stop
}
fw_check() {
  local port
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  "$FW" run --config "$1" --metrics "127.0.0.1:$port" --mbufs "$MBUFS" --control off \
    -- -l "$LCORE" "${EAL_COMMON[@]}" "${check_vdevs[@]}" >"$work/fw.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do grep -q READY "$work/fw.log" 2>/dev/null && break; sleep 0.1; done
  grep -q READY "$work/fw.log" || { cat "$work/fw.log" >&2; kill $pid; exit 1; }
  fw_counts() {
    curl -s "127.0.0.1:$port/metrics" | awk '
      /^dpufw_port_rx_packets_total\{port="p0"\}/ {rx=$2}
      /^dpufw_port_tx_packets_total\{port="p1"\}/ {tx=$2}
      END {printf "%d %d\n", rx, tx}'
  }
  settle fw_counts
  kill -TERM $pid; wait $pid || true
}

echo "checking that l3fwd-acl and dpu-fw run forward the same packets of check.pcap ($CHECK_PACKETS)..." >&2
equiv=()
for pair in "policy.toml l3fwd_ipv4.rules" "policy_mixed.toml l3fwd_mixed_ipv4.rules"; do
  read -r pol v4 <<<"$pair"
  l3c=$(l3fwd_check "$work/$v4")
  fwc=$(fw_check "$work/$pol")
  echo "  $pol: l3fwd-acl received/forwarded $l3c, dpu-fw run $fwc" >&2
  if [ "${l3c%% *}" != "$CHECK_PACKETS" ] || [ "${fwc%% *}" != "$CHECK_PACKETS" ] || [ "${l3c#* }" != "${fwc#* }" ]; then
    echo "l3fwd-acl and dpu-fw run do not forward the same packets under $pol" \
      "(received/forwarded: l3fwd-acl $l3c, dpu-fw run $fwc, of $CHECK_PACKETS)" >&2
    exit 1
  fi
  equiv+=("${l3c#* }")
done
[ -n "${CHECK_ONLY:-}" ] && { echo "CHECK_ONLY: the same packets forwarded under both policies: ok"; exit 0; }

# AB=path/to/another/dpu-fw: only compare that build (a) with $FW (b) in turns,
# on the one-rule policy and on the set's policy, and stop.
# AB_CT=1: also the set's policy with [conntrack] on the FLOWS replay (as step 5).
if [ -n "${AB:-}" ]; then
  for conf in one_rule policy ${AB_CT:+policy_ct}; do
    if [ "$conf" = policy_ct ]; then
      vdevs=(--vdev="net_pcap0,rx_pcap=$work/flows.pcap,infinite_rx=1" --vdev="net_null0,no-rx=1")
      MBUFS=$((2 * FLOWS + 8192))
    fi
    echo "measuring $AB (a) and $FW (b) in turns, $conf.toml..." >&2
    read -r ratio ra rb < <(FW_A="$AB" FW_B="$FW" fw_turns "$work/$conf.toml" "$work/$conf.toml")
    echo "$conf.toml: b / a = $ratio, median of ${ROUNDS:-20} turn pairs (mean Mpps a $ra, b $rb)"
  done
  exit 0
fi

# Half the rounds with the five started in the order testpmd, l3fwd-acl, empty, one
# rule, the set, and half (all restarted) in the reverse order: an A/A of one dpu-fw
# build in turns had favoured the instance started second by up to 9% (2026-12-06),
# and the set started last would have gained from it. Turn order within a round:
# testpmd, empty, one rule, the set, l3fwd-acl (reversed every second round): the
# pairs of the ratios below (empty/testpmd, the set/one rule for the bound, the
# set/l3fwd-acl) run back to back. The rounds file's columns are always testpmd,
# l3fwd-acl, empty, one rule, the set.
half=$(( (${ROUNDS:-20} + 1) / 2 ))
: >"$work/rounds"
for start_order in forward reverse; do
  echo "starting dpdk-testpmd io, l3fwd --lookup=acl ($SET rules), dpu-fw run (empty, one-rule and $SET policies; $start_order start order)..." >&2
  if [ "$start_order" = forward ]; then
    t_testpmd testpmd
    t_l3fwd l3fwd "$work/l3fwd_ipv4.rules"
    t_fw empty "$work/empty.toml"
    t_fw one "$work/one_rule.toml"
    t_fw full "$work/policy.toml"
    t_order=(0 2 3 4 1)
    n_rounds=$half
  else
    t_fw full "$work/policy.toml"
    t_fw one "$work/one_rule.toml"
    t_fw empty "$work/empty.toml"
    t_l3fwd l3fwd "$work/l3fwd_ipv4.rules"
    t_testpmd testpmd
    t_order=(4 2 1 0 3)
    n_rounds=$(( ${ROUNDS:-20} - half ))
  fi
  echo "measuring them in turns: $n_rounds rounds of ${ROUND_SECS:-1} s each..." >&2
  ROUNDS=$n_rounds t_run "$work/rounds_half"
  t_cleanup
  if [ "$start_order" = forward ]; then
    cat "$work/rounds_half" >>"$work/rounds"
  else
    awk '{print $5, $4, $3, $2, $1}' "$work/rounds_half" >>"$work/rounds"
  fi
done
echo "measuring the classifier alone (dpu-fw bench)..." >&2
# The lookup the dataplane makes: the RFC tables' when `optimize` builds them (the sw
# backend builds them after the install batch, within the same 16 MiB), else the trees'.
lookup=$("$FW" bench --rules "$rules" --trace "$trace" --format classbench --optimize-mib 16 --json |
  python3 -c 'import json,sys; r = json.load(sys.stdin); o = r.get("optimized") or {}
print(o["lookup_ns_per_packet"] if o.get("built") else r["lookup_ns_per_packet"])')

echo "measuring dpu-fw run, $SET policy with and without conntrack on $FLOWS flows..." >&2
vdevs=(--vdev="net_pcap0,rx_pcap=$work/flows.pcap,infinite_rx=1" --vdev="net_null0,no-rx=1")
MBUFS=$((2 * FLOWS + 8192))
read -r ct_ratio plain ct < <(fw_turns "$work/policy.toml" "$work/policy_ct.toml")

python3 - "$work/rounds" "$lookup" "$SET" "$ct_ratio" "$plain" "$ct" "${ROUNDS:-20}" "$FLOWS" \
  "$CHECK_PACKETS" "${equiv[@]}" <<'PY'
import statistics, sys
# Per round: testpmd, l3fwd-acl, empty, one rule, the set (the order of t_* above).
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
lookup = float(sys.argv[2])
name = sys.argv[3]
ct_ratio, plain, ct = map(float, sys.argv[4:7])
rounds = sys.argv[7]
flows = sys.argv[8]
check, fwd_all, fwd_mixed = sys.argv[9:12]
ns = lambda mpps: 1e3 / mpps if mpps > 0 else float("inf")
med = lambda xs: statistics.median(xs)
peer, l3acl, empty, one, full = (med(r[k] for r in rows) for k in range(5))
# Ratios: the median of each round's ratio (both sides measured a second apart).
r_l3 = med(r[4] / r[1] for r in rows)
r_empty = med(r[2] / r[0] for r in rows)
# The bound per round: the set's ns/packet over 1.3 x (lookup + that round's one rule).
r_bound = med(ns(r[4]) / (1.3 * (lookup + ns(r[3]))) for r in rows)
print(f"{'':34} {'Mpps':>8} {'ns/pkt':>8}   (medians of {len(rows)} turns)")
print(f"{'dpdk-testpmd io (peer)':34} {peer:8.2f} {ns(peer):8.1f}")
print(f"{'l3fwd --lookup=acl, ' + name:34} {l3acl:8.2f} {ns(l3acl):8.1f}")
print(f"{'dpu-fw run, empty policy':34} {empty:8.2f} {ns(empty):8.1f}")
print(f"{'dpu-fw run, one rule (tcp/80)':34} {one:8.2f} {ns(one):8.1f}")
print(f"{'dpu-fw run, ' + name:34} {full:8.2f} {ns(full):8.1f}")
print(f"{'classifier lookup alone':34} {'':8} {lookup:8.1f}   (RFC tables when built, as in the dataplane)")
print(f"same packets forwarded, of {check} in check.pcap: {fwd_all} (all rules accept), "
      f"{fwd_mixed} (every second rule drops), by both l3fwd-acl and dpu-fw run: ok")
target = {"acl1_10k": 1.5, "acl1_1k": 1.0, "fw1_10k": 1.0}.get(name)
verdict = f"(target >= {target:.2f}): {'ok' if r_l3 >= target else 'MISSED'}" if target else "(no target for this set)"
print(f"dpu-fw run / l3fwd-acl = {r_l3:.2f} {verdict};  testpmd / l3fwd-acl = {med(r[0] / r[1] for r in rows):.2f}")
print(f"empty policy / testpmd = {r_empty:.2f} (target >= 0.60): {'ok' if r_empty >= 0.6 else 'MISSED'}")
bound = 1.3 * (lookup + ns(one))
print(f"{name}: {ns(full):.1f} ns/pkt vs 1.3 x (lookup {lookup:.1f} + one rule {ns(one):.1f}) = {bound:.1f}; "
      f"per turn {r_bound:.2f} of the bound (median): {'ok' if r_bound <= 1 else 'MISSED'}")
print(f"{'dpu-fw run, ' + name + ', ' + flows + ' flows':34} {plain:8.2f} {ns(plain):8.1f}   (mean of {rounds} turns)")
print(f"{'  + conntrack, ' + flows + ' live':34} {ct:8.2f} {ns(ct):8.1f}   (mean of {rounds} turns)")
print(f"conntrack / without = {ct_ratio:.2f}, median of {rounds} turn pairs (mean rates: {ct / plain if plain else 0:.2f}) "
      f"(target >= 0.80): {'ok' if ct_ratio >= 0.8 else 'MISSED'}")
PY

# 6. Scaling with cores (bench/workers.sh: its own ports, two receive queues).
if [ "${WORKERS:-1}" != 0 ]; then
  FW="$FW" SET="$SET" SECS="$SECS" PACKETS="$PACKETS" CLASSBENCH_DIR="$CB" bash bench/workers.sh
fi
