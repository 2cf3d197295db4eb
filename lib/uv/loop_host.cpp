#include "uv/loop_host.hpp"

#include <new>
#include <utility>

#include "derp/common.h"

namespace derp::uv {

int LoopHost::create(LoopHostOptions options, std::unique_ptr<LoopHost>* out, std::string* detail) {
  std::unique_ptr<LoopHost> h(new LoopHost(std::move(options)));
  if (h->options_.host_loop != nullptr) {
    h->loop_ = h->options_.host_loop;
  } else {
    const LoopMemory& m = h->options_.memory;
    void* memory = m.allocate != nullptr ? m.allocate(sizeof(uv_loop_t)) : ::operator new(sizeof(uv_loop_t), std::nothrow);
    if (memory == nullptr) {
      *detail = "no memory for the private loop";
      return DERP_ERR_NO_MEMORY;
    }
    auto* own = static_cast<uv_loop_t*>(memory);
    if (const int rc = uv_loop_init(own); rc != 0) {
      if (m.deallocate != nullptr) {
        m.deallocate(own);
      } else {
        ::operator delete(own);
      }
      *detail = std::string("uv_loop_init: ") + uv_strerror(rc);
      return DERP_ERR_UV_LOOP;
    }
    h->own_loop_ = own;
    h->loop_ = own;
  }
  *out = std::move(h);
  return DERP_OK;
}

LoopHost::~LoopHost() {
  thread_.reset();  // stop + join, if wind_down did not
  if (queue_) {
    queue_->close();
    while (!queue_->released()) uv_run(loop_, UV_RUN_NOWAIT);
    queue_.reset();
  }
  release_own_loop();
}

void LoopHost::release_own_loop() {
  if (own_loop_ == nullptr) return;
  // Close callbacks still due (an object that never ran, or handles its destructor closed).
  while (uv_run(own_loop_, UV_RUN_NOWAIT) != 0) {
  }
  if (uv_loop_close(own_loop_) != 0) {
    if (options_.log) options_.log("the private loop still has handles; leaked");
    own_loop_ = nullptr;
    return;
  }
  if (options_.memory.deallocate != nullptr) {
    options_.memory.deallocate(own_loop_);
  } else {
    ::operator delete(own_loop_);
  }
  own_loop_ = nullptr;
}

LoopHost::Mode LoopHost::mode() const {
  std::lock_guard<std::mutex> lock(mode_mutex_);
  return mode_;
}

int LoopHost::start_on_host_loop(bool tasks, const std::function<int()>& begin, std::string* detail) {
  std::lock_guard<std::mutex> lock(mode_mutex_);
  if (mode_ != Mode::Created || own_loop_ != nullptr) {
    *detail = "not a new host on the host's loop";
    return DERP_ERR_UV_STATE;
  }
  if (tasks) {
    auto queue = std::make_unique<LoopTaskQueue>();
    if (const int rc = queue->open(loop_, /*keep_alive=*/false, detail); rc != DERP_OK) return rc;
    queue_ = std::move(queue);
    queue_ptr_.store(queue_.get());
  }
  host_thread_.store(std::this_thread::get_id());
  if (const int rc = begin ? begin() : DERP_OK; rc != DERP_OK) {
    mode_ = Mode::Failed;
    if (queue_) queue_->close();  // released when the host runs its loop, or by the destructor
    return rc;
  }
  mode_ = Mode::HostLoop;
  return DERP_OK;
}

int LoopHost::start_thread(const std::function<int()>& before, std::function<void()> first_task,
                           std::string* detail) {
  std::lock_guard<std::mutex> lock(mode_mutex_);
  if (mode_ != Mode::Created) {
    *detail = "already started or stopped";
    return DERP_ERR_UV_STATE;
  }
  if (before) {
    if (const int rc = before(); rc != DERP_OK) {
      mode_ = Mode::Failed;
      return rc;
    }
  }
  std::unique_ptr<LoopThread> thread;
  if (const int rc = LoopThread::start(loop_, &thread, detail); rc != DERP_OK) {
    mode_ = Mode::Failed;
    return rc;
  }
  if (first_task) (void)thread->post(std::move(first_task));
  thread_ = std::move(thread);
  thread_ptr_.store(thread_.get());
  mode_ = Mode::Thread;
  return DERP_OK;
}

LoopHost::Mode LoopHost::stop(const std::function<void()>& on_loop) {
  Mode found;
  {
    std::lock_guard<std::mutex> lock(mode_mutex_);
    found = mode_;
    if (mode_ == Mode::Created) mode_ = Mode::Stopped;
  }
  if (found == Mode::HostLoop) {
    // Refused when the queue is already closed (the object stopped by itself) or there is none.
    if (!stop_begun_.exchange(true) && on_loop) (void)post(on_loop);
  } else if (found == Mode::Thread) {
    // Posted even from the loop thread: the caller may be inside a callback of what on_loop stops.
    if (!stop_begun_.exchange(true) && on_loop) (void)thread_->post(on_loop);  // refused once the loop finished
    thread_->stop();  // joins, except from the loop thread itself
  }
  return found;
}

void LoopHost::wind_down(const std::function<void()>& close_now) {
  if (LoopThread* t = thread_ptr_.load()) {
    if (!stop_begun_.exchange(true) && close_now) (void)t->post(close_now);
    t->stop();  // joins
  }
  if (queue_) queue_->close();
}

bool LoopHost::on_loop_thread() const {
  if (const LoopThread* t = thread_ptr_.load()) return t->on_loop_thread();
  return host_thread_.load() == std::this_thread::get_id();
}

bool LoopHost::loop_is_elsewhere() const {
  if (const LoopThread* t = thread_ptr_.load()) return !t->on_loop_thread();
  const std::thread::id host = host_thread_.load();
  return host != std::thread::id() && host != std::this_thread::get_id();
}

bool LoopHost::post(std::function<void()> f) {
  if (LoopThread* t = thread_ptr_.load()) return t->post(std::move(f));
  if (LoopTaskQueue* q = queue_ptr_.load()) return q->post(std::move(f));
  return false;
}

bool LoopHost::call(const std::function<void()>& f) {
  if (LoopThread* t = thread_ptr_.load()) {
    t->call(f);
    return true;
  }
  if (loop_is_elsewhere()) return false;
  f();
  return true;
}

void LoopHost::close_tasks() {
  if (queue_) queue_->close();
}

}  // namespace derp::uv
