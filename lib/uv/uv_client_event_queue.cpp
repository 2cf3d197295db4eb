#include "uv/uv_client_event_queue.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

namespace derp::uv {

void UvClientEventQueue::push(const UvClientEvent& e) {
  Queued q;
  q.event = e;
  q.event.data = {};
  q.event.detail = nullptr;
  if (!e.data.empty()) q.data.assign(e.data.begin(), e.data.end());
  if (e.detail != nullptr) {
    q.detail = e.detail;
    q.has_detail = true;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.size() >= max_events_) {
      const auto oldest_packet = std::find_if(queue_.begin(), queue_.end(), [](const Queued& x) {
        return x.event.type == UvClientEventType::kPacket;
      });
      if (oldest_packet != queue_.end()) {
        queue_.erase(oldest_packet);
        dropped_++;
      } else if (e.type == UvClientEventType::kPacket) {
        dropped_++;
        return;
      }
    }
    queue_.push_back(std::move(q));
    wake_.set();
  }
  cv_.notify_all();
}

int UvClientEventQueue::take(int timeout_ms, UvClientEvent* event, MutableBytes buf, std::size_t* needed) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (closed_taken_) return DERP_ERR_CLOSED;
  const auto ready = [this] { return !queue_.empty(); };
  if (timeout_ms < 0) {
    cv_.wait(lock, ready);
  } else if (!cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), ready)) {
    return DERP_ERR_TIMEOUT;
  }
  const Queued& q = queue_.front();
  const std::size_t need = q.data.size() + (q.has_detail ? q.detail.size() + 1 : 0);
  if (needed != nullptr) *needed = need;
  *event = q.event;
  if (need > buf.size()) return DERP_ERR_BUFFER_TOO_SMALL;
  if (!q.data.empty()) {
    std::memcpy(buf.data(), q.data.data(), q.data.size());
    event->data = Bytes(buf.data(), q.data.size());
  }
  if (q.has_detail) {
    char* text = reinterpret_cast<char*>(buf.data() + q.data.size());
    std::memcpy(text, q.detail.c_str(), q.detail.size() + 1);
    event->detail = text;
  }
  if (q.event.type == UvClientEventType::kClosed) closed_taken_ = true;
  queue_.pop_front();
  // After CLOSED it stays readable: every later take returns DERP_ERR_CLOSED at once.
  if (queue_.empty() && !closed_taken_) wake_.clear();
  return DERP_OK;
}

int UvClientEventQueue::event_fd(int* fd_out) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!wake_.is_open()) {
    if (const int rc = wake_.open(); rc != DERP_OK) return rc;
    if (!queue_.empty() || closed_taken_) wake_.set();
  }
  *fd_out = wake_.fd();
  return DERP_OK;
}

std::uint64_t UvClientEventQueue::dropped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dropped_;
}

std::size_t UvClientEventQueue::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

}  // namespace derp::uv
