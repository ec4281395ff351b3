// The tenant APIs of the controller benchmark, in memory: a thousand tenants cannot each run
// an apiserver on one machine, and the benchmark measures the controller against the seed, so
// each tenant's API is a kube::Transport over a map of objects that answers the requests the
// controller makes inside a tenant (GET, list, POST, PUT, server-side-apply PATCH and DELETE of
// any object: the default/kubernetes endpoints, the addons and join objects, the lists of nodes
// and pods, /readyz) as the apiserver would: 404 Status for a missing object, the stored object with a
// resourceVersion otherwise. Thread-safe; counts the requests it answers.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "kube/transport.h"

namespace herd::bench {

class MemoryTenantApi : public kube::Transport {
 public:
  Result<kube::HttpResponse> roundTrip(const kube::HttpRequest& request,
                                       std::chrono::milliseconds timeout) override;
  Result<std::unique_ptr<kube::ResponseStream>> openStream(
      const kube::HttpRequest& request, std::chrono::milliseconds timeout) override;
  const std::string& pathPrefix() const override { return prefix_; }
  uint64_t requests() const { return requests_.load(); }

 private:
  std::mutex mu_;
  std::map<std::string, nlohmann::json> objects_;  // path -> object
  uint64_t revision_ = 1;
  std::string prefix_;
  std::atomic<uint64_t> requests_{0};
};

}  // namespace herd::bench
