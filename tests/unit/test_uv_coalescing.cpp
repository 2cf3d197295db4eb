// The uv server writes what it routes during one read callback together (one writev per receiver per read): these
// check that this never reorders one sender's packets, never loses them when fed whole reads, and never holds a
// packet back when the loop has nothing else to do.
#include <catch2/catch.hpp>

#include <algorithm>

#include "frame/header.hpp"
#include "test_uv_support.hpp"

using derp::frame::FrameType;
using derp::uv::UvServer;
using namespace derp::uvtest;

namespace {

// Packet `seq` of sender `who`: both in its first bytes, then a pattern; sizes vary from 60 to ~1,500 bytes.
std::vector<std::uint8_t> numbered(int who, int seq) {
  std::vector<std::uint8_t> p = test_packet(60 + static_cast<std::size_t>((seq * 37 + who * 11) % 1450),
                                            static_cast<std::uint8_t>(seq + who));
  p[0] = static_cast<std::uint8_t>(who);
  p[1] = static_cast<std::uint8_t>(seq >> 8);
  p[2] = static_cast<std::uint8_t>(seq);
  return p;
}

// SendPacket frames for packets [first, first + n) of `who`, back to back in one buffer.
std::vector<std::uint8_t> frames_for(const derp::crypto::NodePublic& to, int who, int first, int n) {
  std::vector<std::uint8_t> out;
  for (int seq = first; seq < first + n; ++seq) {
    const auto p = numbered(who, seq);
    const std::size_t at = out.size();
    out.resize(at + derp::frame::kHeaderLen + DERP_KEY_LEN + p.size());
    derp::frame::write_header(out.data() + at, derp::frame::type_byte(FrameType::SendPacket),
                              static_cast<std::uint32_t>(DERP_KEY_LEN + p.size()));
    std::copy(to.bytes().begin(), to.bytes().end(), out.begin() + static_cast<std::ptrdiff_t>(at + 5));
    std::copy(p.begin(), p.end(), out.begin() + static_cast<std::ptrdiff_t>(at + 5 + DERP_KEY_LEN));
  }
  return out;
}

}  // namespace

TEST_CASE("uv: one packet on an idle server is written at once, not held for a batch or a timer", "[uv]") {
  auto options = loopback_options();
  // No server timer can be what sends it: keep-alives are an hour away, and the client's reads give up after
  // kIoTimeoutMs (5 s).
  options.core.keepalive_interval = 3600 * derp::server::kSecond;
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);
  bool handshakes = false;
  bool arrived = false;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
    PlainStream sa(addr);
    PlainStream sb(addr);
    DerpClient a(sa);
    DerpClient b(sb);
    handshakes = a.handshake() && b.handshake();
    if (!handshakes) return;
    const auto p = test_packet(100, 9);
    Frame f;
    arrived = a.send_packet(b.public_key(), p) && b.wait_frame(FrameType::RecvPacket, &f) &&
              std::equal(p.begin(), p.end(), f.payload.begin() + DERP_KEY_LEN, f.payload.end());
  });
  CHECK(finished);
  CHECK(handshakes);
  CHECK(arrived);
}

TEST_CASE("uv: three senders to one receiver, many frames per write and frames split across writes: each "
          "sender's packets arrive complete and in order", "[uv]") {
  constexpr int kSenders = 3;
  constexpr int kPackets = 300;
  auto options = loopback_options();
  // A queue that never drops here, so every packet must arrive: what is checked is order and integrity.
  options.core.queue_packets = 100000;
  options.core.queue_bytes = 64u << 20;
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);
  bool handshakes = false;
  bool written = false;
  int received[kSenders] = {0, 0, 0};
  bool in_order = true;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
    std::vector<std::unique_ptr<PlainStream>> streams;
    std::vector<std::unique_ptr<DerpClient>> senders;
    for (int i = 0; i < kSenders; ++i) {
      streams.push_back(std::make_unique<PlainStream>(addr));
      senders.push_back(std::make_unique<DerpClient>(*streams.back()));
    }
    PlainStream sr(addr);
    DerpClient receiver(sr);
    handshakes = receiver.handshake();
    for (auto& s : senders) handshakes = handshakes && s->handshake();
    if (!handshakes) return;
    // Sender 0 writes its whole stream in pieces that cut frames anywhere; senders 1 and 2 write groups of 1 to
    // 40 whole frames per write, taking turns.
    const auto stream0 = frames_for(receiver.public_key(), 0, 0, kPackets);
    std::size_t at0 = 0;
    int next[kSenders] = {0, 0, 0};
    written = true;
    for (int round = 0; written && (at0 < stream0.size() || next[1] < kPackets || next[2] < kPackets); ++round) {
      if (at0 < stream0.size()) {
        const std::size_t n = std::min<std::size_t>(3333 + static_cast<std::size_t>(round % 7) * 1000,
                                                    stream0.size() - at0);
        written = streams[0]->write_all(derp::Bytes(stream0).subspan(at0, n));
        at0 += n;
      }
      for (int who = 1; who < kSenders && written; ++who) {
        const int n = std::min(1 + (round * 13 + who * 7) % 40, kPackets - next[who]);
        if (n <= 0) continue;
        written = streams[who]->write_all(derp::Bytes(frames_for(receiver.public_key(), who, next[who], n)));
        next[who] += n;
      }
    }
    int last[kSenders] = {-1, -1, -1};
    Frame f;
    while (received[0] + received[1] + received[2] < kSenders * kPackets &&
           receiver.wait_frame(FrameType::RecvPacket, &f)) {
      const std::vector<std::uint8_t> p(f.payload.begin() + DERP_KEY_LEN, f.payload.end());
      const int who = p.size() >= 3 ? p[0] : -1;
      if (who < 0 || who >= kSenders) {
        in_order = false;
        break;
      }
      const int seq = p[1] << 8 | p[2];
      if (seq != last[who] + 1 || p != numbered(who, seq) ||
          !std::equal(f.payload.begin(), f.payload.begin() + DERP_KEY_LEN, senders[who]->public_key().bytes().begin())) {
        in_order = false;
      }
      last[who] = seq;
      received[who]++;
    }
  });
  CHECK(finished);
  CHECK(handshakes);
  CHECK(written);
  CHECK(in_order);
  for (int who = 0; who < kSenders; ++who) CHECK(received[who] == kPackets);
  CHECK(server->counters().packets_sent == static_cast<std::uint64_t>(kSenders * kPackets));
  CHECK(server->core().pool().buffers_outstanding() == 0);
}
