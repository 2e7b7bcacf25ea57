#!/usr/bin/env python3
"""Instructions per frame of one function, instruction by instruction.

bench/instructions.sh runs it when PROFILE is set (PROFILE=burst_cost::main bash
bench/instructions.sh): callgrind ran the bench for N and 3N bursts with
--dump-instr=yes, and the difference of the two runs' counts at each instruction
address, over the 2N x 64 frames between them, is that instruction's executions per
frame (the setup's cancel, as in the total). Prints the function's (and what the
compiler inlined into it) instructions per frame, then the source lines that cost
most, then the disassembly (objdump) of every instruction run at least --min times per
frame, with its source line.

usage: instruction_profile.py SHORT.out LONG.out FRAMES BINARY FUNCTION [--min X] [--lines N]
  SHORT.out, LONG.out  callgrind files (--dump-instr=yes --compress-strings=no
                       --compress-pos=no) of the short and the long run
  FRAMES               frames the long run processed beyond the short one
  FUNCTION             a substring of the (demangled) function name
"""
import argparse
import collections
import re
import subprocess
import sys


def costs_of(path, want):
    """{address: (Ir, 'file:line')} of the instructions of functions whose name holds `want`."""
    costs, src = collections.Counter(), {}
    fn, file, last, after_call = None, "", [0, 0], False

    def pos(tok, i):
        if tok == "*":
            return last[i]
        if tok[0] in "+-":
            return last[i] + int(tok, 0)
        return int(tok, 0)

    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            m = re.match(r"^(fn|cfn|fl|fi|fe|cfi|cfl|ob|cob)=(.*)$", line)
            if m:
                kind, name = m.groups()
                if re.match(r"^\(\d+\)", name):
                    sys.exit(f"{path}: compressed names; run callgrind with --compress-strings=no")
                if kind == "fn":
                    fn = name
                elif kind in ("fl", "fi", "fe"):
                    file = name.rsplit("/", 1)[-1]
                continue
            if line.startswith("calls="):
                after_call = True
                continue
            if line[0] in "0123456789+-*":
                toks = line.split()
                a = pos(toks[0], 0)
                ln = pos(toks[1], 1) if len(toks) > 1 else last[1]
                last[0], last[1] = a, ln
                if after_call:  # the inclusive cost of a call: not this function's own
                    after_call = False
                    continue
                if fn and want in fn and len(toks) > 2:
                    costs[a] += int(toks[2])
                    src[a] = f"{file}:{ln}"
    return costs, src


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("short")
    ap.add_argument("long")
    ap.add_argument("frames", type=int)
    ap.add_argument("binary")
    ap.add_argument("function")
    ap.add_argument("--min", type=float, default=0.5, help="list instructions run at least this often per frame")
    ap.add_argument("--lines", type=int, default=25, help="how many source lines to list")
    a = ap.parse_args()
    if a.frames <= 0:
        sys.exit("FRAMES must be positive")
    short, _ = costs_of(a.short, a.function)
    long_, src = costs_of(a.long, a.function)
    if not long_:
        sys.exit(f"no function matching {a.function!r} ran (inlined into its caller? name the caller)")
    per = {addr: (long_[addr] - short.get(addr, 0)) / a.frames for addr in long_}
    print(f"{a.function}: {sum(per.values()):.1f} instructions per frame (its own and what is inlined into it)")
    by_line = collections.Counter()
    for addr, c in per.items():
        by_line[src[addr]] += c
    print(f"\nsource lines, instructions per frame (top {a.lines}):")
    for ln, c in by_line.most_common(a.lines):
        print(f"{c:8.1f}  {ln}")
    lo, hi = min(per), max(per)
    dis = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", "-C", f"--start-address={lo}", f"--stop-address={hi + 16}", a.binary],
        capture_output=True, text=True, check=True,
    ).stdout
    print(f"\ninstructions run at least {a.min} times per frame (per frame, source line, address, instruction):")
    for l in dis.splitlines():
        m = re.match(r"^\s+([0-9a-f]+):\s+(.*)$", l)
        if m and per.get(int(m.group(1), 16), 0) >= a.min:
            addr = int(m.group(1), 16)
            print(f"{per[addr]:6.2f}  {src[addr]:<24} {addr:x}  {m.group(2)[:100]}")


if __name__ == "__main__":
    main()
