#include "tls/session.hpp"

#include <algorithm>
#include <cstring>
#include <new>

#include <sodium.h>

#include "derp/common.h"
#include "tls/client_config.hpp"
#include "common/ip_literal.hpp"
#include "tls/key_export.hpp"
#include "tls/record_sniff.hpp"
#include "tls/record_stream.hpp"
#include "tls/server_config.hpp"
#include "tls/tls_error.hpp"

namespace derp::tls {

namespace {

// A drained buffer larger than this gives its memory back, so an idle connection holds only mbedTLS' own
// buffers; smaller ones are kept to spare an allocation per record.
constexpr std::size_t kKeptBufferCapacity = 4096;

// Largest plaintext per record (RFC 5246 §6.2.1); mbedtls_ssl_write takes at most this much at a time.
constexpr std::size_t kMaxRecordPlaintext = 16384;

// Reads that return WANT_READ although received bytes are still buffered (mbedTLS does this after handling a
// HelloRequest or a warning alert) are retried this many times within one read_plaintext call.
constexpr int kMaxReadRetries = 16;

void release_drained(std::vector<std::uint8_t>* buffer, std::size_t* pos) {
  buffer->clear();
  *pos = 0;
  if (buffer->capacity() > kKeptBufferCapacity) std::vector<std::uint8_t>().swap(*buffer);
}

std::uint64_t load_be64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

bool is_x509_error(int mbedtls_code) {
  // High-level X.509 codes are -0x2080 .. -0x2980; a low-level code may be added to them.
  const int high = (-mbedtls_code) & 0xFF80;
  return high >= 0x2000 && high <= 0x3000;
}

}  // namespace

void Session::SslFree::operator()(mbedtls_ssl_context* ssl) const {
  mbedtls_ssl_free(ssl);
  delete ssl;
}

Session::Session(bool is_server) : is_server_(is_server) {}

Session::~Session() = default;

int Session::create_server(const ServerConfig& config, std::unique_ptr<Session>* out) {
  std::unique_ptr<Session> session(new Session(/*is_server=*/true));
  const int rc = session->setup(config.ssl_config());
  if (rc != DERP_OK) return rc;
  *out = std::move(session);
  return DERP_OK;
}

int Session::create_client(const ClientConfig& config, const ClientTarget& target, std::unique_ptr<Session>* out,
                           std::string* detail) {
  std::unique_ptr<Session> session(new Session(/*is_server=*/false));
  int rc = session->verifier_.configure(target.host, target.cert_name, detail);
  if (rc != DERP_OK) return rc;
  if (!config.insecure()) {
    if (!session->verifier_.pinned() && !config.has_trusted_cas()) {
      if (detail) *detail = "no trusted CA to verify \"" + target.host + "\" against, and no sha256-raw pin";
      return DERP_ERR_TLS_CONFIG;
    }
    if (!session->verifier_.pinned() && !session->verifier_.has_expected_name()) {
      if (detail) *detail = "no host name to verify the certificate against (dial a name, or pin with sha256-raw)";
      return DERP_ERR_TLS_CONFIG;
    }
    session->verify_peer_ = true;
  }
  if ((rc = session->setup(config.ssl_config())) != DERP_OK) return rc;
  if (session->verify_peer_) mbedtls_ssl_set_verify(session->ssl(), &PeerVerifier::on_certificate, &session->verifier_);

  // SNI carries a DNS name only, never an IP literal (RFC 6066 §3); Tailscale sends the node's HostName.
  std::string_view sni = target.host;
  if (sni.ends_with('.')) sni.remove_suffix(1);
  if (!sni.empty() && !is_ip_literal(sni)) {
    if (mbedtls_ssl_set_hostname(session->ssl(), std::string(sni).c_str()) != 0) {
      if (detail) *detail = "host name \"" + target.host + "\" cannot be sent as SNI";
      return DERP_ERR_TLS_CONFIG;
    }
  }
  // Writes the ClientHello so the host can send it straight away.
  if ((rc = session->advance_handshake()) != DERP_OK) {
    if (detail) *detail = session->error_detail_;
    return rc;
  }
  *out = std::move(session);
  return DERP_OK;
}

int Session::setup(const mbedtls_ssl_config* conf) {
  ssl_.reset(new (std::nothrow) mbedtls_ssl_context);
  key_block_.reset(new (std::nothrow) KeyBlock);
  if (!ssl_ || !key_block_) return DERP_ERR_NO_MEMORY;
  mbedtls_ssl_init(ssl_.get());
  const int rc = mbedtls_ssl_setup(ssl_.get(), conf);
  if (rc != 0) return rc == MBEDTLS_ERR_SSL_ALLOC_FAILED ? DERP_ERR_NO_MEMORY : fail_mbedtls(rc, "setting up");
  mbedtls_ssl_set_bio(ssl_.get(), this, &Session::bio_send, &Session::bio_recv, nullptr);
  return DERP_OK;
}

Session* Session::from_ssl(mbedtls_ssl_context* ssl) {
  // mbedTLS 2.28 has no user pointer on a context (3.x adds mbedtls_ssl_set_user_data_p); the BIO context
  // registered in setup() is this session.
  return static_cast<Session*>(ssl->p_bio);
}

void Session::note_refused_server_name(std::string_view name) { refused_server_name_ = std::string(name); }

// ---- ciphertext in -----------------------------------------------------------------------------------------

int Session::feed_ciphertext(Bytes in, std::size_t* accepted) {
  *accepted = 0;
  if (error_ != 0) return error_;
  if (peer_closed_) return DERP_ERR_TLS_CLOSED;  // nothing may follow close_notify (RFC 5246 §7.2.1)
  if (records_) return records_->feed_ciphertext(in, accepted);
  if (!received_any_ && !in.empty()) {
    // The peer's very first bytes: a peer that speaks no TLS at all (an https:// URL for a plain-HTTP server, a
    // plain-HTTP client on the TLS port) gets named as such.
    received_any_ = true;
    if (const std::string what = describe_non_tls(in); !what.empty()) {
      *accepted = in.size();
      return fail(DERP_ERR_TLS_HANDSHAKE,
                  is_server_ ? "the client sent " + what + " (a plain-HTTP client on the TLS port?)"
                             : "the server answered with " + what + " (a plain-HTTP server? use an http:// URL)");
    }
  }
  if (in_pos_ > 0) {
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(in_pos_));
    in_pos_ = 0;
  }
  const std::size_t take = std::min(in.size(), kMaxBufferedCiphertextIn - in_.size());
  in_.insert(in_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(take));
  *accepted = take;
  return advance_handshake();
}

