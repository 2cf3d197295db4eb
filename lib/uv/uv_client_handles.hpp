// libuv handles whose memory outlives their owner: the owner may be destroyed at any time on the loop thread (a
// reconnect, stop(), a host tearing down), while libuv still needs each handle until its close callback. So every
// handle lives in a heap box that its own close callback frees, and callbacks reach the owner only through a
// pointer that the owner clears when it lets go. Loop thread only.
#pragma once

#include <cstdint>
#include <functional>

#include <uv.h>

namespace derp::uv {

// A one-shot or repeating timer with a std::function callback.
class TimerHandle {
 public:
  TimerHandle() = default;
  ~TimerHandle() { close(); }
  TimerHandle(const TimerHandle&) = delete;
  TimerHandle& operator=(const TimerHandle&) = delete;

  // 0 or a libuv error. Called once before start().
  int init(uv_loop_t* loop);
  // (Re)arms: fn runs after ms milliseconds. fn may destroy the TimerHandle (the box stays until its close).
  void start(std::uint64_t ms, std::function<void()> fn);
  void stop();
  // Idempotent; the memory goes in the close callback.
  void close();
  bool open() const { return box_ != nullptr; }

 private:
  struct Box {
    uv_timer_t timer;
    std::function<void()> fn;
  };
  static void on_timer(uv_timer_t* timer);
  Box* box_ = nullptr;
};

// A TCP handle allocated on the heap and freed by its close callback.
uv_tcp_t* new_tcp_handle(uv_loop_t* loop);
// Closes (idempotent per handle: a handle already closing is left alone) and frees it afterwards. handle->data is
// cleared first, so no read or connect callback that libuv still delivers can reach an owner.
void close_tcp_handle(uv_tcp_t* tcp);

}  // namespace derp::uv
