/*
 * stun_probe: asks a STUN server which public ip:port it sees this machine's UDP socket as, and how long the
 * answer took. It uses only the public C API (derp/stun.h, derp/netcheck.h, derp/common.h); the single-server mode
 * runs over plain POSIX UDP sockets.
 *
 *   stun-probe HOST[:PORT] [--timeout S] [--software tailnode|none]
 *   stun-probe --derpmap FILE [--timeout S] [--json]
 *
 * With --derpmap it runs a Tailscale-style netcheck (derp_uv_netcheck_run) against every region of a DERPMap JSON
 * file and prints UDP/IPv4/IPv6, the public endpoints, whether the NAT is "hard" (mapping varies by destination),
 * the STUN latency per region and the preferred (home) region, as a table or (--json) as one JSON object. Exit
 * status there: 0 when some STUN answer came, 1 when none did, 2 for usage errors, a file that is not a DERPMap or
 * a DERPMap with no region to probe.
 *
 * HOST is a name, an IPv4 literal or [IPv6] (a bare IPv6 literal without a port also works); PORT defaults to
 * 3478. Every address the name resolves to is tried in turn, each for up to S seconds (default 3).
 *
 * By default it sends Tailscale's 40-byte binding request (SOFTWARE "tailnode" + FINGERPRINT): Tailscale's STUN
 * servers silently drop any binding request without them (derp-protocol.md §6.1, §6.3), and an ordinary RFC 8489
 * server answers it as well. `--software none` sends a plain RFC 8489 binding request with only a FINGERPRINT.
 *
 * Exit status: 0 with an answer; 1 when no address answered within the timeout or a server sent an error or
 * unusable answer; 2 for usage errors and a HOST that does not resolve.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "derp/derp.h"

#define DEFAULT_PORT "3478"
#define DEFAULT_TIMEOUT_S 3.0
#define MAX_TIMEOUT_S 3600.0
/* First retransmission timeout. RFC 8489 §6.2.1 recommends 500 ms for unknown paths but allows a smaller value
   when the path is expected to be fast; 250 ms, doubling after each send, gives sends at 0, 250, 750, 1750 ms ...
   so the default 3 s window holds four attempts. */
#define INITIAL_RTO_MS 250.0
/* RFC 8489 §6.2.1: Rc, the most requests sent for one transaction. After the last one we only wait. */
#define MAX_SENDS 7
/* A DERPMap file larger than this is not a DERPMap (Tailscale's default map is about 20 KiB). */
#define MAX_DERPMAP_BYTES (16 * 1024 * 1024)

/* What probing one address came to. */
enum outcome {
  OUTCOME_ANSWER,   /* a binding success response with our transaction id */
  OUTCOME_REJECTED, /* an error or unusable response with our transaction id: final, the server has spoken */
  OUTCOME_NOTHING,  /* no answer in time, or this address could not be reached: try the next one */
};

#define SYNOPSIS                                                                                                 \
  "    stun-probe HOST[:PORT] [--timeout S] [--software tailnode|none]\n"                                           \
  "    stun-probe --derpmap FILE [--timeout S] [--json]\n"                                                          \
  "    stun-probe --help | --version\n"

/* On a usage error: the synopsis and where the rest is. */
static void usage(FILE *to) {
  fprintf(to, "usage:\n" SYNOPSIS "Run stun-probe --help for the options and the exit status.\n");
}

