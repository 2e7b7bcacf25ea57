/*
 * doca_shim.c - the DOCA Flow seam of include/doca_sys_doca.h, implemented
 * over the DOCA SDK: DOCA 2.9 LTS, 3.0-3.1, 3.2 and 3.3+.
 *
 * Every DOCA struct, enum value and version difference stays in this file:
 * the dsys_* functions take the seam's plain, host-order specs, fill DOCA's
 * structs by field name and call whichever DOCA function the SDK built
 * against has. What differs between releases (docs/doca-versions.md has the
 * evidence for each line):
 *
 *  - entry add/update signatures: the action index is a field of struct
 *    doca_flow_actions before 3.2 and an argument from 3.2;
 *    doca_flow_pipe_add_entry / _update_entry are renamed
 *    doca_flow_pipe_basic_add_entry / _basic_update_entry in 3.3, and the
 *    priority argument of doca_flow_pipe_control_add_entry moves from
 *    second to after `monitor` in 3.3; ACL entries take actions only from
 *    3.2;
 *  - entry flag values: DOCA_FLOW_NO_WAIT = 0 / DOCA_FLOW_WAIT_FOR_BATCH = 1
 *    before 3.3, DOCA_FLOW_ENTRY_FLAGS_NO_WAIT = 1 / _WAIT_FOR_BATCH = 2 in
 *    3.3;
 *  - 3.3's versioned symbols (doca_ctsd_flow.h maps ~40 structs and the
 *    functions that take them to *_v1 by macro): this file names the
 *    unversioned structs and functions, and the SDK's headers select;
 *  - counters and meters: global budgets on the library config before 3.2,
 *    per-port resource mode and per-port budgets from 3.2;
 *  - the port id: devargs string in 2.9, doca_flow_port_cfg_set_port_id
 *    from 3.0;
 *  - representors: 2.9 starts them by port id alone; 3.x opens a
 *    doca_dev_rep (doca_dpdk_open_dev_rep_by_port_id) and passes it with
 *    doca_flow_port_cfg_set_dev_rep, and the shim closes it after the port
 *    stops;
 *  - the matched source port: parser_meta.port_meta in 2.9,
 *    parser_meta.port_id from 3.0;
 *  - RSS forwarding: flat rss_outer_flags / rss_queues / num_of_queues in
 *    struct doca_flow_fwd in 2.9, rss_type + nested rss from 3.0;
 *  - connection tracking (doca_flow_ct.h, experimental): 2.9 configures CT
 *    with a public struct doca_flow_ct_cfg (DOCA_FLOW_CT_FLAG_MANAGED)
 *    passed to doca_flow_ct_init; 3.0 with doca_flow_ct_cfg_create and
 *    setters (managed mode only); the meta modify mask and a CT action's
 *    meta are a struct doca_flow_meta up to 3.0 and a struct
 *    doca_flow_ct_meta (its .flow) from 3.1; per-direction counters are
 *    sized with doca_flow_ct_cfg_set_counter_asymmetric from 3.1, and one
 *    zone may hold every connection
 *    (doca_flow_ct_cfg_set_max_connections_per_zone) from 3.2. The entry
 *    calls are the same from 2.9 to 3.3. DOCA 2.10 has no CT (the whole
 *    release is refused below).
 *
 * State the seam's contract needs and DOCA does not give back:
 *  - the entry-process callback: DOCA's takes DOCA's enums; a static
 *    trampoline converts them to dsys_entry_status / dsys_entry_op and calls
 *    the dsys_entry_cb given to dsys_flow_init;
 *  - the type of each pipe (no DOCA release has a getter, and the add-entry
 *    call depends on it) and whether its actions template decrements the
 *    TTL (the entry calls but the control one take no action descriptor,
 *    so an entry's dec_ttl is checked against its pipe's): a side table
 *    from DOCA's pipe pointer to its type, decrement and port, filled by
 *    dsys_pipe_create and emptied by dsys_pipe_destroy,
 *    dsys_port_pipes_flush, dsys_port_stop and dsys_flow_destroy. Handles
 *    handed to the caller stay DOCA's own pointers;
 *  - the doca_dev_rep opened for a representor port (3.x): a side table
 *    from DOCA's port pointer to it, closed by dsys_port_stop (or at once
 *    when the port fails to start) and by dsys_flow_destroy;
 *  - which ports have CT pipes (a count per port, kept with the pipe side
 *    table): only their CT queues are processed and aged;
 *  - the pipe queue count of dsys_flow_init and whether dsys_ct_init ran:
 *    DOCA numbers the CT queues after the pipe queues, and the seam uses
 *    the pipe queue numbers for both (doca_sys_doca.h).
 * The tables are guarded by one mutex, so entry adds may run on several
 * threads (one per queue, as DOCA allows).
 *
 * Compiled (gcc -std=gnu11 -Wall -Wextra -Werror -fsyntax-only, and through
 * doca-sys's build.rs) against public DOCA 3.3.0109 and 3.0.0058 header
 * copies (doca_flow_ct.h included), outside this repository: that covers
 * the 3.3+ branch and the 3.0-3.1 branch as 3.0 has it. The 2.9, 3.1 and
 * 3.2 branches were checked line by line against NVIDIA's doca-samples
 * (2.9.0072, tags 3.1.0 and 3.2.0-3.2.2; the flow_ct_* samples for CT),
 * not compiled: no public headers of those releases were found. Never
 * linked against libdoca_flow, never run.
 */

/* build.rs passes -DDOCA_ALLOW_EXPERIMENTAL_API (most DOCA Flow calls are
 * DOCA_EXPERIMENTAL, which warns or fails without it); define it for any
 * other compiler invocation too. */
#ifndef DOCA_ALLOW_EXPERIMENTAL_API
#define DOCA_ALLOW_EXPERIMENTAL_API 1
#endif

#include <endian.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <doca_version.h>
#include <doca_error.h>
#include <doca_dev.h>
#include <doca_dpdk.h>
#include <doca_log.h>
#include <doca_flow.h>
#include <doca_flow_ct.h>

#include "doca_sys_doca.h"

/* --- versions ----------------------------------------------------------- */

/* doca_version.h names them DOCA_VERSION_* from 2.7 on (2.7.0085, 3.0.0058
 * and 3.3.0109 copies) and DOCA_VER_* up to 2.5; doca-sys/build.rs reads
 * either. */
#if !defined(DOCA_VERSION_MAJOR) && defined(DOCA_VER_MAJOR)
#define DOCA_VERSION_MAJOR DOCA_VER_MAJOR
#define DOCA_VERSION_MINOR DOCA_VER_MINOR
#endif

/* True when the SDK built against is at least major.minor. */
#define DSYS_DOCA_AT_LEAST(major, minor)                                       \
	(DOCA_VERSION_MAJOR > (major) ||                                       \
	 (DOCA_VERSION_MAJOR == (major) && DOCA_VERSION_MINOR >= (minor)))

/* Releases the shim was written for: 2.9 LTS and 3.0 onwards. Older ones
 * differ in names the shim uses (2.7: doca_flow_pipe_rm_entry,
 * doca_flow_query_entry, ...); 2.10 already has 3.0's nested RSS fields but
 * 2.9's port devargs and parser_meta.port_meta, a mix no branch covers.
 * build.rs refuses the same releases before compiling anything. */
#if !DSYS_DOCA_AT_LEAST(2, 9)
#error "doca-sys supports DOCA 2.9 LTS and 3.0 or newer; this SDK is older than 2.9"
#endif
#if DOCA_VERSION_MAJOR == 2 && DOCA_VERSION_MINOR >= 10
#error "doca-sys supports DOCA 2.9 LTS and 3.0 or newer; DOCA 2.10 is not supported"
#endif

/* The seam states these numbers (doca_sys_doca.h); an SDK that changed
 * them fails here instead of mislabelling errors or parser_meta values.
 * Mask specs carry the l3/l4 meta values through unmapped (all-ones is a
 * full mask), so they must be DOCA's. The casts compare the values, not
 * the enum types (-Wenum-compare). */
#define DSYS_SAME(ours, doca) _Static_assert((int)(ours) == (int)(doca), #doca " changed")
DSYS_SAME(DSYS_OK, DOCA_SUCCESS);
DSYS_SAME(DSYS_ERR_NOT_PERMITTED, DOCA_ERROR_NOT_PERMITTED);
DSYS_SAME(DSYS_ERR_IN_USE, DOCA_ERROR_IN_USE);
DSYS_SAME(DSYS_ERR_NOT_SUPPORTED, DOCA_ERROR_NOT_SUPPORTED);
DSYS_SAME(DSYS_ERR_INVALID_VALUE, DOCA_ERROR_INVALID_VALUE);
DSYS_SAME(DSYS_ERR_NO_MEMORY, DOCA_ERROR_NO_MEMORY);
DSYS_SAME(DSYS_ERR_NOT_FOUND, DOCA_ERROR_NOT_FOUND);
DSYS_SAME(DSYS_ERR_BAD_STATE, DOCA_ERROR_BAD_STATE);
DSYS_SAME(DSYS_ERR_ALREADY_EXIST, DOCA_ERROR_ALREADY_EXIST);
DSYS_SAME(DSYS_ERR_FULL, DOCA_ERROR_FULL);
DSYS_SAME(DSYS_ERR_IN_PROGRESS, DOCA_ERROR_IN_PROGRESS);
DSYS_SAME(DSYS_L3_META_NONE, DOCA_FLOW_L3_META_NONE);
DSYS_SAME(DSYS_L3_META_IPV4, DOCA_FLOW_L3_META_IPV4);
DSYS_SAME(DSYS_L3_META_IPV6, DOCA_FLOW_L3_META_IPV6);
DSYS_SAME(DSYS_L4_META_NONE, DOCA_FLOW_L4_META_NONE);
DSYS_SAME(DSYS_L4_META_TCP, DOCA_FLOW_L4_META_TCP);
DSYS_SAME(DSYS_L4_META_UDP, DOCA_FLOW_L4_META_UDP);
DSYS_SAME(DSYS_L4_META_ICMP, DOCA_FLOW_L4_META_ICMP);
DSYS_SAME(DSYS_L4_META_ESP, DOCA_FLOW_L4_META_ESP);

uint32_t dsys_doca_version(void)
{
	return ((uint32_t)DOCA_VERSION_MAJOR << 16) | (uint32_t)DOCA_VERSION_MINOR;
}

const char *dsys_error_name(dsys_rc rc)
{
	return doca_error_get_name((doca_error_t)rc);
}

const char *dsys_error_descr(dsys_rc rc)
{
	return doca_error_get_descr((doca_error_t)rc);
}

/* --- library state ------------------------------------------------------ */

/* The pipe queue count given to dsys_flow_init (0 before it and after
 * dsys_flow_destroy). DOCA numbers the CT queues after the pipe queues, so
 * this is also the first CT queue (see ct_queue). */
static uint16_t flow_queues;

/* doca_flow_ct_init succeeded (dsys_ct_init); doca_flow_ct_destroy is due
 * before doca_flow_destroy. */
static bool ct_ready;

/* --- side tables --------------------------------------------------------- */

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

/* Pipe pointer -> (dsys_pipe_type, port, TTL decrement of its actions
 * template), chained hash. */
#define PIPE_BUCKETS 256u

struct pipe_node {
	struct doca_flow_pipe *pipe;
	struct doca_flow_port *port;
	uint32_t type;
	uint32_t dec_ttl; /* enum dec_ttl_kind (see "TTL decrement" below) */
	struct pipe_node *next;
};

static struct pipe_node *pipe_table[PIPE_BUCKETS];

/* Port pointer -> how many CT pipes it has: dsys_entries_process and
 * dsys_aging_handle go to DOCA's CT queues only for a port that has one. */
struct ct_port_node {
	const struct doca_flow_port *port;
	uint32_t pipes;
	struct ct_port_node *next;
};

static struct ct_port_node *ct_ports;

/* table_lock held. Counts one more CT pipe of port; a port not counted yet
 * takes *spare (allocated by the caller before DOCA made the pipe). */
