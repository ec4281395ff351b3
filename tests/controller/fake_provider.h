// A Provider test double: records every call, stores credentials in memory, and lets the test
// play the workload controllers (a component applied with a new spec rolls out only when the
// test says so, unless auto-rollout is on). Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "provider/provider.h"

namespace herd::testing {

class FakeProvider : public provider::Provider {
 public:
  struct Applied {
    std::string cluster;
    std::string component;  // the spec's name: "etcd", "kube-apiserver", ...
    std::string version;
  };

  // Every component applied with a new spec is rolled out at once.
  void setAutoRollout(bool on);
  // Rolls out the spec last applied to `component`: every replica updated and ready.
  void rollOut(const std::string& cluster, const std::string& component);
  // The components of `cluster` whose last applied spec has not rolled out, in apply order.
  std::vector<std::string> pending(const std::string& cluster) const;
  // removeTenant answers "not yet" this many times before it removes the tenant.
  void setRemovalSteps(int steps);
  // ensureTenant fails with this status until set back to OK.
  void failEnsureTenant(Status status);

  std::vector<Applied> applied(const std::string& cluster) const;  // spec changes, in order
  void clearApplied();
  // Names of the calls made for `cluster`: "ensureTenant", "loadCredentials", ...
  std::vector<std::string> calls(const std::string& cluster) const;
  std::optional<pki::PkiFiles> credentials(const std::string& cluster) const;
  void eraseCredential(const std::string& cluster, const std::string& path);
  int stores(const std::string& cluster) const;
  bool hasTenant(const std::string& cluster) const;
  // Applies of a component made while an earlier component (in the order etcd, apiserver,
  // controller-manager, scheduler) had not rolled out its own last spec.
  int orderViolations() const;

  std::string_view name() const override { return "fake"; }
  Status ensureTenant(const api::Cluster& cluster) override;
  Result<pki::PkiFiles> loadCredentials(const api::Cluster& cluster) override;
  Status storeCredentials(const api::Cluster& cluster, const pki::PkiFiles& files) override;
  Result<provider::ComponentState> applyComponent(const api::Cluster& cluster,
                                                  const render::ComponentSpec& spec) override;
  Result<bool> removeTenant(const api::Cluster& cluster) override;
  std::string apiServerUrl(const api::Cluster& cluster) const override;
  Result<std::vector<provider::EtcdEndpoint>> etcdEndpoints(const api::Cluster& cluster) override;

 private:
  struct Workload {
    render::ComponentSpec spec;
    provider::ComponentState state;
  };
  struct Tenant {
    bool exists = false;
    std::optional<pki::PkiFiles> credentials;
    int stores = 0;
    std::map<render::Component, Workload> workloads;
    std::vector<std::string> calls;
    int removal_calls = 0;
  };

  mutable std::mutex mu_;
  bool auto_rollout_ = false;
  int removal_steps_ = 0;
  Status ensure_failure_;
  int order_violations_ = 0;
  std::map<std::string, Tenant> tenants_;
  std::vector<Applied> applied_;
};

}  // namespace herd::testing
