#include "bench_client.hpp"

#include <string_view>
#include <utility>

#include "crypto/client_info.hpp"
#include "crypto/sealed_info.hpp"
#include "frame/decode.hpp"
#include "frame/frame_types.hpp"
#include "frame/header.hpp"
#include "frame/messages.hpp"
#include "uv/socket_address.hpp"

namespace derp::bench {

namespace {

// Fast start: we know the server's key already (the child told us), so ClientInfo goes with the request and the
// server skips its 101 answer; it still sends the ServerKey frame first (Tailscale derp/derphttp client).
constexpr std::string_view kUpgradeRequest =
    "GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: DERP\r\nDerp-Fast-Start: 1\r\n\r\n";

constexpr std::size_t kReadBufferSize = 64 * 1024;
constexpr std::size_t kPlaintextBufferSize = 16 * 1024;  // one TLS record

}  // namespace

// ---- ClientConn ------------------------------------------------------------------------------------------------

ClientConn::ClientConn(Fleet& fleet, std::size_t index) : fleet_(fleet), index_(index) {}

void ClientConn::connect() {
  const Target& target = fleet_.target();
  if (crypto::generate_private(&private_key_) != DERP_OK || crypto::public_of(private_key_, &public_key_) != DERP_OK) {
    return fail("key generation");
  }
  crypto::ClientInfo info;
  info.version = crypto::kInfoProtocolVersion;
  info.can_ack_pings = true;
  std::vector<std::uint8_t> sealed;
  if (crypto::seal_client_info(private_key_, target.server_key, info, &sealed) != DERP_OK) return fail("seal");
  hello_.assign(kUpgradeRequest.begin(), kUpgradeRequest.end());
  const std::size_t header_at = hello_.size();
  hello_.resize(header_at + frame::kHeaderLen);
  frame::write_header(hello_.data() + header_at, frame::type_byte(frame::FrameType::ClientInfo),
                      static_cast<std::uint32_t>(sealed.size()));
  hello_.insert(hello_.end(), sealed.begin(), sealed.end());
  pending_ = Bytes(hello_);

  if (const int rc = uv_tcp_init(fleet_.loop(), &tcp_); rc != 0) return fail(std::string("tcp_init: ") + uv_strerror(rc));
  handle_open_ = true;
  tcp_.data = this;
  sockaddr_storage sa{};
  uv::to_sockaddr(target.address, &sa);
  connect_req_.data = this;
  const int rc = uv_tcp_connect(&connect_req_, &tcp_, reinterpret_cast<const sockaddr*>(&sa),
                                [](uv_connect_t* req, int status) {
                                  static_cast<ClientConn*>(req->data)->on_connected(status);
                                });
  if (rc != 0) fail(std::string("connect: ") + uv_strerror(rc));
}

void ClientConn::on_connected(int status) {
  if (closing_) return;
  if (status != 0) return fail(std::string("connect: ") + uv_strerror(status));
  uv_tcp_nodelay(&tcp_, 1);
  const Target& target = fleet_.target();
  if (target.tls != nullptr) {
    tls::ClientTarget where;
    where.host = "127.0.0.1";
    where.cert_name = target.cert_name;
    std::string detail;
    if (tls::Session::create_client(*target.tls, where, &tls_, &detail) != DERP_OK) return fail("TLS: " + detail);
  }
  if (const int rc = uv_read_start(stream(), on_alloc, on_read); rc != 0) {
    return fail(std::string("read_start: ") + uv_strerror(rc));
  }
  pump();  // the request (plain) or the ClientHello (TLS)
}

void ClientConn::pump() {
  if (writing_ || closing_ || !handle_open_) return;
  ClientEvents* events = fleet_.events();
  if (!tls_) {
    // Packets are asked for only after ServerInfo: before that the server may still be handshaking.
    if (pending_.empty() && ready_) pending_ = events->next_send(*this);
    if (pending_.empty()) return;
    const Bytes data = pending_;
    pending_ = {};
    return write_plain(data);
  }
  if (tls_->handshake_done()) {
    while (tls_->pending_ciphertext().size() < tls::Session::kMaxPendingCiphertextOut) {
      if (pending_.empty() && ready_) pending_ = events->next_send(*this);
      if (pending_.empty()) break;
      std::size_t accepted = 0;
      if (tls_->write_plaintext(pending_, &accepted) != DERP_OK) return fail("TLS write: " + tls_->error_detail());
      pending_ = pending_.subspan(accepted);
      if (accepted == 0) break;
    }
  }
  const Bytes cipher = tls_->pending_ciphertext();
  if (cipher.empty()) return;
  cipher_out_.assign(cipher.begin(), cipher.end());
  tls_->consume_ciphertext(cipher.size());
  write_plain(Bytes(cipher_out_));
}

void ClientConn::write_plain(Bytes data) {
  writing_ = true;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(data.data())),
                             static_cast<unsigned>(data.size()));
  write_req_.data = this;
  if (const int rc = uv_write(&write_req_, stream(), &buf, 1, on_write); rc != 0) {
    writing_ = false;
    fail(std::string("write: ") + uv_strerror(rc));
  }
}

void ClientConn::on_write(uv_write_t* req, int status) {
  auto* self = static_cast<ClientConn*>(req->data);
  self->writing_ = false;
  if (self->closing_) return;
  if (status != 0) return self->fail(std::string("write: ") + uv_strerror(status));
  self->pump();
}

void ClientConn::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<ClientConn*>(handle->data);
  const MutableBytes b = self->fleet_.read_buffer();
  *buf = uv_buf_init(reinterpret_cast<char*>(b.data()), static_cast<unsigned>(b.size()));
}

