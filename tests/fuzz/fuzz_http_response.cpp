// Fuzz target: an HTTP response as the admission check reads it (http/response_reader.hpp), fed whole and in
// pieces (the piece size from the first byte), then the body judged as an admission answer (http/admission.hpp).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/admission.hpp"
#include "http/response_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using derp::http::ResponseReader;
  const std::size_t piece = size == 0 ? 1 : 1 + data[0] % 13;
  ResponseReader whole(8192, 4096);
  ResponseReader split(8192, 4096);
  whole.feed(derp::Bytes(data, size));
  for (std::size_t pos = 0; pos < size && split.state() == ResponseReader::State::NeedMore; pos += piece) {
    split.feed(derp::Bytes(data + pos, std::min(piece, size - pos)));
  }
  whole.finish_eof();
  split.finish_eof();
  // Any split reads the same response.
  if (whole.state() != split.state() || whole.body() != split.body() || whole.status() != split.status()) std::abort();
  if (whole.body().size() > 4096) std::abort();
  std::string why;
  (void)derp::http::admission_allows(whole.body(), &why);
  (void)derp::http::admission_allows(std::string(reinterpret_cast<const char*>(data), size), &why);
  return 0;
}
