// The C entry points of include/derp/stun.h: argument checks, struct_size handling, then lib/stun.
#include "derp/stun.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

#include "capi/guard.hpp"
#include "stun/builder.hpp"
#include "stun/error_response.hpp"
#include "stun/header.hpp"
#include "stun/integrity.hpp"
#include "stun/message.hpp"
#include "stun/request.hpp"
#include "stun/responder.hpp"
#include "stun/tailscale.hpp"

namespace {

using derp::Bytes;
using derp::MutableBytes;
namespace stun = derp::stun;

static_assert(DERP_STUN_HEADER_SIZE == stun::kHeaderSize);
static_assert(DERP_STUN_TXID_SIZE == stun::kTransactionIdSize);
static_assert(DERP_STUN_MAGIC_COOKIE == stun::kMagicCookie);
static_assert(DERP_STUN_TAILSCALE_REQUEST_SIZE == stun::kTailscaleRequestSize);
static_assert(DERP_STUN_LONG_TERM_KEY_SIZE == stun::kLongTermKeySize);
static_assert(DERP_STUN_MAX_UNKNOWN == stun::kMaxUnknownAttributes);
static_assert(DERP_STUN_MAX_RESPONSE_SIZE == stun::kMaxResponseSize);
static_assert(DERP_STUN_BINDING_SUCCESS_RESPONSE == stun::kBindingSuccessResponse);
static_assert(DERP_STUN_CLASS_ERROR_RESPONSE == static_cast<int>(stun::MessageClass::kErrorResponse));

// A struct_size below this cannot even hold struct_size: the caller forgot to set it.
constexpr std::size_t kMinStructSize = sizeof(std::size_t);

// Copies the fields of `full` that fit in the caller's struct_size into *dst, leaving dst->struct_size as it was.
template <class T>
void write_prefix(T* dst, T full) {
  full.struct_size = dst->struct_size;
  std::memcpy(static_cast<void*>(dst), &full, std::min(dst->struct_size, sizeof(T)));
}

// The caller's options over our defaults: fields past the caller's struct_size keep their default.
template <class T>
T read_prefix(const T* src, T defaults) {
  std::memcpy(static_cast<void*>(&defaults), src, std::min(src->struct_size, sizeof(T)));
  return defaults;
}

stun::TransactionId to_transaction_id(const std::uint8_t* txid) {
  stun::TransactionId id{};
  std::memcpy(id.data(), txid, id.size());
  return id;
}

std::string_view text_or_empty(const char* s) { return s == nullptr ? std::string_view{} : std::string_view(s); }

Bytes bytes_of(std::string_view s) { return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }

// A view as the C struct carries it: (NULL, 0) when absent.
void set_view(const std::optional<Bytes>& view, const std::uint8_t** data, std::size_t* len) {
  *data = view ? view->data() : nullptr;
  *len = view ? view->size() : 0;
}

void copy_types(const stun::AttributeTypeList& list, std::uint16_t* types, std::size_t* count, int* overflow) {
  std::copy_n(list.types.begin(), list.count, types);
  *count = list.count;
  *overflow = list.overflow ? 1 : 0;
}

derp_stun_message to_c_message(const stun::Message& m) {
  derp_stun_message c{};
  c.struct_size = sizeof c;
  c.type = m.type;
  c.method = m.method;
  c.message_class = static_cast<std::uint8_t>(m.message_class);
  std::memcpy(c.transaction_id, m.transaction_id.data(), m.transaction_id.size());
  c.length = m.length;
  c.has_mapped_address = m.mapped_address ? 1 : 0;
  if (m.mapped_address) c.mapped_address = *m.mapped_address;
  c.has_xor_mapped_address = m.xor_mapped_address ? 1 : 0;
  if (m.xor_mapped_address) c.xor_mapped_address = *m.xor_mapped_address;
  set_view(m.software, &c.software, &c.software_len);
  set_view(m.username, &c.username, &c.username_len);
  set_view(m.realm, &c.realm, &c.realm_len);
  set_view(m.nonce, &c.nonce, &c.nonce_len);
  if (m.error_code) {
    c.has_error_code = 1;
    c.error_code = m.error_code->code;
    c.error_reason = m.error_code->reason.data();
    c.error_reason_len = m.error_code->reason.size();
  }
  if (m.unknown_attributes) {
    c.has_unknown_attributes = 1;
    copy_types(*m.unknown_attributes, c.unknown_attributes, &c.unknown_attributes_count,
               &c.unknown_attributes_overflow);
  }
  copy_types(m.unknown_required, c.unknown_required, &c.unknown_required_count, &c.unknown_required_overflow);
  c.has_message_integrity = m.has_message_integrity ? 1 : 0;
  c.message_integrity_offset = m.message_integrity_offset;
  c.has_fingerprint = m.has_fingerprint ? 1 : 0;
  c.fingerprint_valid = m.fingerprint_valid ? 1 : 0;
  c.fingerprint = m.fingerprint;
  c.has_priority = m.priority ? 1 : 0;
  c.priority = m.priority.value_or(0);
  c.use_candidate = m.use_candidate ? 1 : 0;
  c.has_ice_controlled = m.ice_controlled ? 1 : 0;
  c.ice_controlled = m.ice_controlled.value_or(0);
  c.has_ice_controlling = m.ice_controlling ? 1 : 0;
  c.ice_controlling = m.ice_controlling.value_or(0);
  return c;
}

derp_stun_request_options default_request_options() {
  derp_stun_request_options o{};
  o.struct_size = sizeof o;
  o.fingerprint = 1;
  return o;
}

derp_stun_responder_options default_responder_options() {
  derp_stun_responder_options o{};
  o.struct_size = sizeof o;
  o.fingerprint = DERP_STUN_FINGERPRINT_MIRROR;
  return o;
}

// The common output checks of the build functions.
bool output_ok(const std::uint8_t* out, const std::size_t* out_len) { return out != nullptr && out_len != nullptr; }

}  // namespace


