#include "frame/fields.hpp"

#include <algorithm>

#include "frame/dispatch.hpp"
#include "frame/encode.hpp"

namespace derp::frame {

namespace {

// ---- typed message -> fields -------------------------------------------------------------------------------

template <std::size_t N>
void put(const std::array<std::uint8_t, N>& from, std::uint8_t (&to)[N]) {
  std::copy(from.begin(), from.end(), to);
}

void put_data(Bytes b, derp_frame_fields* f) {
  f->data = b.data();
  f->data_len = b.size();
}

void put_trailing(Bytes b, derp_frame_fields* f) {
  f->trailing = b.data();
  f->trailing_len = b.size();
}

void fill(const ServerKeyFrame& m, derp_frame_fields* f) {
  put(m.key, f->key);
  put_trailing(m.trailing, f);
}
void fill(const ClientInfoFrame& m, derp_frame_fields* f) {
  put(m.key, f->key);
  put(m.nonce, f->nonce);
  put_data(m.box, f);
}
void fill(const ServerInfoFrame& m, derp_frame_fields* f) {
  put(m.nonce, f->nonce);
  put_data(m.box, f);
}
void fill(const SendPacketFrame& m, derp_frame_fields* f) {
  put(m.dst, f->dst_key);
  put_data(m.packet, f);
}
void fill(const RecvPacketFrame& m, derp_frame_fields* f) {
  put(m.src, f->src_key);
  put_data(m.packet, f);
}
void fill(const KeepAliveFrame&, derp_frame_fields*) {}
void fill(const NotePreferredFrame& m, derp_frame_fields* f) { f->preferred = m.preferred; }
void fill(const PeerGoneFrame& m, derp_frame_fields* f) {
  put(m.key, f->key);
  f->has_reason = m.has_reason ? 1 : 0;
  f->reason = m.reason;
  put_trailing(m.trailing, f);
}
void fill(const PeerPresentFrame& m, derp_frame_fields* f) {
  put(m.key, f->key);
  f->has_endpoint = m.has_endpoint ? 1 : 0;
  f->endpoint = m.endpoint;
  f->has_flags = m.has_flags ? 1 : 0;
  f->flags = m.flags;
  put_trailing(m.trailing, f);
}
void fill(const ForwardPacketFrame& m, derp_frame_fields* f) {
  put(m.src, f->src_key);
  put(m.dst, f->dst_key);
  put_data(m.packet, f);
}
void fill(const WatchConnsFrame&, derp_frame_fields*) {}
void fill(const ClosePeerFrame& m, derp_frame_fields* f) { put(m.key, f->key); }
void fill(const PingFrame& m, derp_frame_fields* f) { put_data(m.data, f); }
void fill(const PongFrame& m, derp_frame_fields* f) { put_data(m.data, f); }
void fill(const HealthFrame& m, derp_frame_fields* f) { put_data(m.text, f); }
void fill(const RestartingFrame& m, derp_frame_fields* f) {
  f->reconnect_in_ms = m.reconnect_in_ms;
  f->try_for_ms = m.try_for_ms;
  put_trailing(m.trailing, f);
}

// ---- fields -> typed message -------------------------------------------------------------------------------

template <std::size_t N>
std::array<std::uint8_t, N> take(const std::uint8_t (&from)[N]) {
  std::array<std::uint8_t, N> a;
  std::copy(from, from + N, a.begin());
  return a;
}

Bytes data_of(const derp_frame_fields& f) { return Bytes(f.data, f.data_len); }
Bytes trailing_of(const derp_frame_fields& f) { return Bytes(f.trailing, f.trailing_len); }

void take(const derp_frame_fields& f, ServerKeyFrame* m) {
  m->key = take(f.key);
  m->trailing = trailing_of(f);
}
void take(const derp_frame_fields& f, ClientInfoFrame* m) {
  m->key = take(f.key);
  m->nonce = take(f.nonce);
  m->box = data_of(f);
}
void take(const derp_frame_fields& f, ServerInfoFrame* m) {
  m->nonce = take(f.nonce);
  m->box = data_of(f);
}
void take(const derp_frame_fields& f, SendPacketFrame* m) {
  m->dst = take(f.dst_key);
  m->packet = data_of(f);
}
void take(const derp_frame_fields& f, RecvPacketFrame* m) {
  m->src = take(f.src_key);
  m->packet = data_of(f);
}
void take(const derp_frame_fields&, KeepAliveFrame*) {}
void take(const derp_frame_fields& f, NotePreferredFrame* m) { m->preferred = f.preferred; }
void take(const derp_frame_fields& f, PeerGoneFrame* m) {
  m->key = take(f.key);
  m->has_reason = f.has_reason != 0;
  m->reason = f.reason;
  m->trailing = trailing_of(f);
}
void take(const derp_frame_fields& f, PeerPresentFrame* m) {
  m->key = take(f.key);
  m->has_endpoint = f.has_endpoint != 0;
  m->endpoint = f.endpoint;
  m->has_flags = f.has_flags != 0;
  m->flags = f.flags;
  m->trailing = trailing_of(f);
}
void take(const derp_frame_fields& f, ForwardPacketFrame* m) {
  m->src = take(f.src_key);
  m->dst = take(f.dst_key);
  m->packet = data_of(f);
}
void take(const derp_frame_fields&, WatchConnsFrame*) {}
void take(const derp_frame_fields& f, ClosePeerFrame* m) { m->key = take(f.key); }
void take(const derp_frame_fields& f, PingFrame* m) { m->data = data_of(f); }
void take(const derp_frame_fields& f, PongFrame* m) { m->data = data_of(f); }
void take(const derp_frame_fields& f, HealthFrame* m) { m->text = data_of(f); }
void take(const derp_frame_fields& f, RestartingFrame* m) {
  m->reconnect_in_ms = f.reconnect_in_ms;
  m->try_for_ms = f.try_for_ms;
  m->trailing = trailing_of(f);
}

}  // namespace

int decode_fields(std::uint8_t type, Bytes payload, derp_frame_fields* out) {
  derp_frame_fields decoded{};
  decoded.struct_size = sizeof decoded;
  decoded.type = type;
  const int result = decode_and_visit(type, payload, [&](const auto& msg) { fill(msg, &decoded); });
  if (result == DERP_OK) *out = decoded;
  return result;
}

int encode_fields(const derp_frame_fields& fields, MutableBytes out, std::size_t* written) {
  *written = 0;
  if ((fields.data == nullptr && fields.data_len != 0) || (fields.trailing == nullptr && fields.trailing_len != 0)) {
    return DERP_ERR_INVALID_ARGUMENT;
  }
  switch (fields.type) {
#define DERP_FRAME_ENCODE_FIELDS_CASE_(c_name, cxx_name, value) \
  case (value): {                                               \
    cxx_name##Frame msg;                                        \
    take(fields, &msg);                                         \
    return encode(msg, out, written);                           \
  }
    DERP_FRAME_TYPE_MAP(DERP_FRAME_ENCODE_FIELDS_CASE_)
#undef DERP_FRAME_ENCODE_FIELDS_CASE_
    default:
      return DERP_ERR_FRAME_TYPE;
  }
}

}  // namespace derp::frame
