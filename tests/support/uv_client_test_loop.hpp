// Test support for the libuv client driver: one loop on the test thread that runs servers and clients together,
// stepped until a condition holds (so tests read top to bottom), a recorder of client events, and servers on
// loopback. Every wait has a limit, so a broken test fails instead of hanging.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>

#include "uv/uv_client.hpp"
#include "uv/uv_server.hpp"

namespace derp::uvclienttest {

class TestLoop {
 public:
  TestLoop();
  ~TestLoop();
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  uv_loop_t* get() { return &loop_; }
  // Runs the loop until pred() holds or timeout_ms passed; returns pred().
  bool run_until(const std::function<bool()>& pred, unsigned timeout_ms = 5000);
  // Runs the loop for about ms milliseconds.
  void run_for(unsigned ms);
  // Lets every handle close (within timeout_ms) and closes the loop: uv_loop_close's result (0 = nothing leaked).
  int finish(unsigned timeout_ms = 5000);

 private:
  uv_loop_t loop_{};
  uv_timer_t wake_{};
  bool closed_ = false;
};

struct Recorder : uv::UvClientEvents {
  struct Packet {
    crypto::NodePublic source;
    std::vector<std::uint8_t> payload;
  };
  std::vector<uv::UvClientStatus> states;
  std::vector<Packet> packets;
  std::vector<crypto::NodePublic> gone;
  int server_infos = 0;
  int restarting = 0;
  int connects = 0;

  void on_state(const uv::UvClientStatus& s) override {
    states.push_back(s);
    if (s.state == uv::UvClientState::Connected) connects++;
  }
  void on_server_info(const crypto::ServerInfo&) override { server_infos++; }
  void on_packet(const crypto::NodePublic& source, Bytes payload) override {
    packets.push_back(Packet{source, std::vector<std::uint8_t>(payload.begin(), payload.end())});
  }
  void on_peer_gone(const crypto::NodePublic& peer, std::uint8_t) override { gone.push_back(peer); }
  void on_restarting(Nanos, Nanos) override { restarting++; }

  bool saw(uv::UvClientState state) const;
  const uv::UvClientStatus* last(uv::UvClientState state) const;
};

// A server on `loop` listening on `listen` (default 127.0.0.1:0), optionally TLS. nullptr (and FAIL) on error.
std::unique_ptr<uv::UvServer> start_server(uv_loop_t* loop, std::vector<std::string> listen = {"127.0.0.1:0"},
                                           const tls::ServerConfig* tls = nullptr,
                                           const crypto::NodePrivate* key = nullptr);
// Closes the server and runs the loop until it has stopped.
bool stop_server(TestLoop& loop, uv::UvServer& server);
// A port on which nothing listens (bound once by a server that is gone again).
std::uint16_t unused_port(TestLoop& loop);

// Client options for a target URL with a fresh key, reconnecting fast (tests need no long backoff).
uv::UvClientOptions client_options(const std::string& url);
std::string url_for(const derp_addr& addr, bool tls = false);
std::vector<std::uint8_t> payload(std::size_t n, std::uint8_t seed);

}  // namespace derp::uvclienttest
