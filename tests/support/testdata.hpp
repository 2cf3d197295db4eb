// Helpers for tests: hex, and the shared golden-vector folder (DERP_TESTDATA, default ../shared/testdata).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace derp::test {

std::vector<std::uint8_t> from_hex(std::string_view hex);
std::string to_hex(const std::uint8_t* data, std::size_t len);
inline std::string to_hex(const std::vector<std::uint8_t>& v) { return to_hex(v.data(), v.size()); }

// The testdata folder, or nullopt when it is absent (the caller then reports itself skipped).
std::optional<std::filesystem::path> testdata_dir();

// A .hex file (one line of hex + newline) under the testdata folder, decoded.
std::vector<std::uint8_t> read_hex_file(const std::filesystem::path& relative);
nlohmann::json read_json_file(const std::filesystem::path& relative);

// Prints the line ctest recognises as "skipped" (SKIP_REGULAR_EXPRESSION DERP-SKIPPED).
void report_skipped(std::string_view why);

}  // namespace derp::test

// Ends the current test case visibly skipped when the golden vectors are not there.
#define DERP_REQUIRE_TESTDATA()                                                        \
  do {                                                                                 \
    if (!::derp::test::testdata_dir()) {                                               \
      ::derp::test::report_skipped("testdata folder not found (set DERP_TESTDATA)");   \
      return;                                                                          \
    }                                                                                  \
  } while (0)
