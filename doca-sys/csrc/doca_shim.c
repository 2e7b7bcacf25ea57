/*
 * doca_shim.c - one DOCA Flow API over DOCA 2.9 LTS, 3.0-3.1, 3.2 and 3.3+.
 * See include/doca_sys_doca.h for what differs and why.
 *
 * Compiled (gcc -fsyntax-only and through doca-sys's build) against public
 * DOCA 3.3.0109 and 3.0.0058 header copies, outside this repository: that
 * covers the 3.3+ and 3.0-3.1 branches as 3.0 has them. The 2.9, 3.1 and
 * 3.2 branches were checked line by line against NVIDIA's doca-samples
 * (2.9.0072, tags 3.1.0 and 3.2.0), not compiled: no public headers of
 * those releases were found. docs/doca-versions.md has the details.
 */
#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "doca_sys_doca.h"

/* Before 3.2 the action index is a field of struct doca_flow_actions, not an
 * argument: copy the caller's actions (or zeroed ones) and set it there. */
#if !DSYS_DOCA_AT_LEAST(3, 2)
static const struct doca_flow_actions *
with_action_idx(struct doca_flow_actions *tmp,
		const struct doca_flow_actions *actions, uint8_t action_idx)
{
	if (actions == NULL && action_idx == 0)
		return NULL;
	if (actions != NULL)
		*tmp = *actions;
	else
		memset(tmp, 0, sizeof(*tmp));
	tmp->action_idx = action_idx;
	return tmp;
}
#endif

doca_error_t dsys_doca_flow_init(struct doca_flow_cfg *cfg)
{
	return doca_flow_init(cfg);
}

doca_error_t dsys_doca_flow_cfg_set_resources(struct doca_flow_cfg *cfg,
					      uint32_t nr_counters,
					      uint32_t nr_meters)
{
#if DSYS_DOCA_AT_LEAST(3, 2)
	(void)nr_counters;
	(void)nr_meters;
	return doca_flow_cfg_set_resource_mode(cfg, DOCA_FLOW_RESOURCE_MODE_PORT);
#else
	doca_error_t rc = doca_flow_cfg_set_nr_counters(cfg, nr_counters);
	if (rc != DOCA_SUCCESS)
		return rc;
	rc = doca_flow_cfg_set_nr_meters(cfg, nr_meters);
	if (rc != DOCA_SUCCESS)
		return rc;
	return doca_flow_cfg_set_nr_shared_resource(cfg, nr_meters,
						    DOCA_FLOW_SHARED_RESOURCE_METER);
#endif
}

doca_error_t dsys_doca_flow_port_cfg_set_resources(struct doca_flow_port_cfg *cfg,
						   uint32_t nr_counters,
						   uint32_t nr_meters)
{
#if DSYS_DOCA_AT_LEAST(3, 2)
	doca_error_t rc = doca_flow_port_cfg_set_nr_resources(cfg, DOCA_FLOW_RESOURCE_COUNTER,
							      nr_counters);
	if (rc != DOCA_SUCCESS)
		return rc;
	return doca_flow_port_cfg_set_nr_resources(cfg, DOCA_FLOW_RESOURCE_METER, nr_meters);
#else
	(void)cfg;
	(void)nr_counters;
	(void)nr_meters;
	return DOCA_SUCCESS;
#endif
}

doca_error_t dsys_doca_flow_port_cfg_set_port_id(struct doca_flow_port_cfg *cfg,
						 uint16_t port_id)
{
#if DSYS_DOCA_AT_LEAST(3, 0)
	return doca_flow_port_cfg_set_port_id(cfg, port_id);
#else
	/* 2.9 takes the DPDK port id as the devargs string. */
	char buf[8];
	snprintf(buf, sizeof(buf), "%u", (unsigned int)port_id);
	return doca_flow_port_cfg_set_devargs(cfg, buf);
#endif
}

