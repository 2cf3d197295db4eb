// "Your loop or our thread": who runs the loop a lib/uv object lives on, written once for every such object (the
// hosted server and client, hence derp_uv_server and derp_uv_client of the C API).
//
//   host-loop mode  the host runs its own loop; start_on_host_loop() is called on that loop's thread, which is
//                   recorded. Optionally a task queue (unreferenced: it never keeps the host's loop alive) lets
//                   other threads post work to it.
//   thread mode     a LoopThread of ours runs the loop (the host's or, with no host loop, a private one made here).
//
// The mode machine: Created → HostLoop | Thread | Failed, and → Stopped on a stop before any start. stop() may be
// called from any thread, any number of times; the first one runs the owner's stop work on the loop thread.
//
// Lifetime of an owner (the object driven on the loop, e.g. a UvServer):
//   host->wind_down(close_now);   // thread mode: joins the thread; host-loop: closes the task queue
//   owner_object.reset();         // the object's handles close
//   host.reset();                 // waits for the task queue's handle, closes and frees the private loop
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <uv.h>

#include "uv/loop_thread.hpp"

namespace derp::uv {

// Where the private loop's memory comes from (the C API passes its allocator). Both null: new/delete.
struct LoopMemory {
  void* (*allocate)(std::size_t size) = nullptr;
  void (*deallocate)(void* p) = nullptr;
};

struct LoopHostOptions {
  // The host's loop, or null: a private loop is made (run only by start_thread's thread, or by nobody).
  uv_loop_t* host_loop = nullptr;
  LoopMemory memory;
  // A line when something cannot be released (a private loop that still has handles at the end). May be empty.
  std::function<void(std::string_view)> log;
};

class LoopHost {
 public:
  enum class Mode { Created, HostLoop, Thread, Failed, Stopped };

  // DERP_OK; DERP_ERR_NO_MEMORY or DERP_ERR_UV_LOOP (the private loop; *detail says why).
  static int create(LoopHostOptions options, std::unique_ptr<LoopHost>* out, std::string* detail);

  // Joins the thread if wind_down did not; waits for the task queue's handle (running the host's loop with
  // UV_RUN_NOWAIT: call it on the loop thread, outside uv_run); runs the private loop until its handles are
  // released, then closes and frees it (leaked, and logged, if something still holds it).
  ~LoopHost();
  LoopHost(const LoopHost&) = delete;
  LoopHost& operator=(const LoopHost&) = delete;

  uv_loop_t* loop() const { return loop_; }
  bool owns_loop() const { return own_loop_ != nullptr; }
  Mode mode() const;

  // Host-loop mode, on the thread that runs the host's loop (recorded). tasks: open the task queue for post().
  // begin() runs here, after the queue opened (bind, dial); its error leaves the host Failed. DERP_ERR_UV_STATE
  // unless Created with a host loop; DERP_ERR_UV_LOOP (the queue; *detail).
  int start_on_host_loop(bool tasks, const std::function<int()>& begin, std::string* detail);

  // Thread mode, from any thread while nobody runs the loop. before() runs here first (so binding errors come back
  // synchronously; may be empty); its error leaves the host Failed and starts nothing. Then the thread starts and
  // first_task, if any, is its first task. DERP_ERR_UV_STATE unless Created; DERP_ERR_UV_LOOP or
  // DERP_ERR_NO_MEMORY (the thread; *detail; Failed).
  int start_thread(const std::function<int()>& before, std::function<void()> first_task, std::string* detail);

  // Any thread, idempotent. Returns the mode it found; Created becomes Stopped (nothing runs: the owner stops
  // what never ran itself). On the first stop, on_loop is posted to the loop thread (from the loop thread too: it
  // runs at the loop's next turn, not inside the caller's callback); host-loop mode needs the task queue for it
  // (without one nothing is posted: the owner uses its own thread-safe stop). Thread mode, every call: lets the loop finish once its handles are closed and joins
  // the thread (from the loop thread itself it only asks; wind_down or the destructor joins).
  Mode stop(const std::function<void()>& on_loop);

  // Before the owner destroys what runs on the loop. Thread mode: unless stop() ran, close_now is posted first
  // (the owner's immediate close); then the loop finishes and the thread is joined. Host-loop mode: the task
  // queue stops accepting and runs what is queued now (a stop posted but never run runs while the owner still
  // exists). Not from the loop thread in thread mode.
  void wind_down(const std::function<void()>& close_now);

  // True on the thread that runs the loop: the loop thread, or the thread host-loop mode started on. Thread-safe.
  bool on_loop_thread() const;
  // True when a thread other than this one runs (or is due to run) the loop, so the owner must not touch its
  // object here: thread mode off the loop thread (even once the loop finished: post or call then), host-loop
  // mode off the recorded thread. False before any start: nobody runs the loop yet.
  bool loop_is_elsewhere() const;
  bool thread_mode() const { return thread_ptr_.load() != nullptr; }

  // Runs f on the loop thread, soon. Thread mode, or host-loop mode with a task queue. False when there is no way
  // (Created, no queue, the loop finished): f is dropped. Thread-safe.
  bool post(std::function<void()> f);

  // Runs f serialised with the loop: thread mode through LoopThread::call (waits); elsewhere here, unless
  // loop_is_elsewhere() (then false, f not run). Thread-safe.
  bool call(const std::function<void()>& f);

  // Host-loop mode: closes the task queue (posts are refused from now on; queued tasks run now). For an owner
  // whose object has stopped by itself. Thread: the loop's. Idempotent.
  void close_tasks();

 private:
  explicit LoopHost(LoopHostOptions options) : options_(std::move(options)) {}
  void release_own_loop();

  LoopHostOptions options_;
  uv_loop_t* loop_ = nullptr;
  uv_loop_t* own_loop_ = nullptr;

  mutable std::mutex mode_mutex_;
  Mode mode_ = Mode::Created;  // under mode_mutex_
  std::atomic<bool> stop_begun_{false};
  std::atomic<std::thread::id> host_thread_{};  // host-loop mode: the thread start_on_host_loop ran on

  // Set once under mode_mutex_ by a start, read anywhere through the atomics (a start may race a send).
  std::unique_ptr<LoopTaskQueue> queue_;  // host-loop mode with tasks
  std::unique_ptr<LoopThread> thread_;    // thread mode
  std::atomic<LoopTaskQueue*> queue_ptr_{nullptr};
  std::atomic<LoopThread*> thread_ptr_{nullptr};
};

}  // namespace derp::uv
