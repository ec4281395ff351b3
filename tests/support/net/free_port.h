// A free TCP port on loopback, for tests and benchmarks that must tell a server (etcd, sshd,
// a proxy) which port to listen on. The port was free a moment ago: another process may take
// it before the server binds it, so callers that can retry on a fresh port do. Thread-safe.
#pragma once

#include "common/status.h"

namespace herd::testing {

// The kernel's pick for 127.0.0.1 port 0, released again.
Result<int> findFreeLoopbackPort();

}  // namespace herd::testing
