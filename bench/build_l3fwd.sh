#!/usr/bin/env bash
# Builds DPDK's examples/l3fwd (the peer for bench/dataplane.sh's l3fwd-acl
# step) from Debian's source package of the installed DPDK, against the
# installed libdpdk (pkg-config), and bench/l3fwd_offload_shim.c beside it,
# and prints both paths, binary first, on one line on stdout.
#
#   bench/build_l3fwd.sh          # progress on stderr, the paths on stdout
#
# The shim (an LD_PRELOAD library; the file says why) lets l3fwd configure
# net_pcap and net_null ports, which lack the Rx checksum offload it asks for.
#
# The source is fetched once with `apt-get source dpdk` into
# L3FWD_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/dpu-fw/dpdk-src) and
# reused, as is the built binary. If apt has no deb-src entries, they are
# enabled (needs root) by adding deb-src to the Types of
# /etc/apt/sources.list.d/debian.sources, followed by `apt-get update`.
# Nothing is patched: the example is built as Debian ships it.
#
# Needs: libdpdk-dev (pkg-config libdpdk), dpkg-dev (dpkg-source), make, cc.
set -euo pipefail

CACHE=${L3FWD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dpu-fw/dpdk-src}
say() { echo "build_l3fwd: $*" >&2; }
die() { echo "build_l3fwd: error: $*" >&2; exit 1; }

command -v pkg-config >/dev/null || die "pkg-config not found: apt-get install pkg-config"
ver=$(pkg-config --modversion libdpdk 2>/dev/null) ||
  die "pkg-config finds no libdpdk: apt-get install libdpdk-dev"
command -v make >/dev/null || die "make not found: apt-get install make"
command -v cc >/dev/null || die "no C compiler (cc): apt-get install gcc"
command -v dpkg-source >/dev/null || die "dpkg-source not found (apt-get source needs it): apt-get install dpkg-dev"

# The source package must be the installed DPDK's, so that the example matches
# the headers and libraries it is built against.
pkgver=$(dpkg-query -W -f='${Version}' libdpdk-dev 2>/dev/null) ||
  die "libdpdk-dev is not installed as a Debian package (dpkg-query): apt-get install libdpdk-dev"
src=$(find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name 'dpdk*' 2>/dev/null | head -n 1 || true)
stamp="$CACHE/.version"
if [ -n "$src" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$pkgver" ]; then
  say "cached source in $CACHE is not $pkgver: fetching again"
  rm -rf "$CACHE"
  src=
fi

if [ -z "$src" ]; then
  mkdir -p "$CACHE"
  if ! apt-get source --print-uris "dpdk=$pkgver" >/dev/null 2>&1; then
    say "apt has no source for dpdk=$pkgver: enabling deb-src"
    [ "$(id -u)" = 0 ] || die "enabling deb-src needs root (or add deb-src entries to apt's sources yourself, then apt-get update)"
    f=/etc/apt/sources.list.d/debian.sources
    if [ -f "$f" ]; then
      sed -i -E 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb deb-src/' "$f"
    elif [ -f /etc/apt/sources.list ]; then
      sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/dpu-fw-deb-src.list
    else
      die "no apt sources to add deb-src to ($f, /etc/apt/sources.list)"
    fi
    say "apt-get update..."
    apt-get update -qq || die "apt-get update failed"
    apt-get source --print-uris "dpdk=$pkgver" >/dev/null 2>&1 ||
      die "apt still has no source package dpdk=$pkgver after enabling deb-src (is it in the configured suites?)"
  fi
  say "apt-get source dpdk=$pkgver into $CACHE (about 15 MB)..."
  (cd "$CACHE" && apt-get source -q "dpdk=$pkgver" >&2) || die "apt-get source dpdk=$pkgver failed"
  echo "$pkgver" >"$stamp"
  src=$(find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name 'dpdk*' | head -n 1)
  [ -n "$src" ] || die "apt-get source left no dpdk* directory in $CACHE"
fi

ex="$src/examples/l3fwd"
[ -f "$ex/Makefile" ] || die "$ex/Makefile missing: not a DPDK source tree?"
bin="$ex/build/l3fwd-shared"
if [ ! -x "$bin" ] || [ -n "$(find "$ex" -maxdepth 1 -newer "$bin" -name '*.[ch]' | head -n 1)" ]; then
  say "building $ex against libdpdk $ver (make shared)..."
  make -s -C "$ex" shared >&2 || die "make -C $ex shared failed"
fi
[ -x "$bin" ] || die "the build left no $bin"

shim_src="$(cd "$(dirname "$0")" && pwd)/l3fwd_offload_shim.c"
[ -f "$shim_src" ] || die "$shim_src missing"
shim="$ex/build/l3fwd_offload_shim.so"
if [ ! -f "$shim" ] || [ "$shim_src" -nt "$shim" ]; then
  say "building $shim..."
  # shellcheck disable=SC2046
  cc -O2 -shared -fPIC -Wall -o "$shim" "$shim_src" $(pkg-config --cflags libdpdk) -ldl \
    $(pkg-config --libs libdpdk) || die "cc $shim_src failed"
fi
say "l3fwd: $bin (with LD_PRELOAD=$shim)"
echo "$bin $shim"
