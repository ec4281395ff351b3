// The seed API as the herd commands reach it: --kubeconfig/--context flags, the connection,
// the Cluster resource (kube/herd_resources.h), and errors explained in a user's terms. Internal to
// src/cli.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "kube/client.h"
#include "kube/herd_resources.h"

namespace CLI {
class App;
}

namespace herd::cli {

struct SeedFlags {
  std::string kubeconfig;  // empty: $KUBECONFIG, then ~/.kube/config, as kubectl
  std::string context;
};

// Adds --kubeconfig and --context to a command.
void addSeedFlags(CLI::App* cmd, SeedFlags& flags);
Result<std::unique_ptr<kube::Client>> connectSeed(const SeedFlags& flags);
using kube::clustersResource;
// Rewrites the errors a user can act on: a seed without the Cluster CRD, a missing cluster.
Status explainSeedError(const Status& s, const std::string& cluster_name = "");

}  // namespace herd::cli
