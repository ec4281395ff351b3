#include "cli/seed.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "api/naming.h"
#include "common/base64.h"
#include "common/files.h"
#include "up/local_platform.h"

namespace herd::cli {

void addSeedFlags(CLI::App* cmd, SeedFlags& flags) {
  cmd->add_option("--kubeconfig", flags.kubeconfig,
                  "Kubeconfig of the seed cluster (default: $KUBECONFIG, ~/.kube/config, else the "
                  "seed of 'herd up')");
  cmd->add_option("--context", flags.context, "Kubeconfig context to use");
}

// With no --kubeconfig, no $KUBECONFIG and no ~/.kube/config: the seed of `herd up`.
std::string defaultKubeconfig(const SeedFlags& flags) {
  if (!flags.kubeconfig.empty()) return flags.kubeconfig;
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') return "";
  const char* home = std::getenv("HOME");
  if (home != nullptr && files::exists(std::string(home) + "/.kube/config")) return "";
  std::string up = up::seedKubeconfigPath(up::defaultStateDir());
  return files::exists(up) ? up : "";
}

Result<std::unique_ptr<kube::Client>> connectSeed(const SeedFlags& flags) {
  auto rc = kube::loadKubeconfig({defaultKubeconfig(flags), flags.context, ""});
  if (!rc) return rc.status().withContext("connect to the seed");
  rc->user_agent = "herd-cli";
  return kube::Client::create(*rc);
}

Result<std::string> readTenantFile(kube::Client& client, const std::string& cluster,
                                   const std::string& secret_name, const std::string& key) {
  api::Cluster named;
  named.metadata.name = cluster;
  std::string ns = api::tenantNamespace(named);
  std::string where = fmt::format("secret {}/{}", ns, secret_name);
  auto secret = client.get(kube::secretsResource(), ns, secret_name);
  if (!secret) {
    if (secret.status().code() == Code::kNotFound)
      return Status::notFound(fmt::format("{} of cluster \"{}\" does not exist", where, cluster));
    return secret.status().withContext(where);
  }
  auto data = secret->find("data");
  if (data == secret->end() || !data->is_object() || !data->contains(key) ||
      !(*data)[key].is_string()) {
    std::string keys;
    if (data != secret->end() && data->is_object()) {
      for (const auto& [k, v] : data->items()) keys += (keys.empty() ? "" : ", ") + k;
    }
    return Status::notFound(fmt::format("{} has no key \"{}\" (it has: {})", where, key,
                                        keys.empty() ? "none" : keys));
  }
  auto text = base64Decode((*data)[key].get<std::string>());
  if (!text) return Status::invalid(fmt::format("{}: key \"{}\" is not base64", where, key));
  return *text;
}

Status explainSeedError(const Status& s, const std::string& cluster_name) {
  if (s.code() == Code::kNotFound && s.message() == "404 page not found") {
    return Status::failedPrecondition(
        "the seed does not serve herd.io/v1alpha1 clusters: install the API with `herd crd | "
        "kubectl apply -f -`");
  }
  if (s.code() == Code::kNotFound && !cluster_name.empty()) {
    return Status::notFound(fmt::format("cluster \"{}\" not found", cluster_name));
  }
  return s;
}

}  // namespace herd::cli
