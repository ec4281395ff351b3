#include "gateway/seed_route_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "api/codec.h"
#include "api/defaults.h"
#include "api/naming.h"
#include "common/log.h"
#include "common/net.h"
#include "gateway/file_stamp.h"
#include "kube/client.h"
#include "kube/informer.h"

namespace herd::gateway {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The label with which the EndpointSlice controller names a slice's Service.
constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";
// etcd's client port, used when the Service does not name its ports.
constexpr int64_t kEtcdClientPort = 2379;

std::string stringAt(const json& object, const char* outer, const char* inner) {
  auto o = object.find(outer);
  if (o == object.end() || !o->is_object()) return {};
  auto i = o->find(inner);
  return i != o->end() && i->is_string() ? i->get<std::string>() : std::string();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool isIpLiteral(const std::string& ip, bool v6) {
  auto parsed = net::IpAddress::parse(ip);
  return parsed && parsed->isV4() != v6;
}

// The port of a slice that carries the service's traffic: the one named after its role
// ("https" for kube-apiserver, "client" for etcd), else for etcd the well-known client port,
// else the only TCP port. Several unnamed ports leave it ambiguous: 0, and the slice is skipped.
int64_t servicePort(const json& slice, bool etcd) {
  auto ports = slice.find("ports");
  if (ports == slice.end() || !ports->is_array()) return 0;
  std::vector<std::pair<std::string, int64_t>> tcp;
  for (const auto& p : *ports) {
    if (!p.is_object()) continue;
    std::string protocol = p.value("protocol", "TCP");
    auto port = p.find("port");
    if (protocol != "TCP" || port == p.end() || !port->is_number_integer()) continue;
    int64_t number = port->get<int64_t>();
    if (number <= 0 || number > 65535) continue;
    tcp.emplace_back(
        p.contains("name") && p["name"].is_string() ? p["name"].get<std::string>() : std::string(),
        number);
  }
  const char* wanted = etcd ? "client" : "https";
  for (const auto& [name, number] : tcp) {
    if (name == wanted) return number;
  }
  if (etcd) {
    for (const auto& [name, number] : tcp) {
      if (number == kEtcdClientPort) return number;
    }
  }
  return tcp.size() == 1 ? tcp[0].second : 0;
}

// The ready addresses of one slice, at its service port. A missing "ready" condition counts
// as ready, as the API documents ("nil should be interpreted as ready").
void appendBackends(const json& slice, bool etcd, std::vector<BackendAddress>& out) {
  std::string type = slice.value("addressType", "");
  if (type != "IPv4" && type != "IPv6") return;  // FQDN slices name no address to connect to
  int64_t port = servicePort(slice, etcd);
  if (port == 0) return;
  auto endpoints = slice.find("endpoints");
  if (endpoints == slice.end() || !endpoints->is_array()) return;
  for (const auto& e : *endpoints) {
    if (!e.is_object()) continue;
    auto conditions = e.find("conditions");
    if (conditions != e.end() && conditions->is_object()) {
      auto ready = conditions->find("ready");
      if (ready != conditions->end() && ready->is_boolean() && !ready->get<bool>()) continue;
    }
    auto addresses = e.find("addresses");
    if (addresses == e.end() || !addresses->is_array()) continue;
    for (const auto& a : *addresses) {
      if (!a.is_string() || !isIpLiteral(a.get<std::string>(), type == "IPv6")) continue;
      out.push_back({a.get<std::string>(), static_cast<uint16_t>(port)});
    }
  }
}

void sortUnique(std::vector<BackendAddress>& v) {
  auto less = [](const BackendAddress& a, const BackendAddress& b) { return a.key() < b.key(); };
  std::sort(v.begin(), v.end(), less);
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// status.gatewayPort as written, when it is an integer; nullopt when absent.
std::optional<int64_t> gatewayPortOf(const json& cluster) {
  auto status = cluster.find("status");
  if (status == cluster.end() || !status->is_object()) return std::nullopt;
  auto port = status->find("gatewayPort");
  if (port == status->end() || port->is_null()) return std::nullopt;
  if (!port->is_number_integer()) return -1;  // reported as out of range
  return port->get<int64_t>();
}

// What the gateway would route; equal fingerprints mean there is nothing to deliver.
std::string fingerprint(const GatewayConfig& config) {
  std::string out;
  for (const auto& t : config.tenants) {
    out += t.name + "|" + t.hostname + "|" + std::to_string(t.port) + "|";
    for (const auto& b : t.api_servers) out += b.key() + ",";
    out += "|";
    for (const auto& b : t.etcd) out += b.key() + ",";
    out += "\n";
  }
  return out;
}

}  // namespace

GatewayConfig buildSeedConfig(const GatewayConfig& base, const std::vector<json>& clusters,
                              const std::vector<json>& endpoint_slices) {
  GatewayConfig config = base;
  std::set<std::string> names;
  std::set<std::string> hosts;
  for (const auto& t : base.tenants) {
    names.insert(t.name);
    hosts.insert(lower(t.hostname.empty() ? t.name + "." + base.base_domain : t.hostname));
  }

  // namespace -> the tenant it belongs to, filled from the Clusters.
  std::map<std::string, size_t> by_namespace;
  // tenant name -> the status.gatewayPort its Cluster asks for, granted after the loop.
  std::map<std::string, int64_t> wanted_ports;
  api::DefaultingContext defaulting;
  defaulting.baseDomain = base.base_domain;
  for (const auto& object : clusters) {
    if (!object.is_object() || !stringAt(object, "metadata", "deletionTimestamp").empty()) continue;
    // Only the name and spec.expose.hostname matter here; a field this build does not know
    // must not take a tenant's routes away, so decoding errors elsewhere are tolerated.
    api::Cluster cluster = api::decodeCluster(object).cluster;
    if (cluster.metadata.name.empty()) continue;
    api::applyDefaults(cluster, defaulting);
    TenantRoutes tenant;
    tenant.name = cluster.metadata.name;
    tenant.hostname = lower(api::apiHostname(cluster));
    if (names.count(tenant.name) || hosts.count(tenant.hostname) ||
        hosts.count("etcd." + tenant.hostname)) {
      log::root().warn("cluster skipped: its name or host name is taken by another route",
                       {{"cluster", tenant.name}, {"hostname", tenant.hostname}});
      continue;
    }
    names.insert(tenant.name);
    hosts.insert(tenant.hostname);
    hosts.insert("etcd." + tenant.hostname);
    if (auto port = gatewayPortOf(object)) wanted_ports[tenant.name] = *port;
    by_namespace[api::tenantNamespace(cluster)] = config.tenants.size();
    config.tenants.push_back(std::move(tenant));
  }

  // Tenant ports: the base file's tenants keep theirs; then the Clusters' in name order (a
  // port the controller handed out twice goes to the first name, the same on every replica).
  // A refused port costs the tenant only that port: its SNI routes stay.
  std::map<int64_t, std::string> taken;
  for (const auto& t : base.tenants) {
    if (t.port != 0) taken.emplace(t.port, t.name);
  }
  for (const auto& [name, port] : wanted_ports) {
    std::string problem;
    if (port < 1 || port > 65535) {
      problem = "status.gatewayPort is not a port (1 to 65535)";
    } else if (auto it = taken.find(port); it != taken.end()) {
      problem = fmt::format("port {} is tenant \"{}\"'s already", port, it->second);
    } else {
      problem = tenantPortConflict(base, static_cast<uint16_t>(port));
    }
    if (!problem.empty()) {
      log::root().warn("cluster's gateway port skipped",
                       {{"cluster", name}, {"port", port}, {"error", problem}});
      continue;
    }
    taken.emplace(port, name);
    for (auto& t : config.tenants) {
      if (t.name == name) t.port = static_cast<uint16_t>(port);
    }
  }

  for (const auto& slice : endpoint_slices) {
    if (!slice.is_object()) continue;
    auto it = by_namespace.find(stringAt(slice, "metadata", "namespace"));
    if (it == by_namespace.end()) continue;
    const json& metadata = slice["metadata"];
    auto labels = metadata.find("labels");
    if (labels == metadata.end() || !labels->is_object()) continue;
    auto service_label = labels->find(kServiceNameLabel);
    if (service_label == labels->end() || !service_label->is_string()) continue;
    std::string service = service_label->get<std::string>();
    TenantRoutes& tenant = config.tenants[it->second];
    if (service == api::kApiServerServiceName) {
      appendBackends(slice, false, tenant.api_servers);
    } else if (service == api::kEtcdServiceName) {
      appendBackends(slice, true, tenant.etcd);
    }
  }
  for (auto& t : config.tenants) {
    sortUnique(t.api_servers);
    sortUnique(t.etcd);
  }
  return config;
}

struct SeedRouteSource::State {
  std::unique_ptr<kube::Client> client;
  SeedRouteSourceOptions options;
  std::unique_ptr<kube::Informer> clusters;
  std::unique_ptr<kube::Informer> slices;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable wake;
  bool dirty = false;
  bool stopping = false;
  std::string delivered;  // fingerprint of the last configuration handed out
  FileStamp base_stamp;
  uint64_t base_generation = 0;  // bumped by every base file read after the first

  void markDirty() {
    {
      std::lock_guard lock(mutex);
      dirty = true;
    }
    wake.notify_all();
  }

  GatewayConfig build() const {
    return buildSeedConfig(options.base, clusters->list(), slices->list());
  }

  // What decides whether a configuration is worth delivering: the routes, and the base.
  std::string fingerprintOf(const GatewayConfig& config) const {
    return fingerprint(config) + "base " + std::to_string(base_generation);
  }

  // Called without the lock; marks the routes dirty when the base file changed and parses.
  void reloadBaseIfChanged(const ErrorCallback& on_error) {
    FileStamp now = stampOf(options.base_path);
    if (!now.present || now == base_stamp) return;  // a missing file is mid-swap
    base_stamp = now;
    auto base = loadGatewayConfig(options.base_path);
    if (!base) {
      on_error(base.status());
      return;
    }
    options.base = std::move(*base);
    ++base_generation;
    markDirty();
  }

  void run(const UpdateCallback& on_update, const ErrorCallback& on_error) {
    std::unique_lock lock(mutex);
    bool watch_base = !options.base_path.empty();
    while (true) {
      if (watch_base) {
        wake.wait_for(lock, options.base_poll, [&] { return dirty || stopping; });
      } else {
        wake.wait(lock, [&] { return dirty || stopping; });
      }
      if (stopping) return;
      if (watch_base) {
        lock.unlock();
        reloadBaseIfChanged(on_error);
        lock.lock();
      }
      if (!dirty) continue;
      // Let the rest of the burst arrive; events during the window join this build.
      wake.wait_for(lock, options.debounce, [&] { return stopping; });
      if (stopping) return;
      dirty = false;
      lock.unlock();
      GatewayConfig config = build();
      std::string print = fingerprintOf(config);
      if (print != delivered) {
        delivered = std::move(print);
        log::root().debug("seed routes changed", {{"tenants", config.tenants.size()}});
        on_update(config);
      }
      lock.lock();
    }
  }
};

SeedRouteSource::SeedRouteSource(std::unique_ptr<kube::Client> client,
                                 SeedRouteSourceOptions options)
    : state_(std::make_unique<State>()) {
  state_->client = std::move(client);
  state_->options = std::move(options);
}

SeedRouteSource::~SeedRouteSource() {
  stop();
}

Status SeedRouteSource::start(UpdateCallback on_update, ErrorCallback on_error) {
  // The informers retry on their own: only the base file has errors to report.
  State& s = *state_;
  if (!s.options.base_path.empty()) {
    s.base_stamp = stampOf(s.options.base_path);
    auto base = loadGatewayConfig(s.options.base_path);
    if (!base) return base.status();
    s.options.base = std::move(*base);
  }
  kube::InformerOptions cluster_options;
  cluster_options.resource = kube::clustersResource();
  s.clusters = std::make_unique<kube::Informer>(*s.client, cluster_options);
  kube::InformerOptions slice_options;
  slice_options.resource = kube::endpointSlicesResource();
  slice_options.label_selector = std::string(kServiceNameLabel) + " in (" +
                                 std::string(api::kApiServerServiceName) + "," +
                                 std::string(api::kEtcdServiceName) + ")";
  s.slices = std::make_unique<kube::Informer>(*s.client, slice_options);
  for (auto* informer : {s.clusters.get(), s.slices.get()}) {
    informer->addHandler({[&s](const json&) { s.markDirty(); },
                          [&s](const json&, const json&) { s.markDirty(); },
                          [&s](const json&) { s.markDirty(); }});
    informer->start();
  }
  auto deadline = Clock::now() + s.options.sync_timeout;
  for (auto [informer, access] :
       {std::pair{s.clusters.get(), kClustersAccess}, {s.slices.get(), kEndpointSlicesAccess}}) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (!informer->waitForSync(std::max(left, std::chrono::milliseconds(1)))) {
      s.clusters->stop();
      s.slices->stop();
      return Status::unavailable(
          fmt::format("seed API: could not list {}.{} within {} ms (is the Cluster CRD "
                      "installed, and may this identity list and watch it? deploy/gateway "
                      "has the ClusterRole)",
                      access.resource, access.group, s.options.sync_timeout.count()));
    }
  }
  {
    std::lock_guard lock(s.mutex);
    s.dirty = false;
  }
  GatewayConfig first = s.build();
  s.delivered = s.fingerprintOf(first);
  log::root().info("seed routes loaded", {{"tenants", first.tenants.size()}});
  on_update(first);
  s.thread = std::thread([&s, on_update = std::move(on_update), on_error = std::move(on_error)] {
    s.run(on_update, on_error);
  });
  return Status::ok();
}

void SeedRouteSource::stop() {
  if (!state_) return;
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
  if (state_->clusters) state_->clusters->stop();
  if (state_->slices) state_->slices->stop();
}

}  // namespace herd::gateway
