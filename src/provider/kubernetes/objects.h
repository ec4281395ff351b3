// The pure builders of the kubernetes provider: a Cluster and its component specs become the
// seed objects that run them (Namespace, NetworkPolicy, ConfigMaps, Services, StatefulSet,
// Deployments, PodDisruptionBudgets), as JSON ready for server-side apply. Every object
// carries the labels herd.io/cluster and herd.io/component and is owned by the Cluster, so the
// seed's garbage collector helps with deletion.
//
// Same input, byte-identical output: objects are nlohmann::json (keys sorted) and lists keep
// the order of the spec. Pure functions of their arguments; thread-safe.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/cluster.h"
#include "common/status.h"
#include "kube/client.h"
#include "render/component_spec.h"

namespace herd::provider::kubernetes {

using nlohmann::json;

inline constexpr std::string_view kClusterLabel = "herd.io/cluster";
inline constexpr std::string_view kComponentLabel = "herd.io/component";
inline constexpr std::string_view kManagedByLabel = "app.kubernetes.io/managed-by";
// herd.io/component of the objects that belong to the tenant as a whole, and of its Secrets.
inline constexpr std::string_view kTenantComponent = "tenant";
inline constexpr std::string_view kCredentialsComponent = "credentials";
// On a pod template: a digest of the rendered files the pods mount, so that a changed config
// file rolls the pods (a ConfigMap change alone would leave running processes on the old one).
inline constexpr std::string_view kFilesHashAnnotation = "herd.io/files-hash";
// The Service that reaches etcd's clients; the headless api::kEtcdServiceName names members.
inline constexpr std::string_view kEtcdClientServiceName = "etcd-client";
// The NetworkPolicy that fences the tenant namespace.
inline constexpr std::string_view kNetworkPolicyName = "herd-tenant-ingress";

// How the provider is set up in this seed; from herd's own flags.
struct ProviderOptions {
  // The namespace and pod labels of herd's own workloads: only they (and the tenant's own
  // pods) may reach a tenant's pods.
  std::string system_namespace = "herd-system";
  std::map<std::string, std::string> gateway_pod_labels = {
      {"app.kubernetes.io/name", "herd-gateway"}};
  std::map<std::string, std::string> controller_pod_labels = {
      {"app.kubernetes.io/name", "herd-controller"}};
  // Platform::storage_class: etcd's volume claims name it when set.
  std::string storage_class;
  std::string field_manager = "herd";
};

// The seed resource of an object's kind (only the kinds these builders produce), without
// asking discovery.
Result<kube::ResourceRef> resourceOf(const json& object);
kube::ResourceRef resourceForKind(std::string_view kind);  // kind must be one of kKinds
inline constexpr std::string_view kKinds[] = {"Namespace",  "NetworkPolicy", "Secret",
                                              "ConfigMap",  "Service",       "StatefulSet",
                                              "Deployment", "PodDisruptionBudget"};

// The labels every object of `component` carries; the first two also select its pods.
std::map<std::string, std::string> labelsFor(const api::Cluster& cluster,
                                             std::string_view component);
// herd.io/cluster=<name>: the selector of everything of one tenant.
std::string tenantSelector(const api::Cluster& cluster);

// metadata with name, namespace (unless empty), labels and the ownerReference to the Cluster.
// Invalid when the Cluster has no uid (it was not read from the seed).
Result<json> objectMeta(const api::Cluster& cluster, std::string_view component,
                        const std::string& name, const std::string& ns);

// The Namespace herd-<name> and its NetworkPolicy, in apply order.
Result<std::vector<json>> tenantObjects(const api::Cluster& cluster,
                                        const ProviderOptions& options);

// Everything that runs one component, in apply order: its ConfigMap (rendered files), Services,
// PodDisruptionBudget and last its workload, so that what pods mount exists before them.
// Invalid when the spec cannot run here (a file neither from the PKI nor rendered, a relative
// path, a volume on a stateless component).
Result<std::vector<json>> componentObjects(const api::Cluster& cluster,
                                           const render::ComponentSpec& spec,
                                           const ProviderOptions& options);

// The name of the ConfigMap holding the rendered files of a component ("<name>-files").
std::string configMapName(const render::ComponentSpec& spec);

}  // namespace herd::provider::kubernetes

namespace herd::provider::kubernetes {

// The hex SHA-256 of `bytes`: the digests in herd.io/* annotations.
std::string sha256Hex(std::string_view bytes);

}  // namespace herd::provider::kubernetes
