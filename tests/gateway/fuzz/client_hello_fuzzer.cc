// libFuzzer target for the ClientHello inspector: any bytes, any split into reads, must give
// an answer without reading out of bounds, and an accepted server name is always a valid,
// lower-case host name.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "gateway/client_hello.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using herd::gateway::HelloOutcome;
  std::span<const uint8_t> bytes(data, size);
  auto whole = herd::gateway::inspectClientHello(bytes);
  if (whole.outcome == HelloOutcome::kOk && !whole.sni.empty()) {
    if (!herd::gateway::isValidHostName(whole.sni)) std::abort();
    for (char c : whole.sni) {
      if (c >= 'A' && c <= 'Z') std::abort();
    }
  }
  // The gateway calls again as bytes arrive: a prefix must never be judged complete with a
  // different answer than the whole would give when the whole is a clean hello.
  if (size > 1) {
    auto half = herd::gateway::inspectClientHello(bytes.first(size / 2));
    if (half.outcome == HelloOutcome::kOk && whole.outcome == HelloOutcome::kOk &&
        half.sni != whole.sni) {
      std::abort();
    }
  }
  // A tight cap exercises the size checks.
  herd::gateway::inspectClientHello(bytes, 64);
  return 0;
}
