// Helpers shared by the test_frame*.cpp files: encoding to a vector, keys, the vectors' packet pattern, feeding a
// FrameReader in pieces, and a random valid frame generator.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/address.hpp"
#include "derp/common.h"
#include "frame/dispatch.hpp"
#include "frame/encode.hpp"
#include "frame/frame_reader.hpp"
#include "frame/header.hpp"
#include "frame/limits.hpp"
#include "frame/messages.hpp"
#include "support/testdata.hpp"

namespace derp::frame::test {

using ByteVector = std::vector<std::uint8_t>;
using derp::Bytes;
using derp::MutableBytes;
using derp::operator==;  // derp_addr is a C struct: its operator== lives in namespace derp, out of ADL's reach

// Encodes msg into a fresh vector; the result code goes to *result (DERP_OK expected by most callers).
template <class Msg>
ByteVector encode_to_vector(const Msg& msg, int* result = nullptr) {
  std::size_t needed = 0;
  int r = encode(msg, MutableBytes{}, &needed);
  ByteVector out(needed);
  if (r == DERP_ERR_BUFFER_TOO_SMALL) r = encode(msg, MutableBytes(out), &needed);
  if (result != nullptr) *result = r;
  if (r != DERP_OK) out.clear();
  return out;
}

inline Key key_from_hex(const std::string& hex) {
  const ByteVector bytes = derp::test::from_hex(hex);
  Key k{};
  for (std::size_t i = 0; i < k.size() && i < bytes.size(); ++i) k[i] = bytes[i];
  return k;
}

// 32 bytes first, first+1, ...: distinct, recognisable keys.
inline Key key_counting_from(std::uint8_t first) {
  Key k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(first + i);
  return k;
}

// The packet content the golden-vector recorder sent: byte[i] = i % 251.
inline ByteVector pattern_packet(std::size_t n) {
  ByteVector p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(i % 251);
  return p;
}

inline Bytes as_bytes(const ByteVector& v) { return Bytes(v.data(), v.size()); }
inline ByteVector to_vector(Bytes b) { return ByteVector(b.begin(), b.end()); }

// One frame as read, copied out of the reader so it outlives the next call.
struct ReadFrame {
  std::uint8_t type = 0;
  ByteVector payload;
  bool operator==(const ReadFrame&) const = default;
};

struct ReadResult {
  std::vector<ReadFrame> frames;
  int error = 0;              // the first negative result, or 0
  std::size_t consumed = 0;   // bytes taken in total
  std::size_t buffered_at_end = 0;
};

// Feeds stream to reader in pieces whose sizes piece_size(i) picks (i counts pieces), as a socket would.
template <class PieceSize>
ReadResult read_in_pieces(FrameReader& reader, const ByteVector& stream, PieceSize&& piece_size) {
  ReadResult out;
  std::size_t pos = 0;
  std::size_t piece_index = 0;
  while (pos < stream.size()) {
    const std::size_t piece_len = std::min<std::size_t>(std::max<std::size_t>(piece_size(piece_index++), 1),
                                                        stream.size() - pos);
    Bytes piece(stream.data() + pos, piece_len);
    while (true) {
      std::size_t used = 0;
      Frame frame;
      const int r = reader.next(piece, &used, &frame);
      piece = piece.subspan(used);
      pos += used;
      out.consumed += used;
      if (r == 1) {
        out.frames.push_back(ReadFrame{frame.type, to_vector(frame.payload)});
        continue;
      }
      if (r < 0) {
        out.error = r;
        out.buffered_at_end = reader.buffered_bytes();
        return out;
      }
      break;  // r == 0: the piece is used up
    }
  }
  out.buffered_at_end = reader.buffered_bytes();
  return out;
}

inline ReadResult read_whole(const ByteVector& stream, std::uint32_t max_frame_len = kDefaultMaxFrameLen) {
  FrameReader reader(max_frame_len);
  return read_in_pieces(reader, stream, [&](std::size_t) { return stream.size(); });
}

inline ReadResult read_byte_by_byte(const ByteVector& stream, std::uint32_t max_frame_len = kDefaultMaxFrameLen) {
  FrameReader reader(max_frame_len);
  return read_in_pieces(reader, stream, [](std::size_t) { return std::size_t{1}; });
}

// Random pieces: mostly small, sometimes large, so splits land in headers, in payloads and between frames.
inline ReadResult read_random_pieces(const ByteVector& stream, std::uint32_t seed,
                                     std::uint32_t max_frame_len = kDefaultMaxFrameLen) {
  FrameReader reader(max_frame_len);
  std::mt19937 rng(seed);
  return read_in_pieces(reader, stream, [&](std::size_t) {
    const std::uint32_t kind = rng() % 4;
    if (kind == 0) return std::size_t{1 + rng() % 5};
    if (kind == 1) return std::size_t{1 + rng() % 64};
    if (kind == 2) return std::size_t{1 + rng() % 2000};
    return std::size_t{1 + rng() % 100000};
  });
}

// Re-encodes a frame through its typed decoder and encoder. Returns the decoder's result; *reencoded gets the
// bytes (header included) when decoding worked.
inline int reencode(std::uint8_t type, Bytes payload, ByteVector* reencoded) {
  int encode_result = DERP_OK;
  const int r = decode_and_visit(type, payload, [&](const auto& msg) {
    *reencoded = encode_to_vector(msg, &encode_result);
  });
  return r != DERP_OK ? r : encode_result;
}

inline ByteVector frame_bytes(std::uint8_t type, const ByteVector& payload) {
  ByteVector out(kHeaderLen + payload.size());
  write_header(out.data(), type, static_cast<std::uint32_t>(payload.size()));
  std::copy(payload.begin(), payload.end(), out.begin() + static_cast<std::ptrdiff_t>(kHeaderLen));
  return out;
}

// Appends one random but valid frame of any known type (or, now and then, an unknown type) to *stream.
class RandomFrameWriter {
 public:
  explicit RandomFrameWriter(std::uint32_t seed) : rng_(seed) {}

