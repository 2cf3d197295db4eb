// The one rule of capi/: no exception crosses into C. Every entry point runs its body through guarded().
#pragma once

#include <cstring>
#include <new>

#include "derp/common.h"

namespace derp::capi {

template <class Body>
int guarded(Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return DERP_ERR_NO_MEMORY;
  } catch (...) {
    return DERP_ERR_INTERNAL;
  }
}

}  // namespace derp::capi

// ---- shared by the C entry points: the process-wide hooks of include/derp/hooks.h (capi/hooks.cpp) ----------

#include <cstddef>
#include <string_view>
#include <utility>

namespace derp::capi {

// Sends a line to the global log sink when one is set and level reaches its minimum. Thread-safe, never throws.
void log_global(int level, std::string_view message) noexcept;

// Memory for C API handles, through the allocator of derp_set_allocator (malloc by default). Thread-safe.
void* allocate(std::size_t size) noexcept;
void deallocate(void* p) noexcept;

// new/delete for handle objects through allocate/deallocate. create throws std::bad_alloc (guarded() turns it into
// DERP_ERR_NO_MEMORY) and releases the memory if the constructor throws.
template <class T, class... Args>
T* create(Args&&... args) {
  void* memory = allocate(sizeof(T));
  if (memory == nullptr) throw std::bad_alloc();
  try {
    return new (memory) T(std::forward<Args>(args)...);
  } catch (...) {
    deallocate(memory);
    throw;
  }
}

template <class T>
void destroy(T* object) noexcept {
  if (object == nullptr) return;
  object->~T();
  deallocate(object);
}

}  // namespace derp::capi

// ---- shared by capi/server.cpp and capi/uv_server.cpp ---------------------------------------------------------

#include <string>

struct derp_server_options;
namespace derp::server {
struct ServerOptions;
}

namespace derp::capi {

// Turns a caller's derp_server_options (NULL: defaults; honouring struct_size) into the core's options: key
// (generated when zero), timeouts, limits, copies of the strings, and the log/admit callbacks as closures (log
// falls back to the global sink). DERP_OK, DERP_ERR_INVALID_ARGUMENT (*detail says which field) or
// DERP_ERR_CRYPTO_INIT. Defined in capi/server.cpp.
int server_options_from_c(const derp_server_options* opts, server::ServerOptions* out, std::string* detail);

}  // namespace derp::capi

// ---- shared by capi/client_conn.cpp and capi/client_uv*.cpp -----------------------------------------------------

struct derp_client_options;
struct derp_client_stats_t;
namespace derp::client {
struct ClientOptions;
}

namespace derp::capi {

// Versioned structs (struct_size first): copies the members of from that lie within caller_size, after the
// struct_size member itself, into to. What a program built against an older, shorter struct can see.
template <class Struct>
void copy_struct_prefix(const Struct& from, Struct* to, std::size_t caller_size) noexcept {
  const std::size_t begin = sizeof(std::size_t);
  const std::size_t end = caller_size < sizeof(Struct) ? caller_size : sizeof(Struct);
  if (end > begin) {
    std::memcpy(reinterpret_cast<unsigned char*>(to) + begin, reinterpret_cast<const unsigned char*>(&from) + begin,
                end - begin);
  }
}

// The *_init functions of versioned structs: the defaults, as far as the caller's struct_size reaches, and
// struct_size recorded as the caller's (the library reads only what lies within both). DERP_OK, or
// DERP_ERR_INVALID_ARGUMENT for NULL or a struct_size that cannot hold struct_size itself.
template <class Struct>
int init_versioned(Struct* out, std::size_t struct_size, const Struct& defaults) noexcept {
  if (out == nullptr || struct_size < sizeof(std::size_t)) return DERP_ERR_INVALID_ARGUMENT;
  copy_struct_prefix(defaults, out, struct_size);
  out->struct_size = struct_size;
  return DERP_OK;
}

// The caller's derp_client_options as a whole struct: the members within its struct_size, defaults beyond.
// DERP_OK, or DERP_ERR_INVALID_ARGUMENT (NULL, or a struct_size that does not reach private_key's end; *detail says
// which). Defined in capi/client_conn.cpp, as are the two below.
int client_options_read(const derp_client_options* opts, derp_client_options* out, std::string* detail);

// The core's options from them: key (zero refused), flags, timeouts, copies of the strings. host and path are left
// to the caller. DERP_OK or DERP_ERR_INVALID_ARGUMENT (*detail says which).
int client_options_to_core(const derp_client_options& o, client::ClientOptions* out, std::string* detail);

// Copies from into *to up to to->struct_size (which must hold struct_size itself). DERP_OK or
// DERP_ERR_INVALID_ARGUMENT.
int client_stats_write(const derp_client_stats_t& from, derp_client_stats_t* to);

}  // namespace derp::capi
