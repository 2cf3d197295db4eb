// Running out of file descriptors is visible: a server near RLIMIT_NOFILE closes new connections at once and
// counts them by reason on the metrics page, with rate-limited log lines (issue 15).
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <mutex>

#include "test_uv_support.hpp"

using derp::uv::UvServer;
using namespace derp::uvtest;

TEST_CASE("uv: connections past the descriptor ceiling are closed, counted and logged, rate-limited", "[uv][hostile]") {
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit low = saved;
  low.rlim_cur = 64 + 6;  // the server keeps 64 in reserve: 6 connections fit
  REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);

  auto options = loopback_options();
  std::mutex log_mutex;
  std::vector<std::string> lines;
  options.core.log = [&](derp::server::LogLevel, std::string_view line) {
    std::lock_guard<std::mutex> lock(log_mutex);
    lines.emplace_back(line);
  };
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);

  constexpr int kClients = 30;
  int closed_at_once = 0;
  std::string metrics;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner& loop) {
    std::vector<std::unique_ptr<PlainStream>> held;
    for (int i = 0; i < kClients; ++i) held.push_back(std::make_unique<PlainStream>(addr));
    // Connections over the ceiling (the last ones) see the server's close (EOF or reset) without sending anything;
    // the first one still open ends the walk (after the socket's read timeout).
    for (auto it = held.rbegin(); it != held.rend(); ++it) {
      auto& s = *it;
      if (s->fd() < 0) continue;
      std::uint8_t b;
      const long n = s->read_some(derp::MutableBytes(&b, 1));
      if (n == 0 || n == -ECONNRESET) ++closed_at_once;
      if (n == -EAGAIN || n == -EWOULDBLOCK) break;  // still open: the rest are within the ceiling, or still queued
    }
    held.clear();
    loop.call([&] { metrics = server->core().metrics_text(); });
  }, 60000);
  setrlimit(RLIMIT_NOFILE, &saved);
  CHECK(finished);
  const auto& failures = server->accept_counters().failures;
  REQUIRE(failures.count("fd_limit") == 1);
  CHECK(failures.at("fd_limit") >= 1);
  CHECK(closed_at_once >= 1);
  CHECK(metrics.find("derp_accept_failures{reason=\"fd_limit\"} " + std::to_string(failures.at("fd_limit"))) !=
        std::string::npos);
  std::size_t logged = 0;
  for (const auto& l : lines) {
    if (l.find("accept failed: fd_limit") != std::string::npos) ++logged;
  }
  CHECK(logged >= 1);
  CHECK(logged <= 5);  // rate-limited: 5 lines per 10 s window
}

TEST_CASE("uv: the fd_limit option sets the ceiling without touching RLIMIT_NOFILE", "[uv][hostile]") {
  auto options = loopback_options();
  options.fd_limit = 4;  // the fifth connection on is closed at once
  std::unique_ptr<UvServer> server;
  std::string detail;
  REQUIRE(UvServer::create(nullptr, std::move(options), &server, &detail) == DERP_OK);
  REQUIRE(server->listen(&detail) == DERP_OK);
  const derp_addr addr = server->tcp_addresses().at(0);

  int open_after = 0;
  int closed_at_once = 0;
  LoopRunner runner(*server);
  const bool finished = runner.run([&](LoopRunner&) {
    std::vector<std::unique_ptr<PlainStream>> held;
    for (int i = 0; i < 12; ++i) held.push_back(std::make_unique<PlainStream>(addr));
    for (auto it = held.rbegin(); it != held.rend(); ++it) {
      auto& s = *it;
      if (s->fd() < 0) continue;
      std::uint8_t b;
      const long n = s->read_some(derp::MutableBytes(&b, 1));
      if (n == 0 || n == -ECONNRESET) ++closed_at_once;
      if (n == -EAGAIN || n == -EWOULDBLOCK) {
        ++open_after;
        break;
      }
    }
  }, 60000);
  CHECK(finished);
  const auto& failures = server->accept_counters().failures;
  REQUIRE(failures.count("fd_limit") == 1);
  CHECK(failures.at("fd_limit") >= 1);
  CHECK(closed_at_once >= 1);
  CHECK(open_after == 1);  // one within the ceiling was still open
}
