// Fuzz target: the disco codec as a receiver meets it. The first byte picks the input: a plaintext payload
// (disco::parse) or a whole datagram (claims / sender / open with a fixed pair's key, then parse what opens).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "common/bytes.hpp"
#include "crypto/box.hpp"
#include "crypto/node_key.hpp"
#include "derp/common.h"
#include "disco/message.hpp"
#include "disco/packet.hpp"

namespace {

namespace disco = derp::disco;
using derp::Bytes;

void require(bool condition) {
  if (!condition) std::abort();
}

// A parse that succeeds must survive a remarshal: the bytes written parse back to the same message.
void check_payload(Bytes payload) {
  disco::Message m;
  const int rc = disco::parse(payload, &m);
  require(rc == DERP_OK || rc == DERP_ERR_TRUNCATED || rc == DERP_ERR_UNSUPPORTED);
  if (rc != DERP_OK) return;
  require(m.type >= disco::kTypePing && m.type <= disco::kTypeCallMeMaybe);
  require(m.call_me_maybe.endpoints.size() <= payload.size() / disco::kEndpointLen);
  std::vector<std::uint8_t> again;
  disco::append(m, &again);
  disco::Message back;
  require(disco::parse(again, &back) == DERP_OK);
  require(back.type == m.type);
  if (m.type == disco::kTypePing) {
    require(back.ping.txid == m.ping.txid);
    require(again.size() == disco::ping_size(m.ping) && again.size() <= payload.size());
    // A zero node key is left out on the wire (as Go's AppendMarshal does), so only a real key and its padding
    // come back as they were; with a zero key the padding bytes are read again as (zero) key + padding.
    if (!m.ping.node_key.is_zero()) require(back.ping.node_key == m.ping.node_key && back.ping.padding == m.ping.padding);
  } else if (m.type == disco::kTypePong) {
    require(back.pong.txid == m.pong.txid && back.pong.src.port == m.pong.src.port);
  } else {
    require(back.call_me_maybe.endpoints.size() == m.call_me_maybe.endpoints.size());
  }
}

const derp::crypto::SharedKey& fixed_key() {
  static const derp::crypto::SharedKey key = [] {
    derp::crypto::KeyBytes a, b;
    a.fill(0x11);
    b.fill(0x22);
    derp::crypto::clamp(a);
    derp::crypto::clamp(b);
    derp::crypto::NodePublic pub_b;
    derp::crypto::public_of(derp::crypto::NodePrivate(b), &pub_b);
    derp::crypto::SharedKey k;
    derp::crypto::SharedKey::derive(derp::crypto::NodePrivate(a), pub_b, &k);
    return k;
  }();
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const Bytes input(data + 1, size - 1);
  if (data[0] & 1) {
    check_payload(input);
    return 0;
  }
  if (!disco::claims(input)) {
    require(input.size() < disco::kClaimLen || input[0] != disco::kMagic[0] || !disco::looks_like_wrapper(input));
    return 0;
  }
  (void)disco::sender_of(input);
  std::vector<std::uint8_t> payload;
  const int rc = disco::open(fixed_key(), input, &payload);
  require(rc == DERP_OK || rc == DERP_ERR_BOX_OPEN);
  if (rc == DERP_OK) {
    require(payload.size() + disco::kMinOpenableLen == input.size());
    check_payload(payload);
  }
  return 0;
}
