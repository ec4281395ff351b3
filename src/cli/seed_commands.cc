// herd get clusters, herd describe cluster, herd delete cluster: the Cluster API in the seed.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <ctime>
#include <ostream>
#include <thread>

#include "api/codec.h"
#include "cli/app.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/seed.h"
#include "kube/herd_resources.h"

namespace herd::cli {
namespace {

using nlohmann::json;

// kubectl's HumanDuration: coarser as the age grows ("45s", "3m20s", "5h", "12d").
std::string humanAge(const std::string& rfc3339) {
  std::tm tm{};
  if (rfc3339.empty() || !strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return "<unknown>";
  int64_t s = static_cast<int64_t>(std::time(nullptr)) - static_cast<int64_t>(timegm(&tm));
  if (s < 0) s = 0;
  int64_t m = s / 60, h = s / 3600, d = s / 86400;
  if (s < 120) return fmt::format("{}s", s);
  if (m < 10) return s % 60 ? fmt::format("{}m{}s", m, s % 60) : fmt::format("{}m", m);
  if (h < 3) return fmt::format("{}m", m);
  if (h < 8) return m % 60 ? fmt::format("{}h{}m", h, m % 60) : fmt::format("{}h", h);
  if (h < 48) return fmt::format("{}h", h);
  if (d < 8) return h % 24 ? fmt::format("{}d{}h", d, h % 24) : fmt::format("{}d", d);
  if (d < 730) return fmt::format("{}d", d);
  return fmt::format("{}y{}d", d / 365, d % 365);
}

// The value at `path`, or null when any part is missing.
const json* at(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* p : path) {
    if (!cur->is_object() || !cur->contains(p)) return nullptr;
    cur = &(*cur)[p];
  }
  return cur;
}

std::string str(const json& j, std::initializer_list<const char*> path,
                const std::string& fallback = "") {
  const json* cur = at(j, path);
  if (cur == nullptr) return fallback;
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_null()) return fallback;
  return cur->dump();
}

// status.conditions, or an empty list when any part is missing or of another type.
const json& conditionsOf(const json& cluster) {
  static const json kEmpty = json::array();
  auto st = cluster.find("status");
  if (st == cluster.end() || !st->is_object()) return kEmpty;
  auto cs = st->find("conditions");
  return cs != st->end() && cs->is_array() ? *cs : kEmpty;
}

std::string conditionStatus(const json& cluster, const std::string& type) {
  for (const auto& c : conditionsOf(cluster)) {
    if (!c.is_object()) continue;
    if (str(c, {"type"}) == type) return str(c, {"status"});
  }
  return "";
}

// Columns as the CRD's printer columns define them; -o wide adds the priority-1 ones.
void printTable(std::ostream& out, const std::vector<json>& clusters, bool wide) {
  std::vector<std::string> header = {"NAME",  "VERSION", "PHASE", "ENDPOINT",
                                     "READY", "NODES",   "PODS",  "AGE"};
  if (wide) {
    header.push_back("ETCD");
    header.push_back("READY-NODES");
    header.push_back("RUNNING-PODS");
  }
  std::vector<std::vector<std::string>> rows{header};
  for (const auto& c : clusters) {
    std::vector<std::string> row = {
        str(c, {"metadata", "name"}), str(c, {"spec", "version"}),
        str(c, {"status", "phase"}),  str(c, {"status", "endpoint"}),
        conditionStatus(c, "Ready"),  str(c, {"status", "nodes", "total"}),
        str(c, {"status", "pods", "total"}), humanAge(str(c, {"metadata", "creationTimestamp"}))};
    if (wide) {
      row.push_back(str(c, {"spec", "controlPlane", "etcd", "replicas"}));
      row.push_back(str(c, {"status", "nodes", "ready"}));
      row.push_back(str(c, {"status", "pods", "running"}));
    }
    rows.push_back(std::move(row));
  }
  std::vector<size_t> widths(header.size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(widths[i] - r[i].size() + 3, ' ');
    }
    out << line << "\n";
  }
}

struct GetOptions {
  SeedFlags seed;
  std::string resource;
  std::string name;
  std::string output;
};

