// The data path of DERP over WebSocket (RFC 6455 §5, reference §1.4 and §9.11), sans-IO: bytes in, bytes out,
// no socket and no clock. DERP frames travel in binary messages whose boundaries mean nothing, so the stream turns
// the peer's frames back into one plain byte stream and wraps our own bytes in frames.
//
// Input: feed() parses frames in any split (one byte at a time works), unmasks them, checks them, and hands the
// payload of binary data frames (continuations included) to a ByteSink as it arrives, so a large message is never
// held whole. It answers pings (a pong is queued) and the close handshake (our close reply is queued).
// Output: write_binary_header() puts a frame header in front of bytes the caller already holds (zero copy);
// pending_control()/consume_control() hand out the pongs and close frames; close() starts a close handshake.
// Data goes out in binary messages of at most kWsMaxDataMessage bytes (see there): split_into_messages() says how
// a longer run of bytes is cut, append_binary_messages() is the copying writer that does it.
//
// Frame parsing is wslay's low-level frame API (wslay_frame_recv) over the caller's input; see the .cpp for how it
// is fed so that it never reads ahead. Frame headers are written here: wslay's sender insists on pushing the
// payload through its own callback, which defeats writing a header in front of a payload held elsewhere.
//
// Host loop, per connection:
//   feed(bytes, &used, sink)   after every read; 1 = the peer closed cleanly, < 0 = fail (detail() says why)
//   pending_control() / consume_control(n)   write these between whole data frames, never inside one
//   state() closed or failed, and pending_control() empty → close the transport.
// The close handshake has no timer here: a host that called close() decides how long to wait for the reply.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/bytes.hpp"
#include "crypto/random.hpp"

struct wslay_frame_context;
struct wslay_frame_iocb;

namespace derp::http {

enum class WebSocketRole : std::uint8_t {
  server,  // reads masked frames, writes unmasked ones (RFC 6455 §5.1)
  client,  // reads unmasked frames, writes masked ones
};

enum class WebSocketState : std::uint8_t {
  open,     // data flows both ways
  closing,  // we sent a close frame and wait for the peer's
  closed,   // both close frames exchanged (ours may still sit in pending_control())
  failed,   // a protocol error; a close frame with the matching status is queued when none was sent before
};

const char* websocket_state_name(WebSocketState state);

// Close status codes (RFC 6455 §7.4.1) the stream sends or reads by name.
inline constexpr std::uint16_t kWsCloseNormal = 1000;
inline constexpr std::uint16_t kWsCloseGoingAway = 1001;
inline constexpr std::uint16_t kWsCloseProtocolError = 1002;
inline constexpr std::uint16_t kWsCloseUnsupportedData = 1003;  // our answer to a text message (reference §1.4)
inline constexpr std::uint16_t kWsCloseNoStatus = 1005;         // a close frame without a body; never sent
inline constexpr std::uint16_t kWsCloseInvalidPayload = 1007;
inline constexpr std::uint16_t kWsClosePolicyViolation = 1008;
inline constexpr std::uint16_t kWsCloseMessageTooBig = 1009;

// True for the codes an endpoint may put on the wire (§7.4.1, §7.4.2 and the IANA registry): 1000-1003,
// 1007-1014 and 3000-4999. 1004-1006 and 1015 are reserved and 0-999 and 1016-2999 are unassigned.
bool websocket_close_code_allowed(std::uint16_t code);

// A frame header is at most 2 + 8 (64-bit length) + 4 (masking key) bytes (§5.2).
inline constexpr std::size_t kMaxWsHeaderLen = 14;
using WsHeaderBytes = std::array<std::uint8_t, kMaxWsHeaderLen>;
using WsMaskKey = std::array<std::uint8_t, 4>;
// A control frame's payload is at most 125 bytes (§5.5); a close reason leaves 2 of them for the status.
inline constexpr std::size_t kMaxWsControlPayload = 125;
inline constexpr std::size_t kMaxWsCloseReason = kMaxWsControlPayload - 2;

// The most payload we put in one binary message. Go's WebSocket library (nhooyr.io/websocket, now
// github.com/coder/websocket, under Tailscale's net/wsconn in derphttp's client and in derper) reads each message
// with a limit of 32 KiB (it reads 32768 + 1 bytes; a longer message fails with "read limited at 32769 bytes" and
// close status 1009), while a DERP frame carries up to 64 KiB of packet. Message boundaries mean nothing to DERP
// (reference §1.4: wsconn turns messages back into a byte stream), so a frame may span messages and 16 KiB
// keeps every message well inside Go's limit.
inline constexpr std::size_t kWsMaxDataMessage = 16 * 1024;
// The unmasked header of a message that long: 0x82, 126, then the 16-bit length.
inline constexpr std::size_t kWsFullMessageHeaderLen = 4;

// How `len` bytes are cut into binary messages: `count` of them, the first `first_len` bytes long (1 to
// kWsMaxDataMessage) and every later one exactly kWsMaxDataMessage. The short one goes first so that all the
// others share one header: a zero-copy writer needs room for just one header of its own per frame.
// len 0: no message at all.
struct WsMessageSplit {
  std::uint64_t count = 0;
  std::uint64_t first_len = 0;
};
WsMessageSplit split_into_messages(std::uint64_t len);

// A non-owning reference to the caller's byte consumer: any callable int(Bytes). It returns DERP_OK to go on, or
// a negative code to stop feed(), which then returns that code. Never allocates; lives for one feed() call.
class ByteSink {
 public:
  // Implicit, so a lambda passes straight in: stream.feed(in, &used, [&](Bytes piece) { ...; return DERP_OK; }).
  template <class F, class = std::enable_if_t<!std::is_same_v<std::remove_cvref_t<F>, ByteSink>>>
  ByteSink(F&& f)
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* object, Bytes piece) -> int {
          return (*static_cast<std::remove_reference_t<F>*>(object))(piece);
        }) {}

  int operator()(Bytes piece) const { return call_(object_, piece); }

 private:
  void* object_;
  int (*call_)(void*, Bytes);
};

