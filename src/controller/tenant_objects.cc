// The objects herd keeps inside each tenant cluster: the addons (src/addons) and what
// `kubeadm join` expects (src/addons/join.h), applied through the tenant's own API.
//
// Each object is written with server-side apply (field manager "herd", forced: herd owns what
// it renders) carrying the digest of its desired form in herd.io/applied-hash; an object whose
// live copy already carries that digest is not written again, so a converged tenant costs
// reads only. An addon the spec disables loses exactly its objects: those its builder names,
// and only while they carry its herd.io/addon label. The join objects are never pruned.
#include <fmt/format.h>
#include <openssl/evp.h>

#include <functional>

#include "addons/addons.h"
#include "addons/join.h"
#include "api/conditions.h"
#include "controller/resources.h"

namespace herd::controller {
namespace {

using kube::json;
using EventType = EventRecorder::Type;

constexpr std::string_view kAppliedHash = "herd.io/applied-hash";

// The tenant resource of every kind the builders produce, without asking discovery (a tenant
// client lives for one reconcile; discovery would cost a request per group each time).
Result<kube::ResourceRef> tenantResource(const json& object) {
  struct Row {
    std::string_view api_version, kind, group, version, resource;
    bool namespaced;
  };
  static constexpr Row kRows[] = {
      {"v1", "Namespace", "", "v1", "namespaces", false},
      {"v1", "ServiceAccount", "", "v1", "serviceaccounts", true},
      {"v1", "ConfigMap", "", "v1", "configmaps", true},
      {"v1", "Secret", "", "v1", "secrets", true},
      {"v1", "Service", "", "v1", "services", true},
      {"apps/v1", "Deployment", "apps", "v1", "deployments", true},
      {"apps/v1", "DaemonSet", "apps", "v1", "daemonsets", true},
      {"rbac.authorization.k8s.io/v1", "ClusterRole", "rbac.authorization.k8s.io", "v1",
       "clusterroles", false},
      {"rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "rbac.authorization.k8s.io", "v1",
       "clusterrolebindings", false},
      {"rbac.authorization.k8s.io/v1", "Role", "rbac.authorization.k8s.io", "v1", "roles", true},
      {"rbac.authorization.k8s.io/v1", "RoleBinding", "rbac.authorization.k8s.io", "v1",
       "rolebindings", true},
      {"apiregistration.k8s.io/v1", "APIService", "apiregistration.k8s.io", "v1", "apiservices",
       false},
  };
  std::string api_version = object.value("apiVersion", "");
  std::string kind = object.value("kind", "");
  for (const Row& r : kRows) {
    if (r.api_version == api_version && r.kind == kind)
      return kube::ResourceRef{std::string(r.group), std::string(r.version),
                               std::string(r.resource), r.namespaced, std::string(r.kind)};
  }
  return Status::internal(fmt::format("no tenant resource for {} {}", api_version, kind));
}

std::string digest(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), md, &length, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < 16 && i < length; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

std::string describe(const json& object) {
  std::string ns = object["metadata"].value("namespace", "");
  return fmt::format("{} {}{}", object.value("kind", ""), ns.empty() ? "" : ns + "/",
                     object["metadata"].value("name", ""));
}

// Converges one object; 1 if it wrote.
Result<int> applyObject(kube::Client& client, json object) {
  HERD_ASSIGN_OR_RETURN(kube::ResourceRef resource, tenantResource(object));
  std::string hash = digest(object.dump());
  object["metadata"]["annotations"][std::string(kAppliedHash)] = hash;
  std::string ns = resource.namespaced ? object["metadata"].value("namespace", "") : "";
  std::string name = object["metadata"].value("name", "");
  auto live = client.get(resource, ns, name);
  if (live.isOk()) {
    const json& annotations = (*live)["metadata"].value("annotations", json::object());
    if (annotations.value(std::string(kAppliedHash), "") == hash) return 0;
  } else if (live.status().code() != Code::kNotFound) {
    return live.status().withContext(describe(object));
  }
  auto applied = client.patch(resource, ns, name, kube::PatchType::kApply, object.dump(),
                              {"herd", true});
  if (!applied) return applied.status().withContext(describe(object));
  return 1;
}

// Deletes the object if it is there and carries `addon`'s label; 1 if it deleted.
Result<int> pruneObject(kube::Client& client, const json& object, std::string_view addon) {
  HERD_ASSIGN_OR_RETURN(kube::ResourceRef resource, tenantResource(object));
  std::string ns = resource.namespaced ? object["metadata"].value("namespace", "") : "";
  std::string name = object["metadata"].value("name", "");
  auto live = client.get(resource, ns, name);
  if (!live) {
    if (live.status().code() == Code::kNotFound) return 0;
    return live.status().withContext(describe(object));
  }
  const json& labels = (*live)["metadata"].value("labels", json::object());
  if (labels.value(std::string(addons::kAddonLabel), "") != addon) return 0;  // not herd's
  auto removed = client.remove(resource, ns, name);
  if (!removed && removed.status().code() != Code::kNotFound)
    return removed.status().withContext(describe(object));
  return 1;
}

api::AddonStatus* statusOf(api::AddonsStatus& all, addons::Addon addon) {
  switch (addon) {
    case addons::Addon::kKubeProxy: return &all.kubeProxy.emplace();
    case addons::Addon::kCoreDns: return &all.coreDNS.emplace();
    case addons::Addon::kMetricsServer: return &all.metricsServer.emplace();
    case addons::Addon::kDashboard: return &all.dashboard.emplace();
  }
  return nullptr;
}

class TenantObjectsResource : public Resource {
 public:
  std::string_view name() const override { return "addons"; }
  std::string_view conditionType() const override { return api::condition::kAddonsReady; }

