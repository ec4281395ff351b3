// libFuzzer target for the CONNECT parser: any bytes must parse to a consistent answer
// without crashing or reading out of bounds. Built with clang (-fsanitize=fuzzer,address).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tunnel/connect_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parse = herd::tunnel::parseConnectRequest(input);
  if (parse.state == herd::tunnel::ParseState::kComplete &&
      (parse.request.header_bytes > size || parse.request.port == 0 ||
       parse.request.host.empty())) {
    std::abort();
  }
  if (parse.state == herd::tunnel::ParseState::kInvalid && parse.http_status == 0) std::abort();
  return 0;
}
