#!/usr/bin/env bash
# Builds examples/c/demo.c with the system C compiler against the dpu-fw C library,
# static and shared, and runs both on the demo policy and traffic:
#
#   examples/c/build.sh [LIBDIR] [software|hardware]
#
# LIBDIR holds libdpufw.a and libdpufw.so (default target/release; build them with
# `cargo build --release -p dpu-fw-capi`, adding `--features doca-emu` for `hardware`).
# The programs go to LIBDIR/c-demo/. Exits non-zero if a build fails or a check in
# demo.c does not hold.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
libdir=$(cd "${1:-$root/target/release}" && pwd)
mode=${2:-software}
cc=${CC:-cc}
out="$libdir/c-demo"
mkdir -p "$out"
for f in libdpufw.a libdpufw.so; do
  [ -f "$libdir/$f" ] || { echo "$libdir/$f not found: cargo build --release -p dpu-fw-capi" >&2; exit 1; }
done

# The system libraries the static library needs, as rustc lists them:
#   cargo rustc --release -p dpu-fw-capi [--features doca-emu] --lib --crate-type staticlib \
#     -- --print native-static-libs
# A library built with DPDK (features dpdk, doca-emu) needs DPDK's (shared) libraries
# too; one built against the DOCA SDK, DOCA's (take them from that command there).
sys_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
# (ldd's output is read whole before grep: `ldd | grep -q` can fail under pipefail when
# grep stops reading early.)
lib_deps=$(ldd "$libdir/libdpufw.so")
if grep -q librte_eal <<<"$lib_deps"; then
  sys_libs="-lrte_acl -lrte_ethdev -lrte_mbuf -lrte_mempool -lrte_ring -lrte_eal -lrte_kvargs -lrte_bus_vdev $sys_libs"
fi
cflags="-std=c11 -Wall -Wextra -Werror -O2 -I$root/include"

# Static: the library's objects go into the program.
$cc $cflags "$here/demo.c" "$libdir/libdpufw.a" $sys_libs -o "$out/demo-static"
# Shared: found at run time through the rpath.
$cc $cflags "$here/demo.c" -L"$libdir" -ldpufw -Wl,-rpath,"$libdir" -o "$out/demo-shared"

# The shared program must find the library through its rpath alone (cargo test, for
# one, sets LD_LIBRARY_PATH to its target directories).
unset LD_LIBRARY_PATH
for kind in static shared; do
  echo "--- demo-$kind ($mode backend)"
  "$out/demo-$kind" "$root/examples/firewall.toml" "$here/demo-traffic.txt" "$mode"
done
static_deps=$(ldd "$out/demo-static")
if grep -q libdpufw <<<"$static_deps"; then
  echo "demo-static links libdpufw.so: it should contain the library" >&2
  exit 1
fi
shared_deps=$(ldd "$out/demo-shared")
grep -q "libdpufw.so => $libdir/libdpufw.so" <<<"$shared_deps" || {
  echo "demo-shared does not load $libdir/libdpufw.so" >&2
  exit 1
}
echo "ok: the C example passed against the static and the shared library ($mode backend)"
