// The disco payload: the plaintext inside the NaCl box of a disco packet (Tailscale disco/disco.go).
//
//   payload = type (1) | version (1) | body
//
//   0x01 Ping        TxID (12) | sender's node key (32, left out when zero) | padding (zero bytes, newer senders)
//   0x02 Pong        TxID (12) | source IP (16; IPv4 as ::ffff:a.b.c.d) | source port (2, big-endian)
//   0x03 CallMeMaybe n × (IP (16) | port (2))
//
// Parsing follows disco.Parse exactly, which is lenient on purpose (forward compatibility): trailing bytes are
// ignored, the version of Ping and Pong is not looked at, and a CallMeMaybe whose body is not a whole number of
// endpoints, or whose version is not 0, is not an error but carries no endpoints. An unknown type is an error the
// receiver drops silently, which is how Tailscale lets new message types reach old nodes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/bytes.hpp"
#include "crypto/node_key.hpp"
#include "derp/common.h"

namespace derp::disco {

inline constexpr std::uint8_t kTypePing = 0x01;
inline constexpr std::uint8_t kTypePong = 0x02;
inline constexpr std::uint8_t kTypeCallMeMaybe = 0x03;
inline constexpr std::uint8_t kVersion = 0;  // every message is sent with version 0

inline constexpr std::size_t kMessageHeaderLen = 2;
inline constexpr std::size_t kTxIdLen = 12;
inline constexpr std::size_t kPingLen = kTxIdLen + crypto::kKeyLen;  // 44 (HEAD's disco.PingLen)
inline constexpr std::size_t kPongLen = kTxIdLen + 16 + 2;          // 30
inline constexpr std::size_t kEndpointLen = 16 + 2;                 // 18

using TxId = std::array<std::uint8_t, kTxIdLen>;

struct Ping {
  TxId txid{};
  crypto::NodePublic node_key;  // zero: not sent (clients before ~1.16)
  std::size_t padding = 0;      // zero bytes after the key; newer senders use it to probe the path MTU
};

struct Pong {
  TxId txid{};
  derp_addr src{};  // where the responder saw the Ping come from; IPv4 unmapped; a zero address reads as [::]:0
};

struct CallMeMaybe {
  std::vector<derp_addr> endpoints;
};

struct Message {
  std::uint8_t type = 0;     // kTypePing, kTypePong or kTypeCallMeMaybe
  std::uint8_t version = 0;  // as received (not checked for Ping and Pong, as in disco.Parse)
  Ping ping;
  Pong pong;
  CallMeMaybe call_me_maybe;
};

// disco.Parse. DERP_OK; DERP_ERR_TRUNCATED for Go's "short message" (fewer than 2 bytes, a Ping body under 12, a
// Pong body under 30); DERP_ERR_UNSUPPORTED for Go's "unknown message type 0x%02x" (type byte in *unknown_type when
// given). On error *out is left in an unspecified but valid state.
int parse(Bytes payload, Message* out, std::uint8_t* unknown_type = nullptr);

// AppendMarshal: the payload bytes appended to *out (every message written with version 0).
void append(const Ping& m, std::vector<std::uint8_t>* out);
void append(const Pong& m, std::vector<std::uint8_t>* out);
void append(const CallMeMaybe& m, std::vector<std::uint8_t>* out);
void append(const Message& m, std::vector<std::uint8_t>* out);  // by m.type; nothing for an unknown type

// Encoded payload sizes, for callers that size buffers.
std::size_t ping_size(const Ping& m);
inline std::size_t pong_size() { return kMessageHeaderLen + kPongLen; }
inline std::size_t call_me_maybe_size(std::size_t n) { return kMessageHeaderLen + kEndpointLen * n; }

}  // namespace derp::disco
