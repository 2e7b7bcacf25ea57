/*
 * doca_sys_dpdk.h - the DPDK surface that doca-sys binds (feature `dpdk`).
 *
 * bindgen reads this header. It pulls in the DPDK headers we use and
 * declares the C shim (doca-sys/csrc/dpdk_shim.c) that exposes DPDK's
 * `static inline` functions and thread-local variables as real symbols,
 * because Rust can call neither.
 *
 * This file is ours (not DPDK's); DPDK itself is BSD-3-Clause.
 */
#ifndef DOCA_SYS_DPDK_H
#define DOCA_SYS_DPDK_H

#include <stdint.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_acl.h>
#include <rte_bus_vdev.h>
#include <rte_version.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- ethdev fast path (static inline in DPDK) --------------------------- */
uint16_t dsys_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
			   struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t dsys_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
			   struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

/* --- mbuf (static inline in DPDK) --------------------------------------- */
struct rte_mbuf *dsys_pktmbuf_alloc(struct rte_mempool *mp);
int dsys_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			    unsigned int count);
void dsys_pktmbuf_free(struct rte_mbuf *m);
/* Pointer to the first data byte of the first segment (rte_pktmbuf_mtod). */
void *dsys_pktmbuf_data(struct rte_mbuf *m);
uint16_t dsys_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t dsys_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t dsys_pktmbuf_nb_segs(const struct rte_mbuf *m);
uint16_t dsys_pktmbuf_port(const struct rte_mbuf *m);
uint32_t dsys_pktmbuf_rss_hash(const struct rte_mbuf *m);
/* Appends len bytes to the last segment; NULL if there is no room. */
char *dsys_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
/* Removes len bytes from the end; 0 on success, -1 if too short. */
int dsys_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
void dsys_pktmbuf_reset(struct rte_mbuf *m);
uint16_t dsys_pktmbuf_tailroom(const struct rte_mbuf *m);
/* For each of the n mbufs: its data pointer, first-segment length and packet
 * length (one call per burst instead of three per packet). */
void dsys_pktmbuf_burst_data(struct rte_mbuf *const *ms, uint16_t n,
			     void **data, uint16_t *len, uint32_t *pkt_len);
/* Frees n mbufs (rte_pktmbuf_free_bulk). */
void dsys_pktmbuf_free_bulk(struct rte_mbuf **ms, unsigned int n);


/* --- ring (static inline in DPDK) --------------------------------------- */
unsigned int dsys_ring_enqueue_burst(struct rte_ring *r, void *const *objs,
				     unsigned int n);
unsigned int dsys_ring_dequeue_burst(struct rte_ring *r, void **objs,
				     unsigned int n);

/* --- thread-locals and timers ------------------------------------------ */
/* The calling thread's rte_errno (a TLS variable in DPDK). */
int dsys_errno(void);
/* The calling thread's lcore id, or UINT32_MAX (LCORE_ID_ANY) if none. */
unsigned int dsys_lcore_id(void);
uint64_t dsys_rdtsc(void);
/* RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP (macros bindgen cannot
 * evaluate). */
uint64_t dsys_eth_rss_ip_tcp_udp(void);
/* The DPDK version string, e.g. "DPDK 22.11.11". */
const char *dsys_version(void);

/* --- rte_acl rule layouts used by the crates ---------------------------- */
/* IPv4 5-tuple: proto (u8), src (u32), dst (u32), sport (u16), dport (u16). */
RTE_ACL_RULE_DEF(dsys_acl_ipv4_rule, 5);
/* IPv6 5-tuple: proto, src as 4 x u32, dst as 4 x u32, sport, dport. */
RTE_ACL_RULE_DEF(dsys_acl_ipv6_rule, 11);

#ifdef __cplusplus
}
#endif

#endif /* DOCA_SYS_DPDK_H */
