#!/usr/bin/env python3
"""ClassBench rules and trace -> a dpu-fw policy (TOML) and a pcap of the
trace's packets, for the dataplane benchmark (bench/dataplane.sh).

    classbench_export.py RULES TRACE OUT_DIR [--packets N] [--flows N]

RULES and TRACE may be gzip files. Writes OUT_DIR/policy.toml (two ports,
p0 -> p1; every ClassBench rule, first line first, accepts; default drop),
OUT_DIR/empty.toml (the same ports, no rules, default accept) and
OUT_DIR/trace.pcap (the first N trace headers as Ethernet/IPv4 frames:
TCP or UDP with the trace's ports, other protocols as raw IP).

With --flows N, also OUT_DIR/policy_ct.toml (the same policy with connection
tracking on every port) and OUT_DIR/flows.pcap: one packet of each of N distinct
5-tuples of the trace (more passes over it, with the source port moved, when it
has fewer), TCP as SYNs. Replayed in a loop, each flow's first packet
opens a connection and every later one is a retransmission that the tracker
looks up and updates (an ACK would be `invalid`: no connection is picked up in
the middle), so the replay keeps N connections live.
"""
import gzip
import struct
import sys
from pathlib import Path


def read_text(path):
    p = Path(path)
    data = p.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode()


PORTS = """[ports.p0]
role = "uplink"
id = 0
peer = "p1"

[ports.p1]
role = "host"
id = 1
peer = "p0"
"""


def policy(rules_text):
    out = [PORTS, '[defaults]\ninbound = "drop"\noutbound = "drop"\n']
    for n, line in enumerate(rules_text.splitlines(), 1):
        if not line.startswith("@"):
            continue
        t = line[1:].split()
        if len(t) < 9:
            sys.exit(f"rules line {n}: expected at least 9 fields, got {len(t)}")
        src, dst = t[0], t[1]
        sp = (int(t[2]), int(t[4]))
        dp = (int(t[5]), int(t[7]))
        pv, pm = (int(x, 16) for x in t[8].split("/"))
        r = [f'[[rules]]\nname = "r{n - 1}"\naction = "accept"\nfamily = "ipv4"']
        if not src.endswith("/0"):
            r.append(f'src = "{src}"')
        if not dst.endswith("/0"):
            r.append(f'dst = "{dst}"')
        if pm == 0xFF:
            r.append(f"protocol = {pv}")
        for key, (lo, hi) in (("src_port", sp), ("dst_port", dp)):
            if (lo, hi) != (0, 65535):
                r.append(f'{key} = "{lo}-{hi}"' if lo != hi else f"{key} = {lo}")
        out.append("\n".join(r) + "\n")
    return "\n".join(out)


def frame(sa, da, sp, dp, proto, tcp_flags=0x10):
    eth = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", sp, dp, 1, 0, 0x50, tcp_flags, 65535, 0, 0)
    elif proto == 17:
        l4 = struct.pack("!HHHH", sp, dp, 8 + 18, 0) + b"\0" * 18
    else:
        l4 = b"\0" * 26
    total = 20 + len(l4)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, proto, 0,
                     sa.to_bytes(4, "big"), da.to_bytes(4, "big"))
    s = sum(struct.unpack("!10H", ip))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    ip = ip[:10] + struct.pack("!H", ~s & 0xFFFF) + ip[12:]
    f = eth + ip + l4
    return f + b"\0" * max(0, 60 - len(f))


def pcap(trace_text, limit, distinct=False):
    """The first `limit` trace headers as a pcap; with `distinct`, `limit`
    distinct 5-tuples, going over the trace again with the source port moved
    by one per pass when the trace has fewer (ClassBench rules rarely constrain
    the source port)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    n = 0
    seen = set()
    headers = []
    for ln, line in enumerate(trace_text.splitlines(), 1):
        t = line.split()
        if not t:
            continue
        if len(t) < 5:
            sys.exit(f"trace line {ln}: expected 5+ columns")
        headers.append(tuple(int(x) for x in t[:5]))
    passes = 0
    while n < limit and headers and passes < 65536:
        for sa, da, sp, dp, proto in headers:
            if distinct:
                sp = (sp + passes) % 65536 if proto in (6, 17) else sp
                key = (sa, da, sp, dp, proto)
                if key in seen:
                    continue
                seen.add(key)
            d = frame(sa, da, sp, dp, proto, 0x02 if distinct else 0x10)
            out.append(struct.pack("<IIII", n // 1000000, n % 1000000, len(d), len(d)) + d)
            n += 1
            if n >= limit:
                break
        if not distinct:
            break
        passes += 1
    return b"".join(out), n


def main():
    args = sys.argv[1:]
    limit = 65536
    flows = 0
    if "--packets" in args:
        i = args.index("--packets")
        limit = int(args[i + 1])
        del args[i:i + 2]
    if "--flows" in args:
        i = args.index("--flows")
        flows = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 3:
        sys.exit(__doc__)
    rules, trace, out = args
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "policy.toml").write_text(policy(read_text(rules)))
    (out / "empty.toml").write_text(PORTS + '\n[defaults]\ninbound = "accept"\noutbound = "accept"\n')
    trace_text = read_text(trace)
    data, n = pcap(trace_text, limit)
    (out / "trace.pcap").write_bytes(data)
    print(f"wrote {out}/policy.toml, {out}/empty.toml and {n} packets to {out}/trace.pcap")
    if flows:
        pol = policy(read_text(rules))
        ct = f"\n[conntrack]\nmax_connections = {max(2 * flows, 1024)}\n"
        (out / "policy_ct.toml").write_text(pol + ct)
        data, n = pcap(trace_text, flows, distinct=True)
        (out / "flows.pcap").write_bytes(data)
        print(f"wrote {out}/policy_ct.toml and {n} distinct flows to {out}/flows.pcap")


if __name__ == "__main__":
    main()