void ClientConn::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<ClientConn*>(stream->data);
  if (self->closing_) return;
  if (nread < 0) {
    return self->fail(nread == UV_EOF ? std::string("closed by the server")
                                      : std::string("read: ") + uv_strerror(static_cast<int>(nread)));
  }
  if (nread == 0) return;
  self->on_bytes(Bytes(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)));
}

void ClientConn::on_bytes(Bytes in) {
  if (tls_) return on_tls_bytes(in);
  on_plaintext(in);
}

void ClientConn::on_tls_bytes(Bytes in) {
  const MutableBytes plain = fleet_.plaintext_buffer();
  while (!in.empty()) {
    std::size_t used = 0;
    if (tls_->feed_ciphertext(in, &used) != DERP_OK) return fail("TLS: " + tls_->error_detail());
    in = in.subspan(used);
    bool got_any = false;
    for (;;) {
      std::size_t got = 0;
      const int rc = tls_->read_plaintext(plain, &got);
      if (rc != DERP_OK) return fail(tls_->peer_closed() ? "TLS closed by the server" : "TLS: " + tls_->error_detail());
      if (got == 0) break;
      got_any = true;
      if (!on_plaintext(Bytes(plain.data(), got)) || closing_) return;
    }
    // The session took nothing and gave nothing: it cannot progress, and looping would spin.
    if (used == 0 && !got_any) return fail("TLS input stuck");
  }
  pump();  // handshake messages, or the request once the handshake is done
}

bool ClientConn::on_plaintext(Bytes in) {
  std::uint64_t packets = 0;
  while (!in.empty()) {
    std::size_t used = 0;
    frame::Frame f;
    const int r = reader_.next(in, &used, &f);
    if (r < 0) {
      fail("frame stream broken");
      return false;
    }
    in = in.subspan(used);
    if (r == 0) break;
    if (f.type == frame::type_byte(frame::FrameType::RecvPacket) && f.payload.size() >= DERP_KEY_LEN) {
      ++packets;
      bytes_received += f.payload.size() - DERP_KEY_LEN;
    } else if (f.type == frame::type_byte(frame::FrameType::ServerKey)) {
      frame::ServerKeyFrame key;
      if (frame::decode(f.payload, &key) != DERP_OK || crypto::NodePublic(key.key) != fleet_.target().server_key) {
        fail("unexpected ServerKey frame");
        return false;
      }
    } else if (f.type == frame::type_byte(frame::FrameType::ServerInfo) && !ready_) {
      // The handshake is complete once the server answers ClientInfo; the box itself is not opened (its content,
      // the server's rate limits, does not matter here).
      ready_ = true;
      fleet_.note_ready(*this);
      if (closing_) return false;
    }
  }
  if (packets > 0) {
    packets_received += packets;
    fleet_.events()->on_packets(*this);
  }
  return !closing_;
}

void ClientConn::fail(const std::string& why) {
  if (failed_ || closing_) return;
  failed_ = true;
  close();
  fleet_.note_failed(*this, why);
}

void ClientConn::close() {
  if (closing_) return;
  closing_ = true;
  if (!handle_open_) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) {
    static_cast<ClientConn*>(h->data)->handle_closed_ = true;
  });
}

// ---- Fleet -----------------------------------------------------------------------------------------------------

Fleet::Fleet(Target target)
    : target_(std::move(target)), read_buffer_(kReadBufferSize), plaintext_buffer_(kPlaintextBufferSize) {
  uv_loop_init(&loop_);
  // A steady tick so run_until's condition is looked at even when no socket is active.
  uv_timer_init(&loop_, &tick_);
  uv_timer_start(&tick_, [](uv_timer_t*) {}, 10, 10);
}

Fleet::~Fleet() {
  close_all();
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  while (uv_loop_alive(&loop_) != 0) uv_run(&loop_, UV_RUN_NOWAIT);
  uv_loop_close(&loop_);
}

void Fleet::open(std::size_t n, std::size_t parallel) {
  for (std::size_t i = 0; i < n; ++i) conns_.push_back(std::make_unique<ClientConn>(*this, conns_.size()));
  parallel_ = parallel;
  start_more();
}

void Fleet::start_more() {
  // A connect that fails at once calls back into here; the outer call keeps going.
  if (starting_) return;
  starting_ = true;
  while (in_handshake_ < parallel_ && next_to_start_ < conns_.size()) {
    ++in_handshake_;
    conns_[next_to_start_++]->connect();
  }
  starting_ = false;
}

void Fleet::note_ready(ClientConn& c) {
  --in_handshake_;
  ++ready_count_;
  events_->on_ready(c);
  start_more();
}

void Fleet::note_failed(ClientConn& c, const std::string& why) {
  if (first_error_.empty()) first_error_ = why;
  if (c.ready()) {
    ++lost_count_;
  } else {
    --in_handshake_;
    ++failed_count_;
  }
  events_->on_failed(c, why);
  start_more();
}

bool Fleet::run_until(const std::function<bool()>& done, double timeout_s) {
  const std::uint64_t deadline = uv_hrtime() + static_cast<std::uint64_t>(timeout_s * 1e9);
  while (!done()) {
    if (uv_hrtime() >= deadline) return false;
    uv_run(&loop_, UV_RUN_ONCE);
  }
  return true;
}

void Fleet::close_all() {
  for (auto& c : conns_) c->close();
  run_until(
      [&] {
        for (const auto& c : conns_) {
          if (!c->released()) return false;
        }
        return true;
      },
      10.0);
  conns_.clear();
  next_to_start_ = 0;
  in_handshake_ = 0;
  ready_count_ = 0;
  failed_count_ = 0;
  lost_count_ = 0;
  first_error_.clear();
}

}  // namespace derp::bench
