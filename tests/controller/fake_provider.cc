#include "fake_provider.h"

#include <algorithm>

namespace herd::testing {

void FakeProvider::setAutoRollout(bool on) {
  std::lock_guard lock(mu_);
  auto_rollout_ = on;
}

void FakeProvider::rollOut(const std::string& cluster, const std::string& component) {
  std::lock_guard lock(mu_);
  for (auto& [c, w] : tenants_[cluster].workloads) {
    if (w.spec.name != component) continue;
    w.state.ready_replicas = w.state.replicas;
    w.state.updated_replicas = w.state.replicas;
    w.state.rolled_out = true;
    w.state.message.clear();
  }
}

std::vector<std::string> FakeProvider::pending(const std::string& cluster) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  auto it = tenants_.find(cluster);
  if (it == tenants_.end()) return out;
  for (const auto& [c, w] : it->second.workloads) {
    if (!w.state.rolled_out) out.push_back(w.spec.name);
  }
  return out;
}

void FakeProvider::setRemovalSteps(int steps) {
  std::lock_guard lock(mu_);
  removal_steps_ = steps;
}

void FakeProvider::failEnsureTenant(Status status) {
  std::lock_guard lock(mu_);
  ensure_failure_ = std::move(status);
}

std::vector<FakeProvider::Applied> FakeProvider::applied(const std::string& cluster) const {
  std::lock_guard lock(mu_);
  std::vector<Applied> out;
  for (const auto& a : applied_) {
    if (a.cluster == cluster) out.push_back(a);
  }
  return out;
}

void FakeProvider::clearApplied() {
  std::lock_guard lock(mu_);
  applied_.clear();
}

std::vector<std::string> FakeProvider::calls(const std::string& cluster) const {
  std::lock_guard lock(mu_);
  auto it = tenants_.find(cluster);
  return it == tenants_.end() ? std::vector<std::string>{} : it->second.calls;
}

std::optional<pki::PkiFiles> FakeProvider::credentials(const std::string& cluster) const {
  std::lock_guard lock(mu_);
  auto it = tenants_.find(cluster);
  return it == tenants_.end() ? std::nullopt : it->second.credentials;
}

void FakeProvider::eraseCredential(const std::string& cluster, const std::string& path) {
  std::lock_guard lock(mu_);
  auto& t = tenants_[cluster];
  if (t.credentials) t.credentials->erase(path);
}

int FakeProvider::stores(const std::string& cluster) const {
  std::lock_guard lock(mu_);
  auto it = tenants_.find(cluster);
  return it == tenants_.end() ? 0 : it->second.stores;
}

bool FakeProvider::hasTenant(const std::string& cluster) const {
  std::lock_guard lock(mu_);
  auto it = tenants_.find(cluster);
  return it != tenants_.end() && it->second.exists;
}

int FakeProvider::orderViolations() const {
  std::lock_guard lock(mu_);
  return order_violations_;
}

Status FakeProvider::ensureTenant(const api::Cluster& cluster) {
  std::lock_guard lock(mu_);
  auto& t = tenants_[cluster.metadata.name];
  t.calls.push_back("ensureTenant");
  if (!ensure_failure_.isOk()) return ensure_failure_;
  t.exists = true;
  return Status::ok();
}

Result<pki::PkiFiles> FakeProvider::loadCredentials(const api::Cluster& cluster) {
  std::lock_guard lock(mu_);
  auto& t = tenants_[cluster.metadata.name];
  t.calls.push_back("loadCredentials");
  if (!t.exists) return Status::failedPrecondition("the tenant does not exist");
  return t.credentials.value_or(pki::PkiFiles{});
}

Status FakeProvider::storeCredentials(const api::Cluster& cluster, const pki::PkiFiles& files) {
  std::lock_guard lock(mu_);
  auto& t = tenants_[cluster.metadata.name];
  t.calls.push_back("storeCredentials");
  if (!t.exists) return Status::failedPrecondition("the tenant does not exist");
  t.credentials = files;
  t.stores++;
  return Status::ok();
}

Result<provider::ComponentState> FakeProvider::applyComponent(const api::Cluster& cluster,
                                                              const render::ComponentSpec& spec) {
  std::lock_guard lock(mu_);
  auto& t = tenants_[cluster.metadata.name];
  t.calls.push_back("applyComponent " + spec.name);
  if (!t.exists) return Status::failedPrecondition("the tenant does not exist");
  auto it = t.workloads.find(spec.component);
  if (it != t.workloads.end() && it->second.spec == spec) return it->second.state;
  for (const auto& [c, w] : t.workloads) {
    if (c < spec.component && !w.state.rolled_out) order_violations_++;
  }
  Workload& w = t.workloads[spec.component];
  w.spec = spec;
  w.state.replicas = spec.replicas;
  w.state.updated_replicas = auto_rollout_ ? spec.replicas : 0;
  w.state.rolled_out = auto_rollout_;
  if (!auto_rollout_) w.state.message = "rolling out";
  if (auto_rollout_) w.state.ready_replicas = spec.replicas;
  applied_.push_back({cluster.metadata.name, spec.name, spec.version});
  return w.state;
}

Result<bool> FakeProvider::removeTenant(const api::Cluster& cluster) {
  std::lock_guard lock(mu_);
  auto& t = tenants_[cluster.metadata.name];
  t.calls.push_back("removeTenant");
  if (t.removal_calls++ < removal_steps_) return false;
  t.exists = false;
  t.credentials.reset();
  t.workloads.clear();
  return true;
}

std::string FakeProvider::apiServerUrl(const api::Cluster& cluster) const {
  return "https://kube-apiserver.herd-" + cluster.metadata.name + ".svc:6443";
}

Result<std::vector<provider::EtcdEndpoint>> FakeProvider::etcdEndpoints(const api::Cluster&) {
  return std::vector<provider::EtcdEndpoint>{};  // no etcd runs here: nothing to manage
}

}  // namespace herd::testing
