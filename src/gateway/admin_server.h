// The gateway's operations endpoint: GET /metrics (Prometheus text), /healthz (the process
// serves) and /readyz (routes loaded and not draining), on its own listener and thread so
// that a saturated data path does not hide its own metrics.
//
// Owns its thread and sockets; destroying it stops both. The handlers are called on the
// admin thread and must be thread-safe with respect to the data path.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "gateway/config.h"

namespace herd::gateway {

struct AdminHandlers {
  std::function<std::string()> metrics;
  std::function<bool()> ready;
};

class AdminServer {
 public:
  virtual ~AdminServer() = default;
  virtual int port() const = 0;
};

Result<std::unique_ptr<AdminServer>> startAdminServer(const BackendAddress& listen,
                                                      AdminHandlers handlers);

}  // namespace herd::gateway