/* --help, laid out as a manual page: the installed tool has no other documentation at hand. */
static void help(void) {
  printf("NAME\n"
         "    stun-probe - this machine's public ip:port as a STUN server sees it, or a whole netcheck\n"
         "\n"
         "SYNOPSIS\n" SYNOPSIS
         "\n"
         "DESCRIPTION\n"
         "    Sends one STUN binding request to HOST and prints the public endpoint the server saw and the round\n"
         "    trip: \"public endpoint IP:PORT (rtt X ms) from SERVER\". Every address HOST resolves to is tried in\n"
         "    turn. With --derpmap it runs a Tailscale-style netcheck against every region of a DERPMap instead:\n"
         "    UDP, public IPv4/IPv6, hard NAT (mapping varies by destination), STUN latency per region and the\n"
         "    preferred region, as a table or as one JSON object.\n"
         "\n"
         "OPTIONS\n"
         "  HOST            a name, an IPv4 literal or [IPv6]; PORT defaults to " DEFAULT_PORT "\n"
         "  --timeout S     seconds to wait for an answer from each address (default 3); with --derpmap, for the\n"
         "                  whole run (default 3)\n"
         "  --software W    tailnode (default): Tailscale's request, SOFTWARE \"tailnode\" + FINGERPRINT, which\n"
         "                  Tailscale's servers require; none: a plain RFC 8489 request with only FINGERPRINT\n"
         "  --derpmap FILE  netcheck every region of the DERPMap JSON file (Tailscale's tailcfg.DERPMap)\n"
         "  --json          with --derpmap: print the report as one JSON object instead of a table\n"
         "  --help, -h      print this text and exit\n"
         "  --version       print the library version and exit\n"
         "\n"
         "EXIT STATUS\n"
         "    0  an answer came (with --derpmap: some region answered)\n"
         "    1  no answer within the timeout, or an error or unusable answer\n"
         "    2  usage errors, a HOST that does not resolve, a file that is not a DERPMap or a DERPMap without\n"
         "       regions to probe\n");
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* RFC 8489 §6: the transaction id must be uniformly and randomly chosen, and it is our only defence against
   off-path answers, so take it from the kernel's CSPRNG rather than rand(). */
static int random_txid(uint8_t txid[DERP_STUN_TXID_SIZE]) {
  int fd = open("/dev/urandom", O_RDONLY);
  if (fd < 0) return -1;
  size_t got = 0;
  while (got < DERP_STUN_TXID_SIZE) {
    ssize_t n = read(fd, txid + got, DERP_STUN_TXID_SIZE - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  return got == DERP_STUN_TXID_SIZE ? 0 : -1;
}

/* Splits HOST[:PORT] into host and port, writing into host_out. "[v6]" and "[v6]:port" take the brackets off; a
   text with two or more colons and no brackets is a bare IPv6 literal with no port. 0, or -1 when malformed. */
static int split_host_port(const char *arg, char *host_out, size_t host_cap, const char **port_out) {
  const char *host = arg, *port = DEFAULT_PORT;
  size_t host_len;
  if (arg[0] == '[') {
    const char *close_bracket = strchr(arg, ']');
    if (close_bracket == NULL) return -1;
    host = arg + 1;
    host_len = (size_t)(close_bracket - host);
    if (close_bracket[1] == ':') port = close_bracket + 2;
    else if (close_bracket[1] != '\0') return -1;
  } else {
    const char *colon = strchr(arg, ':');
    if (colon != NULL && strchr(colon + 1, ':') == NULL) {
      host_len = (size_t)(colon - arg);
      port = colon + 1;
    } else {
      host_len = strlen(arg); /* no colon, or a bare IPv6 literal */
    }
  }
  if (host_len == 0 || host_len >= host_cap) return -1;
  memcpy(host_out, host, host_len);
  host_out[host_len] = '\0';
  /* The port must be a decimal number 1..65535: getaddrinfo would also take a service name, which hides typos. */
  if (port[0] == '\0' || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port)) return -1;
  long value = strtol(port, NULL, 10);
  if (value < 1 || value > 65535) return -1;
  *port_out = port;
  return 0;
}

/* The server's address as text, via derp_addr so it prints like the mapped address does. */
static void format_sockaddr(const struct sockaddr *sa, char *out, size_t cap) {
  derp_addr addr;
  memset(&addr, 0, sizeof addr);
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)sa;
    addr.family = DERP_AF_INET;
    addr.port = ntohs(in4->sin_port);
    memcpy(addr.ip, &in4->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
    addr.family = DERP_AF_INET6;
    addr.port = ntohs(in6->sin6_port);
    memcpy(addr.ip, &in6->sin6_addr, 16);
  }
  if (addr.family == DERP_AF_NONE || derp_addr_format(&addr, out, cap) != DERP_OK) snprintf(out, cap, "?");
}

/*
 * Looks at one datagram that arrived on our socket. Returns OUTCOME_ANSWER (with *mapped set),
 * OUTCOME_REJECTED (the server answered our transaction with an error or an unusable response; a message was
 * printed), or OUTCOME_NOTHING when the datagram is not for us and is to be ignored.
 */
static enum outcome read_datagram(const uint8_t *data, size_t len, const uint8_t txid[DERP_STUN_TXID_SIZE],
                                  const char *server, derp_addr *mapped) {
  uint8_t echoed[DERP_STUN_TXID_SIZE];
  for (size_t i = 0; i < sizeof echoed; i++) echoed[i] = (uint8_t)~txid[i]; /* never matches unless filled */
  int rc = derp_stun_parse_binding_response(data, len, echoed, mapped);
  /* Not STUN at all, or another transaction: unrelated traffic (RFC 8489 §6.3.1 matches responses to requests
     by transaction id alone). txid_out is filled whenever there is a STUN header, so the compare is safe. */
  if (rc == DERP_ERR_NOT_STUN || rc == DERP_ERR_INVALID_ARGUMENT) return OUTCOME_NOTHING;
  if (memcmp(echoed, txid, DERP_STUN_TXID_SIZE) != 0) return OUTCOME_NOTHING;
  if (rc == DERP_OK) return OUTCOME_ANSWER;

  if (rc == DERP_ERR_STUN_NOT_SUCCESS_RESPONSE) {
    derp_stun_message msg;
    memset(&msg, 0, sizeof msg);
    msg.struct_size = sizeof msg;
    int prc = derp_stun_parse(data, len, &msg);
    if (prc != DERP_OK) {
      fprintf(stderr, "stun-probe: %s sent an unreadable answer: %s\n", server, derp_strerror(prc));
      return OUTCOME_REJECTED;
    }
    /* A request or indication carrying our id (say, our own request reflected back) is not an answer. */
    if (msg.message_class != DERP_STUN_CLASS_ERROR_RESPONSE) {
      if (msg.message_class == DERP_STUN_CLASS_SUCCESS_RESPONSE) {
        fprintf(stderr, "stun-probe: %s answered with a success response of method 0x%03x, not binding\n", server,
                (unsigned)msg.method);
        return OUTCOME_REJECTED;
      }
      return OUTCOME_NOTHING;
    }
    /* RFC 8489 §6.3.4: an error response ends the transaction. We hold no credentials and send no extra
       attributes, so there is nothing to retry with (a 300 ALTERNATE-SERVER is reported, not followed). */
    if (msg.has_error_code) {
      fprintf(stderr, "stun-probe: %s answered with error %d %.*s: %s\n", server, msg.error_code,
              (int)(msg.error_reason_len > 200 ? 200 : msg.error_reason_len),
              msg.error_reason != NULL ? (const char *)msg.error_reason : "", derp_strerror(rc));
    } else {
      fprintf(stderr, "stun-probe: %s answered with an error response without ERROR-CODE: %s\n", server,
              derp_strerror(rc));
    }
    return OUTCOME_REJECTED;
  }
  /* Our transaction, but malformed or without a mapped address (RFC 8489 §6.3.3: such a response fails it). */
  fprintf(stderr, "stun-probe: %s sent an unusable answer: %s\n", server, derp_strerror(rc));
  return OUTCOME_REJECTED;
}

/* One transaction with one server address: send, retransmit on the RFC 8489 §6.2.1 schedule, wait. */
static enum outcome probe_address(const struct addrinfo *ai, const uint8_t *request, size_t request_len,
                                  const uint8_t txid[DERP_STUN_TXID_SIZE], double timeout_ms) {
  char server[DERP_ADDR_TEXT_MAX];
  format_sockaddr(ai->ai_addr, server, sizeof server);

  int fd = socket(ai->ai_family, SOCK_DGRAM, ai->ai_protocol);
  if (fd < 0) {
    fprintf(stderr, "stun-probe: %s: socket: %s\n", server, strerror(errno));
    return OUTCOME_NOTHING;
  }
  /* A connected UDP socket gets datagrams from the server's address only, and the kernel reports an ICMP port
     unreachable as ECONNREFUSED, so a closed port fails fast instead of waiting out the timeout. */
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    fprintf(stderr, "stun-probe: %s: %s\n", server, strerror(errno));
    close(fd);
    return OUTCOME_NOTHING;
  }

  enum outcome result = OUTCOME_NOTHING;
  const char *failure = NULL; /* why this address gave nothing, when it was not a plain timeout */
  int saved_errno = 0;
  double start = now_ms(), deadline = start + timeout_ms;
  double next_send = start, rto = INITIAL_RTO_MS, last_send = start;
  int sends = 0;
  derp_addr mapped;

  for (;;) {
    double now = now_ms();
    if (now >= deadline) break;
    if (sends < MAX_SENDS && now >= next_send) {
      /* Retransmissions reuse the same transaction id and bytes (RFC 8489 §6.2.1), so any copy's answer counts. */
      if (send(fd, request, request_len, 0) < 0) {
        if (errno == EINTR) continue;
        failure = "send";
        saved_errno = errno;
        break;
      }
      last_send = now;
      sends++;
      next_send = now + rto;
      rto *= 2;
      continue;
    }
    double wake = (sends < MAX_SENDS && next_send < deadline) ? next_send : deadline;
    struct pollfd pfd = {fd, POLLIN, 0};
    int wait_ms = (int)(wake - now) + 1; /* round up: waking early would only spin */
    int ready = poll(&pfd, 1, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      failure = "poll";
      saved_errno = errno;
      break;
    }
    if (ready == 0) continue;

    uint8_t buf[2048];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    double arrived = now_ms();
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      failure = "recv";
      saved_errno = errno;
      break;
    }
    result = read_datagram(buf, (size_t)n, txid, server, &mapped);
    if (result == OUTCOME_NOTHING) continue; /* unrelated datagram: keep waiting */
    if (result == OUTCOME_ANSWER) {
      char endpoint[DERP_ADDR_TEXT_MAX];
      if (derp_addr_format(&mapped, endpoint, sizeof endpoint) != DERP_OK) snprintf(endpoint, sizeof endpoint, "?");
      /* After a retransmission we cannot tell which copy was answered (RFC 8489 §6.2.1 and Karn's algorithm);
         timing from the latest send gives the lower bound and is exact when only one request went out. */
      printf("public endpoint %s (rtt %.1f ms) from %s\n", endpoint, arrived - last_send, server);
      if (sends > 1) {
        fprintf(stderr, "stun-probe: note: %d requests were sent; rtt is measured from the last one\n", sends);
      }
    }
    break;
  }
  close(fd);

  if (result == OUTCOME_NOTHING) {
    if (failure != NULL && saved_errno == ECONNREFUSED) {
      fprintf(stderr, "stun-probe: %s: port unreachable (nothing listens on that UDP port)\n", server);
    } else if (failure != NULL) {
      fprintf(stderr, "stun-probe: %s: %s: %s\n", server, failure, strerror(saved_errno));
    } else {
      fprintf(stderr, "stun-probe: no answer from %s within %.3g s (%d request%s sent)\n", server,
              timeout_ms / 1e3, sends, sends == 1 ? "" : "s");
    }
  }
  return result;
}