  Outcome reconcile(Context& ctx) override {
    auto fail = [&](std::string_view reason, const Status& s) {
      ctx.setCondition(api::condition::kAddonsReady, false, reason, s.message());
      return Outcome::failed(std::string(reason), s);
    };
    if (!ctx.status.gatewayPort)
      return fail("NoGatewayPort", Status::internal("no gateway port was allocated"));
    auto client =
        ctx.tenant_clients(ctx.cluster, ctx.pki, ctx.provider.apiServerUrl(ctx.cluster));
    if (!client) return fail("TenantUnreachable", client.status());
    addons::AddonContext context;
    context.api_host = ctx.options.platform.gateway_address;
    context.api_port = *ctx.status.gatewayPort;
    if (ctx.options.platform.image_registry != render::Platform{}.image_registry)
      context.image_registry = ctx.options.platform.image_registry;

    int writes = 0;
    auto join = addons::buildJoinObjects(ctx.cluster, ctx.pki);
    if (!join) return fail("JoinObjectsInvalid", join.status());
    for (const auto& object : *join) {
      auto wrote = applyObject(**client, object);
      if (!wrote) return fail("ApplyFailed", wrote.status());
      writes += *wrote;
    }
    api::AddonsStatus status;
    std::vector<std::string> enabled;
    for (addons::Addon addon : addons::kAllAddons) {
      std::string_view label = addons::addonName(addon);
      auto objects = addons::buildAddon(addon, ctx.cluster, context);
      if (!objects) return fail("AddonInvalid", objects.status().withContext(std::string(label)));
      api::AddonStatus* s = statusOf(status, addon);
      s->enabled = addons::isEnabled(addon, ctx.cluster);
      if (s->enabled) {
        for (const auto& object : *objects) {
          auto wrote = applyObject(**client, object);
          if (!wrote) {
            s->message = wrote.status().message();
            ctx.status.addons = status;
            return fail("ApplyFailed", wrote.status().withContext(std::string(label)));
          }
          writes += *wrote;
        }
        s->objects = static_cast<int32_t>(objects->size());
        s->message = "applied";
        enabled.emplace_back(label);
      } else {
        // Newest first, so that workloads go before the RBAC and namespaces they use.
        for (auto it = objects->rbegin(); it != objects->rend(); ++it) {
          auto pruned = pruneObject(**client, *it, label);
          if (!pruned) return fail("PruneFailed", pruned.status().withContext(std::string(label)));
          writes += *pruned;
        }
        s->message = "disabled";
      }
    }
    ctx.status.addons = status;
    if (writes > 0) {
      ctx.event(EventType::kNormal, "AddonsApplied",
                fmt::format("{} objects written into the tenant", writes));
    }
    ctx.setCondition(api::condition::kAddonsReady, true, "Applied",
                     enabled.empty() ? "no addon is enabled; the join objects are applied"
                                     : fmt::format("applied: {}, and the join objects",
                                                   fmt::join(enabled, ", ")));
    return Outcome::done();
  }
};

// The checks a /readyz?verbose answer lists as failing ("[-]etcd failed: reason withheld").
std::vector<std::string> failingChecks(std::string_view body) {
  std::vector<std::string> out;
  for (size_t at = 0; at < body.size();) {
    size_t end = body.find('\n', at);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(at, end - at);
    if (line.starts_with("[-]")) {
      line.remove_prefix(3);
      out.emplace_back(line.substr(0, line.find(' ')));
    }
    at = end + 1;
  }
  return out;
}

bool conditionTrue(const json& object, std::string_view type) {
  for (const auto& c : object.value("status", json::object()).value("conditions", json::array()))
    if (c.value("type", "") == type) return c.value("status", "") == "True";
  return false;
}

// What goes on inside the tenant, into status: its nodes (total, ready), its pods (total,
// ready, by phase) and the apiserver's own readiness checks. One page of each list (the
// tenant's API answers with at most kObserveLimit items and the count of the rest), so a big
// tenant costs the same three requests as a small one; the phases count that page.
class ObserveResource : public Resource {
 public:
  static constexpr int64_t kObserveLimit = 500;
  std::string_view name() const override { return "observe"; }

