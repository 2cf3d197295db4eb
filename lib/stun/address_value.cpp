#include "stun/address_value.hpp"

#include <cstring>

#include "common/address.hpp"

namespace derp::stun {

namespace {

constexpr std::size_t kAddressPrefixSize = 4;  // reserved byte, family, port

std::size_t ip_size_for_family(std::uint8_t family) {
  if (family == kFamilyIPv4) return 4;
  if (family == kFamilyIPv6) return 16;
  return 0;
}

// cookie ‖ transaction id: the 16-byte mask of RFC 8489 §14.2 (IPv4 uses its first 4 bytes).
void xor_mask(const TransactionId& transaction_id, std::uint8_t mask[16]) {
  store_be32(mask, kMagicCookie);
  std::memcpy(mask + 4, transaction_id.data(), kTransactionIdSize);
}

int decode(Bytes value, const TransactionId* xor_with, derp_addr* out) {
  if (value.size() < kAddressPrefixSize) return DERP_ERR_MALFORMED;
  const std::size_t ip_size = ip_size_for_family(value[1]);
  if (ip_size == 0 || value.size() - kAddressPrefixSize < ip_size) return DERP_ERR_MALFORMED;
  std::uint16_t port = load_be16(value.data() + 2);
  std::uint8_t ip[16] = {0};
  std::memcpy(ip, value.data() + kAddressPrefixSize, ip_size);
  if (xor_with != nullptr) {
    std::uint8_t mask[16];
    xor_mask(*xor_with, mask);
    port = static_cast<std::uint16_t>(port ^ (kMagicCookie >> 16));
    for (std::size_t i = 0; i < ip_size; ++i) ip[i] = static_cast<std::uint8_t>(ip[i] ^ mask[i]);
  }
  *out = ip_size == 4 ? make_addr_v4(ip, port) : make_addr_v6(ip, port);
  return DERP_OK;
}

void encode(const derp_addr& addr, const TransactionId* xor_with, std::uint8_t* out) {
  const bool v4 = addr.family == DERP_AF_INET;
  const std::size_t ip_size = v4 ? 4 : 16;
  std::uint16_t port = addr.port;
  std::uint8_t ip[16];
  std::memcpy(ip, addr.ip, ip_size);
  if (xor_with != nullptr) {
    std::uint8_t mask[16];
    xor_mask(*xor_with, mask);
    port = static_cast<std::uint16_t>(port ^ (kMagicCookie >> 16));
    for (std::size_t i = 0; i < ip_size; ++i) ip[i] = static_cast<std::uint8_t>(ip[i] ^ mask[i]);
  }
  out[0] = 0;
  out[1] = v4 ? kFamilyIPv4 : kFamilyIPv6;
  store_be16(out + 2, port);
  std::memcpy(out + kAddressPrefixSize, ip, ip_size);
}

}  // namespace

int decode_mapped_address(Bytes value, derp_addr* out) { return decode(value, nullptr, out); }

int decode_xor_mapped_address(Bytes value, const TransactionId& transaction_id, derp_addr* out) {
  return decode(value, &transaction_id, out);
}

std::size_t address_value_size(const derp_addr& addr) {
  if (addr.family == DERP_AF_INET) return kAddressPrefixSize + 4;
  if (addr.family == DERP_AF_INET6) return kAddressPrefixSize + 16;
  return 0;
}

void encode_mapped_address(const derp_addr& addr, std::uint8_t* out) { encode(addr, nullptr, out); }

void encode_xor_mapped_address(const derp_addr& addr, const TransactionId& transaction_id, std::uint8_t* out) {
  encode(addr, &transaction_id, out);
}

}  // namespace derp::stun
