#include "provider/kubernetes/objects.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <set>

#include "api/naming.h"
#include "provider/kubernetes/credentials.h"

namespace herd::provider::kubernetes {

namespace {

using render::ComponentSpec;
using render::FileSpec;

// The node label that tells seed nodes apart: replicas prefer different nodes, so losing one
// node costs a tenant at most one etcd member and one apiserver.
constexpr std::string_view kSpreadTopologyKey = "kubernetes.io/hostname";
// The weight of that preference (the scheduler's maximum): spread wins over packing, yet a
// seed with fewer nodes than replicas still schedules them all.
constexpr int kSpreadWeight = 100;

json selectorOf(const api::Cluster& cluster, std::string_view component) {
  return {{std::string(kClusterLabel), cluster.metadata.name},
          {std::string(kComponentLabel), std::string(component)}};
}

json labelsJson(const std::map<std::string, std::string>& labels) {
  json out = json::object();
  for (const auto& [k, v] : labels) out[k] = v;
  return out;
}

std::string dirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string baseOf(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

json probeJson(const render::ProbeSpec& probe) {
  return {{"httpGet",
           {{"path", probe.path},
            {"port", probe.port},
            {"scheme", probe.scheme == render::ProbeSpec::Scheme::kHttps ? "HTTPS" : "HTTP"}}},
          {"initialDelaySeconds", probe.initial_delay_seconds},
          {"periodSeconds", probe.period_seconds},
          {"timeoutSeconds", probe.timeout_seconds},
          {"failureThreshold", probe.failure_threshold}};
}

json resourcesJson(const api::Resources& resources) {
  json out = json::object();
  for (const auto& [name, q] : resources.requests) out["requests"][name] = q.text;
  for (const auto& [name, q] : resources.limits) out["limits"][name] = q.text;
  return out;
}

Status checkFiles(const ComponentSpec& spec) {
  std::set<std::string> content_keys;
  for (const auto& f : spec.files) {
    if (f.path.size() < 2 || f.path.front() != '/' || f.path.back() == '/') {
      return Status::invalid(
          fmt::format("{}: file path \"{}\" is not an absolute file path", spec.name, f.path));
    }
    if (f.mode > 0777) {
      return Status::invalid(fmt::format("{}: file {} has mode {:o}, beyond 0777", spec.name,
                                         f.path, f.mode));
    }
    if (!f.pki_file.empty()) {
      if (!f.content.empty()) {
        return Status::invalid(fmt::format(
            "{}: file {} has both a pki_file and content; exactly one is set", spec.name, f.path));
      }
      if (findCredentialFile(f.pki_file) == nullptr) {
        return Status::invalid(fmt::format("{}: file {} wants PKI file \"{}\", which no "
                                           "credential Secret holds",
                                           spec.name, f.path, f.pki_file));
      }
    } else if (!content_keys.insert(baseOf(f.path)).second) {
      return Status::invalid(fmt::format(
          "{}: two rendered files are named {}; their ConfigMap keys would collide", spec.name,
          baseOf(f.path)));
    }
  }
  return Status::ok();
}

// One projected volume per directory that holds files, mounted read-only at that directory:
// Secrets and the ConfigMap stay live (a renewed certificate reaches the running pod), which
// a subPath mount of single files would prevent.
struct FileVolumes {
  json volumes = json::array();
  json mounts = json::array();
};

FileVolumes fileVolumes(const ComponentSpec& spec) {
  std::map<std::string, std::vector<const FileSpec*>> by_dir;
  for (const auto& f : spec.files) by_dir[dirOf(f.path)].push_back(&f);
  FileVolumes out;
  int index = 0;
  for (const auto& [dir, files] : by_dir) {
    // Keyed by (kind, name) so that the sources come out in a stable order.
    std::map<std::pair<std::string, std::string>, json> sources;
    for (const FileSpec* f : files) {
      json item = {{"path", baseOf(f->path)}, {"mode", f->mode}};
      std::pair<std::string, std::string> source;
      if (!f->pki_file.empty()) {
        const CredentialFile* where = findCredentialFile(f->pki_file);
        source = {"secret", std::string(where->secret)};
        item["key"] = std::string(where->key);
      } else {
        source = {"configMap", configMapName(spec)};
        item["key"] = baseOf(f->path);
      }
      sources[source].push_back(std::move(item));
    }
    json projected = json::array();
    for (auto& [source, items] : sources) {
      projected.push_back({{source.first, {{"name", source.second}, {"items", items}}}});
    }
    std::string name = fmt::format("files-{}", index++);
    out.volumes.push_back({{"name", name}, {"projected", {{"sources", projected}}}});
    out.mounts.push_back({{"name", name}, {"mountPath", dir}, {"readOnly", true}});
  }
  return out;
}

std::string filesDigest(const ComponentSpec& spec) {
  std::string all;
  for (const auto& f : spec.files) {
    if (!f.pki_file.empty()) continue;
    all += fmt::format("{}\n{:o}\n{}\n{}\n", f.path, f.mode, f.content.size(), f.content);
  }
  return sha256Hex(all);
}

// A StatefulSet has one pod template, so its members share one set of bootstrap settings:
// those of the member that lists the most members in its initial cluster (the bootstrap's,
// all alike, or the member joining now), else the highest member's. Members with data ignore
// them. A change of them changes the template, which the StatefulSet rolls one member at a time.
const std::map<std::string, std::string>* podBootstrapEnv(const ComponentSpec& spec) {
  const std::map<std::string, std::string>* chosen = nullptr;
  size_t most = 0;
  for (const auto& [member, env] : spec.bootstrap_env) {
    size_t listed = 0;
    if (auto it = env.find("ETCD_INITIAL_CLUSTER"); it != env.end()) {
      listed = 1 + std::count(it->second.begin(), it->second.end(), ',');
    }
    // Members come in name order; ">=" keeps the highest of a tie.
    if (chosen == nullptr || listed >= most) {
      chosen = &env;
      most = listed;
    }
  }
  return chosen;
}

Result<json> podTemplate(const api::Cluster& cluster, const ComponentSpec& spec) {
  HERD_RETURN_IF_ERROR(checkFiles(spec));
  const std::string_view component = render::componentName(spec.component);
  json env = json::array();
  env.push_back({{"name", std::string(render::kMemberEnv)},
                 {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}});
  for (const auto& [name, value] : spec.env) {
    if (name == render::kMemberEnv) {
      return Status::invalid(fmt::format("{}: env {} is set by the provider, not the spec",
                                         spec.name, name));
    }
    env.push_back({{"name", name}, {"value", value}});
  }
  if (const auto* bootstrap = podBootstrapEnv(spec)) {
    for (const auto& [name, value] : *bootstrap) env.push_back({{"name", name}, {"value", value}});
  }
  json ports = json::array();
  for (const auto& p : spec.ports) {
    json port = {{"containerPort", p.port}, {"protocol", "TCP"}};
    if (!p.name.empty()) port["name"] = p.name;
    ports.push_back(std::move(port));
  }
  FileVolumes files = fileVolumes(spec);
  json mounts = files.mounts;
  for (const auto& v : spec.volumes) {
    mounts.push_back({{"name", v.name}, {"mountPath", v.mount_path}});
  }
  json container = {{"name", std::string(component)},
                    {"image", spec.image},
                    {"imagePullPolicy", "IfNotPresent"},
                    {"command", json::array({spec.binary})},
                    {"args", spec.args},
                    {"env", env}};
  if (!ports.empty()) container["ports"] = ports;
  if (!mounts.empty()) container["volumeMounts"] = mounts;
  json resources = resourcesJson(spec.resources);
  if (!resources.empty()) container["resources"] = resources;
  if (spec.startup) container["startupProbe"] = probeJson(*spec.startup);
  if (spec.readiness) container["readinessProbe"] = probeJson(*spec.readiness);
  if (spec.liveness) container["livenessProbe"] = probeJson(*spec.liveness);

  json pod = {
      {"containers", json::array({container})},
      // Tenant components must never hold a credential of the seed.
      {"automountServiceAccountToken", false},
      {"enableServiceLinks", false},
      {"affinity",
       {{"podAntiAffinity",
         {{"preferredDuringSchedulingIgnoredDuringExecution",
           json::array({{{"weight", kSpreadWeight},
                         {"podAffinityTerm",
                          {{"labelSelector", {{"matchLabels", selectorOf(cluster, component)}}},
                           {"topologyKey", std::string(kSpreadTopologyKey)}}}}})}}}}}};
  if (!files.volumes.empty()) pod["volumes"] = files.volumes;
  return json{{"metadata",
               {{"labels", labelsJson(labelsFor(cluster, component))},
                {"annotations", {{std::string(kFilesHashAnnotation), filesDigest(spec)}}}}},
              {"spec", std::move(pod)}};
}

json servicePort(const std::string& name, int port, int target) {
  return {{"name", name}, {"port", port}, {"targetPort", target}, {"protocol", "TCP"}};
}

Result<std::vector<json>> services(const api::Cluster& cluster, const ComponentSpec& spec) {
  const std::string ns = api::tenantNamespace(cluster);
  const std::string_view component = render::componentName(spec.component);
  std::vector<json> out;
  auto service = [&](const std::string& name, json spec_json) -> Result<json> {
    HERD_ASSIGN_OR_RETURN(json meta, objectMeta(cluster, component, name, ns));
    spec_json["selector"] = selectorOf(cluster, component);
    spec_json["type"] = "ClusterIP";
    return json{{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", std::move(meta)},
                {"spec", std::move(spec_json)}};
  };
  if (spec.component == render::Component::kEtcd) {
    json all = json::array();
    json client = json::array();
    for (const auto& p : spec.ports) {
      all.push_back(servicePort(p.name, p.port, p.port));
      if (p.name == "client") client.push_back(servicePort(p.name, p.port, p.port));
    }
    if (client.empty()) {
      return Status::invalid(fmt::format("{}: etcd has no port named \"client\"", spec.name));
    }
    // Members find each other by name before they are ready: etcd is not ready until it has
    // a quorum, which it cannot reach unless the peers' names resolve.
    HERD_ASSIGN_OR_RETURN(json headless,
                          service(std::string(api::kEtcdServiceName),
                                  {{"clusterIP", "None"},
                                   {"publishNotReadyAddresses", true},
                                   {"ports", all}}));
    HERD_ASSIGN_OR_RETURN(json clients, service(std::string(kEtcdClientServiceName),
                                                {{"ports", client}}));
    out.push_back(std::move(clients));
    out.push_back(std::move(headless));
  } else if (spec.component == render::Component::kApiServer) {
    if (spec.ports.empty()) {
      return Status::invalid(fmt::format("{}: kube-apiserver has no port", spec.name));
    }
    const render::PortSpec* https = &spec.ports.front();
    for (const auto& p : spec.ports) {
      if (p.name == "https") https = &p;
    }
    HERD_ASSIGN_OR_RETURN(
        json s, service(std::string(api::kApiServerServiceName),
                        {{"ports", json::array({servicePort("https", api::kApiServerPort,
                                                            https->port)})}}));
    out.push_back(std::move(s));
  }
  return out;
}

// etcd keeps quorum with one member down at a time; a stateless component with two or more
// replicas keeps one serving. A single replica gets none: it would block every node drain.
Result<std::optional<json>> disruptionBudget(const api::Cluster& cluster,
                                             const ComponentSpec& spec) {
  json budget = {{"selector", {{"matchLabels", selectorOf(cluster, render::componentName(spec.component))}}}};
  if (spec.component == render::Component::kEtcd) {
    budget["maxUnavailable"] = 1;
  } else if (spec.replicas >= 2) {
    budget["minAvailable"] = 1;
  } else {
    return std::optional<json>();
  }
  HERD_ASSIGN_OR_RETURN(json meta, objectMeta(cluster, render::componentName(spec.component), spec.name,
                                              api::tenantNamespace(cluster)));
  return std::optional<json>(json{{"apiVersion", "policy/v1"},
                                  {"kind", "PodDisruptionBudget"},
                                  {"metadata", std::move(meta)},
                                  {"spec", std::move(budget)}});
}

Result<json> workload(const api::Cluster& cluster, const ComponentSpec& spec,
                      const ProviderOptions& options) {
  const std::string_view component = render::componentName(spec.component);
  HERD_ASSIGN_OR_RETURN(json meta,
                        objectMeta(cluster, component, spec.name, api::tenantNamespace(cluster)));
  HERD_ASSIGN_OR_RETURN(json pod, podTemplate(cluster, spec));
  json selector = {{"matchLabels", selectorOf(cluster, component)}};
  if (spec.component != render::Component::kEtcd) {
    if (!spec.volumes.empty()) {
      return Status::invalid(fmt::format(
          "{}: only etcd keeps data across restarts; a stateless component has no volumes",
          spec.name));
    }
    // One new pod before an old one goes: a serving replica is never taken away for a rollout.
    return json{{"apiVersion", "apps/v1"},
                {"kind", "Deployment"},
                {"metadata", std::move(meta)},
                {"spec",
                 {{"replicas", spec.replicas},
                  {"selector", selector},
                  {"strategy",
                   {{"type", "RollingUpdate"},
                    {"rollingUpdate", {{"maxUnavailable", 0}, {"maxSurge", 1}}}}},
                  {"template", std::move(pod)}}}};
  }
  json claims = json::array();
  for (const auto& v : spec.volumes) {
    json claim = {{"accessModes", json::array({"ReadWriteOnce"})},
                  {"resources", {{"requests", {{"storage", v.size}}}}}};
    if (!options.storage_class.empty()) claim["storageClassName"] = options.storage_class;
    claims.push_back({{"metadata",
                       {{"name", v.name}, {"labels", labelsJson(labelsFor(cluster, component))}}},
                      {"spec", std::move(claim)}});
  }
  json sts = {{"replicas", spec.replicas},
              {"serviceName", std::string(api::kEtcdServiceName)},
              // Members start together: the first cannot become ready without its peers.
              {"podManagementPolicy", "Parallel"},
              {"updateStrategy", {{"type", "RollingUpdate"}}},
              // A scaled-down member's data is kept (it may come back); a deleted tenant's goes.
              {"persistentVolumeClaimRetentionPolicy",
               {{"whenDeleted", "Delete"}, {"whenScaled", "Retain"}}},
              {"selector", selector},
              {"template", std::move(pod)}};
  if (!claims.empty()) sts["volumeClaimTemplates"] = std::move(claims);
  return json{{"apiVersion", "apps/v1"},
              {"kind", "StatefulSet"},
              {"metadata", std::move(meta)},
              {"spec", std::move(sts)}};
}

}  // namespace

std::string sha256Hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned i = 0; i < size; ++i) out += fmt::format("{:02x}", digest[i]);
  return out;
}

kube::ResourceRef resourceForKind(std::string_view kind) {
  if (kind == "Namespace") return {"", "v1", "namespaces", false, "Namespace"};
  if (kind == "NetworkPolicy") {
    return {"networking.k8s.io", "v1", "networkpolicies", true, "NetworkPolicy"};
  }
  if (kind == "Secret") return {"", "v1", "secrets", true, "Secret"};
  if (kind == "ConfigMap") return {"", "v1", "configmaps", true, "ConfigMap"};
  if (kind == "Service") return {"", "v1", "services", true, "Service"};
  if (kind == "StatefulSet") return {"apps", "v1", "statefulsets", true, "StatefulSet"};
  if (kind == "Deployment") return {"apps", "v1", "deployments", true, "Deployment"};
  return {"policy", "v1", "poddisruptionbudgets", true, "PodDisruptionBudget"};
}

Result<kube::ResourceRef> resourceOf(const json& object) {
  const std::string kind = object.value("kind", "");
  for (auto k : kKinds) {
    if (k == kind) {
      kube::ResourceRef r = resourceForKind(kind);
      if (object.value("apiVersion", "") != r.apiVersion()) break;
      return r;
    }
  }
  return Status::invalid(fmt::format("the kubernetes provider does not manage {} {}",
                                     object.value("apiVersion", ""), kind));
}

std::map<std::string, std::string> labelsFor(const api::Cluster& cluster,
                                             std::string_view component) {
  return {{std::string(kClusterLabel), cluster.metadata.name},
          {std::string(kComponentLabel), std::string(component)},
          {std::string(kManagedByLabel), "herd"}};
}

std::string tenantSelector(const api::Cluster& cluster) {
  return fmt::format("{}={}", kClusterLabel, cluster.metadata.name);
}

Result<json> objectMeta(const api::Cluster& cluster, std::string_view component,
                        const std::string& name, const std::string& ns) {
  if (cluster.metadata.name.empty() || cluster.metadata.uid.empty()) {
    return Status::invalid(fmt::format(
        "cluster \"{}\" has no uid: objects are owned by the Cluster, so read it from the seed "
        "first",
        cluster.metadata.name));
  }
  json meta = {{"name", name},
               {"labels", labelsJson(labelsFor(cluster, component))},
               {"ownerReferences", json::array({{{"apiVersion", std::string(api::kApiVersion)},
                                                 {"kind", std::string(api::kKind)},
                                                 {"name", cluster.metadata.name},
                                                 {"uid", cluster.metadata.uid},
                                                 {"controller", true},
                                                 {"blockOwnerDeletion", true}}})}};
  if (!ns.empty()) meta["namespace"] = ns;
  return meta;
}

Result<std::vector<json>> tenantObjects(const api::Cluster& cluster,
                                        const ProviderOptions& options) {
  const std::string ns = api::tenantNamespace(cluster);
  HERD_ASSIGN_OR_RETURN(json ns_meta, objectMeta(cluster, kTenantComponent, ns, ""));
  HERD_ASSIGN_OR_RETURN(json np_meta,
                        objectMeta(cluster, kTenantComponent, std::string(kNetworkPolicyName), ns));
  auto herdPods = [&](const std::map<std::string, std::string>& labels) {
    return json{{"namespaceSelector",
                 {{"matchLabels", {{"kubernetes.io/metadata.name", options.system_namespace}}}}},
                {"podSelector", {{"matchLabels", labelsJson(labels)}}}};
  };
  json from = json::array(
      {herdPods(options.gateway_pod_labels), herdPods(options.controller_pod_labels),
       {{"podSelector",
         {{"matchLabels", {{std::string(kClusterLabel), cluster.metadata.name}}}}}}});
  // Ingress only: the apiservers dial out to the gateway's CONNECT listener and webhooks, and
  // where those live is the platform's business, not the tenant's.
  json policy = {{"apiVersion", "networking.k8s.io/v1"},
                 {"kind", "NetworkPolicy"},
                 {"metadata", std::move(np_meta)},
                 {"spec",
                  {{"podSelector", json::object()},
                   {"policyTypes", json::array({"Ingress"})},
                   {"ingress", json::array({{{"from", std::move(from)}}})}}}};
  return std::vector<json>{
      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", std::move(ns_meta)}},
      std::move(policy)};
}

std::string configMapName(const render::ComponentSpec& spec) {
  return spec.name + "-files";
}

Result<std::vector<json>> componentObjects(const api::Cluster& cluster,
                                           const render::ComponentSpec& spec,
                                           const ProviderOptions& options) {
  if (spec.name.empty() || spec.image.empty() || spec.binary.empty()) {
    return Status::invalid(fmt::format("component {}: name, image and binary are required",
                                       render::componentName(spec.component)));
  }
  if (spec.replicas < 0) {
    return Status::invalid(fmt::format("{}: replicas {} is negative", spec.name, spec.replicas));
  }
  HERD_RETURN_IF_ERROR(checkFiles(spec));
  const std::string ns = api::tenantNamespace(cluster);
  std::vector<json> out;
  json data = json::object();
  for (const auto& f : spec.files) {
    if (f.pki_file.empty()) data[baseOf(f.path)] = f.content;
  }
  if (!data.empty()) {
    HERD_ASSIGN_OR_RETURN(json meta, objectMeta(cluster, render::componentName(spec.component),
                                                configMapName(spec), ns));
    out.push_back(
        {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", meta}, {"data", data}});
  }
  HERD_ASSIGN_OR_RETURN(auto svcs, services(cluster, spec));
  for (auto& s : svcs) out.push_back(std::move(s));
  HERD_ASSIGN_OR_RETURN(auto budget, disruptionBudget(cluster, spec));
  if (budget) out.push_back(std::move(*budget));
  HERD_ASSIGN_OR_RETURN(json w, workload(cluster, spec, options));
  out.push_back(std::move(w));
  return out;
}

}  // namespace herd::provider::kubernetes
