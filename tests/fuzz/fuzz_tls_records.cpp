// Fuzz target: the record stream a peer sends after the handshake, into our record layer (record_stream.hpp)
// with fixed keys. Byte 0 picks the AEAD, the mode and the read path (read_plaintext or open_next in place); byte 1
// the size of the pieces the stream arrives in. Mode 0 feeds the rest as raw wire bytes. Modes 1-3 read the rest
// as records (type, length, bytes) that a forger holding the peer's keys seals: mode 1 only application data, and
// then every byte must come out exactly as sealed (an oracle, not just "no crash"); mode 2 any content type; mode 3
// any type with one byte flipped somewhere. What is read is echoed back through write_gather. A failed stream must
// stay failed; nothing may be delivered after a close_notify.
#include <sodium.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "derp/common.h"
#include "tls/byte_buffer.hpp"
#include "tls/record_layer.hpp"
#include "tls/record_stream.hpp"

using derp::tls::Aead;
using derp::tls::ContentType;
using derp::tls::RecordLayer;
using derp::tls::TrafficKeys;

namespace {

TrafficKeys keys_for(Aead aead, bool peer) {
  TrafficKeys k;
  k.aead = aead;
  for (int i = 0; i < 32; ++i) k.write.key[i] = static_cast<std::uint8_t>(i * 3 + 1);
  for (int i = 0; i < 32; ++i) k.read.key[i] = static_cast<std::uint8_t>(i * 5 + 2);
  for (int i = 0; i < 12; ++i) k.write.iv[i] = static_cast<std::uint8_t>(0x40 + i);
  for (int i = 0; i < 12; ++i) k.read.iv[i] = static_cast<std::uint8_t>(0x80 + i);
  k.write.seq = 1;
  k.read.seq = 1;
  if (peer) std::swap(k.write, k.read);
  return k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2 || sodium_init() < 0) return 0;
  const std::uint8_t control = data[0];
  const Aead aead = (control & 1) != 0 && crypto_aead_aes256gcm_is_available() != 0 ? Aead::kAes256Gcm
                                                                                    : Aead::kChaCha20Poly1305;
  const int mode = (control >> 1) & 3;
  const bool in_place = (control & 8) != 0;
  const std::size_t piece = 1 + data[1] % 64 * 53;
  data += 2;
  size -= 2;

  std::unique_ptr<RecordLayer> ours;
  std::unique_ptr<RecordLayer> forger;
  if (RecordLayer::create(keys_for(aead, false), &ours) != DERP_OK ||
      RecordLayer::create(keys_for(aead, true), &forger) != DERP_OK) {
    std::abort();
  }

  // The wire bytes, and (mode 1) what they must decrypt to.
  std::vector<std::uint8_t> wire;
  std::string expect;
  if (mode == 0) {
    wire.assign(data, data + size);
  } else {
    std::size_t at = 0;
    while (at + 2 <= size) {
      const std::uint8_t type = mode == 1 ? 23 : data[at];
      const std::size_t len = std::min<std::size_t>(size - at - 2, data[at + 1] % 32 * 531);
      const std::size_t plain = std::min(len, RecordLayer::kMaxPlaintext);
      std::vector<std::uint8_t> record(forger->seal_overhead() + plain);
      std::memcpy(record.data() + forger->seal_headroom(), data + at + 2, plain);
      if (forger->seal(static_cast<ContentType>(type), record.data(), plain) != DERP_OK) std::abort();
      wire.insert(wire.end(), record.begin(), record.end());
      if (mode == 1) expect.append(reinterpret_cast<const char*>(data + at + 2), plain);
      at += 2 + len;
    }
    if (mode == 3 && !wire.empty() && size >= 2) {
      const std::size_t where = (std::size_t{data[size - 1]} << 8 | data[size - 2]) % wire.size();
      wire[where] ^= static_cast<std::uint8_t>(1u << (data[size - 1] % 8));
    }
  }

  derp::tls::OutQueue out;
  derp::tls::RecordStream stream(std::move(ours), &out, {});
  std::string got;
  std::uint8_t buffer[3000];
  int final_rc = DERP_OK;
  for (std::size_t offset = 0; offset < wire.size() && final_rc == DERP_OK;) {
    std::vector<std::uint8_t> read(wire.begin() + static_cast<std::ptrdiff_t>(offset),
                                   wire.begin() + static_cast<std::ptrdiff_t>(std::min(wire.size(), offset + piece)));
    offset += read.size();
    derp::MutableBytes in(read);
    for (int guard = 0; guard < 10000 && final_rc == DERP_OK; ++guard) {
      std::size_t used = 0;
      derp::MutableBytes plaintext;
      if (in_place) {
        final_rc = stream.open_next(in, &used, &plaintext);
      } else {
        if (!in.empty()) final_rc = stream.feed_ciphertext(in, &used);
        std::size_t n = 0;
        if (final_rc == DERP_OK) final_rc = stream.read_plaintext(derp::MutableBytes(buffer, sizeof buffer), &n);
        plaintext = derp::MutableBytes(buffer, n);
      }
      in = in.subspan(used);
      if (!plaintext.empty()) {
        if (stream.peer_closed()) std::abort();  // nothing after close_notify
        got.append(reinterpret_cast<const char*>(plaintext.data()), plaintext.size());
        const derp::Bytes echo[] = {plaintext, plaintext.first(plaintext.size() / 2)};
        std::size_t accepted = 0;
        if (stream.write_gather(echo, &accepted) != DERP_OK) std::abort();
        out.consume(out.pending().size());
      }
      if (used == 0 && plaintext.empty()) break;
    }
  }
  if (final_rc != DERP_OK && final_rc != DERP_ERR_TLS_CLOSED) {
    std::size_t used = 0;
    if (stream.feed_ciphertext(derp::Bytes(wire), &used) != final_rc || used != 0) std::abort();  // sticky
  }
  if (mode == 1 && got != expect.substr(0, got.size())) std::abort();
  if (mode == 1 && final_rc == DERP_OK && got.size() != expect.size() && !in_place) {
    // read_plaintext may leave the tail of the last record for a later call
    std::size_t n = 0;
    while (stream.read_plaintext(derp::MutableBytes(buffer, sizeof buffer), &n) == DERP_OK && n > 0) {
      got.append(reinterpret_cast<const char*>(buffer), n);
    }
  }
  if (mode == 1 && final_rc == DERP_OK && got != expect) std::abort();
  return 0;
}
