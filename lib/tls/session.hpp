// One TLS connection as a memory BIO: ciphertext bytes in and out, plaintext bytes in and out, no sockets, no
// clocks. The host moves bytes between its transport and the session; protocol cores see only plaintext.
//
// Host loop (both roles):
//   on bytes from the network:  while any left: feed_ciphertext(rest, &used); drop `used`;
//                                 then read_plaintext(...) until it gives 0 bytes.
//   whenever pending_ciphertext() is non-empty: send it, then consume_ciphertext(sent).
//   to send application data:   write_plaintext(data, &accepted) once handshake_done(); keep the rest for later
//                                 (accepted < size means the output queue is full: drain it first).
// Every call may produce ciphertext (handshake messages, alerts), so check pending_ciphertext() after each.
// After an error the session is dead: every call returns the same error, and pending_ciphertext() may still
// hold an alert worth sending before the transport is closed.
//
// Two record paths. mbedTLS does the handshake. When it ends with ECDHE-ECDSA/ECDHE-RSA and AES-256-GCM-SHA384 or
// CHACHA20-POLY1305-SHA256 (the server's first choices, tls_policy.cpp), the session takes the record keys and
// sequence numbers out of mbedTLS (key_export.hpp), frees the mbedTLS context, and carries every later record on
// its own record layer (record_stream.hpp: libsodium's AEAD; on_record_layer() is then true). Any other suite
// stays on mbedTLS' record path. The calls above behave the same on both; on our record layer two more avoid
// copies: open_next() opens records in place in the host's read buffer, and write_gather() packs several
// frames into one record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <mbedtls/ssl.h>

#include "common/bytes.hpp"
#include "tls/byte_buffer.hpp"
#include "tls/peer_verifier.hpp"
#include "tls/record_layer.hpp"

namespace derp::tls {

class ServerConfig;
class ClientConfig;
class RecordStream;
struct KeyBlock;

// Which server a client session dials: the fields of a DERPNode that matter for TLS.
struct ClientTarget {
  std::string host;       // HostName: a DNS name is sent as SNI and verified; an IP literal is verified against
                          // iPAddress names and sends no SNI (RFC 6066 §3); "" sends no SNI and checks no name
                          // (allowed only with a pin or an insecure config)
  std::string cert_name;  // CertName: "", "sha256-raw:<64 hex>" (pin), or a DNS name to verify instead of host
};

class Session {
 public:
  // At most this much received ciphertext waits in the session: one largest TLS record, 5-byte header plus
  // 2^14 + 2048 bytes of protected payload (RFC 5246 §6.2.3). mbedTLS copies each record into its own 16 KiB
  // input buffer as it reads it.
  static constexpr std::size_t kMaxBufferedCiphertextIn = 5 + 16384 + 2048;
  // write_plaintext stops accepting once this much ciphertext waits for the host to send (one record may
  // overshoot it).
  static constexpr std::size_t kMaxPendingCiphertextOut = 64 * 1024;

  // A server session; it waits for the ClientHello. DERP_OK, or DERP_ERR_NO_MEMORY.
  static int create_server(const ServerConfig& config, std::unique_ptr<Session>* out);
  // A client session; its ClientHello is in pending_ciphertext() at once. DERP_OK, DERP_ERR_NO_MEMORY, or
  // DERP_ERR_TLS_CONFIG (malformed pin, or nothing to verify against) with *detail.
  static int create_client(const ClientConfig& config, const ClientTarget& target, std::unique_ptr<Session>* out,
                           std::string* detail);

  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Takes as much of `in` as fits (see kMaxBufferedCiphertextIn; 0 when full until read_plaintext drains it)
  // and advances the handshake. *accepted says how much was taken. DERP_OK or a DERP_ERR_TLS_* code.
  int feed_ciphertext(Bytes in, std::size_t* accepted);

  // Ciphertext for the network, in order. consume_ciphertext(n) drops the first n bytes once sent;
  // take_ciphertext copies out and consumes in one step, returning the count.
  Bytes pending_ciphertext() const;
  void consume_ciphertext(std::size_t n);
  std::size_t take_ciphertext(MutableBytes out);

  // Decrypts into `out`. *got = 0 means it needs more ciphertext (or the handshake is still running).
  // DERP_OK; DERP_ERR_TLS_CLOSED once the peer's close_notify arrived (peer_closed() is then true); or an error.
  int read_plaintext(MutableBytes out, std::size_t* got);

