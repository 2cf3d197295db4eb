// A HostedUvClient's events as values (UvClientEvent), and the bounded queue that lets any thread take them in
// turn (UvClientEventQueue) instead of, or as well as, a callback on the loop thread. The C API's derp_uv_client
// events are these, field for field.
//
// The drop policy: when the queue is full, the oldest PACKET goes (the new one itself when none is queued), and is
// counted. Every other kind is always kept, so the queue may exceed its bound by them: they are few, and losing
// CONNECTED or CLOSED would lie. After CLOSED has been taken every later take returns DERP_ERR_CLOSED at once.
//
// The event fd (event_fd) is readable exactly while a take would not wait: events are queued, or CLOSED was taken.
//
// Thread-safety: every method, from any thread (one mutex).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "common/bytes.hpp"
#include "common/time.hpp"
#include "crypto/node_key.hpp"
#include "derp/common.h"
#include "path/path_core.hpp"
#include "uv/wake_fd.hpp"

namespace derp::uv {

// The values match the C API's DERP_CLIENT_EVENT_* (capi/ checks it).
enum class UvClientEventType : int {
  kConnected = 1,     // key = the server's key
  kServerInfo = 2,    // server_version, token_bucket_*
  kPacket = 3,        // key = source, data = payload, via
  kPeerGone = 4,      // key = peer, reason
  kPeerPresent = 5,   // key = peer, endpoint, flags
  kHealth = 6,        // data = problem text (empty: healthy again)
  kRestarting = 7,    // reconnect_in, try_for
  kPingResult = 8,    // ping_id, error, rtt
  kDisconnected = 9,  // error, detail, retry_in (kNever: no retry)
  kClosed = 10,       // the last event: error (DERP_OK after a stop the host asked for), detail
  kPathChanged = 11,  // key = peer, via, endpoint, rtt
};

struct UvClientEvent {
  UvClientEventType type = UvClientEventType::kConnected;
  crypto::NodePublic key;
  // Valid during the callback; for a taken event, in the caller's buffer.
  Bytes data;
  const char* detail = nullptr;  // NUL-terminated (DISCONNECTED, CLOSED), else null
  int error = DERP_OK;
  std::uint8_t reason = 0;
  std::uint8_t flags = 0;
  derp_addr endpoint{};
  std::uint64_t ping_id = 0;
  Nanos rtt = 0;
  Nanos reconnect_in = 0;
  Nanos try_for = 0;
  Nanos retry_in = 0;
  int server_version = 0;
  std::int64_t token_bucket_bytes_per_second = 0;
  std::int64_t token_bucket_bytes_burst = 0;
  path::Via via = path::Via::kDerp;
};

class UvClientEventQueue {
 public:
  // max_events >= 1: the bound of the drop policy above.
  explicit UvClientEventQueue(std::size_t max_events) : max_events_(max_events) {}
  UvClientEventQueue(const UvClientEventQueue&) = delete;
  UvClientEventQueue& operator=(const UvClientEventQueue&) = delete;

  // Copies the event (its data and detail too) to the back, by the drop policy.
  void push(const UvClientEvent& event);

  // Waits for the front event (timeout_ms < 0: as long as it takes) and takes it: data, then detail with its NUL,
  // are copied into buf and *event points there. DERP_OK; DERP_ERR_BUFFER_TOO_SMALL (the event stays queued;
  // *event is it without data or detail, *needed what buf must hold); DERP_ERR_TIMEOUT; DERP_ERR_CLOSED once CLOSED
  // was taken. needed may be null.
  int take(int timeout_ms, UvClientEvent* event, MutableBytes buf, std::size_t* needed);

  // The event fd, made on first use. DERP_OK or WakeFd::open's error.
  int event_fd(int* fd_out);

  std::uint64_t dropped() const;
  std::size_t size() const;

 private:
  struct Queued {
    UvClientEvent event;  // data and detail cleared; the bytes are below
    std::vector<std::uint8_t> data;
    std::string detail;
    bool has_detail = false;
  };

  const std::size_t max_events_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;  // under mutex_
  bool closed_taken_ = false;  // under mutex_
  std::uint64_t dropped_ = 0;  // under mutex_
  WakeFd wake_;                // under mutex_: set while take would not wait
};

}  // namespace derp::uv
