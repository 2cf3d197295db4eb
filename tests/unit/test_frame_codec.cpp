// Frame types, the typed encoders and decoders: the reference's worked examples (§10) byte for byte, a round trip
// for every type, and every size rule, accepted and refused.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "common/address.hpp"
#include "derp/frame.h"
#include "frame/decode.hpp"
#include "frame/dispatch.hpp"
#include "frame/encode.hpp"
#include "frame/frame_types.hpp"
#include "frame/header.hpp"
#include "support/testdata.hpp"
#include "unit/test_frame_helpers.hpp"

using namespace derp::frame;
using namespace derp::frame::test;
using derp::test::from_hex;
using derp::test::to_hex;

namespace {

// Reference §10 keys.
const Key kServerPub = key_from_hex("07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c");
const Key kClientPub = key_from_hex("64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466");
// "the key d0 d1 … df d0 … df"
const Key kD0Key = key_from_hex("d0d1d2d3d4d5d6d7d8d9dadbdcdddedfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf");

std::string hex_of(const ByteVector& v) { return to_hex(v); }

// A payload of n bytes that passes every check but the length: ServerKey gets its magic.
ByteVector payload_for(FrameType type, std::size_t n) {
  ByteVector p(n, 0x5A);
  if (type == FrameType::ServerKey && n != 0) std::memcpy(p.data(), DERP_FRAME_MAGIC, std::min<std::size_t>(n, 8));
  return p;
}

int decode_any(FrameType type, const ByteVector& payload) {
  return decode_and_visit(type_byte(type), as_bytes(payload), [](const auto&) {});
}

}  // namespace

TEST_CASE("frame types: one list generates the C enum, the C++ enum and the names", "[frame]") {
  CHECK(DERP_FRAME_SERVER_KEY == 0x01);
  CHECK(DERP_FRAME_FORWARD_PACKET == 0x0A);
  CHECK(DERP_FRAME_WATCH_CONNS == 0x10);
  CHECK(DERP_FRAME_RESTARTING == 0x15);
  CHECK(type_byte(FrameType::PeerPresent) == DERP_FRAME_PEER_PRESENT);
  CHECK(std::string(frame_type_name(0x01)) == "ServerKey");
  CHECK(std::string(frame_type_name(0x13)) == "Pong");
  CHECK(std::string(frame_type_name(0x0B)) == "Unknown");
  CHECK(std::string(derp_frame_type_name(DERP_FRAME_HEALTH)) == "Health");
  int known = 0;
  for (int t = 0; t < 256; ++t) known += is_known_frame_type(static_cast<std::uint8_t>(t)) ? 1 : 0;
  CHECK(known == 16);
  CHECK_FALSE(is_known_frame_type(0x00));
  CHECK_FALSE(is_known_frame_type(0x0F));
  CHECK(std::memcmp(DERP_FRAME_MAGIC, "\x44\x45\x52\x50\xf0\x9f\x94\x91", DERP_FRAME_MAGIC_LEN) == 0);
  CHECK(sizeof(DERP_FRAME_MAGIC) - 1 == DERP_FRAME_MAGIC_LEN);
}

TEST_CASE("frame worked example: ServerKey frame, 45 bytes", "[frame]") {
  const ByteVector expected = from_hex(
      "010000002844455250f09f949107a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c");
  const ByteVector got = encode_to_vector(ServerKeyFrame{.key = kServerPub, .trailing = {}});
  CHECK(got.size() == 45);
  CHECK(hex_of(got) == hex_of(expected));
  ServerKeyFrame decoded;
  REQUIRE(decode(Bytes(expected).subspan(5), &decoded) == DERP_OK);
  CHECK(decoded.key == kServerPub);
  CHECK(decoded.trailing.empty());
}

