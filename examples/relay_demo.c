/*
 * relay_demo: the README's main job. Against a running DERP + STUN server (our derper, or Tailscale's), it
 *   1. asks the STUN server for this machine's public ip:port,
 *   2. connects two DERP clients, alice and bob, each with a fresh key,
 *   3. relays messages from alice to bob and back through the server,
 *   4. pings the server, and watches bob learn that alice left.
 * It uses only the public C API (frame codec, keys, sealed info, STUN) over plain blocking POSIX sockets: the
 * shape of a host that drives its own sockets. Every step is printed in plain words.
 *
 *   derp-relay-demo [HOST [DERP_PORT [STUN_PORT]]]     defaults: 127.0.0.1 3340 3478 (derper -dev)
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "derp/derp.h"

#define TIMEOUT_MS 5000

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int fail(const char *what, int code) {
  fprintf(stderr, "error: %s: %s\n", what, code < 0 ? derp_strerror(code) : strerror(errno));
  return -1;
}

/* ---- STUN over UDP ------------------------------------------------------------------------------------ */

static int stun_probe(const char *host, const char *port) {
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_socktype = SOCK_DGRAM;
  if (getaddrinfo(host, port, &hints, &ai) != 0) return fail("resolving the STUN server", 0);
  int fd = socket(ai->ai_family, SOCK_DGRAM, 0);
  uint8_t txid[DERP_STUN_TXID_SIZE], req[64], resp[1500], echoed[DERP_STUN_TXID_SIZE];
  size_t req_len = 0;
  for (size_t i = 0; i < sizeof txid; i++) txid[i] = (uint8_t)rand();
  derp_stun_build_tailscale_request(txid, req, sizeof req, &req_len);
  double start = now_ms();
  sendto(fd, req, req_len, 0, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(ai);
  struct pollfd p = {fd, POLLIN, 0};
  if (poll(&p, 1, TIMEOUT_MS) != 1) {
    close(fd);
    fprintf(stderr, "error: no STUN answer from %s:%s within %d ms\n", host, port, TIMEOUT_MS);
    return -1;
  }
  ssize_t n = recv(fd, resp, sizeof resp, 0);
  double rtt = now_ms() - start;
  close(fd);
  derp_addr addr;
  int rc = derp_stun_parse_binding_response(resp, n > 0 ? (size_t)n : 0, echoed, &addr);
  if (rc < 0) return fail("reading the STUN answer", rc);
  char text[DERP_ADDR_TEXT_MAX];
  derp_addr_format(&addr, text, sizeof text);
  printf("STUN    the server at %s:%s sees us as %s (round trip %.2f ms)\n", host, port, text, rtt);
  return 0;
}

/* ---- one DERP client over blocking TCP ------------------------------------------------------------------ */

typedef struct client {
  const char *name;
  int fd;
  uint8_t priv[32], pub[32], server_pub[32];
  derp_frame_reader *reader;
  uint8_t buf[70000]; /* bytes read but not yet cut into frames */
  size_t have, used;
} client;

static int send_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Waits for the next whole frame (decoded into *f), up to TIMEOUT_MS. 0 on success. */
static int next_frame(client *c, derp_frame_fields *f) {
  double deadline = now_ms() + TIMEOUT_MS;
  for (;;) {
    if (c->used < c->have) {
      derp_frame frame;
      size_t took = 0;
      int r = derp_frame_reader_next(c->reader, c->buf + c->used, c->have - c->used, &took, &frame);
      c->used += took;
      if (r < 0) return fail("reading frames", r);
      if (r == 1) {
        memset(f, 0, sizeof *f);
        f->struct_size = sizeof *f;
        int rc = derp_frame_decode(&frame, f);
        if (rc == DERP_OK) return 0;
        if (rc < 0) return fail("decoding a frame", rc);
        continue;
      }
    }
    /* The reader copied any partial frame, so the buffer can be reused. */
    c->have = c->used = 0;
    struct pollfd p = {c->fd, POLLIN, 0};
    int wait = (int)(deadline - now_ms());
    if (wait <= 0 || poll(&p, 1, wait) != 1) return fail("waiting for the server", 0);
    ssize_t n = recv(c->fd, c->buf, sizeof c->buf, 0);
    if (n <= 0) {
      fprintf(stderr, "error: %s: the server closed the connection\n", c->name);
      return -1;
    }
    c->have = (size_t)n;
  }
}

static int send_frame(client *c, derp_frame_fields *f) {
  uint8_t out[70000];
  size_t len = 0;
  f->struct_size = sizeof *f;
  int rc = derp_frame_encode(f, out, sizeof out, &len);
  if (rc < 0) return fail("encoding a frame", rc);
  return send_all(c->fd, out, len) == 0 ? 0 : fail("sending", 0);
}

static int connect_client(client *c, const char *host, const char *port) {
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, port, &hints, &ai) != 0) return fail("resolving the DERP server", 0);
  c->fd = socket(ai->ai_family, SOCK_STREAM, 0);
  int ok = connect(c->fd, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(ai);
  if (ok != 0) return fail("connecting to the DERP server", 0);
  derp_key_generate(c->priv);
  derp_key_public_from_private(c->priv, c->pub);
  derp_frame_reader_new(NULL, &c->reader);

  char request[256];
  int n = snprintf(request, sizeof request,
                   "GET /derp HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: DERP\r\n\r\n", host);
  if (send_all(c->fd, (const uint8_t *)request, (size_t)n) != 0) return fail("sending the upgrade", 0);
  /* Read the 101 head; what follows it (the ServerKey frame) stays in the buffer. */
  for (;;) {
    struct pollfd p = {c->fd, POLLIN, 0};
    if (poll(&p, 1, TIMEOUT_MS) != 1) return fail("waiting for the 101", 0);
    ssize_t r = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have - 1, 0);
    if (r <= 0) return fail("reading the 101", 0);
    c->have += (size_t)r;
    c->buf[c->have] = 0;
    char *end = strstr((char *)c->buf, "\r\n\r\n");
    if (end == NULL) continue;
    if (strncmp((char *)c->buf, "HTTP/1.1 101", 12) != 0) {
      fprintf(stderr, "error: the server did not upgrade: %.*s\n", (int)(strchr((char *)c->buf, '\r') - (char *)c->buf),
              (char *)c->buf);
      return -1;
    }
    c->used = (size_t)(end + 4 - (char *)c->buf);
    break;
  }
  derp_frame_fields f;
  if (next_frame(c, &f) != 0) return -1;
  if (f.type != DERP_FRAME_SERVER_KEY) return fail("expected the ServerKey frame", DERP_ERR_FRAME_TYPE);
  memcpy(c->server_pub, f.key, 32);

  derp_client_info info;
  uint8_t sealed[512];
  size_t sealed_len = 0;
  derp_client_info_init(&info, sizeof info);
  int rc = derp_client_info_seal(c->priv, c->server_pub, &info, NULL, sealed, sizeof sealed, &sealed_len);
  if (rc < 0) return fail("sealing ClientInfo", rc);
  memset(&f, 0, sizeof f);
  f.type = DERP_FRAME_CLIENT_INFO;
  memcpy(f.key, sealed, 32);
  memcpy(f.nonce, sealed + 32, 24);
  f.data = sealed + 56;
  f.data_len = sealed_len - 56;
  if (send_frame(c, &f) != 0) return -1;
  if (next_frame(c, &f) != 0) return -1;
  if (f.type != DERP_FRAME_SERVER_INFO) return fail("expected the ServerInfo frame", DERP_ERR_FRAME_TYPE);
  /* ServerInfo's payload is nonce + box; derp_server_info_open takes it whole. */
  uint8_t payload[1024];
  memcpy(payload, f.nonce, 24);
  memcpy(payload + 24, f.data, f.data_len);
  derp_server_info sinfo;
  derp_server_info_init(&sinfo, sizeof sinfo);
  rc = derp_server_info_open(c->priv, c->server_pub, payload, 24 + f.data_len, &sinfo);
  if (rc < 0) return fail("opening ServerInfo", rc);
  char key_text[DERP_KEY_TEXT_LEN], server_short[DERP_KEY_SHORT_LEN];
  derp_key_format_public(c->pub, key_text, sizeof key_text);
  derp_key_short(c->server_pub, server_short, sizeof server_short);
  printf("DERP    %-5s connected as %s; server %s speaks protocol version %d\n", c->name, key_text, server_short,
         sinfo.version);
  return 0;
}

