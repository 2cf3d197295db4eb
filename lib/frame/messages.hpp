// What each frame type means, one small struct per type (named <CxxName>Frame after DERP_FRAME_TYPE_MAP).
// Decoded structs hold views into the payload they came from (valid as long as it is) and copies of keys and
// nonces; nothing is allocated. Layouts are documented once, in include/derp/frame.h.
//
// Optional trailing fields: a few types grew over time (PeerGone's reason, PeerPresent's endpoint and flags) and
// readers must accept every form. The has_* members say which form a frame had, so re-encoding a decoded frame
// gives back the same bytes; the C++ defaults are the form Tailscale's current server writes. `trailing` holds
// bytes after the last known field (a newer peer's additions), reported on decode and appended on encode.
#pragma once

#include <cstdint>

#include "common/bytes.hpp"
#include "derp/common.h"
#include "frame/frame_types.hpp"

namespace derp::frame {

struct ServerKeyFrame {
  static constexpr FrameType kType = FrameType::ServerKey;
  Key key{};       // the server's public key (the magic is implied)
  Bytes trailing;  // bytes past the 40 this version knows; ignored by Tailscale
};

struct ClientInfoFrame {
  static constexpr FrameType kType = FrameType::ClientInfo;
  Key key{};  // the client's public key
  Nonce nonce{};
  Bytes box;  // 16-byte tag + ciphertext of the ClientInfo JSON
};

struct ServerInfoFrame {
  static constexpr FrameType kType = FrameType::ServerInfo;
  Nonce nonce{};
  Bytes box;  // 16-byte tag + ciphertext of the ServerInfo JSON
};

struct SendPacketFrame {
  static constexpr FrameType kType = FrameType::SendPacket;
  Key dst{};
  Bytes packet;  // 0..65536 bytes
};

struct RecvPacketFrame {
  static constexpr FrameType kType = FrameType::RecvPacket;
  Key src{};
  Bytes packet;  // 0..65536 bytes
};

struct KeepAliveFrame {
  static constexpr FrameType kType = FrameType::KeepAlive;
};

struct NotePreferredFrame {
  static constexpr FrameType kType = FrameType::NotePreferred;
  std::uint8_t preferred = 1;  // the byte as sent: 1 = home node, 0 = not; Tailscale reads any non-zero as 1
};

struct PeerGoneFrame {
  static constexpr FrameType kType = FrameType::PeerGone;
  Key key{};
  bool has_reason = true;  // false: the old 32-byte form, which means DERP_PEER_GONE_DISCONNECTED
  std::uint8_t reason = DERP_PEER_GONE_DISCONNECTED;
  Bytes trailing;  // past the reason byte
};

struct PeerPresentFrame {
  static constexpr FrameType kType = FrameType::PeerPresent;
  Key key{};
  bool has_endpoint = true;  // 50+ bytes
  derp_addr endpoint{};      // IPv4-mapped comes back as IPv4; all-zero IP ("unknown") as DERP_AF_NONE
  bool has_flags = true;     // 51+ bytes
  std::uint8_t flags = 0;    // DERP_PEER_PRESENT_* bits
  Bytes trailing;            // past the flags, or the 1..17 bytes of an incomplete endpoint
};

struct ForwardPacketFrame {
  static constexpr FrameType kType = FrameType::ForwardPacket;
  Key src{};
  Key dst{};
  Bytes packet;  // 0..65536 bytes
};

struct WatchConnsFrame {
  static constexpr FrameType kType = FrameType::WatchConns;
};

struct ClosePeerFrame {
  static constexpr FrameType kType = FrameType::ClosePeer;
  Key key{};
};

struct PingFrame {
  static constexpr FrameType kType = FrameType::Ping;
  Bytes data;  // the whole payload, 8..1000 bytes; a Pong echoes the first 8
};

struct PongFrame {
  static constexpr FrameType kType = FrameType::Pong;
  Bytes data;  // the whole payload, 8 bytes or more; the first 8 are the Ping's data
};

struct HealthFrame {
  static constexpr FrameType kType = FrameType::Health;
  Bytes text;  // UTF-8 problem text, not validated (Tailscale does not either); empty = healthy again
};

struct RestartingFrame {
  static constexpr FrameType kType = FrameType::Restarting;
  std::uint32_t reconnect_in_ms = 0;
  std::uint32_t try_for_ms = 0;
  Bytes trailing;  // past the 8 bytes
};

}  // namespace derp::frame
