// lib/disco against Tailscale v1.36.2's own recordings (testdata tailscale/disco.json, README §8): every message
// marshals to Go's bytes and parses to Go's fields, every edge case gets disco.Parse's verdict, our sealed packets
// are Tailscale's byte for byte and theirs (fixed and random nonces) open with our keys.
#include <arpa/inet.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "crypto/box.hpp"
#include "crypto/node_key.hpp"
#include "derp/common.h"
#include "disco/message.hpp"
#include "disco/packet.hpp"
#include "stun/header.hpp"
#include "support/testdata.hpp"

using derp::Bytes;
using derp::crypto::NodePrivate;
using derp::crypto::NodePublic;
using derp::crypto::SharedKey;
using derp::test::from_hex;
using derp::test::to_hex;
using nlohmann::json;
namespace disco = derp::disco;

namespace {

json vectors() { return derp::test::read_json_file("tailscale/disco.json"); }

struct DiscoPair {
  NodePrivate priv;
  NodePublic pub;
};

std::map<std::string, DiscoPair> disco_keys(const json& v) {
  std::map<std::string, DiscoPair> out;
  for (const auto& k : v["keys"]["disco"]) {
    const auto priv = from_hex(k["private_raw_hex"].get<std::string>());
    REQUIRE(priv.size() == 32);
    DiscoPair p{NodePrivate::from_raw(priv.data()), {}};
    REQUIRE(derp::crypto::public_of(p.priv, &p.pub) == DERP_OK);
    CHECK(to_hex(p.pub.data(), 32) == k["public_raw_hex"].get<std::string>());
    out[k["name"].get<std::string>()] = p;
  }
  return out;
}

SharedKey shared(const NodePrivate& mine, const NodePublic& theirs) {
  SharedKey k;
  REQUIRE(SharedKey::derive(mine, theirs, &k) == DERP_OK);
  return k;
}

// A Go netip.Addr string ("203.0.113.7", "::102:304", "fe80::1%eth0") and port as a derp_addr, unmapped the way
// Go's Unmap does only when the string itself is plain IPv4. Zones are dropped (they are not on the wire).
derp_addr go_addr(std::string ip, std::uint16_t port) {
  if (const auto pct = ip.find('%'); pct != std::string::npos) ip.resize(pct);
  derp_addr a{};
  a.port = port;
  if (inet_pton(AF_INET, ip.c_str(), a.ip) == 1) {
    a.family = DERP_AF_INET;
  } else {
    REQUIRE(inet_pton(AF_INET6, ip.c_str(), a.ip) == 1);
    a.family = DERP_AF_INET6;
  }
  return a;
}

// "1.2.3.4:5" / "[v6%zone]:5"
derp_addr go_addr_port(const std::string& text) {
  const auto colon = text.rfind(':');
  REQUIRE(colon != std::string::npos);
  std::string host = text.substr(0, colon);
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  return go_addr(host, static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1))));
}

bool same_addr(const derp_addr& a, const derp_addr& b) {
  if (a.family != b.family || a.port != b.port) return false;
  return std::memcmp(a.ip, b.ip, a.family == DERP_AF_INET ? 4 : 16) == 0;
}

disco::TxId txid_from(const json& m) {
  const auto raw = from_hex(m["TxID_hex"].get<std::string>());
  REQUIRE(raw.size() == disco::kTxIdLen);
  disco::TxId t{};
  std::memcpy(t.data(), raw.data(), t.size());
  return t;
}

