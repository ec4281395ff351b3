// herd kubeconfig NAME: the tenant's admin kubeconfig, read from its Secret in the seed, with
// the server pointed at the endpoint the Cluster's status gives (the gateway's address for the
// tenant), so that the printed file works from wherever the user is.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <ostream>

#include "api/codec.h"
#include "api/naming.h"
#include "cli/app.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/seed.h"
#include "common/base64.h"
#include "common/yaml.h"

namespace herd::cli {
namespace {

using nlohmann::json;

// The data key the controller stores the admin kubeconfig under (as kubeadm names the file).
constexpr const char* kAdminKubeconfigKey = "admin.conf";

struct KubeconfigOptions {
  SeedFlags seed;
  std::string name;
  std::string key = kAdminKubeconfigKey;
};

std::string statusString(const json& cluster, const char* key) {
  auto status = cluster.find("status");
  if (status == cluster.end() || !status->is_object()) return {};
  auto value = status->find(key);
  return value != status->end() && value->is_string() ? value->get<std::string>() : std::string();
}

// Every cluster entry's server becomes `endpoint`: the file names one cluster, the tenant.
Result<json> pointAt(const std::string& text, const std::string& endpoint,
                     const std::string& where) {
  auto docs = parseDocuments(text);
  if (!docs || docs->size() != 1 || !docs->front().is_object()) {
    return Status::invalid(fmt::format("{} is not a kubeconfig", where));
  }
  json config = std::move(docs->front());
  auto clusters = config.find("clusters");
  if (clusters == config.end() || !clusters->is_array() || clusters->empty()) {
    return Status::invalid(fmt::format("{} is not a kubeconfig: it names no cluster", where));
  }
  for (auto& entry : *clusters) {
    if (!entry.is_object() || !entry.contains("cluster") || !entry["cluster"].is_object()) {
      return Status::invalid(fmt::format("{}: a clusters[] entry has no cluster", where));
    }
    entry["cluster"]["server"] = endpoint;
  }
  return config;
}

Result<json> tenantKubeconfig(kube::Client& client, const KubeconfigOptions& o) {
  auto got = client.get(clustersResource(), "", o.name);
  if (!got) return explainSeedError(got.status(), o.name);
  const json& cluster = *got;
  std::string endpoint = statusString(cluster, "endpoint");
  std::string secret_name = statusString(cluster, "kubeconfigSecret");
  if (secret_name.empty() || endpoint.empty()) {
    return Status::failedPrecondition(fmt::format(
        "cluster \"{}\" has no {} in its status yet: its control plane is still being set up "
        "(see `herd describe cluster {}`)",
        o.name, secret_name.empty() ? "kubeconfigSecret" : "endpoint", o.name));
  }
  api::Cluster decoded;
  decoded.metadata.name = o.name;
  std::string ns = api::tenantNamespace(decoded);
  std::string where = fmt::format("secret {}/{}", ns, secret_name);
  auto secret = client.get(kube::secretsResource(), ns, secret_name);
  if (!secret) {
    if (secret.status().code() == Code::kNotFound) {
      return Status::notFound(
          fmt::format("{}, named by cluster \"{}\"'s status, does not exist", where, o.name));
    }
    return secret.status().withContext(where);
  }
  auto data = secret->find("data");
  if (data == secret->end() || !data->is_object() || !data->contains(o.key) ||
      !(*data)[o.key].is_string()) {
    std::string keys;
    if (data != secret->end() && data->is_object()) {
      for (const auto& [k, v] : data->items()) keys += (keys.empty() ? "" : ", ") + k;
    }
    return Status::notFound(fmt::format("{} has no key \"{}\" (it has: {})", where, o.key,
                                        keys.empty() ? "none" : keys));
  }
  auto text = base64Decode((*data)[o.key].get<std::string>());
  if (!text) return Status::invalid(fmt::format("{}: key \"{}\" is not base64", where, o.key));
  return pointAt(*text, endpoint, fmt::format("{} key \"{}\"", where, o.key));
}

int runKubeconfig(const KubeconfigOptions& o, Streams io) {
  auto client = connectSeed(o.seed);
  if (!client) {
    io.err << "herd: " << client.status().message() << "\n";
    return kExitFailure;
  }
  auto config = tenantKubeconfig(**client, o);
  if (!config) {
    io.err << "herd: " << config.status().message() << "\n";
    return kExitFailure;
  }
  printObject(io.out, *config, OutputFormat::kYaml);
  return kExitOk;
}

}  // namespace

void addKubeconfigCommand(CLI::App& app, Streams io, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "kubeconfig", "Print a tenant cluster's admin kubeconfig, pointed at its gateway endpoint");
  auto o = std::make_shared<KubeconfigOptions>();
  cmd->add_option("NAME", o->name, "Cluster name")->required();
  cmd->add_option(
      "--key", o->key,
      fmt::format("Data key of the kubeconfig in the Secret (default {})", kAdminKubeconfigKey));
  addSeedFlags(cmd, o->seed);
  cmd->callback([o, io, &exit_code] { exit_code = runKubeconfig(*o, io); });
}

}  // namespace herd::cli
