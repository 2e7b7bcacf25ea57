/*
 * doca_sys_doca.h - the DOCA surface that doca-sys binds (feature `doca`).
 *
 * This header is ours; it includes the DOCA SDK's headers from the SDK
 * installed on the build machine (never from this repository: they are
 * NVIDIA proprietary) and declares one version-neutral API over them.
 *
 * DOCA Flow changed in almost every release. Everything that differs
 * between DOCA 2.9 LTS, 3.0-3.1, 3.2 and 3.3+ goes through the dsys_doca_*
 * functions and types below, implemented in doca-sys/csrc/doca_shim.c, so
 * no Rust caller sees a version difference:
 *
 *  - entry add/update signatures (the action_idx argument of 3.2+, the
 *    rename of doca_flow_pipe_add_entry to doca_flow_pipe_basic_add_entry
 *    in 3.3, the priority argument moving in control_add_entry in 3.3);
 *  - entry flag values (DOCA_FLOW_NO_WAIT = 0 / WAIT_FOR_BATCH = 1 before
 *    3.3; DOCA_FLOW_ENTRY_FLAGS_NO_WAIT = 1 / _WAIT_FOR_BATCH = 2 in 3.3);
 *  - 3.3's versioned symbols (doca_ctsd_flow.h renames ~40 structs and the
 *    functions that take them to *_v1): the dsys_doca_flow_* typedefs name
 *    whichever struct the SDK's headers select;
 *  - the shared-resource (meter) API: global set_cfg + bind before 3.2,
 *    per-port resources from 3.2;
 *  - the port id: devargs string in 2.9, doca_flow_port_cfg_set_port_id
 *    from 3.0.
 *
 * Functions whose signatures are the same in every supported version
 * (doca_flow_cfg_create, doca_flow_port_start, doca_flow_entries_process,
 * ...) are called directly by their DOCA names.
 */
#ifndef DOCA_SYS_DOCA_H
#define DOCA_SYS_DOCA_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include <doca_version.h>
#include <doca_error.h>
#include <doca_dev.h>
#include <doca_dpdk.h>
#include <doca_log.h>
#include <doca_flow.h>

