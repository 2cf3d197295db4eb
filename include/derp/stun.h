/*
 * libderp — STUN (RFC 8489): parse and build messages, check MESSAGE-INTEGRITY and FINGERPRINT, speak Tailscale's
 * exact binding request/response, and answer binding requests as a stateless server core.
 *
 * Nothing here does I/O, allocates on behalf of the caller, or keeps state: every function is a pure function of
 * its arguments and is thread-safe. Output buffers belong to the caller; parsed views point into the caller's
 * input and live as long as it does.
 *
 * Extensible structs carry `size_t struct_size` first. The caller sets it to sizeof(the struct) (the *_init
 * functions do so); the library reads and writes only the fields that fit in struct_size, so a program built
 * against an older, shorter struct keeps working with a newer library. New fields are only ever appended.
 */
#ifndef DERP_STUN_H
#define DERP_STUN_H

#include <stddef.h>
#include <stdint.h>

#include "derp/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DERP_STUN_HEADER_SIZE 20
#define DERP_STUN_TXID_SIZE 12
#define DERP_STUN_MAGIC_COOKIE 0x2112A442u
/* Tailscale's binding request (SOFTWARE "tailnode" + FINGERPRINT) is always this long. */
#define DERP_STUN_TAILSCALE_REQUEST_SIZE 40
/* MD5 output: the size of a long-term credential key. */
#define DERP_STUN_LONG_TERM_KEY_SIZE 16
/* A buffer this large always holds derp_stun_respond's reply (SOFTWARE of at most 763 bytes included). */
#define DERP_STUN_MAX_RESPONSE_SIZE 860
/* How many attribute types derp_stun_message's lists hold; more are flagged in *_overflow. */
#define DERP_STUN_MAX_UNKNOWN 16

/* Message classes (RFC 8489 §5). */
#define DERP_STUN_CLASS_REQUEST 0
#define DERP_STUN_CLASS_INDICATION 1
#define DERP_STUN_CLASS_SUCCESS_RESPONSE 2
#define DERP_STUN_CLASS_ERROR_RESPONSE 3

#define DERP_STUN_METHOD_BINDING 0x001

/* Binding message types as they appear on the wire. */
#define DERP_STUN_BINDING_REQUEST 0x0001
#define DERP_STUN_BINDING_INDICATION 0x0011
#define DERP_STUN_BINDING_SUCCESS_RESPONSE 0x0101
#define DERP_STUN_BINDING_ERROR_RESPONSE 0x0111

/* Attribute types (IANA registry; ICE's from RFC 8445; 0x8020 is a non-standard XOR-MAPPED-ADDRESS). */
#define DERP_STUN_ATTR_MAPPED_ADDRESS 0x0001
#define DERP_STUN_ATTR_USERNAME 0x0006
#define DERP_STUN_ATTR_MESSAGE_INTEGRITY 0x0008
#define DERP_STUN_ATTR_ERROR_CODE 0x0009
#define DERP_STUN_ATTR_UNKNOWN_ATTRIBUTES 0x000A
#define DERP_STUN_ATTR_REALM 0x0014
#define DERP_STUN_ATTR_NONCE 0x0015
#define DERP_STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define DERP_STUN_ATTR_PRIORITY 0x0024
#define DERP_STUN_ATTR_USE_CANDIDATE 0x0025
#define DERP_STUN_ATTR_XOR_MAPPED_ADDRESS_ALT 0x8020
#define DERP_STUN_ATTR_SOFTWARE 0x8022
#define DERP_STUN_ATTR_FINGERPRINT 0x8028
#define DERP_STUN_ATTR_ICE_CONTROLLED 0x8029
#define DERP_STUN_ATTR_ICE_CONTROLLING 0x802A

/*
 * A decoded message. Byte-string fields point into the input given to derp_stun_parse (NULL when the attribute is
 * absent; a present but empty attribute has a non-NULL pointer and length 0). When an attribute appears twice,
 * the first one counts.
 */
