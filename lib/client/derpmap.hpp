// Temporary forwarding header: the DERPMap moved to lib/derpmap (derpmap/derpmap.hpp, namespace derp::derpmap).
// capi/ still includes it by its old name until the C API rename (issue 14) has landed; then capi includes
// derpmap/derpmap.hpp and this file goes.
#pragma once

#include "derpmap/derpmap.hpp"

namespace derp::client {
using derpmap::DerpMap;
using derpmap::parse_derp_map;
}  // namespace derp::client
