// The static-file RouteSource: `herd gateway --config FILE`. It reads the file at start and
// again whenever it changes; a file that fails to parse is reported and the previous routes
// stay in force.
//
// Change detection polls stat() every `poll` (25 ms by default, so that a change applies
// without a wait anyone would notice; see docs/gateway.md, section "Route sources"). Polling
// rather than inotify on purpose: it follows the symlink swaps with which Kubernetes updates a
// mounted ConfigMap, and editors that replace the file by rename, and it costs one stat() per
// poll. Owns one thread; start/stop from one thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "gateway/route_source.h"

namespace herd::gateway {

class FileRouteSource : public RouteSource {
 public:
  explicit FileRouteSource(std::string path,
                           std::chrono::milliseconds poll = std::chrono::milliseconds(25));
  ~FileRouteSource() override;

  Status start(UpdateCallback on_update, ErrorCallback on_error) override;
  void stop() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace herd::gateway