TEST_CASE("frame worked example: ClientInfo frame, 109 bytes", "[frame]") {
  const ByteVector frame = from_hex(
      "020000006864b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466000102030405060708090a"
      "0b0c0d0e0f1011121314151617adae4041b70fe715a2dcf63c8ac02df1e4e99f7e03896c0d8df02f11f38281e1fd9e1b"
      "60e2040edd9003eadd2e2a72bf");
  REQUIRE(frame.size() == 109);
  ClientInfoFrame m;
  REQUIRE(decode(Bytes(frame).subspan(5), &m) == DERP_OK);
  CHECK(m.key == kClientPub);
  CHECK(hex_of(ByteVector(m.nonce.begin(), m.nonce.end())) == "000102030405060708090a0b0c0d0e0f1011121314151617");
  CHECK(m.box.size() == 16 + 32);  // tag + the 32-byte JSON
  CHECK(hex_of(encode_to_vector(m)) == hex_of(frame));
}

TEST_CASE("frame worked example: ServerInfo frame, 58 bytes", "[frame]") {
  const ByteVector frame = from_hex(
      "0300000035fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8167ff1e485f1cb7369dd3107d4ed7330b81dc3"
      "3e9bf584b5c1a382a7c9");
  REQUIRE(frame.size() == 58);
  ServerInfoFrame m;
  REQUIRE(decode(Bytes(frame).subspan(5), &m) == DERP_OK);
  CHECK(m.nonce[0] == 0xff);
  CHECK(m.nonce[23] == 0xe8);
  CHECK(m.box.size() == 16 + 13);  // tag + {"version":2}
  CHECK(hex_of(encode_to_vector(m)) == hex_of(frame));
}

TEST_CASE("frame worked example: SendPacket header and the matching RecvPacket", "[frame]") {
  const ByteVector packet = pattern_packet(100);
  const ByteVector send = encode_to_vector(SendPacketFrame{.dst = kD0Key, .packet = as_bytes(packet)});
  REQUIRE(send.size() == 5 + 32 + 100);
  CHECK(hex_of(ByteVector(send.begin(), send.begin() + 37)) ==
        "0400000084d0d1d2d3d4d5d6d7d8d9dadbdcdddedfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf");
  CHECK(ByteVector(send.begin() + 37, send.end()) == packet);

  const ByteVector recv = encode_to_vector(RecvPacketFrame{.src = kClientPub, .packet = as_bytes(packet)});
  CHECK(hex_of(ByteVector(recv.begin(), recv.begin() + 9)) == "050000008464b101b1");
  CHECK(ByteVector(recv.begin() + 37, recv.end()) == packet);
}

TEST_CASE("frame worked examples: the small frames", "[frame]") {
  CHECK(hex_of(encode_to_vector(KeepAliveFrame{})) == "0600000000");
  CHECK(hex_of(encode_to_vector(NotePreferredFrame{.preferred = 1})) == "070000000101");
  CHECK(hex_of(encode_to_vector(NotePreferredFrame{.preferred = 0})) == "070000000100");
  const ByteVector ping_data = from_hex("0102030405060708");
  CHECK(hex_of(encode_to_vector(PingFrame{.data = as_bytes(ping_data)})) == "12000000080102030405060708");
  CHECK(hex_of(encode_to_vector(PongFrame{.data = as_bytes(ping_data)})) == "13000000080102030405060708");
  CHECK(hex_of(encode_to_vector(PeerGoneFrame{.key = kD0Key, .has_reason = true, .reason = DERP_PEER_GONE_NOT_HERE,
                                              .trailing = {}})) ==
        "0800000021" + hex_of(ByteVector(kD0Key.begin(), kD0Key.end())) + "01");
  CHECK(hex_of(encode_to_vector(RestartingFrame{.reconnect_in_ms = 5000, .try_for_ms = 10000, .trailing = {}})) ==
        "15000000080000138800002710");
  CHECK(hex_of(encode_to_vector(WatchConnsFrame{})) == "1000000000");
}