static void ct_port_add_locked(const struct doca_flow_port *port, struct ct_port_node **spare)
{
	struct ct_port_node *n;

	for (n = ct_ports; n != NULL; n = n->next) {
		if (n->port == port) {
			n->pipes++;
			return;
		}
	}
	n = *spare;
	*spare = NULL;
	if (n == NULL)
		return;
	n->port = port;
	n->pipes = 1;
	n->next = ct_ports;
	ct_ports = n;
}

/* table_lock held. Counts one CT pipe of port less. */
static void ct_port_drop_locked(const struct doca_flow_port *port)
{
	struct ct_port_node **pp;

	for (pp = &ct_ports; *pp != NULL; pp = &(*pp)->next) {
		struct ct_port_node *n = *pp;

		if (n->port == port) {
			if (--n->pipes == 0) {
				*pp = n->next;
				free(n);
			}
			return;
		}
	}
}

/* table_lock held. Forgets the CT pipes of port (of every port when port
 * is NULL). */
static void ct_port_clear_locked(const struct doca_flow_port *port)
{
	struct ct_port_node **pp = &ct_ports;

	while (*pp != NULL) {
		struct ct_port_node *n = *pp;

		if (port == NULL || n->port == port) {
			*pp = n->next;
			free(n);
		} else {
			pp = &n->next;
		}
	}
}

/* True when port has a CT pipe made through the shim. */
static bool port_has_ct(const struct doca_flow_port *port)
{
	const struct ct_port_node *n;
	bool found = false;

	pthread_mutex_lock(&table_lock);
	for (n = ct_ports; n != NULL; n = n->next) {
		if (n->port == port) {
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&table_lock);
	return found;
}

static size_t pipe_bucket(const struct doca_flow_pipe *pipe)
{
	uint64_t x = (uint64_t)(uintptr_t)pipe;

	x = (x >> 4) * 0x9E3779B97F4A7C15ull;
	return (size_t)(x >> 56) % PIPE_BUCKETS;
}

/* Records a new pipe in node (allocated by the caller, so that recording
 * cannot fail after DOCA created the pipe; likewise *ct_spare for a CT
 * pipe, which is taken or left to the caller to free). A stale record of
 * the same address (a pipe DOCA freed behind the shim's back) is
 * replaced. */
static void pipe_table_insert(struct pipe_node *node, struct ct_port_node **ct_spare)
{
	size_t b = pipe_bucket(node->pipe);
	struct pipe_node **pp, *old = NULL;

	pthread_mutex_lock(&table_lock);
	if (node->type == DSYS_PIPE_CT)
		ct_port_add_locked(node->port, ct_spare);
	for (pp = &pipe_table[b]; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->pipe == node->pipe) {
			old = *pp;
			node->next = old->next;
			*pp = node;
			if (old->type == DSYS_PIPE_CT)
				ct_port_drop_locked(old->port);
			break;
		}
	}
	if (old == NULL) {
		node->next = pipe_table[b];
		pipe_table[b] = node;
	}
	pthread_mutex_unlock(&table_lock);
	free(old);
}

/* The dsys_pipe_type of a pipe created through the shim and, when dec_ttl
 * is not NULL, the TTL decrement of its actions template. */
static doca_error_t pipe_table_type(const struct doca_flow_pipe *pipe, uint32_t *type,
				    uint32_t *dec_ttl)
{
	doca_error_t rc = DOCA_ERROR_NOT_FOUND;
	struct pipe_node *n;

	pthread_mutex_lock(&table_lock);
	for (n = pipe_table[pipe_bucket(pipe)]; n != NULL; n = n->next) {
		if (n->pipe == pipe) {
			*type = n->type;
			if (dec_ttl != NULL)
				*dec_ttl = n->dec_ttl;
			rc = DOCA_SUCCESS;
			break;
		}
	}
	pthread_mutex_unlock(&table_lock);
	return rc;
}

static void pipe_table_remove(const struct doca_flow_pipe *pipe)
{
	struct pipe_node **pp, *gone = NULL;

	pthread_mutex_lock(&table_lock);
	for (pp = &pipe_table[pipe_bucket(pipe)]; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->pipe == pipe) {
			gone = *pp;
			*pp = gone->next;
			if (gone->type == DSYS_PIPE_CT)
				ct_port_drop_locked(gone->port);
			break;
		}
	}
	pthread_mutex_unlock(&table_lock);
	free(gone);
}

/* Forgets every pipe of port (all ports when port is NULL). */
static void pipe_table_remove_port(const struct doca_flow_port *port)
{
	pthread_mutex_lock(&table_lock);
	ct_port_clear_locked(port);
	for (size_t b = 0; b < PIPE_BUCKETS; b++) {
		struct pipe_node **pp = &pipe_table[b];

		while (*pp != NULL) {
			struct pipe_node *n = *pp;

			if (port == NULL || n->port == port) {
				*pp = n->next;
				free(n);
			} else {
				pp = &n->next;
			}
		}
	}
	pthread_mutex_unlock(&table_lock);
}

/* Port pointer -> the doca_dev_rep opened for it (3.x representors). */
struct rep_node {
	struct doca_flow_port *port;
	struct doca_dev_rep *rep;
	struct rep_node *next;
};

static struct rep_node *rep_list;

static void rep_list_insert(struct rep_node *node)
{
	pthread_mutex_lock(&table_lock);
	node->next = rep_list;
	rep_list = node;
	pthread_mutex_unlock(&table_lock);
}

/* Closes the representor of port (every representor when port is NULL). */
static void rep_list_close(const struct doca_flow_port *port)
{
	struct rep_node *gone = NULL, **pp;

	pthread_mutex_lock(&table_lock);
	pp = &rep_list;
	while (*pp != NULL) {
		struct rep_node *n = *pp;

		if (port == NULL || n->port == port) {
			*pp = n->next;
			n->next = gone;
			gone = n;
		} else {
			pp = &n->next;
		}
	}
	pthread_mutex_unlock(&table_lock);
	while (gone != NULL) {
		struct rep_node *next = gone->next;

		(void)doca_dev_rep_close(gone->rep);
		free(gone);
		gone = next;
	}
}

/* --- struct fillers ------------------------------------------------------ */

static void fill_header(struct doca_flow_header_format *h, struct doca_flow_meta *meta,
			struct doca_flow_parser_meta *pm, const struct dsys_header_spec *s)
{
	uint32_t p = s->present;

	if (p & DSYS_HDR_ETH) {
		memcpy(h->eth.src_mac, s->eth_src, 6);
		memcpy(h->eth.dst_mac, s->eth_dst, 6);
		h->eth.type = htobe16(s->eth_type);
	}
	if (p & DSYS_HDR_VLAN0) {
		h->l2_valid_headers |= DOCA_FLOW_L2_VALID_HEADER_VLAN_0;
		h->eth_vlan[0].tci = htobe16(s->vlan_tci[0]);
	}
	if (p & DSYS_HDR_VLAN1) {
		h->l2_valid_headers |= DOCA_FLOW_L2_VALID_HEADER_VLAN_1;
		h->eth_vlan[1].tci = htobe16(s->vlan_tci[1]);
	}
	if (p & DSYS_HDR_IP4) {
		h->l3_type = DOCA_FLOW_L3_TYPE_IP4;
		h->ip4.src_ip = htobe32(s->ip4_src);
		h->ip4.dst_ip = htobe32(s->ip4_dst);
		h->ip4.next_proto = s->ip4_proto;
		h->ip4.dscp_ecn = s->ip4_dscp_ecn;
		h->ip4.ttl = s->ip4_ttl;
		h->ip4.flags_fragment_offset = htobe16(s->ip4_flags_frag);
	} else if (p & DSYS_HDR_IP6) {
		h->l3_type = DOCA_FLOW_L3_TYPE_IP6;
		memcpy(h->ip6.src_ip, s->ip6_src, 16);
		memcpy(h->ip6.dst_ip, s->ip6_dst, 16);
		h->ip6.next_proto = s->ip6_next;
		h->ip6.traffic_class = s->ip6_traffic_class;
		h->ip6.flow_label = htobe32(s->ip6_flow_label);
		h->ip6.hop_limit = s->ip6_hop_limit;
	}
	if (p & DSYS_HDR_TCP) {
		h->l4_type_ext = DOCA_FLOW_L4_TYPE_EXT_TCP;
		h->tcp.l4_port.src_port = htobe16(s->l4_src_port);
		h->tcp.l4_port.dst_port = htobe16(s->l4_dst_port);
		h->tcp.flags = s->tcp_flags;
	} else if (p & DSYS_HDR_UDP) {
		h->l4_type_ext = DOCA_FLOW_L4_TYPE_EXT_UDP;
		h->udp.l4_port.src_port = htobe16(s->l4_src_port);
		h->udp.l4_port.dst_port = htobe16(s->l4_dst_port);
	} else if (p & DSYS_HDR_TRANSPORT) {
		h->l4_type_ext = DOCA_FLOW_L4_TYPE_EXT_TRANSPORT;
		h->transport.src_port = htobe16(s->l4_src_port);
		h->transport.dst_port = htobe16(s->l4_dst_port);
	} else if (p & DSYS_HDR_ICMP) {
		h->l4_type_ext = DOCA_FLOW_L4_TYPE_EXT_ICMP;
		h->icmp.type = s->icmp_type;
		h->icmp.code = s->icmp_code;
	} else if (p & DSYS_HDR_ICMP6) {
		h->l4_type_ext = DOCA_FLOW_L4_TYPE_EXT_ICMP6;
		h->icmp.type = s->icmp_type;
		h->icmp.code = s->icmp_code;
	}
	if (pm != NULL && (p & DSYS_HDR_PARSER_META)) {
#if DSYS_DOCA_AT_LEAST(3, 0)
		pm->port_id = s->port_id;
#else
		/* 2.9: the source port is parser_meta.port_meta (uint32_t); 3.0
		 * renamed it port_id (flow_switch_direction_info_sample.c in
		 * doca-samples at 2.9.0072 vs 3.0.0). */
		pm->port_meta = s->port_id;
#endif
		/* By value: the numbers are asserted equal above, and a mask
		 * carries all-ones here. */
		pm->outer_l3_type = (enum doca_flow_l3_meta)s->l3_meta;
		pm->outer_l4_type = (enum doca_flow_l4_meta)s->l4_meta;
		pm->outer_ip_fragmented = s->fragmented;
	}
	if (meta != NULL && (p & DSYS_HDR_META)) {
		meta->pkt_meta = htobe32(s->pkt_meta);
		for (int i = 0; i < 4; i++)
			meta->u32[i] = htobe32(s->meta_u32[i]);
	}
}

/* A match (or match mask) template; NULL spec -> NULL. */
static const struct doca_flow_match *fill_match(struct doca_flow_match *m,
						const struct dsys_header_spec *s)
{
	if (s == NULL)
		return NULL;
	memset(m, 0, sizeof(*m));
	fill_header(&m->outer, &m->meta, &m->parser_meta, s);
	return m;
}

/* Modify-header actions; NULL spec -> NULL. The zeroed struct also sets
 * the action index to 0 before 3.2, where it is a field (action_idx, see
 * flow_multi_actions_sample.c at 2.9.0072): the seam gives a pipe at most
 * one action template, so every entry uses index 0. */
static struct doca_flow_actions *fill_actions(struct doca_flow_actions *a,
					      const struct dsys_header_spec *s)
{
	if (s == NULL)
		return NULL;
	memset(a, 0, sizeof(*a));
	fill_header(&a->outer, &a->meta, NULL, s);
	return a;
}

