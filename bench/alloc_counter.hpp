// Heap allocations of this process, counted: every malloc, calloc, realloc and aligned allocation (operator new
// and libuv both end in malloc). The benchmark's server child reports the count so that a run can say how many
// allocations the server made per relayed packet (docs/benchmarks.md). Linked into benchmark programs only.
#pragma once

#include <cstdint>

namespace derp::bench {

// Allocations since the process started (relaxed: read by the thread that allocates, or as a rough total).
std::uint64_t heap_allocations();

}  // namespace derp::bench
