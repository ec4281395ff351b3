#include "controller/reconciler.h"

#include <fmt/format.h>

#include <algorithm>

#include "api/codec.h"
#include "api/conditions.h"
#include "api/defaults.h"
#include "api/naming.h"
#include "api/validation.h"
#include "common/log.h"
#include "controller/resources.h"
#include "controller/upgrade.h"
#include "kube/herd_resources.h"

namespace herd::controller {

using kube::json;
using EventType = EventRecorder::Type;
namespace cond = api::condition;

void recordPortOf(const json& cluster, std::map<std::string, int32_t>& ports) {
  const json* port = nullptr;
  if (auto s = cluster.find("status"); s != cluster.end() && s->is_object()) {
    if (auto p = s->find("gatewayPort"); p != s->end() && p->is_number_integer()) port = &*p;
  }
  auto m = cluster.find("metadata");
  if (port && m != cluster.end() && m->is_object()) ports[m->value("name", "")] = port->get<int32_t>();
}

std::map<std::string, int32_t> recordedPortsOf(const std::vector<json>& clusters) {
  std::map<std::string, int32_t> out;
  for (const auto& c : clusters) recordPortOf(c, out);
  return out;
}

Reconciler::Reconciler(kube::Client& seed, provider::Provider& provider, Renderer renderer,
                       ReconcilerOptions options, TenantClientFactory tenant_clients)
    : seed_(seed),
      provider_(provider),
      renderer_(std::move(renderer)),
      options_(std::move(options)),
      tenant_clients_(std::move(tenant_clients)),
      events_(seed, std::string(kControllerComponent)),
      ports_(options_.gateway_ports),
      resources_(clusterResources()) {
  reader_ = [this](const std::string& name) -> Result<std::optional<json>> {
    auto got = seed_.get(kube::clustersResource(), "", name);
    if (!got) {
      if (got.status().code() == Code::kNotFound) return std::optional<json>();
      return got.status();
    }
    return std::optional<json>(std::move(*got));
  };
  recorded_ports_ = [this]() -> Result<std::map<std::string, int32_t>> {
    auto list = seed_.listAll(kube::clustersResource(), "");
    if (!list) return list.status();
    std::map<std::string, int32_t> ports;
    for (const auto& c : (*list)["items"]) recordPortOf(c, ports);
    return ports;
  };
}

void Reconciler::setSource(ClusterReader reader, RecordedPorts recorded_ports) {
  reader_ = std::move(reader);
  recorded_ports_ = std::move(recorded_ports);
}

Outcome Reconciler::reconcile(const std::string& name) {
  auto read = reader_(name);
  if (!read) return Outcome::failed("ReadFailed", read.status().withContext("read the cluster"));
  if (!*read) {
    ports_.release(name);  // gone: its port may be reused
    pki_cache_.forget(name);
    return Outcome::done();
  }
  api::Decoded decoded = api::decodeCluster(**read);
  api::Cluster cluster = std::move(decoded.cluster);
  std::optional<api::ClusterStatus> before = cluster.status;
  api::applyDefaults(cluster, options_.defaulting);

  Context ctx{provider_, seed_,           events_,  renderer_, tenant_clients_,
              ports_,    recorded_ports_, options_, pki_cache_};
  ctx.now = api::rfc3339Now();
  ctx.object = std::move(**read);
  ctx.status = before.value_or(api::ClusterStatus{});
  ctx.generation = cluster.metadata.generation.value_or(0);
  ctx.cluster = cluster;

  if (cluster.spec.paused.value_or(false)) {
    ctx.setCondition(cond::kPaused, true, "Paused",
                     "spec.paused is set: herd changes nothing in this cluster until it is cleared");
    return finish(ctx, before, Outcome::done());
  }
  if (api::findCondition(ctx.status, cond::kPaused)) {
    ctx.setCondition(cond::kPaused, false, "Resumed", "spec.paused is not set");
  }
  if (!cluster.metadata.deletionTimestamp.empty()) return reconcileDeletion(ctx, before);

  api::FieldErrors errors = decoded.errors;
  errors.append(api::validateCluster(cluster));
  if (!errors.empty()) {
    // Not requeued: only a change of the object (which brings it back) can make it valid.
    ctx.setCondition(cond::kValid, false, "Invalid",
                     errors.toStatus(api::kKind, name).message());
    ctx.setCondition(cond::kReady, false, "Invalid", "the spec is invalid: see condition Valid");
    ctx.status.phase = std::string(api::phase::kFailed);
    ctx.status.observedGeneration = ctx.generation;
    return finish(ctx, before, Outcome::done());
  }
  ctx.setCondition(cond::kValid, true, "Valid", "the spec is valid");

  VersionDecision version = decideVersion(ctx.status.version, *cluster.spec.version);
  if (version.refused) {
    ctx.setCondition(cond::kUpgradeRefused, true, version.reason, version.message);
  } else if (api::findCondition(ctx.status, cond::kUpgradeRefused)) {
    ctx.setCondition(cond::kUpgradeRefused, false, "Accepted",
                     fmt::format("version {} is a supported next step", version.target));
  }
  ctx.cluster.spec.version = version.target;

  Outcome outcome = walk(ctx);

  api::ClusterStatus& s = ctx.status;
  s.namespace_ = api::tenantNamespace(ctx.cluster);
  // The gateway's TLS port, which the tenant's kubeconfigs also name (443 in a seed; any port
  // under `herd up`).
  s.endpoint = api::publicApiServerUrl(ctx.cluster, options_.platform.gateway_tls_port);
  s.kubeconfigSecret = options_.kubeconfig_secret;
  if (outcome.isDone()) {
    s.version = version.target;
    s.phase = std::string(api::phase::kRunning);
  } else if (s.version.empty()) {
    s.phase = std::string(api::phase::kProvisioning);
  } else if (s.version != version.target || !before ||
             before->observedGeneration != ctx.generation || before->phase == api::phase::kUpdating) {
    s.phase = std::string(api::phase::kUpdating);
  } else {
    s.phase = std::string(api::phase::kDegraded);  // converged before, and nothing asked changed
  }
  s.observedGeneration = ctx.generation;
  return finish(ctx, before, std::move(outcome));
}

Outcome Reconciler::walk(Context& ctx) {
  for (size_t i = 0; i < resources_.size(); ++i) {
    Outcome outcome = resources_[i]->reconcile(ctx);
    if (outcome.isDone()) continue;
    // The resources not reached yet say what they wait for; those that ran before keep what
    // they last reported (a running apiserver stays ready while etcd rolls).
    for (size_t j = i + 1; j < resources_.size(); ++j) {
      std::string_view type = resources_[j]->conditionType();
      if (!type.empty() && !api::findCondition(ctx.status, type)) {
        api::Condition c{std::string(type), std::string(cond::kUnknown), "Pending",
                         fmt::format("waits for {}", resources_[i]->name()), "", ctx.generation};
        api::setCondition(ctx.status, std::move(c), ctx.now);
      }
    }
    ctx.setCondition(cond::kReady, false, outcome.reason, outcome.message);
    if (outcome.kind == Outcome::Kind::kError && outcome.error.code() != Code::kConflict) {
      ctx.event(EventType::kWarning, outcome.reason, outcome.message);
      log::forCluster(ctx.cluster.metadata.name)
          .warn("reconcile failed", {{"step", resources_[i]->name()}, {"error", outcome.message}});
    }
    return outcome;
  }
  ctx.setCondition(cond::kReady, true, "Ready",
                   fmt::format("every component runs {}", *ctx.cluster.spec.version));
  return Outcome::done();
}

Outcome Reconciler::reconcileDeletion(Context& ctx,
                                      const std::optional<api::ClusterStatus>& before) {
  auto& finalizers = ctx.cluster.metadata.finalizers;
  if (std::find(finalizers.begin(), finalizers.end(), api::kCleanupFinalizer) ==
      finalizers.end()) {
    return Outcome::done();  // not ours to clean up (or done already): the object goes
  }
  ctx.status.phase = std::string(api::phase::kDeleting);
  ctx.setCondition(cond::kReady, false, "Deleting", "the tenant's control plane is being removed");
  Outcome written = finish(ctx, before, Outcome::done());
  if (!written.isDone()) return written;

  auto removed = provider_.removeTenant(ctx.cluster);
  if (!removed) {
    Outcome failed = Outcome::failed("RemoveFailed", removed.status().withContext("remove tenant"));
    ctx.event(EventType::kWarning, failed.reason, failed.message);
    return failed;
  }
  if (!*removed) {
    return Outcome::wait("Removing", "the provider is still removing the tenant", options_.poll);
  }
  ctx.event(EventType::kNormal, "TenantRemoved",
            fmt::format("removed everything of the tenant from {}", provider_.name()));
  json body = ctx.object;
  json kept = json::array();
  for (const auto& f : body["metadata"].value("finalizers", json::array())) {
    if (f != api::kCleanupFinalizer) kept.push_back(f);
  }
  body["metadata"]["finalizers"] = kept;
  auto updated = seed_.update(kube::clustersResource(), "", body);
  if (!updated && updated.status().code() != Code::kNotFound) {
    return Outcome::failed("FinalizerFailed", updated.status());
  }
  ports_.release(ctx.cluster.metadata.name);
  pki_cache_.forget(ctx.cluster.metadata.name);
  return Outcome::done();
}

Outcome Reconciler::finish(Context& ctx, const std::optional<api::ClusterStatus>& before,
                           Outcome outcome) {
  if (before && *before == ctx.status) return outcome;
  api::Cluster holder;
  holder.status = ctx.status;
  json encoded = api::encodeCluster(holder);
  json body = ctx.object;
  body["status"] = encoded.value("status", json::object());
  auto written = seed_.updateStatus(kube::clustersResource(), "", body);
  if (!written) {
    // A conflict means the cache was behind our own last write or someone else's: look again.
    if (written.status().code() != Code::kConflict) {
      ctx.event(EventType::kWarning, "StatusFailed", written.status().message());
    }
    return Outcome::failed("StatusFailed", written.status().withContext("write status"));
  }
  ctx.object = std::move(*written);
  for (const auto& c : ctx.status.conditions) {
    if (c.status == cond::kUnknown) continue;
    const api::Condition* old = before ? api::findCondition(*before, c.type) : nullptr;
    if (old && old->status == c.status) continue;
    bool inverted = c.type == cond::kUpgradeRefused || c.type == cond::kPaused;
    bool bad = (c.status == cond::kTrue) == inverted;
    // A component not ready yet while it rolls out is news, not a warning.
    bool warning = bad && !inverted && c.reason != "RollingOut" && c.reason != "WaitingForRollout";
    if (c.type == cond::kUpgradeRefused && c.status == cond::kTrue) warning = true;
    ctx.event(warning ? EventType::kWarning : EventType::kNormal, c.reason,
              fmt::format("{}={}: {}", c.type, c.status, c.message));
  }
  return outcome;
}

}  // namespace herd::controller
