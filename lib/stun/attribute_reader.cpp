#include "stun/attribute_reader.hpp"

#include "derp/common.h"

namespace derp::stun {

int AttributeReader::next(Attribute* out) {
  if (position_ >= message_.size()) return 0;
  const std::size_t left = message_.size() - position_;
  if (left < kAttributeHeaderSize) return DERP_ERR_TRUNCATED;
  const std::uint8_t* p = message_.data() + position_;
  const std::size_t length = load_be16(p + 2);
  const std::size_t padded = (length + 3) & ~std::size_t{3};
  if (padded > left - kAttributeHeaderSize) return DERP_ERR_TRUNCATED;
  out->type = load_be16(p);
  out->value = message_.subspan(position_ + kAttributeHeaderSize, length);
  out->offset = position_;
  position_ += kAttributeHeaderSize + padded;
  return 1;
}

}  // namespace derp::stun
