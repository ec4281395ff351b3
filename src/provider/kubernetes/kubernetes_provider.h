// The kubernetes provider: runs each tenant's control plane as workloads of the seed cluster,
// in the namespace herd-<name> (objects.h builds them, credentials.h maps the PKI to Secrets).
//
// Writes are server-side applies (field manager "herd", forced: herd owns what it renders),
// and only of objects whose desired form changed: each applied object carries the digest of
// that form in herd.io/applied-hash, so a call that finds nothing to change reads and sends
// no write at all. The trade-off: a hand edit of a field herd owns is only undone by the next
// change herd makes to that object. Reads go through an ObjectReader (a GET-based one by
// default; a cache later). Thread-safe for calls on different clusters, as provider.h asks;
// does not own the client.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "kube/client.h"
#include "provider/kubernetes/object_reader.h"
#include "provider/kubernetes/objects.h"
#include "provider/provider.h"

namespace herd::provider::kubernetes {

inline constexpr std::string_view kAppliedHashAnnotation = "herd.io/applied-hash";

// ComponentState of a StatefulSet or Deployment as the seed reports it.
ComponentState workloadState(const nlohmann::json& workload);

class KubernetesProvider : public Provider {
 public:
  // `reader` defaults to a ClientObjectReader over `client`.
  KubernetesProvider(kube::Client& client, ProviderOptions options,
                     std::unique_ptr<ObjectReader> reader = nullptr);

  std::string_view name() const override { return "kubernetes"; }
  Status ensureTenant(const api::Cluster& cluster) override;
  Result<pki::PkiFiles> loadCredentials(const api::Cluster& cluster) override;
  Status storeCredentials(const api::Cluster& cluster, const pki::PkiFiles& files) override;
  Result<ComponentState> applyComponent(const api::Cluster& cluster,
                                        const render::ComponentSpec& spec) override;
  Result<bool> removeTenant(const api::Cluster& cluster) override;
  std::string apiServerUrl(const api::Cluster& cluster) const override;
  Result<std::vector<EtcdEndpoint>> etcdEndpoints(const api::Cluster& cluster) override;

 private:
  // The live object after converging it to `desired` (written only if its digest changed).
  Result<nlohmann::json> applyObject(const nlohmann::json& desired);
  // Deletes objects of the component that `desired` no longer has (a budget dropped at one
  // replica, the ConfigMap once no file is rendered).
  Status pruneComponent(const api::Cluster& cluster, std::string_view component,
                        const std::vector<nlohmann::json>& desired);
  Status checkNamespaceUsable(const api::Cluster& cluster);

  kube::Client& client_;
  ProviderOptions options_;
  std::unique_ptr<ObjectReader> reader_;
};

}  // namespace herd::provider::kubernetes
