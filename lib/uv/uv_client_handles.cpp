#include "uv/uv_client_handles.hpp"

namespace derp::uv {

int TimerHandle::init(uv_loop_t* loop) {
  if (box_ != nullptr) return 0;
  auto* box = new Box{};
  if (const int rc = uv_timer_init(loop, &box->timer); rc != 0) {
    delete box;
    return rc;
  }
  box->timer.data = box;
  box_ = box;
  return 0;
}

void TimerHandle::on_timer(uv_timer_t* timer) {
  auto* box = static_cast<Box*>(timer->data);
  if (!box->fn) return;
  // A copy: fn may re-arm the timer with another function, which would destroy the running one.
  const std::function<void()> fn = box->fn;
  fn();
}

void TimerHandle::start(std::uint64_t ms, std::function<void()> fn) {
  if (box_ == nullptr) return;
  box_->fn = std::move(fn);
  uv_timer_start(&box_->timer, on_timer, ms, 0);
}

void TimerHandle::stop() {
  if (box_ != nullptr) uv_timer_stop(&box_->timer);
}

void TimerHandle::close() {
  if (box_ == nullptr) return;
  Box* box = box_;
  box_ = nullptr;
  uv_timer_stop(&box->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&box->timer),
           [](uv_handle_t* h) { delete static_cast<Box*>(h->data); });
}

uv_tcp_t* new_tcp_handle(uv_loop_t* loop) {
  auto* tcp = new uv_tcp_t{};
  if (uv_tcp_init(loop, tcp) != 0) {
    delete tcp;
    return nullptr;
  }
  tcp->data = nullptr;
  return tcp;
}

void close_tcp_handle(uv_tcp_t* tcp) {
  if (tcp == nullptr) return;
  tcp->data = nullptr;
  auto* handle = reinterpret_cast<uv_handle_t*>(tcp);
  if (uv_is_closing(handle)) return;
  uv_close(handle, [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
}

}  // namespace derp::uv
