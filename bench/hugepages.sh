# Sourced by bench/dataplane.sh and bench/workers.sh: the EAL memory options of
# every contestant, EAL_MEM.
#
# Default: 1 GiB of ordinary 4 KiB pages (--no-huge), which runs anywhere.
# HUGE=1: 1 GiB of 2 MiB hugepages per process (--in-memory: no hugepage files,
# so the instances running side by side share nothing), and glibc's
# glibc.malloc.hugetlb=1 tunable exported to every process started after this:
# large heap allocations (dpu-fw run's lookup tables; DPDK keeps rte_acl's in
# its hugepage memory) go on transparent huge pages. This is how DPDK runs in
# production; it needs 512 free hugepages per process running at once (the
# dataplane bench has up to five), e.g. as root:
#   echo 3072 > /proc/sys/vm/nr_hugepages
#   mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages
# shellcheck shell=bash
if [ "${HUGE:-0}" = 1 ]; then
  hp_free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
  hp_size=$(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo)
  if [ "${hp_size:-0}" != 2048 ] || [ "${hp_free:-0}" -lt 2560 ]; then
    echo "HUGE=1 needs 2560 free 2 MiB hugepages (free: ${hp_free:-0} of ${hp_size:-?} kB):" >&2
    echo "  echo 3072 > /proc/sys/vm/nr_hugepages; mkdir -p /dev/hugepages; mount -t hugetlbfs nodev /dev/hugepages" >&2
    exit 1
  fi
  if ! grep -q hugetlbfs /proc/mounts; then
    echo "HUGE=1: no hugetlbfs mounted (mkdir -p /dev/hugepages; mount -t hugetlbfs nodev /dev/hugepages)" >&2
    exit 1
  fi
  EAL_MEM=(--in-memory -m 1024)
  export GLIBC_TUNABLES=glibc.malloc.hugetlb=1
  echo "HUGE=1: EAL memory on 2 MiB hugepages, heaps on transparent huge pages" >&2
elif [ "${HUGE:-0}" = 0 ]; then
  EAL_MEM=(--no-huge -m 1024)
else
  echo "HUGE=$HUGE: 0 (default, 4 KiB pages) or 1 (hugepages)" >&2
  exit 2
fi
