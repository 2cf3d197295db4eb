// A TLS 1.2 connection after its handshake, on our own record layer (record_layer.hpp): application data in and
// out, and everything else the protocol asks of that phase (RFC 5246 §6.2, §7.2; RFC 5746 §4):
//   - close_notify from the peer: reported as closed (DERP_ERR_TLS_CLOSED), answered with our own close_notify;
//     nothing may follow it. Any other alert, warning or fatal, ends the connection (DERP_ERR_TLS_PROTOCOL).
//   - a handshake record (a renegotiating ClientHello, or a HelloRequest to a client) is refused with a
//     no_renegotiation warning, and the connection ends, as Go's crypto/tls does with renegotiation off.
//   - ChangeCipherSpec, heartbeat or an unknown content type: unexpected_message, fatal.
//   - a bad tag (flipped bit, replayed, reordered or truncated-and-padded record): bad_record_mac, fatal; a record
//     over 2^14 + 2048 bytes: record_overflow; a record version other than TLS 1.2's: protocol_version.
// Fatal alerts we send are sealed into the output queue before the error is returned, so the host can send them
// before it closes. Errors are sticky, as in Session.
//
// Sans-IO like Session, whose contract it implements (session.hpp): the Session delegates to it after the switch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/bytes.hpp"
#include "tls/byte_buffer.hpp"
#include "tls/record_layer.hpp"

namespace derp::tls {

class RecordStream {
 public:
  // `out` is where sealed records go (the session's output queue; it outlives this stream). `buffered` is received
  // ciphertext that followed the handshake in the same read (already at a record boundary), taken over as is.
  RecordStream(std::unique_ptr<RecordLayer> layer, OutQueue* out, Bytes buffered);

  // Buffered input, as Session::feed_ciphertext: at most kMaxBuffered bytes wait.
  static constexpr std::size_t kMaxBuffered = RecordLayer::kMaxRecordLen;
  int feed_ciphertext(Bytes in, std::size_t* accepted);
  int read_plaintext(MutableBytes out, std::size_t* got);

  // Zero-copy input: opens the next record where it lies. With nothing buffered and a whole record at the front
  // of `in`, it is opened in place there; otherwise bytes of `in` are buffered until a record is whole and it is
  // opened in the buffer. *used: bytes of `in` taken. *plaintext: the record's application data (valid until the
  // next call; empty for an empty record, a record that was not application data, or when more input is needed).
  // Call again while *used > 0 or *plaintext is non-empty. DERP_OK, DERP_ERR_TLS_CLOSED, or an error.
  int open_next(MutableBytes in, std::size_t* used, MutableBytes* plaintext);

  // Seals the views' bytes as records of up to 16 KiB each, several views per record: small frames queued
  // together share one record. Stops once kMaxPendingOut bytes wait (one record may overshoot). *accepted: bytes
  // taken, counted across the views in order.
  static constexpr std::size_t kMaxPendingOut = 64 * 1024;
  int write_gather(std::span<const Bytes> views, std::size_t* accepted);
  int close_notify();

  bool peer_closed() const { return peer_closed_; }
  int error() const { return error_; }
  const std::string& error_detail() const { return error_detail_; }
  const RecordLayer& layer() const { return *layer_; }

 private:
  // What one opened record means: application data to deliver (DERP_OK), nothing (DERP_OK with empty), closed,
  // or an error.
  int handle_record(const RecordLayer::OpenResult& record, MutableBytes* plaintext);
  int send_alert(bool fatal, AlertCode code);
  int fail(int code, std::string detail);
  int fail_with_alert(AlertCode code, std::string detail);

  std::unique_ptr<RecordLayer> layer_;
  OutQueue* out_;
  ByteBuffer in_;
  // read_plaintext: an opened record's plaintext in in_ not yet handed out ([0, plain_len_) from plain_at_), and
  // the record's size, consumed from in_ once handed out.
  std::size_t plain_at_ = 0;
  std::size_t plain_len_ = 0;
  std::size_t opened_record_len_ = 0;
  bool opened_in_buffer_ = false;  // open_next: in_'s front record was handed out, drop it on the next call
  bool peer_closed_ = false;
  bool sent_close_notify_ = false;
  int error_ = 0;
  std::string error_detail_;
};

}  // namespace derp::tls
