#include "tls/record_layer.hpp"

#include <cstring>
#include <new>
#include <limits>

#include "crypto/sodium_init.hpp"
#include "derp/common.h"

namespace derp::tls {

namespace {

constexpr std::uint8_t kVersionMajor = 3;  // TLS 1.2 is {3, 3} on the wire (RFC 5246 §6.2.1)
constexpr std::uint8_t kVersionMinor = 3;
constexpr std::uint64_t kLastSeq = std::numeric_limits<std::uint64_t>::max();

void store_be64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}

// RFC 5246 §6.2.3.3: additional_data = seq_num + TLSCompressed.type + TLSCompressed.version + TLSCompressed.length.
void additional_data(std::uint64_t seq, std::uint8_t type, std::size_t plaintext_len, std::uint8_t out[13]) {
  store_be64(out, seq);
  out[8] = type;
  out[9] = kVersionMajor;
  out[10] = kVersionMinor;
  store_be16(out + 11, static_cast<std::uint16_t>(plaintext_len));
}

}  // namespace

int RecordLayer::create(const TrafficKeys& keys, std::unique_ptr<RecordLayer>* out) {
  if (crypto::ensure_sodium() != DERP_OK) return DERP_ERR_TLS_CONFIG;
  std::unique_ptr<RecordLayer> layer(new RecordLayer);
  layer->aead_ = keys.aead;
  std::memcpy(layer->write_iv_, keys.write.iv, sizeof layer->write_iv_);
  std::memcpy(layer->read_iv_, keys.read.iv, sizeof layer->read_iv_);
  layer->write_seq_ = keys.write.seq;
  layer->read_seq_ = keys.read.seq;
  if (keys.aead == Aead::kAes256Gcm) {
    if (crypto_aead_aes256gcm_is_available() == 0) return DERP_ERR_TLS_CONFIG;
    layer->gcm_.reset(new (std::nothrow) GcmStates);
    if (!layer->gcm_) return DERP_ERR_NO_MEMORY;
    crypto_aead_aes256gcm_beforenm(&layer->gcm_->write, keys.write.key);
    crypto_aead_aes256gcm_beforenm(&layer->gcm_->read, keys.read.key);
  } else {
    std::memcpy(layer->write_key_, keys.write.key, sizeof layer->write_key_);
    std::memcpy(layer->read_key_, keys.read.key, sizeof layer->read_key_);
  }
  *out = std::move(layer);
  return DERP_OK;
}

RecordLayer::~RecordLayer() {
  sodium_memzero(write_key_, sizeof write_key_);
  sodium_memzero(read_key_, sizeof read_key_);
  if (gcm_) sodium_memzero(gcm_.get(), sizeof(GcmStates));
}

void RecordLayer::nonce(const std::uint8_t* iv, std::uint64_t seq, const std::uint8_t* explicit_nonce,
                        std::uint8_t out[12]) const {
  if (aead_ == Aead::kAes256Gcm) {
    std::memcpy(out, iv, 4);  // GCMNonce = salt || nonce_explicit (RFC 5288 §3)
    std::memcpy(out + 4, explicit_nonce, 8);
    return;
  }
  std::uint8_t padded[12] = {};  // RFC 7905 §2: the 64-bit sequence number, left-padded with zeros, XOR the IV
  store_be64(padded + 4, seq);
  for (int i = 0; i < 12; ++i) out[i] = static_cast<std::uint8_t>(iv[i] ^ padded[i]);
}

