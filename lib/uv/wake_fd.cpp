#include "uv/wake_fd.hpp"

#include <cstdint>

#include "derp/common.h"

#if defined(__linux__)
#include <sys/eventfd.h>
#include <unistd.h>
#elif !defined(_WIN32)
#include <fcntl.h>
#include <unistd.h>
#endif

namespace derp::uv {

WakeFd::~WakeFd() {
#if !defined(_WIN32)
  if (write_fd_ >= 0 && write_fd_ != read_fd_) ::close(write_fd_);
  if (read_fd_ >= 0) ::close(read_fd_);
#endif
}

int WakeFd::open() {
  if (is_open()) return DERP_OK;
#if defined(__linux__)
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return DERP_ERR_NO_MEMORY;  // EMFILE, ENFILE, ENOMEM: out of descriptors or kernel memory
  read_fd_ = write_fd_ = fd;
  return DERP_OK;
#elif !defined(_WIN32)
  int fds[2];
  if (::pipe(fds) != 0) return DERP_ERR_NO_MEMORY;
  for (const int fd : fds) {
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  return DERP_OK;
#else
  return DERP_ERR_UNSUPPORTED;
#endif
}

void WakeFd::set() {
  if (!is_open() || set_) return;
#if !defined(_WIN32)
  // One write per clear -> set change: an eventfd counter of 1, or one byte in the pipe, never enough to fill it.
  const std::uint64_t one = 1;
  if (::write(write_fd_, &one, write_fd_ == read_fd_ ? sizeof one : 1) > 0) set_ = true;
#endif
}

void WakeFd::clear() {
  if (!is_open() || !set_) return;
#if !defined(_WIN32)
  std::uint64_t drained = 0;  // an eventfd read resets its counter; the pipe holds the single byte set() wrote
  (void)::read(read_fd_, &drained, read_fd_ == write_fd_ ? sizeof drained : 1);
#endif
  set_ = false;
}

}  // namespace derp::uv
