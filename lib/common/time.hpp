// Time as every core takes it: monotonic nanoseconds passed in by the host (ARCHITECTURE.md, "Time is always a
// parameter"). No core reads a clock.
#pragma once

#include <cstdint>

namespace derp {

using Nanos = std::uint64_t;
inline constexpr Nanos kMillisecond = 1'000'000;
inline constexpr Nanos kSecond = 1'000'000'000;
inline constexpr Nanos kNever = UINT64_MAX;

}  // namespace derp
