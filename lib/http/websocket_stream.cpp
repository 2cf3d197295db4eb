#include "http/websocket_stream.hpp"

#include <wslay/wslay.h>

#include <algorithm>
#include <cstring>

#include "crypto/sodium_init.hpp"
#include "crypto/utf8.hpp"
#include "derp/common.h"

namespace derp::http {

namespace {

// Opcodes (RFC 6455 §5.2); wslay names the same values WSLAY_*.
constexpr std::uint8_t kOpContinuation = 0x0;
constexpr std::uint8_t kOpText = 0x1;
constexpr std::uint8_t kOpBinary = 0x2;
constexpr std::uint8_t kOpClose = 0x8;
constexpr std::uint8_t kOpPing = 0x9;
constexpr std::uint8_t kOpPong = 0xA;

bool is_control(std::uint8_t opcode) { return (opcode & 0x8) != 0; }  // §5.5: opcodes with the high bit set

std::string hex_byte(std::uint8_t v) {
  static const char digits[] = "0123456789ABCDEF";
  return std::string("0x") + digits[v >> 4] + digits[v & 0xF];
}

bool valid_utf8(std::string_view s) {
  while (!s.empty()) {
    const std::size_t n = crypto::utf8::valid_sequence_length(s);
    if (n == 0) return false;
    s.remove_prefix(n);
  }
  return true;
}

// One frame header with FIN set and no RSV bits (§5.2: no extension is negotiated), the payload length in its
// shortest form (7 bits, or 126 + 16 bits, or 127 + 64 bits), then the masking key when there is one.
std::size_t encode_header(std::uint8_t opcode, std::uint64_t payload_len, const WsMaskKey* mask, std::uint8_t* out) {
  const std::uint8_t mask_bit = mask != nullptr ? 0x80 : 0x00;
  out[0] = static_cast<std::uint8_t>(0x80 | opcode);
  std::size_t n = 0;
  if (payload_len <= 125) {
    out[1] = static_cast<std::uint8_t>(mask_bit | payload_len);
    n = 2;
  } else if (payload_len <= 0xFFFF) {
    out[1] = static_cast<std::uint8_t>(mask_bit | 126);
    store_be16(out + 2, static_cast<std::uint16_t>(payload_len));
    n = 4;
  } else {
    out[1] = static_cast<std::uint8_t>(mask_bit | 127);
    store_be32(out + 2, static_cast<std::uint32_t>(payload_len >> 32));
    store_be32(out + 6, static_cast<std::uint32_t>(payload_len));
    n = 10;
  }
  if (mask != nullptr) {
    std::memcpy(out + n, mask->data(), mask->size());
    n += mask->size();
  }
  return n;
}


}  // namespace

// wslay's frame API is pull-style: wslay_frame_recv() asks a callback for bytes and copies them into its own
// 4 KiB buffer. Left alone it would fill that buffer, reading past the frame it is parsing, and keep those bytes
// where neither we nor the caller can see them. So the callback rations the input:
//   - while a header is being read (in_frame_ false), one byte per call. wslay then asks again as often as it
//     needs: it knows the header's length, we do not have to parse it twice. The frame's first payload byte also
//     arrives this way, because wslay reports a header only together with payload (or at once for a 0-byte frame);
//   - inside a payload, at most what is left of that frame.
// wslay therefore holds nothing between calls but a partly read header, every payload byte it takes is handed
// back in the same wslay_frame_recv() call, and feed() can stop exactly after a close frame.
struct WebSocketStream::WslayCallbacks {
  static ssize_t recv(std::uint8_t* buf, std::size_t len, int /*flags*/, void* user_data) {
    auto* self = static_cast<WebSocketStream*>(user_data);
    const std::uint64_t budget = self->in_frame_ ? self->frame_left_ : 1;
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>({len, self->input_left_, budget}));
    // The frame layer treats any value ≤ 0 as "no data yet" (WSLAY_ERR_WANT_READ); WOULDBLOCK says so plainly.
    if (n == 0) return WSLAY_ERR_WOULDBLOCK;
    const std::uint8_t* from = self->input_ + self->input_taken_;
    std::memcpy(buf, from, n);
    if (!self->in_frame_ && self->header_bytes_seen_ < self->header_start_.size()) {
      self->header_start_[self->header_bytes_seen_] = from[0];  // n is 1 here
    }
    if (!self->in_frame_) self->header_bytes_seen_ += n;
    self->input_taken_ += n;
    self->input_left_ -= n;
    return static_cast<ssize_t>(n);
  }
  // Never called: frames are written by encode_header(), not wslay_frame_send() (see the header for why).
  static ssize_t send(const std::uint8_t*, std::size_t, int, void*) { return WSLAY_ERR_WOULDBLOCK; }
  static int genmask(std::uint8_t*, std::size_t, void*) { return -1; }
};

