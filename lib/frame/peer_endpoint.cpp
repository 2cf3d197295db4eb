#include "frame/peer_endpoint.hpp"

#include <algorithm>

#include "common/address.hpp"
#include "common/bytes.hpp"

namespace derp::frame {

derp_addr read_peer_endpoint(const std::uint8_t* p) {
  const std::uint16_t port = load_be16(p + 16);
  if (std::all_of(p, p + 16, [](std::uint8_t b) { return b == 0; })) {
    derp_addr unknown{};
    unknown.family = DERP_AF_NONE;
    unknown.port = port;
    return unknown;
  }
  return unmap_v4(make_addr_v6(p, port));
}

int write_peer_endpoint(const derp_addr& addr, std::uint8_t* out) {
  if (addr.family != DERP_AF_NONE && addr.family != DERP_AF_INET && addr.family != DERP_AF_INET6) {
    return DERP_ERR_INVALID_ARGUMENT;
  }
  addr_to_16(addr, out);
  store_be16(out + 16, addr.port);
  return DERP_OK;
}

}  // namespace derp::frame