  // Encrypts as many bytes of `in` as the output queue allows, as records of at most 16 KiB. *accepted = 0
  // before the handshake completes or while kMaxPendingCiphertextOut is reached. DERP_OK or an error
  // (DERP_ERR_TLS_CLOSED after close_notify()).
  int write_plaintext(Bytes in, std::size_t* accepted);

  // write_plaintext over several views in order: on our record layer, views queued together share records of up
  // to 16 KiB (a burst of small DERP frames becomes one record); on mbedTLS' path, one view after the other.
  // *accepted counts bytes across the views.
  int write_gather(std::span<const Bytes> views, std::size_t* accepted);

  // On our record layer only (on_record_layer()): opens the next record of `in` in place where it can (see
  // RecordStream::open_next). *plaintext lies in `in` or in the session, valid until the next call. Call
  // while *used > 0 or *plaintext is non-empty. DERP_OK, DERP_ERR_TLS_CLOSED after the peer's close_notify, or an
  // error.
  int open_next(MutableBytes in, std::size_t* used, MutableBytes* plaintext);
  bool on_record_layer() const { return records_ != nullptr; }
  // "AES-256-GCM (libsodium)", "ChaCha20-Poly1305 (libsodium)", or "mbedTLS" (also during the handshake).
  const char* record_path() const;

  // While held, what pending_ciphertext() shows stays where it is (new ciphertext queues behind it), so the host
  // may hand it to a write that completes later without copying it; release once that write is done and the
  // bytes consumed.
  void hold_pending(bool on) { out_.hold(on); }

  // Tests: keep mbedTLS' record path even for our suites, and keep the exported key block, so a test can seal
  // and open records as this session's mbedTLS does (and compare them byte for byte). Call right after create.
  void keep_mbedtls_records_for_test() { keep_mbedtls_records_ = true; }
  // This session's keys for `aead` (as the handshake exported them, once it has) with the given sequence numbers;
  // false when there is no key block of that layout. Only with keep_mbedtls_records_for_test().
  bool keys_for_test(Aead aead, std::uint64_t write_seq, std::uint64_t read_seq, TrafficKeys* out) const;

  // Queues our close_notify alert (RFC 5246 §7.2.1); nothing may be written afterwards. DERP_OK or an error.
  int close_notify();

  bool handshake_done() const { return handshake_done_; }
  bool peer_closed() const { return peer_closed_; }
  bool is_server() const { return is_server_; }
  // The negotiated ALPN protocol ("http/1.1"), or "" when none was.
  std::string_view alpn_protocol() const;
  // The first error (sticky), 0 if none; and what mbedTLS or the verifier said about it, for logs.
  int error() const { return error_; }
  const std::string& error_detail() const { return error_detail_; }

  // For the server's SNI callback (server_config.cpp): the session behind an mbedTLS context, and the report
  // that the ClientHello named another server.
  static Session* from_ssl(mbedtls_ssl_context* ssl);
  void note_refused_server_name(std::string_view name);

 private:
  explicit Session(bool is_server);
  int setup(const mbedtls_ssl_config* conf);
  int advance_handshake();
  void switch_to_record_layer();
  int sync_records(int rc);
  mbedtls_ssl_context* ssl() const { return ssl_.get(); }
  int fail(int code, std::string detail);
  int fail_mbedtls(int mbedtls_code, const char* during);

  // mbedTLS BIO callbacks (mbedtls_ssl_set_bio, p_bio = this).
  static int bio_send(void* self, const unsigned char* data, std::size_t len);
  static int bio_recv(void* self, unsigned char* data, std::size_t len);

  struct SslFree {
    void operator()(mbedtls_ssl_context* ssl) const;
  };
  std::unique_ptr<mbedtls_ssl_context, SslFree> ssl_;  // freed at the switch to our record layer
  std::unique_ptr<KeyBlock> key_block_;                // filled during the handshake, gone after it
  std::unique_ptr<RecordStream> records_;              // after the switch
  std::string alpn_;                                   // kept from mbedTLS at the switch
  PeerVerifier verifier_;  // client role only
  std::vector<std::uint8_t> in_;
  std::size_t in_pos_ = 0;  // in_[in_pos_..] is not yet read by mbedTLS
  OutQueue out_;
  bool is_server_;
  bool keep_mbedtls_records_ = false;
  bool verify_peer_ = false;  // client role with a verifying config (not insecure)
  bool handshake_done_ = false;
  bool peer_closed_ = false;
  bool sent_close_notify_ = false;
  bool received_any_ = false;  // the peer's first bytes have been checked (record_sniff.hpp)
  int error_ = 0;
  std::string error_detail_;
  std::string refused_server_name_;
};

}  // namespace derp::tls