bool isClusterResource(const std::string& r) {
  return r == "cluster" || r == "clusters" || r == "hc" || r == "clusters.herd.io";
}

int runGet(const GetOptions& o, Streams io) {
  if (!isClusterResource(o.resource)) {
    io.err << fmt::format(
        "herd: the server doesn't have a resource type \"{}\" in herd's API; use clusters\n",
        o.resource);
    return kExitUsage;
  }
  auto client = connectSeed(o.seed);
  if (!client) {
    io.err << "herd: " << client.status().message() << "\n";
    return kExitFailure;
  }
  std::vector<json> items;
  if (!o.name.empty()) {
    auto got = (*client)->get(clustersResource(), "", o.name);
    if (!got) {
      io.err << "herd: " << explainSeedError(got.status(), o.name).message() << "\n";
      return kExitFailure;
    }
    items.push_back(std::move(*got));
  } else {
    auto list = (*client)->listAll(clustersResource(), "");
    if (!list) {
      io.err << "herd: " << explainSeedError(list.status()).message() << "\n";
      return kExitFailure;
    }
    for (auto& item : (*list)["items"]) {
      item["apiVersion"] = std::string(api::kApiVersion);
      item["kind"] = std::string(api::kKind);
      items.push_back(std::move(item));
    }
  }
  if (o.output == "json" || o.output == "yaml") {
    json doc = items.size() == 1 && !o.name.empty() ? items[0]
                                                    : json{{"apiVersion", "v1"},
                                                           {"kind", "List"},
                                                           {"items", items},
                                                           {"metadata", {{"resourceVersion", ""}}}};
    printObject(io.out, doc, o.output == "json" ? OutputFormat::kJson : OutputFormat::kYaml);
  } else if (o.output == "name") {
    for (const auto& c : items)
      io.out << "cluster.herd.io/" << str(c, {"metadata", "name"}) << "\n";
  } else if (items.empty()) {
    io.err << "No resources found\n";
  } else {
    printTable(io.out, items, o.output == "wide");
  }
  return kExitOk;
}

struct DeleteOptions {
  SeedFlags seed;
  std::string name;
  bool wait = false;
  int timeout_seconds = 300;
};

int runDelete(const DeleteOptions& o, Streams io) {
  auto client = connectSeed(o.seed);
  if (!client) {
    io.err << "herd: " << client.status().message() << "\n";
    return kExitFailure;
  }
  kube::DeleteOptions d;
  d.propagation_policy = "Foreground";
  auto deleted = (*client)->remove(clustersResource(), "", o.name, d);
  if (!deleted) {
    io.err << "herd: " << explainSeedError(deleted.status(), o.name).message() << "\n";
    return kExitFailure;
  }
  io.out << fmt::format("cluster.herd.io \"{}\" deleted\n", o.name);
  if (!o.wait) return kExitOk;
  // The controller tears the tenant down behind a finalizer; wait until the object is gone.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeout_seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    auto got = (*client)->get(clustersResource(), "", o.name);
    if (!got && got.status().code() == Code::kNotFound) return kExitOk;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  io.err << fmt::format("herd: cluster \"{}\" is still being deleted after {} s\n", o.name,
                        o.timeout_seconds);
  return kExitFailure;
}

