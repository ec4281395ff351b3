#include "controller/gateway_ports.h"

#include <fmt/format.h>

#include <set>

namespace herd::controller {

Result<int32_t> GatewayPortAllocator::allocate(const std::string& cluster,
                                               const std::map<std::string, int32_t>& recorded) {
  std::lock_guard lock(mu_);
  if (auto it = recorded.find(cluster); it != recorded.end()) {
    reserved_[cluster] = it->second;
    return it->second;
  }
  if (auto it = reserved_.find(cluster); it != reserved_.end()) return it->second;
  std::set<int32_t> taken;
  for (const auto& [name, port] : recorded) taken.insert(port);
  for (const auto& [name, port] : reserved_) taken.insert(port);
  for (int32_t port = range_.first; port <= range_.last; ++port) {
    if (!taken.contains(port)) {
      reserved_[cluster] = port;
      return port;
    }
  }
  return Status::resourceExhausted(
      fmt::format("every gateway port in {}-{} is taken: widen the controller's port range",
                  range_.first, range_.last));
}

void GatewayPortAllocator::release(const std::string& cluster) {
  std::lock_guard lock(mu_);
  reserved_.erase(cluster);
}

}  // namespace herd::controller
