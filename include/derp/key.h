/*
 * libderp — node keys, their text forms, and the NaCl box (reference §0 and §3).
 *
 * Keys cross the ABI as 32-byte arrays. A private key is Curve25519: 32 random bytes, clamped. The public key is
 * X25519(private, basepoint). Text forms:
 *   "nodekey:" + 64 hex   public key
 *   "privkey:" + 64 hex   private key
 *   64 hex                untyped (the Derp-Public-Key header, the meta-cert CN)
 *   "[" + 5 base64 + "]"  short form for logs
 * Hex is written lowercase and read in either case; the prefix must be exact and lowercase.
 *
 * Every function here is thread-safe: the only shared state is libsodium's one-time initialisation, which the
 * library does itself (DERP_ERR_CRYPTO_INIT if it ever fails). Text outputs are NUL-terminated.
 */
#ifndef DERP_KEY_H
#define DERP_KEY_H

#include "derp/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* DERP_KEY_LEN, DERP_NONCE_LEN, DERP_BOX_MAC_LEN and DERP_BOX_SEALED_OVERHEAD come from derp/common.h. */

/* Buffer sizes for the text forms, NUL included. */
#define DERP_KEY_TEXT_LEN 73      /* "nodekey:" or "privkey:" + 64 hex + NUL */
#define DERP_KEY_HEX_LEN 65       /* 64 hex + NUL */
#define DERP_KEY_SHORT_LEN 8      /* "[" + 5 + "]" + NUL */
#define DERP_KEY_FILE_TEXT_LEN 94 /* derp_key_file_encode's output + NUL */

/* ---- keys ---------------------------------------------------------------------------------------------------- */

/* A fresh private key: 32 random bytes from libsodium, clamped as Tailscale clamps them. */
DERP_EXPORT int derp_key_generate(uint8_t private_key_out[32]);

/* The public key of a private key (X25519 with the base point; unclamped input gives the same result as clamped).
 * DERP_ERR_INVALID_ARGUMENT for the all-zero private key. */
DERP_EXPORT int derp_key_public_from_private(const uint8_t private_key[32], uint8_t public_key_out[32]);

/* 1 when the two keys are equal, 0 when not (constant time); DERP_ERR_INVALID_ARGUMENT for a NULL pointer. */
DERP_EXPORT int derp_key_equal(const uint8_t a[32], const uint8_t b[32]);

/* 1 when the key is all zero (Tailscale's "no key"), 0 when not (constant time); DERP_ERR_INVALID_ARGUMENT. */
DERP_EXPORT int derp_key_is_zero(const uint8_t key[32]);

/* ---- text forms ---------------------------------------------------------------------------------------------- */

/* "nodekey:<64 hex>" / "privkey:<64 hex>" / "<64 hex>". DERP_ERR_BUFFER_TOO_SMALL when cap is below
 * DERP_KEY_TEXT_LEN (DERP_KEY_HEX_LEN for the untyped form). */
DERP_EXPORT int derp_key_format_public(const uint8_t public_key[32], char *out, size_t cap);
DERP_EXPORT int derp_key_format_private(const uint8_t private_key[32], char *out, size_t cap);
DERP_EXPORT int derp_key_format_hex(const uint8_t key[32], char *out, size_t cap);

/* Parse the forms above from a NUL-terminated string. Errors, checked in this order: DERP_ERR_KEY_PREFIX (the
 * exact lowercase "nodekey:" / "privkey:" is missing), DERP_ERR_KEY_LENGTH (not exactly 64 characters after it),
 * DERP_ERR_KEY_HEX (a character that is not a hex digit). The output is written only on success. */
DERP_EXPORT int derp_key_parse_public(const char *text, uint8_t public_key_out[32]);
DERP_EXPORT int derp_key_parse_private(const char *text, uint8_t private_key_out[32]);
DERP_EXPORT int derp_key_parse_hex(const char *text, uint8_t key_out[32]);

/* The log form "[B6N8v]": "[" + the first 5 characters of the key's standard base64 + "]". For the all-zero key
 * it writes "" (Tailscale's ShortString does the same). DERP_ERR_BUFFER_TOO_SMALL below DERP_KEY_SHORT_LEN. */
DERP_EXPORT int derp_key_short(const uint8_t public_key[32], char *out, size_t cap);

/* ---- derper key file ----------------------------------------------------------------------------------------- */

/* The bytes `derper -c` writes: "{\n\t\"PrivateKey\": \"privkey:<64 hex>\"\n}" (no trailing newline), plus a NUL.
 * DERP_ERR_BUFFER_TOO_SMALL below DERP_KEY_FILE_TEXT_LEN. */
DERP_EXPORT int derp_key_file_encode(const uint8_t private_key[32], char *out, size_t cap);

/* Reads a key file's text (len bytes, no NUL needed) as Go's encoding/json would: "PrivateKey" in any case,
 * other fields ignored. DERP_ERR_BAD_JSON when the JSON is malformed, the value is not a string, or there is no
 * PrivateKey; the key text errors of derp_key_parse_private otherwise. */
DERP_EXPORT int derp_key_file_decode(const char *text, size_t len, uint8_t private_key_out[32]);

/* ---- NaCl box (crypto_box: X25519 + XSalsa20-Poly1305) ------------------------------------------------------- */

/* Seals plaintext from sender to recipient with a fresh random nonce. Writes plaintext_len + DERP_BOX_SEALED_OVERHEAD
 * bytes (nonce ‖ MAC ‖ ciphertext) to out and sets *out_len. out must not overlap plaintext. plaintext may be NULL
 * when plaintext_len is 0. DERP_ERR_BUFFER_TOO_SMALL (with *out_len = the size needed); DERP_ERR_INVALID_ARGUMENT
 * for a zero key, or a recipient key libsodium refuses (a low-order point). */
DERP_EXPORT int derp_box_seal(const uint8_t sender_private[32], const uint8_t recipient_public[32],
                              const uint8_t *plaintext, size_t plaintext_len, uint8_t *out, size_t out_cap,
                              size_t *out_len);

/* The same with a caller-chosen nonce: for tests and known-answer vectors only. Never reuse a nonce with the
 * same pair of keys. */
DERP_EXPORT int derp_box_seal_with_nonce(const uint8_t sender_private[32], const uint8_t recipient_public[32],
                                         const uint8_t *plaintext, size_t plaintext_len,
                                         const uint8_t nonce[24], uint8_t *out, size_t out_cap, size_t *out_len);

/* Opens a sealed value (nonce ‖ MAC ‖ ciphertext) sent by sender to recipient. Writes sealed_len - 40 bytes and
 * sets *out_len. DERP_ERR_BOX_OPEN when sealed is shorter than 40 bytes, was sealed by another key or for another
 * recipient, or was altered; DERP_ERR_BUFFER_TOO_SMALL (with *out_len = the size needed). out may be NULL when the
 * plaintext is empty. */
DERP_EXPORT int derp_box_open(const uint8_t recipient_private[32], const uint8_t sender_public[32],
                              const uint8_t *sealed, size_t sealed_len, uint8_t *out, size_t out_cap,
                              size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif /* DERP_KEY_H */