doca_error_t dsys_doca_flow_port_cfg_set_dev_of_port(struct doca_flow_port_cfg *cfg,
						    uint16_t port_id)
{
	struct doca_dev *dev = NULL;

	/* doca_dpdk_port_as_dev is in 2.9 (ipsec_ctx.c in doca-samples at
	 * 2.9.0072) and 3.x. A port DOCA knows no device for is left without
	 * one, as before. */
	if (doca_dpdk_port_as_dev(port_id, &dev) != DOCA_SUCCESS)
		return DOCA_SUCCESS;
	/* 2.7 declares the argument `void *dev`, 3.0 and 3.3 `struct doca_dev
	 * *dev`; the 2.9 samples pass a struct doca_dev *, which C converts
	 * to either. */
	return doca_flow_port_cfg_set_dev(cfg, dev);
}

doca_error_t dsys_doca_flow_port_cfg_set_representor(struct doca_flow_port_cfg *cfg,
						     uint16_t port_id, uint16_t switch_port_id,
						     struct doca_dev_rep **rep)
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

doca_error_t dsys_doca_flow_pipe_cfg_set_match(struct doca_flow_pipe_cfg *cfg,
					       const dsys_doca_flow_match *match,
					       const dsys_doca_flow_match *match_mask)
{
	return doca_flow_pipe_cfg_set_match(cfg, match, match_mask);
}

doca_error_t dsys_doca_flow_pipe_cfg_set_actions(struct doca_flow_pipe_cfg *cfg,
						 dsys_doca_flow_actions *const *actions,
						 dsys_doca_flow_actions *const *actions_masks,
						 dsys_doca_flow_action_descs *const *action_descs,
						 size_t nr_actions)
{
	return doca_flow_pipe_cfg_set_actions(cfg, actions, actions_masks, action_descs,
					      nr_actions);
}

doca_error_t dsys_doca_flow_pipe_cfg_set_monitor(struct doca_flow_pipe_cfg *cfg,
						 const dsys_doca_flow_monitor *monitor)
{
	return doca_flow_pipe_cfg_set_monitor(cfg, monitor);
}

doca_error_t dsys_doca_flow_pipe_create(const struct doca_flow_pipe_cfg *cfg,
					const dsys_doca_flow_fwd *fwd,
					const dsys_doca_flow_fwd *fwd_miss,
					struct doca_flow_pipe **pipe)
{
	return doca_flow_pipe_create(cfg, fwd, fwd_miss, pipe);
}

doca_error_t dsys_doca_flow_pipe_update_miss(struct doca_flow_pipe *pipe,
					     const dsys_doca_flow_fwd *fwd_miss)
{
	return doca_flow_pipe_update_miss(pipe, fwd_miss);
}

doca_error_t dsys_doca_flow_pipe_basic_add_entry(
	uint16_t pipe_queue, struct doca_flow_pipe *pipe,
	const dsys_doca_flow_match *match, uint8_t action_idx,
	const dsys_doca_flow_actions *actions,
	const dsys_doca_flow_monitor *monitor, const dsys_doca_flow_fwd *fwd,
	uint32_t flags, void *usr_ctx, struct doca_flow_pipe_entry **entry)
{
#if DSYS_DOCA_AT_LEAST(3, 3)
	return doca_flow_pipe_basic_add_entry(pipe_queue, pipe, match, action_idx, actions,
					      monitor, fwd, flags, usr_ctx, entry);
#elif DSYS_DOCA_AT_LEAST(3, 2)
	return doca_flow_pipe_add_entry(pipe_queue, pipe, match, action_idx, actions, monitor,
					fwd, flags, usr_ctx, entry);
#else
	struct doca_flow_actions tmp;
	return doca_flow_pipe_add_entry(pipe_queue, pipe, match,
					with_action_idx(&tmp, actions, action_idx), monitor, fwd,
					flags, usr_ctx, entry);
#endif
}

