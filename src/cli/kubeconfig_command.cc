// herd kubeconfig NAME: the tenant's admin kubeconfig, read from its Secret in the seed, with
// the server pointed at the endpoint the Cluster's status gives (the gateway's address for the
// tenant), so that the printed file works from wherever the user is.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <ostream>

#include "api/codec.h"
#include "api/naming.h"
#include "cli/app.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/seed.h"
#include "common/base64.h"
#include "common/net.h"
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

// Names under .localhost are loopback (RFC 6761), yet neither kubectl's resolver nor glibc's
// without systemd's resolver knows it: such an endpoint becomes 127.0.0.1 with the name kept as
// the TLS server name, which the gateway routes by (SNI) and the serving certificate names.
void pointAtLoopbackName(json& cluster, const std::string& endpoint) {
  constexpr std::string_view kScheme = "https://";
  if (!endpoint.starts_with(kScheme)) return;
  net::HostPortRules rules;
  rules.port_optional = true;
  auto hp = net::parseHostPort(std::string_view(endpoint).substr(kScheme.size()), rules);
  if (!hp) return;
  std::string host = hp->host;
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (host != "localhost" && !host.ends_with(".localhost")) return;
  cluster["server"] = hp->port == 0 ? std::string("https://127.0.0.1")
                                    : fmt::format("https://127.0.0.1:{}", hp->port);
  cluster["tls-server-name"] = hp->host;
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
    pointAtLoopbackName(entry["cluster"], endpoint);
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
  HERD_ASSIGN_OR_RETURN(std::string text, readTenantFile(client, o.name, secret_name, o.key));
  std::string where = fmt::format("secret herd-{}/{}", o.name, secret_name);
  return pointAt(text, endpoint, fmt::format("{} key \"{}\"", where, o.key));
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