int Session::bio_recv(void* self, unsigned char* data, std::size_t len) {
  auto* session = static_cast<Session*>(self);
  const std::size_t available = session->in_.size() - session->in_pos_;
  if (available == 0) return MBEDTLS_ERR_SSL_WANT_READ;
  const std::size_t n = std::min(len, available);
  std::memcpy(data, session->in_.data() + session->in_pos_, n);
  session->in_pos_ += n;
  if (session->in_pos_ == session->in_.size()) release_drained(&session->in_, &session->in_pos_);
  return static_cast<int>(n);  // n <= one record, far below INT_MAX
}

// ---- ciphertext out ----------------------------------------------------------------------------------------

int Session::bio_send(void* self, const unsigned char* data, std::size_t len) {
  // Always takes everything: the host drains out_, and write_plaintext stops feeding records while it is full.
  auto* session = static_cast<Session*>(self);
  if (!session->out_.tail().append(Bytes(data, len))) return MBEDTLS_ERR_SSL_ALLOC_FAILED;
  return static_cast<int>(len);  // len <= one record
}

Bytes Session::pending_ciphertext() const { return out_.pending(); }

void Session::consume_ciphertext(std::size_t n) { out_.consume(n); }

std::size_t Session::take_ciphertext(MutableBytes out) {
  const Bytes pending = pending_ciphertext();
  const std::size_t n = std::min(out.size(), pending.size());
  if (n != 0) std::memcpy(out.data(), pending.data(), n);
  consume_ciphertext(n);
  return n;
}

// ---- handshake ---------------------------------------------------------------------------------------------

int Session::advance_handshake() {
  if (handshake_done_) return DERP_OK;
  int rc;
  {
    const KeyExportScope scope(key_block_.get());  // the key block of this handshake lands in key_block_
    rc = mbedtls_ssl_handshake(ssl_.get());
  }
  if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return DERP_OK;
  if (rc != 0) return fail_mbedtls(rc, "handshake");
  if (verify_peer_) {
    const int verdict = verifier_.check_handshake_result(mbedtls_ssl_get_verify_result(ssl_.get()));
    if (verdict != DERP_OK) {
      mbedtls_ssl_send_alert_message(ssl_.get(), MBEDTLS_SSL_ALERT_LEVEL_FATAL, MBEDTLS_SSL_ALERT_MSG_BAD_CERT);
      return fail(verdict, verifier_.detail());
    }
  }
  handshake_done_ = true;
  switch_to_record_layer();
  return DERP_OK;
}

