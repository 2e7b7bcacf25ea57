/*
 * demo.c: the dpu-fw demo from C, through include/dpu_fw.h.
 *
 *   demo POLICY.toml TRAFFIC.txt [software|hardware]
 *
 * Loads the policy (examples/firewall.toml) from its file and again from its text,
 * runs the demo traffic (examples/c/demo-traffic.txt: frames with the verdict each
 * must get) through a firewall packet by packet and through a second one in bursts,
 * checks every verdict, rule and connection state, checks the counted rules'
 * counters, the error paths (bad text, missing file, NULL arguments, unknown
 * backend), and a reload (a failed one keeps the old policy; a good one replaces it
 * and keeps the connections). Exits 0 only if every check held.
 *
 * `hardware` runs the firewalls on the hardware backend (a library built with
 * feature doca-emu or doca; as root, for the DPDK EAL); a library without it must
 * refuse with DPUFW_ERR_UNSUPPORTED, which is checked in both modes.
 *
 * Build and run: examples/c/build.sh (static and shared library).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpu_fw.h"

#define MAX_PACKETS 256
#define MAX_FRAME 2048

struct packet {
    char port[32];
    int pass;
    char rule[64];
    char state[16];
    uint8_t frame[MAX_FRAME];
    size_t len;
    char note[160];
};

static struct packet packets[MAX_PACKETS];
/* The rule that decided each packet in the packet-by-packet run (-1: a default). */
static int32_t decided_by[MAX_PACKETS];
static size_t npackets;
static int failures;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            failures++;                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
        }                                                                      \
    } while (0)

