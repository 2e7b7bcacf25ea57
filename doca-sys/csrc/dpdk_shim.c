/*
 * dpdk_shim.c - real symbols for DPDK's static inline functions and
 * thread-locals, declared in include/doca_sys_dpdk.h. Each function is a
 * one-line forward (or a loop of them over a burst); no logic lives here.
 */
#include "doca_sys_dpdk.h"

uint16_t dsys_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
			   struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t dsys_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
			   struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *dsys_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

int dsys_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			    unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void dsys_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

void *dsys_pktmbuf_data(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod(m, void *);
}

uint16_t dsys_pktmbuf_data_len(const struct rte_mbuf *m)
{
	return rte_pktmbuf_data_len(m);
}

uint32_t dsys_pktmbuf_pkt_len(const struct rte_mbuf *m)
{
	return rte_pktmbuf_pkt_len(m);
}

void dsys_pktmbuf_burst_data(struct rte_mbuf *const *ms, uint16_t n,
			     void **data, uint16_t *len, uint32_t *pkt_len)
{
	for (uint16_t i = 0; i < n; i++) {
		data[i] = rte_pktmbuf_mtod(ms[i], void *);
		len[i] = rte_pktmbuf_data_len(ms[i]);
		pkt_len[i] = rte_pktmbuf_pkt_len(ms[i]);
	}
}

void dsys_pktmbuf_free_bulk(struct rte_mbuf **ms, unsigned int n)
{
	rte_pktmbuf_free_bulk(ms, n);
}

uint16_t dsys_pktmbuf_nb_segs(const struct rte_mbuf *m)
{
	return m->nb_segs;
}

uint16_t dsys_pktmbuf_port(const struct rte_mbuf *m)
{
	return m->port;
}

uint32_t dsys_pktmbuf_rss_hash(const struct rte_mbuf *m)
{
	return m->hash.rss;
}

char *dsys_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

int dsys_pktmbuf_trim(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_trim(m, len);
}

void dsys_pktmbuf_reset(struct rte_mbuf *m)
{
	rte_pktmbuf_reset(m);
}

uint16_t dsys_pktmbuf_tailroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_tailroom(m);
}

unsigned int dsys_ring_enqueue_burst(struct rte_ring *r, void *const *objs,
				     unsigned int n)
{
	return rte_ring_enqueue_burst(r, objs, n, NULL);
}

unsigned int dsys_ring_dequeue_burst(struct rte_ring *r, void **objs,
				     unsigned int n)
{
	return rte_ring_dequeue_burst(r, objs, n, NULL);
}

int dsys_errno(void)
{
	return rte_errno;
}

unsigned int dsys_lcore_id(void)
{
	return rte_lcore_id();
}

uint64_t dsys_rdtsc(void)
{
	return rte_get_tsc_cycles();
}

const char *dsys_version(void)
{
	return rte_version();
}

uint64_t dsys_eth_rss_ip_tcp_udp(void)
{
	return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
}
