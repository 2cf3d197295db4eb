/*
 * A program outside the project, as an installed libderp's user writes it: the public headers only, built by
 * tests/install/run-install-test.sh against an installed tree through pkg-config and find_package(derp), shared
 * and static. Exits 0 only when every answer is sane.
 */
#include <derp/derp.h>

#include <stdio.h>
#include <string.h>

static int failures = 0;

static void check(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "consumer: FAIL: %s\n", what);
    failures++;
  }
}

int main(void) {
  /* The library we run with is the one the headers describe. */
  const char *version = derp_version_string();
  printf("libderp %s (header %s)\n", version ? version : "(null)", DERP_VERSION_STRING);
  check(version != NULL && strcmp(version, DERP_VERSION_STRING) == 0, "derp_version_string matches the header");
  check(derp_version() == DERP_VERSION_HEX, "derp_version matches DERP_VERSION_HEX");

  /* A node key pair, its text form, and the text form read back. */
  uint8_t priv[32], pub[32], parsed[32];
  char text[DERP_KEY_TEXT_LEN];
  check(derp_key_generate(priv) == DERP_OK, "derp_key_generate");
  check(derp_key_public_from_private(priv, pub) == DERP_OK, "derp_key_public_from_private");
  check(derp_key_format_public(pub, text, sizeof text) == DERP_OK, "derp_key_format_public");
  printf("public key: %s\n", text);
  check(strncmp(text, "nodekey:", 8) == 0 && strlen(text) == 8 + 64, "the text form is nodekey:<64 hex>");
  check(derp_key_parse_public(text, parsed) == DERP_OK && memcmp(parsed, pub, 32) == 0, "the text form parses back");
  check(derp_key_is_zero(pub) == 0, "a generated key is not zero");

  /* Tailscale's STUN binding request, and the transaction id read back from it. */
  const uint8_t txid[DERP_STUN_TXID_SIZE] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  uint8_t request[64], txid_back[DERP_STUN_TXID_SIZE];
  size_t request_len = 0;
  check(derp_stun_build_tailscale_request(txid, request, sizeof request, &request_len) == DERP_OK,
        "derp_stun_build_tailscale_request");
  printf("STUN request: %zu bytes\n", request_len);
  check(request_len == DERP_STUN_TAILSCALE_REQUEST_SIZE, "the request is DERP_STUN_TAILSCALE_REQUEST_SIZE bytes");
  check(derp_stun_is_stun(request, request_len) == 1, "derp_stun_is_stun recognises it");
  check(derp_stun_parse_tailscale_binding_request(request, request_len, txid_back) == DERP_OK &&
            memcmp(txid_back, txid, sizeof txid) == 0,
        "the transaction id reads back");

  /* Errors have names and messages. */
  check(strcmp(derp_err_name(DERP_ERR_INVALID_ARGUMENT), "") != 0, "derp_err_name names an error");

  printf("consumer: %s\n", failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
