/*
 * host_driven: two DERP clients, alice and bob, driven by this program's own poll() loop over its own non-blocking
 * TCP sockets through the sans-IO derp_client API (include/derp/client.h). No libuv, no thread: the shape a
 * game or IoT main loop takes. Plain http:// only (a host with TLS would run it between the socket and the conn).
 *
 *   derp-host-driven http://127.0.0.1:3340/derp
 *
 * Steps: both connect, alice sends bob a packet, bob replies, alice pings the server. Exit 0 when all happened,
 * 1 with a message on a failure or after 10 s.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "derp/derp.h"

#define OVERALL_TIMEOUT_NS (10ull * 1000000000ull)

typedef struct peer {
  const char *name;
  int fd;
  int tcp_up;
  derp_client *conn;
  uint8_t priv[DERP_KEY_LEN];
  uint8_t pub[DERP_KEY_LEN];
  int connected;
  int closed;
  int close_error;
  char close_detail[256];
  int packets;
  char last_text[128];
  uint8_t last_from[DERP_KEY_LEN];
  int ping_done;
  int ping_error;
  uint64_t ping_id;
  uint64_t rtt_ns;
} peer;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "host_driven: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  return 1;
}

/* Called from inside derp_client_* calls on this thread: record, print, never free the connection here. */
static void on_event(const derp_client_event *e, void *user_data) {
  peer *p = user_data;
  switch (e->type) {
    case DERP_CLIENT_EVENT_SERVER_INFO:
      /* Not CONNECTED (our handshake is sent): SERVER_INFO says the server has registered us, so packets sent to
       * us from now on are delivered, not dropped as "peer unknown". */
      p->connected = 1;
      break;
    case DERP_CLIENT_EVENT_PACKET: {
      size_t n = e->len < sizeof p->last_text - 1 ? e->len : sizeof p->last_text - 1;
      memcpy(p->last_text, e->data, n);
      p->last_text[n] = '\0';
      memcpy(p->last_from, e->key, DERP_KEY_LEN);
      p->packets++;
      break;
    }
    case DERP_CLIENT_EVENT_PING_RESULT:
      if (e->ping_id == p->ping_id) {
        p->ping_done = 1;
        p->ping_error = e->error;
        p->rtt_ns = e->rtt_ns;
      }
      break;
    case DERP_CLIENT_EVENT_CLOSED:
      p->closed = 1;
      p->close_error = e->error;
      snprintf(p->close_detail, sizeof p->close_detail, "%s", e->detail != NULL ? e->detail : "");
      break;
    default:
      break;
  }
}

/* "http://HOST:PORT/path": the address to dial, the Host header and the path. IP literals only (no DNS here). */
static int parse_url(const char *url, derp_addr *addr, char *host, size_t host_cap, char *path, size_t path_cap) {
  const char *prefix = "http://";
  if (strncmp(url, prefix, strlen(prefix)) != 0) return -1;
  const char *h = url + strlen(prefix);
  const char *slash = strchr(h, '/');
  size_t hl = slash != NULL ? (size_t)(slash - h) : strlen(h);
  if (hl == 0 || hl >= host_cap) return -1;
  memcpy(host, h, hl);
  host[hl] = '\0';
  snprintf(path, path_cap, "%s", slash != NULL ? slash : "/derp");
  return derp_addr_parse(host, addr) == DERP_OK ? 0 : -1;
}