TEST_CASE("frame worked example: PeerPresent as current servers send it, 51 bytes", "[frame]") {
  const std::uint8_t ip[4] = {192, 0, 2, 1};
  const PeerPresentFrame m{.key = kClientPub,
                           .has_endpoint = true,
                           .endpoint = derp::make_addr_v4(ip, 41641),
                           .has_flags = true,
                           .flags = DERP_PEER_PRESENT_REGULAR,
                           .trailing = {}};
  const ByteVector got = encode_to_vector(m);
  CHECK(got.size() == 5 + DERP_PEER_PRESENT_LEN);
  CHECK(hex_of(got) == "0900000033" + hex_of(ByteVector(kClientPub.begin(), kClientPub.end())) +
                           "00000000000000000000ffffc0000201" + "a2a9" + "01");
  PeerPresentFrame back;
  REQUIRE(decode(Bytes(got).subspan(5), &back) == DERP_OK);
  CHECK(back.key == kClientPub);
  CHECK(back.has_endpoint);
  CHECK((back.endpoint == derp::make_addr_v4(ip, 41641)));
  CHECK(back.has_flags);
  CHECK(back.flags == DERP_PEER_PRESENT_REGULAR);
}

TEST_CASE("frame round trip: every frame type encodes, decodes to the same values and re-encodes identically", "[frame]") {
  const ByteVector box = pattern_packet(48);
  const ByteVector packet = pattern_packet(1280);
  const ByteVector big_packet = pattern_packet(kMaxPacketSize);
  const ByteVector ping = from_hex("00ff00ff00ff00ff0102");
  const ByteVector text = {'d', 'u', 'p', ' ', 'k', 'e', 'y'};
  const ByteVector extra = {1, 2, 3};
  const std::uint8_t ip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

  auto check = [](const auto& msg, auto equal) {
    using Msg = std::decay_t<decltype(msg)>;
    INFO(frame_type_name(type_byte(Msg::kType)));
    int r = -999;
    const ByteVector bytes = encode_to_vector(msg, &r);
    REQUIRE(r == DERP_OK);
    REQUIRE(bytes[0] == type_byte(Msg::kType));
    REQUIRE(derp::load_be32(bytes.data() + 1) == bytes.size() - 5);
    Msg back;
    REQUIRE(decode(Bytes(bytes).subspan(5), &back) == DERP_OK);
    CHECK(equal(msg, back));
    CHECK(encode_to_vector(back) == bytes);
  };
  auto same_bytes = [](Bytes a, Bytes b) { return to_vector(a) == to_vector(b); };

  check(ServerKeyFrame{.key = kServerPub, .trailing = as_bytes(extra)},
        [&](auto& a, auto& b) { return a.key == b.key && same_bytes(a.trailing, b.trailing); });
  check(ClientInfoFrame{.key = kClientPub, .nonce = Nonce{1, 2, 3}, .box = as_bytes(box)},
        [&](auto& a, auto& b) { return a.key == b.key && a.nonce == b.nonce && same_bytes(a.box, b.box); });
  check(ServerInfoFrame{.nonce = Nonce{9}, .box = as_bytes(box)},
        [&](auto& a, auto& b) { return a.nonce == b.nonce && same_bytes(a.box, b.box); });
  for (const ByteVector* p : {&packet, &big_packet}) {
    check(SendPacketFrame{.dst = kD0Key, .packet = as_bytes(*p)},
          [&](auto& a, auto& b) { return a.dst == b.dst && same_bytes(a.packet, b.packet); });
  }
  check(SendPacketFrame{.dst = kD0Key, .packet = {}}, [&](auto&, auto& b) { return b.packet.empty(); });
  check(RecvPacketFrame{.src = kClientPub, .packet = as_bytes(packet)},
        [&](auto& a, auto& b) { return a.src == b.src && same_bytes(a.packet, b.packet); });
  check(KeepAliveFrame{}, [](auto&, auto&) { return true; });
  check(NotePreferredFrame{.preferred = 0}, [](auto& a, auto& b) { return a.preferred == b.preferred; });
  check(NotePreferredFrame{.preferred = 7}, [](auto& a, auto& b) { return a.preferred == b.preferred; });
  check(PeerGoneFrame{.key = kD0Key, .has_reason = true, .reason = 0x01, .trailing = {}},
        [](auto& a, auto& b) { return a.key == b.key && b.has_reason && b.reason == 0x01; });
  check(PeerGoneFrame{.key = kD0Key, .has_reason = false, .reason = 0, .trailing = {}},
        [](auto&, auto& b) { return !b.has_reason && b.reason == DERP_PEER_GONE_DISCONNECTED; });
  check(PeerGoneFrame{.key = kD0Key, .has_reason = true, .reason = 0xF0, .trailing = as_bytes(extra)},
        [&](auto&, auto& b) { return b.reason == 0xF0 && same_bytes(b.trailing, as_bytes(extra)); });
  check(PeerPresentFrame{.key = kClientPub,
                         .has_endpoint = true,
                         .endpoint = derp::make_addr_v6(ip6, 3478),
                         .has_flags = true,
                         .flags = DERP_PEER_PRESENT_MESH_PEER | DERP_PEER_PRESENT_NOT_IDEAL,
                         .trailing = as_bytes(extra)},
        [&](auto& a, auto& b) {
          return b.endpoint == a.endpoint && b.flags == a.flags && same_bytes(b.trailing, a.trailing);
        });
  check(PeerPresentFrame{.key = kClientPub, .has_endpoint = false, .endpoint = {}, .has_flags = false, .flags = 0,
                         .trailing = {}},
        [](auto&, auto& b) { return !b.has_endpoint && !b.has_flags; });
  check(PeerPresentFrame{.key = kClientPub, .has_endpoint = true, .endpoint = {}, .has_flags = false, .flags = 0,
                         .trailing = {}},
        [](auto&, auto& b) { return b.has_endpoint && b.endpoint.family == DERP_AF_NONE && !b.has_flags; });
  check(ForwardPacketFrame{.src = kServerPub, .dst = kClientPub, .packet = as_bytes(packet)},
        [&](auto& a, auto& b) { return a.src == b.src && a.dst == b.dst && same_bytes(a.packet, b.packet); });
  check(WatchConnsFrame{}, [](auto&, auto&) { return true; });
  check(ClosePeerFrame{.key = kClientPub}, [](auto& a, auto& b) { return a.key == b.key; });
  check(PingFrame{.data = as_bytes(ping)}, [&](auto& a, auto& b) { return same_bytes(a.data, b.data); });
  check(PongFrame{.data = as_bytes(ping)}, [&](auto& a, auto& b) { return same_bytes(a.data, b.data); });
  check(HealthFrame{.text = as_bytes(text)}, [&](auto& a, auto& b) { return same_bytes(a.text, b.text); });
  check(HealthFrame{.text = {}}, [](auto&, auto& b) { return b.text.empty(); });
  check(RestartingFrame{.reconnect_in_ms = 0, .try_for_ms = 0xFFFFFFFF, .trailing = {}},
        [](auto&, auto& b) { return b.reconnect_in_ms == 0 && b.try_for_ms == 0xFFFFFFFF; });
}

