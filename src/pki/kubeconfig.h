// Kubeconfig files for certificate-authenticated clients (admin.conf, controller-manager.conf,
// scheduler.conf, herd.conf) and the anonymous one inside kube-public/cluster-info, written as
// kubectl and kubeadm write them; and reading the credentials back out. Pure functions;
// thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace herd::pki {

struct KubeconfigParams {
  std::string cluster_name;
  std::string server;  // https://host:port
  std::string ca_pem;
  std::string user;
  std::string client_cert_pem;
  std::string client_key_pem;
};

// YAML, keys sorted, context "<user>@<cluster>" current.
std::string renderKubeconfig(const KubeconfigParams& params);
// What kubeadm puts into the cluster-info ConfigMap: one unnamed cluster, no users.
std::string renderClusterInfoKubeconfig(std::string_view server, std::string_view ca_pem);

// The current context's server, CA and client credentials, decoded from *-data fields.
Result<KubeconfigParams> parseKubeconfig(std::string_view text);

}  // namespace herd::pki
