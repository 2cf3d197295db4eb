// Compiled as lib/server: a sans-IO core that reaches for libuv must not build.
#include <uv.h>