TEST_CASE("frame size rules: every type accepts exactly the lengths the protocol allows", "[frame]") {
  struct Rule {
    FrameType type;
    std::size_t len;
    int expected;
  };
  const std::size_t k = kKeyLen;
  const std::size_t p = kMaxPacketSize;
  const Rule rules[] = {
      {FrameType::ServerKey, 0, DERP_ERR_FRAME_SIZE},
      {FrameType::ServerKey, 39, DERP_ERR_FRAME_SIZE},
      {FrameType::ServerKey, 40, DERP_OK},
      {FrameType::ServerKey, 41, DERP_OK},
      {FrameType::ServerKey, 1024, DERP_OK},
      {FrameType::ServerKey, 1025, DERP_ERR_FRAME_TOO_LARGE},
      {FrameType::ClientInfo, 56, DERP_ERR_FRAME_SIZE},  // no room for the box's tag
      {FrameType::ClientInfo, 71, DERP_ERR_FRAME_SIZE},
      {FrameType::ClientInfo, 72, DERP_OK},
      {FrameType::ClientInfo, 256 * 1024, DERP_OK},
      {FrameType::ClientInfo, 256 * 1024 + 1, DERP_ERR_FRAME_TOO_LARGE},
      {FrameType::ServerInfo, 24, DERP_ERR_FRAME_SIZE},
      {FrameType::ServerInfo, 39, DERP_ERR_FRAME_SIZE},
      {FrameType::ServerInfo, 40, DERP_OK},
      {FrameType::ServerInfo, 24 + (1u << 20), DERP_OK},
      {FrameType::ServerInfo, 24 + (1u << 20) + 1, DERP_ERR_FRAME_TOO_LARGE},
      {FrameType::SendPacket, 0, DERP_ERR_FRAME_SIZE},
      {FrameType::SendPacket, 31, DERP_ERR_FRAME_SIZE},
      {FrameType::SendPacket, 32, DERP_OK},
      {FrameType::SendPacket, k + p, DERP_OK},
      {FrameType::SendPacket, k + p + 1, DERP_ERR_FRAME_TOO_LARGE},
      {FrameType::RecvPacket, 31, DERP_ERR_FRAME_SIZE},
      {FrameType::RecvPacket, 32, DERP_OK},
      {FrameType::RecvPacket, k + p, DERP_OK},
      {FrameType::RecvPacket, k + p + 1, DERP_ERR_FRAME_TOO_LARGE},
      {FrameType::KeepAlive, 0, DERP_OK},
      {FrameType::KeepAlive, 1, DERP_ERR_FRAME_TOO_LARGE},
      {FrameType::NotePreferred, 0, DERP_ERR_FRAME_SIZE},
      {FrameType::NotePreferred, 1, DERP_OK},
      {FrameType::NotePreferred, 2, DERP_ERR_FRAME_TOO_LARGE},
      {FrameType::PeerGone, 31, DERP_ERR_FRAME_SIZE},
      {FrameType::PeerGone, 32, DERP_OK},
      {FrameType::PeerGone, 33, DERP_OK},
      {FrameType::PeerGone, 40, DERP_OK},
      {FrameType::PeerPresent, 0, DERP_ERR_FRAME_SIZE},
      {FrameType::PeerPresent, 31, DERP_ERR_FRAME_SIZE},
      {FrameType::PeerPresent, 32, DERP_OK},
      {FrameType::PeerPresent, 33, DERP_OK},
      {FrameType::PeerPresent, 49, DERP_OK},
      {FrameType::PeerPresent, 50, DERP_OK},
      {FrameType::PeerPresent, 51, DERP_OK},
      {FrameType::PeerPresent, 52, DERP_OK},
      {FrameType::PeerPresent, 300, DERP_OK},
      {FrameType::ForwardPacket, 32, DERP_ERR_FRAME_SIZE},
      {FrameType::ForwardPacket, 63, DERP_ERR_FRAME_SIZE},
      {FrameType::ForwardPacket, 64, DERP_OK},
      {FrameType::ForwardPacket, 2 * k + p, DERP_OK},
      {FrameType::ForwardPacket, 2 * k + p + 1, DERP_ERR_FRAME_TOO_LARGE},
      {FrameType::WatchConns, 0, DERP_OK},
      {FrameType::WatchConns, 1, DERP_ERR_FRAME_TOO_LARGE},
      {FrameType::ClosePeer, 0, DERP_ERR_FRAME_SIZE},
      {FrameType::ClosePeer, 31, DERP_ERR_FRAME_SIZE},
      {FrameType::ClosePeer, 32, DERP_OK},
      {FrameType::ClosePeer, 33, DERP_ERR_FRAME_TOO_LARGE},
      {FrameType::Ping, 0, DERP_ERR_FRAME_SIZE},
      {FrameType::Ping, 7, DERP_ERR_FRAME_SIZE},
      {FrameType::Ping, 8, DERP_OK},
      {FrameType::Ping, 1000, DERP_OK},
      {FrameType::Ping, 1001, DERP_ERR_FRAME_TOO_LARGE},
      {FrameType::Pong, 7, DERP_ERR_FRAME_SIZE},
      {FrameType::Pong, 8, DERP_OK},
      {FrameType::Pong, 9, DERP_OK},
      {FrameType::Pong, 5000, DERP_OK},
      {FrameType::Health, 0, DERP_OK},
      {FrameType::Health, 100, DERP_OK},
      {FrameType::Restarting, 0, DERP_ERR_FRAME_SIZE},
      {FrameType::Restarting, 7, DERP_ERR_FRAME_SIZE},
      {FrameType::Restarting, 8, DERP_OK},
      {FrameType::Restarting, 9, DERP_OK},
  };
  for (const Rule& rule : rules) {
    INFO(frame_type_name(type_byte(rule.type)) << " with " << rule.len << " bytes");
    CHECK(decode_any(rule.type, payload_for(rule.type, rule.len)) == rule.expected);
  }
  CHECK(decode_and_visit(0x0B, Bytes{}, [](const auto&) {}) == DERP_ERR_FRAME_TYPE);
}