static int dial(const derp_addr *a) {
  struct sockaddr_storage ss;
  socklen_t len;
  memset(&ss, 0, sizeof ss);
  if (a->family == DERP_AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(a->port);
    memcpy(&sin->sin_addr, a->ip, 4);
    len = sizeof *sin;
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(a->port);
    memcpy(&sin6->sin6_addr, a->ip, 16);
    len = sizeof *sin6;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Writes what the client has pending, as much as the socket takes: its views in one sendmsg() (a writev). */
static int flush(peer *p) {
  for (;;) {
    derp_bytes views[4];
    struct iovec iov[4];
    size_t count = 0;
    if (derp_client_output(p->conn, views, 4, &count) != DERP_OK) return -1;
    if (count == 0) return 0;
    for (size_t i = 0; i < count; ++i) {
      iov[i].iov_base = (void *)views[i].data;
      iov[i].iov_len = views[i].len;
    }
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    ssize_t n = sendmsg(p->fd, &msg, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    if (derp_client_output_written(p->conn, (size_t)n, now_ns()) != DERP_OK) return -1;
  }
}

/* One poll() round for every peer: connect completion, reads, writes, timers. */
static int service(peer *peers, int count, uint64_t overall_deadline) {
  struct pollfd pfd[2];
  uint64_t next = overall_deadline;
  for (int i = 0; i < count; ++i) {
    size_t len = derp_client_output_size(peers[i].conn);
    pfd[i].fd = peers[i].fd;
    pfd[i].events = POLLIN | (!peers[i].tcp_up || len > 0 ? POLLOUT : 0);
    pfd[i].revents = 0;
    uint64_t d = derp_client_deadline(peers[i].conn);
    if (d < next) next = d;
  }
  uint64_t now = now_ns();
  int timeout_ms = next > now ? (int)((next - now) / 1000000ull) + 1 : 0;
  if (timeout_ms > 100) timeout_ms = 100;
  if (poll(pfd, (nfds_t)count, timeout_ms) < 0 && errno != EINTR) return fail("poll: %s", strerror(errno));
  for (int i = 0; i < count; ++i) {
    peer *p = &peers[i];
    if (!p->tcp_up && (pfd[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
      int err = 0;
      socklen_t el = sizeof err;
      getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &el);
      if (err != 0) return fail("%s: TCP connect failed: %s", p->name, strerror(err));
      p->tcp_up = 1;
      printf("%s: TCP connected; sending the DERP upgrade request\n", p->name);
    }
    if (pfd[i].revents & (POLLIN | POLLHUP)) {
      uint8_t buf[65536];
      ssize_t n = recv(p->fd, buf, sizeof buf, 0);
      if (n > 0) {
        derp_client_receive(p->conn, buf, (size_t)n, now_ns());
      } else if (n == 0) {
        derp_client_receive_eof(p->conn, now_ns());
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return fail("%s: recv: %s", p->name, strerror(errno));
      }
    }
    now = now_ns();
    if (derp_client_deadline(p->conn) <= now) derp_client_tick(p->conn, now);
    if (p->tcp_up && flush(p) != 0) return fail("%s: send: %s", p->name, strerror(errno));
    if (p->closed) {
      return fail("%s: the connection closed: %s (%s)", p->name, derp_strerror(p->close_error), p->close_detail);
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s http://IP:PORT/derp\n", argv[0]);
    return 2;
  }
  derp_addr server;
  char host[128];
  char path[256];
  if (parse_url(argv[1], &server, host, sizeof host, path, sizeof path) != 0) {
    return fail("not a plain http://IP:PORT/path URL: %s", argv[1]);
  }
  setvbuf(stdout, NULL, _IOLBF, 0);

  peer peers[2];
  memset(peers, 0, sizeof peers);
  peers[0].name = "alice";
  peers[1].name = "bob";
  for (int i = 0; i < 2; ++i) {
    peer *p = &peers[i];
    if (derp_key_generate(p->priv) != DERP_OK || derp_key_public_from_private(p->priv, p->pub) != DERP_OK) {
      return fail("cannot make a key");
    }
    derp_client_options o;
    derp_client_options_init(&o, sizeof o);
    memcpy(o.private_key, p->priv, DERP_KEY_LEN);
    o.on_event = on_event;
    o.user_data = p;
    int rc = derp_client_new(&o, host, path, now_ns(), &p->conn);
    if (rc != DERP_OK) return fail("%s: derp_client_new: %s", p->name, derp_strerror(rc));
    p->fd = dial(&server);
    if (p->fd < 0) return fail("%s: cannot connect to %s: %s", p->name, host, strerror(errno));
    char text[DERP_KEY_TEXT_LEN];
    derp_key_format_public(p->pub, text, sizeof text);
    printf("%s: I am %s; dialling %s\n", p->name, text, argv[1]);
  }
  peer *alice = &peers[0];
  peer *bob = &peers[1];

  const uint64_t deadline = now_ns() + OVERALL_TIMEOUT_NS;
  int step = 0;
  int status = 0;
  while (status == 0 && step < 5) {
    if (now_ns() >= deadline) {
      status = fail("timed out after 10 s at step %d", step);
      break;
    }
    status = service(peers, 2, deadline);
    if (status != 0) break;
    if (step == 0 && alice->connected && bob->connected) {
      uint8_t key[DERP_KEY_LEN];
      char text[DERP_KEY_TEXT_LEN];
      derp_client_server_key(alice->conn, key);
      derp_key_format_public(key, text, sizeof text);
      printf("both connected; the server is %s\n", text);
      const char *msg = "hello bob, this is alice";
      int rc = derp_client_send(alice->conn, bob->pub, (const uint8_t *)msg, strlen(msg), now_ns());
      if (rc != DERP_OK) status = fail("alice: send: %s", derp_strerror(rc));
      printf("alice: sent \"%s\" to bob\n", msg);
      step = 1;
    } else if (step == 1 && bob->packets == 1) {
      printf("bob: got \"%s\" from %s\n", bob->last_text,
             memcmp(bob->last_from, alice->pub, DERP_KEY_LEN) == 0 ? "alice" : "someone else");
      if (memcmp(bob->last_from, alice->pub, DERP_KEY_LEN) != 0) status = fail("bob: the packet is not from alice");
      const char *msg = "hi alice, bob here";
      int rc = derp_client_send(bob->conn, alice->pub, (const uint8_t *)msg, strlen(msg), now_ns());
      if (rc != DERP_OK) status = fail("bob: send: %s", derp_strerror(rc));
      printf("bob: replied \"%s\"\n", msg);
      step = 2;
    } else if (step == 2 && alice->packets == 1) {
      printf("alice: got \"%s\" from bob\n", alice->last_text);
      int rc = derp_client_ping(alice->conn, now_ns(), &alice->ping_id);
      if (rc != DERP_OK) status = fail("alice: ping: %s", derp_strerror(rc));
      printf("alice: pinging the server\n");
      step = 3;
    } else if (step == 3 && alice->ping_done) {
      if (alice->ping_error != DERP_OK) {
        status = fail("alice: ping failed: %s", derp_strerror(alice->ping_error));
      } else {
        printf("alice: the server answered the ping in %.3f ms\n", (double)alice->rtt_ns / 1e6);
      }
      step = 5;
    }
  }

  for (int i = 0; i < 2; ++i) {
    peer *p = &peers[i];
    if (p->conn != NULL) {
      derp_client_close(p->conn, now_ns());
      derp_client_free(p->conn);
    }
    if (p->fd >= 0) close(p->fd);
  }
  if (status == 0) printf("done: relayed both ways and pinged; closed both connections\n");
  return status;
}