/* A call that must succeed; on failure, print the library's message and stop. */
#define MUST(call)                                                             \
    do {                                                                       \
        dpufw_status s_ = (call);                                              \
        if (s_ != DPUFW_OK) {                                                  \
            fprintf(stderr, "%s:%d: %s: %s: %s\n", __FILE__, __LINE__, #call,  \
                    dpufw_status_name(s_), dpufw_last_error());                \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static const char *state_name(dpufw_ct_state s)
{
    switch (s) {
    case DPUFW_CT_NEW: return "new";
    case DPUFW_CT_ESTABLISHED: return "established";
    case DPUFW_CT_RELATED: return "related";
    case DPUFW_CT_INVALID: return "invalid";
    default: return "-";
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void read_traffic(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    char line[2 * MAX_FRAME + 256];
    char note[160] = "";
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == '#') {
            snprintf(note, sizeof note, "%.159s", line[1] == ' ' ? line + 2 : line + 1);
            continue;
        }
        if (!line[0]) continue;
        if (npackets == MAX_PACKETS) {
            fprintf(stderr, "%s: more than %d packets\n", path, MAX_PACKETS);
            exit(1);
        }
        struct packet *p = &packets[npackets];
        char verdict[8], hex[2 * MAX_FRAME + 1];
        if (sscanf(line, "%31s %7s %63s %15s %4096s", p->port, verdict, p->rule, p->state,
                   hex) != 5) {
            fprintf(stderr, "%s: bad line: %s\n", path, line);
            exit(1);
        }
        p->pass = strcmp(verdict, "pass") == 0;
        size_t n = strlen(hex) / 2;
        for (size_t i = 0; i < n; i++) {
            int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                fprintf(stderr, "%s: bad hex: %s\n", path, line);
                exit(1);
            }
            p->frame[i] = (uint8_t)(hi << 4 | lo);
        }
        p->len = n;
        snprintf(p->note, sizeof p->note, "%s", note);
        npackets++;
    }
    fclose(f);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Checks one verdict against the packet's expectation; prints a table line if asked. */
static void check_verdict(dpufw_firewall *fw, const struct packet *p, const dpufw_verdict *v,
                          const char *how, int print)
{
    const char *rule = v->rule < 0 ? "-" : dpufw_firewall_rule_name(fw, (size_t)v->rule);
    const char *out = v->out_port >= 0 ? dpufw_firewall_port_name(fw, (uint16_t)v->out_port)
                                       : NULL;
    if (print) {
        printf("  %-7s %-12s %-14s %-5s %-8s %s%s\n", p->port, state_name(v->ct_state),
               rule ? rule : "?", v->pass ? "pass" : "drop", out ? out : "", p->note,
               v->in_hardware ? " [hw]" : "");
    }
    /* The hardware backend decides an offloaded connection's packets in the CT pipe,
     * which checks no TCP window (as a BlueField does): such a packet is established
     * and meets the `established` rule whatever the software path would say. */
    int offloaded = v->in_hardware && v->ct_state == DPUFW_CT_ESTABLISHED;
    int want_pass = offloaded ? 1 : p->pass;
    const char *want_rule = offloaded ? "established" : p->rule;
    const char *want_state = offloaded ? "established" : p->state;
    if (print && offloaded && strcmp(p->state, "established") != 0)
        printf("  %7s (in hardware: the offloaded connection skips the window check)\n", "");
    CHECK(v->pass == want_pass, "%s: %s: %s, expected %s", how, p->note,
          v->pass ? "pass" : "drop", want_pass ? "pass" : "drop");
    CHECK(rule && strcmp(rule, want_rule) == 0, "%s: %s: rule %s, expected %s", how, p->note,
          rule ? rule : "?", want_rule);
    CHECK(strcmp(state_name(v->ct_state), want_state) == 0, "%s: %s: state %s, expected %s",
          how, p->note, state_name(v->ct_state), want_state);
    CHECK(v->pass == (v->action != DPUFW_ACTION_DROP), "%s: %s: pass and action disagree",
          how, p->note);
}

static uint16_t port_id(dpufw_firewall *fw, const char *name)
{
    uint16_t id;
    MUST(dpufw_firewall_port_id(fw, name, &id));
    return id;
}

/* The traffic packet by packet; prints the table. */
static void run_single(dpufw_firewall *fw)
{
    printf("packet by packet:\n");
    printf("  %-7s %-12s %-14s %-5s %-8s %s\n", "port", "state", "rule", "", "out", "what");
    for (size_t i = 0; i < npackets; i++) {
        struct packet *p = &packets[i];
        uint8_t frame[MAX_FRAME];
        memcpy(frame, p->frame, p->len);
        dpufw_verdict v;
        MUST(dpufw_firewall_process(fw, port_id(fw, p->port), frame, p->len,
                                    (uint64_t)i * 1000000, &v));
        check_verdict(fw, p, &v, "single", 1);
        decided_by[i] = v.rule;
    }
}

/* The traffic in bursts: each run of packets from one port is one burst. */
static void run_bursts(dpufw_firewall *fw)
{
    static uint8_t frames[MAX_PACKETS][MAX_FRAME];
    uint8_t *ptrs[MAX_PACKETS];
    size_t lens[MAX_PACKETS];
    dpufw_verdict out[MAX_PACKETS];
    size_t bursts = 0;
    for (size_t start = 0; start < npackets;) {
        size_t end = start;
        while (end < npackets && strcmp(packets[end].port, packets[start].port) == 0) {
            memcpy(frames[end], packets[end].frame, packets[end].len);
            ptrs[end - start] = frames[end];
            lens[end - start] = packets[end].len;
            end++;
        }
        MUST(dpufw_firewall_process_burst(fw, port_id(fw, packets[start].port), ptrs, lens,
                                          end - start, (uint64_t)start * 1000000, out));
        for (size_t i = start; i < end; i++)
            check_verdict(fw, &packets[i], &out[i - start], "burst", 0);
        bursts++;
        start = end;
    }
    printf("\nin %zu bursts: every verdict checked\n", bursts);
}

/* Prints the per-rule counters and checks that each counted rule counted exactly the
 * packets it decided in run_single (whose verdicts were checked). */
static void check_counters(dpufw_firewall *fw)
{
    printf("\nper rule:\n  %-18s %8s %8s %8s\n", "rule", "decided", "counted", "bytes");
    size_t n = dpufw_firewall_rule_count(fw);
    for (size_t r = 0; r < n; r++) {
        const char *name = dpufw_firewall_rule_name(fw, r);
        uint64_t decided = 0, bytes = 0;
        for (size_t i = 0; i < npackets; i++) {
            if (decided_by[i] == (int32_t)r) {
                decided++;
                bytes += packets[i].len;
            }
        }
        dpufw_counters c;
        MUST(dpufw_firewall_rule_counters(fw, r, &c));
        if (c.counted) {
            printf("  %-18s %8llu %8llu %8llu\n", name, (unsigned long long)decided,
                   (unsigned long long)c.packets, (unsigned long long)c.bytes);
            CHECK(c.packets == decided && c.bytes == bytes,
                  "rule %s counted %llu packets (%llu bytes), decided %llu (%llu bytes)", name,
                  (unsigned long long)c.packets, (unsigned long long)c.bytes,
                  (unsigned long long)decided, (unsigned long long)bytes);
        } else {
            printf("  %-18s %8llu %8s %8s\n", name, (unsigned long long)decided, "-", "-");
            CHECK(c.packets == 0, "rule %s has no counter but reads %llu", name,
                  (unsigned long long)c.packets);
        }
    }
    dpufw_counters c;
    CHECK(dpufw_firewall_rule_counters(fw, n, &c) == DPUFW_ERR_INVALID_ARGUMENT,
          "a rule index past the end is refused");
}

static void check_errors(const dpufw_policy *policy, int hardware_built)
{
    dpufw_policy *bad = NULL;
    const char text[] = "[[rules]]\naction = \"allow\"\n";
    dpufw_status s = dpufw_policy_parse((const uint8_t *)text, strlen(text), "bad.toml", &bad);
    CHECK(s == DPUFW_ERR_POLICY && bad == NULL, "bad text: %s", dpufw_status_name(s));
    CHECK(strstr(dpufw_last_error(), "bad.toml:2:10: error: unknown action `allow`") != NULL,
          "bad text's message: %s", dpufw_last_error());
    printf("bad policy text: %s: %s\n", dpufw_status_name(s), dpufw_last_error());

    s = dpufw_policy_load("/nonexistent/firewall.toml", &bad);
    CHECK(s == DPUFW_ERR_IO && bad == NULL, "missing file: %s", dpufw_status_name(s));
    printf("missing file: %s: %s\n", dpufw_status_name(s), dpufw_last_error());

    dpufw_firewall *fw = NULL;
    CHECK(dpufw_firewall_new(policy, DPUFW_BACKEND_SOFTWARE, NULL, NULL) == DPUFW_ERR_NULL,
          "NULL out");
    CHECK(dpufw_firewall_new(NULL, DPUFW_BACKEND_SOFTWARE, NULL, &fw) == DPUFW_ERR_NULL,
          "NULL policy");
    CHECK(dpufw_firewall_new(policy, 7, NULL, &fw) == DPUFW_ERR_INVALID_ARGUMENT,
          "unknown backend");
    CHECK(dpufw_firewall_new(policy, DPUFW_BACKEND_HARDWARE, NULL, &fw) == DPUFW_ERR_NULL,
          "hardware without an EAL");
    CHECK(fw == NULL, "no firewall made on failure");
    dpufw_verdict v;
    uint8_t frame[1] = {0};
    CHECK(dpufw_firewall_process(NULL, 0, frame, 1, 0, &v) == DPUFW_ERR_NULL, "NULL firewall");
    if (!hardware_built) {
        dpufw_eal *eal = NULL;
        s = dpufw_eal_init(0, NULL, &eal);
        /* A library with DPDK but no hardware backend starts the EAL, then refuses. */
        if (s == DPUFW_OK) {
            s = dpufw_firewall_new(policy, DPUFW_BACKEND_HARDWARE, eal, &fw);
            dpufw_eal_free(eal);
        }
        CHECK(s == DPUFW_ERR_UNSUPPORTED, "hardware in a software-only library: %s",
              dpufw_status_name(s));
        CHECK(strstr(dpufw_last_error(), "--features doca") != NULL,
              "the message says how to build it: %s", dpufw_last_error());
        printf("hardware backend: %s: %s\n", dpufw_status_name(s), dpufw_last_error());
    }
    dpufw_policy_free(NULL);
    dpufw_firewall_free(NULL);
}

static void check_reload(dpufw_firewall *fw, int software)
{
    size_t conns = dpufw_firewall_connections(fw);
    /* A failed reload leaves the old policy in force. */
    CHECK(dpufw_firewall_reload(fw, NULL) == DPUFW_ERR_NULL, "reload with NULL");
    struct packet *bogon = &packets[0];
    uint8_t frame[MAX_FRAME];
    dpufw_verdict v;
    memcpy(frame, bogon->frame, bogon->len);
    MUST(dpufw_firewall_process(fw, port_id(fw, bogon->port), frame, bogon->len, 1000000000,
                                &v));
    check_verdict(fw, bogon, &v, "after a failed reload", 0);

    /* A new policy: SSH and established connections only, everything else dropped. */
    const char text[] =
        "[ports.p0]\nrole = \"uplink\"\nid = 0\n"
        "[ports.pf0hpf]\nrole = \"host\"\nid = 1\n"
        "[ports.hbn]\nrole = \"service\"\nrepresentor = \"en3f0pf0sf1\"\n"
        "[conntrack]\n"
        "[[rules]]\nname = \"ssh-only\"\nprotocol = \"tcp\"\ndst_port = 22\n"
        "action = \"accept\"\ncount = true\n"
        "[[rules]]\nname = \"established\"\nstate = [\"established\", \"related\"]\n"
        "action = \"accept\"\n"
        "[defaults]\ninbound = \"drop\"\noutbound = \"drop\"\n";
    dpufw_policy *ssh_only;
    MUST(dpufw_policy_parse((const uint8_t *)text, strlen(text), "ssh-only.toml", &ssh_only));
    MUST(dpufw_firewall_reload(fw, ssh_only));
    dpufw_policy_free(ssh_only);
    CHECK(dpufw_firewall_rule_count(fw) == 2 &&
              strcmp(dpufw_firewall_rule_name(fw, 0), "ssh-only") == 0,
          "the new policy's rules");
    CHECK(dpufw_firewall_connections(fw) == conns, "connections survive the reload: %zu, %zu",
          conns, dpufw_firewall_connections(fw));
    memcpy(frame, bogon->frame, bogon->len);
    MUST(dpufw_firewall_process(fw, port_id(fw, "p0"), frame, bogon->len, 1001000000, &v));
    CHECK(!v.pass && v.rule == -1, "the bogon now meets the inbound default");
    struct packet *ssh = &packets[1];
    memcpy(frame, ssh->frame, ssh->len);
    MUST(dpufw_firewall_process(fw, port_id(fw, "p0"), frame, ssh->len, 1002000000, &v));
    CHECK(v.pass && v.rule == 0, "SSH passes by the new rule");
    dpufw_counters c;
    MUST(dpufw_firewall_rule_counters(fw, 0, &c));
    CHECK(c.counted && c.packets == 1, "the new rule counted its packet: %llu",
          (unsigned long long)c.packets);
    printf("\nreload: a failed one kept the old policy; the new one (%s) is in force, %zu "
           "connections kept\n",
           software ? "fresh pipes" : "hardware pipes updated", dpufw_firewall_connections(fw));
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s POLICY.toml TRAFFIC.txt [software|hardware]\n", argv[0]);
        return 2;
    }
    int hardware = argc == 4 && strcmp(argv[3], "hardware") == 0;
    dpufw_backend backend = hardware ? DPUFW_BACKEND_HARDWARE : DPUFW_BACKEND_SOFTWARE;
    printf("dpu-fw %s, %s backend\n", dpufw_version(), hardware ? "hardware" : "software");
    read_traffic(argv[2]);

    dpufw_policy *from_file, *from_text;
    MUST(dpufw_policy_load(argv[1], &from_file));
    size_t len;
    char *text = read_file(argv[1], &len);
    MUST(dpufw_policy_parse((const uint8_t *)text, len, argv[1], &from_text));
    free(text);
    printf("policy %s: %zu rules, %zu warnings; %zu packets\n\n", argv[1],
           dpufw_policy_rule_count(from_file), dpufw_policy_warning_count(from_file), npackets);
    check_errors(from_file, hardware);

    dpufw_eal *eal = NULL;
    if (hardware) MUST(dpufw_eal_init(0, NULL, &eal));

    dpufw_firewall *single, *burst;
    MUST(dpufw_firewall_new(from_file, backend, eal, &single));
    dpufw_policy_free(from_file); /* the firewall keeps its own copy */
    printf("\n");
    run_single(single);
    check_counters(single);
    check_reload(single, !hardware);
    dpufw_firewall_free(single);

    MUST(dpufw_firewall_new(from_text, backend, eal, &burst));
    dpufw_policy_free(from_text);
    run_bursts(burst);
    dpufw_firewall_free(burst);
    dpufw_eal_free(eal);

    if (failures) {
        printf("\n%d checks failed\n", failures);
        return 1;
    }
    printf("\nevery check held (%zu packets, twice)\n", npackets);
    return 0;
}