/* ---- --derpmap: a netcheck over a whole DERPMap ---------------------------------------------------------- */

/* Reads a whole file into a NUL-terminated heap buffer. NULL (with a message) on failure. */
static char *read_file(const char *path, size_t *len_out) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "stun-probe: cannot open %s: %s\n", path, strerror(errno));
    return NULL;
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  while (buf != NULL) {
    if (len + 1 >= cap) {
      if (cap >= MAX_DERPMAP_BYTES) {
        fprintf(stderr, "stun-probe: %s is larger than %d bytes: not a DERPMap\n", path, MAX_DERPMAP_BYTES);
        free(buf);
        buf = NULL;
        break;
      }
      char *bigger = realloc(buf, cap * 2);
      if (bigger == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = bigger;
      cap *= 2;
    }
    size_t n = fread(buf + len, 1, cap - 1 - len, f);
    len += n;
    if (n == 0) {
      if (ferror(f)) {
        fprintf(stderr, "stun-probe: reading %s: %s\n", path, strerror(errno));
        free(buf);
        buf = NULL;
      }
      break;
    }
  }
  fclose(f);
  if (buf == NULL) return NULL;
  buf[len] = '\0';
  *len_out = len;
  return buf;
}

/* A JSON string literal: quotes, backslashes and control characters escaped; other bytes as they are (region
   names from a parsed DERPMap are valid UTF-8). */