// The Cluster's recent Events, as kubectl describe shows them: the newest kEventsShown, oldest
// first. The controller records them in "default" (a cluster-scoped object's events live
// there); an error listing them is shown in their place, the rest of describe stands.
void printEvents(std::ostream& out, kube::Client& client, const json& cluster) {
  constexpr size_t kEventsShown = 15;
  out << "Events:\n";
  kube::ListOptions options;
  options.field_selector = fmt::format("involvedObject.kind={},involvedObject.name={}",
                                       kube::kClusterKind, str(cluster, {"metadata", "name"}));
  auto list = client.listAll(kube::coreEventsResource(), "default", options);
  if (!list) {
    out << "  <unavailable: " << list.status().message() << ">\n";
    return;
  }
  std::vector<json> events;
  std::string uid = str(cluster, {"metadata", "uid"});
  for (auto& e : (*list)["items"]) {
    // Events of an earlier Cluster of the same name are not this one's.
    if (!uid.empty() && str(e, {"involvedObject", "uid"}, uid) != uid) continue;
    events.push_back(std::move(e));
  }
  auto when = [](const json& e) {
    std::string t = str(e, {"lastTimestamp"});
    return t.empty() ? str(e, {"eventTime"}) : t;
  };
  std::stable_sort(events.begin(), events.end(),
                   [&](const json& a, const json& b) { return when(a) < when(b); });
  if (events.size() > kEventsShown) events.erase(events.begin(), events.end() - kEventsShown);
  if (events.empty()) {
    out << "  <none>\n";
    return;
  }
  out << fmt::format("  {:<8}{:<24}{:<8}{}\n", "TYPE", "REASON", "AGE", "MESSAGE");
  for (const auto& e : events) {
    out << fmt::format("  {:<8}{:<24}{:<8}{}\n", str(e, {"type"}), str(e, {"reason"}),
                       humanAge(when(e)), str(e, {"message"}));
  }
}

struct DescribeOptions {
  SeedFlags seed;
  std::string name;
};

int runDescribe(const DescribeOptions& o, Streams io) {
  auto client = connectSeed(o.seed);
  if (!client) {
    io.err << "herd: " << client.status().message() << "\n";
    return kExitFailure;
  }
  auto got = (*client)->get(clustersResource(), "", o.name);
  if (!got) {
    io.err << "herd: " << explainSeedError(got.status(), o.name).message() << "\n";
    return kExitFailure;
  }
  const json& c = *got;
  auto line = [&](const char* label, const std::string& value) {
    io.out << fmt::format("{:<22}{}\n", std::string(label) + ":", value.empty() ? "<none>" : value);
  };
  line("Name", str(c, {"metadata", "name"}));
  line("Version", str(c, {"spec", "version"}));
  line("Running version", str(c, {"status", "version"}));
  line("Phase", str(c, {"status", "phase"}));
  line("Endpoint", str(c, {"status", "endpoint"}));
  line("Hostname", str(c, {"spec", "expose", "hostname"}));
  line("Namespace", str(c, {"status", "namespace"}));
  line("Kubeconfig secret", str(c, {"status", "kubeconfigSecret"}));
  line("Paused", str(c, {"spec", "paused"}, "false"));
  line("Created", str(c, {"metadata", "creationTimestamp"}));
  if (c.contains("metadata") && c["metadata"].contains("deletionTimestamp")) {
    line("Deleting since", str(c, {"metadata", "deletionTimestamp"}));
  }
  io.out << "Control plane:\n";
  io.out << fmt::format("  {:<20}{:>9}{:>8}  {}\n", "COMPONENT", "DESIRED", "READY", "MESSAGE");
  struct Row {
    const char* label;
    const char* spec_key;
    const char* status_key;
  };
  for (const Row& r : {Row{"etcd", "etcd", "etcd"}, Row{"kube-apiserver", "apiServer", "apiServer"},
                       Row{"controller-manager", "controllerManager", "controllerManager"},
                       Row{"scheduler", "scheduler", "scheduler"}}) {
    io.out << fmt::format("  {:<20}{:>9}{:>8}  {}\n", r.label,
                          str(c, {"spec", "controlPlane", r.spec_key, "replicas"}, "-"),
                          str(c, {"status", "components", r.status_key, "readyReplicas"}, "-"),
                          str(c, {"status", "components", r.status_key, "message"}));
  }
  line("Nodes (ready/total)", fmt::format("{}/{}", str(c, {"status", "nodes", "ready"}, "0"),
                                          str(c, {"status", "nodes", "total"}, "0")));
  line("Pods (ready/total)", fmt::format("{}/{}", str(c, {"status", "pods", "ready"}, "0"),
                                         str(c, {"status", "pods", "total"}, "0")));
  line("Pods by phase",
       fmt::format("{} Running, {} Pending, {} Succeeded, {} Failed",
                   str(c, {"status", "pods", "running"}, "0"),
                   str(c, {"status", "pods", "pending"}, "0"),
                   str(c, {"status", "pods", "succeeded"}, "0"),
                   str(c, {"status", "pods", "failed"}, "0")));
  std::string health = "<unknown>";
  if (const json* h = at(c, {"status", "apiServerHealth"}); h != nullptr && h->is_object()) {
    health = h->value("ready", false) ? "ready" : "not ready";
    std::vector<std::string> failing;
    for (const auto& f : h->value("failing", json::array()))
      if (f.is_string()) failing.push_back(f.get<std::string>());
    if (!failing.empty()) health += fmt::format(" (failing: {})", fmt::join(failing, ", "));
  }
  line("API server health", health);
  io.out << "Addons:\n";
  io.out << fmt::format("  {:<20}{:<10}{:>8}  {}\n", "ADDON", "ENABLED", "OBJECTS", "STATUS");
  for (const char* a : {"kubeProxy", "coreDNS", "metricsServer", "dashboard"}) {
    io.out << fmt::format("  {:<20}{:<10}{:>8}  {}\n", a,
                          str(c, {"spec", "addons", a, "enabled"}, "false"),
                          str(c, {"status", "addons", a, "objects"}, "-"),
                          str(c, {"status", "addons", a, "message"}, "<not applied yet>"));
  }
  io.out << "Network:\n";
  io.out << fmt::format(
      "  service {}  pod {}  dns {} ({})\n", str(c, {"spec", "network", "serviceCIDR"}, "-"),
      str(c, {"spec", "network", "podCIDR"}, "-"), str(c, {"spec", "network", "dnsDomain"}, "-"),
      str(c, {"spec", "network", "dnsServiceIP"}, "derived"));
  io.out << "Conditions:\n";
  const json& conditions = conditionsOf(c);
  if (conditions.empty()) io.out << "  <none>\n";
  for (const auto& cond : conditions) {
    if (!cond.is_object()) continue;
    io.out << fmt::format("  {:<14}{:<8}{:<24}{}\n", str(cond, {"type"}), str(cond, {"status"}),
                          str(cond, {"reason"}), str(cond, {"message"}));
  }
  printEvents(io.out, **client, c);
  return kExitOk;
}

}  // namespace