/* --- TTL decrement -------------------------------------------------------
 *
 * dsys_header_spec.dec_ttl (actions only): decrement the IPv4 TTL, or the
 * IPv6 hop limit when the spec's header group is IPv6 (DSYS_HDR_IP6
 * without DSYS_HDR_IP4, the group fill_header writes), by one. No DOCA
 * release has a decrement action or field. NVIDIA decrements with an action
 * descriptor: DOCA_FLOW_ACTION_ADD to the field "outer.ipv4.ttl" (offset 0,
 * width 8), whose addend is the actions template's outer.ip4.ttl =
 * UINT8_MAX with outer.l3_type = DOCA_FLOW_L3_TYPE_IP4; adding 255 to an
 * 8-bit field subtracts one. Evidence: flow_modify_header_sample.c
 * (create_modify_header_pipe, the same lines at 2.9.0072, 3.0.0, 3.1.0,
 * 3.2.0 and 3.3.0) and upf_accel_pipeline.c (upf_accel_pipe_far_create,
 * 3.0.0 to 3.3.0: ttl = -1, no width, no l3_type). The hop limit is done
 * the same way on "outer.ipv6.hop_limit": no sample or header names that
 * string; it is formed as the named ones are (protocol, then the member of
 * the header struct: "outer.ipv6.flow_label", "outer.ipv6.traffic_class",
 * "outer.ipv6.payload_len" in flow_fwd_miss_sample.c and
 * flow_ipv6_flow_label_sample.c; struct doca_flow_header_ip6's member is
 * hop_limit). The descriptor structs, doca_flow_pipe_cfg_set_actions'
 * descriptor array and doca_flow_pipe_control_add_entry's action_descs
 * are the same in every supported release, so nothing here depends on
 * the version.
 *
 * Where the descriptor can go, and what is refused:
 *  - a pipe's actions template (doca_flow_pipe_cfg_set_actions' third
 *    array, as both samples do): every entry of the pipe decrements;
 *  - the add-entry calls of basic, LPM, hash and ACL pipes and the basic
 *    update take no descriptors in any release, so such an entry
 *    decrements exactly when its pipe does. An entry asking for dec_ttl on
 *    a pipe whose template does not decrement the same field is refused
 *    (DOCA_ERROR_NOT_SUPPORTED) rather than added without it;
 *  - a control entry carries its own (action_descs of
 *    doca_flow_pipe_control_add_entry: flow_skeleton.c at 2.9.0072, the
 *    3.0 and 3.3 headers). No sample passes a descriptor there (all pass
 *    NULL): this rests on the API alone;
 *  - a control pipe's template: refused. Control pipes take their actions
 *    per entry; no sample gives one an actions template, and nothing says
 *    DOCA would apply a template descriptor to control entries;
 *  - a CT pipe's template: refused (ct_pipe_cfg_fill), a CT entry's
 *    actions are its own (struct doca_flow_ct_actions, no descriptors);
 *  - dec_ttl with a TTL or hop-limit value: DOCA_ERROR_INVALID_VALUE (one
 *    field, one action; the Rust side refuses it too).
 *
 * An entry of a decrementing pipe: the template's 255 is all ones, DOCA's
 * mark of a field each entry gives a value for. Both samples rely on the
 * template alone (upf_accel adds its entry with no actions,
 * flow_modify_header with actions whose ttl is 0), so the 255 is
 * presumably taken as a constant addend; if DOCA took it as the entry's
 * field instead, an entry with actions would add its own ttl, 0. The shim
 * therefore writes the addend into an entry's actions too (ignored if the
 * template's is a constant, the decrement if not) and leaves an entry
 * without actions without them, as upf_accel does. */

enum dec_ttl_kind {
	DEC_TTL_NONE = 0,
	DEC_TTL_IP4 = 1, /* "outer.ipv4.ttl" */
	DEC_TTL_IP6 = 2, /* "outer.ipv6.hop_limit" */
};

/* The IP header group fill_header writes from s: IPv4 wins, as there. */
static uint32_t l3_group(const struct dsys_header_spec *s)
{
	if (s->present & DSYS_HDR_IP4)
		return DEC_TTL_IP4;
	if (s->present & DSYS_HDR_IP6)
		return DEC_TTL_IP6;
	return DEC_TTL_NONE;
}

/* The field s decrements: the hop limit of an IPv6 group, else the TTL. */
static uint32_t dec_ttl_kind(const struct dsys_header_spec *s)
{
	if (s == NULL || !s->dec_ttl)
		return DEC_TTL_NONE;
	return l3_group(s) == DEC_TTL_IP6 ? DEC_TTL_IP6 : DEC_TTL_IP4;
}

/* dec_ttl together with a TTL or hop-limit value to write. */
static doca_error_t dec_ttl_check(const struct dsys_header_spec *s)
{
	if (s != NULL && s->dec_ttl && (s->ip4_ttl != 0 || s->ip6_hop_limit != 0))
		return DOCA_ERROR_INVALID_VALUE;
	return DOCA_SUCCESS;
}

/* The addend, 255, in actions a already filled from their spec: the
 * field and the l3_type that selects its half of DOCA's ip4/ip6 union. */
static void dec_ttl_addend(struct doca_flow_actions *a, uint32_t kind)
{
	if (kind == DEC_TTL_IP6) {
		a->outer.l3_type = DOCA_FLOW_L3_TYPE_IP6;
		a->outer.ip6.hop_limit = UINT8_MAX;
	} else {
		a->outer.l3_type = DOCA_FLOW_L3_TYPE_IP4;
		a->outer.ip4.ttl = UINT8_MAX;
	}
}

/* One ADD descriptor of the field, in storage the caller keeps until DOCA
 * has read it (pipe create, control entry add). */
struct dec_ttl_desc {
	struct doca_flow_action_desc desc;
	struct doca_flow_action_descs descs;
};

static struct doca_flow_action_descs *dec_ttl_desc(struct dec_ttl_desc *d, uint32_t kind)
{
	memset(d, 0, sizeof(*d));
	d->desc.type = DOCA_FLOW_ACTION_ADD;
	d->desc.field_op.dst.field_string =
		kind == DEC_TTL_IP6 ? "outer.ipv6.hop_limit" : "outer.ipv4.ttl";
	d->desc.field_op.dst.bit_offset = 0;
	d->desc.field_op.width = 8;
	d->descs.nb_action_desc = 1;
	d->descs.desc_array = &d->desc;
	return &d->descs;
}

/* The actions of an entry of a basic, LPM, hash or ACL pipe (or a basic
 * update), a filled from s (both NULL: no actions), on a pipe whose
 * template decrements pipe_kind. */
static doca_error_t dec_ttl_entry(struct doca_flow_actions *a, const struct dsys_header_spec *s,
				  uint32_t pipe_kind)
{
	uint32_t kind, group;
	doca_error_t rc;

	if (s == NULL || a == NULL)
		return DOCA_SUCCESS;
	rc = dec_ttl_check(s);
	if (rc != DOCA_SUCCESS)
		return rc;
	/* The decrement is the template's: these entry calls take no
	 * descriptor, so an entry cannot add one of its own. */
	kind = dec_ttl_kind(s);
	if (kind != DEC_TTL_NONE && kind != pipe_kind)
		return DOCA_ERROR_NOT_SUPPORTED;
	if (pipe_kind == DEC_TTL_NONE)
		return DOCA_SUCCESS;
	/* The template's field holds the addend: an entry's value for it
	 * would be added instead, or ignored. */
	group = l3_group(s);
	if ((group == DEC_TTL_IP4 && s->ip4_ttl != 0) ||
	    (group == DEC_TTL_IP6 && s->ip6_hop_limit != 0))
		return DOCA_ERROR_INVALID_VALUE;
	/* Actions of the other IP version have no room for the addend (one
	 * union, one l3_type). */
	if (group != DEC_TTL_NONE && group != pipe_kind)
		return DOCA_ERROR_NOT_SUPPORTED;
	dec_ttl_addend(a, pipe_kind);
	return DOCA_SUCCESS;
}

/* A monitor; NULL when the spec is NULL or asks for neither a counter nor
 * a meter (the seam's "none"). */
static const struct doca_flow_monitor *fill_monitor(struct doca_flow_monitor *m,
						    const struct dsys_monitor_spec *s)
{
	if (s == NULL || (!s->counter && !s->meter))
		return NULL;
	memset(m, 0, sizeof(*m));
	if (s->counter)
		m->counter_type = DOCA_FLOW_RESOURCE_TYPE_NON_SHARED;
	if (s->meter) {
		m->meter_type = DOCA_FLOW_RESOURCE_TYPE_NON_SHARED;
		m->non_shared_meter.limit_type = s->meter_packets ? DOCA_FLOW_METER_LIMIT_TYPE_PACKETS
								  : DOCA_FLOW_METER_LIMIT_TYPE_BYTES;
		m->non_shared_meter.cir = s->cir;
		m->non_shared_meter.cbs = s->cbs;
	}
	return m;
}

/* A fwd; *out is NULL when the spec is NULL. DOCA copies the RSS queue
 * array during the call that takes the fwd. */
static doca_error_t fill_fwd(struct doca_flow_fwd *f, const struct dsys_fwd_spec *s,
			     const struct doca_flow_fwd **out)
{
	*out = NULL;
	if (s == NULL)
		return DOCA_SUCCESS;
	memset(f, 0, sizeof(*f));
	switch (s->kind) {
	case DSYS_FWD_NONE:
		f->type = DOCA_FLOW_FWD_NONE;
		break;
	case DSYS_FWD_PORT:
		f->type = DOCA_FLOW_FWD_PORT;
		f->port_id = s->port_id;
		break;
	case DSYS_FWD_PIPE:
		f->type = DOCA_FLOW_FWD_PIPE;
		f->next_pipe = s->pipe;
		break;
	case DSYS_FWD_DROP:
		f->type = DOCA_FLOW_FWD_DROP;
		break;
	case DSYS_FWD_RSS: {
		/* DOCA's queue array is not const; it only reads it. */
		uint16_t *queues = (uint16_t *)(uintptr_t)s->rss_queues;

		if (queues == NULL && s->nr_rss_queues != 0)
			return DOCA_ERROR_INVALID_VALUE;
		/* NOTE: DOCA 3.1 rejects IPv4 with IPv6 (and TCP with UDP) in
		 * one RSS configuration (3.1 "Customer Affecting Changes"); the
		 * seam cannot choose the hashed fields yet, see
		 * docs/doca-versions.md. */
		f->type = DOCA_FLOW_FWD_RSS;
#if DSYS_DOCA_AT_LEAST(3, 0)
		f->rss_type = DOCA_FLOW_RESOURCE_TYPE_NON_SHARED;
		f->rss.outer_flags = DOCA_FLOW_RSS_IPV4 | DOCA_FLOW_RSS_IPV6 | DOCA_FLOW_RSS_UDP |
				     DOCA_FLOW_RSS_TCP;
		f->rss.queues_array = queues;
		f->rss.nr_queues = s->nr_rss_queues;
#else
		/* 2.9: flat RSS fields in struct doca_flow_fwd, no rss_type
		 * (flow_rss_meta_sample.c in doca-samples at 2.9.0072; the
		 * nested fwd.rss and fwd.rss_type are in the samples from
		 * 2.10.0087 on, a release doca-sys refuses). */
		f->rss_outer_flags = DOCA_FLOW_RSS_IPV4 | DOCA_FLOW_RSS_IPV6 | DOCA_FLOW_RSS_UDP |
				     DOCA_FLOW_RSS_TCP;
		f->rss_queues = queues;
		f->num_of_queues = s->nr_rss_queues;
#endif
		break;
	}
	case DSYS_FWD_KERNEL: {
		struct doca_flow_target *target = NULL;
		doca_error_t rc = doca_flow_get_target(DOCA_FLOW_TARGET_KERNEL, &target);

		if (rc != DOCA_SUCCESS)
			return rc;
		f->type = DOCA_FLOW_FWD_TARGET;
		f->target = target;
		break;
	}
	case DSYS_FWD_CHANGEABLE:
		f->type = DOCA_FLOW_FWD_CHANGEABLE;
		break;
	default:
		return DOCA_ERROR_INVALID_VALUE;
	}
	*out = f;
	return DOCA_SUCCESS;
}

/* The seam's entry flags in the numbering of the SDK built against. Every
 * release takes them as a uint32_t or an enum doca_flow_flags_type; the
 * samples of 2.9.0072 and 3.2.0 pass a uint32_t to both
 * (applications/common/flow_skeleton.c::add_entry), so one type serves. */
