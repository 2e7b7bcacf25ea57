/*
 * doca_sys_doca.h - the seam between doca-flow's hardware backend and DOCA
 * Flow (feature `doca`).
 *
 * This header is ours and needs no DOCA SDK: it declares only opaque handles
 * and plain, host-order structs. The hardware backend
 * (doca-flow/src/backend/hw) reaches DOCA through these dsys_* functions and
 * nothing else, so no DOCA struct layout, enum value or version difference
 * is visible to Rust. Two implementations exist:
 *
 *  - doca-sys/csrc/doca_shim.c: the real one, over the installed DOCA SDK
 *    (2.9 LTS, 3.0 and later). It fills DOCA's structs by field name, maps
 *    the flags and error codes of the SDK it is compiled against, and hides
 *    every API difference between releases (see docs/doca-versions.md).
 *    Compiled only with an SDK: never in CI.
 *  - doca-flow's DOCA Flow contract emulator (feature `doca-emu`,
 *    doca-flow/src/backend/emu): a Rust implementation of the same symbols
 *    that executes on the software backend and checks DOCA's documented
 *    rules on every call. It is what CI runs the hardware backend on.
 *
 * Conventions: every function returning dsys_rc returns 0 (DSYS_OK, which is
 * DOCA_SUCCESS) or a DOCA error code (enum doca_error_t of the SDK, or the
 * emulator's DSYS_ERR_* below, which use DOCA's numbers);
 * dsys_error_name/descr describe it. Pointers to specs are read during the
 * call only; nothing is kept. Handles are never dereferenced by the caller.
 */
#ifndef DOCA_SYS_DOCA_H
#define DOCA_SYS_DOCA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque handles: DOCA's own (the shim hands DOCA's pointers through), or
 * the emulator's tagged ids. */
struct doca_flow_port;
struct doca_flow_pipe;
struct doca_flow_pipe_entry;

/* 0 on success, else a doca_error_t value. */
typedef int32_t dsys_rc;

/* The doca_error_t values the emulator returns and the hardware backend
 * names (the same numbers in the 2.5, 3.0 and 3.3 doca_error.h copies). */
enum dsys_errors {
	DSYS_OK = 0,
	DSYS_ERR_NOT_PERMITTED = 2,
	DSYS_ERR_IN_USE = 3,
	DSYS_ERR_NOT_SUPPORTED = 4,
	DSYS_ERR_INVALID_VALUE = 6,
	DSYS_ERR_NO_MEMORY = 7,
	DSYS_ERR_NOT_FOUND = 16,
	DSYS_ERR_BAD_STATE = 18,
	DSYS_ERR_ALREADY_EXIST = 23,
	DSYS_ERR_FULL = 24,
	DSYS_ERR_IN_PROGRESS = 26,
};

/* The DOCA version the implementation was built against, major << 16 | minor
 * (the emulator reports the newest release its rules follow). */
uint32_t dsys_doca_version(void);
/* DOCA's name and description of an error code (static strings). */
const char *dsys_error_name(dsys_rc rc);
const char *dsys_error_descr(dsys_rc rc);

/* --- library ----------------------------------------------------------- */

enum dsys_entry_op {
	DSYS_ENTRY_OP_ADD = 0,
	DSYS_ENTRY_OP_DEL = 1,
	DSYS_ENTRY_OP_UPD = 2,
	DSYS_ENTRY_OP_AGED = 3,
};

enum dsys_entry_status {
	DSYS_ENTRY_STATUS_IN_PROCESS = 0,
	DSYS_ENTRY_STATUS_SUCCESS = 1,
	DSYS_ENTRY_STATUS_ERROR = 2,
};

/* The entry-process callback (doca_flow_cfg_set_cb_entry_process): called
 * synchronously from dsys_entries_process on the calling thread, once per
 * completed operation, with the usr_ctx given at entry add. op is a
 * dsys_entry_op, status a dsys_entry_status. */
typedef void (*dsys_entry_cb)(struct doca_flow_pipe_entry *entry, uint16_t queue,
			      uint32_t status, uint32_t op, void *usr_ctx);

struct dsys_flow_cfg {
	uint16_t queues;      /* doca_flow_cfg_set_pipe_queues */
	uint32_t queue_depth; /* doca_flow_cfg_set_queue_depth */
	uint32_t nr_counters; /* the counter budget (global, or per port from 3.2) */
	uint32_t nr_meters;   /* the meter budget */
	bool switch_mode;     /* "switch,hws" (else "vnf,hws") */
	dsys_entry_cb cb;
};

