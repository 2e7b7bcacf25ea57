/* LD_PRELOAD shim for DPDK 22.11's examples/l3fwd on software vdevs
 * (bench/dataplane.sh; built by bench/build_l3fwd.sh).
 *
 * l3fwd asks every port for Rx checksum offload (RTE_ETH_RX_OFFLOAD_CHECKSUM,
 * hard-coded in its port_conf, no option to turn it off), and
 * rte_eth_dev_configure() refuses ports that do not offer it, which net_pcap
 * and net_null do not: "requested Rx offloads 0xe doesn't match Rx offloads
 * capabilities 0x0". l3fwd never reads the checksum flags of an mbuf (its
 * ACL path checks nothing but the packet type, set by --parse-ptype), so
 * asking only for the Rx offloads a port has changes nothing it does with a
 * packet. These two wrappers do just that, and say so on stderr, and call the
 * real functions: DPDK itself is not changed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <rte_ethdev.h>

static void *
real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (f == NULL) {
		fprintf(stderr, "l3fwd_offload_shim: %s not found: %s\n", name, dlerror());
		abort();
	}
	return f;
}

static uint64_t
rx_capa(uint16_t port_id, int queue)
{
	struct rte_eth_dev_info info;

	if (rte_eth_dev_info_get(port_id, &info) != 0)
		return UINT64_MAX; /* let the real call report the error */
	return queue ? info.rx_offload_capa | info.rx_queue_offload_capa : info.rx_offload_capa;
}

int
rte_eth_dev_configure(uint16_t port_id, uint16_t nb_rx_q, uint16_t nb_tx_q,
		const struct rte_eth_conf *conf)
{
	static int (*f)(uint16_t, uint16_t, uint16_t, const struct rte_eth_conf *);
	struct rte_eth_conf c = *conf;
	uint64_t capa = rx_capa(port_id, 0);

	if (f == NULL)
		f = real("rte_eth_dev_configure");
	if (c.rxmode.offloads & ~capa) {
		fprintf(stderr, "l3fwd_offload_shim: port %u: not asking for Rx offloads 0x%" PRIx64
			" (the port has 0x%" PRIx64 ")\n", port_id, c.rxmode.offloads & ~capa, capa);
		c.rxmode.offloads &= capa;
	}
	return f(port_id, nb_rx_q, nb_tx_q, &c);
}

int
rte_eth_rx_queue_setup(uint16_t port_id, uint16_t rx_queue_id, uint16_t nb_rx_desc,
		unsigned int socket_id, const struct rte_eth_rxconf *rx_conf,
		struct rte_mempool *mb_pool)
{
	static int (*f)(uint16_t, uint16_t, uint16_t, unsigned int,
			const struct rte_eth_rxconf *, struct rte_mempool *);
	struct rte_eth_rxconf c;

	if (f == NULL)
		f = real("rte_eth_rx_queue_setup");
	if (rx_conf == NULL)
		return f(port_id, rx_queue_id, nb_rx_desc, socket_id, rx_conf, mb_pool);
	c = *rx_conf;
	c.offloads &= rx_capa(port_id, 1);
	return f(port_id, rx_queue_id, nb_rx_desc, socket_id, &c, mb_pool);
}
