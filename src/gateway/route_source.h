// Where routes come from. A RouteSource delivers whole configurations, each complete: the
// gateway turns each one into a new route table and swaps it in atomically, so a source never
// sends deltas and a half-applied change cannot be seen.
//
// Two sources exist: the static file (file_route_source.h) and the seed API
// (seed_route_source.h), which watches Cluster objects and their EndpointSlices and delivers
// the same thing: a GatewayConfig whose tenants carry the ready endpoint addresses.
// Implementations call `on_update` from their own thread, one call at a time; stop() returns
// after the last call has finished.
#pragma once

#include <functional>

#include "common/status.h"
#include "gateway/config.h"

namespace herd::gateway {

class RouteSource {
 public:
  using UpdateCallback = std::function<void(const GatewayConfig&)>;
  using ErrorCallback = std::function<void(const Status&)>;

  virtual ~RouteSource() = default;
  // Delivers the current configuration (before returning, so the gateway starts with routes)
  // and every later change. A source that cannot produce its first configuration fails.
  virtual Status start(UpdateCallback on_update, ErrorCallback on_error) = 0;
  virtual void stop() = 0;
};

}  // namespace herd::gateway
