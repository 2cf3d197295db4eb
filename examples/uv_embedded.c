/*
 * uv_embedded: a host with its own libuv loop runs a DERP server and two DERP clients on it (host-loop mode,
 * include/derp/uv.h and include/derp/client.h), relays one message from alice to bob, then stops everything and
 * closes the loop cleanly. Everything happens on this one thread, inside uv_run and its callbacks.
 *
 *   derp-uv-embedded        exit 0 when the message arrived and the loop closed with nothing left on it
 */
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "derp/derp.h"

typedef struct app {
  uv_loop_t loop;
  uv_timer_t watchdog;
  derp_uv_server *server;
  derp_uv_client *alice;
  derp_uv_client *bob;
  uint8_t bob_pub[DERP_KEY_LEN];
  int connected;
  int relayed;
  int closed;
  int stopping;
  int failed;
} app;

static void stop_everything(app *a) {
  if (a->stopping) return;
  a->stopping = 1;
  printf("stopping the clients and the server\n");
  derp_uv_client_stop(a->alice); /* CLOSED follows from the loop */
  derp_uv_client_stop(a->bob);
  derp_uv_server_stop(a->server); /* graceful; its handles close as the loop runs */
  uv_timer_stop(&a->watchdog);
  uv_close((uv_handle_t *)&a->watchdog, NULL);
}

static void on_watchdog(uv_timer_t *t) {
  app *a = t->data;
  fprintf(stderr, "uv_embedded: nothing relayed within 10 s\n");
  a->failed = 1;
  stop_everything(a);
}

/* On the loop thread (this thread), inside uv_run. */
/* Sends wait for SERVER_INFO on both sides, not CONNECTED: CONNECTED says our handshake is sent, SERVER_INFO that
 * the server has registered us, so a packet for bob cannot reach the server before bob is known there. */
static void on_alice(const derp_client_event *e, void *user_data) {
  app *a = user_data;
  if (e->type == DERP_CLIENT_EVENT_CONNECTED || e->type == DERP_CLIENT_EVENT_CLOSED ||
      e->type == DERP_CLIENT_EVENT_DISCONNECTED) {
    printf("alice: %s%s%s\n", derp_client_event_name(e->type), e->detail != NULL ? ": " : "",
           e->detail != NULL ? e->detail : "");
  }
  if (e->type == DERP_CLIENT_EVENT_SERVER_INFO && ++a->connected == 2) {
    const char *msg = "hello bob, from the same loop";
    int rc = derp_uv_client_send(a->alice, a->bob_pub, (const uint8_t *)msg, strlen(msg));
    printf("alice: sending \"%s\" to bob: %s\n", msg, derp_strerror(rc));
  }
  if (e->type == DERP_CLIENT_EVENT_CLOSED) a->closed++;
}

static void on_bob(const derp_client_event *e, void *user_data) {
  app *a = user_data;
  if (e->type == DERP_CLIENT_EVENT_CONNECTED || e->type == DERP_CLIENT_EVENT_CLOSED ||
      e->type == DERP_CLIENT_EVENT_DISCONNECTED) {
    printf("bob: %s%s%s\n", derp_client_event_name(e->type), e->detail != NULL ? ": " : "",
           e->detail != NULL ? e->detail : "");
  }
  if (e->type == DERP_CLIENT_EVENT_SERVER_INFO && ++a->connected == 2) {
    /* alice connected first: send now (the same code as in on_alice, for whichever is second) */
    const char *msg = "hello bob, from the same loop";
    int rc = derp_uv_client_send(a->alice, a->bob_pub, (const uint8_t *)msg, strlen(msg));
    printf("alice: sending \"%s\" to bob: %s\n", msg, derp_strerror(rc));
  }
  if (e->type == DERP_CLIENT_EVENT_PACKET) {
    printf("bob: got \"%.*s\" (%zu bytes)\n", (int)e->len, (const char *)e->data, e->len);
    a->relayed = 1;
    stop_everything(a);
  }
  if (e->type == DERP_CLIENT_EVENT_CLOSED) a->closed++;
}

static int new_client(app *a, const char *url, derp_client_event_fn fn, derp_uv_client **out, uint8_t pub[32]) {
  derp_client_options o;
  derp_client_options_init(&o, sizeof o);
  derp_key_generate(o.private_key);
  derp_key_public_from_private(o.private_key, pub);
  o.on_event = fn;
  o.user_data = a;
  derp_uv_client_options d;
  derp_uv_client_options_init(&d, sizeof d);
  d.url = url;
  int rc = derp_uv_client_new(&a->loop, &o, &d, out);
  if (rc == DERP_OK) rc = derp_uv_client_start(*out);
  return rc;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  app a;
  memset(&a, 0, sizeof a);
  if (uv_loop_init(&a.loop) != 0) return 1;

  derp_uv_server_options so;
  derp_uv_server_options_init(&so, sizeof so);
  so.listen = "127.0.0.1:0";
  int rc = derp_uv_server_new(&a.loop, &so, &a.server);
  if (rc == DERP_OK) rc = derp_uv_server_start(a.server);
  if (rc != DERP_OK) {
    fprintf(stderr, "uv_embedded: server: %s\n", derp_strerror(rc));
    return 1;
  }
  char url[128];
  size_t n;
  derp_uv_server_url(a.server, url, sizeof url, &n);
  printf("server: listening, clients dial %s\n", url);

  uint8_t alice_pub[DERP_KEY_LEN];
  rc = new_client(&a, url, on_bob, &a.bob, a.bob_pub);
  if (rc == DERP_OK) rc = new_client(&a, url, on_alice, &a.alice, alice_pub);
  if (rc != DERP_OK) {
    fprintf(stderr, "uv_embedded: client: %s\n", derp_strerror(rc));
    return 1;
  }
  printf("alice and bob: dialling on the same loop\n");

  uv_timer_init(&a.loop, &a.watchdog);
  a.watchdog.data = &a;
  uv_timer_start(&a.watchdog, on_watchdog, 10000, 0);

  /* Runs until every handle is closed: the clients and the server stop keeping the loop alive once stopped. */
  uv_run(&a.loop, UV_RUN_DEFAULT);
  printf("the loop has no more work: %d client(s) reported CLOSED\n", a.closed);

  derp_uv_client_free(a.alice);
  derp_uv_client_free(a.bob);
  derp_uv_server_free(a.server);
  uv_run(&a.loop, UV_RUN_NOWAIT); /* anything the frees closed */
  rc = uv_loop_close(&a.loop);
  printf("uv_loop_close: %s\n", rc == 0 ? "0 (clean)" : uv_strerror(rc));
  if (a.failed || !a.relayed || a.closed != 2 || rc != 0) {
    fprintf(stderr, "uv_embedded: failed (relayed %d, closed %d, uv_loop_close %d)\n", a.relayed, a.closed, rc);
    return 1;
  }
  printf("done\n");
  return 0;
}
