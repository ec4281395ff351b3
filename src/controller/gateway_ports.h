// Allocation of each tenant's dedicated gateway port: in-cluster clients of a tenant dial the
// kubernetes Service's IP and send no SNI, so the gateway tells tenants apart by port.
//
// A port is the lowest one in the configured range that no other Cluster records in its
// status and that no Cluster has been handed but not yet recorded (two workers allocating at
// once must not pick the same one). Once recorded a port is kept for the cluster's life, even
// if the range later changes. Thread-safe; one allocator per controller (only the leader
// allocates, so in-memory reservations suffice).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "common/status.h"

namespace herd::controller {

struct GatewayPortRange {
  // Below the seed's NodePort range (30000-32767) and above the well-known and registered
  // ports that servers on a gateway host commonly take.
  int32_t first = 20000;
  int32_t last = 29999;
};

class GatewayPortAllocator {
 public:
  explicit GatewayPortAllocator(GatewayPortRange range) : range_(range) {}

  // The port of `cluster`: the one it records, else the one reserved for it, else the lowest
  // free one. `recorded` maps every Cluster to the port its status records.
  Result<int32_t> allocate(const std::string& cluster,
                           const std::map<std::string, int32_t>& recorded);
  // The cluster is gone: its port may be handed out again.
  void release(const std::string& cluster);

 private:
  GatewayPortRange range_;
  std::mutex mu_;
  std::map<std::string, int32_t> reserved_;
};

}  // namespace herd::controller
