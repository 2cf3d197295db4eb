// Writes the fuzz seed corpus tests/fuzz/seeds/frame_reader/ with our own encoders. Hidden (tag [.]); run it by
// hand after changing the frame format:
//   DERP_WRITE_FRAME_SEEDS=tests/fuzz/seeds/frame_reader build/tests/derp_unit_tests "[frame-seeds]"
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "common/address.hpp"
#include "support/testdata.hpp"
#include "unit/test_frame_helpers.hpp"

using namespace derp::frame;
using namespace derp::frame::test;

namespace {

ByteVector concat(std::initializer_list<ByteVector> frames) {
  ByteVector out;
  for (const ByteVector& f : frames) out.insert(out.end(), f.begin(), f.end());
  return out;
}

std::map<std::string, ByteVector> seed_streams() {
  const Key server = key_counting_from(0x01);
  const Key a = key_counting_from(0x21);
  const Key b = key_counting_from(0x41);
  const Key mesh = key_counting_from(0x81);
  const ByteVector box(48, 0x5C);
  const ByteVector info_box(29, 0x3F);
  const ByteVector ping = derp::test::from_hex("0102030405060708");
  const ByteVector long_ping = pattern_packet(1000);
  const ByteVector packet = pattern_packet(1280);
  const ByteVector large_packet = pattern_packet(3000);  // kept small: libFuzzer sizes inputs by the largest seed
  const ByteVector text = {'d', 'u', 'p', 'l', 'i', 'c', 'a', 't', 'e'};
  const ByteVector extra = {0xE1, 0xE2, 0xE3};
  const std::uint8_t ip[4] = {192, 0, 2, 1};

  std::map<std::string, ByteVector> seeds;
  seeds["client_session"] = concat({
      encode_to_vector(ClientInfoFrame{.key = a, .nonce = Nonce{7}, .box = as_bytes(box)}),
      encode_to_vector(SendPacketFrame{.dst = b, .packet = {}}),
      encode_to_vector(SendPacketFrame{.dst = b, .packet = as_bytes(packet)}),
      encode_to_vector(NotePreferredFrame{.preferred = 1}),
      encode_to_vector(PingFrame{.data = as_bytes(ping)}),
      encode_to_vector(PongFrame{.data = as_bytes(ping)}),
      encode_to_vector(NotePreferredFrame{.preferred = 0}),
  });
  seeds["server_session"] = concat({
      encode_to_vector(ServerKeyFrame{.key = server, .trailing = {}}),
      encode_to_vector(ServerInfoFrame{.nonce = Nonce{9}, .box = as_bytes(info_box)}),
      encode_to_vector(RecvPacketFrame{.src = a, .packet = as_bytes(packet)}),
      encode_to_vector(PongFrame{.data = as_bytes(ping)}),
      encode_to_vector(KeepAliveFrame{}),
      encode_to_vector(PeerGoneFrame{.key = a, .has_reason = true, .reason = 0, .trailing = {}}),
      encode_to_vector(PeerGoneFrame{.key = b, .has_reason = true, .reason = DERP_PEER_GONE_NOT_HERE, .trailing = {}}),
      encode_to_vector(HealthFrame{.text = as_bytes(text)}),
      encode_to_vector(HealthFrame{.text = {}}),
      encode_to_vector(RestartingFrame{.reconnect_in_ms = 5000, .try_for_ms = 10000, .trailing = {}}),
  });
  seeds["mesh_watch"] = concat({
      encode_to_vector(ClientInfoFrame{.key = mesh, .nonce = Nonce{1}, .box = as_bytes(box)}),
      encode_to_vector(WatchConnsFrame{}),
      encode_to_vector(ForwardPacketFrame{.src = a, .dst = b, .packet = as_bytes(text)}),
      encode_to_vector(ClosePeerFrame{.key = a}),
  });
  seeds["mesh_updates"] = concat({
      encode_to_vector(PeerPresentFrame{.key = a,
                                        .has_endpoint = true,
                                        .endpoint = derp::make_addr_v4(ip, 41641),
                                        .has_flags = true,
                                        .flags = DERP_PEER_PRESENT_REGULAR,
                                        .trailing = {}}),
      encode_to_vector(PeerPresentFrame{.key = b, .has_endpoint = false, .endpoint = {}, .has_flags = false,
                                        .flags = 0, .trailing = {}}),
      encode_to_vector(PeerPresentFrame{.key = mesh, .has_endpoint = true, .endpoint = {}, .has_flags = false,
                                        .flags = 0, .trailing = {}}),
      encode_to_vector(PeerPresentFrame{.key = b,
                                        .has_endpoint = true,
                                        .endpoint = derp::make_addr_v4(ip, 1),
                                        .has_flags = true,
                                        .flags = DERP_PEER_PRESENT_MESH_PEER | DERP_PEER_PRESENT_NOT_IDEAL,
                                        .trailing = as_bytes(extra)}),
      encode_to_vector(PeerGoneFrame{.key = a, .has_reason = false, .reason = 0, .trailing = {}}),
  });
  seeds["future_fields"] = concat({
      encode_to_vector(ServerKeyFrame{.key = server, .trailing = as_bytes(extra)}),
      encode_to_vector(PingFrame{.data = as_bytes(long_ping)}),
      encode_to_vector(RestartingFrame{.reconnect_in_ms = 0, .try_for_ms = 1, .trailing = as_bytes(extra)}),
      encode_to_vector(PeerGoneFrame{.key = a, .has_reason = true, .reason = 0xF0, .trailing = as_bytes(extra)}),
      frame_bytes(0x0B, extra),
      frame_bytes(0x42, {}),
  });
  seeds["large_packet"] = encode_to_vector(SendPacketFrame{.dst = b, .packet = as_bytes(large_packet)});
  seeds["oversize_send"] = derp::test::from_hex("0400010021");
  seeds["oversize_unknown"] = derp::test::from_hex("7f00100041");
  seeds["truncated"] = ByteVector(seeds["client_session"].begin(), seeds["client_session"].begin() + 120);
  return seeds;
}

}  // namespace

TEST_CASE("write the frame_reader fuzz seeds", "[.][frame-seeds]") {
  const char* dir = std::getenv("DERP_WRITE_FRAME_SEEDS");
  REQUIRE(dir != nullptr);
  std::filesystem::create_directories(dir);
  for (const auto& [name, bytes] : seed_streams()) {
    std::ofstream out(std::filesystem::path(dir) / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
  }
}

TEST_CASE("frame fuzz seeds: every seed stream reads back into frames that re-encode", "[frame]") {
  for (const auto& [name, bytes] : seed_streams()) {
    INFO(name);
    const ReadResult r = read_byte_by_byte(bytes);
    if (name.starts_with("oversize")) {
      CHECK(r.error == DERP_ERR_FRAME_TOO_LARGE);
      continue;
    }
    CHECK(r.error == 0);
    CHECK_FALSE(r.frames.empty());
    for (const ReadFrame& f : r.frames) {
      if (!is_known_frame_type(f.type)) continue;
      ByteVector again;
      CHECK(reencode(f.type, as_bytes(f.payload), &again) == DERP_OK);
      CHECK(again == frame_bytes(f.type, f.payload));
    }
  }
}
