// The one rule of capi/: no exception crosses into C. Every entry point runs its body through guarded().
#pragma once

#include <new>

#include "derp/common.h"

namespace derp::capi {

template <class Body>
int guarded(Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return DERP_ERR_NO_MEMORY;
  } catch (...) {
    return DERP_ERR_INTERNAL;
  }
}

}  // namespace derp::capi