TEST_CASE("frame size rules: optional trailing fields are parsed by length", "[frame]") {
  SECTION("PeerGone: 32 bytes is the old form (reason 0), 33 carries the reason") {
    ByteVector p = payload_for(FrameType::PeerGone, 32);
    PeerGoneFrame m;
    REQUIRE(decode(as_bytes(p), &m) == DERP_OK);
    CHECK_FALSE(m.has_reason);
    CHECK(m.reason == DERP_PEER_GONE_DISCONNECTED);
    p.push_back(DERP_PEER_GONE_NOT_HERE);
    REQUIRE(decode(as_bytes(p), &m) == DERP_OK);
    CHECK(m.has_reason);
    CHECK(m.reason == DERP_PEER_GONE_NOT_HERE);
    CHECK(m.trailing.empty());
    p.push_back(0xEE);
    REQUIRE(decode(as_bytes(p), &m) == DERP_OK);
    CHECK(m.reason == DERP_PEER_GONE_NOT_HERE);
    CHECK(m.trailing.size() == 1);
  }
  SECTION("PeerPresent: 32 key only, 33..49 key only, 50 endpoint, 51 flags, 52 more") {
    const ByteVector full = from_hex(
        "64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466"
        "00000000000000000000ffffc0000201a2a901ee");
    REQUIRE(full.size() == 52);
    for (std::size_t len : {32u, 33u, 49u, 50u, 51u, 52u}) {
      INFO(len);
      PeerPresentFrame m;
      REQUIRE(decode(Bytes(full).first(len), &m) == DERP_OK);
      CHECK(m.key == kClientPub);
      CHECK(m.has_endpoint == (len >= 50));
      CHECK(m.has_flags == (len >= 51));
      if (m.has_endpoint) {
        CHECK(m.endpoint.family == DERP_AF_INET);
        CHECK(derp::format_addr(m.endpoint) == "192.0.2.1:41641");
      }
      if (m.has_flags) CHECK(m.flags == 0x01);
      const std::size_t known = len >= 51 ? 51 : len >= 50 ? 50 : 32;
      CHECK(m.trailing.size() == len - known);
    }
  }
  SECTION("PeerPresent endpoints: IPv6 as is, all-zero as unknown") {
    ByteVector p = payload_for(FrameType::PeerPresent, 32);
    const ByteVector v6 = from_hex("20010db8000000000000000000000001" "0d96");
    p.insert(p.end(), v6.begin(), v6.end());
    PeerPresentFrame m;
    REQUIRE(decode(as_bytes(p), &m) == DERP_OK);
    CHECK(derp::format_addr(m.endpoint) == "[2001:db8::1]:3478");
    std::fill(p.begin() + 32, p.end(), 0);
    p[49] = 7;
    REQUIRE(decode(as_bytes(p), &m) == DERP_OK);
    CHECK(m.endpoint.family == DERP_AF_NONE);
    CHECK(m.endpoint.port == 7);
    CHECK(encode_to_vector(m) == frame_bytes(DERP_FRAME_PEER_PRESENT, p));
  }
  SECTION("ServerKey: the magic is checked, bytes past 40 are kept aside") {
    ByteVector p = payload_for(FrameType::ServerKey, 48);
    ServerKeyFrame m;
    REQUIRE(decode(as_bytes(p), &m) == DERP_OK);
    CHECK(m.trailing.size() == 8);
    p[7] ^= 1;
    CHECK(decode(as_bytes(p), &m) == DERP_ERR_FRAME_BAD_MAGIC);
  }
  SECTION("Ping keeps its whole payload; the first 8 bytes are what a Pong echoes") {
    const ByteVector p = pattern_packet(20);
    PingFrame m;
    REQUIRE(decode(as_bytes(p), &m) == DERP_OK);
    CHECK(m.data.size() == 20);
    CHECK(m.data.data() == p.data());
  }
  SECTION("Restarting: two big-endian millisecond counts, extra bytes tolerated") {
    const ByteVector p = from_hex("0000138800002710ff");
    RestartingFrame m;
    REQUIRE(decode(as_bytes(p), &m) == DERP_OK);
    CHECK(m.reconnect_in_ms == 5000);
    CHECK(m.try_for_ms == 10000);
    CHECK(m.trailing.size() == 1);
  }
}

