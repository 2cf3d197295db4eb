#include "disco/message.hpp"

#include <cstring>

#include "common/address.hpp"

namespace derp::disco {

namespace {

// Go's netip.AddrFrom16(a).Unmap(): only ::ffff:a.b.c.d becomes IPv4; everything else (:: and ::a.b.c.d included)
// stays IPv6. Zones do not exist on the wire.
derp_addr read_endpoint(const std::uint8_t* p) {
  return unmap_v4(make_addr_v6(p, load_be16(p + 16)));
}

void write_endpoint(const derp_addr& a, std::uint8_t* p) {
  addr_to_16(a, p);  // a zero (invalid) address is 16 zero bytes, as Go's As16 of the zero Addr
  store_be16(p + 16, a.family == DERP_AF_NONE ? 0 : a.port);
}

std::uint8_t* grow(std::vector<std::uint8_t>* out, std::uint8_t type, std::size_t body_len) {
  const std::size_t at = out->size();
  out->resize(at + kMessageHeaderLen + body_len, 0);
  (*out)[at] = type;
  (*out)[at + 1] = kVersion;
  return out->data() + at + kMessageHeaderLen;
}

}  // namespace

int parse(Bytes payload, Message* out, std::uint8_t* unknown_type) {
  if (payload.size() < kMessageHeaderLen) return DERP_ERR_TRUNCATED;
  out->type = payload[0];
  out->version = payload[1];
  const Bytes body = payload.subspan(kMessageHeaderLen);
  switch (out->type) {
    case kTypePing: {
      if (body.size() < kTxIdLen) return DERP_ERR_TRUNCATED;
      Ping& m = out->ping;
      std::memcpy(m.txid.data(), body.data(), kTxIdLen);
      const Bytes rest = body.subspan(kTxIdLen);
      // A partial key is ignored (disco.go parsePing); padding is whatever follows the key, or the whole rest when
      // no full key is there (HEAD's parsePing).
      if (rest.size() >= crypto::kKeyLen) {
        m.node_key = crypto::NodePublic::from_raw(rest.data());
        m.padding = rest.size() - crypto::kKeyLen;
      } else {
        m.node_key = crypto::NodePublic();
        m.padding = rest.size();
      }
      return DERP_OK;
    }
    case kTypePong: {
      if (body.size() < kPongLen) return DERP_ERR_TRUNCATED;
      std::memcpy(out->pong.txid.data(), body.data(), kTxIdLen);
      out->pong.src = read_endpoint(body.data() + kTxIdLen);
      return DERP_OK;
    }
    case kTypeCallMeMaybe: {
      out->call_me_maybe.endpoints.clear();
      // Never an error: a body that is empty, not a multiple of 18, or of another version carries no endpoints.
      if (body.empty() || body.size() % kEndpointLen != 0 || out->version != kVersion) return DERP_OK;
      out->call_me_maybe.endpoints.reserve(body.size() / kEndpointLen);
      for (std::size_t at = 0; at < body.size(); at += kEndpointLen) {
        out->call_me_maybe.endpoints.push_back(read_endpoint(body.data() + at));
      }
      return DERP_OK;
    }
    default:
      if (unknown_type) *unknown_type = out->type;
      return DERP_ERR_UNSUPPORTED;
  }
}

std::size_t ping_size(const Ping& m) {
  return kMessageHeaderLen + kTxIdLen + (m.node_key.is_zero() ? 0 : crypto::kKeyLen) + m.padding;
}

void append(const Ping& m, std::vector<std::uint8_t>* out) {
  const bool has_key = !m.node_key.is_zero();
  std::uint8_t* p = grow(out, kTypePing, ping_size(m) - kMessageHeaderLen);
  std::memcpy(p, m.txid.data(), kTxIdLen);
  if (has_key) std::memcpy(p + kTxIdLen, m.node_key.data(), crypto::kKeyLen);
  // padding: already zero from resize
}

void append(const Pong& m, std::vector<std::uint8_t>* out) {
  std::uint8_t* p = grow(out, kTypePong, kPongLen);
  std::memcpy(p, m.txid.data(), kTxIdLen);
  write_endpoint(m.src, p + kTxIdLen);
}

void append(const CallMeMaybe& m, std::vector<std::uint8_t>* out) {
  std::uint8_t* p = grow(out, kTypeCallMeMaybe, kEndpointLen * m.endpoints.size());
  for (const derp_addr& a : m.endpoints) {
    write_endpoint(a, p);
    p += kEndpointLen;
  }
}

void append(const Message& m, std::vector<std::uint8_t>* out) {
  switch (m.type) {
    case kTypePing: append(m.ping, out); break;
    case kTypePong: append(m.pong, out); break;
    case kTypeCallMeMaybe: append(m.call_me_maybe, out); break;
    default: break;
  }
}

}  // namespace derp::disco