// The decoded form (README §8.2) as our Message.
disco::Message message_from(const json& m) {
  disco::Message out;
  const std::string type = m["go_type"].get<std::string>();
  if (type == "*disco.Ping") {
    out.type = disco::kTypePing;
    out.ping.txid = txid_from(m);
    const auto key = from_hex(m["NodeKey_raw_hex"].get<std::string>());
    REQUIRE(key.size() == 32);
    out.ping.node_key = NodePublic::from_raw(key.data());
  } else if (type == "*disco.Pong") {
    out.type = disco::kTypePong;
    out.pong.txid = txid_from(m);
    if (m["Src_addr"].get<std::string>() != "invalid IP") {
      out.pong.src = go_addr(m["Src_addr"].get<std::string>(), m["Src_port"].get<std::uint16_t>());
    }
  } else {
    REQUIRE(type == "*disco.CallMeMaybe");
    out.type = disco::kTypeCallMeMaybe;
    for (const auto& ep : m["MyNumber"]) out.call_me_maybe.endpoints.push_back(go_addr_port(ep.get<std::string>()));
  }
  return out;
}

// Our parse result against Go's (the parse result form).
void check_parse(Bytes payload, const json& want) {
  disco::Message got;
  std::uint8_t unknown = 0;
  const int rc = disco::parse(payload, &got, &unknown);
  INFO("payload " << to_hex(payload.data(), payload.size()));
  REQUIRE((rc == DERP_OK) == want["ok"].get<bool>());
  if (rc != DERP_OK) {
    const std::string error = want["error"].get<std::string>();
    if (error == "short message") {
      CHECK(rc == DERP_ERR_TRUNCATED);
    } else {
      CHECK(rc == DERP_ERR_UNSUPPORTED);
      char text[40];
      std::snprintf(text, sizeof text, "unknown message type 0x%02x", unknown);
      CHECK(error == text);
    }
    return;
  }
  const json& m = want["message"];
  const disco::Message expected = message_from(m);
  REQUIRE(got.type == expected.type);
  switch (got.type) {
    case disco::kTypePing:
      CHECK(got.ping.txid == expected.ping.txid);
      CHECK(got.ping.node_key == expected.ping.node_key);
      CHECK(got.ping.node_key.is_zero() == m["NodeKey_IsZero"].get<bool>());
      break;
    case disco::kTypePong:
      CHECK(got.pong.txid == expected.pong.txid);
      if (m["Src_addr"].get<std::string>() == "invalid IP") {
        // 16 zero bytes: Go's zero Addr marshals to them and parses them back as [::]:0 (README §8.2)
        CHECK(got.pong.src.family == DERP_AF_INET6);
        CHECK(got.pong.src.port == 0);
      } else {
        CHECK(same_addr(got.pong.src, expected.pong.src));
        CHECK((got.pong.src.family == DERP_AF_INET) == m["Src_addr_Is4"].get<bool>());
      }
      break;
    default:
      REQUIRE(got.call_me_maybe.endpoints.size() == expected.call_me_maybe.endpoints.size());
      for (std::size_t i = 0; i < expected.call_me_maybe.endpoints.size(); ++i) {
        CHECK(same_addr(got.call_me_maybe.endpoints[i], expected.call_me_maybe.endpoints[i]));
      }
  }
  // Remarshal, as Go did: the parsed message marshalled again.
  std::vector<std::uint8_t> again;
  got.ping.padding = 0;  // Go v1.36.2 has no padding: its remarshal drops trailing bytes
  disco::append(got, &again);
  CHECK(to_hex(again) == want["remarshal_hex"].get<std::string>());
}

}  // namespace

TEST_CASE("disco vectors: keys give Tailscale's public and precomputed shared keys", "[disco]") {
  DERP_REQUIRE_TESTDATA();
  const json v = vectors();
  auto keys = disco_keys(v);
  REQUIRE(keys.size() == 3);
  for (const auto& s : v["keys"]["shared"]) {
    const std::string between = s["between"].get<std::string>();  // "discoA and discoB"
    const std::string a = between.substr(0, between.find(' '));
    const std::string b = between.substr(between.rfind(' ') + 1);
    INFO(between);
    const SharedKey ab = shared(keys.at(a).priv, keys.at(b).pub);
    const SharedKey ba = shared(keys.at(b).priv, keys.at(a).pub);
    CHECK(to_hex(ab.bytes().data(), 32) == s["box_Precompute_hex"].get<std::string>());
    CHECK(ab.bytes() == ba.bytes());
  }
}