void addSeedCommands(CLI::App& app, Streams io, int& exit_code) {
  auto* get = app.add_subcommand("get", "List clusters, or show one (like kubectl get)");
  auto go = std::make_shared<GetOptions>();
  get->add_option("RESOURCE", go->resource, "clusters (or cluster, hc)")->required();
  get->add_option("NAME", go->name, "One cluster's name");
  get->add_option("-o,--output", go->output, "Output format: wide, name, yaml or json")
      ->check(CLI::IsMember({"wide", "name", "yaml", "json"}));
  addSeedFlags(get, go->seed);
  get->callback([go, io, &exit_code] { exit_code = runGet(*go, io); });

  auto* del = app.add_subcommand("delete", "Delete a resource");
  del->require_subcommand(1);
  auto* del_cluster =
      del->add_subcommand("cluster", "Delete a tenant cluster and everything it owns");
  auto dopt = std::make_shared<DeleteOptions>();
  del_cluster->add_option("NAME", dopt->name, "Cluster name")->required();
  del_cluster->add_flag("--wait", dopt->wait, "Wait until the cluster is gone");
  del_cluster->add_option("--timeout", dopt->timeout_seconds,
                          "Seconds to wait with --wait (default 300)");
  addSeedFlags(del_cluster, dopt->seed);
  del_cluster->callback([dopt, io, &exit_code] { exit_code = runDelete(*dopt, io); });

  auto* describe = app.add_subcommand("describe", "Show the details of a resource");
  describe->require_subcommand(1);
  auto* desc_cluster =
      describe->add_subcommand("cluster", "Show a tenant cluster's spec and status");
  auto ds = std::make_shared<DescribeOptions>();
  desc_cluster->add_option("NAME", ds->name, "Cluster name")->required();
  addSeedFlags(desc_cluster, ds->seed);
  desc_cluster->callback([ds, io, &exit_code] { exit_code = runDescribe(*ds, io); });
}

}  // namespace herd::cli
