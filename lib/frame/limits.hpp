// Protocol limits on payload lengths, per frame type: the upper bounds Tailscale's peers enforce (reference §2.1,
// §9.10). The reader refuses a header announcing more, before buffering any payload; decoders and encoders apply
// the same bounds, so all three agree. Lower bounds and exact layouts are the decoders' job (decode.cpp).
#pragma once

#include <algorithm>
#include <cstdint>

#include "derp/frame.h"
#include "frame/frame_types.hpp"

namespace derp::frame {

// For types whose payload the protocol does not bound (PeerGone, PeerPresent, Pong, Health, Restarting and unknown
// types): only the reader's generic max_frame_len applies.
inline constexpr std::uint32_t kNoTypeLimit = UINT32_MAX;

// The default generic limit: room for the largest legitimate frame, a ServerInfo with a 1 MiB box.
inline constexpr std::uint32_t kDefaultMaxFrameLen = DERP_FRAME_DEFAULT_MAX_LEN;

inline constexpr std::uint32_t kKeyLen = DERP_KEY_LEN;
inline constexpr std::uint32_t kNonceLen = DERP_NONCE_LEN;
inline constexpr std::uint32_t kBoxOverhead = DERP_BOX_MAC_LEN;  // the tag alone: a box is MAC ‖ ciphertext
inline constexpr std::uint32_t kMaxPacketSize = DERP_MAX_PACKET_SIZE;

constexpr std::uint32_t max_payload_len(std::uint8_t type) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::ServerKey:
      return DERP_SERVER_KEY_MAX_LEN;  // derp_client.go recvServerKey reads with a 1 KiB limit
    case FrameType::ClientInfo:
      return DERP_MAX_CLIENT_INFO_LEN;  // derpserver.go recvClientKey: "long client info"
    case FrameType::ServerInfo:
      return DERP_MAX_SERVER_INFO_LEN;  // derp_client.go parseServerInfo: nonce + maxInfoLen
    case FrameType::SendPacket:
    case FrameType::RecvPacket:
      return kKeyLen + kMaxPacketSize;  // derpserver.go recvPacket: packet > MaxPacketSize is fatal
    case FrameType::ForwardPacket:
      return 2 * kKeyLen + kMaxPacketSize;  // derpserver.go recvForwardPacket
    case FrameType::KeepAlive:
    case FrameType::WatchConns:
      return 0;  // empty; the server checks WatchConns "wrong size"
    case FrameType::NotePreferred:
      return 1;  // the server requires exactly 1
    case FrameType::ClosePeer:
      return kKeyLen;  // the server requires exactly 32
    case FrameType::Ping:
      return DERP_MAX_PING_LEN;  // derpserver.go handleFramePing: "ping body too large"
    default:
      return kNoTypeLimit;
  }
}

// What an encoder may produce for this type: its protocol limit, and never more than a default reader accepts.
constexpr std::uint32_t max_encoded_payload_len(std::uint8_t type) {
  return std::min(max_payload_len(type), kDefaultMaxFrameLen);
}

}  // namespace derp::frame
