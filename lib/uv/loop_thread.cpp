#include "uv/loop_thread.hpp"

#include <utility>

#include "derp/common.h"

namespace derp::uv {

// ---- LoopTaskQueue -------------------------------------------------------------------------------------------

LoopTaskQueue::~LoopTaskQueue() = default;

int LoopTaskQueue::open(uv_loop_t* loop, bool keep_alive, std::string* detail) {
  if (open_) {
    *detail = "the task queue is already open";
    return DERP_ERR_UV_STATE;
  }
  if (const int rc = uv_async_init(loop, &async_, &LoopTaskQueue::on_async); rc != 0) {
    *detail = std::string("uv_async_init: ") + uv_strerror(rc);
    return DERP_ERR_UV_LOOP;
  }
  async_.data = this;
  open_ = true;
  closing_ = false;
  if (!keep_alive) uv_unref(reinterpret_cast<uv_handle_t*>(&async_));
  std::lock_guard<std::mutex> lock(mutex_);
  accepting_ = true;
  return DERP_OK;
}

bool LoopTaskQueue::post(std::function<void()> f) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!accepting_) return false;
  tasks_.push_back(std::move(f));
  // Under the lock: close() clears accepting_ under the same lock before uv_close, so no send can reach a
  // closing handle (uv_async_send on a closed handle is undefined).
  uv_async_send(&async_);
  return true;
}

void LoopTaskQueue::set_keep_alive(bool keep_alive) {
  if (!open_ || closing_) return;
  auto* handle = reinterpret_cast<uv_handle_t*>(&async_);
  if (keep_alive) {
    uv_ref(handle);
  } else {
    uv_unref(handle);
  }
}

void LoopTaskQueue::run_pending() {
  for (;;) {
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      batch.swap(tasks_);
    }
    if (batch.empty()) return;
    for (auto& task : batch) {
      try {
        task();
      } catch (...) {
        // Nobody to report to on the loop thread; a task must handle its own errors.
      }
    }
  }
}

void LoopTaskQueue::on_async(uv_async_t* async) { static_cast<LoopTaskQueue*>(async->data)->run_pending(); }

void LoopTaskQueue::close(std::function<void()> on_closed) {
  if (!open_ || closing_) {
    if (!open_ && on_closed) on_closed();
    return;
  }
  closing_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    accepting_ = false;
  }
  // Every post that returned true runs: callers that wait for their task (LoopThread::call) are never stranded.
  run_pending();
  on_closed_ = std::move(on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), [](uv_handle_t* h) {
    auto* self = static_cast<LoopTaskQueue*>(h->data);
    self->open_ = false;
    std::function<void()> done = std::move(self->on_closed_);
    if (done) done();
  });
}

// ---- LoopThread ----------------------------------------------------------------------------------------------

int LoopThread::start(uv_loop_t* loop, std::unique_ptr<LoopThread>* out, std::string* detail) {
  std::unique_ptr<LoopThread> t(new LoopThread(loop));
  if (const int rc = t->queue_.open(loop, /*keep_alive=*/true, detail); rc != DERP_OK) return rc;
  try {
    t->thread_ = std::thread([self = t.get()] { self->run(); });
  } catch (const std::system_error& e) {
    *detail = std::string("cannot start the loop thread: ") + e.what();
    // Nobody runs the loop: release the handle here.
    t->queue_.close();
    while (!t->queue_.released()) uv_run(loop, UV_RUN_NOWAIT);
    return DERP_ERR_NO_MEMORY;
  }
  *out = std::move(t);
  return DERP_OK;
}

LoopThread::~LoopThread() { stop(); }

void LoopThread::run() {
  thread_id_.store(std::this_thread::get_id());
  uv_run(loop_, UV_RUN_DEFAULT);
  // Every handle but the queue's is closed, and stop() un-referenced the queue. Tasks already accepted run now;
  // later posts are refused. Then the close callback, and whatever those last tasks opened, run to the end.
  queue_.close();
  while (uv_run(loop_, UV_RUN_DEFAULT) != 0) {
  }
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    finished_ = true;
  }
  finished_cv_.notify_all();
}

bool LoopThread::post(std::function<void()> f) { return queue_.post(std::move(f)); }

void LoopThread::call(const std::function<void()>& f) {
  if (on_loop_thread()) {
    f();
    return;
  }
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  const bool posted = queue_.post([&] {
    f();
    std::lock_guard<std::mutex> lock(m);
    done = true;
    cv.notify_one();
  });
  if (posted) {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return done; });
    return;
  }
  // The loop is finishing or finished: wait until its thread is done with it, then run here.
  {
    std::unique_lock<std::mutex> lock(state_mutex_);
    finished_cv_.wait(lock, [&] { return finished_; });
  }
  std::lock_guard<std::mutex> lock(after_mutex_);
  f();
}

void LoopThread::stop() {
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    if (!stop_requested_) {
      stop_requested_ = true;
      // A refused post means the loop already ended by itself; nothing to ask.
      queue_.post([this] { queue_.set_keep_alive(false); });
    }
  }
  if (on_loop_thread()) return;
  std::lock_guard<std::mutex> lock(join_mutex_);
  if (thread_.joinable()) thread_.join();
}

bool LoopThread::finished() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return finished_;
}

}  // namespace derp::uv
