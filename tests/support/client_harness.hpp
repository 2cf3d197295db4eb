// Test support for the sans-IO client core: an event recorder, a world that pumps bytes between ClientConnections
// and our server core in-process (time under the test's control), and builders for crafted server byte streams.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/connection.hpp"
#include "crypto/node_key.hpp"
#include "crypto/server_info.hpp"
#include "frame/frame_types.hpp"
#include "server/server.hpp"

namespace derp::test {

using ByteVec = std::vector<std::uint8_t>;

// Records every event in order; hooks let a test act from inside a handler.
class RecordingEvents : public client::ClientEvents {
 public:
  struct Packet {
    crypto::NodePublic source;
    ByteVec payload;
  };
  struct PingResult {
    std::uint64_t id;
    int result;
    Nanos rtt;
  };
  struct PeerPresent {
    crypto::NodePublic peer;
    derp_addr endpoint;
    std::uint8_t flags;
  };

  std::vector<std::string> log;  // event names in order: "connected", "packet", ..., "closed"
  int connected = 0;
  crypto::NodePublic connected_key;
  std::vector<crypto::ServerInfo> server_infos;
  std::vector<Packet> packets;
  std::vector<std::pair<crypto::NodePublic, std::uint8_t>> gone;
  std::vector<PeerPresent> present;
  std::vector<std::string> health;
  std::vector<std::pair<Nanos, Nanos>> restarting;
  std::vector<PingResult> ping_results;
  int closed = 0;
  int close_error = 1;  // not a valid code: "not closed"
  std::string close_detail;

  std::function<void()> on_connected_hook;
  std::function<void(const Packet&)> on_packet_hook;
  std::function<void(const PingResult&)> on_ping_hook;
  std::function<void()> on_closed_hook;

  void on_connected(const crypto::NodePublic& server_key) override;
  void on_server_info(const crypto::ServerInfo& info) override;
  void on_packet(const crypto::NodePublic& source, Bytes payload) override;
  void on_peer_gone(const crypto::NodePublic& peer, std::uint8_t reason) override;
  void on_peer_present(const crypto::NodePublic& peer, const derp_addr& endpoint, std::uint8_t flags) override;
  void on_health(std::string_view problem) override;
  void on_restarting(Nanos reconnect_in, Nanos try_for) override;
  void on_ping_result(std::uint64_t id, int result, Nanos rtt) override;
  void on_closed(int error, std::string_view detail) override;
};

// Fixed test keys (reference §10: the server's is keys.json "server").
crypto::NodePrivate test_server_private();
crypto::NodePrivate test_client_private(std::uint8_t seed);
crypto::NodePublic public_of(const crypto::NodePrivate& key);

client::ClientOptions client_options(const crypto::NodePrivate& key);

// One client and its server-side connection.
struct Link {
  RecordingEvents events;  // declared first: outlives the client
  std::unique_ptr<client::ClientConnection> client;
  server::Connection* server_conn = nullptr;  // null once the harness removed it
  bool eof_delivered = false;
  std::size_t bytes_to_server = 0;
  std::size_t bytes_to_client = 0;
  // When set, every byte moved is also kept here, in order (for tests that judge the wire itself).
  bool record_wire = false;
  ByteVec wire_to_server;
  ByteVec wire_to_client;
};

// Our server core and any number of client cores, connected by in-memory pipes.
class ClientWorld {
 public:
  explicit ClientWorld(server::ServerOptions options = default_server_options());
  static server::ServerOptions default_server_options();

  server::Server& server() { return *server_; }
  Nanos now() const { return now_; }

  // A client with these options dialled the server; the world pumps until nothing moves. record_wire: keep
  // every byte of this link from the first one (Link::wire_to_*).
  Link& dial(client::ClientOptions options, bool record_wire = false);
  Link& dial(std::uint8_t key_seed);

  // Moves bytes both ways until quiet; a side that closed makes the other see EOF.
  void pump();
  // Moves time forward, ticking both cores at every deadline on the way.
  void advance(Nanos by);

 private:
  bool move(Link& link);

  std::unique_ptr<server::Server> server_;
  Nanos now_ = 5'000 * kSecond;
  std::vector<std::unique_ptr<Link>> links_;
};

// ---- crafted server streams ----
extern const std::string kHttp101;  // what our server (and derper) write for "Upgrade: DERP"
ByteVec frame_bytes(std::uint8_t type, const ByteVec& payload);
ByteVec frame_bytes(frame::FrameType type, const ByteVec& payload);
ByteVec server_key_frame(const crypto::NodePublic& server_key);
ByteVec server_info_frame(const crypto::NodePrivate& server, const crypto::NodePublic& client,
                          const crypto::ServerInfo& info);
ByteVec recv_packet_frame(const crypto::NodePublic& source, const ByteVec& packet);
ByteVec concat(std::initializer_list<ByteVec> parts);
ByteVec bytes_of_text(const std::string& s);

// Feeds bytes to a client core in pieces of `piece` bytes (0 = all at once); returns the last receive() result.
int feed(client::ClientConnection& c, const ByteVec& bytes, Nanos now, std::size_t piece = 0);
// Takes everything the client has pending (as the host would write it).
ByteVec take_output(client::ClientConnection& c, Nanos now);

}  // namespace derp::test
