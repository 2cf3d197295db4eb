// Running work on a libuv loop from other threads, and running a loop on a thread of its own. libuv is not
// thread-safe: apart from uv_async_send, every call on a loop and its handles must happen on the thread that runs
// it. These two classes are the one way the C API (and any other host) crosses that line.
//
//   LoopTaskQueue  a uv_async_t plus a mutex-protected queue: post(f) from any thread, f runs on the loop thread.
//                  Usable on any loop, including one the host runs itself.
//   LoopThread     owns a std::thread running uv_run on a loop, with a LoopTaskQueue; post/call from any thread;
//                  stop() lets the loop finish its handles and joins.
//
// Typical use (the library-run server of capi/uv_server.cpp, later the client):
//   std::unique_ptr<LoopThread> t;
//   LoopThread::start(loop, &t, &detail);          // the loop now runs on t's thread
//   t->call([&] { value = read_state(); });        // any thread: runs on the loop thread, waits
//   t->post([&] { server->shutdown(...); });        // any thread: begin closing handles
//   t->stop();                                      // the loop ends once its handles are closed; joins
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <uv.h>

namespace derp::uv {

class LoopTaskQueue {
 public:
  LoopTaskQueue() = default;
  // The handle must be released (close() done and its callback run) or never opened. Thread: the loop's.
  ~LoopTaskQueue();
  LoopTaskQueue(const LoopTaskQueue&) = delete;
  LoopTaskQueue& operator=(const LoopTaskQueue&) = delete;

  // Opens the uv_async_t on loop. Thread: the loop's, or any thread while nobody runs the loop. keep_alive = false
  // un-references the handle, so an idle queue does not keep uv_run from returning (posts still wake a running
  // loop). DERP_OK, or DERP_ERR_UV_LOOP (*detail says why).
  int open(uv_loop_t* loop, bool keep_alive, std::string* detail);

  // Queues f to run on the loop thread, in posting order. Thread-safe. False once close() has begun (or before
  // open): f is then dropped, not run. A task that throws is ignored (it must not: there is nobody to tell).
  bool post(std::function<void()> f);

  // Whether the handle keeps the loop alive. Thread: the loop's.
  void set_keep_alive(bool keep_alive);

  // Stops accepting posts, runs the tasks already queued, then closes the handle. on_closed runs on the loop
  // thread once libuv has released it; only then may the object be destroyed. Thread: the loop's. Idempotent.
  void close(std::function<void()> on_closed = {});

  // True once the handle has been released (or was never opened). Thread: the loop's.
  bool released() const { return !open_; }

  // Runs the queued tasks now. Thread: the loop's (the async callback does this; exposed for shutdown paths).
  void run_pending();

 private:
  static void on_async(uv_async_t* async);

  uv_async_t async_{};
  std::mutex mutex_;
  std::vector<std::function<void()>> tasks_;  // under mutex_
  bool accepting_ = false;                    // under mutex_
  bool open_ = false;
  bool closing_ = false;
  std::function<void()> on_closed_;
};

class LoopThread {
 public:
  // Starts a thread that runs loop (initialised, run by nobody else) with uv_run(UV_RUN_DEFAULT) until stop().
  // The loop stays up while idle: the task queue keeps it alive until stop(). Thread: any, while nobody runs the
  // loop. DERP_OK, DERP_ERR_UV_LOOP or DERP_ERR_NO_MEMORY (*detail says why).
  static int start(uv_loop_t* loop, std::unique_ptr<LoopThread>* out, std::string* detail);

  // stop(), then joins. Thread: any but the loop thread.
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  uv_loop_t* loop() const { return loop_; }
  // True on the thread that runs the loop. Thread-safe.
  bool on_loop_thread() const { return std::this_thread::get_id() == thread_id_; }

  // Runs f on the loop thread, soon. Thread-safe. False when the loop has finished (after stop): f is dropped.
  bool post(std::function<void()> f);

  // Runs f serialised with the loop and waits for it: on the loop thread (inline when called from it), or, once
  // the loop has finished, on the caller's thread after the loop thread is done with the loop, one caller at a
  // time. Either way f never runs concurrently with the loop's callbacks. Thread-safe. Do not call it from a
  // thread the loop thread itself waits for.
  void call(const std::function<void()>& f);

  // Lets the loop finish: the task queue stops keeping it alive, so uv_run returns once every other handle is
  // closed (post your own shutdown first; posts keep working while the handles drain). Then joins the thread.
  // From the loop thread itself it only asks, and returns at once; the destructor joins. Thread-safe,
  // idempotent; concurrent callers all return after the join.
  void stop();

  // True once the loop thread has finished with the loop (uv_run returned and the queue's handle is closed).
  // Thread-safe.
  bool finished() const;

 private:
  explicit LoopThread(uv_loop_t* loop) : loop_(loop) {}
  void run();

  uv_loop_t* loop_;
  LoopTaskQueue queue_;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};  // written by the loop thread itself as it starts

  mutable std::mutex state_mutex_;
  std::condition_variable finished_cv_;
  bool finished_ = false;      // under state_mutex_
  bool stop_requested_ = false;  // under state_mutex_
  std::mutex join_mutex_;      // one joiner at a time
  std::mutex after_mutex_;     // serialises call() once the loop has finished
};

}  // namespace derp::uv
