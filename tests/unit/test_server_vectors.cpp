// Tailscale's own clients against our server core: the byte streams derphttp.Client wrote in a recorded session
// (tailscale/session, v1.36.2) are replayed into our server, and what our server writes back is compared with
// what Tailscale's server wrote in that session.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "crypto/sealed_info.hpp"
#include "crypto/server_info.hpp"
#include "frame/frame_reader.hpp"
#include "support/server_harness.hpp"
#include "support/testdata.hpp"

using derp::frame::FrameType;
using derp::test::Peer;
using derp::test::ReceivedFrame;
using derp::test::ServerHarness;

namespace {

struct Stream {
  std::vector<std::uint8_t> http;                 // the HTTP head
  std::vector<std::vector<std::uint8_t>> frames;  // each whole frame, header included
};

Stream split(const std::vector<std::uint8_t>& bytes, bool has_http) {
  Stream s;
  std::size_t pos = 0;
  if (has_http) {
    const std::string text(bytes.begin(), bytes.end());
    pos = text.find("\r\n\r\n") + 4;
    s.http.assign(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(pos));
  }
  derp::frame::FrameReader reader;
  derp::Bytes in(bytes.data() + pos, bytes.size() - pos);
  while (!in.empty()) {
    std::size_t used = 0;
    derp::frame::Frame f;
    const int r = reader.next(in, &used, &f);
    REQUIRE(r == 1);
    in = in.subspan(used);
    std::vector<std::uint8_t> whole(5);
    whole[0] = f.type;
    const auto len = static_cast<std::uint32_t>(f.payload.size());
    whole[1] = static_cast<std::uint8_t>(len >> 24);
    whole[2] = static_cast<std::uint8_t>(len >> 16);
    whole[3] = static_cast<std::uint8_t>(len >> 8);
    whole[4] = static_cast<std::uint8_t>(len);
    whole.insert(whole.end(), f.payload.begin(), f.payload.end());
    s.frames.push_back(std::move(whole));
  }
  return s;
}

std::vector<ReceivedFrame> recorded_frames_of(const Stream& s, FrameType type) {
  std::vector<ReceivedFrame> out;
  for (const auto& f : s.frames) {
    if (f[0] == derp::frame::type_byte(type)) out.push_back(ReceivedFrame{f[0], {f.begin() + 5, f.end()}});
  }
  return out;
}

derp::crypto::NodePrivate key_from_hex(const std::string& hex) {
  const auto raw = derp::test::from_hex(hex);
  return derp::crypto::NodePrivate::from_raw(raw.data());
}

}  // namespace

TEST_CASE("Tailscale derphttp clients' recorded streams work against our server", "[server][vectors]") {
  DERP_REQUIRE_TESTDATA();
  const Stream a_c2s = split(derp::test::read_hex_file("tailscale/session/A_c2s.hex"), true);
  const Stream b_c2s = split(derp::test::read_hex_file("tailscale/session/B_c2s.hex"), true);
  const Stream a_s2c = split(derp::test::read_hex_file("tailscale/session/A_s2c.hex"), true);
  const Stream b_s2c = split(derp::test::read_hex_file("tailscale/session/B_s2c.hex"), true);

  // The recording's server key is keys.json "server", which is also the harness's default.
  ServerHarness h;
  Peer& a = h.open("127.0.0.1:40001");
  Peer& b = h.open("127.0.0.1:40002");
  // Both handshake first (as in the recording: A connected, then B), then each sends the rest of its stream.
  h.write(a, a_c2s.http);
  h.write(a, a_c2s.frames[0]);
  h.write(b, b_c2s.http);
  h.write(b, b_c2s.frames[0]);
  REQUIRE(a.conn->phase() == derp::server::Phase::Running);
  REQUIRE(b.conn->phase() == derp::server::Phase::Running);
  for (std::size_t i = 1; i < a_c2s.frames.size(); ++i) h.write(a, a_c2s.frames[i]);
  for (std::size_t i = 1; i < b_c2s.frames.size(); ++i) h.write(b, b_c2s.frames[i]);

  // Our 101 head equals Tailscale's byte for byte.
  CHECK(a.http_head == std::string(a_s2c.http.begin(), a_s2c.http.end()));
  // ServerKey is identical; ServerInfo differs only by its random nonce, and B's key opens it.
  CHECK(a.frames.at(0).payload == recorded_frames_of(a_s2c, FrameType::ServerKey).at(0).payload);
  derp::crypto::ServerInfo info;
  const auto b_priv = key_from_hex("4142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60");
  REQUIRE(derp::crypto::open_server_info(b_priv, h.server().public_key(),
                                         derp::Bytes(b.of_type(FrameType::ServerInfo).at(0).payload),
                                         &info) == DERP_OK);
  CHECK(info.version == 2);

  // Every packet and pong matches what Tailscale's server delivered, byte for byte and in order.
  for (FrameType t : {FrameType::RecvPacket, FrameType::Pong}) {
    const auto ours_b = b.of_type(t);
    const auto theirs_b = recorded_frames_of(b_s2c, t);
    REQUIRE(ours_b.size() == theirs_b.size());
    for (std::size_t i = 0; i < ours_b.size(); ++i) CHECK(ours_b[i].payload == theirs_b[i].payload);
    const auto ours_a = a.of_type(t);
    const auto theirs_a = recorded_frames_of(a_s2c, t);
    REQUIRE(ours_a.size() == theirs_a.size());
    for (std::size_t i = 0; i < ours_a.size(); ++i) CHECK(ours_a[i].payload == theirs_a[i].payload);
  }
  CHECK(b.of_type(FrameType::RecvPacket).size() == 6);
  CHECK(h.server().counters().packets_received == 8);  // 6 to B, 1 to nobody, 1 from B
  CHECK(h.server().counters().home_moves_in == 0);

  // A leaves: B gets PeerGone(A). The 2023 server wrote the old 32-byte form; we write today's 33-byte form
  // (reason byte added 2023-03, reference §2.2), which old clients read as the same thing: key, then reason 0.
  h.server().remove(a.conn, h.now());
  a.closed = true;
  h.pump();
  const auto gone = b.of_type(FrameType::PeerGone);
  REQUIRE(gone.size() == 1);
  const auto theirs = recorded_frames_of(b_s2c, FrameType::PeerGone).at(0).payload;
  REQUIRE(theirs.size() == 32);
  REQUIRE(gone[0].payload.size() == 33);
  CHECK(std::vector<std::uint8_t>(gone[0].payload.begin(), gone[0].payload.begin() + 32) == theirs);
  CHECK(gone[0].payload[32] == DERP_PEER_GONE_DISCONNECTED);
}