static void print_json_string(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\') {
      printf("\\%c", *p);
    } else if (*p < 0x20) {
      printf("\\u%04x", *p);
    } else {
      putchar(*p);
    }
  }
  putchar('"');
}

static void format_endpoint(const derp_addr *addr, char *out, size_t cap) {
  if (addr->family == DERP_AF_NONE || derp_addr_format(addr, out, cap) != DERP_OK) snprintf(out, cap, "-");
}

/* Latency as milliseconds with 3 decimals, or "-". */
static void format_latency(int64_t us, char *out, size_t cap) {
  if (us < 0) {
    snprintf(out, cap, "-");
  } else {
    snprintf(out, cap, "%lld.%03lld ms", (long long)(us / 1000), (long long)(us % 1000));
  }
}

static void print_json_latency(const char *name, int64_t us) {
  if (us < 0) {
    printf("\"%s\":null", name);
  } else {
    printf("\"%s\":%lld.%03lld", name, (long long)(us / 1000), (long long)(us % 1000));
  }
}

static void print_report_json(const derp_netcheck_report_t *r) {
  char v4[DERP_ADDR_TEXT_MAX], v6[DERP_ADDR_TEXT_MAX];
  printf("{\"udp\":%s,\"ipv4\":%s,\"ipv6\":%s,", r->udp ? "true" : "false", r->ipv4 ? "true" : "false",
         r->ipv6 ? "true" : "false");
  if (r->global_v4.family != DERP_AF_NONE && derp_addr_format(&r->global_v4, v4, sizeof v4) == DERP_OK) {
    printf("\"global_v4\":\"%s\",", v4);
  } else {
    printf("\"global_v4\":null,");
  }
  if (r->global_v6.family != DERP_AF_NONE && derp_addr_format(&r->global_v6, v6, sizeof v6) == DERP_OK) {
    printf("\"global_v6\":\"%s\",", v6);
  } else {
    printf("\"global_v6\":null,");
  }
  printf("\"mapping_varies_by_dest_ip\":%s,",
         r->mapping_varies_by_dest_ip < 0 ? "null" : (r->mapping_varies_by_dest_ip ? "true" : "false"));
  printf("\"preferred_region\":%d,\"timed_out\":%s,\"regions_truncated\":%s,\"regions\":[", r->preferred_region,
         r->timed_out ? "true" : "false", r->regions_truncated ? "true" : "false");
  for (size_t i = 0; i < r->region_count; i++) {
    const derp_netcheck_region *g = &r->regions[i];
    printf("%s{\"region_id\":%d,\"code\":", i == 0 ? "" : ",", g->region_id);
    print_json_string(g->region_code);
    printf(",\"name\":");
    print_json_string(g->region_name);
    putchar(',');
    print_json_latency("latency_ms", g->latency_us);
    putchar(',');
    print_json_latency("latency_v4_ms", g->latency_v4_us);
    putchar(',');
    print_json_latency("latency_v6_ms", g->latency_v6_us);
    putchar('}');
  }
  printf("]}\n");
}