doca_error_t dsys_doca_flow_pipe_basic_update_entry(
	uint16_t pipe_queue, struct doca_flow_pipe *pipe, uint8_t action_idx,
	const dsys_doca_flow_actions *actions,
	const dsys_doca_flow_monitor *monitor, const dsys_doca_flow_fwd *fwd,
	uint32_t flags, struct doca_flow_pipe_entry *entry)
{
#if DSYS_DOCA_AT_LEAST(3, 3)
	return doca_flow_pipe_basic_update_entry(pipe_queue, pipe, action_idx, actions, monitor,
						 fwd, flags, entry);
#elif DSYS_DOCA_AT_LEAST(3, 2)
	/* 3.2: no sample (at any tag) calls an entry update, and no 3.2
	 * header is public, so this keeps the 3.0 signature; if 3.2 added the
	 * action index here as it did to the add functions, this line fails
	 * to compile rather than misbehaving. Only action index 0 is
	 * supported. */
	if (action_idx != 0)
		return DOCA_ERROR_NOT_SUPPORTED;
	return doca_flow_pipe_update_entry(pipe_queue, pipe, actions, monitor, fwd, flags, entry);
#else
	struct doca_flow_actions tmp;
	return doca_flow_pipe_update_entry(pipe_queue, pipe,
					   with_action_idx(&tmp, actions, action_idx), monitor,
					   fwd, flags, entry);
#endif
}

doca_error_t dsys_doca_flow_pipe_control_add_entry(
	uint16_t pipe_queue, struct doca_flow_pipe *pipe,
	const dsys_doca_flow_match *match, const dsys_doca_flow_match *match_mask,
	const dsys_doca_flow_match_condition *condition,
	const dsys_doca_flow_actions *actions,
	const dsys_doca_flow_actions *actions_mask,
	const dsys_doca_flow_action_descs *action_descs,
	const dsys_doca_flow_monitor *monitor, uint32_t priority,
	const dsys_doca_flow_fwd *fwd, void *usr_ctx,
	struct doca_flow_pipe_entry **entry)
{
#if DSYS_DOCA_AT_LEAST(3, 3)
	return doca_flow_pipe_control_add_entry(pipe_queue, pipe, match, match_mask, condition,
						actions, actions_mask, action_descs, monitor,
						priority, fwd, usr_ctx, entry);
#else
	return doca_flow_pipe_control_add_entry(pipe_queue, priority, pipe, match, match_mask,
						condition, actions, actions_mask, action_descs,
						monitor, fwd, usr_ctx, entry);
#endif
}

doca_error_t dsys_doca_flow_pipe_acl_add_entry(
	uint16_t pipe_queue, struct doca_flow_pipe *pipe,
	const dsys_doca_flow_match *match, const dsys_doca_flow_match *match_mask,
	uint8_t action_idx, const dsys_doca_flow_actions *actions,
	uint32_t priority, const dsys_doca_flow_fwd *fwd, uint32_t flags,
	void *usr_ctx, struct doca_flow_pipe_entry **entry)
{
#if DSYS_DOCA_AT_LEAST(3, 2)
	return doca_flow_pipe_acl_add_entry(pipe_queue, pipe, match, match_mask, action_idx,
					    actions, priority, fwd, flags, usr_ctx, entry);
#else
	if (actions != NULL || action_idx != 0)
		return DOCA_ERROR_NOT_SUPPORTED;
	return doca_flow_pipe_acl_add_entry(pipe_queue, pipe, match, match_mask, priority, fwd,
					    (enum doca_flow_flags_type)flags, usr_ctx, entry);
#endif
}

doca_error_t dsys_doca_flow_pipe_lpm_add_entry(
	uint16_t pipe_queue, struct doca_flow_pipe *pipe,
	const dsys_doca_flow_match *match, const dsys_doca_flow_match *match_mask,
	uint8_t action_idx, const dsys_doca_flow_actions *actions,
	const dsys_doca_flow_monitor *monitor, const dsys_doca_flow_fwd *fwd,
	uint32_t flags, void *usr_ctx, struct doca_flow_pipe_entry **entry)
{
#if DSYS_DOCA_AT_LEAST(3, 2)
	/* 3.2: flow_lpm_sample.c at tag 3.2.0 passes (match, mask, 0, NULL,
	 * NULL, &fwd, flags, ...), i.e. the action index before actions. */
	return doca_flow_pipe_lpm_add_entry(pipe_queue, pipe, match, match_mask, action_idx,
					    actions, monitor, fwd, flags, usr_ctx, entry);
#else
	struct doca_flow_actions tmp;
	return doca_flow_pipe_lpm_add_entry(pipe_queue, pipe, match, match_mask,
					    with_action_idx(&tmp, actions, action_idx), monitor,
					    fwd, (enum doca_flow_flags_type)flags, usr_ctx, entry);
#endif
}