  Outcome reconcile(Context& ctx) override {
    auto client =
        ctx.tenant_clients(ctx.cluster, ctx.pki, ctx.provider.apiServerUrl(ctx.cluster));
    if (!client) return Outcome::failed("TenantUnreachable", client.status());
    auto page = [&](const kube::ResourceRef& resource) -> Result<std::pair<json, int32_t>> {
      kube::ListOptions options;
      options.limit = kObserveLimit;
      HERD_ASSIGN_OR_RETURN(json list, (*client)->list(resource, "", options));
      json items = list.value("items", json::array());
      int32_t total = static_cast<int32_t>(items.size());
      if (auto rest = list["metadata"].find("remainingItemCount");
          rest != list["metadata"].end() && rest->is_number_integer())
        total += static_cast<int32_t>(rest->get<int64_t>());
      return std::pair{std::move(items), total};
    };
    auto nodes = page({"", "v1", "nodes", false, "Node"});
    if (!nodes) return Outcome::failed("ObserveFailed", nodes.status().withContext("tenant nodes"));
    auto pods = page({"", "v1", "pods", true, "Pod"});
    if (!pods) return Outcome::failed("ObserveFailed", pods.status().withContext("tenant pods"));
    api::WorkloadCounts node_counts;
    node_counts.total = nodes->second;
    for (const auto& n : nodes->first) node_counts.ready += conditionTrue(n, "Ready") ? 1 : 0;
    api::PodCounts pod_counts;
    pod_counts.total = pods->second;
    for (const auto& p : pods->first) {
      pod_counts.ready += conditionTrue(p, "Ready") ? 1 : 0;
      std::string phase = p.value("status", json::object()).value("phase", "");
      if (phase == "Pending") ++pod_counts.pending;
      if (phase == "Running") ++pod_counts.running;
      if (phase == "Succeeded") ++pod_counts.succeeded;
      if (phase == "Failed") ++pod_counts.failed;
    }
    auto readyz = (*client)->getRaw("/readyz?verbose");
    if (!readyz) return Outcome::failed("ObserveFailed", readyz.status().withContext("/readyz"));
    api::ApiServerHealth health;
    health.ready = readyz->status == 200;
    health.failing = failingChecks(readyz->body);
    if (!health.ready && health.failing.empty())
      health.failing.push_back(fmt::format("HTTP {}", readyz->status));
    ctx.status.nodes = node_counts;
    ctx.status.pods = pod_counts;
    ctx.status.apiServerHealth = health;
    return Outcome::done();
  }
};

}  // namespace

std::unique_ptr<Resource> makeObserveResource() { return std::make_unique<ObserveResource>(); }

std::unique_ptr<Resource> makeTenantObjectsResource() {
  return std::make_unique<TenantObjectsResource>();
}

}  // namespace herd::controller
