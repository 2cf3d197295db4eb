// Compiled as lib/uv, a control: the driver sees libuv.
#include <uv.h>

int derp_boundary_probe_uv() { return static_cast<int>(sizeof(uv_loop_t) > 0); }