extern "C" {

int derp_stun_request_options_init(derp_stun_request_options* opts, std::size_t struct_size) {
  return derp::capi::guarded([&]() -> int {
    return derp::capi::init_versioned(opts, struct_size, default_request_options());
  });
}

int derp_stun_responder_options_init(derp_stun_responder_options* opts, std::size_t struct_size) {
  return derp::capi::guarded([&]() -> int {
    return derp::capi::init_versioned(opts, struct_size, default_responder_options());
  });
}

int derp_stun_is_stun(const std::uint8_t* data, std::size_t len) {
  return derp::capi::guarded([&]() -> int {
    if (data == nullptr) return 0;
    return stun::is_stun(Bytes(data, len)) ? 1 : 0;
  });
}

int derp_stun_parse(const std::uint8_t* data, std::size_t len, derp_stun_message* out) {
  return derp::capi::guarded([&]() -> int {
    if (data == nullptr || out == nullptr || out->struct_size < kMinStructSize) return DERP_ERR_INVALID_ARGUMENT;
    stun::Message message;
    if (const int rc = stun::parse(Bytes(data, len), &message); rc != DERP_OK) return rc;
    write_prefix(out, to_c_message(message));
    return DERP_OK;
  });
}

int derp_stun_check_integrity(const std::uint8_t* data, std::size_t len, const std::uint8_t* key,
                              std::size_t key_len) {
  return derp::capi::guarded([&]() -> int {
    if (data == nullptr || (key == nullptr && key_len > 0)) return DERP_ERR_INVALID_ARGUMENT;
    const Bytes message(data, len);
    stun::Message parsed;
    if (const int rc = stun::parse(message, &parsed); rc != DERP_OK) return rc;
    return stun::verify_integrity(message, parsed, Bytes(key, key_len));
  });
}

int derp_stun_long_term_key(const char* username, const char* realm, const char* password,
                            std::uint8_t out[DERP_STUN_LONG_TERM_KEY_SIZE]) {
  return derp::capi::guarded([&]() -> int {
    if (username == nullptr || realm == nullptr || password == nullptr || out == nullptr) {
      return DERP_ERR_INVALID_ARGUMENT;
    }
    stun::LongTermKey key{};
    const int rc = stun::long_term_key(bytes_of(username), bytes_of(realm), bytes_of(password), &key);
    if (rc == DERP_OK) std::memcpy(out, key.data(), key.size());
    return rc;
  });
}

int derp_stun_build_request(const std::uint8_t txid[DERP_STUN_TXID_SIZE], const derp_stun_request_options* opts,
                            std::uint8_t* out, std::size_t cap, std::size_t* out_len) {
  return derp::capi::guarded([&]() -> int {
    if (txid == nullptr || !output_ok(out, out_len)) return DERP_ERR_INVALID_ARGUMENT;
    if (opts != nullptr && opts->struct_size < kMinStructSize) return DERP_ERR_INVALID_ARGUMENT;
    const derp_stun_request_options o =
        opts == nullptr ? default_request_options() : read_prefix(opts, default_request_options());
    if (o.integrity_key == nullptr && o.integrity_key_len > 0) return DERP_ERR_INVALID_ARGUMENT;
    stun::RequestOptions options;
    options.software = text_or_empty(o.software);
    options.username = text_or_empty(o.username);
    options.realm = text_or_empty(o.realm);
    options.nonce = text_or_empty(o.nonce);
    if (o.integrity_key != nullptr) options.integrity_key = Bytes(o.integrity_key, o.integrity_key_len);
    options.fingerprint = o.fingerprint != 0;
    return stun::build_request(to_transaction_id(txid), options, MutableBytes(out, cap), out_len);
  });
}

int derp_stun_build_tailscale_request(const std::uint8_t txid[DERP_STUN_TXID_SIZE], std::uint8_t* out,
                                      std::size_t cap, std::size_t* out_len) {
  return derp::capi::guarded([&]() -> int {
    if (txid == nullptr || !output_ok(out, out_len)) return DERP_ERR_INVALID_ARGUMENT;
    return stun::build_tailscale_request(to_transaction_id(txid), MutableBytes(out, cap), out_len);
  });
}

int derp_stun_build_binding_response(const std::uint8_t txid[DERP_STUN_TXID_SIZE], const derp_addr* addr,
                                     int with_fingerprint, std::uint8_t* out, std::size_t cap,
                                     std::size_t* out_len) {
  return derp::capi::guarded([&]() -> int {
    if (txid == nullptr || addr == nullptr || !output_ok(out, out_len)) return DERP_ERR_INVALID_ARGUMENT;
    return stun::build_binding_response(to_transaction_id(txid), *addr, with_fingerprint != 0,
                                        MutableBytes(out, cap), out_len);
  });
}

int derp_stun_build_error_response(const std::uint8_t txid[DERP_STUN_TXID_SIZE], std::uint16_t method,
                                   int error_code, const char* reason, const std::uint16_t* unknown,
                                   std::size_t unknown_count, int with_fingerprint, std::uint8_t* out,
                                   std::size_t cap, std::size_t* out_len) {
  return derp::capi::guarded([&]() -> int {
    if (txid == nullptr || !output_ok(out, out_len)) return DERP_ERR_INVALID_ARGUMENT;
    if (unknown == nullptr && unknown_count > 0) return DERP_ERR_INVALID_ARGUMENT;
    stun::ErrorResponse response;
    response.method = method;
    response.code = error_code;
    response.reason = text_or_empty(reason);
    if (unknown_count > 0) response.unknown_attributes = std::span<const std::uint16_t>(unknown, unknown_count);
    response.fingerprint = with_fingerprint != 0;
    return stun::build_error_response(to_transaction_id(txid), response, MutableBytes(out, cap), out_len);
  });
}

int derp_stun_parse_binding_response(const std::uint8_t* data, std::size_t len,
                                     std::uint8_t txid_out[DERP_STUN_TXID_SIZE], derp_addr* addr_out) {
  return derp::capi::guarded([&]() -> int {
    if (data == nullptr || txid_out == nullptr || addr_out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    stun::BindingResult result;
    const int rc = stun::parse_binding_response(Bytes(data, len), &result);
    if (rc != DERP_ERR_NOT_STUN) std::memcpy(txid_out, result.transaction_id.data(), result.transaction_id.size());
    *addr_out = result.address;
    return rc;
  });
}

int derp_stun_parse_tailscale_binding_request(const std::uint8_t* data, std::size_t len,
                                              std::uint8_t txid_out[DERP_STUN_TXID_SIZE]) {
  return derp::capi::guarded([&]() -> int {
    if (data == nullptr || txid_out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
    stun::TransactionId id{};
    const int rc = stun::parse_tailscale_binding_request(Bytes(data, len), &id);
    if (rc == DERP_OK) std::memcpy(txid_out, id.data(), id.size());
    return rc;
  });
}

int derp_stun_respond(const std::uint8_t* request, std::size_t len, const derp_addr* source,
                      const derp_stun_responder_options* opts, std::uint8_t* out, std::size_t cap,
                      std::size_t* out_len) {
  return derp::capi::guarded([&]() -> int {
    if (request == nullptr || source == nullptr || !output_ok(out, out_len)) return DERP_ERR_INVALID_ARGUMENT;
    if (opts != nullptr && opts->struct_size < kMinStructSize) return DERP_ERR_INVALID_ARGUMENT;
    const derp_stun_responder_options o =
        opts == nullptr ? default_responder_options() : read_prefix(opts, default_responder_options());
    stun::ResponderOptions options;
    switch (o.fingerprint) {
      case DERP_STUN_FINGERPRINT_MIRROR: options.fingerprint = stun::FingerprintPolicy::kMirror; break;
      case DERP_STUN_FINGERPRINT_ALWAYS: options.fingerprint = stun::FingerprintPolicy::kAlways; break;
      case DERP_STUN_FINGERPRINT_NEVER: options.fingerprint = stun::FingerprintPolicy::kNever; break;
      default: return DERP_ERR_INVALID_ARGUMENT;
    }
    options.software = text_or_empty(o.software);
    const stun::BindingResponder responder(options);
    return responder.respond(Bytes(request, len), *source, MutableBytes(out, cap), out_len);
  });
}

}  // extern "C"
