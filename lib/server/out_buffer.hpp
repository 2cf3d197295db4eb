// Output buffers for the packet path. One buffer holds one whole frame (header included) on its way to one
// receiver. They come from a server-wide pool with a few size classes, so a steady stream of packets reuses the
// same memory instead of allocating per packet, and an idle connection holds none.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace derp::server {

struct OutBuffer {
  // Room kept before the frame for a transport header written in place (a WebSocket frame header is ≤ 10 bytes
  // from server to client), so wrapping a frame never copies it.
  static constexpr std::size_t kHeadroom = 16;

  std::uint32_t capacity = 0;   // bytes of data() available, headroom excluded
  std::uint32_t size = 0;       // frame bytes written at data()
  std::uint8_t size_class = 0;  // which pool list it returns to
  std::uint8_t* data() { return storage() + kHeadroom; }
  const std::uint8_t* data() const { return const_cast<OutBuffer*>(this)->data(); }
  std::uint8_t* storage() { return reinterpret_cast<std::uint8_t*>(this + 1); }
};

class BufferPool {
 public:
  // Class capacities: control frames and small packets; a full-MTU WireGuard packet; medium; the largest frame
  // (5-byte header + 32-byte key + 64 KiB packet, or a PeerPresent/Restarting with room to spare).
  static constexpr std::array<std::uint32_t, 4> kClassCapacity = {256, 2048, 16384, 5 + 32 + 65536 + 64};
  // Free buffers kept per class; more than that go back to the allocator so a burst does not pin memory forever.
  static constexpr std::array<std::size_t, 4> kClassRetain = {4096, 4096, 256, 32};

  BufferPool() = default;
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool();

  // A buffer with capacity ≥ bytes, or nullptr when bytes exceed the largest class or memory is out.
  OutBuffer* take(std::size_t bytes);
  void give(OutBuffer* buffer);

  std::size_t free_bytes() const;
  std::size_t buffers_outstanding() const { return outstanding_; }

 private:
  std::array<std::vector<OutBuffer*>, kClassCapacity.size()> free_{};
  std::size_t outstanding_ = 0;
};

}  // namespace derp::server
