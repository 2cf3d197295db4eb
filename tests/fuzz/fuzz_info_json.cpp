// Fuzz target: the ClientInfo / ServerInfo JSON readers (they read what a peer sent) and the sealed payload path.
// Invariants checked on every input:
//   - decoding never crashes; on success, encode → decode gives the same struct back (an empty meshKey reads back
//     as absent: we never send ""), and encoding that again gives the same bytes;
//   - the same bytes sealed in a box and opened with open_client_info / open_server_info decode identically;
//   - open_client_info on the raw input, as if it were a frame payload, fails cleanly (it is not a valid box).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/box.hpp"
#include "crypto/client_info.hpp"
#include "crypto/node_key.hpp"
#include "crypto/sealed_info.hpp"
#include "crypto/server_info.hpp"
#include "derp/common.h"

namespace {

using derp::crypto::ClientInfo;
using derp::crypto::NodePrivate;
using derp::crypto::NodePublic;
using derp::crypto::ServerInfo;

void check(bool ok) {
  if (!ok) std::abort();
}

NodePrivate fixed_private(std::uint8_t first) {
  derp::crypto::KeyBytes raw;
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(first + i);
  return NodePrivate(raw);
}

struct Keys {
  NodePrivate server = fixed_private(0x01);
  NodePrivate client = fixed_private(0x41);
  NodePublic server_public;
  NodePublic client_public;
  Keys() {
    check(derp::crypto::public_of(server, &server_public) == DERP_OK);
    check(derp::crypto::public_of(client, &client_public) == DERP_OK);
  }
};

const Keys& keys() {
  static const Keys k;
  return k;
}

bool is_decode_error(int rc) { return rc == DERP_ERR_BAD_JSON; }

void client_info_round_trip(std::string_view json) {
  ClientInfo first;
  const int rc = derp::crypto::decode_client_info(json, &first);
  if (rc != DERP_OK) {
    check(is_decode_error(rc));
    return;
  }
  const std::string encoded = derp::crypto::encode_client_info(first);
  ClientInfo second;
  check(derp::crypto::decode_client_info(encoded, &second) == DERP_OK);
  ClientInfo expected = first;
  if (expected.mesh_key && expected.mesh_key->empty()) expected.mesh_key.reset();
  check(second == expected);
  check(derp::crypto::encode_client_info(second) == encoded);
}

void server_info_round_trip(std::string_view json) {
  ServerInfo first;
  const int rc = derp::crypto::decode_server_info(json, &first);
  if (rc != DERP_OK) {
    check(is_decode_error(rc));
    return;
  }
  const std::string encoded = derp::crypto::encode_server_info(first);
  ServerInfo second;
  check(derp::crypto::decode_server_info(encoded, &second) == DERP_OK);
  check(second == first);
  check(derp::crypto::encode_server_info(second) == encoded);
}

// The input as the plaintext of real sealed payloads: opening must agree with decoding the text directly.
void sealed_agrees_with_plain(const std::uint8_t* data, std::size_t size) {
  const Keys& k = keys();
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  const derp::crypto::Nonce nonce{};
  std::vector<std::uint8_t> box;
  check(derp::crypto::seal(k.client, k.server_public, derp::Bytes(data, size), &box, &nonce) == DERP_OK);
  std::vector<std::uint8_t> payload(k.client_public.data(), k.client_public.data() + derp::crypto::kKeyLen);
  payload.insert(payload.end(), box.begin(), box.end());

  ClientInfo direct;
  const int direct_rc = derp::crypto::decode_client_info(json, &direct);
  NodePublic who;
  ClientInfo opened;
  const int opened_rc = derp::crypto::open_client_info(k.server, payload, &who, &opened);
  check(opened_rc == direct_rc);
  if (opened_rc == DERP_OK) check(opened == direct && who == k.client_public);

  ServerInfo direct_server;
  const int direct_server_rc = derp::crypto::decode_server_info(json, &direct_server);
  ServerInfo opened_server;
  check(derp::crypto::seal(k.server, k.client_public, derp::Bytes(data, size), &box, &nonce) == DERP_OK);
  const int opened_server_rc = derp::crypto::open_server_info(k.client, k.server_public, box, &opened_server);
  check(opened_server_rc == direct_server_rc);
  if (opened_server_rc == DERP_OK) check(opened_server == direct_server);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  client_info_round_trip(json);
  server_info_round_trip(json);
  if (size <= 64 * 1024) sealed_agrees_with_plain(data, size);

  // The raw bytes as a ClientInfo payload: whatever happens, a clean error, never a crash.
  NodePublic who;
  ClientInfo info;
  const int rc = derp::crypto::open_client_info(keys().server, derp::Bytes(data, size), &who, &info);
  check(rc == DERP_OK || rc == DERP_ERR_MALFORMED || rc == DERP_ERR_FRAME_TOO_LARGE || rc == DERP_ERR_BOX_OPEN ||
        rc == DERP_ERR_BAD_JSON);
  return 0;
}
