#include "support/uv_client_test_loop.hpp"

#include <chrono>
#include <thread>

#include "common/address.hpp"
#include "crypto/node_key.hpp"

namespace derp::uvclienttest {

TestLoop::TestLoop() {
  uv_loop_init(&loop_);
  // A steady wake-up while run_until steps the loop, so conditions are checked even when nothing else happens.
  uv_timer_init(&loop_, &wake_);
}

TestLoop::~TestLoop() {
  if (!closed_) finish();
}

bool TestLoop::run_until(const std::function<bool()>& pred, unsigned timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  uv_timer_start(&wake_, [](uv_timer_t*) {}, 5, 5);
  bool ok = pred();
  while (!ok && std::chrono::steady_clock::now() < deadline) {
    uv_run(&loop_, UV_RUN_ONCE);
    ok = pred();
  }
  uv_timer_stop(&wake_);
  return ok;
}

void TestLoop::run_for(unsigned ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  run_until([&] { return std::chrono::steady_clock::now() >= until; }, ms + 1000);
}

int TestLoop::finish(unsigned timeout_ms) {
  if (closed_) return 0;
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&wake_))) uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (uv_run(&loop_, UV_RUN_NOWAIT) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const int rc = uv_loop_close(&loop_);
  closed_ = rc == 0;
  if (!closed_) {
    // Leaked handles: list them for the failure message, then leave the loop (the test reports rc).
    uv_print_all_handles(&loop_, stderr);
    closed_ = true;
  }
  return rc;
}

bool Recorder::saw(uv::UvClientState state) const { return last(state) != nullptr; }

const uv::UvClientStatus* Recorder::last(uv::UvClientState state) const {
  for (auto it = states.rbegin(); it != states.rend(); ++it) {
    if (it->state == state) return &*it;
  }
  return nullptr;
}

std::unique_ptr<uv::UvServer> start_server(uv_loop_t* loop, std::vector<std::string> listen,
                                           const tls::ServerConfig* tls, const crypto::NodePrivate* key) {
  uv::UvServerOptions o;
  if (key != nullptr) {
    o.core.private_key = *key;
  } else if (crypto::generate_private(&o.core.private_key) != DERP_OK) {
    return nullptr;
  }
  o.tcp_listen = std::move(listen);
  o.tls = tls;
  o.shutdown_grace = 500 * kMillisecond;
  std::unique_ptr<uv::UvServer> server;
  std::string detail;
  if (uv::UvServer::create(loop, std::move(o), &server, &detail) != DERP_OK) return nullptr;
  if (server->listen(&detail) != DERP_OK) return nullptr;
  return server;
}

bool stop_server(TestLoop& loop, uv::UvServer& server) {
  server.close();
  return loop.run_until([&] { return server.stopped(); });
}

std::uint16_t unused_port(TestLoop& loop) {
  auto server = start_server(loop.get());
  if (!server) return 0;
  const std::uint16_t port = server->tcp_addresses().at(0).port;
  stop_server(loop, *server);
  return port;
}

uv::UvClientOptions client_options(const std::string& url) {
  uv::UvClientOptions o;
  crypto::generate_private(&o.connection.private_key);
  o.url = url;
  o.ca_bundle_path = "";
  o.backoff.base = 20 * kMillisecond;
  o.backoff.max = 200 * kMillisecond;
  o.connect_timeout = 5 * kSecond;
  return o;
}

std::string url_for(const derp_addr& addr, bool tls) {
  return std::string(tls ? "https://" : "http://") + format_addr(addr) + "/derp";
}

std::vector<std::uint8_t> payload(std::size_t n, std::uint8_t seed) {
  std::vector<std::uint8_t> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(seed + i * 7);
  return p;
}

}  // namespace derp::uvclienttest