/* doca_flow_init from a configuration. Once per process. */
dsys_rc dsys_flow_init(const struct dsys_flow_cfg *cfg);
/* doca_flow_destroy: after every port is stopped. */
void dsys_flow_destroy(void);

/* --- ports ------------------------------------------------------------- */

enum dsys_port_kind {
	DSYS_PORT_PLAIN = 0,       /* vnf mode */
	DSYS_PORT_SWITCH = 1,      /* the switch manager (usually p0) */
	DSYS_PORT_REPRESENTOR = 2, /* pf0hpf, a VF or an SF of that switch */
};

struct dsys_port_cfg {
	uint16_t port_id;        /* the DPDK port id, also DOCA's */
	uint32_t kind;           /* dsys_port_kind */
	uint16_t switch_port_id; /* representors: the switch manager's port id */
	uint32_t nr_counters;    /* per-port budgets (3.2+; ignored before) */
	uint32_t nr_meters;
};

/* doca_flow_port_start, with the device attached the way the SDK wants it
 * (the shim opens and later closes a representor's doca_dev_rep). */
dsys_rc dsys_port_start(const struct dsys_port_cfg *cfg, struct doca_flow_port **port);
/* doca_flow_port_stop: after every pipe of the port is destroyed (and, for
 * a switch port, every representor stopped). */
dsys_rc dsys_port_stop(struct doca_flow_port *port);
/* doca_flow_port_pipes_flush: destroys every pipe of the port. */
void dsys_port_pipes_flush(struct doca_flow_port *port);
dsys_rc dsys_port_pair(struct doca_flow_port *port, struct doca_flow_port *pair);

/* --- templates: match, mask, actions ----------------------------------- */

