#include "support/client_harness.hpp"

#include <algorithm>
#include <stdexcept>
#include <string_view>

#include "crypto/sealed_info.hpp"
#include "frame/header.hpp"

namespace derp::test {

// ---- RecordingEvents ----

void RecordingEvents::on_connected(const crypto::NodePublic& server_key) {
  log.push_back("connected");
  connected++;
  connected_key = server_key;
  if (on_connected_hook) on_connected_hook();
}

void RecordingEvents::on_server_info(const crypto::ServerInfo& info) {
  log.push_back("server_info");
  server_infos.push_back(info);
}

void RecordingEvents::on_packet(const crypto::NodePublic& source, Bytes payload) {
  log.push_back("packet");
  packets.push_back(Packet{source, ByteVec(payload.begin(), payload.end())});
  if (on_packet_hook) on_packet_hook(packets.back());
}

void RecordingEvents::on_peer_gone(const crypto::NodePublic& peer, std::uint8_t reason) {
  log.push_back("peer_gone");
  gone.emplace_back(peer, reason);
}

void RecordingEvents::on_peer_present(const crypto::NodePublic& peer, const derp_addr& endpoint,
                                      std::uint8_t flags) {
  log.push_back("peer_present");
  present.push_back(PeerPresent{peer, endpoint, flags});
}

void RecordingEvents::on_health(std::string_view problem) {
  log.push_back("health");
  health.emplace_back(problem);
}

void RecordingEvents::on_restarting(Nanos reconnect_in, Nanos try_for) {
  log.push_back("restarting");
  restarting.emplace_back(reconnect_in, try_for);
}

void RecordingEvents::on_ping_result(std::uint64_t id, int result, Nanos rtt) {
  log.push_back("ping_result");
  ping_results.push_back(PingResult{id, result, rtt});
  if (on_ping_hook) on_ping_hook(ping_results.back());
}

void RecordingEvents::on_closed(int error, std::string_view detail) {
  log.push_back("closed");
  closed++;
  close_error = error;
  close_detail = std::string(detail);
  if (on_closed_hook) on_closed_hook();
}

// ---- keys and options ----

crypto::NodePrivate test_server_private() {
  crypto::KeyBytes raw{};
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(i + 1);
  return crypto::NodePrivate(raw);
}

crypto::NodePrivate test_client_private(std::uint8_t seed) {
  crypto::KeyBytes raw{};
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(seed * 31 + i + 0x40);
  crypto::clamp(raw);
  return crypto::NodePrivate(raw);
}

crypto::NodePublic public_of(const crypto::NodePrivate& key) {
  crypto::NodePublic pub;
  if (crypto::public_of(key, &pub) != DERP_OK) throw std::runtime_error("public_of");
  return pub;
}

client::ClientOptions client_options(const crypto::NodePrivate& key) {
  client::ClientOptions o;
  o.private_key = key;
  o.host = "derp.test";
  return o;
}

// ---- ClientWorld ----

server::ServerOptions ClientWorld::default_server_options() {
  server::ServerOptions o;
  o.private_key = test_server_private();
  return o;
}

ClientWorld::ClientWorld(server::ServerOptions options)
    : server_(std::make_unique<server::Server>(std::move(options))) {}

Link& ClientWorld::dial(client::ClientOptions options, bool record_wire) {
  auto link = std::make_unique<Link>();
  link->record_wire = record_wire;
  const int rc = client::ClientConnection::create(options, &link->events, now_, &link->client);
  if (rc != DERP_OK) throw std::runtime_error(std::string("create: ") + derp_strerror(rc));
  derp_addr remote{};
  remote.family = DERP_AF_INET;
  remote.ip[0] = 127;
  remote.ip[3] = 1;
  remote.port = static_cast<std::uint16_t>(40000 + links_.size());
  link->server_conn = server_->accept(remote, now_);
  links_.push_back(std::move(link));
  pump();
  return *links_.back();
}

Link& ClientWorld::dial(std::uint8_t key_seed) { return dial(client_options(test_client_private(key_seed))); }

bool ClientWorld::move(Link& link) {
  bool moved = false;
  client::ClientConnection& c = *link.client;
  // Client → server.
  for (Bytes out = c.pending_output(); !out.empty(); out = c.pending_output()) {
    if (link.server_conn == nullptr) {  // the transport is gone: what the client writes is lost
      c.output_written(out.size(), now_);
      continue;
    }
    const ByteVec copy(out.begin(), out.end());  // the server may make the client queue more meanwhile
    c.output_written(copy.size(), now_);
    link.bytes_to_server += copy.size();
    if (link.record_wire) link.wire_to_server.insert(link.wire_to_server.end(), copy.begin(), copy.end());
    link.server_conn->receive(Bytes(copy), now_);
    moved = true;
  }
  // Server → client.
  if (link.server_conn != nullptr) {
    Bytes views[16];
    while (link.server_conn->output_size() > 0) {
      const std::size_t n = link.server_conn->output(views);
      ByteVec bytes;
      for (std::size_t i = 0; i < n; ++i) bytes.insert(bytes.end(), views[i].begin(), views[i].end());
      link.server_conn->output_written(bytes.size(), now_);
      link.bytes_to_client += bytes.size();
      if (link.record_wire) link.wire_to_client.insert(link.wire_to_client.end(), bytes.begin(), bytes.end());
      c.receive(Bytes(bytes), now_);
      moved = true;
    }
  }
  // Either side closing ends the transport: the server core forgets the connection, the client sees EOF.
  if (link.server_conn != nullptr) {
    const server::Phase phase = link.server_conn->phase();
    const bool server_done = phase == server::Phase::Closed ||
                             (phase == server::Phase::Closing && link.server_conn->output_size() == 0);
    if (server_done || c.phase() == client::ClientPhase::Closed) {
      server_->remove(link.server_conn, now_);
      link.server_conn = nullptr;
      moved = true;
    }
  }
  if (link.server_conn == nullptr && !link.eof_delivered) {
    link.eof_delivered = true;
    c.receive_eof(now_);
    moved = true;
  }
  return moved;
}

void ClientWorld::pump() {
  for (int round = 0; round < 1000; ++round) {
    bool any = false;
    for (auto& l : links_) any = move(*l) || any;
    server_->drain_ready([&](server::Connection&) { any = true; });
    if (!any) return;
  }
  throw std::runtime_error("pump did not settle");
}

void ClientWorld::advance(Nanos by) {
  const Nanos target = now_ + by;
  for (;;) {
    Nanos next = target;
    for (auto& l : links_) {
      next = std::min(next, std::max(now_, l->client->deadline()));
      if (l->server_conn != nullptr) next = std::min(next, std::max(now_, l->server_conn->deadline()));
    }
    now_ = next;
    for (auto& l : links_) {
      if (l->client->deadline() <= now_) l->client->tick(now_);
      if (l->server_conn != nullptr && l->server_conn->deadline() <= now_) l->server_conn->tick(now_);
    }
    pump();
    if (now_ >= target) break;
  }
}

// ---- crafted streams ----

const std::string kHttp101 =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\nDerp-Version: 2\r\n"
    "Derp-Public-Key: 07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c\r\n\r\n";

ByteVec frame_bytes(std::uint8_t type, const ByteVec& payload) {
  ByteVec out(frame::kHeaderLen);
  frame::write_header(out.data(), type, static_cast<std::uint32_t>(payload.size()));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

ByteVec frame_bytes(frame::FrameType type, const ByteVec& payload) { return frame_bytes(frame::type_byte(type), payload); }

ByteVec server_key_frame(const crypto::NodePublic& server_key) {
  const std::string_view magic(DERP_FRAME_MAGIC, DERP_FRAME_MAGIC_LEN);
  ByteVec payload(magic.begin(), magic.end());
  payload.insert(payload.end(), server_key.bytes().begin(), server_key.bytes().end());
  return frame_bytes(frame::FrameType::ServerKey, payload);
}

ByteVec server_info_frame(const crypto::NodePrivate& server, const crypto::NodePublic& client,
                          const crypto::ServerInfo& info) {
  ByteVec sealed;
  if (crypto::seal_server_info(server, client, info, &sealed) != DERP_OK) throw std::runtime_error("seal");
  return frame_bytes(frame::FrameType::ServerInfo, sealed);
}

ByteVec recv_packet_frame(const crypto::NodePublic& source, const ByteVec& packet) {
  ByteVec payload(source.bytes().begin(), source.bytes().end());
  payload.insert(payload.end(), packet.begin(), packet.end());
  return frame_bytes(frame::FrameType::RecvPacket, payload);
}

ByteVec concat(std::initializer_list<ByteVec> parts) {
  ByteVec out;
  for (const ByteVec& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

ByteVec bytes_of_text(const std::string& s) { return ByteVec(s.begin(), s.end()); }

int feed(client::ClientConnection& c, const ByteVec& bytes, Nanos now, std::size_t piece) {
  if (piece == 0) piece = bytes.size() == 0 ? 1 : bytes.size();
  int rc = DERP_OK;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    const std::size_t n = std::min(piece, bytes.size() - at);
    rc = c.receive(Bytes(bytes.data() + at, n), now);
  }
  return rc;
}

ByteVec take_output(client::ClientConnection& c, Nanos now) {
  ByteVec out;
  for (Bytes b = c.pending_output(); !b.empty(); b = c.pending_output()) {
    out.insert(out.end(), b.begin(), b.end());
    c.output_written(b.size(), now);
  }
  return out;
}

}  // namespace derp::test
