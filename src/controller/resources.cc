#include "controller/resources.h"

#include <fmt/format.h>

#include <algorithm>

#include "api/conditions.h"
#include "api/naming.h"
#include "kube/herd_resources.h"

namespace herd::controller {

using kube::json;
using EventType = EventRecorder::Type;

void Context::setCondition(std::string_view type, bool ok, std::string_view reason,
                           std::string_view message) {
  api::Condition c;
  c.type = std::string(type);
  c.status = std::string(ok ? api::condition::kTrue : api::condition::kFalse);
  c.reason = std::string(reason);
  c.message = std::string(message);
  c.observedGeneration = generation;
  api::setCondition(status, std::move(c), now);
}

Result<render::ComponentSpec> Context::specFor(render::Component component) {
  if (!specs) {
    auto rendered = renderer(cluster);
    if (!rendered) return rendered.status().withContext("render the control plane");
    specs = std::move(*rendered);
  }
  for (const auto& spec : *specs) {
    if (spec.component == component) return spec;
  }
  return Status::internal(
      fmt::format("the renderer made no spec for {}", render::componentName(component)));
}

Outcome rollOutComponent(Context& ctx, render::Component component, std::string_view condition,
                         std::optional<api::ComponentStatus> api::ComponentsStatus::*field) {
  auto spec = ctx.specFor(component);
  if (!spec) {
    ctx.setCondition(condition, false, "RenderFailed", spec.status().message());
    return Outcome::failed("RenderFailed", spec.status());
  }
  auto state = ctx.provider.applyComponent(ctx.cluster, *spec);
  if (!state) {
    ctx.setCondition(condition, false, "ApplyFailed", state.status().message());
    return Outcome::failed("ApplyFailed",
                           state.status().withContext(fmt::format("apply {}", render::componentName(component))));
  }
  if (!ctx.status.components) ctx.status.components.emplace();
  api::ComponentStatus& out = ((*ctx.status.components).*field).emplace();
  out.replicas = state->replicas;
  out.readyReplicas = state->ready_replicas;
  out.message = state->rolled_out ? "" : state->message;
  if (state->rolled_out) {
    ctx.setCondition(condition, true, "RolledOut",
                     fmt::format("{}/{} replicas ready, running {}", state->ready_replicas,
                                 state->replicas, spec->version));
    return Outcome::done();
  }
  std::string message =
      fmt::format("{}/{} replicas run {} and {} are ready{}{}", state->updated_replicas,
                  state->replicas, spec->version, state->ready_replicas,
                  state->message.empty() ? "" : ": ", state->message);
  ctx.setCondition(condition, false, "RollingOut", message);
  return Outcome::wait("WaitingForRollout", fmt::format("{}: {}", render::componentName(component), message),
                       ctx.options.poll);
}

namespace {

// herd.io/cleanup on the Cluster: deletion then waits until the tenant is removed.
class FinalizerResource : public Resource {
 public:
  std::string_view name() const override { return "finalizer"; }
  Outcome reconcile(Context& ctx) override {
    const auto& finalizers = ctx.cluster.metadata.finalizers;
    if (std::find(finalizers.begin(), finalizers.end(), api::kCleanupFinalizer) !=
        finalizers.end()) {
      return Outcome::done();
    }
    json body = ctx.object;
    body["metadata"]["finalizers"].push_back(api::kCleanupFinalizer);
    auto updated = ctx.seed.update(kube::clustersResource(), "", body);
    if (!updated) return Outcome::failed("FinalizerFailed", updated.status());
    ctx.object = std::move(*updated);
    ctx.cluster.metadata.finalizers.push_back(std::string(api::kCleanupFinalizer));
    ctx.event(EventType::kNormal, "FinalizerAdded",
              fmt::format("added {}: deleting the cluster removes its control plane first",
                          api::kCleanupFinalizer));
    return Outcome::done();
  }
};

// The tenant's dedicated gateway port, allocated once and recorded in status.
class GatewayPortResource : public Resource {
 public:
  std::string_view name() const override { return "gateway-port"; }
  Outcome reconcile(Context& ctx) override {
    const std::string& name = ctx.cluster.metadata.name;
    std::map<std::string, int32_t> recorded;
    if (ctx.status.gatewayPort) {
      recorded[name] = *ctx.status.gatewayPort;  // kept: no need to look at the others
    } else {
      auto all = ctx.recorded_ports();
      if (!all) return Outcome::failed("GatewayPortFailed", all.status());
      recorded = std::move(*all);
      recorded.erase(name);
    }
    auto port = ctx.ports.allocate(name, recorded);
    if (!port) {
      return Outcome::wait("NoFreeGatewayPort", port.status().message(), ctx.options.poll * 15);
    }
    if (ctx.status.gatewayPort != *port) {
      ctx.status.gatewayPort = *port;
      ctx.event(EventType::kNormal, "GatewayPortAllocated",
                fmt::format("in-cluster clients reach the API at {}:{}",
                            ctx.options.platform.gateway_address, *port));
    }
    return Outcome::done();
  }
};

// The tenant's home with the provider: a namespace, or a state directory.
class TenantResource : public Resource {
 public:
  std::string_view name() const override { return "tenant"; }
  Outcome reconcile(Context& ctx) override {
    Status s = ctx.provider.ensureTenant(ctx.cluster);
    if (!s) return Outcome::failed("TenantFailed", s.withContext("prepare the tenant"));
    ctx.status.namespace_ = api::tenantNamespace(ctx.cluster);
    return Outcome::done();
  }
};

// The tenant's credentials: kept when valid, completed or renewed when not, stored only when
// something changed. A CA is never replaced (reconcilePki refuses to).
class PkiResource : public Resource {
 public:
  std::string_view name() const override { return "pki"; }
  std::string_view conditionType() const override { return api::condition::kPkiReady; }
  Outcome reconcile(Context& ctx) override {
    auto fail = [&](std::string_view reason, const Status& s) {
      ctx.setCondition(api::condition::kPkiReady, false, reason, s.message());
      return Outcome::failed(std::string(reason), s);
    };
    auto existing = ctx.provider.loadCredentials(ctx.cluster);
    if (!existing) return fail("CredentialsUnreadable", existing.status());
    auto result = ctx.pki_cache.reconcile(ctx.cluster, *existing, ctx.options.pki);
    if (!result) return fail("PKIFailed", result.status());
    if (result->files != *existing) {
      Status stored = ctx.provider.storeCredentials(ctx.cluster, result->files);
      if (!stored) return fail("CredentialsNotStored", stored);
      std::vector<std::string> changed;
      for (const auto& change : result->changes) {
        if (change.action != pki::PkiAction::kKept) {
          changed.push_back(fmt::format("{} {}", change.item, pki::pkiActionName(change.action)));
        }
      }
      ctx.event(EventType::kNormal, "CredentialsStored",
                changed.empty() ? std::string("stored the credential set")
                                : fmt::format("{}", fmt::join(changed, ", ")));
    }
    ctx.pki = std::move(result->files);
    ctx.setCondition(api::condition::kPkiReady, true, "Issued",
                     "every certificate, key and kubeconfig is valid");
    return Outcome::done();
  }
};

// One control-plane component: applied from its rendered spec, done once rolled out.
class ComponentResource : public Resource {
 public:
  ComponentResource(render::Component component, std::string_view condition,
                    std::optional<api::ComponentStatus> api::ComponentsStatus::*field)
      : component_(component), condition_(condition), field_(field) {}
  std::string_view name() const override { return render::componentName(component_); }
  std::string_view conditionType() const override { return condition_; }
  Outcome reconcile(Context& ctx) override {
    return rollOutComponent(ctx, component_, condition_, field_);
  }

