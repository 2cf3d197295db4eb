// Compiled as lib/netcheck, the control for the failing probes: what the module declares compiles.
#include "derpmap/derpmap.hpp"
#include "netcheck/planner.hpp"
#include "tls/digest.hpp"

int derp_boundary_probe_allowed() { return 0; }
