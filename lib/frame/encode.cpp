#include "frame/encode.hpp"

#include <cstring>

#include "derp/frame.h"
#include "frame/header.hpp"
#include "frame/limits.hpp"
#include "frame/peer_endpoint.hpp"

namespace derp::frame {

namespace {

// Appends payload fields in order; the frame length was checked before any write.
class PayloadWriter {
 public:
  explicit PayloadWriter(std::uint8_t* p) : p_(p) {}
  void bytes(const std::uint8_t* data, std::size_t len) {
    if (len != 0) std::memcpy(p_, data, len);
    p_ += len;
  }
  void bytes(Bytes b) { bytes(b.data(), b.size()); }
  template <std::size_t N>
  void bytes(const std::array<std::uint8_t, N>& a) {
    bytes(a.data(), N);
  }
  void byte(std::uint8_t v) { *p_++ = v; }
  void be32(std::uint32_t v) {
    store_be32(p_, v);
    p_ += 4;
  }
  void peer_endpoint(const derp_addr& addr) {
    (void)write_peer_endpoint(addr, p_);  // the family was validated before the header went out
    p_ += kPeerEndpointLen;
  }

 private:
  std::uint8_t* p_;
};

// Every encoder ends here: the payload length against the type's limit, then the buffer, then header + payload.
template <class WritePayload>
int encode_frame(FrameType type, std::size_t payload_len, MutableBytes out, std::size_t* written,
                 WritePayload&& write_payload) {
  *written = 0;
  if (payload_len > max_encoded_payload_len(type_byte(type))) return DERP_ERR_FRAME_TOO_LARGE;
  const std::size_t frame_len = kHeaderLen + payload_len;
  *written = frame_len;
  if (out.size() < frame_len) return DERP_ERR_BUFFER_TOO_SMALL;
  write_header(out.data(), type_byte(type), static_cast<std::uint32_t>(payload_len));
  PayloadWriter w(out.data() + kHeaderLen);
  write_payload(w);
  return DERP_OK;
}

bool valid_family(const derp_addr& a) {
  return a.family == DERP_AF_NONE || a.family == DERP_AF_INET || a.family == DERP_AF_INET6;
}

}  // namespace

int encode(const ServerKeyFrame& msg, MutableBytes out, std::size_t* written) {
  return encode_frame(FrameType::ServerKey, DERP_SERVER_KEY_MIN_LEN + msg.trailing.size(), out, written,
                      [&](PayloadWriter& w) {
                        w.bytes(reinterpret_cast<const std::uint8_t*>(DERP_FRAME_MAGIC), DERP_FRAME_MAGIC_LEN);
                        w.bytes(msg.key);
                        w.bytes(msg.trailing);
                      });
}

int encode(const ClientInfoFrame& msg, MutableBytes out, std::size_t* written) {
  *written = 0;
  if (msg.box.size() < kBoxOverhead) return DERP_ERR_FRAME_SIZE;
  return encode_frame(FrameType::ClientInfo, kKeyLen + kNonceLen + msg.box.size(), out, written,
                      [&](PayloadWriter& w) {
                        w.bytes(msg.key);
                        w.bytes(msg.nonce);
                        w.bytes(msg.box);
                      });
}

int encode(const ServerInfoFrame& msg, MutableBytes out, std::size_t* written) {
  *written = 0;
  if (msg.box.size() < kBoxOverhead) return DERP_ERR_FRAME_SIZE;
  return encode_frame(FrameType::ServerInfo, kNonceLen + msg.box.size(), out, written, [&](PayloadWriter& w) {
    w.bytes(msg.nonce);
    w.bytes(msg.box);
  });
}

int encode(const SendPacketFrame& msg, MutableBytes out, std::size_t* written) {
  // A packet over 65536 bytes exceeds the type's limit: refused like derp_client.go's "packet too big".
  return encode_frame(FrameType::SendPacket, kKeyLen + msg.packet.size(), out, written, [&](PayloadWriter& w) {
    w.bytes(msg.dst);
    w.bytes(msg.packet);
  });
}

int encode(const RecvPacketFrame& msg, MutableBytes out, std::size_t* written) {
  return encode_frame(FrameType::RecvPacket, kKeyLen + msg.packet.size(), out, written, [&](PayloadWriter& w) {
    w.bytes(msg.src);
    w.bytes(msg.packet);
  });
}

int encode(const KeepAliveFrame& /*msg*/, MutableBytes out, std::size_t* written) {
  return encode_frame(FrameType::KeepAlive, 0, out, written, [](PayloadWriter&) {});
}

int encode(const NotePreferredFrame& msg, MutableBytes out, std::size_t* written) {
  return encode_frame(FrameType::NotePreferred, 1, out, written, [&](PayloadWriter& w) { w.byte(msg.preferred); });
}

int encode(const PeerGoneFrame& msg, MutableBytes out, std::size_t* written) {
  *written = 0;
  if (!msg.has_reason) {
    // The old 32-byte form can say nothing but "disconnected".
    if (msg.reason != DERP_PEER_GONE_DISCONNECTED) return DERP_ERR_INVALID_ARGUMENT;
    if (!msg.trailing.empty()) return DERP_ERR_FRAME_SIZE;
  }
  const std::size_t len = kKeyLen + (msg.has_reason ? 1 + msg.trailing.size() : 0);
  return encode_frame(FrameType::PeerGone, len, out, written, [&](PayloadWriter& w) {
    w.bytes(msg.key);
    if (msg.has_reason) {
      w.byte(msg.reason);
      w.bytes(msg.trailing);
    }
  });
}

int encode(const PeerPresentFrame& msg, MutableBytes out, std::size_t* written) {
  *written = 0;
  // Each form must be one a reader parses back the same way (decode.cpp): fields the form omits must be unset,
  // and trailing bytes must not be mistaken for a field.
  if (!msg.has_endpoint) {
    if (msg.has_flags || msg.flags != 0 || msg.endpoint.family != DERP_AF_NONE || msg.endpoint.port != 0) {
      return DERP_ERR_INVALID_ARGUMENT;
    }
    if (msg.trailing.size() >= kPeerEndpointLen) return DERP_ERR_FRAME_SIZE;
  } else if (!msg.has_flags) {
    if (msg.flags != 0) return DERP_ERR_INVALID_ARGUMENT;
    if (!msg.trailing.empty()) return DERP_ERR_FRAME_SIZE;
  }
  if (!valid_family(msg.endpoint)) return DERP_ERR_INVALID_ARGUMENT;
  const std::size_t len =
      kKeyLen + (msg.has_endpoint ? kPeerEndpointLen : 0) + (msg.has_flags ? 1 : 0) + msg.trailing.size();
  return encode_frame(FrameType::PeerPresent, len, out, written, [&](PayloadWriter& w) {
    w.bytes(msg.key);
    if (msg.has_endpoint) w.peer_endpoint(msg.endpoint);
    if (msg.has_flags) w.byte(msg.flags);
    w.bytes(msg.trailing);
  });
}

int encode(const ForwardPacketFrame& msg, MutableBytes out, std::size_t* written) {
  return encode_frame(FrameType::ForwardPacket, 2 * kKeyLen + msg.packet.size(), out, written,
                      [&](PayloadWriter& w) {
                        w.bytes(msg.src);
                        w.bytes(msg.dst);
                        w.bytes(msg.packet);
                      });
}

int encode(const WatchConnsFrame& /*msg*/, MutableBytes out, std::size_t* written) {
  return encode_frame(FrameType::WatchConns, 0, out, written, [](PayloadWriter&) {});
}

int encode(const ClosePeerFrame& msg, MutableBytes out, std::size_t* written) {
  return encode_frame(FrameType::ClosePeer, kKeyLen, out, written, [&](PayloadWriter& w) { w.bytes(msg.key); });
}

int encode(const PingFrame& msg, MutableBytes out, std::size_t* written) {
  *written = 0;
  if (msg.data.size() < DERP_PING_DATA_LEN) return DERP_ERR_FRAME_SIZE;
  return encode_frame(FrameType::Ping, msg.data.size(), out, written, [&](PayloadWriter& w) { w.bytes(msg.data); });
}

int encode(const PongFrame& msg, MutableBytes out, std::size_t* written) {
  *written = 0;
  if (msg.data.size() < DERP_PING_DATA_LEN) return DERP_ERR_FRAME_SIZE;
  return encode_frame(FrameType::Pong, msg.data.size(), out, written, [&](PayloadWriter& w) { w.bytes(msg.data); });
}

int encode(const HealthFrame& msg, MutableBytes out, std::size_t* written) {
  return encode_frame(FrameType::Health, msg.text.size(), out, written, [&](PayloadWriter& w) { w.bytes(msg.text); });
}

int encode(const RestartingFrame& msg, MutableBytes out, std::size_t* written) {
  return encode_frame(FrameType::Restarting, DERP_RESTARTING_LEN + msg.trailing.size(), out, written,
                      [&](PayloadWriter& w) {
                        w.be32(msg.reconnect_in_ms);
                        w.be32(msg.try_for_ms);
                        w.bytes(msg.trailing);
                      });
}

}  // namespace derp::frame
