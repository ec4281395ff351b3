// How the controller reaches a tenant's own API: a kube::Client made from herd's own
// kubeconfig in the tenant's PKI set (herd.conf) pointed at the URL where herd reaches the tenant's
// apiservers (Provider::apiServerUrl). Injectable, so tests can point it at a test server.
// Stateless; thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "api/cluster.h"
#include "common/status.h"
#include "kube/client.h"
#include "pki/tenant_pki.h"

namespace herd::controller {

using TenantClientFactory = std::function<Result<std::unique_ptr<kube::Client>>(
    const api::Cluster& cluster, const pki::PkiFiles& files, const std::string& server)>;

// herd.conf's credentials (herd's own, system:masters) and CA, with `server` as the URL and
// `server_name` (the tenant's public hostname, which the apiserver's certificate carries and
// the gateway routes by) as the TLS server name, so the certificate is checked the same, and
// the gateway finds the tenant, whichever URL herd dials. Empty: the kubeconfig's host.
Result<kube::RestConfig> tenantRestConfig(const pki::PkiFiles& files, const std::string& server,
                                          const std::string& server_name = "");
TenantClientFactory defaultTenantClientFactory();

}  // namespace herd::controller