/* Waits for a RecvPacket (skipping keep-alives and the like) and prints it. */
static int expect_packet(client *to, const client *from, const char *text) {
  derp_frame_fields f;
  for (;;) {
    if (next_frame(to, &f) != 0) return -1;
    if (f.type != DERP_FRAME_RECV_PACKET) continue;
    int from_right_key = derp_key_equal(f.src_key, from->pub);
    int same = f.data_len == strlen(text) && memcmp(f.data, text, f.data_len) == 0;
    printf("DERP    %-5s received \"%.*s\" from %s\n", to->name, (int)f.data_len, (const char *)f.data,
           from_right_key ? from->name : "an unexpected key");
    return from_right_key && same ? 0 : -1;
  }
}

static int relay(client *from, client *to, const char *text) {
  derp_frame_fields f;
  memset(&f, 0, sizeof f);
  f.type = DERP_FRAME_SEND_PACKET;
  memcpy(f.dst_key, to->pub, 32);
  f.data = (const uint8_t *)text;
  f.data_len = strlen(text);
  printf("DERP    %-5s sends \"%s\" to %s's key\n", from->name, text, to->name);
  if (send_frame(from, &f) != 0) return -1;
  return expect_packet(to, from, text);
}

int main(int argc, char **argv) {
  const char *host = argc > 1 ? argv[1] : "127.0.0.1";
  const char *derp_port = argc > 2 ? argv[2] : "3340";
  const char *stun_port = argc > 3 ? argv[3] : "3478";
  srand((unsigned)time(NULL));
  printf("libderp %s relay demo against %s (DERP port %s, STUN port %s)\n\n", derp_version_string(), host, derp_port,
         stun_port);

  if (stun_probe(host, stun_port) != 0) return 1;
  client alice = {.name = "alice"}, bob = {.name = "bob"};
  if (connect_client(&alice, host, derp_port) != 0 || connect_client(&bob, host, derp_port) != 0) return 1;
  if (relay(&alice, &bob, "hello bob, this is alice") != 0) return 1;
  if (relay(&bob, &alice, "hi alice, bob here: got it") != 0) return 1;

  derp_frame_fields f;
  memset(&f, 0, sizeof f);
  f.type = DERP_FRAME_PING;
  uint8_t ping[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  f.data = ping;
  f.data_len = sizeof ping;
  double start = now_ms();
  if (send_frame(&alice, &f) != 0) return 1;
  do {
    if (next_frame(&alice, &f) != 0) return 1;
  } while (f.type != DERP_FRAME_PONG);
  printf("DERP    alice pinged the server: pong after %.2f ms\n", now_ms() - start);

  printf("DERP    alice disconnects\n");
  close(alice.fd);
  do {
    if (next_frame(&bob, &f) != 0) return 1;
  } while (f.type != DERP_FRAME_PEER_GONE);
  printf("DERP    bob   is told alice is gone (PeerGone, reason %s)\n",
         f.reason == DERP_PEER_GONE_DISCONNECTED ? "disconnected" : "not here");
  close(bob.fd);
  derp_frame_reader_free(alice.reader);
  derp_frame_reader_free(bob.reader);
  printf("\ndone: two clients relayed through the server both ways\n");
  return 0;
}
