/*
 * codec_demo: one STUN binding exchange and one DERP relay exchange at the codec level, in memory, with only the
 * public C API. Each step says in plain words what one side sends and what the other reads.
 */
#include <stdio.h>
#include <string.h>

#include "derp/derp.h"

#define CHECK(call)                                                                      \
  do {                                                                                   \
    int rc_ = (call);                                                                    \
    if (rc_ < 0) {                                                                       \
      fprintf(stderr, "%s failed: %s (%s)\n", #call, derp_strerror(rc_), derp_err_name(rc_)); \
      return 1;                                                                          \
    }                                                                                    \
  } while (0)

static int stun_round_trip(void) {
  uint8_t txid[DERP_STUN_TXID_SIZE];
  uint8_t request[64], response[DERP_STUN_MAX_RESPONSE_SIZE];
  size_t request_len = 0, response_len = 0;
  derp_addr seen, learned;
  char text[DERP_ADDR_TEXT_MAX];
  uint8_t echoed[DERP_STUN_TXID_SIZE];

  for (size_t i = 0; i < sizeof txid; i++) txid[i] = (uint8_t)(0xa0 + i);
  printf("STUN\n");
  CHECK(derp_stun_build_tailscale_request(txid, request, sizeof request, &request_len));
  printf("  client  builds a binding request like Tailscale's (%zu bytes: SOFTWARE \"tailnode\" + FINGERPRINT)\n",
         request_len);
  /* The server sees the datagram arrive from the client's public address, as a NAT rewrote it. */
  CHECK(derp_addr_parse("203.0.113.7:41641", &seen));
  CHECK(derp_addr_format(&seen, text, sizeof text));
  CHECK(derp_stun_respond(request, request_len, &seen, NULL, response, sizeof response, &response_len));
  printf("  server  got it from %s and answers with that address (%zu bytes)\n", text, response_len);
  CHECK(derp_stun_parse_binding_response(response, response_len, echoed, &learned));
  CHECK(derp_addr_format(&learned, text, sizeof text));
  printf("  client  reads its public endpoint: %s (transaction id %s)\n\n", text,
         memcmp(echoed, txid, sizeof txid) == 0 ? "matches" : "DIFFERS");
  return memcmp(echoed, txid, sizeof txid) == 0 ? 0 : 1;
}

/* Cuts one frame from a buffer with a fresh reader and decodes it. */
static int read_one_frame(const uint8_t *bytes, size_t len, derp_frame_fields *fields) {
  derp_frame_reader *reader = NULL;
  derp_frame frame;
  size_t used = 0;
  int rc = derp_frame_reader_new(NULL, &reader);
  if (rc < 0) return rc;
  rc = derp_frame_reader_next(reader, bytes, len, &used, &frame);
  if (rc == 1) {
    fields->struct_size = sizeof *fields;
    rc = derp_frame_decode(&frame, fields);
  } else if (rc == 0) {
    rc = DERP_ERR_TRUNCATED;
  }
  derp_frame_reader_free(reader);
  return rc;
}

static int derp_round_trip(void) {
  uint8_t server_priv[32], server_pub[32], alice_priv[32], alice_pub[32], bob_priv[32], bob_pub[32];
  char alice_text[DERP_KEY_TEXT_LEN], bob_short[DERP_KEY_SHORT_LEN], alice_short[DERP_KEY_SHORT_LEN];
  uint8_t wire[512], box[256];
  size_t wire_len = 0, box_len = 0;
  derp_frame_fields f;
  derp_client_info info;
  uint8_t who[32];
  const char *message = "hello bob, this is alice";

  CHECK(derp_key_generate(server_priv));
  CHECK(derp_key_public_from_private(server_priv, server_pub));
  CHECK(derp_key_generate(alice_priv));
  CHECK(derp_key_public_from_private(alice_priv, alice_pub));
  CHECK(derp_key_generate(bob_priv));
  CHECK(derp_key_public_from_private(bob_priv, bob_pub));
  CHECK(derp_key_format_public(alice_pub, alice_text, sizeof alice_text));
  CHECK(derp_key_short(alice_pub, alice_short, sizeof alice_short));
  CHECK(derp_key_short(bob_pub, bob_short, sizeof bob_short));
  printf("DERP\n  keys    alice %s, bob %s (alice in full: %s)\n", alice_short, bob_short, alice_text);

  /* 1. The server greets with its key. */
  memset(&f, 0, sizeof f);
  f.struct_size = sizeof f;
  f.type = DERP_FRAME_SERVER_KEY;
  memcpy(f.key, server_pub, 32);
  CHECK(derp_frame_encode(&f, wire, sizeof wire, &wire_len));
  CHECK(read_one_frame(wire, wire_len, &f));
  printf("  server  sends its ServerKey frame (%zu bytes: magic \"DERP\\xF0\\x9F\\x94\\x91\" + key)\n", wire_len);

  /* 2. Alice seals who she is to the server's key. */
  CHECK(derp_client_info_init(&info, sizeof info));
  CHECK(derp_client_info_seal(alice_priv, f.key, &info, NULL, box, sizeof box, &box_len));
  memset(&f, 0, sizeof f);
  f.struct_size = sizeof f;
  f.type = DERP_FRAME_CLIENT_INFO;
  memcpy(f.key, box, 32);
  memcpy(f.nonce, box + 32, 24);
  f.data = box + 56;
  f.data_len = box_len - 56;
  CHECK(derp_frame_encode(&f, wire, sizeof wire, &wire_len));
  printf("  alice   sends ClientInfo sealed to the server key (%zu bytes)\n", wire_len);
  CHECK(read_one_frame(wire, wire_len, &f));
  CHECK(derp_client_info_open(server_priv, wire + DERP_FRAME_HEADER_LEN, wire_len - DERP_FRAME_HEADER_LEN, who,
                              &info));
  printf("  server  opens it: the sender is %s, protocol version %d, can ack pings: %s\n",
         derp_key_equal(who, alice_pub) ? "alice" : "SOMEONE ELSE", info.version, info.can_ack_pings ? "yes" : "no");

  /* 3. Alice sends a packet to Bob's key; the server relays it with Alice's key as the source. */
  memset(&f, 0, sizeof f);
  f.struct_size = sizeof f;
  f.type = DERP_FRAME_SEND_PACKET;
  memcpy(f.dst_key, bob_pub, 32);
  f.data = (const uint8_t *)message;
  f.data_len = strlen(message);
  CHECK(derp_frame_encode(&f, wire, sizeof wire, &wire_len));
  printf("  alice   sends \"%s\" to bob's key (SendPacket, %zu bytes)\n", message, wire_len);
  CHECK(read_one_frame(wire, wire_len, &f));
  {
    derp_frame_fields out;
    memset(&out, 0, sizeof out);
    out.struct_size = sizeof out;
    out.type = DERP_FRAME_RECV_PACKET;
    memcpy(out.src_key, alice_pub, 32);
    out.data = f.data;
    out.data_len = f.data_len;
    CHECK(derp_frame_encode(&out, wire, sizeof wire, &wire_len));
  }
  printf("  server  looks up bob's key and writes him a RecvPacket (%zu bytes) naming alice as the source\n",
         wire_len);
  CHECK(read_one_frame(wire, wire_len, &f));
  printf("  bob     reads \"%.*s\" from %s\n", (int)f.data_len, (const char *)f.data,
         derp_key_equal(f.src_key, alice_pub) ? "alice" : "SOMEONE ELSE");
  return derp_key_equal(f.src_key, alice_pub) && f.data_len == strlen(message) ? 0 : 1;
}

int main(void) {
  printf("libderp %s: codec walk-through (in memory, no network)\n\n", derp_version_string());
  if (stun_round_trip() != 0 || derp_round_trip() != 0) {
    printf("\nsomething did not round-trip\n");
    return 1;
  }
  printf("\nboth exchanges round-tripped\n");
  return 0;
}