static void print_report_table(const derp_netcheck_report_t *r) {
  char v4[DERP_ADDR_TEXT_MAX], v6[DERP_ADDR_TEXT_MAX];
  format_endpoint(&r->global_v4, v4, sizeof v4);
  format_endpoint(&r->global_v6, v6, sizeof v6);
  printf("UDP:              %s\n", r->udp ? "yes" : "no");
  printf("IPv4:             %s, public %s\n", r->ipv4 ? "yes" : "no", v4);
  printf("IPv6:             %s, public %s\n", r->ipv6 ? "yes" : "no", v6);
  printf("hard NAT:         %s\n",
         r->mapping_varies_by_dest_ip < 0 ? "unknown (fewer than two distinct server IPs answered)"
         : r->mapping_varies_by_dest_ip   ? "yes (mapping varies by destination IP)"
                                          : "no (same mapping for every destination)");
  const char *preferred_code = "";
  for (size_t i = 0; i < r->region_count; i++) {
    if (r->regions[i].region_id == r->preferred_region) preferred_code = r->regions[i].region_code;
  }
  if (r->preferred_region != 0) {
    printf("preferred region: %d %s\n", r->preferred_region, preferred_code);
  } else {
    printf("preferred region: none\n");
  }
  if (r->timed_out) printf("(the run ended at its timeout)\n");
  printf("\n%-8s %-10s %-24s %-12s %-12s %s\n", "REGION", "CODE", "NAME", "LATENCY", "IPv4", "IPv6");
  for (size_t i = 0; i < r->region_count; i++) {
    const derp_netcheck_region *g = &r->regions[i];
    char best[32], l4[32], l6[32];
    format_latency(g->latency_us, best, sizeof best);
    format_latency(g->latency_v4_us, l4, sizeof l4);
    format_latency(g->latency_v6_us, l6, sizeof l6);
    printf("%-8d %-10s %-24s %-12s %-12s %s%s\n", g->region_id, g->region_code[0] ? g->region_code : "-",
           g->region_name[0] ? g->region_name : "-", best, l4, l6,
           g->region_id == r->preferred_region ? " *" : "");
  }
  if (r->regions_truncated) printf("(more regions were probed than the report holds)\n");
}