static doca_error_t sdk_flags(uint32_t flags, uint32_t *out)
{
	switch (flags) {
	case DSYS_FLAG_NO_WAIT:
#if DSYS_DOCA_AT_LEAST(3, 3)
		*out = DOCA_FLOW_ENTRY_FLAGS_NO_WAIT;
#else
		*out = DOCA_FLOW_NO_WAIT;
#endif
		return DOCA_SUCCESS;
	case DSYS_FLAG_WAIT_FOR_BATCH:
#if DSYS_DOCA_AT_LEAST(3, 3)
		*out = DOCA_FLOW_ENTRY_FLAGS_WAIT_FOR_BATCH;
#else
		*out = DOCA_FLOW_WAIT_FOR_BATCH;
#endif
		return DOCA_SUCCESS;
	default:
		return DOCA_ERROR_INVALID_VALUE;
	}
}

/* --- library ------------------------------------------------------------- */

/* The caller's callback. Written by dsys_flow_init before doca_flow_init
 * and cleared by dsys_flow_destroy; read only from the trampoline, which
 * DOCA calls from doca_flow_entries_process, after init. */
static dsys_entry_cb entry_cb;

/* DOCA's entry-process callback (the same signature in the 2.9.0072
 * samples, flow_common.c::check_for_valid_entry, and the 3.0 and 3.3
 * headers): converts DOCA's enums and calls entry_cb. An operation the
 * seam does not name (none exists up to 3.3) is not reported. */
static void entry_process_trampoline(struct doca_flow_pipe_entry *entry, uint16_t pipe_queue,
				     enum doca_flow_entry_status status,
				     enum doca_flow_entry_op op, void *user_ctx)
{
	dsys_entry_cb cb = entry_cb;
	uint32_t dop, dstatus;

	if (cb == NULL)
		return;
	/* A CT operation completes (or ages) on DOCA's CT queue, flow_queues +
	 * q (see ct_queue): the seam reports q. Pipe queues are below
	 * flow_queues. */
	if (ct_ready && pipe_queue >= flow_queues)
		pipe_queue = (uint16_t)(pipe_queue - flow_queues);
	switch (op) {
	case DOCA_FLOW_ENTRY_OP_ADD:
		dop = DSYS_ENTRY_OP_ADD;
		break;
	case DOCA_FLOW_ENTRY_OP_DEL:
		dop = DSYS_ENTRY_OP_DEL;
		break;
	case DOCA_FLOW_ENTRY_OP_UPD:
		dop = DSYS_ENTRY_OP_UPD;
		break;
	case DOCA_FLOW_ENTRY_OP_AGED:
		dop = DSYS_ENTRY_OP_AGED;
		break;
	default:
		return;
	}
	switch (status) {
	case DOCA_FLOW_ENTRY_STATUS_IN_PROCESS:
		dstatus = DSYS_ENTRY_STATUS_IN_PROCESS;
		break;
	case DOCA_FLOW_ENTRY_STATUS_SUCCESS:
		dstatus = DSYS_ENTRY_STATUS_SUCCESS;
		break;
	default:
		dstatus = DSYS_ENTRY_STATUS_ERROR;
		break;
	}
	cb(entry, pipe_queue, dstatus, dop, user_ctx);
}

/* Counter and meter budgets. Before 3.2 they are global, on the library
 * config (flow_common.c::init_doca_flow_cb at 2.9.0072 and 3.1.0); from 3.2
 * the library runs in per-port resource mode and each port config carries
 * its own budget (dsys_port_start; flow_common.c at 3.2.0). No shared
 * resources are reserved: the seam has none. */
static doca_error_t cfg_set_resources(struct doca_flow_cfg *cfg, const struct dsys_flow_cfg *c)
{
#if DSYS_DOCA_AT_LEAST(3, 2)
	(void)c;
	return doca_flow_cfg_set_resource_mode(cfg, DOCA_FLOW_RESOURCE_MODE_PORT);
#else
	doca_error_t rc = doca_flow_cfg_set_nr_counters(cfg, c->nr_counters);

	if (rc != DOCA_SUCCESS)
		return rc;
	return doca_flow_cfg_set_nr_meters(cfg, c->nr_meters);
#endif
}

