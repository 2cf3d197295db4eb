#include "frame/decode.hpp"

#include <algorithm>
#include <cstring>

#include "derp/frame.h"
#include "frame/limits.hpp"
#include "frame/peer_endpoint.hpp"

namespace derp::frame {

namespace {

// Every decoder starts here: the type's upper bound (the same one the reader applies), then its lower bound.
int check_bounds(FrameType type, Bytes payload, std::size_t min_len) {
  if (payload.size() > max_payload_len(type_byte(type))) return DERP_ERR_FRAME_TOO_LARGE;
  if (payload.size() < min_len) return DERP_ERR_FRAME_SIZE;
  return DERP_OK;
}

template <std::size_t N>
std::array<std::uint8_t, N> copy_array(const std::uint8_t* p) {
  std::array<std::uint8_t, N> a;
  std::copy(p, p + N, a.begin());
  return a;
}

Key copy_key(Bytes payload, std::size_t offset) { return copy_array<kKeyLen>(payload.data() + offset); }

}  // namespace

int decode(Bytes payload, ServerKeyFrame* out) {
  if (const int r = check_bounds(FrameType::ServerKey, payload, DERP_SERVER_KEY_MIN_LEN); r != DERP_OK) return r;
  if (std::memcmp(payload.data(), DERP_FRAME_MAGIC, DERP_FRAME_MAGIC_LEN) != 0) return DERP_ERR_FRAME_BAD_MAGIC;
  out->key = copy_key(payload, DERP_FRAME_MAGIC_LEN);
  out->trailing = payload.subspan(DERP_SERVER_KEY_MIN_LEN);
  return DERP_OK;
}

int decode(Bytes payload, ClientInfoFrame* out) {
  // The box must at least hold its Poly1305 tag; the Go server's own floor (56) only fails later, at opening.
  const std::size_t min_len = kKeyLen + kNonceLen + kBoxOverhead;
  if (const int r = check_bounds(FrameType::ClientInfo, payload, min_len); r != DERP_OK) return r;
  out->key = copy_key(payload, 0);
  out->nonce = copy_array<kNonceLen>(payload.data() + kKeyLen);
  out->box = payload.subspan(kKeyLen + kNonceLen);
  return DERP_OK;
}

int decode(Bytes payload, ServerInfoFrame* out) {
  if (const int r = check_bounds(FrameType::ServerInfo, payload, kNonceLen + kBoxOverhead); r != DERP_OK) return r;
  out->nonce = copy_array<kNonceLen>(payload.data());
  out->box = payload.subspan(kNonceLen);
  return DERP_OK;
}

int decode(Bytes payload, SendPacketFrame* out) {
  if (const int r = check_bounds(FrameType::SendPacket, payload, kKeyLen); r != DERP_OK) return r;
  out->dst = copy_key(payload, 0);
  out->packet = payload.subspan(kKeyLen);
  return DERP_OK;
}

int decode(Bytes payload, RecvPacketFrame* out) {
  if (const int r = check_bounds(FrameType::RecvPacket, payload, kKeyLen); r != DERP_OK) return r;
  out->src = copy_key(payload, 0);
  out->packet = payload.subspan(kKeyLen);
  return DERP_OK;
}

int decode(Bytes payload, KeepAliveFrame* /*out*/) { return check_bounds(FrameType::KeepAlive, payload, 0); }

int decode(Bytes payload, NotePreferredFrame* out) {
  if (const int r = check_bounds(FrameType::NotePreferred, payload, 1); r != DERP_OK) return r;
  out->preferred = payload[0];
  return DERP_OK;
}

int decode(Bytes payload, PeerGoneFrame* out) {
  if (const int r = check_bounds(FrameType::PeerGone, payload, kKeyLen); r != DERP_OK) return r;
  out->key = copy_key(payload, 0);
  // Servers before 2023-03 (Tailscale v1.36 among them) sent the key alone: that means "disconnected".
  out->has_reason = payload.size() > kKeyLen;
  out->reason = out->has_reason ? payload[kKeyLen] : std::uint8_t{DERP_PEER_GONE_DISCONNECTED};
  out->trailing = out->has_reason ? payload.subspan(kKeyLen + 1) : Bytes{};
  return DERP_OK;
}

int decode(Bytes payload, PeerPresentFrame* out) {
  if (const int r = check_bounds(FrameType::PeerPresent, payload, kKeyLen); r != DERP_OK) return r;
  // Parse by length like derp_client.go: the key, then the endpoint if all 18 bytes are there, then the flags.
  PeerPresentFrame m;
  m.key = copy_key(payload, 0);
  Bytes rest = payload.subspan(kKeyLen);
  m.has_endpoint = rest.size() >= kPeerEndpointLen;
  if (m.has_endpoint) {
    m.endpoint = read_peer_endpoint(rest.data());
    rest = rest.subspan(kPeerEndpointLen);
  }
  m.has_flags = m.has_endpoint && !rest.empty();
  if (m.has_flags) {
    m.flags = rest[0];
    rest = rest.subspan(1);
  }
  m.trailing = rest;
  *out = m;
  return DERP_OK;
}

int decode(Bytes payload, ForwardPacketFrame* out) {
  if (const int r = check_bounds(FrameType::ForwardPacket, payload, 2 * kKeyLen); r != DERP_OK) return r;
  out->src = copy_key(payload, 0);
  out->dst = copy_key(payload, kKeyLen);
  out->packet = payload.subspan(2 * kKeyLen);
  return DERP_OK;
}

int decode(Bytes payload, WatchConnsFrame* /*out*/) { return check_bounds(FrameType::WatchConns, payload, 0); }

int decode(Bytes payload, ClosePeerFrame* out) {
  if (const int r = check_bounds(FrameType::ClosePeer, payload, kKeyLen); r != DERP_OK) return r;
  out->key = copy_key(payload, 0);
  return DERP_OK;
}

int decode(Bytes payload, PingFrame* out) {
  if (const int r = check_bounds(FrameType::Ping, payload, DERP_PING_DATA_LEN); r != DERP_OK) return r;
  out->data = payload;
  return DERP_OK;
}

int decode(Bytes payload, PongFrame* out) {
  if (const int r = check_bounds(FrameType::Pong, payload, DERP_PING_DATA_LEN); r != DERP_OK) return r;
  out->data = payload;
  return DERP_OK;
}

int decode(Bytes payload, HealthFrame* out) {
  if (const int r = check_bounds(FrameType::Health, payload, 0); r != DERP_OK) return r;
  out->text = payload;
  return DERP_OK;
}

int decode(Bytes payload, RestartingFrame* out) {
  if (const int r = check_bounds(FrameType::Restarting, payload, DERP_RESTARTING_LEN); r != DERP_OK) return r;
  out->reconnect_in_ms = load_be32(payload.data());
  out->try_for_ms = load_be32(payload.data() + 4);
  out->trailing = payload.subspan(DERP_RESTARTING_LEN);
  return DERP_OK;
}

}  // namespace derp::frame