 private:
  render::Component component_;
  std::string_view condition_;
  std::optional<api::ComponentStatus> api::ComponentsStatus::*field_;
};

// The tenant's default/kubernetes Endpoints and EndpointSlice: kube-apiserver runs with
// --endpoint-reconciler-type=none, so herd points them at the gateway's address and the
// tenant's dedicated port, through which in-cluster clients reach the apiservers.
class EndpointsResource : public Resource {
 public:
  std::string_view name() const override { return "endpoints"; }
  std::string_view conditionType() const override { return api::condition::kEndpointsReady; }
  Outcome reconcile(Context& ctx) override {
    auto fail = [&](std::string_view reason, const Status& s) {
      ctx.setCondition(api::condition::kEndpointsReady, false, reason, s.message());
      return Outcome::failed(std::string(reason), s);
    };
    if (!ctx.status.gatewayPort) {
      return fail("NoGatewayPort", Status::internal("no gateway port was allocated"));
    }
    const std::string& address = ctx.options.platform.gateway_address;
    int32_t port = *ctx.status.gatewayPort;
    auto client =
        ctx.tenant_clients(ctx.cluster, ctx.pki, ctx.provider.apiServerUrl(ctx.cluster));
    if (!client) return fail("TenantUnreachable", client.status());

    json ports = json::array({{{"name", "https"}, {"port", port}, {"protocol", "TCP"}}});
    json endpoints_fields = {
        {"subsets", json::array({{{"addresses", json::array({{{"ip", address}}})},
                                  {"ports", ports}}})}};
    json slice_fields = {
        {"addressType", address.find(':') == std::string::npos ? "IPv4" : "IPv6"},
        {"endpoints",
         json::array({{{"addresses", json::array({address})}, {"conditions", {{"ready", true}}}}})},
        {"ports", ports}};
    json slice_labels = {{"kubernetes.io/service-name", "kubernetes"},
                         {"endpointslice.kubernetes.io/managed-by", "herd.io/controller"}};

    int writes = 0;
    auto wrote = converge(**client, {"", "v1", "endpoints", true, "Endpoints"}, endpoints_fields,
                          json::object());
    if (!wrote) return fail("EndpointsFailed", wrote.status().withContext("tenant Endpoints"));
    writes += *wrote;
    wrote = converge(**client, {"discovery.k8s.io", "v1", "endpointslices", true, "EndpointSlice"},
                     slice_fields, slice_labels);
    if (!wrote) return fail("EndpointsFailed", wrote.status().withContext("tenant EndpointSlice"));
    writes += *wrote;
    std::string where = fmt::format("{}:{}", address, port);
    if (writes > 0) {
      ctx.event(EventType::kNormal, "EndpointsUpdated",
                fmt::format("the tenant's default/kubernetes endpoints now point at {}", where));
    }
    ctx.setCondition(api::condition::kEndpointsReady, true, "PointAtGateway",
                     fmt::format("default/kubernetes points at the gateway, {}", where));
    return Outcome::done();
  }