TEST_CASE("frame encoders refuse what the protocol does not allow", "[frame]") {
  int r = 0;
  const ByteVector max_packet(kMaxPacketSize);
  const ByteVector too_big(kMaxPacketSize + 1);
  CHECK(encode_to_vector(SendPacketFrame{.dst = kD0Key, .packet = as_bytes(max_packet)}, &r).size() ==
        5 + 32 + kMaxPacketSize);
  CHECK(r == DERP_OK);
  encode_to_vector(SendPacketFrame{.dst = kD0Key, .packet = as_bytes(too_big)}, &r);
  CHECK(r == DERP_ERR_FRAME_TOO_LARGE);
  encode_to_vector(RecvPacketFrame{.src = kD0Key, .packet = as_bytes(too_big)}, &r);
  CHECK(r == DERP_ERR_FRAME_TOO_LARGE);
  encode_to_vector(ForwardPacketFrame{.src = kD0Key, .dst = kD0Key, .packet = as_bytes(too_big)}, &r);
  CHECK(r == DERP_ERR_FRAME_TOO_LARGE);

  const ByteVector seven(7), eight(8), thousand(1000), thousand_one(1001);
  encode_to_vector(PingFrame{.data = as_bytes(seven)}, &r);
  CHECK(r == DERP_ERR_FRAME_SIZE);
  encode_to_vector(PingFrame{.data = as_bytes(thousand)}, &r);
  CHECK(r == DERP_OK);
  encode_to_vector(PingFrame{.data = as_bytes(thousand_one)}, &r);
  CHECK(r == DERP_ERR_FRAME_TOO_LARGE);
  encode_to_vector(PongFrame{.data = as_bytes(seven)}, &r);
  CHECK(r == DERP_ERR_FRAME_SIZE);

  const ByteVector short_box(15), client_box_max(DERP_MAX_CLIENT_INFO_LEN - 56), server_box_max(DERP_MAX_INFO_LEN);
  encode_to_vector(ClientInfoFrame{.key = kClientPub, .nonce = {}, .box = as_bytes(short_box)}, &r);
  CHECK(r == DERP_ERR_FRAME_SIZE);
  encode_to_vector(ClientInfoFrame{.key = kClientPub, .nonce = {}, .box = as_bytes(client_box_max)}, &r);
  CHECK(r == DERP_OK);
  const ByteVector client_box_over(client_box_max.size() + 1);
  encode_to_vector(ClientInfoFrame{.key = kClientPub, .nonce = {}, .box = as_bytes(client_box_over)}, &r);
  CHECK(r == DERP_ERR_FRAME_TOO_LARGE);
  encode_to_vector(ServerInfoFrame{.nonce = {}, .box = as_bytes(short_box)}, &r);
  CHECK(r == DERP_ERR_FRAME_SIZE);
  encode_to_vector(ServerInfoFrame{.nonce = {}, .box = as_bytes(server_box_max)}, &r);
  CHECK(r == DERP_OK);
  const ByteVector server_box_over(server_box_max.size() + 1);
  encode_to_vector(ServerInfoFrame{.nonce = {}, .box = as_bytes(server_box_over)}, &r);
  CHECK(r == DERP_ERR_FRAME_TOO_LARGE);

  const ByteVector server_key_extra(1024 - 40 + 1);
  encode_to_vector(ServerKeyFrame{.key = kServerPub, .trailing = as_bytes(server_key_extra)}, &r);
  CHECK(r == DERP_ERR_FRAME_TOO_LARGE);

  // Forms that could not be read back as written.
  const ByteVector one(1), eighteen(18);
  encode_to_vector(PeerGoneFrame{.key = kD0Key, .has_reason = false, .reason = 1, .trailing = {}}, &r);
  CHECK(r == DERP_ERR_INVALID_ARGUMENT);
  encode_to_vector(PeerGoneFrame{.key = kD0Key, .has_reason = false, .reason = 0, .trailing = as_bytes(one)}, &r);
  CHECK(r == DERP_ERR_FRAME_SIZE);
  encode_to_vector(PeerPresentFrame{.key = kD0Key, .has_endpoint = false, .endpoint = {}, .has_flags = true,
                                    .flags = 1, .trailing = {}},
                   &r);
  CHECK(r == DERP_ERR_INVALID_ARGUMENT);
  const std::uint8_t ip[4] = {10, 0, 0, 1};
  encode_to_vector(PeerPresentFrame{.key = kD0Key, .has_endpoint = false, .endpoint = derp::make_addr_v4(ip, 1),
                                    .has_flags = false, .flags = 0, .trailing = {}},
                   &r);
  CHECK(r == DERP_ERR_INVALID_ARGUMENT);
  encode_to_vector(PeerPresentFrame{.key = kD0Key, .has_endpoint = false, .endpoint = {}, .has_flags = false,
                                    .flags = 0, .trailing = as_bytes(eighteen)},
                   &r);
  CHECK(r == DERP_ERR_FRAME_SIZE);
  encode_to_vector(PeerPresentFrame{.key = kD0Key, .has_endpoint = true, .endpoint = {}, .has_flags = false,
                                    .flags = 0, .trailing = as_bytes(one)},
                   &r);
  CHECK(r == DERP_ERR_FRAME_SIZE);
  derp_addr bad_family{};
  bad_family.family = 9;
  encode_to_vector(PeerPresentFrame{.key = kD0Key, .has_endpoint = true, .endpoint = bad_family, .has_flags = true,
                                    .flags = 1, .trailing = {}},
                   &r);
  CHECK(r == DERP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("frame encoders: a short buffer is refused untouched and told the size it needs", "[frame]") {
  ByteVector out(44, 0xCC);
  std::size_t written = 0;
  CHECK(encode(ServerKeyFrame{.key = kServerPub, .trailing = {}}, derp::MutableBytes(out), &written) ==
        DERP_ERR_BUFFER_TOO_SMALL);
  CHECK(written == 45);
  CHECK(out == ByteVector(44, 0xCC));
  out.resize(45);
  CHECK(encode(ServerKeyFrame{.key = kServerPub, .trailing = {}}, derp::MutableBytes(out), &written) == DERP_OK);
  CHECK(written == 45);
}

TEST_CASE("frame header: limits per type, any length for unknown types", "[frame]") {
  std::uint8_t out[5];
  CHECK(encode_header(DERP_FRAME_SEND_PACKET, 32 + kMaxPacketSize, out) == DERP_OK);
  CHECK(to_hex(out, 5) == "0400010020");
  CHECK(encode_header(DERP_FRAME_SEND_PACKET, 32 + kMaxPacketSize + 1, out) == DERP_ERR_FRAME_TOO_LARGE);
  CHECK(encode_header(DERP_FRAME_KEEP_ALIVE, 1, out) == DERP_ERR_FRAME_TOO_LARGE);
  CHECK(encode_header(DERP_FRAME_PING, 1000, out) == DERP_OK);
  CHECK(encode_header(DERP_FRAME_PING, 1001, out) == DERP_ERR_FRAME_TOO_LARGE);
  CHECK(encode_header(0x7F, 0xFFFFFFFFu, out) == DERP_OK);
  CHECK(to_hex(out, 5) == "7fffffffff");
  CHECK(encode_header(0x7F, 0x100000000ull, out) == DERP_ERR_FRAME_TOO_LARGE);
  CHECK(encode_header(DERP_FRAME_HEALTH, 3, derp::MutableBytes(out, 4)) == DERP_ERR_BUFFER_TOO_SMALL);
  const FrameHeader h = parse_header(from_hex("1300000008").data());
  CHECK(h.type == DERP_FRAME_PONG);
  CHECK(h.payload_len == 8);
}
