// include/derp/hooks.h: the allocator hook covers what its comment claims (counted through a counting allocator),
// and refuses to be set late. The allocator must be set before anything else in a process, so the counting half
// runs in a fresh copy of this test program (a hidden test case), started by the visible one.
#include <catch2/catch.hpp>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <uv.h>

#include "derp/hooks.h"
#include "derp/server.h"
#include "derp/uv.h"

extern char** environ;

namespace {

struct Counts {
  std::atomic<long> mallocs{0};
  std::atomic<long> reallocs{0};
  std::atomic<long> frees{0};  // non-NULL frees
  std::atomic<long> live{0};   // blocks handed out and not yet freed
};

// A size header in front of each block, so realloc/free can be checked against malloc.
void* count_malloc(std::size_t size, void* user_data) {
  auto* c = static_cast<Counts*>(user_data);
  auto* p = static_cast<std::max_align_t*>(std::malloc(sizeof(std::max_align_t) + (size == 0 ? 1 : size)));
  if (p == nullptr) return nullptr;
  ++c->mallocs;
  ++c->live;
  return p + 1;
}
void count_free(void* ptr, void* user_data) {
  if (ptr == nullptr) return;
  auto* c = static_cast<Counts*>(user_data);
  ++c->frees;
  --c->live;
  std::free(static_cast<std::max_align_t*>(ptr) - 1);
}
void* count_realloc(void* ptr, std::size_t size, void* user_data) {
  auto* c = static_cast<Counts*>(user_data);
  ++c->reallocs;
  if (ptr == nullptr) return count_malloc(size, user_data);
  auto* p = static_cast<std::max_align_t*>(
      std::realloc(static_cast<std::max_align_t*>(ptr) - 1, sizeof(std::max_align_t) + (size == 0 ? 1 : size)));
  return p == nullptr ? nullptr : p + 1;
}

Counts g_counts;

}  // namespace

TEST_CASE("hooks C API: the allocator refuses bad arguments and a late call", "[capi-server]") {
  CHECK(derp_set_allocator(nullptr, count_realloc, count_free, nullptr, 0) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_set_allocator(count_malloc, nullptr, count_free, nullptr, 0) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_set_allocator(count_malloc, count_realloc, nullptr, nullptr, 0) == DERP_ERR_INVALID_ARGUMENT);
  CHECK(derp_set_allocator(count_malloc, count_realloc, count_free, nullptr, 0x80) == DERP_ERR_INVALID_ARGUMENT);
  // Once the C API has allocated a handle, switching would free malloc's blocks with the new free: refused.
  derp_server* server = nullptr;
  REQUIRE(derp_server_new(nullptr, &server) == DERP_OK);
  CHECK(derp_set_allocator(count_malloc, count_realloc, count_free, &g_counts, DERP_ALLOCATOR_SKIP_LIBUV) ==
        DERP_ERR_UNSUPPORTED);
  derp_server_free(server);
  CHECK(g_counts.mallocs == 0);
}

TEST_CASE("hooks C API: in a fresh process the allocator sees every handle and libuv's memory", "[capi-server]") {
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(n > 0);
  self[n] = '\0';
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.emplace_back("DERP_HOOKS_CHILD=1");
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string tag = "[.capi-hooks-child]";
  std::string quiet = "--use-colour=no";
  char* argv[] = {self, tag.data(), quiet.data(), nullptr};
  pid_t pid = 0;
  REQUIRE(::posix_spawn(&pid, self, nullptr, nullptr, argv, envp.data()) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);  // the child's own checks passed (its output above says which failed, if any)
}

// Runs only in the child started above: the first derp call of the process is derp_set_allocator.
TEST_CASE("hooks C API child: counting allocator", "[.capi-hooks-child]") {
  if (std::getenv("DERP_HOOKS_CHILD") == nullptr) return;  // someone ran the hidden tests by hand
  REQUIRE(derp_set_allocator(count_malloc, count_realloc, count_free, &g_counts, 0) == DERP_OK);
  CHECK(derp_set_allocator(count_malloc, count_realloc, count_free, &g_counts, 0) == DERP_ERR_UNSUPPORTED);

  // The sans-IO server: one block for the server handle, one per connection handle.
  derp_server* server = nullptr;
  REQUIRE(derp_server_new(nullptr, &server) == DERP_OK);
  CHECK(g_counts.mallocs == 1);
  derp_addr from{};
  REQUIRE(derp_addr_parse("127.0.0.1:5", &from) == DERP_OK);
  derp_server_conn* a = nullptr;
  derp_server_conn* b = nullptr;
  REQUIRE(derp_server_accept(server, &from, 1, &a) == DERP_OK);
  REQUIRE(derp_server_accept(server, &from, 1, &b) == DERP_OK);
  CHECK(g_counts.mallocs == 3);
  REQUIRE(derp_server_conn_remove(a, 2) == DERP_OK);
  CHECK(g_counts.frees == 1);
  derp_server_free(server);  // b's handle goes with it
  CHECK(g_counts.frees == 3);
  CHECK(g_counts.live == 0);

  // The libuv server on its own loop and thread: the handle, the loop struct, and libuv's own allocations.
  const long before = g_counts.mallocs;
  derp_uv_server* s = nullptr;
  REQUIRE(derp_uv_server_new(nullptr, nullptr, &s) == DERP_OK);
  CHECK(g_counts.mallocs >= before + 2);  // handle + uv_loop_t (+ whatever uv_loop_init allocates)
  REQUIRE(derp_uv_server_start_thread(s) == DERP_OK);
  REQUIRE(derp_uv_server_stop(s) == DERP_OK);
  derp_uv_server_free(s);
  CHECK(g_counts.live == 0);  // everything covered was given back through our free

  // A host loop: libuv's allocations for it go through the hook too.
  const long before_loop = g_counts.mallocs;
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  CHECK(g_counts.mallocs > before_loop);
  REQUIRE(uv_loop_close(&loop) == 0);
  CHECK(g_counts.live == 0);
}