/* The --derpmap mode: 0 when some STUN answer came, 1 when none did, 2 for a bad file or a map with no region to
   probe. */
static int run_derpmap(const char *path, double timeout_s, int json) {
  size_t len = 0;
  char *text = read_file(path, &len);
  if (text == NULL) return 2;
  derp_netcheck_options opts;
  derp_netcheck_report_t report;
  int rc = derp_netcheck_options_init(&opts, sizeof opts);
  if (rc == DERP_OK) rc = derp_netcheck_report_init(&report, sizeof report);
  if (rc == DERP_OK) {
    opts.timeout_ms = (uint32_t)(timeout_s * 1e3 + 0.5);
    if (opts.timeout_ms == 0) opts.timeout_ms = 1;
    rc = derp_uv_netcheck_run(text, len, &opts, &report);
  }
  free(text);
  if (rc != DERP_OK) {
    fprintf(stderr, "stun-probe: netcheck with %s: %s\n", path, derp_strerror(rc));
    return rc == DERP_ERR_BAD_JSON || rc == DERP_ERR_INVALID_ARGUMENT ? 2 : 1;
  }
  if (report.region_count == 0 && !report.regions_truncated) {
    /* An empty table would read as "nothing answered"; the map itself is what is wrong. */
    fprintf(stderr, "stun-probe: %s has no region to probe (no regions, or none with nodes that may be measured)\n",
            path);
    return 2;
  }
  if (json) {
    print_report_json(&report);
  } else {
    print_report_table(&report);
  }
  return report.udp ? 0 : 1;
}