int RecordLayer::seal(ContentType type, std::uint8_t* record, std::size_t plaintext_len) {
  if (plaintext_len > kMaxPlaintext || write_exhausted_) return DERP_ERR_TLS_PROTOCOL;
  const std::uint64_t seq = write_seq_;
  const std::size_t explicit_len = explicit_nonce_len();
  const std::size_t protected_len = explicit_len + plaintext_len + kTagLen;
  record[0] = static_cast<std::uint8_t>(type);
  record[1] = kVersionMajor;
  record[2] = kVersionMinor;
  store_be16(record + 3, static_cast<std::uint16_t>(protected_len));
  std::uint8_t* explicit_nonce = record + kHeaderLen;
  if (explicit_len != 0) store_be64(explicit_nonce, seq);  // unique per key: the sequence number, like mbedTLS
  std::uint8_t ad[13];
  additional_data(seq, static_cast<std::uint8_t>(type), plaintext_len, ad);
  std::uint8_t n[12];
  nonce(write_iv_, seq, explicit_nonce, n);
  std::uint8_t* text = record + kHeaderLen + explicit_len;
  std::uint8_t* tag = text + plaintext_len;
  if (aead_ == Aead::kAes256Gcm) {
    crypto_aead_aes256gcm_encrypt_detached_afternm(text, tag, nullptr, text, plaintext_len, ad, sizeof ad, nullptr, n,
                                                   &gcm_->write);
  } else {
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(text, tag, nullptr, text, plaintext_len, ad, sizeof ad,
                                                       nullptr, n, write_key_);
  }
  if (seq == kLastSeq) {
    write_exhausted_ = true;
  } else {
    write_seq_ = seq + 1;
  }
  return DERP_OK;
}

RecordLayer::OpenResult RecordLayer::open(MutableBytes in) {
  OpenResult r;
  const auto fail = [&r](AlertCode alert, const char* reason) {
    r.status = Opened::kError;
    r.alert = alert;
    r.reason = reason;
    return r;
  };
  if (read_failed_) return fail(AlertCode::kInternalError, "record layer failed earlier");
  if (in.size() < kHeaderLen) {
    r.record_len = kHeaderLen;
    return r;
  }
  const std::size_t explicit_len = explicit_nonce_len();
  const std::size_t protected_len = load_be16(in.data() + 3);
  // Checks on the header alone, before waiting for the body: a bogus length never makes us buffer it.
  if (in[1] != kVersionMajor || in[2] != kVersionMinor) {
    read_failed_ = true;
    return fail(AlertCode::kProtocolVersion, "record version is not TLS 1.2 (3,3)");
  }
  if (protected_len > kMaxProtectedLen) {
    read_failed_ = true;
    return fail(AlertCode::kRecordOverflow, "record longer than 2^14 + 2048 bytes");
  }
  if (protected_len < explicit_len + kTagLen) {
    read_failed_ = true;
    return fail(AlertCode::kBadRecordMac, "record too short for its nonce and tag");
  }
  const std::size_t plaintext_len = protected_len - explicit_len - kTagLen;
  if (plaintext_len > kMaxPlaintext) {
    read_failed_ = true;
    return fail(AlertCode::kRecordOverflow, "record plaintext longer than 2^14 bytes");
  }
  if (in.size() < kHeaderLen + protected_len) {
    r.record_len = kHeaderLen + protected_len;
    return r;
  }
  if (read_exhausted_) {
    read_failed_ = true;
    return fail(AlertCode::kInternalError, "read sequence numbers used up (2^64 records)");
  }
  const std::uint64_t seq = read_seq_;
  std::uint8_t* explicit_nonce = in.data() + kHeaderLen;
  std::uint8_t* text = explicit_nonce + explicit_len;
  const std::uint8_t* tag = text + plaintext_len;
  std::uint8_t ad[13];
  additional_data(seq, in[0], plaintext_len, ad);
  std::uint8_t n[12];
  nonce(read_iv_, seq, explicit_nonce, n);
  int rc;
  if (aead_ == Aead::kAes256Gcm) {
    rc = crypto_aead_aes256gcm_decrypt_detached_afternm(text, nullptr, text, plaintext_len, tag, ad, sizeof ad, n,
                                                        &gcm_->read);
  } else {
    rc = crypto_aead_chacha20poly1305_ietf_decrypt_detached(text, nullptr, text, plaintext_len, tag, ad, sizeof ad, n,
                                                            read_key_);
  }
  if (rc != 0) {
    read_failed_ = true;
    return fail(AlertCode::kBadRecordMac, "record failed authentication (bad tag, or replayed or reordered)");
  }
  if (seq == kLastSeq) {
    read_exhausted_ = true;
  } else {
    read_seq_ = seq + 1;
  }
  r.status = Opened::kRecord;
  r.type = in[0];
  r.plaintext = MutableBytes(text, plaintext_len);
  r.record_len = kHeaderLen + protected_len;
  return r;
}

}  // namespace derp::tls
