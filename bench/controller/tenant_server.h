// The benchmark's tenant APIs in a process of their own, so that the controller's peak RSS is
// the controller's alone: a thousand tenants' addons (DaemonSets, Deployments, RBAC, ...) held
// in the controller's process would weigh more than the controller itself.
//
// serveTenants() runs in that process: it keeps one MemoryTenantApi per tenant and answers on
// a Unix socket, one thread per connection, a request per frame (length-prefixed fields:
// tenant, method, target, body; the answer: status, body). TenantServerClient is the
// controller side: a pool of connections, one request on each at a time. Thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "kube/transport.h"

namespace herd::bench {

// Serves until the process is stopped; returns only if the socket cannot be listened on.
int serveTenants(const std::string& socket_path);

class TenantServerClient {
 public:
  explicit TenantServerClient(std::string socket_path) : path_(std::move(socket_path)) {}
  ~TenantServerClient();
  TenantServerClient(const TenantServerClient&) = delete;
  TenantServerClient& operator=(const TenantServerClient&) = delete;

  Result<kube::HttpResponse> roundTrip(const std::string& tenant, const kube::HttpRequest& r);

 private:
  Result<int> acquire();
  void release(int fd);

  std::string path_;
  std::mutex mu_;
  std::vector<int> idle_;
};

}  // namespace herd::bench
