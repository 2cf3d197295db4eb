// A file descriptor an event loop can poll for "something to take": readable while it is set, not while it is
// clear. derp_uv_client_event_fd hands one out so that asyncio (loop.add_reader), epoll or uv_poll can wait for
// derp_uv_client_next_event without a thread blocked in it. Linux: an eventfd; other POSIX systems: a pipe.
//
// Not thread-safe by itself: the owner calls set/clear under the lock that guards what the flag stands for (the
// client's event queue), so the descriptor's state always matches the queue's.
#pragma once

namespace derp::capi {

class WakeFd {
 public:
  WakeFd() = default;
  WakeFd(const WakeFd&) = delete;
  WakeFd& operator=(const WakeFd&) = delete;
  ~WakeFd();

  // Makes the descriptor (clear, non-blocking, close-on-exec). DERP_OK, or DERP_ERR_NO_MEMORY when the system
  // has no descriptor to give, DERP_ERR_UNSUPPORTED where neither eventfd nor pipe exists.
  int open();
  bool is_open() const { return read_fd_ >= 0; }
  int fd() const { return read_fd_; }

  // Makes it readable (nothing when it already is, or is not open).
  void set();
  // Makes it not readable (nothing when it already is not, or is not open).
  void clear();

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;  // the same as read_fd_ for an eventfd
  bool set_ = false;
};

}  // namespace derp::capi
