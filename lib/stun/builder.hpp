// Writes a STUN message into a caller's buffer, attribute by attribute, with no allocation. The header's length is
// kept current after every step, so the bytes written so far always form a valid message.
//
//   Builder b(buffer);
//   b.begin(kBindingRequest, txid);
//   b.add_software(...);
//   b.add_fingerprint();
//   int rc = b.finish(&length);
//
// Errors are sticky: after the first failure every later call returns the same code and writes nothing, so a
// caller may check only finish(). Codes: DERP_ERR_BUFFER_TOO_SMALL (the buffer is full), DERP_ERR_INVALID_ARGUMENT
// (no begin(), a value or message longer than the 16-bit length fields allow, an address of family NONE, an
// error code outside 300..699, an attribute after FINGERPRINT or one other than FINGERPRINT after
// MESSAGE-INTEGRITY), or what compute_integrity returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/bytes.hpp"
#include "derp/common.h"
#include "stun/constants.hpp"

namespace derp::stun {

class Builder {
 public:
  // padding_byte fills the 0-3 bytes after a value whose length is not a multiple of 4. RFC 8489 §14 lets a sender
  // put anything there; 0 is usual, and RFC 5769's samples use 0x20.
  explicit Builder(MutableBytes out, std::uint8_t padding_byte = 0) : out_(out), padding_byte_(padding_byte) {}

  int begin(std::uint16_t type, const TransactionId& transaction_id);
  // An RFC 3489 message: the 16-byte id in place of cookie + id (RFC 5389 §12.2: a server answers a classic
  // request so). XOR-MAPPED-ADDRESS is then refused (DERP_ERR_INVALID_ARGUMENT): there is no cookie to XOR with.
  int begin_classic(std::uint16_t type, const ClassicTransactionId& transaction_id);

  // Any attribute, value given whole (padding is added).
  int add_attribute(std::uint16_t type, Bytes value);

  int add_mapped_address(const derp_addr& addr);
  // attr_type may be kAttrXorMappedAddressAlt to imitate servers that use 0x8020.
  int add_xor_mapped_address(const derp_addr& addr, std::uint16_t attr_type = kAttrXorMappedAddress);
  int add_software(std::string_view text) { return add_text(kAttrSoftware, text); }
  int add_username(std::string_view text) { return add_text(kAttrUsername, text); }
  int add_realm(std::string_view text) { return add_text(kAttrRealm, text); }
  int add_nonce(std::string_view text) { return add_text(kAttrNonce, text); }
  // code 300..699 (RFC 8489 §14.8); an empty reason is replaced by the RFC's phrase for the code.
  int add_error_code(int code, std::string_view reason = {});
  int add_unknown_attributes(std::span<const std::uint16_t> types);

  // HMAC-SHA1 with `key` (RFC 8489 §14.5). After it only add_fingerprint() is allowed.
  int add_message_integrity(Bytes key);
  // CRC-32 of everything before it, XOR 0x5354554E (RFC 8489 §14.7). Always last.
  int add_fingerprint();

  // The sticky status; on DERP_OK *length (if not null) is the message's size.
  int finish(std::size_t* length) const;
  std::size_t size() const { return size_; }
  Bytes message() const { return Bytes(out_.data(), size_); }

 private:
  int add_text(std::uint16_t type, std::string_view text);
  // Appends an attribute header and room for its value (padding written), updates the header length and returns
  // the value's first byte, or nullptr after setting status_.
  std::uint8_t* append(std::uint16_t type, std::size_t value_size);
  int fail(int code);

  MutableBytes out_;
  std::uint8_t padding_byte_;
  std::size_t size_ = 0;
  int status_ = DERP_ERR_INVALID_ARGUMENT;  // until begin()
  bool has_integrity_ = false;
  bool has_fingerprint_ = false;
  bool classic_ = false;
};

// The reason phrases RFC 8489 §14.8 suggests, "" for other codes.
std::string_view standard_reason_phrase(int code);

}  // namespace derp::stun
