#include "controller/tenant_client.h"

#include <fmt/format.h>

#include "api/naming.h"
#include "kube/config.h"

namespace herd::controller {
namespace {

// herd's own credential inside the tenant (system:masters): it installs the RBAC that makes
// admin.conf's group cluster-admin, which admin.conf itself could not.
constexpr std::string_view kHerdKubeconfig = "herd.conf";

// The host of https://host:port/path.
std::string hostOf(const std::string& url) {
  std::string_view s = url;
  if (auto p = s.find("://"); p != std::string_view::npos) s.remove_prefix(p + 3);
  s = s.substr(0, s.find('/'));
  if (s.starts_with('[')) return std::string(s.substr(1, s.find(']') - 1));
  return std::string(s.substr(0, s.rfind(':')));
}

}  // namespace

Result<kube::RestConfig> tenantRestConfig(const pki::PkiFiles& files, const std::string& server,
                                          const std::string& server_name) {
  auto it = files.find(std::string(kHerdKubeconfig));
  if (it == files.end()) {
    return Status::failedPrecondition("the tenant's credentials hold no herd.conf yet");
  }
  HERD_ASSIGN_OR_RETURN(auto kubeconfig, kube::parseKubeconfig(it->second.data, "/"));
  HERD_ASSIGN_OR_RETURN(auto config, kube::resolveContext(kubeconfig, ""));
  if (!server_name.empty()) config.tls_server_name = server_name;
  if (config.tls_server_name.empty()) config.tls_server_name = hostOf(config.server);
  config.server = server;
  config.user_agent = "herd-controller";
  return config;
}

TenantClientFactory defaultTenantClientFactory() {
  return [](const api::Cluster& cluster, const pki::PkiFiles& files,
            const std::string& server) -> Result<std::unique_ptr<kube::Client>> {
    HERD_ASSIGN_OR_RETURN(auto config, tenantRestConfig(files, server, api::apiHostname(cluster)));
    return kube::Client::create(config);
  };
}

}  // namespace herd::controller