#ifdef __cplusplus
extern "C" {
#endif

/* True when the SDK built against is at least major.minor. */
#define DSYS_DOCA_AT_LEAST(major, minor)                                       \
	(DOCA_VERSION_MAJOR > (major) ||                                       \
	 (DOCA_VERSION_MAJOR == (major) && DOCA_VERSION_MINOR >= (minor)))

/* The SDK version the shim was compiled against, as major << 16 | minor. */
enum dsys_doca_version {
	DSYS_DOCA_VERSION = (DOCA_VERSION_MAJOR << 16) | DOCA_VERSION_MINOR,
};

/* Entry flags, in the numbering of the SDK built against. */
enum dsys_doca_flow_entry_flags {
#if DSYS_DOCA_AT_LEAST(3, 3)
	DSYS_DOCA_FLOW_NO_WAIT = DOCA_FLOW_ENTRY_FLAGS_NO_WAIT,
	DSYS_DOCA_FLOW_WAIT_FOR_BATCH = DOCA_FLOW_ENTRY_FLAGS_WAIT_FOR_BATCH,
#else
	DSYS_DOCA_FLOW_NO_WAIT = DOCA_FLOW_NO_WAIT,
	DSYS_DOCA_FLOW_WAIT_FOR_BATCH = DOCA_FLOW_WAIT_FOR_BATCH,
#endif
};

/* The versioned structs, by stable names (3.3 maps them to *_v1). */
typedef struct doca_flow_match dsys_doca_flow_match;
typedef struct doca_flow_match_condition dsys_doca_flow_match_condition;
typedef struct doca_flow_actions dsys_doca_flow_actions;
typedef struct doca_flow_action_descs dsys_doca_flow_action_descs;
typedef struct doca_flow_monitor dsys_doca_flow_monitor;
typedef struct doca_flow_fwd dsys_doca_flow_fwd;
typedef struct doca_flow_resource_query dsys_doca_flow_resource_query;
typedef struct doca_flow_resource_meter_cfg dsys_doca_flow_resource_meter_cfg;
typedef struct doca_flow_resource_rss_cfg dsys_doca_flow_resource_rss_cfg;

/* --- library and ports --------------------------------------------------- */
doca_error_t dsys_doca_flow_init(struct doca_flow_cfg *cfg);
/* Counter and meter budgets. Before 3.2 they are global (set on the library
 * config, and the port variant does nothing); from 3.2 the library runs in
 * per-port resource mode and each port config carries its own budget.
 * Call both: the shim applies whichever the SDK uses. */
doca_error_t dsys_doca_flow_cfg_set_resources(struct doca_flow_cfg *cfg,
					      uint32_t nr_counters,
					      uint32_t nr_meters);
doca_error_t dsys_doca_flow_port_cfg_set_resources(struct doca_flow_port_cfg *cfg,
						   uint32_t nr_counters,
						   uint32_t nr_meters);
doca_error_t dsys_doca_flow_port_cfg_set_port_id(struct doca_flow_port_cfg *cfg,
						 uint16_t port_id);

/* --- pipes --------------------------------------------------------------- */
doca_error_t dsys_doca_flow_pipe_cfg_set_match(struct doca_flow_pipe_cfg *cfg,
					       const dsys_doca_flow_match *match,
					       const dsys_doca_flow_match *match_mask);
doca_error_t dsys_doca_flow_pipe_cfg_set_actions(struct doca_flow_pipe_cfg *cfg,
						 dsys_doca_flow_actions *const *actions,
						 dsys_doca_flow_actions *const *actions_masks,
						 dsys_doca_flow_action_descs *const *action_descs,
						 size_t nr_actions);
doca_error_t dsys_doca_flow_pipe_cfg_set_monitor(struct doca_flow_pipe_cfg *cfg,
						 const dsys_doca_flow_monitor *monitor);
doca_error_t dsys_doca_flow_pipe_create(const struct doca_flow_pipe_cfg *cfg,
					const dsys_doca_flow_fwd *fwd,
					const dsys_doca_flow_fwd *fwd_miss,
					struct doca_flow_pipe **pipe);
doca_error_t dsys_doca_flow_pipe_update_miss(struct doca_flow_pipe *pipe,
					     const dsys_doca_flow_fwd *fwd_miss);

/* --- entries (3.3 argument order for every version) ---------------------- */
doca_error_t dsys_doca_flow_pipe_basic_add_entry(
	uint16_t pipe_queue, struct doca_flow_pipe *pipe,
	const dsys_doca_flow_match *match, uint8_t action_idx,
	const dsys_doca_flow_actions *actions,
	const dsys_doca_flow_monitor *monitor, const dsys_doca_flow_fwd *fwd,
	uint32_t flags, void *usr_ctx, struct doca_flow_pipe_entry **entry);
doca_error_t dsys_doca_flow_pipe_basic_update_entry(
	uint16_t pipe_queue, struct doca_flow_pipe *pipe, uint8_t action_idx,
	const dsys_doca_flow_actions *actions,
	const dsys_doca_flow_monitor *monitor, const dsys_doca_flow_fwd *fwd,
	uint32_t flags, struct doca_flow_pipe_entry *entry);
doca_error_t dsys_doca_flow_pipe_control_add_entry(
	uint16_t pipe_queue, struct doca_flow_pipe *pipe,
	const dsys_doca_flow_match *match, const dsys_doca_flow_match *match_mask,
	const dsys_doca_flow_match_condition *condition,
	const dsys_doca_flow_actions *actions,
	const dsys_doca_flow_actions *actions_mask,
	const dsys_doca_flow_action_descs *action_descs,
	const dsys_doca_flow_monitor *monitor, uint32_t priority,
	const dsys_doca_flow_fwd *fwd, void *usr_ctx,
	struct doca_flow_pipe_entry **entry);
/* Before 3.2 ACL entries take no actions: a non-NULL actions pointer is
 * DOCA_ERROR_NOT_SUPPORTED there. */
doca_error_t dsys_doca_flow_pipe_acl_add_entry(
	uint16_t pipe_queue, struct doca_flow_pipe *pipe,
	const dsys_doca_flow_match *match, const dsys_doca_flow_match *match_mask,
	uint8_t action_idx, const dsys_doca_flow_actions *actions,
	uint32_t priority, const dsys_doca_flow_fwd *fwd, uint32_t flags,
	void *usr_ctx, struct doca_flow_pipe_entry **entry);
doca_error_t dsys_doca_flow_pipe_lpm_add_entry(
	uint16_t pipe_queue, struct doca_flow_pipe *pipe,
	const dsys_doca_flow_match *match, const dsys_doca_flow_match *match_mask,
	uint8_t action_idx, const dsys_doca_flow_actions *actions,
	const dsys_doca_flow_monitor *monitor, const dsys_doca_flow_fwd *fwd,
	uint32_t flags, void *usr_ctx, struct doca_flow_pipe_entry **entry);
doca_error_t dsys_doca_flow_pipe_hash_add_entry(
	uint16_t pipe_queue, struct doca_flow_pipe *pipe, uint32_t entry_index,
	uint8_t action_idx, const dsys_doca_flow_actions *actions,
	const dsys_doca_flow_monitor *monitor, const dsys_doca_flow_fwd *fwd,
	uint32_t flags, void *usr_ctx, struct doca_flow_pipe_entry **entry);

/* --- counters and meters -------------------------------------------------- */
doca_error_t dsys_doca_flow_resource_query_entry(struct doca_flow_pipe_entry *entry,
						 dsys_doca_flow_resource_query *out);
doca_error_t dsys_doca_flow_resource_query_pipe_miss(struct doca_flow_pipe *pipe,
						     dsys_doca_flow_resource_query *out);
/* Creates a shared meter on port and returns its id. Before 3.2 the id is
 * `hint_id` (global ids, bound to the port); from 3.2 DOCA allocates it per
 * port and `hint_id` is ignored. */
doca_error_t dsys_doca_flow_shared_meter_create(
	struct doca_flow_port *port, uint32_t hint_id,
	const dsys_doca_flow_resource_meter_cfg *cfg, uint32_t *id);

#ifdef __cplusplus
}
#endif

#endif /* DOCA_SYS_DOCA_H */
