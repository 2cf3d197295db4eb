// Fuzz target: HTTP heads as a server and a client read them, fed whole and in pieces.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "derp/common.h"
#include "http/head.hpp"
#include "http/head_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  derp::http::RequestHead req;
  derp::http::ResponseHead resp;
  const std::size_t end = derp::http::find_head_end(text);
  if (end > size) std::abort();
  if (end != 0) {
    if (derp::http::parse_request_head(text.substr(0, end), &req) == DERP_OK) {
      // Every view must lie inside the input.
      for (std::size_t i = 0; i < req.headers.count; ++i) {
        const auto& h = req.headers.items[i];
        if (h.name.data() < text.data() || h.name.data() + h.name.size() > text.data() + end) std::abort();
        if (h.value.data() < text.data() || h.value.data() + h.value.size() > text.data() + end) std::abort();
      }
      (void)req.headers.has_token("Connection", "upgrade");
    }
    (void)derp::http::parse_response_head(text.substr(0, end), &resp);
  }
  // The same bytes in pieces of a size taken from the first byte must find the same head end.
  const std::size_t piece = size == 0 ? 1 : 1 + data[0] % 17;
  derp::http::HeadReader reader(4096);
  std::size_t pos = 0;
  while (pos < size) {
    std::size_t used = 0;
    const int r = reader.feed(text.substr(pos, piece), &used);
    pos += used;
    if (r != 0) {
      if (r == 1 && end != 0 && reader.head().size() != end) std::abort();
      break;
    }
  }
  return 0;
}
