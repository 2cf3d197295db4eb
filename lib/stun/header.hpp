// The 20-byte STUN header (RFC 8489 §5): message type, attribute length, magic cookie, transaction id.
#pragma once

#include <cstdint>

#include "common/bytes.hpp"
#include "stun/constants.hpp"

namespace derp::stun {

// RFC 8489 §5, figure 3: the 12 method bits M0..M11 and the two class bits C0, C1 interleave as
// M11..M7 C1 M6..M4 C0 M3..M0 below two zero bits.
constexpr std::uint16_t message_type(std::uint16_t method, MessageClass message_class) {
  const auto c = static_cast<std::uint16_t>(message_class);
  return static_cast<std::uint16_t>((method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) |
                                    ((c & 1) << 4) | ((c & 2) << 7));
}

constexpr std::uint16_t method_of(std::uint16_t type) {
  return static_cast<std::uint16_t>((type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2));
}

constexpr MessageClass class_of(std::uint16_t type) {
  return static_cast<MessageClass>(((type >> 4) & 1) | ((type >> 7) & 2));
}

struct Header {
  std::uint16_t type = 0;
  std::uint16_t length = 0;  // bytes of attributes after the header, as declared
  TransactionId transaction_id{};
};

// The loose check Tailscale's net/stun Is() makes: at least 20 bytes, the top two bits of byte 0 zero (RFC 8489
// §5, what separates STUN from other protocols on a shared port), and the magic cookie. Nothing about the length.
bool has_stun_header(Bytes message);

// The demultiplexing check (RFC 8489 §5, §7.3): has_stun_header, plus a declared length that is a multiple of 4
// and fits in the bytes given. Bytes after the declared length are allowed (Tailscale ignores them too).
bool is_stun(Bytes message);

// Reads and checks the header. DERP_OK; DERP_ERR_NOT_STUN when has_stun_header fails; DERP_ERR_MALFORMED when the
// length is not a multiple of 4; DERP_ERR_TRUNCATED when the declared attributes run past the input.
int read_header(Bytes message, Header* out);

// An RFC 3489 ("classic") message, as RFC 5389 §12.2 tells a server to spot one: at least 20 bytes, the top two
// bits of byte 0 zero, and NOT the magic cookie (bytes 4..19 are then one 128-bit transaction id).
bool has_classic_header(Bytes message);

// Reads a classic header into *out (transaction_id gets bytes 8..19; the caller reads bytes 4..19 whole with
// classic_transaction_id_of). Without a cookie to tell STUN from other traffic, the length is the only check
// left, so it must be a multiple of 4 and match the datagram exactly (Vovida's stund checks the same). DERP_OK;
// DERP_ERR_NOT_STUN when has_classic_header fails or the length does not match the datagram.
int read_classic_header(Bytes message, Header* out);

// Bytes 4..19 of a classic message. The caller has checked there are at least 20 bytes.
ClassicTransactionId classic_transaction_id_of(Bytes message);

// The transaction id at bytes 8..19. The caller has checked there are at least 20 bytes.
TransactionId transaction_id_of(Bytes message);

void write_header(std::uint8_t* out, std::uint16_t type, std::uint16_t length, const TransactionId& transaction_id);
// The classic form: the 16-byte id where the cookie and the 12-byte id would go.
void write_classic_header(std::uint8_t* out, std::uint16_t type, std::uint16_t length,
                          const ClassicTransactionId& transaction_id);

}  // namespace derp::stun
