// Fuzz target: the DERP-over-WebSocket data path. The input is what a peer might send after the 101.
//  1. A server-role stream reads it whole, then again in pieces whose sizes come from the input itself: both must
//     give the same byte stream, result, close codes and queued control frames (a split never changes meaning).
//  2. Invariants on every run: the sink never gets more bytes than were taken, feed() takes everything unless it
//     reports an end, the state agrees with the result, queued control output stays bounded, the end is sticky.
//  3. A client-role stream reads the same bytes (unmasked frames are its input), under the same invariants.
// Any disagreement aborts.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "derp/common.h"
#include "http/websocket_stream.hpp"

namespace {

using derp::Bytes;
using derp::http::WebSocketRole;
using derp::http::WebSocketState;
using derp::http::WebSocketStream;

struct Outcome {
  std::vector<std::uint8_t> stream;
  std::vector<std::uint8_t> control;
  int result = 0;
  std::size_t consumed = 0;
  WebSocketState state = WebSocketState::open;
  std::uint16_t peer_close = 0;
  std::uint16_t sent_close = 0;
  bool operator==(const Outcome&) const = default;
};

// A pong being written, a newer pong and the close frame, each at most 2 + 4 + 125 bytes.
constexpr std::size_t kMaxControlBytes = 3 * (2 + 4 + 125);

void check(bool ok) {
  if (!ok) std::abort();
}

void check_end(const Outcome& out) {
  if (out.result == 1) {
    check(out.state == WebSocketState::closed);
    check(out.peer_close == 1000 || out.peer_close == 1001);
  } else if (out.result == DERP_ERR_WS_CLOSED) {
    check(out.state == WebSocketState::closed);
    check(out.peer_close != 0 && out.peer_close != 1000 && out.peer_close != 1001);
  } else if (out.result < 0) {
    check(out.result == DERP_ERR_WS_PROTOCOL || out.result == DERP_ERR_WS_TEXT_MESSAGE ||
          out.result == DERP_ERR_WS_TOO_LARGE);
    check(out.state == WebSocketState::failed);
    check(out.sent_close != 0);
  } else {
    check(out.result == 0);
    check(out.state == WebSocketState::open);
    check(out.sent_close == 0);
  }
  // Whatever ended the stream queued a close, unless the stream is still open.
  check((out.state == WebSocketState::open) == (out.sent_close == 0));
}

Outcome read_stream(const std::uint8_t* data, std::size_t size, WebSocketRole role, bool split,
                    std::uint64_t max_message_len) {
  Outcome out;
  WebSocketStream stream(role, max_message_len);
  auto sink = [&](Bytes piece) {
    check(!piece.empty());
    out.stream.insert(out.stream.end(), piece.begin(), piece.end());
    return DERP_OK;
  };
  std::size_t pos = 0;
  std::size_t walk = 0;
  while (pos < size) {
    std::size_t piece = size - pos;
    if (split) {
      piece = std::min<std::size_t>(piece, 1 + data[walk % size] % 64);
      walk += 13;
    }
    std::size_t used = 0;
    const int r = stream.feed(Bytes(data + pos, piece), &used, sink);
    check(used <= piece);
    pos += used;
    out.consumed += used;
    check(out.stream.size() <= out.consumed);  // payload never outgrows the bytes it came in
    check(stream.pending_control().size() <= kMaxControlBytes);
    check(stream.can_send() == (stream.state() == WebSocketState::open));
    if (r != 0) {
      out.result = r;
      // The end is sticky: nothing more is taken, the same result comes back.
      std::size_t again = 1;
      check(stream.feed(Bytes(data + pos, size - pos), &again, sink) == r && again == 0);
      check(stream.error() == (r == 1 ? DERP_OK : r));
      break;
    }
    check(used == piece);  // 0 means all of it was taken
  }
  out.control.assign(stream.pending_control().begin(), stream.pending_control().end());
  out.state = stream.state();
  out.peer_close = stream.peer_close_code();
  out.sent_close = stream.sent_close_code();
  if (out.result == 0) check(out.consumed == size);
  check_end(out);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Half the inputs run with a small message bound, so the over-the-bound path is reached often.
  const std::uint64_t max_message_len =
      (size > 0 && (data[size - 1] & 1) != 0) ? 300 : WebSocketStream::kDefaultMaxMessageLen;
  const Outcome whole = read_stream(data, size, WebSocketRole::server, false, max_message_len);
  const Outcome split = read_stream(data, size, WebSocketRole::server, true, max_message_len);
  check(whole == split);
  // The client role's control frames carry random masks, so only its invariants are checked.
  (void)read_stream(data, size, WebSocketRole::client, false, max_message_len);
  return 0;
}