TEST_CASE("disco vectors: every message marshals to Go's payload and parses to Go's fields", "[disco]") {
  DERP_REQUIRE_TESTDATA();
  const json v = vectors();
  REQUIRE(v["messages"].size() == 12);
  for (const auto& m : v["messages"]) {
    INFO(m["name"].get<std::string>());
    std::vector<std::uint8_t> out = {'f', 'o', 'o'};  // appends after a prefix, as AppendMarshal does
    disco::append(message_from(m["input"]), &out);
    REQUIRE(out.size() == m["payload_len"].get<std::size_t>() + 3);
    CHECK(to_hex(std::vector<std::uint8_t>(out.begin() + 3, out.end())) == m["payload_hex"].get<std::string>());
    CHECK(out[3] == m["type_byte"].get<int>());
    CHECK(out[4] == m["version_byte"].get<int>());
    const auto payload = from_hex(m["payload_hex"].get<std::string>());
    check_parse(payload, m["parse"]);
  }
  for (const auto& t : v["upstream_unit_test_table"]) {
    INFO(t.dump());
    CHECK(t["want_hex"] == t["got_hex"]);  // sanity of the recording itself; our side is the messages above
  }
}

TEST_CASE("disco vectors: parse edge cases get disco.Parse's verdict", "[disco]") {
  DERP_REQUIRE_TESTDATA();
  const json v = vectors();
  REQUIRE(v["parse_edge_cases"].size() == 26);
  for (const auto& c : v["parse_edge_cases"]) {
    INFO(c["name"].get<std::string>());
    check_parse(from_hex(c["payload_hex"].get<std::string>()), c["parse"]);
  }
}

TEST_CASE("disco vectors: our fixed-nonce packets are Tailscale's bytes, and open both ways", "[disco]") {
  DERP_REQUIRE_TESTDATA();
  const json v = vectors();
  auto keys = disco_keys(v);
  REQUIRE(v["packets_fixed_nonce"].size() == 9);
  for (const auto& p : v["packets_fixed_nonce"]) {
    INFO(p["name"].get<std::string>());
    const DiscoPair& sender = keys.at(p["sender"].get<std::string>());
    const DiscoPair& receiver = keys.at(p["receiver"].get<std::string>());
    const auto payload = from_hex(p["payload_hex"].get<std::string>());
    const auto nonce_raw = from_hex(p["nonce_hex"].get<std::string>());
    derp::crypto::Nonce nonce{};
    REQUIRE(nonce_raw.size() == nonce.size());
    std::memcpy(nonce.data(), nonce_raw.data(), nonce.size());

    std::vector<std::uint8_t> packet;
    REQUIRE(disco::seal(sender.pub, shared(sender.priv, receiver.pub), payload, nonce, &packet) == DERP_OK);
    CHECK(to_hex(packet) == p["packet_hex"].get<std::string>());
    CHECK(packet.size() == p["packet_len"].get<std::size_t>());
    CHECK(packet.size() == disco::packet_size(payload.size()));

    const auto theirs = from_hex(p["packet_hex"].get<std::string>());
    REQUIRE(disco::claims(theirs));
    CHECK(disco::sender_of(theirs) == sender.pub);
    std::vector<std::uint8_t> opened;
    REQUIRE(disco::open(shared(receiver.priv, disco::sender_of(theirs)), theirs, &opened) == DERP_OK);
    CHECK(opened == payload);
    REQUIRE(disco::open(shared(sender.priv, receiver.pub), theirs, &opened) == DERP_OK);  // symmetric
    CHECK(opened == payload);
    check_parse(opened, p["receive_path"]["parse"]);
    std::vector<std::uint8_t> wrong;
    CHECK(disco::open(shared(keys.at("discoC").priv, sender.pub), theirs, &wrong) == DERP_ERR_BOX_OPEN);
  }
}

