// ReconnectPolicy: jittered exponential backoff and the server's Restarting hints (client/backoff.hpp).
#include <catch2/catch.hpp>

#include <set>

#include "client/backoff.hpp"

using derp::kMillisecond;
using derp::kSecond;
using derp::Nanos;
using derp::client::BackoffOptions;
using derp::client::ReconnectPolicy;

TEST_CASE("backoff: delays double from base, jittered by 0.5x to 1.5x, capped at max", "[client][backoff]") {
  const BackoffOptions o{100 * kMillisecond, 10 * kSecond};
  const Nanos now = 1000 * kSecond;
  for (std::uint64_t seed : {0ull, 1ull, 42ull, 0xdeadbeefull}) {
    ReconnectPolicy p(o, seed);
    for (std::uint32_t n = 1; n <= 20; ++n) {
      const Nanos nominal = std::min<Nanos>(o.base << std::min<std::uint32_t>(n - 1, 30), o.max);
      const Nanos delay = p.on_failure(now) - now;
      INFO("seed " << seed << " failure " << n);
      CHECK(p.consecutive_failures() == n);
      CHECK(delay >= nominal / 2);
      CHECK(delay < nominal + nominal / 2);
    }
  }
}

TEST_CASE("backoff: the jitter spreads clients and depends on the seed", "[client][backoff]") {
  const BackoffOptions o{1 * kSecond, 1 * kSecond};  // always the same nominal delay: only the jitter varies
  ReconnectPolicy a(o, 1), b(o, 2), a_again(o, 1);
  std::set<Nanos> seen;
  double sum = 0;
  const int n = 2000;
  bool differ = false;
  for (int i = 0; i < n; ++i) {
    const Nanos da = a.on_failure(0);
    CHECK(a_again.on_failure(0) == da);  // deterministic for a seed
    differ = differ || b.on_failure(0) != da;
    seen.insert(da);
    sum += static_cast<double>(da);
  }
  CHECK(differ);
  CHECK(seen.size() > static_cast<std::size_t>(n) * 9 / 10);
  const double mean = sum / n / static_cast<double>(kSecond);
  CHECK(mean > 0.95);
  CHECK(mean < 1.05);
  CHECK(*seen.begin() < 600 * kMillisecond);   // both ends of the range are reached
  CHECK(*seen.rbegin() > 1400 * kMillisecond);
}

TEST_CASE("backoff: success starts over", "[client][backoff]") {
  ReconnectPolicy p({100 * kMillisecond, 10 * kSecond}, 7);
  for (int i = 0; i < 8; ++i) p.on_failure(0);
  CHECK(p.on_failure(0) >= 5 * kSecond);  // 9th: capped at 10 s, jittered down to at least 5 s
  p.on_success();
  CHECK(p.consecutive_failures() == 0);
  const Nanos first = p.on_failure(0);
  CHECK(first >= 50 * kMillisecond);
  CHECK(first < 150 * kMillisecond);
}

TEST_CASE("backoff: Restarting sets the next dial, then steady retries until try_for", "[client][backoff]") {
  ReconnectPolicy p({100 * kMillisecond, 10 * kSecond}, 3);
  for (int i = 0; i < 6; ++i) p.on_failure(0);  // deep into backoff
  const Nanos t = 100 * kSecond;
  p.on_restarting(t, 2 * kSecond, 10 * kSecond);
  // The connection drops right after: the first dial is exactly when the server said, with no jitter.
  CHECK(p.on_failure(t + 1 * kMillisecond) == t + 2 * kSecond);
  // Until t + try_for, every failure retries after reconnect_in.
  CHECK(p.on_failure(t + 2 * kSecond) == t + 4 * kSecond);
  CHECK(p.on_failure(t + 9 * kSecond) == t + 11 * kSecond);
  // After it, backoff again (the failures kept counting: the server did not come back).
  const Nanos after = p.on_failure(t + 10 * kSecond) - (t + 10 * kSecond);
  CHECK(after >= 5 * kSecond);
  CHECK(after < 15 * kSecond);

  // reconnect_in 0: dial at once, and retry every base during the window.
  ReconnectPolicy q({100 * kMillisecond, 10 * kSecond}, 3);
  q.on_restarting(t, 0, 3 * kSecond);
  CHECK(q.on_failure(t + 5 * kMillisecond) == t + 5 * kMillisecond);
  CHECK(q.on_failure(t + 1 * kSecond) == t + 1 * kSecond + 100 * kMillisecond);

  // A success ends the hint: the next failure backs off from base.
  ReconnectPolicy r({100 * kMillisecond, 10 * kSecond}, 3);
  r.on_restarting(t, 2 * kSecond, 60 * kSecond);
  r.on_success();
  const Nanos d = r.on_failure(t + 1 * kSecond) - (t + 1 * kSecond);
  CHECK(d >= 50 * kMillisecond);
  CHECK(d < 150 * kMillisecond);
}

TEST_CASE("backoff: extreme options neither overflow nor stall", "[client][backoff]") {
  ReconnectPolicy zero({0, 0}, 1);
  CHECK(zero.on_failure(5) >= 5);
  ReconnectPolicy huge({1 * kSecond, derp::kNever / 4}, 1);
  Nanos last = 0;
  for (int i = 0; i < 200; ++i) last = huge.on_failure(derp::kNever / 2);
  CHECK(last >= derp::kNever / 2);
  CHECK(last < derp::kNever);
  ReconnectPolicy hint({1 * kSecond, 10 * kSecond}, 1);
  hint.on_restarting(derp::kNever - 10, derp::kNever - 1, derp::kNever - 1);
  CHECK(hint.on_failure(derp::kNever - 5) < derp::kNever);
}
