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
 *    from 3.0;
 *  - the port's device: doca_flow_port_cfg_set_dev takes `void *` in 2.7
 *    and `struct doca_dev *` in 3.0+, and representors get
 *    doca_flow_port_cfg_set_dev_rep only from 3.0;
 *  - the matched source port: parser_meta.port_meta in 2.9,
 *    parser_meta.port_id from 3.0;
 *  - RSS forwarding: flat rss_outer_flags / rss_queues / num_of_queues in
 *    struct doca_flow_fwd in 2.9, rss_type + nested rss from 3.0.
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
 * 2.9's port devargs and parser_meta.port_meta, a mix no branch covers. */
#if !DSYS_DOCA_AT_LEAST(2, 9)
#error "doca-sys supports DOCA 2.9 LTS and 3.0 or newer; this SDK is older than 2.9"
#endif
#if DOCA_VERSION_MAJOR == 2 && DOCA_VERSION_MINOR >= 10
#error "doca-sys supports DOCA 2.9 LTS and 3.0 or newer; DOCA 2.10 is not supported"
#endif

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
/* Attaches the DOCA device behind DPDK port `port_id` (a PF or the switch
 * manager). DOCA_SUCCESS without attaching anything when DOCA knows no
 * device for the port. */
doca_error_t dsys_doca_flow_port_cfg_set_dev_of_port(struct doca_flow_port_cfg *cfg,
						    uint16_t port_id);
/* Makes cfg the representor DPDK port `port_id` of the switch whose manager
 * is DPDK port `switch_port_id`. From 3.0 this opens the DOCA representor
 * and stores it in *rep: close it with doca_dev_rep_close once the port is
 * stopped. 2.9 starts representors by port id alone: *rep is NULL. */
doca_error_t dsys_doca_flow_port_cfg_set_representor(struct doca_flow_port_cfg *cfg,
						     uint16_t port_id, uint16_t switch_port_id,
						     struct doca_dev_rep **rep);

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

/* --- filling DOCA structs from flat, host-order specs ------------------------
 * The DOCA Flow structs nest anonymous unions whose layout and bindgen names
 * vary between releases; C fills them by field name, so Rust never touches
 * their insides. Values are host order; the shim converts to big endian. */

/* Which header groups a spec sets (bits of dsys_flow_header_spec.present). */
enum dsys_flow_header_bits {
	DSYS_HDR_ETH = 1u << 0,
	DSYS_HDR_VLAN0 = 1u << 1,
	DSYS_HDR_VLAN1 = 1u << 2,
	DSYS_HDR_IP4 = 1u << 3,
	DSYS_HDR_IP6 = 1u << 4,
	DSYS_HDR_TCP = 1u << 5,
	DSYS_HDR_UDP = 1u << 6,
	DSYS_HDR_TRANSPORT = 1u << 7,
	DSYS_HDR_ICMP = 1u << 8,
	DSYS_HDR_ICMP6 = 1u << 9,
	DSYS_HDR_PARSER_META = 1u << 10,
	DSYS_HDR_META = 1u << 11,
};

/* One match, mask or modify-actions template: every outer field DOCA Flow
 * matches that doca-flow models. */
struct dsys_flow_header_spec {
	uint32_t present; /* dsys_flow_header_bits */
	uint8_t eth_src[6];
	uint8_t eth_dst[6];
	uint16_t eth_type;
	uint16_t vlan_tci[2];
	uint32_t ip4_src;
	uint32_t ip4_dst;
	uint8_t ip4_proto;
	uint8_t ip4_dscp_ecn;
	uint8_t ip4_ttl;
	uint16_t ip4_flags_frag;
	uint8_t ip6_src[16]; /* network order already */
	uint8_t ip6_dst[16];
	uint8_t ip6_next;
	uint8_t ip6_traffic_class;
	uint32_t ip6_flow_label;
	uint8_t ip6_hop_limit;
	uint16_t l4_src_port; /* TCP, UDP or transport, by present bits */
	uint16_t l4_dst_port;
	uint8_t tcp_flags;
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint16_t port_id;
	uint32_t l3_meta; /* enum doca_flow_l3_meta */
	uint32_t l4_meta; /* enum doca_flow_l4_meta */
	uint8_t fragmented;
	uint32_t pkt_meta;
	uint32_t meta_u32[4];
};

void dsys_doca_flow_match_fill(dsys_doca_flow_match *m,
			       const struct dsys_flow_header_spec *s);
void dsys_doca_flow_actions_fill(dsys_doca_flow_actions *a,
				 const struct dsys_flow_header_spec *s);
/* A monitor with an optional per-entry counter and an optional single-rate
 * meter (limit in packets when meter_packets, else bytes). */
void dsys_doca_flow_monitor_fill(dsys_doca_flow_monitor *m, bool counter, bool meter,
				 bool meter_packets, uint64_t cir, uint64_t cbs);

enum dsys_flow_fwd_kind {
	DSYS_FWD_NONE = 0,
	DSYS_FWD_PORT,
	DSYS_FWD_PIPE,
	DSYS_FWD_DROP,
	DSYS_FWD_RSS,
	DSYS_FWD_KERNEL,
	DSYS_FWD_CHANGEABLE,
};
/* Fills a fwd. queues must stay valid until the pipe or entry using it is
 * created (RSS only). */
doca_error_t dsys_doca_flow_fwd_fill(dsys_doca_flow_fwd *f, enum dsys_flow_fwd_kind kind,
				     uint16_t port_id, struct doca_flow_pipe *pipe,
				     uint16_t *queues, uint16_t nr_queues);
void dsys_doca_flow_query_counters(const dsys_doca_flow_resource_query *q, uint64_t *packets,
				   uint64_t *bytes);
doca_error_t dsys_doca_flow_pipe_calc_hash(struct doca_flow_pipe *pipe,
					   const dsys_doca_flow_match *match, uint32_t *hash);

#ifdef __cplusplus
}
#endif

#endif /* DOCA_SYS_DOCA_H */