  void append(ByteVector* stream) {
    const ByteVector frame = make();
    stream->insert(stream->end(), frame.begin(), frame.end());
  }

  ByteVector make() {
    switch (rng_() % 17) {
      case 0: {
        ServerKeyFrame m{.key = key(), .trailing = {}};
        const ByteVector extra = bytes(coin(4) ? rng_() % 985 : 0);
        m.trailing = as_bytes(extra);
        return must(m);
      }
      case 1: {
        const ByteVector box = bytes(16 + rng_() % 300);
        return must(ClientInfoFrame{.key = key(), .nonce = nonce(), .box = as_bytes(box)});
      }
      case 2: {
        const ByteVector box = bytes(16 + rng_() % 300);
        return must(ServerInfoFrame{.nonce = nonce(), .box = as_bytes(box)});
      }
      case 3: {
        const ByteVector packet = bytes(packet_len());
        return must(SendPacketFrame{.dst = key(), .packet = as_bytes(packet)});
      }
      case 4: {
        const ByteVector packet = bytes(packet_len());
        return must(RecvPacketFrame{.src = key(), .packet = as_bytes(packet)});
      }
      case 5:
        return must(KeepAliveFrame{});
      case 6:
        return must(NotePreferredFrame{.preferred = static_cast<std::uint8_t>(rng_() % 3)});
      case 7: {
        PeerGoneFrame m{.key = key(), .has_reason = !coin(4), .reason = 0, .trailing = {}};
        if (m.has_reason) m.reason = static_cast<std::uint8_t>(rng_());
        return must(m);
      }
      case 8: {
        PeerPresentFrame m{.key = key(), .has_endpoint = false, .endpoint = {}, .has_flags = false, .flags = 0,
                           .trailing = {}};
        const std::uint32_t form = rng_() % 4;  // 32, 50, 51 bytes, or 51 + extra
        m.has_endpoint = form >= 1;
        m.has_flags = form >= 2;
        if (m.has_endpoint) {
          const std::uint8_t ip[16] = {0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, byte()};
          const std::uint8_t ip4[4] = {192, 0, 2, byte()};
          m.endpoint = coin(2) ? make_addr_v4(ip4, static_cast<std::uint16_t>(rng_())) : make_addr_v6(ip, 41641);
        }
        if (m.has_flags) m.flags = byte();
        const ByteVector extra = bytes(form == 3 ? 1 + rng_() % 40 : 0);
        m.trailing = as_bytes(extra);
        return must(m);
      }
      case 9: {
        const ByteVector packet = bytes(packet_len());
        return must(ForwardPacketFrame{.src = key(), .dst = key(), .packet = as_bytes(packet)});
      }
      case 10:
        return must(WatchConnsFrame{});
      case 11:
        return must(ClosePeerFrame{.key = key()});
      case 12: {
        const ByteVector data = bytes(8 + (coin(4) ? rng_() % 993 : 0));
        return must(PingFrame{.data = as_bytes(data)});
      }
      case 13: {
        const ByteVector data = bytes(8 + (coin(4) ? rng_() % 100 : 0));
        return must(PongFrame{.data = as_bytes(data)});
      }
      case 14: {
        const std::string text = coin(3) ? "" : "duplicate key " + std::to_string(rng_());
        return must(HealthFrame{.text = Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())});
      }
      case 15: {
        const ByteVector extra = bytes(coin(4) ? rng_() % 20 : 0);
        return must(RestartingFrame{.reconnect_in_ms = word(), .try_for_ms = word(), .trailing = as_bytes(extra)});
      }
      default: {
        // An unknown type (0x0B..0x0F unused, or beyond 0x15): readers yield it and callers skip it.
        const std::uint8_t type = coin(2) ? static_cast<std::uint8_t>(0x0B + rng_() % 5)
                                          : static_cast<std::uint8_t>(0x16 + rng_() % 0xE0);
        return frame_bytes(type, bytes(rng_() % 200));
      }
    }
  }

 private:
  bool coin(std::uint32_t one_in) { return rng_() % one_in == 0; }
  std::uint8_t byte() { return static_cast<std::uint8_t>(rng_()); }
  std::uint32_t word() { return static_cast<std::uint32_t>(rng_()); }
  ByteVector bytes(std::size_t n) {
    ByteVector v(n);
    for (auto& b : v) b = byte();
    return v;
  }
  Key key() {
    Key k;
    for (auto& b : k) b = byte();
    return k;
  }
  Nonce nonce() {
    Nonce n;
    for (auto& b : n) b = byte();
    return n;
  }
  std::size_t packet_len() {
    switch (rng_() % 6) {
      case 0:
        return 0;
      case 1:
        return kMaxPacketSize;
      case 2:
        return 1 + rng_() % 20000;
      default:
        return 1 + rng_() % 1400;
    }
  }
  template <class Msg>
  ByteVector must(const Msg& msg) {
    int r = DERP_OK;
    ByteVector out = encode_to_vector(msg, &r);
    if (r != DERP_OK) throw std::runtime_error("random frame did not encode");
    return out;
  }

  std::mt19937 rng_;
};

}  // namespace derp::frame::test