class WebSocketStream {
 public:
  // A DERP frame is at most 1 MiB of ServerInfo box plus its header (frame/limits.hpp): a message this size holds
  // one whole frame with room to spare, and Go's writers never produce more in one message.
  static constexpr std::uint64_t kDefaultMaxMessageLen = 1024 * 1024 + 64;

  // max_message_len bounds the payload of one message (the sum of its frames), checked from each frame header
  // before any of its payload is handed on. random gives the client role's masking keys (default: libsodium).
  explicit WebSocketStream(WebSocketRole role, std::uint64_t max_message_len = kDefaultMaxMessageLen,
                           crypto::RandomSource random = {});
  ~WebSocketStream();
  WebSocketStream(const WebSocketStream&) = delete;
  WebSocketStream& operator=(const WebSocketStream&) = delete;

  // ---- input ----
  // Offers bytes read from the transport. Payload bytes of binary messages go to sink, in order. *consumed is
  // how many bytes of in were taken. Returns
  //   0   all of in was taken; the stream is open (or closing) and wants more;
  //   1   the peer closed with 1000 or 1001: a clean end of stream. *consumed ends right after its close frame;
  //       the bytes after it are not taken (nothing may follow a close, §5.5.1). Our close reply is queued.
  //  <0   DERP_ERR_WS_PROTOCOL, _WS_TEXT_MESSAGE or _WS_TOO_LARGE: the stream failed and a close frame with
  //       1002, 1003 or 1009 is queued; DERP_ERR_WS_CLOSED: the peer closed with another status
  //       (peer_close_code()), our reply is queued; DERP_ERR_NO_MEMORY: the parser could not be set up.
  //       Or the sink's own negative code: the stream itself is still fine and later input continues it.
  // Once closed or failed, every call returns the same result and takes nothing.
  int feed(Bytes in, std::size_t* consumed, ByteSink sink);

  // ---- output ----
  // Writes the header of one final binary frame of payload_len bytes at the start of out; returns its length.
  //   Server role: 2, 4 or 10 bytes, unmasked. Put it in front of the payload and send both as they are.
  //   Client role: 6, 8 or 14 bytes carrying a fresh random masking key (§5.3), also stored in *mask; mask the
  //   payload with apply_mask(*mask, payload) before sending it.
  // Returns 0 (write nothing) when the stream may no longer send data (state() is not open: §5.5.1 forbids data
  // after a close frame), when payload_len is 2^63 or more (§5.2), or in client role without a mask pointer.
  std::size_t write_binary_header(std::uint64_t payload_len, WsHeaderBytes& out, WsMaskKey* mask = nullptr) const;

  // XORs data with the masking key as if data began at byte `offset` of a payload (§5.3), so a payload can be
  // masked in pieces. Masking twice unmasks.
  static void apply_mask(const WsMaskKey& key, MutableBytes data, std::uint64_t offset = 0);

  // Server role: the 4-byte header of a binary message of exactly kWsMaxDataMessage bytes. It is the same for
  // every such message, so a zero-copy writer points at it (static storage) between the pieces of a long frame
  // instead of writing it inside the frame's bytes. Only valid behind a first message write_binary_header()
  // accepted: it does not check state().
  static Bytes full_message_header();