// The switch happens at a clean record boundary, and this is why. mbedTLS 2.28 reads from our BIO only what the
// record it is parsing needs (mbedtls_ssl_fetch_input asks for the 5-byte header, then exactly the body), so
// when the handshake ends on the peer's Finished, every byte that came after that record is still unread in
// in_[in_pos_..] and starts at a record boundary: application data that arrived in the same read as the
// Finished (a client's HTTP upgrade request right behind its Finished, a server's first frames behind its own)
// is handed to the record layer untouched. mbedtls_ssl_check_pending() == 0 confirms mbedTLS keeps no record,
// plaintext or handshake message of its own, and out_left == 0 that it has no record half written (bio_send takes
// everything at once). The sequence numbers are mbedTLS' own counters for the next record each way (1 and 1
// after a full handshake: the Finished messages were record 0 of the new epoch). If anything of this does not
// hold, or the suite is not one of ours, the session simply stays on mbedTLS' records.
void Session::switch_to_record_layer() {
  mbedtls_ssl_context* ssl = ssl_.get();
  const char* suite_name = mbedtls_ssl_get_ciphersuite(ssl);
  const std::optional<Aead> aead =
      suite_name != nullptr ? record_layer_aead(mbedtls_ssl_get_ciphersuite_id(suite_name)) : std::nullopt;
  if (keep_mbedtls_records_) return;  // tests: key_block_ stays for keys_for_test
  if (!aead || mbedtls_ssl_check_pending(ssl) != 0 || ssl->out_left != 0 || ssl->in_ctr == nullptr) {
    key_block_.reset();
    return;
  }
  TrafficKeys keys;
  const bool split = traffic_keys_from(*key_block_, *aead, is_server_, load_be64(ssl->cur_out_ctr),
                                       load_be64(ssl->in_ctr), &keys);
  key_block_.reset();
  std::unique_ptr<RecordLayer> layer;
  if (split && RecordLayer::create(keys, &layer) == DERP_OK) {
    if (const char* protocol = mbedtls_ssl_get_alpn_protocol(ssl)) alpn_ = protocol;
    records_ = std::make_unique<RecordStream>(std::move(layer), &out_,
                                              Bytes(in_.data() + in_pos_, in_.size() - in_pos_));
    std::vector<std::uint8_t>().swap(in_);
    in_pos_ = 0;
    ssl_.reset();  // mbedTLS' two 16 KiB record buffers, the transform, the peer's certificate: all gone
  }
  sodium_memzero(&keys, sizeof keys);
}

bool Session::keys_for_test(Aead aead, std::uint64_t write_seq, std::uint64_t read_seq, TrafficKeys* out) const {
  return keep_mbedtls_records_ && key_block_ && traffic_keys_from(*key_block_, aead, is_server_, write_seq, read_seq, out);
}

std::string_view Session::alpn_protocol() const {
  if (!ssl_) return alpn_;
  const char* protocol = mbedtls_ssl_get_alpn_protocol(ssl_.get());
  return protocol != nullptr ? std::string_view(protocol) : std::string_view();
}

const char* Session::record_path() const {
  if (!records_) return "mbedTLS";
  return records_->layer().aead() == Aead::kAes256Gcm ? "AES-256-GCM (libsodium)" : "ChaCha20-Poly1305 (libsodium)";
}

// ---- plaintext ---------------------------------------------------------------------------------------------

int Session::read_plaintext(MutableBytes out, std::size_t* got) {
  *got = 0;
  if (error_ != 0) return error_;
  if (peer_closed_) return DERP_ERR_TLS_CLOSED;
  if (!handshake_done_) {
    const int rc = advance_handshake();
    if (rc != DERP_OK || !handshake_done_) return rc;
  }
  if (records_) return sync_records(records_->read_plaintext(out, got));
  if (out.empty()) return DERP_OK;
  int n = mbedtls_ssl_read(ssl_.get(), out.data(), out.size());
  for (int retry = 0; n == MBEDTLS_ERR_SSL_WANT_READ && in_pos_ < in_.size() && retry < kMaxReadRetries; ++retry) {
    n = mbedtls_ssl_read(ssl_.get(), out.data(), out.size());
  }
  if (n > 0) {
    *got = static_cast<std::size_t>(n);
    return DERP_OK;
  }
  if (n == 0 || n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE) return DERP_OK;
  if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
    // The orderly end, not a failure: we may still answer with our own close_notify.
    peer_closed_ = true;
    return DERP_ERR_TLS_CLOSED;
  }
  return fail_mbedtls(n, "reading a record");
}

