// CRC-32 with the IEEE 802.3 polynomial (the zlib / Go hash/crc32 ChecksumIEEE one), which FINGERPRINT uses.
#pragma once

#include <cstdint>

#include "common/bytes.hpp"

namespace derp::stun {

std::uint32_t crc32_ieee(Bytes data);

}  // namespace derp::stun
