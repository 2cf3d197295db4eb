#include "tls/record_stream.hpp"

#include <algorithm>
#include <cstring>

#include "derp/common.h"

namespace derp::tls {

namespace {

constexpr std::uint8_t kAlertWarning = 1;
constexpr std::uint8_t kAlertFatal = 2;

}  // namespace

RecordStream::RecordStream(std::unique_ptr<RecordLayer> layer, OutQueue* out, Bytes buffered)
    : layer_(std::move(layer)), out_(out) {
  // At most one record plus a header's worth can follow the Finished in mbedTLS' input (Session bounds it).
  if (!buffered.empty() && !in_.append(buffered)) fail(DERP_ERR_NO_MEMORY, "buffering input at the switch");
}

int RecordStream::fail(int code, std::string detail) {
  if (error_ == 0) {
    error_ = code;
    error_detail_ = std::move(detail);
  }
  return error_;
}

int RecordStream::send_alert(bool fatal, AlertCode code) {
  if (sent_close_notify_) return DERP_OK;  // nothing follows our close_notify (RFC 5246 §7.2.1)
  if (code == AlertCode::kCloseNotify) sent_close_notify_ = true;
  const std::size_t len = layer_->seal_overhead() + 2;
  std::uint8_t* record = out_->tail().reserve_back(len);
  if (record == nullptr) return DERP_ERR_NO_MEMORY;
  record[layer_->seal_headroom()] = fatal ? kAlertFatal : kAlertWarning;
  record[layer_->seal_headroom() + 1] = static_cast<std::uint8_t>(code);
  const int rc = layer_->seal(ContentType::kAlert, record, 2);
  if (rc == DERP_OK) out_->tail().commit(len);
  return rc;
}

int RecordStream::fail_with_alert(AlertCode code, std::string detail) {
  if (error_ == 0) send_alert(/*fatal=*/true, code);  // best effort: the error stands either way
  return fail(DERP_ERR_TLS_PROTOCOL, std::move(detail));
}

int RecordStream::handle_record(const RecordLayer::OpenResult& record, MutableBytes* plaintext) {
  *plaintext = {};
  switch (static_cast<ContentType>(record.type)) {
    case ContentType::kApplicationData:
      *plaintext = record.plaintext;
      return DERP_OK;
    case ContentType::kAlert: {
      // mbedTLS and Go both take an alert only as one whole 2-byte record.
      if (record.plaintext.size() != 2) return fail_with_alert(AlertCode::kDecodeError, "alert record not 2 bytes");
      const std::uint8_t level = record.plaintext[0];
      const std::uint8_t description = record.plaintext[1];
      if (description == static_cast<std::uint8_t>(AlertCode::kCloseNotify)) {
        // The orderly end, not a failure; we answer with our own close_notify (RFC 5246 §7.2.1).
        peer_closed_ = true;
        send_alert(/*fatal=*/false, AlertCode::kCloseNotify);
        return DERP_ERR_TLS_CLOSED;
      }
      return fail(DERP_ERR_TLS_PROTOCOL, std::string("peer sent ") + (level == kAlertFatal ? "fatal" : "warning") +
                                             " alert " + std::to_string(description));
    }
    case ContentType::kHandshake:
      // After the handshake a handshake record can only start a renegotiation, which we never do: refuse it
      // with the warning RFC 5746 §4.2/§4.4 names, and end the connection (Go's crypto/tls does the same).
      send_alert(/*fatal=*/false, AlertCode::kNoRenegotiation);
      return fail(DERP_ERR_TLS_PROTOCOL, "peer tried to renegotiate; refused");
    default:
      return fail_with_alert(AlertCode::kUnexpectedMessage,
                             "unexpected record type " + std::to_string(record.type) + " after the handshake");
  }
}

int RecordStream::feed_ciphertext(Bytes in, std::size_t* accepted) {
  *accepted = 0;
  if (error_ != 0) return error_;
  if (peer_closed_) return DERP_ERR_TLS_CLOSED;  // nothing may follow close_notify
  const std::size_t room = kMaxBuffered > in_.size() ? kMaxBuffered - in_.size() : 0;
  const std::size_t take = std::min(in.size(), room);
  if (take == 0) return DERP_OK;
  if (!in_.append(in.first(take))) return fail(DERP_ERR_NO_MEMORY, "buffering received records");
  *accepted = take;
  return DERP_OK;
}

int RecordStream::read_plaintext(MutableBytes out, std::size_t* got) {
  *got = 0;
  if (error_ != 0) return error_;
  // Bounded: every pass either hands out bytes or consumes one whole record from in_, which is bounded.
  for (;;) {
    if (plain_len_ > 0) {
      if (out.empty()) return DERP_OK;
      const std::size_t n = std::min(out.size(), plain_len_);
      std::memcpy(out.data(), in_.data() + plain_at_, n);
      plain_at_ += n;
      plain_len_ -= n;
      *got = n;
      if (plain_len_ == 0) {
        in_.consume(opened_record_len_);
        opened_record_len_ = 0;
      }
      return DERP_OK;
    }
    if (opened_record_len_ != 0) {  // an empty record, or one open_next handed out
      in_.consume(opened_record_len_);
      opened_record_len_ = 0;
      opened_in_buffer_ = false;
    }
    if (peer_closed_) return DERP_ERR_TLS_CLOSED;
    if (out.empty()) return DERP_OK;
    const RecordLayer::OpenResult r = layer_->open(in_.mutable_view());
    if (r.status == RecordLayer::Opened::kNeedMore) return DERP_OK;
    if (r.status == RecordLayer::Opened::kError) return fail_with_alert(r.alert, r.reason);
    MutableBytes plaintext;
    const int rc = handle_record(r, &plaintext);
    if (rc != DERP_OK) {
      in_.consume(r.record_len);
      return rc;
    }
    opened_record_len_ = r.record_len;
    plain_at_ = static_cast<std::size_t>(plaintext.data() - in_.data());
    plain_len_ = plaintext.size();
  }
}

int RecordStream::open_next(MutableBytes in, std::size_t* used, MutableBytes* plaintext) {
  *used = 0;
  *plaintext = {};
  if (error_ != 0) return error_;
  if (opened_in_buffer_ || (opened_record_len_ != 0 && plain_len_ == 0)) {
    in_.consume(opened_record_len_);  // the record handed out last time
    opened_record_len_ = 0;
    opened_in_buffer_ = false;
  }
  if (plain_len_ > 0) {  // left over from read_plaintext: hand out the rest first
    *plaintext = MutableBytes(in_.data() + plain_at_, plain_len_);
    plain_len_ = 0;
    opened_in_buffer_ = true;
    return DERP_OK;
  }
  if (peer_closed_) return DERP_ERR_TLS_CLOSED;
  if (in_.empty()) {
    const RecordLayer::OpenResult r = layer_->open(in);
    if (r.status == RecordLayer::Opened::kError) return fail_with_alert(r.alert, r.reason);
    if (r.status == RecordLayer::Opened::kRecord) {
      *used = r.record_len;  // opened in place: its plaintext is in the caller's buffer
      return handle_record(r, plaintext);
    }
    // Part of a record: keep it (at most one record's worth; the header was checked) until the rest arrives.
    const std::size_t take = std::min(in.size(), kMaxBuffered);
    if (take != 0 && !in_.append(in.first(take))) return fail(DERP_ERR_NO_MEMORY, "buffering a partial record");
    *used = take;
    return DERP_OK;
  }
  // A record is started in in_: top it up with just what it lacks, then open it there.
  for (int step = 0; step < 3; ++step) {  // header, then body, then open: three steps at most
    const RecordLayer::OpenResult r = layer_->open(in_.mutable_view());
    if (r.status == RecordLayer::Opened::kError) return fail_with_alert(r.alert, r.reason);
    if (r.status == RecordLayer::Opened::kRecord) {
      opened_record_len_ = r.record_len;
      opened_in_buffer_ = true;
      return handle_record(r, plaintext);
    }
    const std::size_t need = r.record_len - in_.size();
    const std::size_t take = std::min(need, in.size() - *used);
    if (take == 0) return DERP_OK;
    if (!in_.append(in.subspan(*used, take))) return fail(DERP_ERR_NO_MEMORY, "buffering a partial record");
    *used += take;
    if (take < need) return DERP_OK;
  }
  return DERP_OK;
}

int RecordStream::write_gather(std::span<const Bytes> views, std::size_t* accepted) {
  *accepted = 0;
  if (error_ != 0) return error_;
  if (sent_close_notify_) return DERP_ERR_TLS_CLOSED;
  // Room for every record this call will seal, reserved once: growing record by record would copy what is
  // already sealed at each doubling (a second copy of every byte for 16 KiB packets) and allocate each time.
  std::size_t plaintext = 0;
  for (const Bytes v : views) plaintext += v.size();
  if (plaintext > 0 && out_->size() < kMaxPendingOut) {
    plaintext = std::min(plaintext, kMaxPendingOut - out_->size() + RecordLayer::kMaxPlaintext);
    const std::size_t records = (plaintext + RecordLayer::kMaxPlaintext - 1) / RecordLayer::kMaxPlaintext;
    if (out_->tail().reserve_back(plaintext + records * layer_->seal_overhead()) == nullptr) {
      return fail(DERP_ERR_NO_MEMORY, "sealing a record");
    }
  }
  std::size_t view = 0;
  std::size_t offset = 0;  // into views[view]
  while (out_->size() < kMaxPendingOut) {
    while (view < views.size() && offset == views[view].size()) {
      ++view;
      offset = 0;
    }
    if (view == views.size()) break;
    // This record's plaintext: as much of the remaining views as fits in 2^14 bytes.
    std::size_t chunk = 0;
    for (std::size_t v = view, o = offset; v < views.size() && chunk < RecordLayer::kMaxPlaintext; ++v, o = 0) {
      chunk += std::min(views[v].size() - o, RecordLayer::kMaxPlaintext - chunk);
    }
    const std::size_t len = layer_->seal_overhead() + chunk;
    std::uint8_t* record = out_->tail().reserve_back(len);
    if (record == nullptr) return fail(DERP_ERR_NO_MEMORY, "sealing a record");
    std::uint8_t* at = record + layer_->seal_headroom();
    for (std::size_t left = chunk; left > 0;) {
      const std::size_t n = std::min(views[view].size() - offset, left);
      std::memcpy(at, views[view].data() + offset, n);
      at += n;
      left -= n;
      offset += n;
      if (offset == views[view].size()) {
        ++view;
        offset = 0;
      }
    }
    if (const int rc = layer_->seal(ContentType::kApplicationData, record, chunk); rc != DERP_OK) {
      return fail(rc, "write sequence numbers used up (2^64 records)");
    }
    out_->tail().commit(len);
    *accepted += chunk;
  }
  return DERP_OK;
}

int RecordStream::close_notify() {
  if (error_ != 0) return error_;
  if (sent_close_notify_) return DERP_OK;
  return send_alert(/*fatal=*/false, AlertCode::kCloseNotify);
}

}  // namespace derp::tls
