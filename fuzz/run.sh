#!/usr/bin/env bash
# Runs the libFuzzer targets of fuzz/ for a fixed time each; fails if any target finds
# a crash (a panic, an assertion, a sanitizer report, a timeout or running out of memory).
#
#   fuzz/run.sh short [TARGET...]   # 20 s per target (what CI runs)
#   fuzz/run.sh long [TARGET...]    # 10 min per target
#   fuzz/run.sh SECONDS [TARGET...] # any time per target
#
# No target named: all of them (`cargo fuzz list`). Works on the stable toolchain:
# cargo-fuzz's sanitizer flags are nightly-only, and RUSTC_BOOTSTRAP=1 lets stable
# rustc take them. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`).
#
# Each target starts from its checked-in seeds (fuzz/seeds/TARGET) and grows its corpus
# in fuzz/corpus/TARGET (not checked in). A crash leaves its input in
# fuzz/artifacts/TARGET/; replay it with `fuzz/run.sh replay TARGET FILE`.
# Logs: fuzz/logs/TARGET.log. The summary table at the end is what docs/reliability.md
# reports.
set -euo pipefail
cd "$(dirname "$0")"

export RUSTC_BOOTSTRAP=1
toolchain=(+"${FUZZ_TOOLCHAIN:-stable}")
command -v rustup >/dev/null || toolchain=()
cargo_fuzz() { cargo "${toolchain[@]}" fuzz "$@"; }

mode=${1:-short}
shift || true
case "$mode" in
  short) secs=20 ;;
  long) secs=600 ;;
  replay)
    [ $# -eq 2 ] || { echo "usage: fuzz/run.sh replay TARGET FILE" >&2; exit 2; }
    exec cargo "${toolchain[@]}" fuzz run "$1" "$2"
    ;;
  *[!0-9]* | '') echo "usage: fuzz/run.sh short|long|SECONDS|replay [TARGET...]" >&2; exit 2 ;;
  *) secs=$mode ;;
esac

cargo_fuzz --version >/dev/null 2>&1 || {
  echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 1
}

if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo_fuzz list); fi

# One build of every target (address sanitizer, debug assertions, release).
cargo_fuzz build

mkdir -p logs
failed=()
rows=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  printf '\n--- %s (%s s)\n' "$t" "$secs"
  # -timeout: one input taking longer is a failure (a hang); -rss_limit_mb: so is
  # using more memory than a small machine has to spare.
  if cargo_fuzz run "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$secs" -max_len=8192 -timeout=20 -rss_limit_mb=2048 \
      -print_final_stats=1 >"logs/$t.log" 2>&1; then
    result=none
  else
    result="CRASH (see fuzz/logs/$t.log, fuzz/artifacts/$t/)"
    failed+=("$t")
    grep -E 'panicked at|ERROR: |SUMMARY: |Test unit written' "logs/$t.log" | head -n 8 >&2 || true
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log" | tail -n 1)
  if [ "$result" = none ] && [ "${runs:-0}" -eq 0 ]; then
    # A target that ran nothing proves nothing: fail rather than report a clean run.
    result="RAN NOTHING (see fuzz/logs/$t.log)"
    failed+=("$t")
  fi
  time=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "logs/$t.log" | tail -n 1)
  corpus=$(find "corpus/$t" -type f | wc -l)
  echo "$t: ${runs:-?} executions in ${time:-?} s, corpus $corpus inputs, findings: $result"
  rows+=("| \`$t\` | ${runs:-?} | ${time:-?} s | $corpus | $result |")
done

printf '\n| target | executions | time | corpus | findings |\n|---|---|---|---|---|\n'
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${secs} s each, no crash"