int Session::write_plaintext(Bytes in, std::size_t* accepted) {
  *accepted = 0;
  if (error_ != 0) return error_;
  if (sent_close_notify_) return DERP_ERR_TLS_CLOSED;
  if (!handshake_done_) return DERP_OK;
  if (records_) return sync_records(records_->write_gather(std::span<const Bytes>(&in, 1), accepted));
  while (*accepted < in.size() && out_.size() < kMaxPendingCiphertextOut) {
    const std::size_t chunk = std::min(in.size() - *accepted, kMaxRecordPlaintext);
    const int n = mbedtls_ssl_write(ssl_.get(), in.data() + *accepted, chunk);
    if (n > 0) {
      *accepted += static_cast<std::size_t>(n);
    } else if (n == MBEDTLS_ERR_SSL_WANT_WRITE || n == MBEDTLS_ERR_SSL_WANT_READ) {
      break;
    } else {
      return fail_mbedtls(n, "writing a record");
    }
  }
  return DERP_OK;
}

int Session::write_gather(std::span<const Bytes> views, std::size_t* accepted) {
  *accepted = 0;
  if (records_) {
    if (error_ != 0) return error_;
    if (sent_close_notify_) return DERP_ERR_TLS_CLOSED;
    if (!handshake_done_) return DERP_OK;
    return sync_records(records_->write_gather(views, accepted));
  }
  for (const Bytes view : views) {
    std::size_t n = 0;
    const int rc = write_plaintext(view, &n);
    *accepted += n;
    if (rc != DERP_OK || n < view.size()) return rc;
  }
  return DERP_OK;
}

int Session::open_next(MutableBytes in, std::size_t* used, MutableBytes* plaintext) {
  *used = 0;
  *plaintext = {};
  if (error_ != 0) return error_;
  if (!records_) return fail(DERP_ERR_TLS_PROTOCOL, "open_next before the switch to our record layer");
  return sync_records(records_->open_next(in, used, plaintext));
}

// The stream's state mirrored in the session's (peer_closed(), error(), error_detail()).
int Session::sync_records(int rc) {
  if (records_->peer_closed()) peer_closed_ = true;
  if (records_->error() != 0 && error_ == 0) {
    error_ = records_->error();
    error_detail_ = records_->error_detail();
  }
  return rc;
}

int Session::close_notify() {
  if (error_ != 0) return error_;
  if (sent_close_notify_) return DERP_OK;
  sent_close_notify_ = true;
  if (records_) return sync_records(records_->close_notify());
  const int rc = mbedtls_ssl_close_notify(ssl_.get());  // sends nothing before the handshake is over
  if (rc != 0 && rc != MBEDTLS_ERR_SSL_WANT_WRITE) return fail_mbedtls(rc, "sending close_notify");
  return DERP_OK;
}

// ---- errors ------------------------------------------------------------------------------------------------

int Session::fail(int code, std::string detail) {
  error_ = code;
  error_detail_ = std::move(detail);
  return code;
}

int Session::fail_mbedtls(int mbedtls_code, const char* during) {
  const std::string what = std::string(during) + ": " + mbedtls_error_text(mbedtls_code);
  // Our own verdicts name the cause better than the mbedTLS code that carried them out.
  if (verifier_.verdict() != DERP_OK) return fail(verifier_.verdict(), verifier_.detail());
  if (!refused_server_name_.empty()) {
    return fail(DERP_ERR_TLS_SERVER_NAME, "client asked for server name \"" + refused_server_name_ +
                                              "\", which this server does not serve (" + what + ")");
  }
  if (mbedtls_code == MBEDTLS_ERR_SSL_ALLOC_FAILED) return fail(DERP_ERR_NO_MEMORY, what);
  if (mbedtls_code == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
    peer_closed_ = true;
    return fail(DERP_ERR_TLS_CLOSED, what);
  }
  if (!handshake_done_) {
    const bool certificate = is_x509_error(mbedtls_code) || mbedtls_code == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE ||
                             mbedtls_code == MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED;
    return fail(certificate ? DERP_ERR_TLS_CERTIFICATE : DERP_ERR_TLS_HANDSHAKE, what);
  }
  return fail(DERP_ERR_TLS_PROTOCOL, what);
}

}  // namespace derp::tls
