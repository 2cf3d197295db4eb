// Fuzz target: the admission answer reader (-verify-client-url: the body an admission server sent back).
// Invariants checked on every input:
//   - judging never crashes and is a pure function of the body (the same bytes judged twice agree);
//   - a refusal always says why; an admission leaves why as it was;
//   - a body that admits still admits with trailing whitespace (Go's decoder reads the first JSON value).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/admission.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  std::string why;
  const bool allowed = derp::http::admission_allows(body, &why);
  std::string why_again;
  check(derp::http::admission_allows(body, &why_again) == allowed);
  check(why == why_again);
  check(allowed ? why.empty() : !why.empty());
  if (allowed) {
    std::string padded(body);
    padded += " \n";
    std::string why_padded;
    check(derp::http::admission_allows(padded, &why_padded));
  }
  return 0;
}
