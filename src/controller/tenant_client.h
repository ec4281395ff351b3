// How the controller reaches a tenant's own API: a kube::Client made from the tenant's admin
// kubeconfig (admin.conf of its PKI set) pointed at the URL where herd reaches the tenant's
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

// The admin kubeconfig's credentials and CA, with `server` as the URL. The kubeconfig names
// the public hostname, which the apiserver's certificate carries; that name stays the TLS
// server name, so the certificate is checked the same whichever URL herd dials.
Result<kube::RestConfig> tenantRestConfig(const pki::PkiFiles& files, const std::string& server);
TenantClientFactory defaultTenantClientFactory();

}  // namespace herd::controller
