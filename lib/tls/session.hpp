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
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <mbedtls/ssl.h>

#include "common/bytes.hpp"
#include "tls/peer_verifier.hpp"

namespace derp::tls {

class ServerConfig;
class ClientConfig;

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
  int fail(int code, std::string detail);
  int fail_mbedtls(int mbedtls_code, const char* during);

  // mbedTLS BIO callbacks (mbedtls_ssl_set_bio, p_bio = this).
  static int bio_send(void* self, const unsigned char* data, std::size_t len);
  static int bio_recv(void* self, unsigned char* data, std::size_t len);

  mbedtls_ssl_context ssl_;
  PeerVerifier verifier_;  // client role only
  std::vector<std::uint8_t> in_;
  std::size_t in_pos_ = 0;  // in_[in_pos_..] is not yet read by mbedTLS
  std::vector<std::uint8_t> out_;
  std::size_t out_pos_ = 0;  // out_[out_pos_..] is not yet taken by the host
  bool is_server_;
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
