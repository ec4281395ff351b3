// The gateway's active health check: every `healthCheck.interval` of the current route table,
// one TCP connect to each of its backends, all in parallel, each bounded by
// `healthCheck.timeout`. A backend that answers is marked healthy, one that does not
// unhealthy (and counted); the data path marks a backend unhealthy on its own when a real
// connect fails, and only this check brings it back.
//
// Runs on its own thread (the control loop, on Boost.Asio, which stays in health_checker.cc:
// the data path includes none of it). The gateway owns it; start() and stop() are called from
// one thread, once each; `current_table` is called on the control thread and must be
// thread-safe.
#pragma once

#include <functional>
#include <memory>

namespace herd::gateway {

class GatewayStats;
class RouteTable;

class HealthChecker {
 public:
  HealthChecker(GatewayStats& stats,
                std::function<std::shared_ptr<const RouteTable>()> current_table);
  ~HealthChecker();

  // Checks once at once (from the calling thread), then every interval on the control thread.
  void start();
  // Ends the checks: the control thread is joined once the checks under way are over.
  void stop();

 private:
  struct ControlLoop;
  std::unique_ptr<ControlLoop> loop_;
};

}  // namespace herd::gateway
