#include "cli/seed.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>

namespace herd::cli {

void addSeedFlags(CLI::App* cmd, SeedFlags& flags) {
  cmd->add_option("--kubeconfig", flags.kubeconfig,
                  "Kubeconfig of the seed cluster (default: $KUBECONFIG, ~/.kube/config)");
  cmd->add_option("--context", flags.context, "Kubeconfig context to use");
}

Result<std::unique_ptr<kube::Client>> connectSeed(const SeedFlags& flags) {
  auto rc = kube::loadKubeconfig({flags.kubeconfig, flags.context, ""});
  if (!rc) return rc.status().withContext("connect to the seed");
  rc->user_agent = "herd-cli";
  return kube::Client::create(*rc);
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
