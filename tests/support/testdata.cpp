#include "support/testdata.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace derp::test {

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::vector<std::uint8_t> from_hex(std::string_view hex) {
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r' || hex.back() == ' ')) hex.remove_suffix(1);
  if (hex.size() % 2 != 0) throw std::runtime_error("odd-length hex");
  std::vector<std::uint8_t> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) throw std::runtime_error("bad hex digit");
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

std::string to_hex(const std::uint8_t* data, std::size_t len) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (std::size_t i = 0; i < len; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 15]);
  }
  return out;
}

std::optional<std::filesystem::path> testdata_dir() {
  const char* env = std::getenv("DERP_TESTDATA");
  const std::filesystem::path dir = (env != nullptr && *env != '\0') ? env : DERP_DEFAULT_TESTDATA;
  if (std::filesystem::is_directory(dir)) return dir;
  return std::nullopt;
}

static std::string read_file(const std::filesystem::path& relative) {
  const auto dir = testdata_dir();
  if (!dir) throw std::runtime_error("testdata folder not found");
  std::ifstream in(*dir / relative, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + (*dir / relative).string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::uint8_t> read_hex_file(const std::filesystem::path& relative) {
  return from_hex(read_file(relative));
}

nlohmann::json read_json_file(const std::filesystem::path& relative) {
  return nlohmann::json::parse(read_file(relative));
}

void report_skipped(std::string_view why) {
  std::printf("DERP-SKIPPED: %.*s\n", static_cast<int>(why.size()), why.data());
  std::fflush(stdout);
}

}  // namespace derp::test