/* Which header groups a spec sets (bits of dsys_header_spec.present). */
enum dsys_header_bits {
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

/* enum doca_flow_l3_meta / l4_meta, by value (the same in 2.9-3.3). */
enum dsys_l3_meta {
	DSYS_L3_META_NONE = 0,
	DSYS_L3_META_IPV4 = 1,
	DSYS_L3_META_IPV6 = 2,
};
enum dsys_l4_meta {
	DSYS_L4_META_NONE = 0,
	DSYS_L4_META_TCP = 1,
	DSYS_L4_META_UDP = 2,
	DSYS_L4_META_ICMP = 3,
	DSYS_L4_META_ESP = 4,
};

/* One match, mask or modify-actions template: every outer field of DOCA
 * Flow's match that doca-flow models. Values host order except the IPv6
 * addresses (network order bytes). */
struct dsys_header_spec {
	uint32_t present; /* dsys_header_bits */
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
	uint8_t ip6_src[16];
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
	uint16_t port_id;     /* parser_meta source port */
	uint32_t l3_meta;     /* dsys_l3_meta */
	uint32_t l4_meta;     /* dsys_l4_meta */
	uint8_t fragmented;
	uint32_t pkt_meta;    /* meta.pkt_meta */
	uint32_t meta_u32[4]; /* meta.u32[] scratch words */
	/* Actions only: decrement the IPv4 TTL (IPv6 hop limit with DSYS_HDR_IP6)
	 * by one. DOCA has no field for it: an action descriptor ADD of 255 to
	 * outer.ipv4.ttl (an 8-bit decrement), as NVIDIA's upf_accel does. */
	bool dec_ttl;
};

/* A monitor: an optional counter and an optional single-rate meter (limit
 * in packets when meter_packets, else bytes). */
struct dsys_monitor_spec {
	bool counter;
	bool meter;
	bool meter_packets;
	uint64_t cir;
	uint64_t cbs;
};

enum dsys_fwd_kind {
	DSYS_FWD_NONE = 0,
	DSYS_FWD_PORT = 1,
	DSYS_FWD_PIPE = 2,
	DSYS_FWD_DROP = 3,
	DSYS_FWD_RSS = 4,
	DSYS_FWD_KERNEL = 5,
	DSYS_FWD_CHANGEABLE = 6,
};

struct dsys_fwd_spec {
	uint32_t kind;                 /* dsys_fwd_kind */
	uint16_t port_id;              /* DSYS_FWD_PORT */
	struct doca_flow_pipe *pipe;   /* DSYS_FWD_PIPE */
	const uint16_t *rss_queues;    /* DSYS_FWD_RSS */
	uint16_t nr_rss_queues;
};

/* --- pipes ------------------------------------------------------------- */

enum dsys_pipe_type {
	DSYS_PIPE_BASIC = 0,
	DSYS_PIPE_CONTROL = 1,
	DSYS_PIPE_ACL = 2,
	DSYS_PIPE_LPM = 3,
	DSYS_PIPE_HASH = 4,
	DSYS_PIPE_CT = 5, /* needs dsys_ct_init; its match template is ignored */
};

struct dsys_pipe_spec {
	const char *name;
	uint32_t type;    /* dsys_pipe_type */
	bool is_root;
	bool egress;      /* DOCA_FLOW_PIPE_DOMAIN_EGRESS (else the default) */
	uint32_t nr_entries;
	bool miss_counter;
	const struct dsys_header_spec *match;      /* required */
	const struct dsys_header_spec *match_mask; /* NULL: none */
	const struct dsys_header_spec *actions;    /* NULL: no actions */
	const struct dsys_monitor_spec *monitor;   /* NULL: none */
};

/* doca_flow_pipe_cfg_create + the setters + doca_flow_pipe_create; fwd and
 * fwd_miss may be NULL. */
dsys_rc dsys_pipe_create(struct doca_flow_port *port, const struct dsys_pipe_spec *spec,
			 const struct dsys_fwd_spec *fwd, const struct dsys_fwd_spec *fwd_miss,
			 struct doca_flow_pipe **pipe);
/* doca_flow_pipe_destroy: nothing may forward to the pipe any more. */
void dsys_pipe_destroy(struct doca_flow_pipe *pipe);
dsys_rc dsys_pipe_update_miss(struct doca_flow_pipe *pipe, const struct dsys_fwd_spec *fwd_miss);
/* doca_flow_pipe_calc_hash. */
dsys_rc dsys_pipe_calc_hash(struct doca_flow_pipe *pipe, const struct dsys_header_spec *match,
			    uint32_t *hash);

/* --- entries ----------------------------------------------------------- */

/* Entry flags, in this header's numbering (the shim maps them to the SDK's:
 * DOCA 3.3 renumbered them). */
enum dsys_entry_flags {
	DSYS_FLAG_NO_WAIT = 0,
	DSYS_FLAG_WAIT_FOR_BATCH = 1,
};

/* One entry; which fields count depends on the pipe type:
 *   basic:   match, actions, monitor, fwd
 *   control: match, match_mask, actions, monitor, fwd, priority
 *   acl:     match, match_mask, fwd, priority (0 is the highest)
 *   lpm:     match, match_mask, actions, monitor, fwd
 *   hash:    hash_index, actions, monitor, fwd
 * NULL actions/monitor/fwd: none (the pipe's). */
struct dsys_entry_spec {
	const struct dsys_header_spec *match;
	const struct dsys_header_spec *match_mask;
	const struct dsys_header_spec *actions;
	const struct dsys_monitor_spec *monitor;
	const struct dsys_fwd_spec *fwd;
	uint32_t priority;
	uint32_t hash_index;
};

/* The add-entry call of the pipe's type (doca_flow_pipe_{basic_,control_,
 * acl_,lpm_,hash_}add_entry). Control entries take no flags in DOCA: they
 * are pushed at once. The status arrives through the callback, from
 * dsys_entries_process. */
dsys_rc dsys_entry_add(uint16_t queue, struct doca_flow_pipe *pipe,
		       const struct dsys_entry_spec *spec, uint32_t flags, void *usr_ctx,
		       struct doca_flow_pipe_entry **entry);
/* doca_flow_pipe_update_entry (basic pipes): actions, monitor and fwd of
 * spec; match fields are ignored. */
dsys_rc dsys_entry_update(uint16_t queue, struct doca_flow_pipe *pipe,
			  struct doca_flow_pipe_entry *entry, const struct dsys_entry_spec *spec,
			  uint32_t flags);
/* doca_flow_pipe_remove_entry. */
dsys_rc dsys_entry_remove(uint16_t queue, struct doca_flow_pipe_entry *entry, uint32_t flags);
/* doca_flow_entries_process: completes up to max operations (0: all) of the
 * queue for the port's pipes, calling the callback for each. */
dsys_rc dsys_entries_process(struct doca_flow_port *port, uint16_t queue, uint64_t timeout_us,
			     uint32_t max);
/* doca_flow_resource_query_entry / _pipe_miss: the counter's totals. */
dsys_rc dsys_query_entry(struct doca_flow_pipe_entry *entry, uint64_t *packets, uint64_t *bytes);
dsys_rc dsys_query_pipe_miss(struct doca_flow_pipe *pipe, uint64_t *packets, uint64_t *bytes);

/* --- connection tracking ------------------------------------------------
 * DOCA Flow CT (doca_flow_ct.h) in managed mode: a CT pipe hits on a
 * connection's origin or reply 5-tuple in a zone, takes that direction's
 * actions and counter and goes to the pipe's fwd; anything else misses to
 * fwd_miss. DOCA marks the API experimental; DOCA 2.10 has no CT; IPv6
 * connections need a BlueField-3.
 *
 * Queues: the CT calls take the same queue numbers as the pipe calls (0 to
 * dsys_flow_cfg.queues - 1; a thread of work uses one number for both).
 * DOCA numbers its CT queues after the pipe queues: the shim gives CT as many
 * queues as DOCA Flow has and passes queues + queue to DOCA. A CT operation
 * completes through the same dsys_entries_process(port, queue) call as a
 * pipe operation, and the callback reports it with the seam's queue number.
 * dsys_ct_query takes no queue and uses queue 0: callers serialise it with
 * queue 0's other calls. */

struct dsys_ct_cfg {
	uint32_t zone_word;        /* meta.u32[zone_word] carries the zone */
	uint32_t ipv4_connections; /* doca_flow_ct_cfg_set_connections */
	uint32_t ipv6_connections; /* 0 on a BlueField-2 */
};

/* doca_flow_ct_cfg_create + setters + doca_flow_ct_init: after
 * dsys_flow_init, before any port starts. */
dsys_rc dsys_ct_init(const struct dsys_ct_cfg *cfg);

/* One direction's 5-tuple (doca_flow_ct_match4/6): addresses in network
 * order, an IPv4 address in the first four bytes; ports host order. */
struct dsys_ct_tuple {
	bool ipv6;
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t src_port;
	uint16_t dst_port;
	uint8_t proto; /* TCP or UDP */
};

/* What a hit in one direction does. */
struct dsys_ct_dir {
	bool set_pkt_meta; /* write meta.pkt_meta */
	uint32_t pkt_meta;
	bool counter;      /* count this direction */
};

struct dsys_ct_entry_spec {
	uint32_t zone;
	struct dsys_ct_tuple origin;
	bool has_reply; /* false: the origin direction only */
	struct dsys_ct_tuple reply;
	struct dsys_ct_dir origin_dir;
	struct dsys_ct_dir reply_dir;
	uint32_t timeout_s; /* aging: seconds without a hit (0: never) */
};

/* doca_flow_ct_entry_prepare + doca_flow_ct_add_entry on a CT pipe; the
 * status arrives through the callback from dsys_entries_process. */
dsys_rc dsys_ct_entry_add(uint16_t queue, struct doca_flow_pipe *pipe,
			  const struct dsys_ct_entry_spec *spec, uint32_t flags, void *usr_ctx,
			  struct doca_flow_pipe_entry **entry);
/* doca_flow_ct_rm_entry. */
dsys_rc dsys_ct_entry_remove(uint16_t queue, struct doca_flow_pipe *pipe,
			     struct doca_flow_pipe_entry *entry, uint32_t flags);

struct dsys_ct_counters {
	uint64_t origin_packets;
	uint64_t origin_bytes;
	uint64_t reply_packets;
	uint64_t reply_bytes;
	uint64_t last_hit_s; /* seconds, on DOCA's clock */
};

/* doca_flow_ct_query_entry. */
dsys_rc dsys_ct_query(struct doca_flow_pipe *pipe, struct doca_flow_pipe_entry *entry,
		      struct dsys_ct_counters *out);

/* doca_flow_aging_handle: reports each CT entry of the port's pipes that saw
 * no hit for its timeout through the callback, op DSYS_ENTRY_OP_AGED, once
 * until it is hit again. The caller removes them. quota_us and max bound
 * the call (0: no bound); DSYS_OK whether or not DOCA's aging cycle is
 * complete. */
dsys_rc dsys_aging_handle(struct doca_flow_port *port, uint16_t queue, uint64_t quota_us,
			  uint32_t max);

#ifdef __cplusplus
}
#endif

#endif /* DOCA_SYS_DOCA_H */
