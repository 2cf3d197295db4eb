#include "stun/header.hpp"

#include <algorithm>

#include "derp/common.h"

namespace derp::stun {

bool has_stun_header(Bytes message) {
  return message.size() >= kHeaderSize && (message[0] & 0xC0) == 0 && load_be32(message.data() + 4) == kMagicCookie;
}

bool is_stun(Bytes message) {
  Header header;
  return read_header(message, &header) == DERP_OK;
}

int read_header(Bytes message, Header* out) {
  if (!has_stun_header(message)) return DERP_ERR_NOT_STUN;
  const std::uint16_t length = load_be16(message.data() + 2);
  // RFC 8489 §5: attributes are padded to 4 bytes, so the length always is a multiple of 4.
  if (length % 4 != 0) return DERP_ERR_MALFORMED;
  if (kHeaderSize + length > message.size()) return DERP_ERR_TRUNCATED;
  out->type = load_be16(message.data());
  out->length = length;
  out->transaction_id = transaction_id_of(message);
  return DERP_OK;
}

bool has_classic_header(Bytes message) {
  return message.size() >= kHeaderSize && (message[0] & 0xC0) == 0 && load_be32(message.data() + 4) != kMagicCookie;
}

int read_classic_header(Bytes message, Header* out) {
  if (!has_classic_header(message)) return DERP_ERR_NOT_STUN;
  const std::uint16_t length = load_be16(message.data() + 2);
  if (length % 4 != 0 || kHeaderSize + length != message.size()) return DERP_ERR_NOT_STUN;
  out->type = load_be16(message.data());
  out->length = length;
  out->transaction_id = transaction_id_of(message);
  return DERP_OK;
}

ClassicTransactionId classic_transaction_id_of(Bytes message) {
  ClassicTransactionId id{};
  std::copy_n(message.data() + 4, kClassicTransactionIdSize, id.begin());
  return id;
}

TransactionId transaction_id_of(Bytes message) {
  TransactionId id{};
  std::copy_n(message.data() + 8, kTransactionIdSize, id.begin());
  return id;
}

void write_header(std::uint8_t* out, std::uint16_t type, std::uint16_t length, const TransactionId& transaction_id) {
  store_be16(out, type);
  store_be16(out + 2, length);
  store_be32(out + 4, kMagicCookie);
  std::copy(transaction_id.begin(), transaction_id.end(), out + 8);
}

void write_classic_header(std::uint8_t* out, std::uint16_t type, std::uint16_t length,
                          const ClassicTransactionId& transaction_id) {
  store_be16(out, type);
  store_be16(out + 2, length);
  std::copy(transaction_id.begin(), transaction_id.end(), out + 4);
}

}  // namespace derp::stun
