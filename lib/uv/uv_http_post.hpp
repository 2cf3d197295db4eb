// One plain-HTTP request over libuv and its response (http/response_reader.hpp), bounded in time: DNS and TCP
// through UvDialer, the request written, the response read until complete, the whole within `timeout`. For the
// admission check of -verify-client-url; one connection per request (Connection: close).
//
// Loop thread only. Destroying a UvHttpPost cancels it (done is then not called); done runs once, never from
// inside start(), and may destroy the UvHttpPost.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>

#include "common/time.hpp"
#include "http/response_reader.hpp"
#include "uv/uv_client_handles.hpp"
#include "uv/uv_dialer.hpp"

namespace derp::uv {

struct HttpPostResult {
  // A response head arrived. false: the server could not be reached (DNS, connect, or nothing before the timeout
  // or close) — what derper calls "unreachable".
  bool reached = false;
  bool complete = false;  // the body too (up to the reader's limit)
  int status = 0;
  std::string body;
  std::string error;  // for logs, when not complete
};

class UvHttpPost {
 public:
  using Done = std::function<void(HttpPostResult)>;

  explicit UvHttpPost(uv_loop_t* loop);
  ~UvHttpPost();
  UvHttpPost(const UvHttpPost&) = delete;
  UvHttpPost& operator=(const UvHttpPost&) = delete;

  void start(const std::string& host, std::uint16_t port, std::string request, Nanos timeout, Done done);

 private:
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf);
  void on_dialed(DialResult result);
  void finish(std::string error);

  UvDialer dialer_;
  TimerHandle timer_;
  uv_tcp_t* tcp_ = nullptr;
  std::string request_;
  http::ResponseReader reader_;
  std::vector<char> buffer_;
  Done done_;
};

}  // namespace derp::uv