typedef struct derp_stun_message {
  size_t struct_size; /* set by the caller: sizeof(derp_stun_message) */

  uint16_t type;          /* the 16-bit message type, e.g. DERP_STUN_BINDING_REQUEST */
  uint16_t method;        /* e.g. DERP_STUN_METHOD_BINDING */
  uint8_t message_class;  /* DERP_STUN_CLASS_* */
  uint8_t transaction_id[DERP_STUN_TXID_SIZE];
  size_t length;          /* header + attributes as declared; input bytes after it were ignored */

  int has_mapped_address;
  derp_addr mapped_address;
  int has_xor_mapped_address; /* from 0x0020, or 0x8020 as some servers send it */
  derp_addr xor_mapped_address;

  const uint8_t *software;
  size_t software_len;
  const uint8_t *username;
  size_t username_len;
  const uint8_t *realm;
  size_t realm_len;
  const uint8_t *nonce;
  size_t nonce_len;

  int has_error_code;
  int error_code; /* 300..699 */
  const uint8_t *error_reason;
  size_t error_reason_len;

  /* The UNKNOWN-ATTRIBUTES attribute (sent in a 420 response). */
  int has_unknown_attributes;
  size_t unknown_attributes_count;
  int unknown_attributes_overflow; /* more than DERP_STUN_MAX_UNKNOWN were listed */
  uint16_t unknown_attributes[DERP_STUN_MAX_UNKNOWN];

  /* Comprehension-required attribute types (< 0x8000) this library does not understand, each listed once. A server
     answers such a request with a 420 (RFC 8489 §6.3.1.1). */
  size_t unknown_required_count;
  int unknown_required_overflow;
  uint16_t unknown_required[DERP_STUN_MAX_UNKNOWN];

  /* MESSAGE-INTEGRITY: its attribute's offset in the input; check it with derp_stun_check_integrity. */
  int has_message_integrity;
  size_t message_integrity_offset;

  int has_fingerprint;
  int fingerprint_valid; /* the CRC matches */
  uint32_t fingerprint;

  /* ICE (RFC 8445 §7.1). */
  int has_priority;
  uint32_t priority;
  int use_candidate;
  int has_ice_controlled;
  uint64_t ice_controlled;
  int has_ice_controlling;
  uint64_t ice_controlling;
} derp_stun_message;

/* What derp_stun_build_request puts in a binding request, in this order: SOFTWARE, USERNAME, REALM, NONCE,
   MESSAGE-INTEGRITY, FINGERPRINT. */
typedef struct derp_stun_request_options {
  size_t struct_size;
  const char *software;         /* NUL-terminated; NULL or "": none (default) */
  const char *username;         /* NUL-terminated; NULL or "": none (default) */
  const char *realm;            /* NUL-terminated; NULL or "": none (default) */
  const char *nonce;            /* NUL-terminated; NULL or "": none (default) */
  const uint8_t *integrity_key; /* NULL: no MESSAGE-INTEGRITY (default). Short-term: the password; long-term: see
                                   derp_stun_long_term_key */
  size_t integrity_key_len;
  int fingerprint; /* nonzero: append FINGERPRINT (default 1) */
} derp_stun_request_options;

/* When derp_stun_respond appends FINGERPRINT. */
#define DERP_STUN_FINGERPRINT_MIRROR 0 /* when the request carried one (default) */
#define DERP_STUN_FINGERPRINT_ALWAYS 1
#define DERP_STUN_FINGERPRINT_NEVER 2

typedef struct derp_stun_responder_options {
  size_t struct_size;
  int fingerprint;      /* DERP_STUN_FINGERPRINT_* (default MIRROR) */
  const char *software; /* NUL-terminated SOFTWARE for responses, at most 763 bytes; NULL or "": none (default) */
} derp_stun_responder_options;

/* Fills *opts with the defaults for a struct of struct_size bytes (pass sizeof *opts): a program built against an
   older, shorter struct gets only its prefix written. DERP_OK, or DERP_ERR_INVALID_ARGUMENT for NULL or a
   struct_size below sizeof(size_t). Thread-safe. */
DERP_EXPORT int derp_stun_request_options_init(derp_stun_request_options *opts, size_t struct_size);
/* As derp_stun_request_options_init. Thread-safe. */
DERP_EXPORT int derp_stun_responder_options_init(derp_stun_responder_options *opts, size_t struct_size);

/*
 * 1 when data looks like a STUN message, 0 otherwise (never negative): at least 20 bytes, the top two bits of
 * byte 0 zero, the magic cookie, and a declared length that is a multiple of 4 and fits in len. Use it to sort
 * STUN from other traffic on a shared UDP port. Thread-safe.
 */
