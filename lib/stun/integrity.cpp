#include "stun/integrity.hpp"

#include <algorithm>
#include <tuple>

#include "derp/common.h"
#include "tls/digest.hpp"

namespace derp::stun {

namespace {

// Looks at every byte whatever it finds, so the time taken says nothing about where a forged MAC goes wrong.
// (mbedTLS 2.28 has mbedtls_ct_memcmp, but its header lacks C linkage guards for C++.)
bool equal_in_constant_time(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  volatile std::uint8_t difference = 0;
  for (std::size_t i = 0; i < n; ++i) difference = static_cast<std::uint8_t>(difference | (a[i] ^ b[i]));
  return difference == 0;
}

}  // namespace

int compute_integrity(Bytes message_before_integrity, std::uint16_t length_field, Bytes key, IntegrityValue* out) {
  if (message_before_integrity.size() < kHeaderSize || out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  std::uint8_t first_word[4] = {message_before_integrity[0], message_before_integrity[1], 0, 0};
  store_be16(first_word + 2, length_field);
  static_assert(std::tuple_size_v<IntegrityValue> == std::tuple_size_v<tls::Sha1Digest>);
  tls::Sha1Digest mac{};
  const int rc = tls::hmac_sha1(key, {Bytes(first_word), message_before_integrity.subspan(4)}, &mac);
  if (rc == DERP_OK) std::copy(mac.begin(), mac.end(), out->begin());
  return rc;
}

int verify_integrity(Bytes message, const Message& parsed, Bytes key) {
  if (!parsed.has_message_integrity) return DERP_ERR_STUN_NO_INTEGRITY;
  const std::size_t offset = parsed.message_integrity_offset;
  const std::size_t attribute_end = offset + kAttributeHeaderSize + kMessageIntegrityValueSize;
  if (offset < kHeaderSize || attribute_end > message.size()) return DERP_ERR_INVALID_ARGUMENT;
  // RFC 8489 §14.5: the length covers everything up to and including MESSAGE-INTEGRITY, so any FINGERPRINT after
  // it is left out.
  const auto length_field = static_cast<std::uint16_t>(attribute_end - kHeaderSize);
  IntegrityValue expected{};
  if (const int rc = compute_integrity(message.first(offset), length_field, key, &expected); rc != DERP_OK) return rc;
  const std::uint8_t* received = message.data() + offset + kAttributeHeaderSize;
  return equal_in_constant_time(expected.data(), received, expected.size()) ? DERP_OK : DERP_ERR_STUN_INTEGRITY;
}

int long_term_key(Bytes username, Bytes realm, Bytes password, LongTermKey* out) {
  if (out == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  static const std::uint8_t kColon[1] = {':'};
  static_assert(std::tuple_size_v<LongTermKey> == std::tuple_size_v<tls::Md5Digest>);
  tls::Md5Digest digest{};
  const int rc = tls::md5({username, Bytes(kColon), realm, Bytes(kColon), password}, &digest);
  if (rc == DERP_OK) std::copy(digest.begin(), digest.end(), out->begin());
  return rc;
}

}  // namespace derp::stun
