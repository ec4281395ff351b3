#include "provider/kubernetes/kubernetes_provider.h"

#include <fmt/format.h>

#include <set>

#include "api/naming.h"
#include "provider/kubernetes/credentials.h"
#include "render/topology.h"

namespace herd::provider::kubernetes {

using nlohmann::json;

namespace {

// The kinds a component may own besides its workload, which are pruned when no longer wanted.
constexpr std::string_view kPrunedKinds[] = {"ConfigMap", "Service", "PodDisruptionBudget"};

int64_t intAt(const json& object, const char* section, const char* field) {
  const json& s = object.value(section, json::object());
  const json& v = s.contains(field) ? s[field] : json();
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

std::string describe(const json& object) {
  const json& meta = object.value("metadata", json::object());
  return fmt::format("{} {}/{}", object.value("kind", ""), meta.value("namespace", ""),
                     meta.value("name", ""));
}

}  // namespace

ComponentState workloadState(const json& workload) {
  ComponentState state;
  state.replicas = static_cast<int32_t>(intAt(workload, "spec", "replicas"));
  state.ready_replicas = static_cast<int32_t>(intAt(workload, "status", "readyReplicas"));
  state.updated_replicas = static_cast<int32_t>(intAt(workload, "status", "updatedReplicas"));
  const int64_t generation = intAt(workload, "metadata", "generation");
  const int64_t observed = intAt(workload, "status", "observedGeneration");
  const int64_t existing = intAt(workload, "status", "replicas");
  if (observed < generation) {
    state.message = fmt::format("the seed has not yet seen generation {} of {}", generation,
                                describe(workload));
  } else if (state.updated_replicas < state.replicas) {
    state.message = fmt::format("{} of {} replicas run the current spec",
                                state.updated_replicas, state.replicas);
  } else if (existing > state.replicas) {
    state.message = fmt::format("{} old replicas still run", existing - state.replicas);
  } else if (state.ready_replicas < state.replicas) {
    state.message =
        fmt::format("{} of {} replicas are ready", state.ready_replicas, state.replicas);
  } else {
    state.rolled_out = true;
  }
  return state;
}

KubernetesProvider::KubernetesProvider(kube::Client& client, ProviderOptions options,
                                       std::unique_ptr<ObjectReader> reader)
    : client_(client),
      options_(std::move(options)),
      reader_(reader ? std::move(reader) : std::make_unique<ClientObjectReader>(client)) {}

Result<json> KubernetesProvider::applyObject(const json& desired) {
  HERD_ASSIGN_OR_RETURN(kube::ResourceRef resource, resourceOf(desired));
  const json& meta = desired["metadata"];
  const std::string ns = meta.value("namespace", "");
  const std::string name = meta.value("name", "");
  const std::string digest = sha256Hex(desired.dump());
  HERD_ASSIGN_OR_RETURN(auto live, reader_->get(resource, ns, name));
  if (live) {
    const json& annotations = (*live)["metadata"].value("annotations", json::object());
    if (annotations.value(std::string(kAppliedHashAnnotation), "") == digest) return *live;
  }
  json body = desired;
  body["metadata"]["annotations"][std::string(kAppliedHashAnnotation)] = digest;
  kube::PatchOptions patch;
  patch.field_manager = options_.field_manager;
  patch.force = true;
  auto applied = client_.patch(resource, ns, name, kube::PatchType::kApply, body.dump(), patch);
  if (!applied) return applied.status().withContext("apply " + describe(desired));
  return applied;
}

Status KubernetesProvider::checkNamespaceUsable(const api::Cluster& cluster) {
  const std::string ns = api::tenantNamespace(cluster);
  HERD_ASSIGN_OR_RETURN(auto live, reader_->get(resourceForKind("Namespace"), "", ns));
  if (live && (*live)["metadata"].contains("deletionTimestamp")) {
    return Status::unavailable(fmt::format(
        "namespace {} is being deleted; herd recreates it once the seed has removed it", ns));
  }
  return Status::ok();
}

Status KubernetesProvider::ensureTenant(const api::Cluster& cluster) {
  HERD_ASSIGN_OR_RETURN(auto objects, tenantObjects(cluster, options_));
  HERD_RETURN_IF_ERROR(checkNamespaceUsable(cluster));
  for (const auto& object : objects) {
    auto applied = applyObject(object);
    if (!applied) return applied.status();
  }
  return Status::ok();
}

Result<pki::PkiFiles> KubernetesProvider::loadCredentials(const api::Cluster& cluster) {
  const std::string selector =
      fmt::format("{},{}={}", tenantSelector(cluster), kComponentLabel, kCredentialsComponent);
  HERD_ASSIGN_OR_RETURN(auto secrets, reader_->list(resourceForKind("Secret"),
                                                    api::tenantNamespace(cluster), selector));
  return filesFromSecrets(secrets);
}

Status KubernetesProvider::storeCredentials(const api::Cluster& cluster,
                                            const pki::PkiFiles& files) {
  HERD_ASSIGN_OR_RETURN(auto secrets, credentialSecrets(cluster, files));
  for (const auto& secret : secrets) {
    auto applied = applyObject(secret);
    if (!applied) return applied.status();
  }
  return Status::ok();
}

Status KubernetesProvider::pruneComponent(const api::Cluster& cluster,
                                          std::string_view component,
                                          const std::vector<json>& desired) {
  std::set<std::pair<std::string, std::string>> wanted;  // kind, name
  for (const auto& object : desired) {
    wanted.insert({object.value("kind", ""), object["metadata"].value("name", "")});
  }
  const std::string ns = api::tenantNamespace(cluster);
  const std::string selector =
      fmt::format("{},{}={}", tenantSelector(cluster), kComponentLabel, component);
  for (auto kind : kPrunedKinds) {
    const kube::ResourceRef resource = resourceForKind(kind);
    HERD_ASSIGN_OR_RETURN(auto live, reader_->list(resource, ns, selector));
    for (const auto& object : live) {
      const json& meta = object["metadata"];
      const std::string name = meta.value("name", "");
      if (wanted.count({std::string(kind), name}) || meta.contains("deletionTimestamp")) continue;
      auto removed = client_.remove(resource, ns, name);
      if (!removed && removed.status().code() != Code::kNotFound) {
        return removed.status().withContext(fmt::format("delete {} {}/{}", kind, ns, name));
      }
    }
  }
  return Status::ok();
}

Result<ComponentState> KubernetesProvider::applyComponent(const api::Cluster& cluster,
                                                          const render::ComponentSpec& spec) {
  HERD_ASSIGN_OR_RETURN(auto objects, componentObjects(cluster, spec, options_));
  HERD_RETURN_IF_ERROR(checkNamespaceUsable(cluster));
  json workload;
  for (const auto& object : objects) {
    HERD_ASSIGN_OR_RETURN(workload, applyObject(object));
  }
  HERD_RETURN_IF_ERROR(pruneComponent(cluster, render::componentName(spec.component), objects));
  return workloadState(workload);  // the workload is applied last
}

Result<bool> KubernetesProvider::removeTenant(const api::Cluster& cluster) {
  const std::string ns = api::tenantNamespace(cluster);
  const kube::ResourceRef resource = resourceForKind("Namespace");
  HERD_ASSIGN_OR_RETURN(auto live, reader_->get(resource, "", ns));
  if (!live) return true;
  if ((*live)["metadata"].contains("deletionTimestamp")) return false;
  // Everything of the tenant lives in its namespace: deleting it deletes the rest.
  kube::DeleteOptions options;
  options.propagation_policy = "Background";
  auto removed = client_.remove(resource, "", ns, options);
  if (!removed) {
    if (removed.status().code() == Code::kNotFound) return true;
    return removed.status().withContext("delete namespace " + ns);
  }
  return false;
}

std::string KubernetesProvider::apiServerUrl(const api::Cluster& cluster) const {
  return api::internalApiServerUrl(cluster);
}

// Each member by its stable name under the StatefulSet's headless Service, which resolves in
// the seed where herd runs. Whether a member's volume was lost cannot be seen from here.
Result<std::vector<EtcdEndpoint>> KubernetesProvider::etcdEndpoints(const api::Cluster& cluster) {
  std::vector<EtcdEndpoint> out;
  for (const auto& m : render::kubernetesTopology(cluster).etcd_members) {
    out.push_back({m.name, m.client_url, m.peer_url, false});
  }
  return out;
}

}  // namespace herd::provider::kubernetes