 private:
  // Creates default/kubernetes, or updates it when `fields` or `labels` differ; 1 if it wrote.
  static Result<int> converge(kube::Client& client, const kube::ResourceRef& resource,
                              const json& fields, const json& labels) {
    auto existing = client.get(resource, "default", "kubernetes");
    if (!existing && existing.status().code() != Code::kNotFound) return existing.status();
    if (!existing) {
      json object = fields;
      object["apiVersion"] = resource.apiVersion();
      object["kind"] = resource.kind;
      object["metadata"] = {{"name", "kubernetes"}, {"namespace", "default"}};
      if (!labels.empty()) object["metadata"]["labels"] = labels;
      auto created = client.create(resource, "default", object);
      if (!created) return created.status();
      return 1;
    }
    json object = *existing;
    bool same = true;
    for (const auto& [key, value] : fields.items()) {
      if (object.value(key, json()) != value) {
        object[key] = value;
        same = false;
      }
    }
    json& have_labels = object["metadata"]["labels"];
    for (const auto& [key, value] : labels.items()) {
      if (!have_labels.is_object() || have_labels.value(key, json()) != value) {
        have_labels[key] = value;
        same = false;
      }
    }
    if (same) return 0;
    auto updated = client.update(resource, "default", object);
    if (!updated) return updated.status();
    return 1;
  }
};

}  // namespace

std::vector<std::unique_ptr<Resource>> clusterResources() {
  using api::ComponentsStatus;
  namespace c = api::condition;
  std::vector<std::unique_ptr<Resource>> out;
  out.push_back(std::make_unique<FinalizerResource>());
  out.push_back(std::make_unique<GatewayPortResource>());
  out.push_back(std::make_unique<TenantResource>());
  out.push_back(std::make_unique<PkiResource>());
  out.push_back(makeEtcdResource());
  out.push_back(std::make_unique<ComponentResource>(
      render::Component::kApiServer, c::kApiServerReady, &ComponentsStatus::apiServer));
  out.push_back(std::make_unique<ComponentResource>(render::Component::kControllerManager,
                                                    c::kControllerManagerReady,
                                                    &ComponentsStatus::controllerManager));
  out.push_back(std::make_unique<ComponentResource>(
      render::Component::kScheduler, c::kSchedulerReady, &ComponentsStatus::scheduler));
  out.push_back(std::make_unique<EndpointsResource>());
  out.push_back(makeTenantObjectsResource());
  out.push_back(makeObserveResource());
  return out;
}

}  // namespace herd::controller
