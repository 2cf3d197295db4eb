#include "support/server_harness.hpp"

#include <stdexcept>

#include "common/address.hpp"
#include "crypto/sealed_info.hpp"
#include "frame/header.hpp"

namespace derp::test {

std::vector<std::uint8_t> bytes_of(const std::string& s) { return std::vector<std::uint8_t>(s.begin(), s.end()); }

std::string upgrade_request(bool fast_start) {
  std::string r = "GET /derp HTTP/1.1\r\nHost: derp.test\r\nConnection: Upgrade\r\n";
  if (fast_start) r += "Derp-Fast-Start: 1\r\n";
  return r + "Upgrade: DERP\r\n\r\n";
}

std::vector<ReceivedFrame> Peer::of_type(frame::FrameType type) const {
  std::vector<ReceivedFrame> out;
  for (const auto& f : frames) {
    if (f.type == frame::type_byte(type)) out.push_back(f);
  }
  return out;
}

server::ServerOptions ServerHarness::default_options() {
  server::ServerOptions o;
  crypto::KeyBytes raw{};
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(i + 1);  // keys.json "server"
  o.private_key = crypto::NodePrivate(raw);
  return o;
}

ServerHarness::ServerHarness(server::ServerOptions options)
    : server_(std::make_unique<server::Server>(std::move(options))) {}

Peer& ServerHarness::open(const char* remote) {
  derp_addr addr{};
  if (parse_addr(remote, &addr) != DERP_OK) throw std::runtime_error("bad test address");
  auto peer = std::make_unique<Peer>();
  peer->conn = server_->accept(addr, now_);
  peers_.push_back(std::move(peer));
  pump();
  return *peers_.back();
}

Peer& ServerHarness::connect(const crypto::NodePrivate* key, bool fast_start, const crypto::ClientInfo* info,
                             const char* remote) {
  Peer& peer = open(remote);
  if (key != nullptr) {
    peer.priv = *key;
  } else if (crypto::generate_private(&peer.priv) != DERP_OK) {
    throw std::runtime_error("keygen");
  }
  crypto::public_of(peer.priv, &peer.pub);
  peer.expect_http_head = !fast_start;
  crypto::ClientInfo default_info;
  default_info.version = 2;
  default_info.can_ack_pings = true;
  std::vector<std::uint8_t> payload;
  if (crypto::seal_client_info(peer.priv, server_->public_key(), info ? *info : default_info, &payload) != DERP_OK) {
    throw std::runtime_error("seal");
  }
  std::vector<std::uint8_t> bytes = bytes_of(upgrade_request(fast_start));
  std::uint8_t header[frame::kHeaderLen];
  frame::write_header(header, frame::type_byte(frame::FrameType::ClientInfo), static_cast<std::uint32_t>(payload.size()));
  bytes.insert(bytes.end(), header, header + sizeof header);
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  write(peer, bytes);
  return peer;
}

void ServerHarness::write(Peer& peer, const std::string& bytes) { write(peer, bytes_of(bytes)); }

void ServerHarness::write(Peer& peer, const std::vector<std::uint8_t>& bytes) {
  if (peer.closed) throw std::runtime_error("write to a closed test peer");
  peer.conn->receive(Bytes(bytes), now_);
  pump();
}

void ServerHarness::send_frame(Peer& peer, frame::FrameType type, const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> bytes(frame::kHeaderLen);
  frame::write_header(bytes.data(), frame::type_byte(type), static_cast<std::uint32_t>(payload.size()));
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  write(peer, bytes);
}

void ServerHarness::send_packet(Peer& from, const frame::Key& to, const std::vector<std::uint8_t>& packet) {
  std::vector<std::uint8_t> payload(to.begin(), to.end());
  payload.insert(payload.end(), packet.begin(), packet.end());
  send_frame(from, frame::FrameType::SendPacket, payload);
}

void ServerHarness::deliver(Peer& peer) {
  if (peer.closed || peer.paused) return;
  Bytes views[16];
  while (peer.conn->output_size() > 0) {
    const std::size_t n = peer.conn->output(views);
    std::size_t total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      peer.inbox.insert(peer.inbox.end(), views[i].begin(), views[i].end());
      total += views[i].size();
    }
    peer.conn->output_written(total, now_);
  }
  // Cut what arrived: first the HTTP head (unless fast start), then frames.
  if (peer.expect_http_head) {
    const std::string text(peer.inbox.begin(), peer.inbox.end());
    const std::size_t end = text.find("\r\n\r\n");
    if (end == std::string::npos) return;
    peer.http_head = text.substr(0, end + 4);
    peer.inbox.erase(peer.inbox.begin(), peer.inbox.begin() + static_cast<std::ptrdiff_t>(end + 4));
    peer.expect_http_head = false;
    if (peer.http_head.rfind("HTTP/1.1 101", 0) != 0) {
      peer.http_body.assign(peer.inbox.begin(), peer.inbox.end());
      peer.inbox.clear();
      peer.reader.reset();
      return;
    }
  }
  if (!peer.http_head.empty() && peer.http_head.rfind("HTTP/1.1 101", 0) != 0) {
    peer.http_body.append(peer.inbox.begin(), peer.inbox.end());
    peer.inbox.clear();
    return;
  }
  Bytes in(peer.inbox);
  while (!in.empty()) {
    std::size_t used = 0;
    frame::Frame f;
    const int r = peer.reader.next(in, &used, &f);
    in = in.subspan(used);
    if (r < 0) throw std::runtime_error("server wrote a bad frame stream");
    if (r == 0) break;
    peer.frames.push_back(ReceivedFrame{f.type, std::vector<std::uint8_t>(f.payload.begin(), f.payload.end())});
  }
  peer.inbox.clear();
}

void ServerHarness::settle(Peer& peer) {
  if (peer.closed) return;
  const server::Phase phase = peer.conn->phase();
  if (phase == server::Phase::Closed || (phase == server::Phase::Closing && peer.conn->output_size() == 0)) {
    peer.close_reason = peer.conn->close_reason();
    server_->remove(peer.conn, now_);
    peer.conn = nullptr;
    peer.closed = true;
  }
}

void ServerHarness::pump() {
  for (int round = 0; round < 8; ++round) {
    for (auto& p : peers_) deliver(*p);
    bool any = false;
    server_->drain_ready([&](server::Connection&) { any = true; });
    for (auto& p : peers_) deliver(*p);
    for (auto& p : peers_) settle(*p);
    if (!any) break;
  }
}

void ServerHarness::advance(server::Nanos by) {
  const server::Nanos target = now_ + by;
  // Step through every deadline on the way, so periodic work (keep-alives) happens as often as it would.
  for (;;) {
    server::Nanos next = target;
    for (auto& p : peers_) {
      if (!p->closed) next = std::min(next, std::max(now_, p->conn->deadline()));
    }
    now_ = next;
    for (auto& p : peers_) {
      if (!p->closed && p->conn->deadline() <= now_) p->conn->tick(now_);
    }
    pump();
    if (now_ >= target) break;
  }
}

std::string ServerHarness::http_get(const std::string& request, const char* remote) {
  Peer& peer = open(remote);
  write(peer, request);
  return peer.http_head + peer.http_body;
}

}  // namespace derp::test
