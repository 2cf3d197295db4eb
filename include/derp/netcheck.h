/*
 * libderp — netcheck: what the network looks like from here, measured with Tailscale-style STUN against the nodes
 * of a DERPMap (Tailscale's net/netcheck; derp-protocol.md §5, §6): whether UDP works over IPv4 and IPv6, this
 * host's public ip:port in each family, whether the NAT maps differently per destination ("hard" NAT), the STUN
 * round trip to each region, and the home (preferred) region.
 *
 * Probes follow Tailscale's first, full report: every region that has nodes and is not NoMeasureNoHome gets
 * `tries` requests per family at 0, interval, 2 × interval ... (node k % node count), each the 40-byte request
 * Tailscale's servers require. Host names are resolved when a node has no IP literal for a family. Not done here:
 * Tailscale's HTTPS/ICMP latency fallbacks when UDP is blocked, port-mapping and captive-portal checks, and the
 * 5-minute latency history behind its home choice.
 *
 * Extensible structs carry `size_t struct_size` first; the *_init functions set it and fill defaults. The library
 * reads and writes only the fields that fit in the caller's struct_size, so a program built against an older,
 * shorter struct keeps working. New fields are only ever appended.
 */
#ifndef DERP_NETCHECK_H
#define DERP_NETCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "derp/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most regions a report lists; more set derp_netcheck_report_t.regions_truncated. */
/* The DERPMap JSON uses Go's field names, matched case-insensitively as Go does: {"Regions": {"<id>": {"RegionID",
 * "RegionCode", "RegionName", "NoMeasureNoHome", "Nodes": [{"Name", "RegionID", "HostName", "IPv4", "IPv6",
 * "STUNPort" (0 = 3478, -1 = no STUN), "STUNOnly", "STUNTestIP", "DERPPort", "CertName", "InsecureForTests",
 * "CanPort80"}]}}, "HomeParams": {"RegionScore": {"<id>": factor}}}. IPv4/IPv6: an address to use, "" to resolve
 * HostName, anything else (conventionally "none") to skip that family. Unknown fields are ignored. */
#define DERP_NETCHECK_MAX_REGIONS 64
/* Room for a region's code and name, NUL included; longer ones are cut (at a UTF-8 character boundary). */
#define DERP_NETCHECK_REGION_CODE_MAX 32
#define DERP_NETCHECK_REGION_NAME_MAX 64
/* The most tries per region and family. */
#define DERP_NETCHECK_MAX_TRIES 8

typedef struct derp_netcheck_options {
  size_t struct_size;          /* sizeof(derp_netcheck_options); set by derp_netcheck_options_init */
  uint32_t timeout_ms;         /* the whole run ends after this, answered or not. Default 3000 (Tailscale's STUN
                                  phase); 1..600000 */
  int ipv4;                    /* probe over IPv4. Default 1 */
  int ipv6;                    /* probe over IPv6. Default 1 */
  uint32_t tries;              /* requests per region and family, 1..DERP_NETCHECK_MAX_TRIES. Default 3 */
  uint32_t retry_interval_ms;  /* try k goes out k × this after the start, 1..60000. Default 100 */
  uint32_t enough_regions;     /* after this many regions answered, wait only 2 × the slowest latency so far for
                                  the others (Tailscale's shortcut). 0 = wait for every region. Default 3 */
  int previous_home;           /* the home region before this run, 0 = none: it is kept unless the best region
                                  is both >= 10 ms faster and faster than 2/3 of its latency. Default 0 */
  int previous_home_active;    /* DERP traffic came from previous_home lately, so it counts as reachable even
                                  when its STUN went unanswered. Default 0 */
} derp_netcheck_options;

/* One probed region. Latencies are STUN round trips in microseconds, -1 when no answer came. */
typedef struct derp_netcheck_region {
  int region_id;
  char region_code[DERP_NETCHECK_REGION_CODE_MAX];
  char region_name[DERP_NETCHECK_REGION_NAME_MAX];
  int64_t latency_us;    /* the best of v4 and v6 */
  int64_t latency_v4_us;
  int64_t latency_v6_us;
} derp_netcheck_region;

typedef struct derp_netcheck_report_t {
  size_t struct_size; /* sizeof(derp_netcheck_report_t); set by derp_netcheck_report_init */
  int udp;            /* some STUN round trip completed */
  int ipv4;           /* an IPv4 round trip completed */
  int ipv6;           /* an IPv6 round trip completed */
  derp_addr global_v4; /* public IPv4 ip:port (the first IPv4 answer); family DERP_AF_NONE when unknown */
  derp_addr global_v6; /* public IPv6 [ip]:port (the latest IPv6 answer); family DERP_AF_NONE when unknown */
  /* 1: two IPv4 answers from different server IPs saw different ip:port ("hard" NAT, endpoint-dependent mapping);
     0: they agreed; -1: unknown (fewer than two server IPs answered over IPv4). */
  int mapping_varies_by_dest_ip;
  int preferred_region; /* the home region, 0 when none qualified */
  int timed_out;        /* the run ended at timeout_ms rather than with every probe settled */
  size_t region_count;  /* entries used in regions[], sorted by region_id */
  int regions_truncated; /* more regions were probed than DERP_NETCHECK_MAX_REGIONS */
  derp_netcheck_region regions[DERP_NETCHECK_MAX_REGIONS];
} derp_netcheck_report_t;

/* Fills defaults for a struct of struct_size bytes (pass sizeof *opts): an older, shorter struct gets only its
   prefix written. DERP_ERR_INVALID_ARGUMENT for NULL or a struct_size below sizeof(size_t). Thread-safe. */
DERP_EXPORT int derp_netcheck_options_init(derp_netcheck_options *opts, size_t struct_size);
/* Blanks the report (-1 for unknown values) as far as struct_size reaches and records struct_size (pass
   sizeof *report). DERP_ERR_INVALID_ARGUMENT for NULL or a struct_size below sizeof(size_t). Thread-safe. */
DERP_EXPORT int derp_netcheck_report_init(derp_netcheck_report_t *report, size_t struct_size);

/*
 * Runs one netcheck against the DERPMap given as Tailscale's JSON (tailcfg.DERPMap: derpmap_json[0..len), or up
 * to its NUL when len is 0) and blocks until it is done:
 * at most opts->timeout_ms, plus however long a host name lookup already under way takes to give up. Uses a
 * private libuv loop, its own UDP sockets on ephemeral ports, and the system resolver. opts NULL: defaults.
 * out->struct_size must be set (derp_netcheck_report_init).
 * DERP_OK with *out filled — also when nothing answered (out->udp == 0); DERP_ERR_BAD_JSON for a map that does not
 * parse; DERP_ERR_INVALID_ARGUMENT for NULL json/out, a struct_size too small, or an option out of range;
 * DERP_ERR_UV_LOOP when the event loop cannot be set up; DERP_ERR_NO_MEMORY.
 * Thread-safe: each call runs its own loop and shares nothing, so calls may run concurrently on different threads.
 */
DERP_EXPORT int derp_uv_netcheck_run(const char *derpmap_json, size_t len, const derp_netcheck_options *opts,
                                     derp_netcheck_report_t *out);

#ifdef __cplusplus
}
#endif

#endif /* DERP_NETCHECK_H */
