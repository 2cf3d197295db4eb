// The two byte queues a TLS session keeps: received ciphertext not yet opened, and ciphertext for the network.
// ByteBuffer grows without zero-filling (records are written into it in place) and gives its memory back once
// drained, so an idle connection holds no buffer at all. OutQueue adds "hold": while the host has the front
// bytes in a write in flight, new output goes to a second buffer, so the bytes under the write never move.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "common/bytes.hpp"

namespace derp::tls {

class ByteBuffer {
 public:
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return end_ == begin_; }
  std::uint8_t* data() { return data_.get() + begin_; }
  const std::uint8_t* data() const { return data_.get() + begin_; }
  Bytes view() const { return Bytes(data(), size()); }
  MutableBytes mutable_view() { return MutableBytes(data(), size()); }

  // Room for n more bytes at the end (moving what is kept to the front, or growing); null when out of memory.
  // commit(k) then makes the first k of them part of the buffer.
  std::uint8_t* reserve_back(std::size_t n) {
    if (capacity_ - end_ >= n) return data_.get() + end_;
    const std::size_t kept = size();
    if (capacity_ >= kept + n && data_) {
      std::memmove(data_.get(), data_.get() + begin_, kept);
    } else {
      const std::size_t capacity = std::max(kept + n, 2 * capacity_);
      std::unique_ptr<std::uint8_t[]> bigger(new (std::nothrow) std::uint8_t[capacity]);
      if (!bigger) return nullptr;
      if (kept != 0) std::memcpy(bigger.get(), data(), kept);
      data_ = std::move(bigger);
      capacity_ = capacity;
    }
    begin_ = 0;
    end_ = kept;
    return data_.get() + end_;
  }
  void commit(std::size_t n) { end_ += n; }
  bool append(Bytes bytes) {
    std::uint8_t* at = reserve_back(bytes.size());
    if (at == nullptr) return false;
    if (!bytes.empty()) std::memcpy(at, bytes.data(), bytes.size());
    commit(bytes.size());
    return true;
  }
  // Drops the first n bytes; a drained buffer frees its memory.
  void consume(std::size_t n) {
    begin_ += std::min(n, size());
    if (begin_ == end_) release();
  }
  void release() {
    data_.reset();
    capacity_ = begin_ = end_ = 0;
  }

 private:
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

class OutQueue {
 public:
  // What to send next: the front buffer only. Stays put (not moved, not freed) while held.
  Bytes pending() const { return front_.view(); }
  std::size_t size() const { return front_.size() + back_.size(); }
  void consume(std::size_t n) {
    front_.consume(n);
    promote();
  }
  // Where new output goes.
  ByteBuffer& tail() { return held_ || !back_.empty() ? back_ : front_; }
  // The host holds the front while a write of it is in flight; it releases once that write ended (and consumed).
  void hold(bool on) {
    held_ = on;
    promote();
  }

 private:
  void promote() {
    if (held_ || !front_.empty() || back_.empty()) return;
    std::swap(front_, back_);
  }
  ByteBuffer front_;
  ByteBuffer back_;
  bool held_ = false;
};

}  // namespace derp::tls
