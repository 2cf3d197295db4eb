// Drives a sans-IO DERP server core in-process for tests: fake peers write bytes into their Connection and read
// what the server writes back, with time under the test's control.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "crypto/client_info.hpp"
#include "crypto/node_key.hpp"
#include "frame/frame_reader.hpp"
#include "frame/frame_types.hpp"
#include "server/server.hpp"

namespace derp::test {

struct ReceivedFrame {
  std::uint8_t type = 0;
  std::vector<std::uint8_t> payload;
};

struct Peer {
  crypto::NodePrivate priv;
  crypto::NodePublic pub;
  server::Connection* conn = nullptr;
  bool expect_http_head = true;  // a 101 (or other HTTP answer) comes before the frames
  bool paused = false;           // a slow receiver: its output is not drained
  std::string http_head;         // the server's HTTP answer head, once read
  std::string http_body;         // bytes after a non-101 head
  std::vector<std::uint8_t> inbox;  // bytes not yet cut into frames
  std::vector<ReceivedFrame> frames;
  frame::FrameReader reader{frame::kDefaultMaxFrameLen};
  bool closed = false;             // the harness removed its connection
  server::CloseReason close_reason = server::CloseReason::none;

  const frame::Key& key() const { return pub.bytes(); }
  // Frames of one type received so far.
  std::vector<ReceivedFrame> of_type(frame::FrameType type) const;
};

class ServerHarness {
 public:
  explicit ServerHarness(server::ServerOptions options = default_options());
  static server::ServerOptions default_options();

  server::Server& server() { return *server_; }
  server::Nanos now() const { return now_; }
  void advance(server::Nanos by);  // moves time and ticks every connection whose deadline passed

  // A TCP connection from remote that has sent nothing yet.
  Peer& open(const char* remote = "127.0.0.1:40000");
  // open + upgrade request + ClientInfo, then pump: a fully connected DERP client.
  Peer& connect(const crypto::NodePrivate* key = nullptr, bool fast_start = false,
                const crypto::ClientInfo* info = nullptr, const char* remote = "127.0.0.1:40000");
  void write(Peer& peer, const std::string& bytes);
  void write(Peer& peer, const std::vector<std::uint8_t>& bytes);
  void send_frame(Peer& peer, frame::FrameType type, const std::vector<std::uint8_t>& payload);
  void send_packet(Peer& from, const frame::Key& to, const std::vector<std::uint8_t>& packet);

  // Moves output from the server to every unpaused peer, and closes connections that asked for it.
  void pump();
  // A bare HTTP exchange on a fresh connection: returns head + body as the server wrote them.
  std::string http_get(const std::string& request, const char* remote = "127.0.0.1:40000");

  std::vector<std::unique_ptr<Peer>>& peers() { return peers_; }

 private:
  void deliver(Peer& peer);
  void settle(Peer& peer);

  std::unique_ptr<server::Server> server_;
  server::Nanos now_ = 1'000 * server::kSecond;
  std::vector<std::unique_ptr<Peer>> peers_;
};

std::vector<std::uint8_t> bytes_of(const std::string& s);
std::string upgrade_request(bool fast_start);

}  // namespace derp::test
