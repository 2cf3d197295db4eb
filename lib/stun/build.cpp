// Builder: writing STUN messages (RFC 8489 §5, §14).
#include <cstring>

#include "stun/address_value.hpp"
#include "stun/builder.hpp"
#include "stun/fingerprint.hpp"
#include "stun/header.hpp"
#include "stun/integrity.hpp"

namespace derp::stun {

namespace {
// The header's length field is 16 bits.
constexpr std::size_t kMaxMessageSize = kHeaderSize + 0xFFFF;

std::size_t padded(std::size_t n) { return (n + 3) & ~std::size_t{3}; }
}  // namespace

std::string_view standard_reason_phrase(int code) {
  switch (code) {
    case 300: return "Try Alternate";
    case 400: return "Bad Request";
    case 401: return "Unauthenticated";
    case 420: return "Unknown Attribute";
    case 438: return "Stale Nonce";
    case 500: return "Server Error";
    default: return "";
  }
}

int Builder::fail(int code) {
  status_ = code;
  return code;
}

int Builder::begin(std::uint16_t type, const TransactionId& transaction_id) {
  has_integrity_ = false;
  has_fingerprint_ = false;
  classic_ = false;
  size_ = 0;
  if ((type & 0xC000) != 0) return fail(DERP_ERR_INVALID_ARGUMENT);  // RFC 8489 §5: top two bits are zero
  if (out_.size() < kHeaderSize) return fail(DERP_ERR_BUFFER_TOO_SMALL);
  write_header(out_.data(), type, 0, transaction_id);
  size_ = kHeaderSize;
  status_ = DERP_OK;
  return DERP_OK;
}

int Builder::begin_classic(std::uint16_t type, const ClassicTransactionId& transaction_id) {
  TransactionId tail{};
  std::memcpy(tail.data(), transaction_id.data() + 4, tail.size());
  if (const int rc = begin(type, tail); rc != DERP_OK) return rc;
  write_classic_header(out_.data(), type, 0, transaction_id);
  classic_ = true;
  return DERP_OK;
}

std::uint8_t* Builder::append(std::uint16_t type, std::size_t value_size) {
  if (status_ != DERP_OK) return nullptr;
  if (has_fingerprint_ || (has_integrity_ && type != kAttrFingerprint)) {
    fail(DERP_ERR_INVALID_ARGUMENT);
    return nullptr;
  }
  const std::size_t total = kAttributeHeaderSize + padded(value_size);
  if (value_size > 0xFFFF || size_ + total > kMaxMessageSize) {
    fail(DERP_ERR_INVALID_ARGUMENT);
    return nullptr;
  }
  if (total > out_.size() - size_) {
    fail(DERP_ERR_BUFFER_TOO_SMALL);
    return nullptr;
  }
  std::uint8_t* p = out_.data() + size_;
  store_be16(p, type);
  store_be16(p + 2, static_cast<std::uint16_t>(value_size));
  std::memset(p + kAttributeHeaderSize + value_size, padding_byte_, padded(value_size) - value_size);
  size_ += total;
  store_be16(out_.data() + 2, static_cast<std::uint16_t>(size_ - kHeaderSize));
  return p + kAttributeHeaderSize;
}

int Builder::add_attribute(std::uint16_t type, Bytes value) {
  std::uint8_t* p = append(type, value.size());
  if (p == nullptr) return status_;
  if (!value.empty()) std::memcpy(p, value.data(), value.size());
  return DERP_OK;
}

int Builder::add_text(std::uint16_t type, std::string_view text) {
  return add_attribute(type, Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

int Builder::add_mapped_address(const derp_addr& addr) {
  const std::size_t n = address_value_size(addr);
  if (n == 0) return status_ == DERP_OK ? fail(DERP_ERR_INVALID_ARGUMENT) : status_;
  std::uint8_t* p = append(kAttrMappedAddress, n);
  if (p == nullptr) return status_;
  encode_mapped_address(addr, p);
  return DERP_OK;
}

int Builder::add_xor_mapped_address(const derp_addr& addr, std::uint16_t attr_type) {
  const std::size_t n = address_value_size(addr);
  if (n == 0 || classic_) return status_ == DERP_OK ? fail(DERP_ERR_INVALID_ARGUMENT) : status_;
  std::uint8_t* p = append(attr_type, n);
  if (p == nullptr) return status_;
  // The transaction id is the one already in the header.
  encode_xor_mapped_address(addr, transaction_id_of(message()), p);
  return DERP_OK;
}

int Builder::add_error_code(int code, std::string_view reason) {
  if (code < 300 || code > 699) return status_ == DERP_OK ? fail(DERP_ERR_INVALID_ARGUMENT) : status_;
  if (reason.empty()) reason = standard_reason_phrase(code);
  std::uint8_t* p = append(kAttrErrorCode, 4 + reason.size());
  if (p == nullptr) return status_;
  p[0] = 0;
  p[1] = 0;
  p[2] = static_cast<std::uint8_t>(code / 100);
  p[3] = static_cast<std::uint8_t>(code % 100);
  if (!reason.empty()) std::memcpy(p + 4, reason.data(), reason.size());
  return DERP_OK;
}

int Builder::add_unknown_attributes(std::span<const std::uint16_t> types) {
  std::uint8_t* p = append(kAttrUnknownAttributes, types.size() * 2);
  if (p == nullptr) return status_;
  for (std::size_t i = 0; i < types.size(); ++i) store_be16(p + 2 * i, types[i]);
  return DERP_OK;
}

int Builder::add_message_integrity(Bytes key) {
  std::uint8_t* p = append(kAttrMessageIntegrity, kMessageIntegrityValueSize);
  if (p == nullptr) return status_;
  // The header length already counts this attribute, as RFC 8489 §14.5 asks; hash what precedes it.
  const std::size_t offset = size_ - kAttributeHeaderSize - kMessageIntegrityValueSize;
  IntegrityValue mac{};
  const auto length_field = static_cast<std::uint16_t>(size_ - kHeaderSize);
  const int rc = compute_integrity(Bytes(out_.data(), offset), length_field, key, &mac);
  if (rc != DERP_OK) return fail(rc);
  std::memcpy(p, mac.data(), mac.size());
  has_integrity_ = true;
  return DERP_OK;
}

int Builder::add_fingerprint() {
  std::uint8_t* p = append(kAttrFingerprint, kFingerprintValueSize);
  if (p == nullptr) return status_;
  const std::size_t offset = size_ - kAttributeHeaderSize - kFingerprintValueSize;
  store_be32(p, fingerprint_of(Bytes(out_.data(), offset)));
  has_fingerprint_ = true;
  return DERP_OK;
}

int Builder::finish(std::size_t* length) const {
  if (status_ == DERP_OK && length != nullptr) *length = size_;
  return status_;
}

}  // namespace derp::stun