int main(int argc, char **argv) {
  const char *target = NULL, *software = "tailnode", *derpmap = NULL;
  double timeout_s = DEFAULT_TIMEOUT_S;
  int json = 0, software_given = 0;

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *value = NULL;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      help();
      return 0;
    }
    if (strcmp(arg, "--json") == 0) {
      json = 1;
      continue;
    }
    if (strcmp(arg, "--version") == 0) {
      printf("%s (libderp stun-probe)\n", derp_version_string());
      return 0;
    }
    if (strncmp(arg, "--", 2) == 0) {
      /* Options take their value as the next argument or after '='; the name is checked first, so an unknown
         option is reported as such whatever follows it. */
      const char *eq = strchr(arg, '=');
      size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
      static const char *const with_value[] = {"--timeout", "--software", "--derpmap"};
      int known = 0;
      for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) {
        known = known || (strlen(with_value[k]) == name_len && strncmp(arg, with_value[k], name_len) == 0);
      }
      if (!known) {
        fprintf(stderr, "stun-probe: unknown option %.*s\n", (int)name_len, arg);
        usage(stderr);
        return 2;
      }
      if (eq != NULL) {
        value = eq + 1;
      } else if (i + 1 < argc) {
        value = argv[++i];
      }
      if (value == NULL) {
        fprintf(stderr, "stun-probe: %s needs a value\n", arg);
        usage(stderr);
        return 2;
      }
      if (name_len == 9 && strncmp(arg, "--timeout", name_len) == 0) {
        char *end = NULL;
        errno = 0;
        timeout_s = strtod(value, &end);
        if (errno != 0 || end == value || *end != '\0' || !(timeout_s > 0) || timeout_s > MAX_TIMEOUT_S) {
          fprintf(stderr, "stun-probe: --timeout wants seconds, more than 0 and at most %.0f, not \"%s\"\n",
                  MAX_TIMEOUT_S, value);
          return 2;
        }
      } else if (name_len == 10 && strncmp(arg, "--software", name_len) == 0) {
        if (strcmp(value, "tailnode") != 0 && strcmp(value, "none") != 0) {
          fprintf(stderr, "stun-probe: --software is tailnode or none, not \"%s\"\n", value);
          return 2;
        }
        software = value;
        software_given = 1;
      } else {
        if (value[0] == '\0') {
          fprintf(stderr, "stun-probe: --derpmap needs a file name\n");
          return 2;
        }
        derpmap = value;
      }
    } else if (arg[0] == '-' && arg[1] != '\0') {
      fprintf(stderr, "stun-probe: unknown option %s\n", arg);
      usage(stderr);
      return 2;
    } else if (target == NULL) {
      target = arg;
    } else {
      fprintf(stderr, "stun-probe: only one HOST, got \"%s\" and \"%s\"\n", target, arg);
      usage(stderr);
      return 2;
    }
  }
  if (derpmap != NULL) {
    if (target != NULL || software_given) {
      fprintf(stderr, "stun-probe: --derpmap probes the map's nodes: no HOST and no --software with it\n");
      usage(stderr);
      return 2;
    }
    return run_derpmap(derpmap, timeout_s, json);
  }
  if (json) {
    fprintf(stderr, "stun-probe: --json goes with --derpmap\n");
    usage(stderr);
    return 2;
  }
  if (target == NULL) {
    usage(stderr);
    return 2;
  }

  char host[256];
  const char *port = NULL;
  if (split_host_port(target, host, sizeof host, &port) != 0) {
    fprintf(stderr, "stun-probe: \"%s\" is not HOST, HOST:PORT, [IPv6] or [IPv6]:PORT (PORT 1..65535)\n", target);
    return 2;
  }

  struct addrinfo hints, *list = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_protocol = IPPROTO_UDP;
  hints.ai_flags = AI_NUMERICSERV;
  int gai = getaddrinfo(host, port, &hints, &list);
  if (gai != 0) {
    fprintf(stderr, "stun-probe: cannot resolve \"%s\": %s\n", host, gai_strerror(gai));
    return 2;
  }

  /* One transaction id per address: each address gets its own transaction, and an answer that a slow earlier
     server sends late cannot be taken for the current one. */
  int status = 1;
  for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    uint8_t txid[DERP_STUN_TXID_SIZE];
    if (random_txid(txid) != 0) {
      fprintf(stderr, "stun-probe: cannot read /dev/urandom for a transaction id\n");
      break;
    }
    uint8_t request[64];
    size_t request_len = 0;
    int rc;
    if (strcmp(software, "tailnode") == 0) {
      /* derp-protocol.md §6.1: the 40-byte request Tailscale's servers require (§6.3). */
      rc = derp_stun_build_tailscale_request(txid, request, sizeof request, &request_len);
    } else {
      /* RFC 8489 §6.1 / §14.7: no SOFTWARE; FINGERPRINT helps servers sharing the port tell STUN apart. */
      derp_stun_request_options opts;
      rc = derp_stun_request_options_init(&opts, sizeof opts);
      if (rc == DERP_OK) {
        opts.software = NULL;
        opts.fingerprint = 1;
        rc = derp_stun_build_request(txid, &opts, request, sizeof request, &request_len);
      }
    }
    if (rc != DERP_OK) {
      fprintf(stderr, "stun-probe: building the request: %s\n", derp_strerror(rc));
      break;
    }
    enum outcome result = probe_address(ai, request, request_len, txid, timeout_s * 1e3);
    if (result == OUTCOME_ANSWER) status = 0;
    if (result != OUTCOME_NOTHING) break; /* an answer, or a server's definite refusal */
  }
  freeaddrinfo(list);
  return status;
}
