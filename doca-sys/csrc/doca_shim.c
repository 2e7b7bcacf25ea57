/*
 * doca_shim.c - one DOCA Flow API over DOCA 2.9 LTS, 3.0-3.1, 3.2 and 3.3+.
 * See include/doca_sys_doca.h for what differs and why.
 *
 * What was compiled against real headers: the 3.3 and 3.0 branches (DOCA
 * 3.3.0109 and 3.0.0058 public header copies, outside this repository). The
 * 3.2 and 2.9 branches follow NVIDIA's doca-samples call sites for those
 * versions; no public 3.1, 3.2 or 2.9 headers were available to compile them.
 */
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
	/* 3.2's update signature is not public; the samples never call it.
	 * Only action index 0 is supported there. */
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
	/* 3.2: inferred from the other entry functions; no 3.2 sample adds an
	 * LPM entry. Compiled against 3.3 only. */
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