TEST_CASE("disco vectors: Tailscale's random-nonce packets open with our keys", "[disco]") {
  DERP_REQUIRE_TESTDATA();
  const json v = vectors();
  auto keys = disco_keys(v);
  REQUIRE(v["packets_random_nonce"].size() == 2);
  for (const auto& p : v["packets_random_nonce"]) {
    INFO(p["name"].get<std::string>());
    const auto packet = from_hex(p["packet_hex"].get<std::string>());
    REQUIRE(disco::claims(packet));
    const NodePublic from = disco::sender_of(packet);
    CHECK(to_hex(from.data(), 32) == p["layout"]["sender_disco_public_hex"].get<std::string>());
    std::vector<std::uint8_t> opened;
    // the receiver is the disco key the packet was not sent from
    const DiscoPair& receiver = from == keys.at("discoA").pub ? keys.at("discoB") : keys.at("discoA");
    REQUIRE(disco::open(shared(receiver.priv, from), packet, &opened) == DERP_OK);
    CHECK(to_hex(opened) == p["receive_path"]["payload_hex"].get<std::string>());
    check_parse(opened, p["receive_path"]["parse"]);
  }
}

TEST_CASE("disco vectors: packet edge cases are demultiplexed, opened and parsed as magicsock does", "[disco]") {
  DERP_REQUIRE_TESTDATA();
  const json v = vectors();
  auto keys = disco_keys(v);
  REQUIRE(v["packet_edge_cases"].size() == 17);
  for (const auto& c : v["packet_edge_cases"]) {
    INFO(c["name"].get<std::string>());
    const auto packet = from_hex(c["packet_hex"].get<std::string>());
    const json& path = c["receive_path"];
    const std::string demux = path["magicsock_udp_demux"].get<std::string>();
    const bool is_stun = derp::stun::is_stun(packet);
    CHECK(is_stun == path["stun_Is"].get<bool>());
    CHECK((!is_stun && disco::claims(packet)) == (demux == "disco"));
    CHECK(disco::claims(packet) == path["magicsock_handleDiscoMessage_prefix_check"].get<bool>());
    CHECK(disco::looks_like_wrapper(packet) == path["disco_LooksLikeDiscoWrapper"].get<bool>());
    if (!disco::claims(packet)) continue;
    const DiscoPair& receiver = keys.at(c["receiver"].get<std::string>());
    std::vector<std::uint8_t> opened;
    const int rc = disco::open(shared(receiver.priv, disco::sender_of(packet)), packet, &opened);
    REQUIRE((rc == DERP_OK) == path["open_ok"].get<bool>());
    if (rc != DERP_OK) {
      CHECK(rc == DERP_ERR_BOX_OPEN);
      continue;
    }
    CHECK(to_hex(opened) == path["payload_hex"].get<std::string>());
    check_parse(opened, path["parse"]);
  }
}

TEST_CASE("disco vectors: a disco packet is the DERP packet payload byte for byte", "[disco]") {
  DERP_REQUIRE_TESTDATA();
  const json v = vectors();
  auto keys = disco_keys(v);
  for (const auto& p : v["derp_transport"]["packets"]) {
    INFO(p["name"].get<std::string>());
    const auto frame = from_hex(p["A_c2s_bytes_hex"].get<std::string>());
    REQUIRE(frame.size() > 5 + 32);
    const std::vector<std::uint8_t> inner(frame.begin() + 5 + 32, frame.end());  // SendPacket: header, dst key
    CHECK(to_hex(inner) == p["disco_packet_hex"].get<std::string>());
    std::vector<std::uint8_t> opened;
    REQUIRE(disco::open(shared(keys.at("discoB").priv, disco::sender_of(inner)), inner, &opened) == DERP_OK);
    check_parse(opened, p["B_receive_path"]["parse"]);
  }
}