doca_error_t dsys_doca_flow_pipe_hash_add_entry(
	uint16_t pipe_queue, struct doca_flow_pipe *pipe, uint32_t entry_index,
	uint8_t action_idx, const dsys_doca_flow_actions *actions,
	const dsys_doca_flow_monitor *monitor, const dsys_doca_flow_fwd *fwd,
	uint32_t flags, void *usr_ctx, struct doca_flow_pipe_entry **entry)
{
#if DSYS_DOCA_AT_LEAST(3, 2)
	return doca_flow_pipe_hash_add_entry(pipe_queue, pipe, entry_index, action_idx, actions,
					     monitor, fwd, flags, usr_ctx, entry);
#else
	struct doca_flow_actions tmp;
	return doca_flow_pipe_hash_add_entry(pipe_queue, pipe, entry_index,
					     with_action_idx(&tmp, actions, action_idx), monitor,
					     fwd, (enum doca_flow_flags_type)flags, usr_ctx, entry);
#endif
}

doca_error_t dsys_doca_flow_resource_query_entry(struct doca_flow_pipe_entry *entry,
						 dsys_doca_flow_resource_query *out)
{
	return doca_flow_resource_query_entry(entry, out);
}

doca_error_t dsys_doca_flow_resource_query_pipe_miss(struct doca_flow_pipe *pipe,
						     dsys_doca_flow_resource_query *out)
{
	return doca_flow_resource_query_pipe_miss(pipe, out);
}

doca_error_t dsys_doca_flow_shared_meter_create(
	struct doca_flow_port *port, uint32_t hint_id,
	const dsys_doca_flow_resource_meter_cfg *cfg, uint32_t *id)
{
	struct doca_flow_shared_resource_cfg res;
	doca_error_t rc;

	memset(&res, 0, sizeof(res));
	res.meter_cfg = *cfg;
#if DSYS_DOCA_AT_LEAST(3, 2)
	(void)hint_id;
	rc = doca_flow_port_shared_resource_get(port, DOCA_FLOW_SHARED_RESOURCE_METER, id);
	if (rc != DOCA_SUCCESS)
		return rc;
	return doca_flow_port_shared_resource_set_cfg(port, DOCA_FLOW_SHARED_RESOURCE_METER, *id,
						      &res);
#else
	rc = doca_flow_shared_resource_set_cfg(DOCA_FLOW_SHARED_RESOURCE_METER, hint_id, &res);
	if (rc != DOCA_SUCCESS)
		return rc;
	rc = doca_flow_shared_resources_bind(DOCA_FLOW_SHARED_RESOURCE_METER, &hint_id, 1, port);
	if (rc != DOCA_SUCCESS)
		return rc;
	*id = hint_id;
	return DOCA_SUCCESS;
#endif
}

/* --- struct fillers ------------------------------------------------------ */

static void fill_header(struct doca_flow_header_format *h, struct doca_flow_meta *meta,
			struct doca_flow_parser_meta *pm, const struct dsys_flow_header_spec *s)
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

void dsys_doca_flow_match_fill(dsys_doca_flow_match *m, const struct dsys_flow_header_spec *s)
{
	memset(m, 0, sizeof(*m));
	fill_header(&m->outer, &m->meta, &m->parser_meta, s);
}

void dsys_doca_flow_actions_fill(dsys_doca_flow_actions *a, const struct dsys_flow_header_spec *s)
{
	memset(a, 0, sizeof(*a));
	fill_header(&a->outer, &a->meta, NULL, s);
}