DERP_EXPORT int derp_stun_is_stun(const uint8_t *data, size_t len);

/*
 * Decodes a STUN message into *out (out->struct_size set by the caller). DERP_OK; DERP_ERR_NOT_STUN (no STUN
 * header); DERP_ERR_TRUNCATED (the declared length or an attribute runs past the data); DERP_ERR_MALFORMED (a
 * length that is not a multiple of 4, or a known attribute with an impossible value); DERP_ERR_INVALID_ARGUMENT
 * (NULL, or struct_size smaller than a size_t). Unknown comprehension-optional attributes are skipped; after
 * MESSAGE-INTEGRITY only FINGERPRINT is read and nothing after FINGERPRINT. *out is written only on success.
 * Thread-safe.
 */
DERP_EXPORT int derp_stun_parse(const uint8_t *data, size_t len, derp_stun_message *out);

/*
 * Parses data and checks its MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) with key, in constant time. DERP_OK;
 * DERP_ERR_STUN_INTEGRITY on a mismatch; DERP_ERR_STUN_NO_INTEGRITY when there is none; a derp_stun_parse error;
 * DERP_ERR_INVALID_ARGUMENT for NULL pointers. The short-term key is the password itself; the long-term key comes
 * from derp_stun_long_term_key. Thread-safe.
 */
DERP_EXPORT int derp_stun_check_integrity(const uint8_t *data, size_t len, const uint8_t *key, size_t key_len);

/*
 * The long-term credential key MD5(username ":" realm ":" password) (RFC 8489 §9.2.2) into
 * out[DERP_STUN_LONG_TERM_KEY_SIZE]. Strings are NUL-terminated UTF-8; the password must already be processed
 * with OpaqueString/SASLprep by the caller. DERP_OK or DERP_ERR_INVALID_ARGUMENT. Thread-safe.
 */
DERP_EXPORT int derp_stun_long_term_key(const char *username, const char *realm, const char *password,
                                        uint8_t out[DERP_STUN_LONG_TERM_KEY_SIZE]);

/*
 * Writes a binding request with transaction id txid and the attributes opts asks for (NULL: defaults, i.e. only
 * FINGERPRINT) into out[0..cap); *out_len gets its size. DERP_OK; DERP_ERR_BUFFER_TOO_SMALL;
 * DERP_ERR_INVALID_ARGUMENT (NULL pointers, bad struct_size, an attribute too long). Thread-safe.
 */
DERP_EXPORT int derp_stun_build_request(const uint8_t txid[DERP_STUN_TXID_SIZE], const derp_stun_request_options *opts,
                                        uint8_t *out, size_t cap, size_t *out_len);

/*
 * Writes Tailscale's 40-byte binding request (SOFTWARE "tailnode", then FINGERPRINT), byte for byte what
 * tailscaled sends and what derper requires. DERP_OK with *out_len = 40; DERP_ERR_BUFFER_TOO_SMALL;
 * DERP_ERR_INVALID_ARGUMENT. Thread-safe.
 */
DERP_EXPORT int derp_stun_build_tailscale_request(const uint8_t txid[DERP_STUN_TXID_SIZE], uint8_t *out, size_t cap,
                                                  size_t *out_len);

/*
 * Writes a binding success response holding only XOR-MAPPED-ADDRESS for addr, in addr's family as given, then
 * FINGERPRINT when with_fingerprint is nonzero. With with_fingerprint = 0 the bytes equal Tailscale's
 * stun.Response. DERP_OK; DERP_ERR_BUFFER_TOO_SMALL; DERP_ERR_INVALID_ARGUMENT (NULL, or addr family NONE).
 * Thread-safe.
 */
DERP_EXPORT int derp_stun_build_binding_response(const uint8_t txid[DERP_STUN_TXID_SIZE], const derp_addr *addr,
                                                 int with_fingerprint, uint8_t *out, size_t cap, size_t *out_len);

/*
 * Writes an error response for method (e.g. DERP_STUN_METHOD_BINDING) with ERROR-CODE error_code (300..699) and
 * reason (NUL-terminated; NULL or "": the RFC's phrase), then UNKNOWN-ATTRIBUTES when unknown_count > 0, then
 * FINGERPRINT when with_fingerprint is nonzero. DERP_OK; DERP_ERR_BUFFER_TOO_SMALL; DERP_ERR_INVALID_ARGUMENT.
 * Thread-safe.
 */
