// lib/uv/loop_host.hpp: the mode machine of "your loop or our thread" (start on a host loop, start a thread, stop
// from any thread, post and call, release of a private loop). Threads other than the test's never use Catch2
// macros: they record, the test thread checks. Every wait is bounded.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "support/uv_client_test_loop.hpp"
#include "uv/loop_host.hpp"

using derp::uv::LoopHost;
using derp::uv::LoopHostOptions;

namespace {

// Spins (bounded) until pred() holds.
template <class Pred>
bool wait_for(Pred pred) {
  for (int i = 0; i < 5000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

std::atomic<int> g_allocations{0};
std::atomic<int> g_frees{0};
void* counting_allocate(std::size_t n) {
  g_allocations++;
  return std::malloc(n);
}
void counting_free(void* p) {
  g_frees++;
  std::free(p);
}

}  // namespace

TEST_CASE("loop host thread: a private loop on our thread, post, call, stop from another thread", "[uv][loophost]") {
  LoopHostOptions o;
  o.memory.allocate = counting_allocate;
  o.memory.deallocate = counting_free;
  const int allocations_before = g_allocations.load();
  const int frees_before = g_frees.load();
  {
    std::unique_ptr<LoopHost> host;
    std::string detail;
    REQUIRE(LoopHost::create(std::move(o), &host, &detail) == DERP_OK);
    CHECK(host->owns_loop());
    CHECK(g_allocations.load() == allocations_before + 1);  // the private loop, through the given allocator
    CHECK(host->mode() == LoopHost::Mode::Created);
    CHECK_FALSE(host->loop_is_elsewhere());
    CHECK_FALSE(host->post([] {}));  // nobody runs the loop yet

    std::atomic<bool> before_ran{false};
    std::atomic<bool> first_on_loop{false};
    REQUIRE(host->start_thread([&] {
      before_ran = true;
      return DERP_OK;
    }, [&] { first_on_loop = host->on_loop_thread(); }, &detail) == DERP_OK);
    CHECK(before_ran.load());
    CHECK(host->mode() == LoopHost::Mode::Thread);
    CHECK(host->thread_mode());
    CHECK(host->loop_is_elsewhere());
    CHECK_FALSE(host->on_loop_thread());
    std::string again;
    CHECK(host->start_thread({}, {}, &again) == DERP_ERR_UV_STATE);

    // call() runs on the loop thread and waits.
    bool on_loop = false;
    REQUIRE(host->call([&] { on_loop = host->on_loop_thread(); }));
    CHECK(on_loop);
    CHECK(first_on_loop.load());

    // A timer on the loop: stop's work closes it, so the loop can finish; stop from another thread joins.
    uv_timer_t timer{};
    std::atomic<bool> closed{false};
    REQUIRE(host->call([&] {
      uv_timer_init(host->loop(), &timer);
      uv_timer_start(&timer, [](uv_timer_t*) {}, 1000000, 1000000);
    }));
    std::atomic<int> stop_work_runs{0};
    std::atomic<bool> stop_work_on_loop{false};
    LoopHost::Mode found = LoopHost::Mode::Created;
    std::thread stopper([&] {
      found = host->stop([&] {
        stop_work_runs++;
        stop_work_on_loop = host->on_loop_thread();
        uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
        closed = true;
      });
    });
    stopper.join();  // stop() returned: the thread was joined
    CHECK(found == LoopHost::Mode::Thread);
    CHECK(closed.load());
    CHECK(stop_work_runs.load() == 1);
    CHECK(stop_work_on_loop.load());
    // Again, from this thread: nothing more runs, nothing blocks.
    CHECK(host->stop([&] { stop_work_runs++; }) == LoopHost::Mode::Thread);
    CHECK(stop_work_runs.load() == 1);
    CHECK_FALSE(host->post([] {}));  // the loop has finished
    bool after = false;
    CHECK(host->call([&] { after = true; }));  // runs here, once the loop is done
    CHECK(after);
  }
  CHECK(g_frees.load() == frees_before + 1);  // the private loop released through the same allocator
}

TEST_CASE("loop host thread: host-loop mode posts from another thread through an unreferenced queue",
          "[uv][loophost]") {
  derp::uvclienttest::TestLoop loop;
  {
    LoopHostOptions o;
    o.host_loop = loop.get();
    std::unique_ptr<LoopHost> host;
    std::string detail;
    REQUIRE(LoopHost::create(std::move(o), &host, &detail) == DERP_OK);
    CHECK_FALSE(host->owns_loop());
    CHECK(host->loop() == loop.get());
    int begins = 0;
    REQUIRE(host->start_on_host_loop(/*tasks=*/true, [&] {
      begins++;
      return DERP_OK;
    }, &detail) == DERP_OK);
    CHECK(begins == 1);
    CHECK(host->mode() == LoopHost::Mode::HostLoop);
    CHECK(host->on_loop_thread());  // the thread that started it
    CHECK_FALSE(host->loop_is_elsewhere());
    CHECK(host->start_on_host_loop(true, {}, &detail) == DERP_ERR_UV_STATE);

    // Another thread: not the loop's; its post and its stop reach the loop.
    std::atomic<bool> elsewhere{false};
    std::atomic<bool> posted_ran_on_loop{false};
    std::atomic<int> stop_runs{0};
    LoopHost::Mode found = LoopHost::Mode::Created;
    std::thread other([&] {
      elsewhere = host->loop_is_elsewhere() && !host->on_loop_thread();
      (void)host->post([&] { posted_ran_on_loop = host->on_loop_thread(); });
      found = host->stop([&] { stop_runs++; });
      (void)host->stop([&] { stop_runs++; });  // idempotent: nothing more is posted
    });
    other.join();
    CHECK(elsewhere.load());
    CHECK(found == LoopHost::Mode::HostLoop);
    REQUIRE(loop.run_until([&] { return posted_ran_on_loop.load() && stop_runs.load() == 1; }));
    loop.run_for(20);
    CHECK(stop_runs.load() == 1);
    // The owner's object stopped: the queue closes, and later posts are refused.
    host->close_tasks();
    CHECK_FALSE(host->post([] {}));
  }
  CHECK(loop.finish() == 0);  // the queue's handle was released: nothing left on the host's loop
}

TEST_CASE("loop host: stop before start, a failed start, and host-loop mode on a private loop are refused",
          "[uv][loophost]") {
  std::string detail;
  {
    std::unique_ptr<LoopHost> host;
    REQUIRE(LoopHost::create({}, &host, &detail) == DERP_OK);
    bool ran = false;
    CHECK(host->stop([&] { ran = true; }) == LoopHost::Mode::Created);
    CHECK_FALSE(ran);  // nothing runs the loop: the owner stops what never ran itself
    CHECK(host->mode() == LoopHost::Mode::Stopped);
    CHECK(host->start_thread({}, {}, &detail) == DERP_ERR_UV_STATE);
    CHECK(host->stop({}) == LoopHost::Mode::Stopped);
  }
  {
    std::unique_ptr<LoopHost> host;
    REQUIRE(LoopHost::create({}, &host, &detail) == DERP_OK);
    CHECK(host->start_on_host_loop(false, {}, &detail) == DERP_ERR_UV_STATE);  // a private loop: thread mode only
    CHECK(host->start_thread([] { return DERP_ERR_UV_LISTEN; }, {}, &detail) == DERP_ERR_UV_LISTEN);
    CHECK(host->mode() == LoopHost::Mode::Failed);
    CHECK_FALSE(host->thread_mode());
    CHECK(host->stop({}) == LoopHost::Mode::Failed);
  }
  derp::uvclienttest::TestLoop loop;
  {
    LoopHostOptions o;
    o.host_loop = loop.get();
    std::unique_ptr<LoopHost> host;
    REQUIRE(LoopHost::create(std::move(o), &host, &detail) == DERP_OK);
    CHECK(host->start_on_host_loop(true, [] { return DERP_ERR_UV_LISTEN; }, &detail) == DERP_ERR_UV_LISTEN);
    CHECK(host->mode() == LoopHost::Mode::Failed);
    CHECK_FALSE(host->post([] {}));
  }
  CHECK(loop.finish() == 0);
}