  // The copying path: appends one whole binary frame carrying payload (masked in client role) to out.
  // DERP_OK, or DERP_ERR_WS_NOT_OPEN when state() is not open.
  int append_binary_frame(Bytes payload, std::vector<std::uint8_t>* out) const;

  // The copying path the way DERP data is written: payload as split_into_messages() cuts it, one binary frame
  // per message (each masked with its own key in client role), appended to out. DERP_OK, or
  // DERP_ERR_WS_NOT_OPEN when state() is not open (nothing appended).
  int append_binary_messages(Bytes payload, std::vector<std::uint8_t>* out) const;

  // The bytes of WebSocket headers append_binary_messages() adds to len bytes of payload in this role.
  std::size_t message_overhead(std::uint64_t len) const;

  // Control frames to send (pongs, the close frame), whole frames back to back. Write them only between data
  // frames, never inside one (§5.4: control frames may come between fragments, not within a frame's bytes).
  Bytes pending_control() const { return Bytes(control_out_.data(), control_out_.size()); }
  // The host wrote the first n bytes of pending_control().
  void consume_control(std::size_t n);

  // Starts the close handshake (§5.5.1, §7.1.2): queues a close frame with code and a UTF-8 reason of at most
  // 123 bytes, and the stream becomes closing. DERP_OK; DERP_ERR_WS_NOT_OPEN when not open;
  // DERP_ERR_INVALID_ARGUMENT for a code not allowed on the wire or a reason too long or not UTF-8.
  int close(std::uint16_t code, std::string_view reason = {});

  // ---- state ----
  WebSocketRole role() const { return role_; }
  WebSocketState state() const { return state_; }
  bool can_send() const { return state_ == WebSocketState::open; }
  // DERP_OK, or why the stream ended badly (the value feed() returned).
  int error() const { return error_; }
  // A sentence for the log: what went wrong, or how the peer closed. Empty while all is well.
  const std::string& detail() const { return detail_; }
  // The peer's close status: 0 before its close frame, kWsCloseNoStatus (1005) when it carried none.
  std::uint16_t peer_close_code() const { return peer_close_code_; }
  // The status in the close frame we queued: 0 before we queued one, 1005 when ours carried none.
  std::uint16_t sent_close_code() const { return sent_close_code_; }
  std::uint64_t max_message_len() const { return max_message_len_; }

 private:
  // wslay's callbacks (defined in the .cpp, where wslay's types are known).
  struct WslayCallbacks;
  friend struct WslayCallbacks;
  static constexpr std::size_t kNoPong = static_cast<std::size_t>(-1);

  int on_chunk(const wslay_frame_iocb& chunk, const ByteSink& sink);
  int start_frame(const wslay_frame_iocb& chunk);
  int end_control_frame();
  int on_close_frame();
  int fail(int error, std::uint16_t close_code, std::string detail);
  int fail_header(int wslay_error);
  void queue_control(std::uint8_t opcode, Bytes payload);
  void queue_close(std::uint16_t code, std::string_view reason);
  WsMaskKey fresh_mask() const;

  WebSocketRole role_;
  std::uint64_t max_message_len_;
  crypto::RandomSource random_;
  wslay_frame_context* parser_ = nullptr;

  WebSocketState state_ = WebSocketState::open;
  int error_ = 0;
  int end_result_ = 0;  // what feed() returns once closed or failed
  std::string detail_;
  std::uint16_t peer_close_code_ = 0;
  std::uint16_t sent_close_code_ = 0;

  // The input window of the feed() call in progress.
  const std::uint8_t* input_ = nullptr;
  std::size_t input_left_ = 0;
  std::size_t input_taken_ = 0;

  // The frame being read. wslay reports a frame's header together with its first payload bytes, so in_frame_
  // turns true at the first chunk and false once frame_left_ reaches 0.
  bool in_frame_ = false;
  bool fin_ = false;
  std::uint8_t opcode_ = 0;
  std::uint64_t frame_left_ = 0;
  // The first two bytes of the header being read, kept only to explain a header wslay refuses.
  std::array<std::uint8_t, 2> header_start_{};
  std::size_t header_bytes_seen_ = 0;
  // A binary message whose final frame has not arrived yet (§5.4), and its payload so far.
  bool in_message_ = false;
  std::uint64_t message_len_ = 0;
  // A control frame's payload, gathered until the frame is whole.
  std::array<std::uint8_t, kMaxWsControlPayload> control_payload_{};
  std::size_t control_len_ = 0;

  // Control frames waiting to be written. At most: a pong being written, one newer pong (a ping flood keeps only
  // the latest answer, as §5.5.3 allows) and the close frame.
  std::vector<std::uint8_t> control_out_;
  std::size_t unsent_pong_at_ = kNoPong;  // offset in control_out_ of a pong no byte of which was written
};

}  // namespace derp::http
