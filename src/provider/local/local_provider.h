// The local provider: runs each tenant's control plane as supervised processes on one machine,
// every listener on one loopback address, with the same flags and certificates as the
// kubernetes provider (the component specs are the same; only the topology differs).
//
// Layout, under <root>/<cluster>/ (tenant_state.h): the PKI set, ports.json, and per member
// ("etcd-0", "kube-apiserver-1", ...) a directory holding what its pod would have mounted,
// at the same paths below it (<member>/etc/kubernetes/pki/..., <member>/var/lib/etcd), its log,
// its pid file and the digest of the spec it runs. The arguments the renderer wrote for the
// pod's filesystem are rewritten to those paths, and the kubeconfigs of the control-plane
// components to the tenant's first apiserver on loopback.
//
// applyComponent converges without waiting: it starts what is missing, stops members beyond
// the replica count, and replaces a member whose spec changed one at a time, only while every
// other member is ready (etcd keeps quorum, an apiserver stays up). A herd that was killed
// finds its processes again through the supervisor (pid and start time, or the exact command
// line); a member whose recorded digest is not the desired one is replaced, never run twice.
//
// Thread-safe: one lock serialises the calls (they only start and stop processes and write
// small files; nothing waits for a process to become ready).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "kube/client.h"
#include "provider/local/supervisor.h"
#include "provider/local/tenant_state.h"
#include "provider/provider.h"
#include "render/topology.h"

namespace herd::provider::local {

// The program that runs `binary` ("etcd", "kube-apiserver") at release `version` ("1.32.11").
using BinaryResolver =
    std::function<Result<std::string>(const std::string& binary, const std::string& version)>;

struct LocalProviderOptions {
  std::string state_root;             // tenants live in <state_root>/<cluster>
  std::string address = "127.0.0.1";  // every listener's address (loopback)
  PortRange ports;
  BinaryResolver binaries;            // required
  SupervisorOptions supervisor;
  // The seed whose gateway routes to these tenants (`herd up`), or null. When set, the
  // provider keeps the tenant's namespace there and publishes each etcd and kube-apiserver
  // member as an EndpointSlice of the Service it would sit behind in the seed, ready as its
  // probe says: what the seed's endpoint controller does for the kubernetes provider, and
  // what the gateway follows.
  kube::Client* seed = nullptr;
};

class LocalProvider : public Provider {
 public:
  explicit LocalProvider(LocalProviderOptions options);
  ~LocalProvider() override;

  std::string_view name() const override { return "local"; }
  Status ensureTenant(const api::Cluster& cluster) override;
  Result<pki::PkiFiles> loadCredentials(const api::Cluster& cluster) override;
  Status storeCredentials(const api::Cluster& cluster, const pki::PkiFiles& files) override;
  Result<ComponentState> applyComponent(const api::Cluster& cluster,
                                        const render::ComponentSpec& spec) override;
  Result<bool> removeTenant(const api::Cluster& cluster) override;
  std::string apiServerUrl(const api::Cluster& cluster) const override;
  // The members' loopback URLs; a member's data is lost when its data directory holds no
  // write-ahead log (wiped, or never written).
  Result<std::vector<EtcdEndpoint>> etcdEndpoints(const api::Cluster& cluster) override;

  // The tenant's topology: its members' ports on the loopback address, allocated on first use
  // and kept for the tenant's life. The renderer takes it (render::renderControlPlane).
  Result<render::Topology> topology(const api::Cluster& defaulted_cluster);

  // What the supervisor reports of every process (for `herd up`'s progress and tests).
  std::vector<ProcessStatus> processes() const;
  // Stops every process (herd's clean exit); state and ports stay for the next start.
  void stopAll();

 private:
  Result<TenantState*> tenant(const std::string& cluster);
  Result<ComponentState> apply(const api::Cluster& cluster, const render::ComponentSpec& spec);
  // The EndpointSlices of `spec`'s members (`ready` per member), written when they changed;
  // slices of members beyond spec.replicas are deleted.
  Status publish(const api::Cluster& cluster, const render::ComponentSpec& spec,
                 const std::vector<bool>& ready);

  LocalProviderOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, TenantState> tenants_;
  Supervisor supervisor_;
  // Supervised process -> digest of the spec it runs.
  std::map<std::string, std::string> running_;
  // "<namespace>/<slice>" -> the slice as last written to the seed.
  std::map<std::string, nlohmann::json> published_;
};

// "<cluster>/<member>": the supervisor's name of a member's process.
std::string processName(const std::string& cluster, const std::string& member);

}  // namespace herd::provider::local