dsys_rc dsys_flow_init(const struct dsys_flow_cfg *c)
{
	struct doca_flow_cfg *cfg = NULL;
	dsys_entry_cb prev_cb = entry_cb;
	doca_error_t rc, rc2;

	if (c == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	rc = doca_flow_cfg_create(&cfg);
	if (rc != DOCA_SUCCESS)
		return rc;
	entry_cb = c->cb;
	rc = doca_flow_cfg_set_pipe_queues(cfg, c->queues);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_cfg_set_mode_args(cfg, c->switch_mode ? "switch,hws" : "vnf,hws");
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_cfg_set_queue_depth(cfg, c->queue_depth);
	if (rc == DOCA_SUCCESS && c->cb != NULL)
		rc = doca_flow_cfg_set_cb_entry_process(cfg, entry_process_trampoline);
	if (rc == DOCA_SUCCESS)
		rc = cfg_set_resources(cfg, c);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_init(cfg);
	rc2 = doca_flow_cfg_destroy(cfg);
	if (rc == DOCA_SUCCESS && rc2 != DOCA_SUCCESS) {
		/* DOCA Flow runs, but report the failure as the samples do
		 * (DOCA_ERROR_PROPAGATE): undo the init so that a retry can
		 * work. */
		doca_flow_destroy();
		rc = rc2;
	}
	/* A failed second init leaves the running library's callback alone. */
	if (rc != DOCA_SUCCESS)
		entry_cb = prev_cb;
	else
		flow_queues = c->queues;
	return rc;
}

void dsys_flow_destroy(void)
{
	/* CT goes first: "Must be invoked before doca flow destroy"
	 * (doca_flow_ct.h); the samples' cleanup_procedure (flow_ct_common.c,
	 * 2.9.0072 to 3.3.0) calls doca_flow_ct_destroy then
	 * doca_flow_destroy. */
	if (ct_ready) {
		doca_flow_ct_destroy();
		ct_ready = false;
	}
	doca_flow_destroy();
	/* Every port is stopped by contract, so these are leftovers of a
	 * caller that broke it: DOCA has freed the pipes and ports. */
	pipe_table_remove_port(NULL);
	rep_list_close(NULL);
	entry_cb = NULL;
	flow_queues = 0;
}

/* --- ports --------------------------------------------------------------- */

static doca_error_t port_cfg_set_port_id(struct doca_flow_port_cfg *cfg, uint16_t port_id)
{
#if DSYS_DOCA_AT_LEAST(3, 0)
	return doca_flow_port_cfg_set_port_id(cfg, port_id);
#else
	/* 2.9 takes the DPDK port id as the devargs string
	 * (flow_common.c::create_doca_flow_port at 2.9.0072). */
	char buf[8];

	snprintf(buf, sizeof(buf), "%u", (unsigned int)port_id);
	return doca_flow_port_cfg_set_devargs(cfg, buf);
#endif
}

static doca_error_t port_cfg_set_resources(struct doca_flow_port_cfg *cfg,
					   const struct dsys_port_cfg *c)
{
#if DSYS_DOCA_AT_LEAST(3, 2)
	doca_error_t rc = doca_flow_port_cfg_set_nr_resources(cfg, DOCA_FLOW_RESOURCE_COUNTER,
							      c->nr_counters);

	if (rc != DOCA_SUCCESS)
		return rc;
	return doca_flow_port_cfg_set_nr_resources(cfg, DOCA_FLOW_RESOURCE_METER, c->nr_meters);
#else
	(void)cfg;
	(void)c;
	return DOCA_SUCCESS;
#endif
}

/* Attaches the DOCA device behind DPDK port port_id (a PF or the switch
 * manager). A port DOCA knows no device for is started without one. */
static doca_error_t port_cfg_set_dev_of_port(struct doca_flow_port_cfg *cfg, uint16_t port_id)
{
	struct doca_dev *dev = NULL;

	/* doca_dpdk_port_as_dev is in 2.9 (ipsec_ctx.c in doca-samples at
	 * 2.9.0072) and 3.x. */
	if (doca_dpdk_port_as_dev(port_id, &dev) != DOCA_SUCCESS)
		return DOCA_SUCCESS;
	/* 2.7 declares the argument `void *dev`, 3.0 and 3.3 `struct doca_dev
	 * *dev`; the 2.9 samples pass a struct doca_dev *, which C converts
	 * to either. */
	return doca_flow_port_cfg_set_dev(cfg, dev);
}

/* Makes cfg the representor DPDK port port_id of the switch whose manager
 * is DPDK port switch_port_id. From 3.0 this opens the DOCA representor
 * into *rep (the caller closes it); 2.9 starts representors by port id
 * alone and leaves *rep NULL. */
static doca_error_t port_cfg_set_representor(struct doca_flow_port_cfg *cfg, uint16_t port_id,
					     uint16_t switch_port_id, struct doca_dev_rep **rep)
{
	*rep = NULL;
#if DSYS_DOCA_AT_LEAST(3, 0)
	struct doca_dev *dev = NULL;

	if (doca_dpdk_port_as_dev(switch_port_id, &dev) != DOCA_SUCCESS)
		return DOCA_SUCCESS;
	if (doca_dpdk_open_dev_rep_by_port_id(port_id, dev, rep) != DOCA_SUCCESS) {
		*rep = NULL;
		return DOCA_SUCCESS;
	}
	return doca_flow_port_cfg_set_dev_rep(cfg, *rep);
#else
	/* 2.9 has neither doca_flow_port_cfg_set_dev_rep nor
	 * doca_dpdk_open_dev_rep_by_port_id (no 2.9 sample calls them, and
	 * 2.7's doca_flow.h lacks set_dev_rep): a representor probed by DPDK
	 * is started by its port id alone, with no device (the flow_switch*
	 * samples at 2.9.0072 start representor ports with dev = NULL and the
	 * port id as devargs). */
	(void)cfg;
	(void)port_id;
	(void)switch_port_id;
	return DOCA_SUCCESS;
#endif
}

dsys_rc dsys_port_start(const struct dsys_port_cfg *c, struct doca_flow_port **port)
{
	struct doca_flow_port_cfg *cfg = NULL;
	struct doca_dev_rep *rep = NULL;
	struct rep_node *node = NULL;
	doca_error_t rc, rc2;

	if (c == NULL || port == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	*port = NULL;
	if (c->kind != DSYS_PORT_PLAIN && c->kind != DSYS_PORT_SWITCH &&
	    c->kind != DSYS_PORT_REPRESENTOR)
		return DOCA_ERROR_INVALID_VALUE;
	rc = doca_flow_port_cfg_create(&cfg);
	if (rc != DOCA_SUCCESS)
		return rc;
	rc = port_cfg_set_port_id(cfg, c->port_id);
	if (rc == DOCA_SUCCESS)
		rc = port_cfg_set_resources(cfg, c);
	if (rc == DOCA_SUCCESS) {
		if (c->kind == DSYS_PORT_REPRESENTOR)
			rc = port_cfg_set_representor(cfg, c->port_id, c->switch_port_id, &rep);
		else
			rc = port_cfg_set_dev_of_port(cfg, c->port_id);
	}
	/* Allocated before the port starts, so that recording the
	 * representor cannot fail on a started port. */
	if (rc == DOCA_SUCCESS && rep != NULL) {
		node = calloc(1, sizeof(*node));
		if (node == NULL)
			rc = DOCA_ERROR_NO_MEMORY;
	}
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_port_start(cfg, port);
	rc2 = doca_flow_port_cfg_destroy(cfg);
	if (rc == DOCA_SUCCESS && rc2 != DOCA_SUCCESS) {
		/* Reported as the samples do (DOCA_ERROR_PROPAGATE); the port
		 * is stopped so that nothing is left half-owned. */
		(void)doca_flow_port_stop(*port);
		rc = rc2;
	}
	if (rc == DOCA_SUCCESS && *port == NULL)
		rc = DOCA_ERROR_BAD_STATE;
	if (rc != DOCA_SUCCESS) {
		*port = NULL;
		free(node);
		if (rep != NULL)
			(void)doca_dev_rep_close(rep);
		return rc;
	}
	if (node != NULL) {
		node->port = *port;
		node->rep = rep;
		rep_list_insert(node);
	}
	return DOCA_SUCCESS;
}

dsys_rc dsys_port_stop(struct doca_flow_port *port)
{
	doca_error_t rc;

	if (port == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	rc = doca_flow_port_stop(port);
	if (rc != DOCA_SUCCESS)
		return rc;
	/* Pipes of the port are gone by contract; forget any the caller did
	 * not destroy, then close the port's representor (3.x). */
	pipe_table_remove_port(port);
	rep_list_close(port);
	return DOCA_SUCCESS;
}

void dsys_port_pipes_flush(struct doca_flow_port *port)
{
	if (port == NULL)
		return;
	doca_flow_port_pipes_flush(port);
	pipe_table_remove_port(port);
}

dsys_rc dsys_port_pair(struct doca_flow_port *port, struct doca_flow_port *pair)
{
	if (port == NULL || pair == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	return doca_flow_port_pair(port, pair);
}

/* --- pipes --------------------------------------------------------------- */

static doca_error_t sdk_pipe_type(uint32_t type, enum doca_flow_pipe_type *out)
{
	switch (type) {
	case DSYS_PIPE_BASIC:
		*out = DOCA_FLOW_PIPE_BASIC;
		return DOCA_SUCCESS;
	case DSYS_PIPE_CONTROL:
		*out = DOCA_FLOW_PIPE_CONTROL;
		return DOCA_SUCCESS;
	case DSYS_PIPE_ACL:
		*out = DOCA_FLOW_PIPE_ACL;
		return DOCA_SUCCESS;
	case DSYS_PIPE_LPM:
		*out = DOCA_FLOW_PIPE_LPM;
		return DOCA_SUCCESS;
	case DSYS_PIPE_HASH:
		*out = DOCA_FLOW_PIPE_HASH;
		return DOCA_SUCCESS;
	case DSYS_PIPE_CT:
		*out = DOCA_FLOW_PIPE_CT;
		return DOCA_SUCCESS;
	default:
		return DOCA_ERROR_INVALID_VALUE;
	}
}

/* The DOCA structs of one pipe: filled before the pipe config exists, read
 * by doca_flow_pipe_create (DOCA copies the templates). */
struct pipe_parts {
	struct doca_flow_match match, mask;
	struct doca_flow_actions actions, actions_mask;
	struct doca_flow_monitor monitor;
	struct doca_flow_fwd fwd, fwd_miss;
	struct dec_ttl_desc dec_ttl;
};

static doca_error_t pipe_cfg_fill(struct doca_flow_pipe_cfg *cfg, const struct dsys_pipe_spec *s,
				  enum doca_flow_pipe_type type, struct pipe_parts *p)
{
	const struct doca_flow_match *match = fill_match(&p->match, s->match);
	const struct doca_flow_match *mask = fill_match(&p->mask, s->match_mask);
	struct doca_flow_actions *actions = fill_actions(&p->actions, s->actions);
	const struct doca_flow_monitor *monitor = fill_monitor(&p->monitor, s->monitor);
	uint32_t dec = dec_ttl_kind(s->actions);
	doca_error_t rc = dec_ttl_check(s->actions);

	if (rc != DOCA_SUCCESS)
		return rc;
	/* A control pipe's entries carry their actions (and descriptors)
	 * themselves: see "TTL decrement". */
	if (dec != DEC_TTL_NONE && type == DOCA_FLOW_PIPE_CONTROL)
		return DOCA_ERROR_NOT_SUPPORTED;
	if (s->name != NULL)
		rc = doca_flow_pipe_cfg_set_name(cfg, s->name);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_pipe_cfg_set_type(cfg, type);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_pipe_cfg_set_is_root(cfg, s->is_root);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_pipe_cfg_set_domain(cfg, s->egress ? DOCA_FLOW_PIPE_DOMAIN_EGRESS
								  : DOCA_FLOW_PIPE_DOMAIN_DEFAULT);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_pipe_cfg_set_nr_entries(cfg, s->nr_entries);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_pipe_cfg_set_match(cfg, match, mask);
	if (rc == DOCA_SUCCESS && actions != NULL) {
		/* One action template (index 0), no masks; a descriptor only
		 * for a TTL decrement (flow_modify_header_sample.c passes
		 * actions, NULL masks and descriptors the same way). */
		struct doca_flow_actions *const list[1] = {actions};
		struct doca_flow_action_descs *descs[1] = {NULL};

		if (dec != DEC_TTL_NONE) {
			dec_ttl_addend(actions, dec);
			descs[0] = dec_ttl_desc(&p->dec_ttl, dec);
		}
		rc = doca_flow_pipe_cfg_set_actions(cfg, list, NULL,
						    dec != DEC_TTL_NONE ? descs : NULL, 1);
	}
	if (rc == DOCA_SUCCESS && monitor != NULL)
		rc = doca_flow_pipe_cfg_set_monitor(cfg, monitor);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_pipe_cfg_set_miss_counter(cfg, s->miss_counter);
	return rc;
}

/* A CT pipe, as the flow_ct samples make it (create_ct_pipe in
 * flow_ct_*_sample.c, 2.9.0072 to 3.3.0): name, DOCA_FLOW_PIPE_CT, not
 * root, a zeroed match and mask (the seam ignores its match template: a CT
 * pipe's entries are connections), fwd for hits and fwd_miss for misses.
 * Its size is dsys_ct_init's connections, so nr_entries is not set (no
 * sample sets it). One actions template, index 0, with a changeable
 * meta.pkt_meta under a full mask, so that each direction of an entry can
 * write its own pkt_meta (flow_ct_tcp_actions_sample.c gives its CT pipe a
 * meta template the same way, action_idx 0, value UINT32_MAX; from 3.2
 * doca_flow_actions has no action_idx and the template's position is its
 * index). The caller's actions and monitor templates have no place on a CT
 * pipe (its actions and counters come per entry): one that asks for
 * anything, a TTL decrement included, is refused. The domain and the miss
 * counter are passed on when asked for and left to DOCA to judge (no
 * sample sets them on a CT pipe). */
static doca_error_t ct_pipe_cfg_fill(struct doca_flow_pipe_cfg *cfg, const struct dsys_pipe_spec *s,
				     struct pipe_parts *p)
{
	struct doca_flow_actions *const list[1] = {&p->actions};
	struct doca_flow_actions *const masks[1] = {&p->actions_mask};
	doca_error_t rc = DOCA_SUCCESS;

	if (s->actions != NULL && (s->actions->present != 0 || s->actions->dec_ttl))
		return DOCA_ERROR_NOT_SUPPORTED;
	if (s->monitor != NULL && (s->monitor->counter || s->monitor->meter))
		return DOCA_ERROR_NOT_SUPPORTED;
	memset(&p->match, 0, sizeof(p->match));
	memset(&p->mask, 0, sizeof(p->mask));
	memset(&p->actions, 0, sizeof(p->actions));
	memset(&p->actions_mask, 0, sizeof(p->actions_mask));
	p->actions.meta.pkt_meta = UINT32_MAX;
	p->actions_mask.meta.pkt_meta = UINT32_MAX;
	if (s->name != NULL)
		rc = doca_flow_pipe_cfg_set_name(cfg, s->name);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_pipe_cfg_set_type(cfg, DOCA_FLOW_PIPE_CT);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_pipe_cfg_set_is_root(cfg, s->is_root);
	if (rc == DOCA_SUCCESS && s->egress)
		rc = doca_flow_pipe_cfg_set_domain(cfg, DOCA_FLOW_PIPE_DOMAIN_EGRESS);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_pipe_cfg_set_match(cfg, &p->match, &p->mask);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_pipe_cfg_set_actions(cfg, list, masks, NULL, 1);
	if (rc == DOCA_SUCCESS && s->miss_counter)
		rc = doca_flow_pipe_cfg_set_miss_counter(cfg, true);
	return rc;
}

dsys_rc dsys_pipe_create(struct doca_flow_port *port, const struct dsys_pipe_spec *spec,
			 const struct dsys_fwd_spec *fwd, const struct dsys_fwd_spec *fwd_miss,
			 struct doca_flow_pipe **pipe)
{
	struct doca_flow_pipe_cfg *cfg = NULL;
	const struct doca_flow_fwd *f = NULL, *fm = NULL;
	enum doca_flow_pipe_type type;
	struct ct_port_node *ct_spare = NULL;
	struct pipe_parts *parts;
	struct pipe_node *node;
	doca_error_t rc, rc2;
	bool ct = false;

	if (pipe == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	*pipe = NULL;
	if (port == NULL || spec == NULL || spec->match == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	rc = sdk_pipe_type(spec->type, &type);
	if (rc != DOCA_SUCCESS)
		return rc;
	if (spec->type == DSYS_PIPE_CT) {
		/* A CT pipe needs dsys_ct_init (doca_flow_ct_init). */
		if (!ct_ready)
			return DOCA_ERROR_BAD_STATE;
		ct = true;
	}
	/* The DOCA structs are large: on the heap, with the table nodes
	 * (allocated first, so that recording cannot fail after DOCA created
	 * the pipe). */
	parts = calloc(1, sizeof(*parts));
	node = calloc(1, sizeof(*node));
	if (ct)
		ct_spare = calloc(1, sizeof(*ct_spare));
	if (parts == NULL || node == NULL || (ct && ct_spare == NULL)) {
		free(parts);
		free(node);
		free(ct_spare);
		return DOCA_ERROR_NO_MEMORY;
	}
	rc = fill_fwd(&parts->fwd, fwd, &f);
	if (rc == DOCA_SUCCESS)
		rc = fill_fwd(&parts->fwd_miss, fwd_miss, &fm);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_pipe_cfg_create(&cfg, port);
	if (rc == DOCA_SUCCESS) {
		rc = ct ? ct_pipe_cfg_fill(cfg, spec, parts) : pipe_cfg_fill(cfg, spec, type, parts);
		if (rc == DOCA_SUCCESS)
			rc = doca_flow_pipe_create(cfg, f, fm, pipe);
		rc2 = doca_flow_pipe_cfg_destroy(cfg);
		if (rc == DOCA_SUCCESS && rc2 != DOCA_SUCCESS) {
			/* Reported as the samples do; nothing is left behind. */
			if (*pipe != NULL)
				doca_flow_pipe_destroy(*pipe);
			rc = rc2;
		}
	}
	free(parts);
	if (rc == DOCA_SUCCESS && *pipe == NULL)
		rc = DOCA_ERROR_BAD_STATE;
	if (rc != DOCA_SUCCESS) {
		*pipe = NULL;
		free(node);
		free(ct_spare);
		return rc;
	}
	node->pipe = *pipe;
	node->port = port;
	node->type = spec->type;
	/* What pipe_cfg_fill gave the template (a CT pipe refuses dec_ttl). */
	node->dec_ttl = ct ? DEC_TTL_NONE : dec_ttl_kind(spec->actions);
	pipe_table_insert(node, &ct_spare);
	free(ct_spare);
	return DOCA_SUCCESS;
}

void dsys_pipe_destroy(struct doca_flow_pipe *pipe)
{
	if (pipe == NULL)
		return;
	doca_flow_pipe_destroy(pipe);
	pipe_table_remove(pipe);
}

dsys_rc dsys_pipe_update_miss(struct doca_flow_pipe *pipe, const struct dsys_fwd_spec *fwd_miss)
{
	struct doca_flow_fwd fwd;
	const struct doca_flow_fwd *f = NULL;
	doca_error_t rc;

	if (pipe == NULL || fwd_miss == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	rc = fill_fwd(&fwd, fwd_miss, &f);
	if (rc != DOCA_SUCCESS)
		return rc;
	return doca_flow_pipe_update_miss(pipe, f);
}

dsys_rc dsys_pipe_calc_hash(struct doca_flow_pipe *pipe, const struct dsys_header_spec *match,
			    uint32_t *hash)
{
	struct doca_flow_match m;

	if (pipe == NULL || match == NULL || hash == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	return doca_flow_pipe_calc_hash(pipe, fill_match(&m, match), hash);
}

/* --- entries ------------------------------------------------------------- */

/* The DOCA structs of one entry; the pointers are NULL for what the spec
 * leaves out. descs: a control entry's TTL decrement. */
struct entry_parts {
	struct doca_flow_match match_buf, mask_buf;
	struct doca_flow_actions actions_buf;
	struct doca_flow_monitor monitor_buf;
	struct doca_flow_fwd fwd_buf;
	struct dec_ttl_desc dec_ttl_buf;
	const struct doca_flow_match *match, *mask;
	const struct doca_flow_actions *actions;
	const struct doca_flow_action_descs *descs;
	const struct doca_flow_monitor *monitor;
	const struct doca_flow_fwd *fwd;
};

/* An entry of a pipe of type (dsys_pipe_type) whose template decrements
 * pipe_dec_ttl. */
static doca_error_t fill_entry(struct entry_parts *p, const struct dsys_entry_spec *s,
			       uint32_t type, uint32_t pipe_dec_ttl)
{
	struct doca_flow_actions *actions = fill_actions(&p->actions_buf, s->actions);
	doca_error_t rc;

	p->match = fill_match(&p->match_buf, s->match);
	p->mask = fill_match(&p->mask_buf, s->match_mask);
	p->actions = actions;
	p->descs = NULL;
	p->monitor = fill_monitor(&p->monitor_buf, s->monitor);
	if (type == DSYS_PIPE_CONTROL) {
		/* Its own descriptor and addend (see "TTL decrement"); a
		 * control pipe's template never decrements. */
		uint32_t dec = dec_ttl_kind(s->actions);

		rc = dec_ttl_check(s->actions);
		if (rc != DOCA_SUCCESS)
			return rc;
		if (dec != DEC_TTL_NONE) {
			dec_ttl_addend(actions, dec);
			p->descs = dec_ttl_desc(&p->dec_ttl_buf, dec);
		}
	} else {
		rc = dec_ttl_entry(actions, s->actions, pipe_dec_ttl);
		if (rc != DOCA_SUCCESS)
			return rc;
	}
	return fill_fwd(&p->fwd_buf, s->fwd, &p->fwd);
}

static doca_error_t add_basic(uint16_t q, struct doca_flow_pipe *pipe, const struct entry_parts *p,
			      uint32_t flags, void *ctx, struct doca_flow_pipe_entry **entry)
{
#if DSYS_DOCA_AT_LEAST(3, 3)
	return doca_flow_pipe_basic_add_entry(q, pipe, p->match, 0, p->actions, p->monitor, p->fwd,
					      flags, ctx, entry);
#elif DSYS_DOCA_AT_LEAST(3, 2)
	/* 3.2: the action index before actions
	 * (applications/common/flow_skeleton.c::add_entry at 3.2.0-3.2.2). */
	return doca_flow_pipe_add_entry(q, pipe, p->match, 0, p->actions, p->monitor, p->fwd, flags,
					ctx, entry);
#else
	/* 2.9-3.1: the action index is actions->action_idx (0, by
	 * fill_actions); flow_skeleton.c::add_entry at 2.9.0072 and 3.1.0. */
	return doca_flow_pipe_add_entry(q, pipe, p->match, p->actions, p->monitor, p->fwd, flags,
					ctx, entry);
#endif
}

/* Control entries take no flags: DOCA pushes them at once. */
static doca_error_t add_control(uint16_t q, struct doca_flow_pipe *pipe,
				const struct entry_parts *p, uint32_t priority, void *ctx,
				struct doca_flow_pipe_entry **entry)
{
	/* (..., match, match_mask, condition, actions, actions_mask,
	 * action_descs, ...): no condition, no actions mask; descriptors only
	 * for a TTL decrement. */
#if DSYS_DOCA_AT_LEAST(3, 3)
	return doca_flow_pipe_control_add_entry(q, pipe, p->match, p->mask, NULL, p->actions, NULL,
						p->descs, p->monitor, priority, p->fwd, ctx, entry);
#else
	/* Up to 3.2 the priority is the second argument (flow_skeleton.c at
	 * 2.9.0072, 3.1.0 and 3.2.0-3.2.2). */
	return doca_flow_pipe_control_add_entry(q, priority, pipe, p->match, p->mask, NULL,
						p->actions, NULL, p->descs, p->monitor, p->fwd, ctx,
						entry);
#endif
}

static doca_error_t add_acl(uint16_t q, struct doca_flow_pipe *pipe, const struct entry_parts *p,
			    uint32_t priority, uint32_t flags, void *ctx,
			    struct doca_flow_pipe_entry **entry)
{
#if DSYS_DOCA_AT_LEAST(3, 2)
	/* 3.2: (match, mask, action_idx, actions, priority, fwd, ...)
	 * (flow_acl_sample.c at 3.2.0; the 3.3 header). */
	return doca_flow_pipe_acl_add_entry(q, pipe, p->match, p->mask, 0, p->actions, priority,
					    p->fwd, flags, ctx, entry);
#else
	/* Before 3.2 ACL entries take no actions (flow_acl_sample.c and
	 * flow_skeleton.c at 2.9.0072 and 3.1.0; the 3.0 header). */
	if (p->actions != NULL)
		return DOCA_ERROR_NOT_SUPPORTED;
	return doca_flow_pipe_acl_add_entry(q, pipe, p->match, p->mask, priority, p->fwd, flags, ctx,
					    entry);
#endif
}

static doca_error_t add_lpm(uint16_t q, struct doca_flow_pipe *pipe, const struct entry_parts *p,
			    uint32_t flags, void *ctx, struct doca_flow_pipe_entry **entry)
{
#if DSYS_DOCA_AT_LEAST(3, 2)
	/* 3.2: flow_lpm_sample.c at tag 3.2.0 passes (match, mask, 0, NULL,
	 * NULL, &fwd, flags, ...), i.e. the action index before actions. */
	return doca_flow_pipe_lpm_add_entry(q, pipe, p->match, p->mask, 0, p->actions, p->monitor,
					    p->fwd, flags, ctx, entry);
#else
	return doca_flow_pipe_lpm_add_entry(q, pipe, p->match, p->mask, p->actions, p->monitor,
					    p->fwd, flags, ctx, entry);
#endif
}

static doca_error_t add_hash(uint16_t q, struct doca_flow_pipe *pipe, const struct entry_parts *p,
			     uint32_t index, uint32_t flags, void *ctx,
			     struct doca_flow_pipe_entry **entry)
{
#if DSYS_DOCA_AT_LEAST(3, 2)
	return doca_flow_pipe_hash_add_entry(q, pipe, index, 0, p->actions, p->monitor, p->fwd,
					     flags, ctx, entry);
#else
	/* flow_ecmp_sample.c and flow_skeleton.c at 2.9.0072. */
	return doca_flow_pipe_hash_add_entry(q, pipe, index, p->actions, p->monitor, p->fwd, flags,
					     ctx, entry);
#endif
}

dsys_rc dsys_entry_add(uint16_t queue, struct doca_flow_pipe *pipe,
		       const struct dsys_entry_spec *spec, uint32_t flags, void *usr_ctx,
		       struct doca_flow_pipe_entry **entry)
{
	struct entry_parts p;
	uint32_t type, dec_ttl, f;
	doca_error_t rc;

	if (entry == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	*entry = NULL;
	if (pipe == NULL || spec == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	rc = sdk_flags(flags, &f);
	if (rc != DOCA_SUCCESS)
		return rc;
	rc = pipe_table_type(pipe, &type, &dec_ttl);
	if (rc != DOCA_SUCCESS)
		return rc;
	rc = fill_entry(&p, spec, type, dec_ttl);
	if (rc != DOCA_SUCCESS)
		return rc;
	switch (type) {
	case DSYS_PIPE_BASIC:
		return add_basic(queue, pipe, &p, f, usr_ctx, entry);
	case DSYS_PIPE_CONTROL:
		return add_control(queue, pipe, &p, spec->priority, usr_ctx, entry);
	case DSYS_PIPE_ACL:
		return add_acl(queue, pipe, &p, spec->priority, f, usr_ctx, entry);
	case DSYS_PIPE_LPM:
		return add_lpm(queue, pipe, &p, f, usr_ctx, entry);
	case DSYS_PIPE_HASH:
		return add_hash(queue, pipe, &p, spec->hash_index, f, usr_ctx, entry);
	case DSYS_PIPE_CT: /* dsys_ct_entry_add */
	default:
		return DOCA_ERROR_NOT_SUPPORTED;
	}
}

dsys_rc dsys_entry_update(uint16_t queue, struct doca_flow_pipe *pipe,
			  struct doca_flow_pipe_entry *entry, const struct dsys_entry_spec *spec,
			  uint32_t flags)
{
	struct doca_flow_actions actions_buf;
	struct doca_flow_monitor monitor_buf;
	struct doca_flow_fwd fwd_buf;
	struct doca_flow_actions *actions;
	const struct doca_flow_monitor *monitor;
	const struct doca_flow_fwd *fwd;
	uint32_t type, dec_ttl, f;
	doca_error_t rc;

	if (pipe == NULL || entry == NULL || spec == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	rc = sdk_flags(flags, &f);
	if (rc != DOCA_SUCCESS)
		return rc;
	rc = pipe_table_type(pipe, &type, &dec_ttl);
	if (rc != DOCA_SUCCESS)
		return rc;
	if (type != DSYS_PIPE_BASIC)
		return DOCA_ERROR_NOT_SUPPORTED;
	actions = fill_actions(&actions_buf, spec->actions);
	/* The update call takes no descriptor either: the pipe's decrement
	 * or none (see "TTL decrement"). */
	rc = dec_ttl_entry(actions, spec->actions, dec_ttl);
	if (rc != DOCA_SUCCESS)
		return rc;
	monitor = fill_monitor(&monitor_buf, spec->monitor);
	rc = fill_fwd(&fwd_buf, spec->fwd, &fwd);
	if (rc != DOCA_SUCCESS)
		return rc;
#if DSYS_DOCA_AT_LEAST(3, 3)
	return doca_flow_pipe_basic_update_entry(queue, pipe, 0, actions, monitor, fwd, f, entry);
#else
	/* 2.9-3.1: the 2.7 and 3.0 headers agree. 3.2: no sample (at any tag)
	 * calls an entry update and no 3.2 header is public, so this keeps
	 * the 3.0 signature; if 3.2 added the action index here as it did to
	 * the add functions, this line fails to compile rather than
	 * misbehaving. The action index is actions->action_idx = 0. */
	return doca_flow_pipe_update_entry(queue, pipe, actions, monitor, fwd, f, entry);
#endif
}

dsys_rc dsys_entry_remove(uint16_t queue, struct doca_flow_pipe_entry *entry, uint32_t flags)
{
	uint32_t f;
	doca_error_t rc;

	if (entry == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	rc = sdk_flags(flags, &f);
	if (rc != DOCA_SUCCESS)
		return rc;
	/* flow_skeleton.c at 2.9.0072 and 3.2.0 calls
	 * doca_flow_pipe_remove_entry(q, DOCA_FLOW_WAIT_FOR_BATCH, entry). */
	return doca_flow_pipe_remove_entry(queue, f, entry);
}

dsys_rc dsys_entries_process(struct doca_flow_port *port, uint16_t queue, uint64_t timeout_us,
			     uint32_t max)
{
	doca_error_t rc;

	if (port == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	/* max passes through: DOCA documents 0 as "until the timeout". */
	rc = doca_flow_entries_process(port, queue, timeout_us, max);
	if (rc != DOCA_SUCCESS)
		return rc;
	/* CT operations (add, remove) complete only on DOCA's CT queue, through
	 * doca_flow_ct_entries_process: every flow_ct sample, 2.9.0072 to
	 * 3.3.0, polls its CT queue with it and the pipe queues with
	 * doca_flow_entries_process, and the completions reach the same
	 * entry-process callback. So a port with CT pipes has its CT queue
	 * polled too, after the pipe queue (whose timeout gave the hardware
	 * time): once (min_room 0, "poll queue once"), up to max completions
	 * (0: all available); max therefore bounds each queue, not the sum. */
	if (ct_ready && queue < flow_queues && port_has_ct(port))
		rc = doca_flow_ct_entries_process(port, (uint16_t)(flow_queues + queue), 0, max, NULL);
	return rc;
}

dsys_rc dsys_query_entry(struct doca_flow_pipe_entry *entry, uint64_t *packets, uint64_t *bytes)
{
	struct doca_flow_resource_query q;
	doca_error_t rc;

	if (entry == NULL || packets == NULL || bytes == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	memset(&q, 0, sizeof(q));
	rc = doca_flow_resource_query_entry(entry, &q);
	if (rc != DOCA_SUCCESS)
		return rc;
	*packets = q.counter.total_pkts;
	*bytes = q.counter.total_bytes;
	return DOCA_SUCCESS;
}

dsys_rc dsys_query_pipe_miss(struct doca_flow_pipe *pipe, uint64_t *packets, uint64_t *bytes)
{
	struct doca_flow_resource_query q;
	doca_error_t rc;

	if (pipe == NULL || packets == NULL || bytes == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	memset(&q, 0, sizeof(q));
	rc = doca_flow_resource_query_pipe_miss(pipe, &q);
	if (rc != DOCA_SUCCESS)
		return rc;
	*packets = q.counter.total_pkts;
	*bytes = q.counter.total_bytes;
	return DOCA_SUCCESS;
}

/* --- connection tracking ------------------------------------------------- */

/* The meta modify mask of a CT direction, and the meta of a CT action: a
 * struct doca_flow_meta up to 3.0, a struct doca_flow_ct_meta (.flow is the
 * doca_flow_meta, plus a write-only mark) from 3.1. Evidence:
 * init_doca_flow_ct in flow_ct_common.c takes `struct doca_flow_meta
 * *o_modify_mask` at 2.9.0072 and 3.0.0 and `struct doca_flow_ct_meta *` at
 * 3.1.0 to 3.3.0; flow_ct_tcp_actions_sample.c writes
 * `data.meta.pkt_meta` at 2.9.0072 and 3.0.0 and `data.meta.flow.pkt_meta`
 * at 3.1.0 to 3.3.0; the 3.0.0058 and 3.3.0109 headers agree. */
#if DSYS_DOCA_AT_LEAST(3, 1)
typedef struct doca_flow_ct_meta ct_meta_t;
#define CT_META_FLOW(m) ((m)->flow)
#else
typedef struct doca_flow_meta ct_meta_t;
#define CT_META_FLOW(m) (*(m))
#endif

static uint32_t sat_u32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* The sizes dsys_ct_init gives DOCA, from the seam's connection counts. */
struct ct_sizes {
	uint32_t queues;       /* CT queues: as many as the pipe queues */
	uint32_t ipv4, ipv6;   /* connections */
	uint32_t total;        /* ipv4 + ipv6, saturated */
	uint32_t user_actions; /* one non-shared action per direction */
	uint32_t aging_core;
};

/* Settings every branch makes, and why:
 *  - managed mode: the only mode from 3.0 (no flag exists); 2.9 asks for it
 *    with DOCA_FLOW_CT_FLAG_MANAGED (flow_ct_common.c at 2.9.0072). No
 *    other flag: aging and counters stay on (flow_ct_aging_sample.c passes
 *    flags 0 at every tag; NO_AGING and NO_COUNTER are what the samples
 *    without aging or counters add).
 *  - queues: one CT queue per pipe queue, so that the seam's queue q maps to
 *    DOCA's CT queue flow_queues + q (ct_queue). One control queue, as every
 *    sample has (nb_ctrl_queues = 1).
 *  - user actions: a CT entry's per-direction action is a non-shared user
 *    action, and the count covers "shared and non-shared user actions"
 *    (doca_flow_ct_cfg_set_user_actions in the 3.3 header;
 *    flow_ct_tcp_actions_sample.c gives 4096 for 1024 connections). The
 *    shim allows one per direction of every connection.
 *  - aging core: the samples put the aging thread on core nb_arm_queues + 1
 *    (init_doca_flow_ct at every tag); the shim does the same with its CT
 *    queue count. The seam has no core to give instead.
 *  - connections: IPv4 and IPv6 counts, total 0 (as the samples pass it).
 *  - zone: both directions match the zone in meta.u32[zone_word], a full
 *    32-bit mask; a CT match's `metadata` carries the zone (ct_match).
 *    No sample uses a zone (all pass zeroed masks, "Don't use zone
 *    masking"); the masks are set as doca_flow_ct.h describes them.
 *    Outer headers (match_inner false), no meta modify mask: zeroed, as in
 *    every sample, including flow_ct_tcp_actions whose CT actions write
 *    pkt_meta.
 *  - not set, as in the samples: queue depth (DOCA's default, 512 per the
 *    3.3 header), duplicate filter, entry finalize callback. */
static void ct_sizes(const struct dsys_ct_cfg *c, struct ct_sizes *z)
{
	z->queues = flow_queues;
	z->ipv4 = c->ipv4_connections;
	z->ipv6 = c->ipv6_connections;
	z->total = sat_u32((uint64_t)c->ipv4_connections + c->ipv6_connections);
	z->user_actions = sat_u32(2 * ((uint64_t)c->ipv4_connections + c->ipv6_connections));
	z->aging_core = (uint32_t)flow_queues + 1;
}

#if DSYS_DOCA_AT_LEAST(3, 0)
/* 3.0+: the opaque config and its setters (init_doca_flow_ct in
 * flow_ct_common.c at 3.0.0, 3.1.0, 3.2.0 and 3.3.0, in that order). */
static doca_error_t ct_cfg_set(struct doca_flow_ct_cfg *cfg, const struct ct_sizes *z,
			       struct doca_flow_meta *zone_mask, ct_meta_t *modify_mask)
{
	doca_error_t rc = doca_flow_ct_cfg_set_flags(cfg, 0);

	if (rc == DOCA_SUCCESS)
		rc = doca_flow_ct_cfg_set_queues(cfg, z->queues);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_ct_cfg_set_ctrl_queues(cfg, 1);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_ct_cfg_set_user_actions(cfg, z->user_actions);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_ct_cfg_set_aging_core(cfg, z->aging_core);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_ct_cfg_set_connections(cfg, z->ipv4, z->ipv6, 0);
#if DSYS_DOCA_AT_LEAST(3, 1)
	/* 3.1+: a connection counting each direction on its own uses an
	 * asymmetric counter (flow_ct_udp_query_sample.c at 3.1.0 to 3.3.0
	 * sizes them as the connections not using COUNTER_SHARED); the shim
	 * never asks for shared counters. The 3.0 samples count both
	 * directions without this call, so 3.0 does not make it. */
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_ct_cfg_set_counter_asymmetric(cfg, z->total);
#endif
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_ct_cfg_set_direction(cfg, false, false, zone_mask, modify_mask);
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_ct_cfg_set_direction(cfg, true, false, zone_mask, modify_mask);
#if DSYS_DOCA_AT_LEAST(3, 2)
	/* 3.2+ (flow_ct_common.c at 3.2.0 and 3.3.0): let one zone hold every
	 * connection. Before 3.2 DOCA's default per-zone maximum applies
	 * (0x200000 per the 3.3 header). */
	if (rc == DOCA_SUCCESS)
		rc = doca_flow_ct_cfg_set_max_connections_per_zone(cfg, z->total);
#endif
	return rc;
}
#endif

dsys_rc dsys_ct_init(const struct dsys_ct_cfg *c)
{
	struct doca_flow_meta zone_mask;
	ct_meta_t modify_mask;
	struct ct_sizes z;
	doca_error_t rc;

	if (c == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	/* After dsys_flow_init, once. */
	if (flow_queues == 0 || ct_ready)
		return DOCA_ERROR_BAD_STATE;
	/* The zone word is one the seam's header specs can write (meta_u32[4])
	 * and one DOCA has. */
	if (c->zone_word >= 4 || c->zone_word >= sizeof(zone_mask.u32) / sizeof(zone_mask.u32[0]))
		return DOCA_ERROR_INVALID_VALUE;
	/* The CT queues are numbered flow_queues to 2 * flow_queues - 1. */
	if (2u * flow_queues - 1u > UINT16_MAX)
		return DOCA_ERROR_INVALID_VALUE;
	ct_sizes(c, &z);
	memset(&zone_mask, 0, sizeof(zone_mask));
	zone_mask.u32[c->zone_word] = UINT32_MAX;
	memset(&modify_mask, 0, sizeof(modify_mask));
#if DSYS_DOCA_AT_LEAST(3, 0)
	{
		struct doca_flow_ct_cfg *cfg = NULL;
		doca_error_t rc2;

		rc = doca_flow_ct_cfg_create(&cfg);
		if (rc != DOCA_SUCCESS)
			return rc;
		rc = ct_cfg_set(cfg, &z, &zone_mask, &modify_mask);
		if (rc == DOCA_SUCCESS)
			rc = doca_flow_ct_init(cfg);
		/* Destroyed on every path; a failure after a successful init is
		 * reported, with CT undone, as dsys_flow_init does. */
		rc2 = doca_flow_ct_cfg_destroy(cfg);
		if (rc == DOCA_SUCCESS && rc2 != DOCA_SUCCESS) {
			doca_flow_ct_destroy();
			rc = rc2;
		}
	}
#else
	{
		/* 2.9: a public struct filled field by field, then
		 * doca_flow_ct_init(&cfg) (init_doca_flow_ct in
		 * flow_ct_common.c at 2.9.0072: flags |= MANAGED, nb_arm_queues,
		 * nb_ctrl_queues, nb_user_actions, aging_core, flow_log_cb,
		 * nb_arm_sessions[IPV4/IPV6], dup_filter_sz, direction[0/1]
		 * .match_inner/.zone_match_mask/.meta_modify_mask). Nothing to
		 * destroy. */
		struct doca_flow_ct_cfg cfg;

		memset(&cfg, 0, sizeof(cfg));
		cfg.flags = DOCA_FLOW_CT_FLAG_MANAGED;
		cfg.nb_arm_queues = z.queues;
		cfg.nb_ctrl_queues = 1;
		cfg.nb_user_actions = z.user_actions;
		cfg.aging_core = (uint16_t)z.aging_core;
		cfg.nb_arm_sessions[DOCA_FLOW_CT_SESSION_IPV4] = z.ipv4;
		cfg.nb_arm_sessions[DOCA_FLOW_CT_SESSION_IPV6] = z.ipv6;
		for (int d = 0; d < 2; d++) {
			cfg.direction[d].match_inner = false;
			cfg.direction[d].zone_match_mask = &zone_mask;
			cfg.direction[d].meta_modify_mask = &modify_mask;
		}
		rc = doca_flow_ct_init(&cfg);
	}
#endif
	if (rc == DOCA_SUCCESS)
		ct_ready = true;
	return rc;
}

/* DOCA's CT queue for the seam's queue: DOCA numbers CT queues after the
 * pipe queues ("queue ID, offset from doca_flow.nb_queues", doca_flow_ct.h;
 * every flow_ct sample, 2.9.0072 to 3.3.0, has ct_queue = nb_queues), and
 * dsys_ct_init gives CT as many queues as there are pipe queues. */
static doca_error_t ct_queue(uint16_t queue, uint16_t *out)
{
	if (queue >= flow_queues)
		return DOCA_ERROR_INVALID_VALUE;
	if (!ct_ready)
		return DOCA_ERROR_BAD_STATE;
	*out = (uint16_t)(flow_queues + queue);
	return DOCA_SUCCESS;
}

/* The seam's entry flags as CT entry flags: DOCA_FLOW_CT_ENTRY_FLAGS_NO_WAIT
 * (1 << 0 in the 2.x, 3.0 and 3.3 copies, named in the samples of every
 * release) or nothing, for a batched operation. The CT flags were not
 * renumbered in 3.3 as DOCA Flow's were; the name is used all the same. */
static doca_error_t ct_entry_flags(uint32_t flags, uint32_t *out)
{
	switch (flags) {
	case DSYS_FLAG_NO_WAIT:
		*out = DOCA_FLOW_CT_ENTRY_FLAGS_NO_WAIT;
		return DOCA_SUCCESS;
	case DSYS_FLAG_WAIT_FOR_BATCH:
		*out = 0;
		return DOCA_SUCCESS;
	default:
		return DOCA_ERROR_INVALID_VALUE;
	}
}

/* pipe is a CT pipe made through the shim. */
static doca_error_t ct_pipe_check(const struct doca_flow_pipe *pipe)
{
	uint32_t type;
	doca_error_t rc = pipe_table_type(pipe, &type, NULL);

	if (rc != DOCA_SUCCESS)
		return rc;
	return type == DSYS_PIPE_CT ? DOCA_SUCCESS : DOCA_ERROR_INVALID_VALUE;
}

/* One direction's match (struct doca_flow_ct_match, the ipv4 or ipv6 half
 * of its union; the entry flags say which): addresses as the seam gives
 * them (network order), ports to network order, the zone in `metadata`,
 * where the direction's zone mask (meta.u32[zone_word], dsys_ct_init)
 * selects it. DOCA's CT pipe handles TCP and UDP only. */
static doca_error_t ct_match(struct doca_flow_ct_match *m, const struct dsys_ct_tuple *t,
			     uint32_t zone)
{
	if (t->proto != DOCA_FLOW_PROTO_TCP && t->proto != DOCA_FLOW_PROTO_UDP)
		return DOCA_ERROR_NOT_SUPPORTED;
	memset(m, 0, sizeof(*m));
	if (t->ipv6) {
		memcpy(m->ipv6.src_ip, t->src, sizeof(m->ipv6.src_ip));
		memcpy(m->ipv6.dst_ip, t->dst, sizeof(m->ipv6.dst_ip));
		m->ipv6.l4_port.src_port = htobe16(t->src_port);
		m->ipv6.l4_port.dst_port = htobe16(t->dst_port);
		m->ipv6.metadata = htobe32(zone);
		m->ipv6.next_proto = t->proto;
	} else {
		memcpy(&m->ipv4.src_ip, t->src, sizeof(m->ipv4.src_ip));
		memcpy(&m->ipv4.dst_ip, t->dst, sizeof(m->ipv4.dst_ip));
		m->ipv4.l4_port.src_port = htobe16(t->src_port);
		m->ipv4.l4_port.dst_port = htobe16(t->dst_port);
		m->ipv4.metadata = htobe32(zone);
		m->ipv4.next_proto = t->proto;
	}
	return DOCA_SUCCESS;
}

/* The hash doca_flow_ct_entry_prepare takes with each direction's match.
 * The application computes it (the samples pass the packet's RSS hash, or
 * flow_ct_hash_6tuple, an FNV-1a of the match and zone, or 0); DOCA uses
 * it to look the connection up among recent ones. Here: 32-bit FNV-1a over
 * the zeroed-then-filled match half, zone included. */
static uint32_t ct_hash(const struct doca_flow_ct_match *m, bool ipv6)
{
	const uint8_t *b = ipv6 ? (const uint8_t *)&m->ipv6 : (const uint8_t *)&m->ipv4;
	size_t n = ipv6 ? sizeof(m->ipv6) : sizeof(m->ipv4);
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

/* One direction's actions: a non-shared action on template 0 (the CT
 * pipe's changeable pkt_meta, ct_pipe_cfg_fill) writing pkt_meta, or NULL
 * when the direction writes nothing. The meta is data.meta.pkt_meta up to
 * 3.0 and data.meta.flow.pkt_meta from 3.1 (ct_meta_t);
 * flow_ct_tcp_actions_sample.c fills a non-shared action the same way
 * (resource_type NON_SHARED, data.action_idx) at every tag. */
static const struct doca_flow_ct_actions *ct_actions(struct doca_flow_ct_actions *a,
						     const struct dsys_ct_dir *d)
{
	if (!d->set_pkt_meta)
		return NULL;
	memset(a, 0, sizeof(*a));
	a->resource_type = DOCA_FLOW_RESOURCE_TYPE_NON_SHARED;
	a->data.action_idx = 0;
	CT_META_FLOW(&a->data.meta).pkt_meta = htobe32(d->pkt_meta);
	return a;
}

/* doca_flow_ct_entry_prepare then doca_flow_ct_add_entry, as
 * flow_ct_create_entry (flow_ct_common.c at 3.1.0 to 3.3.0) and the
 * process_packets of the 2.9.0072 and 3.0.0 samples do: prepare with
 * ALLOC_ON_MISS (every sample's prepare flag; the IPv6 and direction flags
 * go to the add, as in flow_ct_tcp_ipv4_ipv6_sample.c), then add with
 * DIR_ORIGIN, DIR_REPLY when there is a reply, IPV6_ORIGIN/IPV6_REPLY per
 * tuple, COUNTER_ORIGIN/COUNTER_REPLY per direction, and NO_WAIT unless
 * batched. The origin-only form passes no reply match and hash 0
 * (flow_ct_udp_single_match_sample.c). No fwd handles (0, 0: the pipe's
 * fwd), the entry's aging timeout in seconds (0: none), usr_ctx for the
 * callback. A connection prepare finds already tracked is not added again:
 * DOCA_ERROR_ALREADY_EXIST (the samples skip the add then). An add that
 * fails gives the prepared entry back (doca_flow_ct_entry_prepare_rollback:
 * in the 2.x, 3.0 and 3.3 headers; no sample calls it). */
dsys_rc dsys_ct_entry_add(uint16_t queue, struct doca_flow_pipe *pipe,
			  const struct dsys_ct_entry_spec *spec, uint32_t flags, void *usr_ctx,
			  struct doca_flow_pipe_entry **entry)
{
	struct doca_flow_ct_match mo, mr;
	struct doca_flow_ct_actions ao, ar;
	const struct doca_flow_ct_actions *pao, *par = NULL;
	struct doca_flow_ct_match *pmr = NULL;
	struct doca_flow_pipe_entry *e = NULL;
	uint32_t f, hr = 0;
	uint16_t q;
	bool found = false;
	doca_error_t rc;

	if (entry == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	*entry = NULL;
	if (pipe == NULL || spec == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	rc = ct_entry_flags(flags, &f);
	if (rc == DOCA_SUCCESS)
		rc = ct_queue(queue, &q);
	if (rc == DOCA_SUCCESS)
		rc = ct_pipe_check(pipe);
	if (rc == DOCA_SUCCESS)
		rc = ct_match(&mo, &spec->origin, spec->zone);
	if (rc == DOCA_SUCCESS && spec->has_reply) {
		rc = ct_match(&mr, &spec->reply, spec->zone);
		pmr = &mr;
	}
	if (rc != DOCA_SUCCESS)
		return rc;
	f |= DOCA_FLOW_CT_ENTRY_FLAGS_DIR_ORIGIN;
	if (spec->origin.ipv6)
		f |= DOCA_FLOW_CT_ENTRY_FLAGS_IPV6_ORIGIN;
	if (spec->origin_dir.counter)
		f |= DOCA_FLOW_CT_ENTRY_FLAGS_COUNTER_ORIGIN;
	pao = ct_actions(&ao, &spec->origin_dir);
	if (spec->has_reply) {
		f |= DOCA_FLOW_CT_ENTRY_FLAGS_DIR_REPLY;
		if (spec->reply.ipv6)
			f |= DOCA_FLOW_CT_ENTRY_FLAGS_IPV6_REPLY;
		if (spec->reply_dir.counter)
			f |= DOCA_FLOW_CT_ENTRY_FLAGS_COUNTER_REPLY;
		par = ct_actions(&ar, &spec->reply_dir);
		hr = ct_hash(&mr, spec->reply.ipv6);
	}
	rc = doca_flow_ct_entry_prepare(q, pipe, DOCA_FLOW_CT_ENTRY_FLAGS_ALLOC_ON_MISS, &mo,
					ct_hash(&mo, spec->origin.ipv6), pmr, hr, &e, &found);
	if (rc != DOCA_SUCCESS)
		return rc;
	if (found)
		return DOCA_ERROR_ALREADY_EXIST;
	if (e == NULL)
		return DOCA_ERROR_BAD_STATE;
	rc = doca_flow_ct_add_entry(q, pipe, f, &mo, pmr, pao, par, 0, 0, spec->timeout_s, usr_ctx,
				    e);
	if (rc != DOCA_SUCCESS) {
		(void)doca_flow_ct_entry_prepare_rollback(q, pipe, e);
		return rc;
	}
	*entry = e;
	return DOCA_SUCCESS;
}

/* doca_flow_ct_rm_entry with NO_WAIT or nothing: the aging samples (3.0.0
 * to 3.3.0) remove an aged entry with DOCA_FLOW_CT_ENTRY_FLAGS_NO_WAIT
 * alone; the direction flags other samples add are not needed. The DEL
 * completion comes from dsys_entries_process. */
dsys_rc dsys_ct_entry_remove(uint16_t queue, struct doca_flow_pipe *pipe,
			     struct doca_flow_pipe_entry *entry, uint32_t flags)
{
	uint32_t f;
	uint16_t q;
	doca_error_t rc;

	if (pipe == NULL || entry == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	rc = ct_entry_flags(flags, &f);
	if (rc == DOCA_SUCCESS)
		rc = ct_queue(queue, &q);
	if (rc == DOCA_SUCCESS)
		rc = ct_pipe_check(pipe);
	if (rc != DOCA_SUCCESS)
		return rc;
	return doca_flow_ct_rm_entry(q, pipe, f, entry);
}

/* doca_flow_ct_query_entry on CT queue 0 with NO_WAIT, as
 * flow_ct_udp_query_sample.c (2.9.0072 to 3.3.0): per-direction
 * struct doca_flow_resource_query counters and the last hit in seconds
 * since the Epoch. The seam passes no queue (doca_sys_doca.h: queue 0, the
 * caller serialises). A direction without a counter reads as DOCA reports
 * it. */
dsys_rc dsys_ct_query(struct doca_flow_pipe *pipe, struct doca_flow_pipe_entry *entry,
		      struct dsys_ct_counters *out)
{
	struct doca_flow_resource_query o, r;
	uint64_t last_hit_s = 0;
	uint16_t q;
	doca_error_t rc;

	if (pipe == NULL || entry == NULL || out == NULL)
		return DOCA_ERROR_INVALID_VALUE;
	rc = ct_queue(0, &q);
	if (rc == DOCA_SUCCESS)
		rc = ct_pipe_check(pipe);
	if (rc != DOCA_SUCCESS)
		return rc;
	memset(&o, 0, sizeof(o));
	memset(&r, 0, sizeof(r));
	rc = doca_flow_ct_query_entry(q, pipe, DOCA_FLOW_CT_ENTRY_FLAGS_NO_WAIT, entry, &o, &r,
				      &last_hit_s);
	if (rc != DOCA_SUCCESS)
		return rc;
	out->origin_packets = o.counter.total_pkts;
	out->origin_bytes = o.counter.total_bytes;
	out->reply_packets = r.counter.total_pkts;
	out->reply_bytes = r.counter.total_bytes;
	out->last_hit_s = last_hit_s;
	return DOCA_SUCCESS;
}

/* doca_flow_aging_handle on the port's CT queue (flow_ct_aging_sample.c
 * calls it with ct_queue at every tag; 3.0.0 on with a time quota and a
 * maximum, as here). Each aged CT entry reaches the entry-process callback
 * with DOCA_FLOW_ENTRY_OP_AGED and the usr_ctx of its add (the samples'
 * check_for_valid_entry_aging), which the trampoline reports as
 * DSYS_ENTRY_OP_AGED on the seam's queue. DOCA returns the number of aged
 * entries, 0, or -1 when its cycle is complete; the samples take anything
 * below -1 as a failure. The samples reserve room on the CT queue first
 * because their callback removes the entry at once; the seam's caller
 * removes aged entries itself (after processing its queue, or in the
 * callback if it made room). Nothing of the seam ages on a port without CT
 * pipes, or before dsys_ct_init: DSYS_OK without calling DOCA. */
dsys_rc dsys_aging_handle(struct doca_flow_port *port, uint16_t queue, uint64_t quota_us,
			  uint32_t max)
{
	int n;

	if (port == NULL || queue >= flow_queues)
		return DOCA_ERROR_INVALID_VALUE;
	if (!ct_ready || !port_has_ct(port))
		return DOCA_SUCCESS;
	n = doca_flow_aging_handle(port, (uint16_t)(flow_queues + queue), quota_us, max);
	return n < -1 ? DOCA_ERROR_BAD_STATE : DOCA_SUCCESS;
}