WsMessageSplit split_into_messages(std::uint64_t len) {
  WsMessageSplit split;
  if (len == 0) return split;
  split.count = (len + kWsMaxDataMessage - 1) / kWsMaxDataMessage;
  split.first_len = len - (split.count - 1) * kWsMaxDataMessage;
  return split;
}

const char* websocket_state_name(WebSocketState state) {
  switch (state) {
    case WebSocketState::open: return "open";
    case WebSocketState::closing: return "closing";
    case WebSocketState::closed: return "closed";
    case WebSocketState::failed: return "failed";
  }
  return "unknown";
}

bool websocket_close_code_allowed(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

WebSocketStream::WebSocketStream(WebSocketRole role, std::uint64_t max_message_len, crypto::RandomSource random)
    : role_(role), max_message_len_(max_message_len), random_(random) {
  // The client masks every frame with random bytes; with the default source (libsodium's CSPRNG) make sure
  // libsodium can give them before anything is sent.
  if (role_ == WebSocketRole::client && random_.is_default() && crypto::ensure_sodium() != DERP_OK) {
    state_ = WebSocketState::failed;
    error_ = end_result_ = DERP_ERR_CRYPTO_INIT;
    detail_ = "libsodium failed to initialise, so no masking keys";
    return;
  }
  const wslay_frame_callbacks callbacks{&WslayCallbacks::send, &WslayCallbacks::recv, &WslayCallbacks::genmask};
  if (wslay_frame_context_init(&parser_, &callbacks, this) != 0) {
    parser_ = nullptr;
    state_ = WebSocketState::failed;
    error_ = end_result_ = DERP_ERR_NO_MEMORY;
    detail_ = "out of memory for the WebSocket frame parser";
  }
}

WebSocketStream::~WebSocketStream() {
  if (parser_ != nullptr) wslay_frame_context_free(parser_);
}

int WebSocketStream::feed(Bytes in, std::size_t* consumed, ByteSink sink) {
  *consumed = 0;
  if (state_ == WebSocketState::closed || state_ == WebSocketState::failed) return end_result_;
  input_ = in.data();
  input_left_ = in.size();
  input_taken_ = 0;
  int result = 0;
  while (true) {
    const std::size_t taken_before = input_taken_;
    wslay_frame_iocb chunk{};
    const ssize_t r = wslay_frame_recv(parser_, &chunk);
    if (r == WSLAY_ERR_WANT_READ) {
      // wslay wants more than it got. If it got nothing, the input is used up.
      if (input_taken_ == taken_before) break;
      continue;
    }
    if (r < 0) {
      result = fail_header(static_cast<int>(r));
      break;
    }
    result = on_chunk(chunk, sink);
    if (result != 0) break;
  }
  *consumed = input_taken_;
  input_ = nullptr;
  input_left_ = 0;
  return result;
}

int WebSocketStream::on_chunk(const wslay_frame_iocb& chunk, const ByteSink& sink) {
  if (!in_frame_) {
    const int rc = start_frame(chunk);
    if (rc != 0) return rc;
  }
  frame_left_ -= chunk.data_length;
  const bool frame_done = frame_left_ == 0;
  if (frame_done) {
    in_frame_ = false;
    header_bytes_seen_ = 0;
  }
  if (is_control(opcode_)) {
    // start_frame() accepted at most 125 bytes for this frame, so this fits.
    if (chunk.data_length > 0) std::memcpy(control_payload_.data() + control_len_, chunk.data, chunk.data_length);
    control_len_ += chunk.data_length;
    return frame_done ? end_control_frame() : 0;
  }
  if (frame_done && fin_) {
    in_message_ = false;
    message_len_ = 0;
  }
  if (chunk.data_length == 0) return 0;
  const int rc = sink(Bytes(chunk.data, chunk.data_length));
  return rc < 0 ? rc : 0;
}

// Checks a frame's header, which wslay hands over with the first chunk of its payload.
int WebSocketStream::start_frame(const wslay_frame_iocb& chunk) {
  fin_ = chunk.fin != 0;
  opcode_ = chunk.opcode;
  if (chunk.rsv != 0) {
    return fail(DERP_ERR_WS_PROTOCOL, kWsCloseProtocolError,
                "frame has reserved bits set but no extension was negotiated (RFC 6455 §5.2)");
  }
  // §5.1: a client masks every frame it sends and a server none.
  if (role_ == WebSocketRole::server && chunk.mask == 0) {
    return fail(DERP_ERR_WS_PROTOCOL, kWsCloseProtocolError, "client sent an unmasked frame (RFC 6455 §5.1)");
  }
  if (role_ == WebSocketRole::client && chunk.mask != 0) {
    return fail(DERP_ERR_WS_PROTOCOL, kWsCloseProtocolError, "server sent a masked frame (RFC 6455 §5.1)");
  }
  switch (opcode_) {
    case kOpContinuation:
      if (!in_message_) {
        return fail(DERP_ERR_WS_PROTOCOL, kWsCloseProtocolError,
                    "continuation frame without a message to continue (RFC 6455 §5.4)");
      }
      break;
    case kOpText:
    case kOpBinary:
      if (in_message_) {
        return fail(DERP_ERR_WS_PROTOCOL, kWsCloseProtocolError,
                    "new message before the previous one's final frame (RFC 6455 §5.4)");
      }
      // Reference §1.4: DERP uses binary messages only, and a text message is answered with 1003.
      if (opcode_ == kOpText) {
        return fail(DERP_ERR_WS_TEXT_MESSAGE, kWsCloseUnsupportedData, "peer sent a text message; DERP is binary");
      }
      in_message_ = true;
      message_len_ = 0;
      break;
    case kOpClose:
    case kOpPing:
    case kOpPong:
      // wslay already refused control frames over 125 bytes or without FIN (§5.5).
      control_len_ = 0;
      break;
    default:
      return fail(DERP_ERR_WS_PROTOCOL, kWsCloseProtocolError,
                  "frame has unknown opcode " + hex_byte(opcode_) + " (RFC 6455 §5.2)");
  }
  if (!is_control(opcode_)) {
    // message_len_ never exceeds the bound, so the subtraction cannot wrap.
    if (chunk.payload_length > max_message_len_ - message_len_) {
      return fail(DERP_ERR_WS_TOO_LARGE, kWsCloseMessageTooBig,
                  "frame of " + std::to_string(chunk.payload_length) + " bytes takes its message over the " +
                      std::to_string(max_message_len_) + "-byte bound");
    }
    message_len_ += chunk.payload_length;
  }
  in_frame_ = true;
  frame_left_ = chunk.payload_length;
  return 0;
}

int WebSocketStream::end_control_frame() {
  const Bytes payload(control_payload_.data(), control_len_);
  switch (opcode_) {
    case kOpPing:
      // §5.5.2/§5.5.3: answer with the same data. A pong that was not started yet is replaced by the newer one.
      // Once our close is queued nothing follows it, pongs included.
      if (sent_close_code_ == 0) {
        if (unsent_pong_at_ != kNoPong) control_out_.resize(unsent_pong_at_);
        unsent_pong_at_ = control_out_.size();
        queue_control(kOpPong, payload);
      }
      return 0;
    case kOpPong:
      return 0;  // §5.5.3: an unsolicited pong needs no answer
    default:
      return on_close_frame();
  }
}

// §5.5.1 and §7.1.5: the close frame's body is empty or a 2-byte status and a UTF-8 reason.
int WebSocketStream::on_close_frame() {
  std::uint16_t code = kWsCloseNoStatus;
  std::string_view reason;
  if (control_len_ == 1) {
    return fail(DERP_ERR_WS_PROTOCOL, kWsCloseProtocolError, "close frame with a 1-byte body (RFC 6455 §5.5.1)");
  }
  if (control_len_ >= 2) {
    code = load_be16(control_payload_.data());
    reason = std::string_view(reinterpret_cast<const char*>(control_payload_.data() + 2), control_len_ - 2);
    if (!websocket_close_code_allowed(code)) {
      return fail(DERP_ERR_WS_PROTOCOL, kWsCloseProtocolError,
                  "close status " + std::to_string(code) + " may not be sent (RFC 6455 §7.4)");
    }
    if (!valid_utf8(reason)) {
      return fail(DERP_ERR_WS_PROTOCOL, kWsCloseInvalidPayload, "close reason is not UTF-8 (RFC 6455 §5.5.1)");
    }
  }
  peer_close_code_ = code;
  // §5.5.1: answer a close with a close, echoing the status, unless ours already went out.
  if (sent_close_code_ == 0) queue_close(code, {});
  state_ = WebSocketState::closed;
  detail_ = "peer closed with status " + std::to_string(code);
  if (!reason.empty()) {
    // The reason is the peer's text: control characters are masked so it cannot forge log lines.
    detail_ += ": ";
    for (char c : reason) detail_ += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  // Reference §1.4: 1000 and 1001 read as EOF; any other status is an error.
  if (code == kWsCloseNormal || code == kWsCloseGoingAway) {
    end_result_ = 1;
  } else {
    error_ = end_result_ = DERP_ERR_WS_CLOSED;
  }
  return end_result_;
}

int WebSocketStream::fail(int error, std::uint16_t close_code, std::string detail) {
  state_ = WebSocketState::failed;
  error_ = end_result_ = error;
  detail_ = std::move(detail);
  // §7.1.7: fail the connection, telling the peer why when we have not closed already.
  if (sent_close_code_ == 0) queue_close(close_code, {});
  return error;
}

// wslay refuses a few headers itself, before it shows them to us; header_start_ says which rule was broken.
int WebSocketStream::fail_header(int wslay_error) {
  if (wslay_error != WSLAY_ERR_PROTO) {
    return fail(DERP_ERR_INTERNAL, kWsCloseProtocolError,
                "wslay_frame_recv failed unexpectedly (" + std::to_string(wslay_error) + ")");
  }
  const std::uint8_t opcode = header_start_[0] & 0x0F;
  const bool fin = (header_start_[0] & 0x80) != 0;
  const std::uint8_t length7 = header_start_[1] & 0x7F;
  if (is_control(opcode) && length7 > kMaxWsControlPayload) {
    return fail(DERP_ERR_WS_PROTOCOL, kWsCloseProtocolError,
                "control frame (opcode " + hex_byte(opcode) + ") longer than 125 bytes (RFC 6455 §5.5)");
  }
  if (is_control(opcode) && !fin) {
    return fail(DERP_ERR_WS_PROTOCOL, kWsCloseProtocolError,
                "control frame (opcode " + hex_byte(opcode) + ") is fragmented (RFC 6455 §5.5)");
  }
  return fail(DERP_ERR_WS_PROTOCOL, kWsCloseProtocolError,
              "extended payload length is not minimal or has its top bit set (RFC 6455 §5.2)");
}

// §5.3: a fresh, unpredictable key for every frame, from the stream's random source.
WsMaskKey WebSocketStream::fresh_mask() const {
  WsMaskKey key{};
  random_(MutableBytes(key));
  return key;
}

void WebSocketStream::queue_control(std::uint8_t opcode, Bytes payload) {
  WsHeaderBytes header{};
  WsMaskKey key{};
  const bool masked = role_ == WebSocketRole::client;
  if (masked) key = fresh_mask();
  const std::size_t header_len = encode_header(opcode, payload.size(), masked ? &key : nullptr, header.data());
  control_out_.insert(control_out_.end(), header.begin(), header.begin() + static_cast<std::ptrdiff_t>(header_len));
  const std::size_t payload_at = control_out_.size();
  control_out_.insert(control_out_.end(), payload.begin(), payload.end());
  if (masked) apply_mask(key, MutableBytes(control_out_.data() + payload_at, payload.size()));
}

void WebSocketStream::queue_close(std::uint16_t code, std::string_view reason) {
  std::array<std::uint8_t, kMaxWsControlPayload> body{};
  std::size_t body_len = 0;
  if (code != kWsCloseNoStatus) {  // 1005 is never sent: it stands for "no status", an empty body (§7.4.1)
    store_be16(body.data(), code);
    if (!reason.empty()) std::memcpy(body.data() + 2, reason.data(), reason.size());
    body_len = 2 + reason.size();
  }
  queue_control(kOpClose, Bytes(body.data(), body_len));
  sent_close_code_ = code;
  unsent_pong_at_ = kNoPong;  // the close is last now; no pong is replaced behind it
}

std::size_t WebSocketStream::write_binary_header(std::uint64_t payload_len, WsHeaderBytes& out,
                                                 WsMaskKey* mask) const {
  if (!can_send() || (payload_len >> 63) != 0) return 0;
  if (role_ == WebSocketRole::server) return encode_header(kOpBinary, payload_len, nullptr, out.data());
  if (mask == nullptr) return 0;
  *mask = fresh_mask();
  return encode_header(kOpBinary, payload_len, mask, out.data());
}

void WebSocketStream::apply_mask(const WsMaskKey& key, MutableBytes data, std::uint64_t offset) {
  for (std::size_t i = 0; i < data.size(); ++i) data[i] ^= key[(offset + i) & 3];
}

int WebSocketStream::append_binary_frame(Bytes payload, std::vector<std::uint8_t>* out) const {
  WsHeaderBytes header{};
  WsMaskKey key{};
  const std::size_t header_len = write_binary_header(payload.size(), header, &key);
  if (header_len == 0) return DERP_ERR_WS_NOT_OPEN;
  out->insert(out->end(), header.begin(), header.begin() + static_cast<std::ptrdiff_t>(header_len));
  const std::size_t payload_at = out->size();
  out->insert(out->end(), payload.begin(), payload.end());
  if (role_ == WebSocketRole::client) apply_mask(key, MutableBytes(out->data() + payload_at, payload.size()));
  return DERP_OK;
}

Bytes WebSocketStream::full_message_header() {
  static_assert(kWsMaxDataMessage > 125 && kWsMaxDataMessage <= 0xFFFF, "a 16-bit length: 4-byte header");
  static const std::array<std::uint8_t, kWsFullMessageHeaderLen> header = [] {
    std::array<std::uint8_t, kMaxWsHeaderLen> h{};
    encode_header(kOpBinary, kWsMaxDataMessage, nullptr, h.data());
    return std::array<std::uint8_t, kWsFullMessageHeaderLen>{h[0], h[1], h[2], h[3]};
  }();
  return Bytes(header.data(), header.size());
}

int WebSocketStream::append_binary_messages(Bytes payload, std::vector<std::uint8_t>* out) const {
  if (!can_send()) return DERP_ERR_WS_NOT_OPEN;
  const WsMessageSplit split = split_into_messages(payload.size());
  out->reserve(out->size() + payload.size() + message_overhead(payload.size()));
  std::size_t at = 0;
  std::size_t len = static_cast<std::size_t>(split.first_len);
  for (std::uint64_t i = 0; i < split.count; ++i) {
    (void)append_binary_frame(payload.subspan(at, len), out);  // cannot fail: the state was checked above
    at += len;
    len = kWsMaxDataMessage;
  }
  return DERP_OK;
}

std::size_t WebSocketStream::message_overhead(std::uint64_t len) const {
  const WsMessageSplit split = split_into_messages(len);
  if (split.count == 0) return 0;
  const std::size_t mask = role_ == WebSocketRole::client ? 4 : 0;
  const std::size_t first = (split.first_len <= 125 ? 2 : 4) + mask;
  return first + static_cast<std::size_t>(split.count - 1) * (4 + mask);
}

void WebSocketStream::consume_control(std::size_t n) {
  n = std::min(n, control_out_.size());
  control_out_.erase(control_out_.begin(), control_out_.begin() + static_cast<std::ptrdiff_t>(n));
  if (unsent_pong_at_ != kNoPong) unsent_pong_at_ = n > unsent_pong_at_ ? kNoPong : unsent_pong_at_ - n;
}

int WebSocketStream::close(std::uint16_t code, std::string_view reason) {
  if (state_ != WebSocketState::open) return DERP_ERR_WS_NOT_OPEN;
  if (!websocket_close_code_allowed(code) || reason.size() > kMaxWsCloseReason || !valid_utf8(reason)) {
    return DERP_ERR_INVALID_ARGUMENT;
  }
  queue_close(code, reason);
  state_ = WebSocketState::closing;
  return DERP_OK;
}

}  // namespace derp::http
