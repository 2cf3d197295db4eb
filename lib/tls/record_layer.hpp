// TLS 1.2 record protection for the two AEAD suites we take over from mbedTLS once the handshake is done: one
// record sealed or opened at a time, in place, no I/O and no allocation (RFC 5246 §6.2, with libsodium's AEAD).
//
//   AES-256-GCM (RFC 5288): nonce = 4-byte salt from the key block || 8-byte explicit nonce carried in the record
//     (we send the sequence number there, as mbedTLS does, so our records are byte-identical to its records).
//   ChaCha20-Poly1305 (RFC 7905 §2): nonce = 12-byte IV XOR the sequence number (left-padded), nothing explicit.
//   Additional data for both (RFC 5246 §6.2.3.3): seq_num(8) || type(1) || version(2) || plaintext length(2).
//
// A sealed record in the caller's buffer:  [5-byte header][explicit nonce, 8 or 0][plaintext -> ciphertext][16 tag]
// so a caller that writes its plaintext at seal_headroom() into a buffer with seal_tailroom() spare at the end gets
// the record without any copy. An opened record's plaintext lies where its ciphertext was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include <sodium.h>

#include "common/bytes.hpp"

namespace derp::tls {

// TLS ContentType (RFC 5246 §6.2.1) and the AlertDescription values we send or name (§7.2).
enum class ContentType : std::uint8_t { kChangeCipherSpec = 20, kAlert = 21, kHandshake = 22, kApplicationData = 23 };
enum class AlertCode : std::uint8_t {
  kCloseNotify = 0,
  kUnexpectedMessage = 10,
  kBadRecordMac = 20,
  kRecordOverflow = 22,
  kDecodeError = 50,
  kProtocolVersion = 70,
  kInternalError = 80,
  kNoRenegotiation = 100,
};

enum class Aead : std::uint8_t { kAes256Gcm, kChaCha20Poly1305 };

// One direction's keys as the key block gives them (RFC 5246 §6.3), and the sequence number of its next record.
struct DirectionKeys {
  std::uint8_t key[32] = {};
  std::uint8_t iv[12] = {};  // AES-GCM uses the first 4 bytes (the salt); ChaCha20-Poly1305 all 12
  std::uint64_t seq = 0;
};

struct TrafficKeys {
  Aead aead = Aead::kChaCha20Poly1305;
  DirectionKeys write;  // what we seal with
  DirectionKeys read;   // what we open with
};

class RecordLayer {
 public:
  static constexpr std::size_t kHeaderLen = 5;
  static constexpr std::size_t kTagLen = 16;
  static constexpr std::size_t kMaxPlaintext = 16384;                // 2^14 (RFC 5246 §6.2.1)
  static constexpr std::size_t kMaxProtectedLen = kMaxPlaintext + 2048;  // 2^14 + 2048 (§6.2.3)
  static constexpr std::size_t kMaxRecordLen = kHeaderLen + kMaxProtectedLen;

  // Takes the keys; the AES-256-GCM key schedule is expanded once here. DERP_OK, or DERP_ERR_TLS_CONFIG when
  // AES-256-GCM is asked for on a CPU where libsodium does not offer it (crypto_aead_aes256gcm_is_available).
  static int create(const TrafficKeys& keys, std::unique_ptr<RecordLayer>* out);
  ~RecordLayer();
  RecordLayer(const RecordLayer&) = delete;
  RecordLayer& operator=(const RecordLayer&) = delete;

  Aead aead() const { return aead_; }
  std::size_t seal_headroom() const { return kHeaderLen + explicit_nonce_len(); }
  static constexpr std::size_t seal_tailroom() { return kTagLen; }
  std::size_t seal_overhead() const { return seal_headroom() + kTagLen; }

  // Seals the plaintext at record[seal_headroom(), + plaintext_len) in place; record must hold seal_overhead() +
  // plaintext_len bytes. DERP_OK, or DERP_ERR_TLS_PROTOCOL when plaintext_len > kMaxPlaintext or the write
  // sequence numbers are used up (2^64 records: RFC 5246 §6.1 forbids a wrap).
  int seal(ContentType type, std::uint8_t* record, std::size_t plaintext_len);

  enum class Opened { kRecord, kNeedMore, kError };
  struct OpenResult {
    Opened status = Opened::kNeedMore;
    std::uint8_t type = 0;       // kRecord: the record's content type (not checked here)
    MutableBytes plaintext;      // kRecord: inside `in`, where the ciphertext was
    std::size_t record_len = 0;  // kRecord: bytes of `in` the record took; kNeedMore: bytes needed in all
    AlertCode alert = AlertCode::kInternalError;  // kError: the fatal alert to send
    const char* reason = "";                      // kError: why, for logs
  };
  // Opens the record at the front of `in` in place (its ciphertext bytes are overwritten). A wrong record version,
  // a length over 2^14 + 2048 (or plaintext over 2^14), a short record or a bad tag is an error, after which the
  // read direction is dead. The read sequence number advances only on success.
  OpenResult open(MutableBytes in);

  std::uint64_t write_seq() const { return write_seq_; }
  std::uint64_t read_seq() const { return read_seq_; }

 private:
  RecordLayer() = default;
  std::size_t explicit_nonce_len() const { return aead_ == Aead::kAes256Gcm ? 8 : 0; }
  void nonce(const std::uint8_t* iv, std::uint64_t seq, const std::uint8_t* explicit_nonce, std::uint8_t out[12]) const;

  Aead aead_ = Aead::kChaCha20Poly1305;
  std::uint8_t write_iv_[12] = {};
  std::uint8_t read_iv_[12] = {};
  std::uint64_t write_seq_ = 0;
  std::uint64_t read_seq_ = 0;
  bool write_exhausted_ = false;  // the record with sequence number 2^64 - 1 was sealed
  bool read_exhausted_ = false;
  bool read_failed_ = false;
  // ChaCha20-Poly1305 keys, or the expanded AES-256-GCM key schedules (aligned, 512 bytes each).
  std::uint8_t write_key_[32] = {};
  std::uint8_t read_key_[32] = {};
  struct alignas(16) GcmStates {
    crypto_aead_aes256gcm_state write;
    crypto_aead_aes256gcm_state read;
  };
  std::unique_ptr<GcmStates> gcm_;  // AES-256-GCM only
};

}  // namespace derp::tls
