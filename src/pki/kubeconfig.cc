#include "pki/kubeconfig.h"

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/yaml.h"

namespace herd::pki {
namespace {

const nlohmann::json* findNamed(const nlohmann::json& config, const char* list,
                                std::string_view name) {
  if (!config.contains(list) || !config[list].is_array()) return nullptr;
  for (const auto& item : config[list]) {
    if (item.is_object() && item.value("name", "") == name) return &item;
  }
  return nullptr;
}

Result<std::string> decodeField(const nlohmann::json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_string()) {
    return Status::invalid(std::string("kubeconfig has no ") + key);
  }
  auto decoded = base64Decode(object[key].get<std::string>());
  if (!decoded) return Status::invalid(std::string("kubeconfig ") + key + " is not base64");
  return *decoded;
}

}  // namespace

std::string renderKubeconfig(const KubeconfigParams& p) {
  const std::string context = p.user + "@" + p.cluster_name;
  nlohmann::json config = {
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"clusters",
       {{{"name", p.cluster_name},
         {"cluster",
          {{"server", p.server}, {"certificate-authority-data", base64Encode(p.ca_pem)}}}}}},
      {"contexts",
       {{{"name", context}, {"context", {{"cluster", p.cluster_name}, {"user", p.user}}}}}},
      {"current-context", context},
      {"preferences", nlohmann::json::object()},
      {"users",
       {{{"name", p.user},
         {"user",
          {{"client-certificate-data", base64Encode(p.client_cert_pem)},
           {"client-key-data", base64Encode(p.client_key_pem)}}}}}},
  };
  return toYaml(config);
}

std::string renderClusterInfoKubeconfig(std::string_view server, std::string_view ca_pem) {
  nlohmann::json config = {
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"clusters",
       {{{"name", ""},
         {"cluster",
          {{"server", std::string(server)},
           {"certificate-authority-data", base64Encode(ca_pem)}}}}}},
      {"contexts", nullptr},
      {"current-context", ""},
      {"preferences", nlohmann::json::object()},
      {"users", nullptr},
  };
  return toYaml(config);
}

Result<KubeconfigParams> parseKubeconfig(std::string_view text) {
  HERD_ASSIGN_OR_RETURN(auto docs, parseDocuments(text));
  if (docs.size() != 1 || !docs[0].is_object()) return Status::invalid("not a kubeconfig");
  const nlohmann::json& config = docs[0];
  std::string current = config.value("current-context", "");
  const nlohmann::json* context = findNamed(config, "contexts", current);
  if (context == nullptr || !context->contains("context")) {
    return Status::invalid("kubeconfig's current context \"" + current + "\" is not defined");
  }
  KubeconfigParams p;
  p.cluster_name = (*context)["context"].value("cluster", "");
  p.user = (*context)["context"].value("user", "");
  const nlohmann::json* cluster = findNamed(config, "clusters", p.cluster_name);
  const nlohmann::json* user = findNamed(config, "users", p.user);
  if (cluster == nullptr || user == nullptr || !cluster->contains("cluster") ||
      !user->contains("user")) {
    return Status::invalid("kubeconfig's current context names a missing cluster or user");
  }
  p.server = (*cluster)["cluster"].value("server", "");
  HERD_ASSIGN_OR_RETURN(p.ca_pem, decodeField((*cluster)["cluster"], "certificate-authority-data"));
  HERD_ASSIGN_OR_RETURN(p.client_cert_pem, decodeField((*user)["user"], "client-certificate-data"));
  HERD_ASSIGN_OR_RETURN(p.client_key_pem, decodeField((*user)["user"], "client-key-data"));
  return p;
}

}  // namespace herd::pki
