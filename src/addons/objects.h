// Internal to src/addons: the builders of each addon's objects and the helpers they share
// (metadata with herd's labels, images honouring the registry override, RBAC shorthands).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "addons/addons.h"

namespace herd::addons::detail {

using json = nlohmann::json;

struct Inputs {
  const api::Cluster& cluster;
  const AddonContext& context;
  const AddonImages& images;
  std::string kube_version;  // "v1.32.4"
};

// "<registry>/<repository>:<tag>": the project's registry unless the context overrides it.
std::string image(const Inputs& in, std::string_view default_registry, std::string_view repository,
                  std::string_view tag);
// metadata with name, namespace (omitted when empty) and labels herd.io/addon plus `labels`.
json meta(Addon addon, const std::string& name, const std::string& ns,
          json labels = json::object());
json object(std::string_view api_version, std::string_view kind, json metadata);
json serviceAccount(Addon addon, const std::string& name, const std::string& ns);
json rule(std::vector<std::string> groups, std::vector<std::string> resources,
          std::vector<std::string> verbs);
json clusterRoleBinding(Addon addon, const std::string& name, const std::string& role,
                        json subjects);
json saSubject(const std::string& name, const std::string& ns);

std::vector<json> kubeProxy(const Inputs& in);
std::vector<json> coreDns(const Inputs& in);
std::vector<json> metricsServer(const Inputs& in);
std::vector<json> dashboard(const Inputs& in);

}  // namespace herd::addons::detail
