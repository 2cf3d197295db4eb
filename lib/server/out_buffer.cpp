#include "server/out_buffer.hpp"

#include <new>

namespace derp::server {

namespace {
void release(OutBuffer* b) {
  b->~OutBuffer();
  ::operator delete(static_cast<void*>(b));
}
}  // namespace

BufferPool::~BufferPool() {
  for (auto& list : free_) {
    for (OutBuffer* b : list) release(b);
  }
}

OutBuffer* BufferPool::take(std::size_t bytes) {
  for (std::size_t c = 0; c < kClassCapacity.size(); ++c) {
    if (bytes > kClassCapacity[c]) continue;
    OutBuffer* b = nullptr;
    if (!free_[c].empty()) {
      b = free_[c].back();
      free_[c].pop_back();
    } else {
      void* raw = ::operator new(sizeof(OutBuffer) + OutBuffer::kHeadroom + kClassCapacity[c], std::nothrow);
      if (raw == nullptr) return nullptr;
      b = new (raw) OutBuffer{};
      b->capacity = kClassCapacity[c];
      b->size_class = static_cast<std::uint8_t>(c);
    }
    b->size = 0;
    ++outstanding_;
    return b;
  }
  return nullptr;
}

void BufferPool::give(OutBuffer* buffer) {
  if (buffer == nullptr) return;
  --outstanding_;
  auto& list = free_[buffer->size_class];
  if (list.size() < kClassRetain[buffer->size_class]) {
    list.push_back(buffer);
  } else {
    release(buffer);
  }
}

std::size_t BufferPool::free_bytes() const {
  std::size_t total = 0;
  for (std::size_t c = 0; c < free_.size(); ++c) total += free_[c].size() * kClassCapacity[c];
  return total;
}

}  // namespace derp::server
