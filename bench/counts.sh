# Sourced by bench/dataplane.sh and bench/profile.sh: how a forwarder's packet
# counts are read.
# shellcheck shell=bash

# A free TCP port on 127.0.0.1 (for dpu-fw run's --metrics).
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# "port-0-received port-1-sent unix-time" of a DPDK process started with
# --file-prefix=PREFIX and telemetry on (testpmd, l3fwd), read over its telemetry
# socket (the time of the reading because python's start takes tens of ms: a rate
# is over the time between two readings).
tel_counts() { # PREFIX
  python3 - "/var/run/dpdk/$1/dpdk_telemetry.v2" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
size = json.loads(s.recv(65536)).get("max_output_len", 16384)
def stats(port):
    s.send(f"/ethdev/stats,{port}".encode())
    return json.loads(s.recv(size))["/ethdev/stats"]
print(stats(0)["ipackets"], stats(1)["opackets"], f"{time.time():.6f}")
PY
}

# "port-1-sent unix-time" of a forwarder: `fw PORT` for dpu-fw run (its metrics on
# 127.0.0.1:PORT), `tel PREFIX` for a DPDK process (tel_counts).
forwarded() { # fw PORT | tel PREFIX
  if [ "$1" = fw ]; then
    echo "$(curl -s "127.0.0.1:$2/metrics" | awk '/^dpufw_port_tx_packets_total\{port="p1"\}/ {print $2}') $(date +%s.%N)"
  else
    local c; c=$(tel_counts "$2"); echo "${c#* }"
  fi
}
