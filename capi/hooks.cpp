// include/derp/hooks.h: the global log sink and the allocator, and the helpers the other wrappers use them by.
#include "derp/hooks.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include <uv.h>

#include "capi/guard.hpp"

namespace {

struct LogSink {
  derp_log_fn fn = nullptr;
  void* user_data = nullptr;
  int min_level = DERP_LOG_INFO;
};

std::mutex g_log_mutex;
LogSink g_log;                          // under g_log_mutex
std::atomic<bool> g_log_set{false};     // fast path: no sink, no lock

struct Allocator {
  derp_malloc_fn malloc_fn = nullptr;
  derp_realloc_fn realloc_fn = nullptr;
  derp_free_fn free_fn = nullptr;
  void* user_data = nullptr;
};

// Written once by derp_set_allocator before any allocation it covers (the function refuses otherwise), then only
// read: plain reads after g_alloc_set's acquire load are safe.
Allocator g_alloc;
std::atomic<bool> g_alloc_set{false};
std::atomic<bool> g_capi_allocated{false};
std::mutex g_alloc_mutex;

// libuv's allocator has no user data: these read it from g_alloc.
void* uv_malloc_trampoline(std::size_t size) { return g_alloc.malloc_fn(size, g_alloc.user_data); }
void* uv_realloc_trampoline(void* p, std::size_t size) { return g_alloc.realloc_fn(p, size, g_alloc.user_data); }
void uv_free_trampoline(void* p) { g_alloc.free_fn(p, g_alloc.user_data); }
void* uv_calloc_trampoline(std::size_t count, std::size_t size) {
  if (size != 0 && count > SIZE_MAX / size) return nullptr;
  void* p = g_alloc.malloc_fn(count * size, g_alloc.user_data);
  if (p != nullptr) std::memset(p, 0, count * size);
  return p;
}

}  // namespace

namespace derp::capi {

void log_global(int level, std::string_view message) noexcept {
  if (!g_log_set.load(std::memory_order_acquire)) return;
  LogSink sink;
  {
    std::lock_guard<std::mutex> lock(g_log_mutex);
    sink = g_log;
  }
  // Outside the lock: a sink may log through other objects or call derp_set_log itself.
  if (sink.fn == nullptr || level < sink.min_level) return;
  try {
    const std::string line(message);
    sink.fn(level, line.c_str(), sink.user_data);
  } catch (...) {
    // Out of memory for a log line: drop it.
  }
}

void* allocate(std::size_t size) noexcept {
  g_capi_allocated.store(true, std::memory_order_relaxed);
  if (g_alloc_set.load(std::memory_order_acquire)) return g_alloc.malloc_fn(size, g_alloc.user_data);
  return std::malloc(size);
}

void deallocate(void* p) noexcept {
  if (p == nullptr) return;
  if (g_alloc_set.load(std::memory_order_acquire)) {
    g_alloc.free_fn(p, g_alloc.user_data);
  } else {
    std::free(p);
  }
}

}  // namespace derp::capi

extern "C" {

int derp_set_log(derp_log_fn fn, void* user_data, int min_level) {
  if (min_level < DERP_LOG_DEBUG || min_level > DERP_LOG_ERROR) return DERP_ERR_INVALID_ARGUMENT;
  std::lock_guard<std::mutex> lock(g_log_mutex);
  g_log.fn = fn;
  g_log.user_data = user_data;
  g_log.min_level = min_level;
  g_log_set.store(fn != nullptr, std::memory_order_release);
  return DERP_OK;
}

int derp_set_allocator(derp_malloc_fn malloc_fn, derp_realloc_fn realloc_fn, derp_free_fn free_fn, void* user_data,
                       unsigned flags) {
  if (malloc_fn == nullptr || realloc_fn == nullptr || free_fn == nullptr) return DERP_ERR_INVALID_ARGUMENT;
  if ((flags & ~DERP_ALLOCATOR_SKIP_LIBUV) != 0) return DERP_ERR_INVALID_ARGUMENT;
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  // Memory handed out by malloc must not reach the new free: refuse once anything could have been.
  if (g_alloc_set.load() || g_capi_allocated.load()) return DERP_ERR_UNSUPPORTED;
  g_alloc.malloc_fn = malloc_fn;
  g_alloc.realloc_fn = realloc_fn;
  g_alloc.free_fn = free_fn;
  g_alloc.user_data = user_data;
  if ((flags & DERP_ALLOCATOR_SKIP_LIBUV) == 0) {
    if (uv_replace_allocator(uv_malloc_trampoline, uv_realloc_trampoline, uv_calloc_trampoline,
                             uv_free_trampoline) != 0) {
      g_alloc = Allocator{};
      return DERP_ERR_UNSUPPORTED;
    }
  }
  g_alloc_set.store(true, std::memory_order_release);
  return DERP_OK;
}

}  // extern "C"