TEST_CASE("Tailscale's recorded mesh client works against our server", "[server][vectors][mesh]") {
  DERP_REQUIRE_TESTDATA();
  const Stream a_c2s = split(derp::test::read_hex_file("tailscale/mesh_session/A_c2s.hex"), true);
  const Stream b_c2s = split(derp::test::read_hex_file("tailscale/mesh_session/B_c2s.hex"), true);
  const Stream m_c2s = split(derp::test::read_hex_file("tailscale/mesh_session/M_c2s.hex"), true);
  const Stream b_s2c = split(derp::test::read_hex_file("tailscale/mesh_session/B_s2c.hex"), true);
  const Stream m_s2c = split(derp::test::read_hex_file("tailscale/mesh_session/M_s2c.hex"), true);

  auto opts = ServerHarness::default_options();
  opts.mesh_key = derp::test::read_json_file("tailscale/mesh_session/mesh_session.json")["mesh_key"].get<std::string>();
  ServerHarness h(opts);
  Peer& a = h.open("127.0.0.1:40001");
  Peer& b = h.open("127.0.0.1:40002");
  Peer& m = h.open("127.0.0.1:40003");
  for (auto [peer, stream] : {std::pair{&a, &a_c2s}, std::pair{&b, &b_c2s}, std::pair{&m, &m_c2s}}) {
    h.write(*peer, stream->http);
    h.write(*peer, stream->frames[0]);
    REQUIRE(peer->conn->phase() == derp::server::Phase::Running);
  }
  h.write(m, m_c2s.frames[1]);  // WatchConns
  // Three PeerPresent (A, B and M itself), in any order; today's 51-byte form starts with the recorded 32 bytes.
  const auto ours = m.of_type(FrameType::PeerPresent);
  const auto theirs = recorded_frames_of(m_s2c, FrameType::PeerPresent);
  REQUIRE(ours.size() == 3);
  REQUIRE(theirs.size() == 3);
  for (const auto& t : theirs) {
    REQUIRE(t.payload.size() == 32);
    const bool found = std::any_of(ours.begin(), ours.end(), [&](const ReceivedFrame& o) {
      return o.payload.size() == DERP_PEER_PRESENT_LEN && std::equal(t.payload.begin(), t.payload.end(), o.payload.begin());
    });
    CHECK(found);
  }
  h.write(m, m_c2s.frames[2]);  // ForwardPacket(X → B)
  const auto got = b.of_type(FrameType::RecvPacket);
  REQUIRE(got.size() == 1);
  CHECK(got[0].payload == recorded_frames_of(b_s2c, FrameType::RecvPacket).at(0).payload);
  h.write(m, m_c2s.frames[3]);  // ClosePeer(A)
  CHECK(a.closed);
  h.server().remove(b.conn, h.now());
  b.closed = true;
  h.pump();
  // M heard A and then B leave, in the recorded order (first 32 bytes: the key).
  const auto gone = m.of_type(FrameType::PeerGone);
  const auto gone_theirs = recorded_frames_of(m_s2c, FrameType::PeerGone);
  REQUIRE(gone.size() == gone_theirs.size());
  for (std::size_t i = 0; i < gone.size(); ++i) {
    CHECK(std::equal(gone_theirs[i].payload.begin(), gone_theirs[i].payload.end(), gone[i].payload.begin()));
  }
}