void dsys_doca_flow_monitor_fill(dsys_doca_flow_monitor *m, bool counter, bool meter,
				 bool meter_packets, uint64_t cir, uint64_t cbs)
{
	memset(m, 0, sizeof(*m));
	if (counter)
		m->counter_type = DOCA_FLOW_RESOURCE_TYPE_NON_SHARED;
	if (meter) {
		m->meter_type = DOCA_FLOW_RESOURCE_TYPE_NON_SHARED;
		m->non_shared_meter.limit_type = meter_packets ? DOCA_FLOW_METER_LIMIT_TYPE_PACKETS
							       : DOCA_FLOW_METER_LIMIT_TYPE_BYTES;
		m->non_shared_meter.cir = cir;
		m->non_shared_meter.cbs = cbs;
	}
}

doca_error_t dsys_doca_flow_fwd_fill(dsys_doca_flow_fwd *f, enum dsys_flow_fwd_kind kind,
				     uint16_t port_id, struct doca_flow_pipe *pipe,
				     uint16_t *queues, uint16_t nr_queues)
{
	memset(f, 0, sizeof(*f));
	switch (kind) {
	case DSYS_FWD_NONE:
		f->type = DOCA_FLOW_FWD_NONE;
		return DOCA_SUCCESS;
	case DSYS_FWD_PORT:
		f->type = DOCA_FLOW_FWD_PORT;
		f->port_id = port_id;
		return DOCA_SUCCESS;
	case DSYS_FWD_PIPE:
		f->type = DOCA_FLOW_FWD_PIPE;
		f->next_pipe = pipe;
		return DOCA_SUCCESS;
	case DSYS_FWD_DROP:
		f->type = DOCA_FLOW_FWD_DROP;
		return DOCA_SUCCESS;
	case DSYS_FWD_RSS:
		/* NOTE: DOCA 3.1 rejects IPv4 with IPv6 (and TCP with UDP) in
		 * one RSS configuration (3.1 "Customer Affecting Changes"); the
		 * caller cannot choose the hashed fields yet, see
		 * docs/doca-versions.md. */
		f->type = DOCA_FLOW_FWD_RSS;
#if DSYS_DOCA_AT_LEAST(3, 0)
		f->rss_type = DOCA_FLOW_RESOURCE_TYPE_NON_SHARED;
		f->rss.outer_flags = DOCA_FLOW_RSS_IPV4 | DOCA_FLOW_RSS_IPV6 | DOCA_FLOW_RSS_UDP |
				     DOCA_FLOW_RSS_TCP;
		f->rss.queues_array = queues;
		f->rss.nr_queues = nr_queues;
#else
		/* 2.9: flat RSS fields in struct doca_flow_fwd, no rss_type
		 * (flow_rss_meta_sample.c in doca-samples at 2.9.0072; the
		 * nested fwd.rss and fwd.rss_type are in the samples from
		 * 2.10.0087 on, a release doca-sys refuses). */
		f->rss_outer_flags = DOCA_FLOW_RSS_IPV4 | DOCA_FLOW_RSS_IPV6 | DOCA_FLOW_RSS_UDP |
				     DOCA_FLOW_RSS_TCP;
		f->rss_queues = queues;
		f->num_of_queues = nr_queues;
#endif
		return DOCA_SUCCESS;
	case DSYS_FWD_KERNEL: {
		struct doca_flow_target *target = NULL;
		doca_error_t rc = doca_flow_get_target(DOCA_FLOW_TARGET_KERNEL, &target);
		if (rc != DOCA_SUCCESS)
			return rc;
		f->type = DOCA_FLOW_FWD_TARGET;
		f->target = target;
		return DOCA_SUCCESS;
	}
	case DSYS_FWD_CHANGEABLE:
		f->type = DOCA_FLOW_FWD_CHANGEABLE;
		return DOCA_SUCCESS;
	}
	return DOCA_ERROR_INVALID_VALUE;
}

void dsys_doca_flow_query_counters(const dsys_doca_flow_resource_query *q, uint64_t *packets,
				   uint64_t *bytes)
{
	*packets = q->counter.total_pkts;
	*bytes = q->counter.total_bytes;
}

doca_error_t dsys_doca_flow_pipe_calc_hash(struct doca_flow_pipe *pipe,
					   const dsys_doca_flow_match *match, uint32_t *hash)
{
	return doca_flow_pipe_calc_hash(pipe, match, hash);
}
