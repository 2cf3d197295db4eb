// One bounded plain-HTTP request (uv_http_post.hpp).
#include "uv/uv_http_post.hpp"

#include <cstring>
#include <utility>

namespace derp::uv {

namespace {
// The request owns its bytes until libuv is done with them, whatever happens to the UvHttpPost meanwhile.
struct WriteReq {
  uv_write_t req;
  std::string data;
};
}  // namespace

UvHttpPost::UvHttpPost(uv_loop_t* loop) : dialer_(loop), buffer_(4096) { (void)timer_.init(loop); }

UvHttpPost::~UvHttpPost() {
  done_ = nullptr;
  dialer_.cancel();
  if (tcp_ != nullptr) close_tcp_handle(tcp_);
  timer_.close();
}

void UvHttpPost::start(const std::string& host, std::uint16_t port, std::string request, Nanos timeout, Done done) {
  request_ = std::move(request);
  done_ = std::move(done);
  timer_.start((timeout + kMillisecond - 1) / kMillisecond,
               [this] { finish(reader_.status() != 0 ? "timed out reading the answer" : "timed out"); });
  dialer_.start({dial_node_for_host(host, port)}, timeout, [this](DialResult r) { on_dialed(std::move(r)); });
}

void UvHttpPost::on_dialed(DialResult result) {
  if (result.error != DERP_OK) {
    finish(result.detail.empty() ? derp_strerror(result.error) : result.detail);
    return;
  }
  tcp_ = result.tcp;
  tcp_->data = this;
  auto* w = new WriteReq;
  w->data = std::move(request_);
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  const int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(tcp_), &buf, 1,
                          [](uv_write_t* req, int) { delete reinterpret_cast<WriteReq*>(req); });
  if (rc != 0) {
    delete w;
    finish(std::string("write: ") + uv_strerror(rc));
    return;
  }
  if (const int r = uv_read_start(reinterpret_cast<uv_stream_t*>(tcp_), on_alloc, on_read); r != 0) {
    finish(std::string("read: ") + uv_strerror(r));
  }
}

void UvHttpPost::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<UvHttpPost*>(handle->data);
  if (self == nullptr) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  *buf = uv_buf_init(self->buffer_.data(), static_cast<unsigned>(self->buffer_.size()));
}

void UvHttpPost::on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
  auto* self = static_cast<UvHttpPost*>(stream->data);
  if (self == nullptr || n == 0) return;
  http::ResponseReader::State s;
  if (n < 0) {
    s = self->reader_.finish_eof();
    if (n != UV_EOF && s != http::ResponseReader::State::Done) {
      self->finish(std::string("read: ") + uv_strerror(static_cast<int>(n)));
      return;
    }
  } else {
    s = self->reader_.feed(Bytes(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(n)));
  }
  if (s == http::ResponseReader::State::NeedMore) return;
  self->finish(s == http::ResponseReader::State::Done ? "" : self->reader_.error());
}

void UvHttpPost::finish(std::string error) {
  if (!done_) return;
  HttpPostResult r;
  r.status = reader_.status();
  r.reached = r.status != 0;
  r.complete = error.empty() && reader_.state() == http::ResponseReader::State::Done;
  r.body = reader_.body();
  r.error = std::move(error);
  timer_.stop();
  dialer_.cancel();
  if (tcp_ != nullptr) {
    close_tcp_handle(tcp_);
    tcp_ = nullptr;
  }
  Done done = std::move(done_);
  done_ = nullptr;
  done(std::move(r));  // may destroy this
}

}  // namespace derp::uv