DERP_EXPORT int derp_stun_build_error_response(const uint8_t txid[DERP_STUN_TXID_SIZE], uint16_t method,
                                               int error_code, const char *reason, const uint16_t *unknown,
                                               size_t unknown_count, int with_fingerprint, uint8_t *out, size_t cap,
                                               size_t *out_len);

/*
 * Reads a binding success response the way Tailscale's client does (net/stun ParseResponse): XOR-MAPPED-ADDRESS
 * (0x0020 or 0x8020; the last one wins) or else MAPPED-ADDRESS, un-mapped to IPv4 when it is ::ffff:a.b.c.d.
 * DERP_OK with txid_out and addr_out set; DERP_ERR_NOT_STUN; DERP_ERR_STUN_NOT_SUCCESS_RESPONSE;
 * DERP_ERR_MALFORMED; DERP_ERR_STUN_NO_ADDRESS; DERP_ERR_INVALID_ARGUMENT. On failure txid_out is still filled
 * whenever the input has a STUN header, and addr_out is left with family DERP_AF_NONE. Thread-safe.
 */
DERP_EXPORT int derp_stun_parse_binding_response(const uint8_t *data, size_t len,
                                                 uint8_t txid_out[DERP_STUN_TXID_SIZE], derp_addr *addr_out);

/*
 * Tailscale's strict server-side check (net/stun ParseBindingRequest): a binding request whose SOFTWARE is
 * "tailnode" and whose last attribute is a valid FINGERPRINT. DERP_OK with txid_out set; DERP_ERR_NOT_STUN;
 * DERP_ERR_STUN_NOT_BINDING_REQUEST; DERP_ERR_MALFORMED; DERP_ERR_STUN_WRONG_SOFTWARE (other SOFTWARE);
 * DERP_ERR_STUN_NO_FINGERPRINT (last attribute is not FINGERPRINT); DERP_ERR_STUN_FINGERPRINT (wrong);
 * DERP_ERR_INVALID_ARGUMENT. Thread-safe.
 */
DERP_EXPORT int derp_stun_parse_tailscale_binding_request(const uint8_t *data, size_t len,
                                                          uint8_t txid_out[DERP_STUN_TXID_SIZE]);

/*
 * The stateless responder: given a datagram and the address it came from, writes the reply into out[0..cap).
 * Answers every well-formed binding request (Tailscale's or any RFC 8489 client's) with XOR-MAPPED-ADDRESS in the
 * client's family (a v4-mapped IPv6 source is un-mapped). A request without the magic cookie is an RFC 3489 one
 * (libnice's stun_usage_bind_run, Vovida's stun): it is answered with MAPPED-ADDRESS and its 16-byte transaction
 * id, as RFC 5389 §12.2 says, when its declared length matches the datagram exactly. A request carrying an
 * unknown comprehension-required attribute (RESPONSE-ADDRESS too), or a CHANGE-REQUEST asking for another IP or
 * port, gets a 420 error listing them (a CHANGE-REQUEST of zero is answered normally); one with a known attribute
 * of impossible value (a wrong length) gets a 400 whose reason names the attribute. opts NULL: defaults.
 * DERP_OK with *out_len set means send the reply; any other code means send nothing: DERP_ERR_NOT_STUN,
 * DERP_ERR_TRUNCATED, DERP_ERR_MALFORMED (a broken length or attribute walk, a FINGERPRINT that is not 4 bytes),
 * DERP_ERR_STUN_NOT_BINDING_REQUEST (other methods, indications, responses), DERP_ERR_STUN_FINGERPRINT (bad
 * FINGERPRINT), DERP_ERR_BUFFER_TOO_SMALL (DERP_STUN_MAX_RESPONSE_SIZE always suffices),
 * DERP_ERR_INVALID_ARGUMENT. Thread-safe.
 */
DERP_EXPORT int derp_stun_respond(const uint8_t *request, size_t len, const derp_addr *source,
                                  const derp_stun_responder_options *opts, uint8_t *out, size_t cap,
                                  size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif /* DERP_STUN_H */
