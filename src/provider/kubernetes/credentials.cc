#include "provider/kubernetes/credentials.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "api/naming.h"
#include "common/base64.h"
#include "provider/kubernetes/objects.h"

namespace herd::provider::kubernetes {

using nlohmann::json;

namespace {

// Grouped by who mounts them: etcd mounts etcd-certs and the CA certificates; kube-apiserver
// apiserver-certs, front-proxy-client, sa-keys and the CA certificates; kube-controller-manager
// its kubeconfig, sa-keys and ca-key (it signs kubelet certificates); the scheduler only its
// kubeconfig. The gateway's tunnel server reads ssh-host-key; nodes get ssh-node-key.
constexpr CredentialFile kTable[] = {
    {"pki/ca.crt", "ca-certs", "ca.crt"},
    {"pki/front-proxy-ca.crt", "ca-certs", "front-proxy-ca.crt"},
    {"pki/etcd/ca.crt", "ca-certs", "etcd-ca.crt"},
    {"pki/ca.key", "ca-key", "ca.key"},
    {"pki/front-proxy-ca.key", "front-proxy-ca-key", "front-proxy-ca.key"},
    {"pki/etcd/ca.key", "etcd-ca-key", "etcd-ca.key"},
    {"pki/apiserver.crt", "apiserver-certs", "apiserver.crt"},
    {"pki/apiserver.key", "apiserver-certs", "apiserver.key"},
    {"pki/apiserver-kubelet-client.crt", "apiserver-certs", "apiserver-kubelet-client.crt"},
    {"pki/apiserver-kubelet-client.key", "apiserver-certs", "apiserver-kubelet-client.key"},
    {"pki/apiserver-egress-client.crt", "apiserver-certs", "apiserver-egress-client.crt"},
    {"pki/apiserver-egress-client.key", "apiserver-certs", "apiserver-egress-client.key"},
    {"pki/apiserver-etcd-client.crt", "apiserver-certs", "apiserver-etcd-client.crt"},
    {"pki/apiserver-etcd-client.key", "apiserver-certs", "apiserver-etcd-client.key"},
    {"pki/front-proxy-client.crt", "front-proxy-client", "front-proxy-client.crt"},
    {"pki/front-proxy-client.key", "front-proxy-client", "front-proxy-client.key"},
    {"pki/etcd/server.crt", "etcd-certs", "server.crt"},
    {"pki/etcd/server.key", "etcd-certs", "server.key"},
    {"pki/etcd/peer.crt", "etcd-certs", "peer.crt"},
    {"pki/etcd/peer.key", "etcd-certs", "peer.key"},
    {"pki/etcd/healthcheck-client.crt", "etcd-certs", "healthcheck-client.crt"},
    {"pki/etcd/healthcheck-client.key", "etcd-certs", "healthcheck-client.key"},
    {"pki/sa.key", "sa-keys", "sa.key"},
    {"pki/sa.pub", "sa-keys", "sa.pub"},
    {"admin.conf", kAdminKubeconfigSecret, kAdminKubeconfigKey},
    {"controller-manager.conf", "controller-manager-kubeconfig", "controller-manager.conf"},
    {"scheduler.conf", "scheduler-kubeconfig", "scheduler.conf"},
    {"herd.conf", "herd-kubeconfig", "herd.conf"},
    {"tokens/bootstrap-token", "bootstrap-token", "bootstrap-token"},
    {"tokens/bootstrap-token.yaml", "bootstrap-token", "bootstrap-token.yaml"},
    {"tokens/cluster-info.yaml", "bootstrap-token", "cluster-info.yaml"},
    {"ssh/host_ed25519_key", "ssh-host-key", "host_ed25519_key"},
    {"ssh/host_ed25519_key.pub", "ssh-host-key", "host_ed25519_key.pub"},
    {"ssh/authorized_keys", "ssh-host-key", "authorized_keys"},
    {"ssh/node_ed25519_key", "ssh-node-key", "node_ed25519_key"},
    {"ssh/node_ed25519_key.pub", "ssh-node-key", "node_ed25519_key.pub"},
};

// What a file's mode is taken to be when a Secret does not say: the safe one.
constexpr unsigned kUnknownMode = 0600;

std::string modesAnnotation(const std::map<std::string, unsigned>& modes) {
  std::string out;
  for (const auto& [key, mode] : modes) {
    out += fmt::format("{}{}={:04o}", out.empty() ? "" : ",", key, mode);
  }
  return out;
}

Result<std::map<std::string, unsigned>> parseModes(const std::string& secret,
                                                   const std::string& text) {
  std::map<std::string, unsigned> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    size_t eq = item.find('=');
    unsigned mode = 0;
    bool ok = eq != std::string::npos && eq + 1 < item.size();
    for (size_t i = eq + 1; ok && i < item.size(); ++i) {
      ok = item[i] >= '0' && item[i] <= '7';
      mode = mode * 8 + static_cast<unsigned>(item[i] - '0');
    }
    if (!ok || mode > 0777) {
      return Status::invalid(fmt::format("Secret {}: annotation {} has a malformed entry \"{}\"",
                                         secret, kFileModesAnnotation, item));
    }
    out[item.substr(0, eq)] = mode;
    start = end + 1;
  }
  return out;
}

}  // namespace

std::span<const CredentialFile> credentialTable() {
  return kTable;
}

const CredentialFile* findCredentialFile(std::string_view path) {
  for (const auto& f : kTable) {
    if (f.path == path) return &f;
  }
  return nullptr;
}

Result<std::vector<json>> credentialSecrets(const api::Cluster& cluster,
                                            const pki::PkiFiles& files) {
  struct Pending {
    json data = json::object();
    std::map<std::string, unsigned> modes;
    int rank = 2;
  };
  std::map<std::string, Pending> by_secret;
  for (const auto& [path, file] : files) {
    const CredentialFile* where = findCredentialFile(path);
    if (where == nullptr) {
      return Status::invalid(fmt::format(
          "no credential Secret holds \"{}\": add it to the provider's credential table", path));
    }
    Pending& p = by_secret[std::string(where->secret)];
    p.data[std::string(where->key)] = base64Encode(file.data);
    p.modes[std::string(where->key)] = file.mode;
    p.rank = std::min(p.rank, pki::layout::storeRank(path));
  }
  std::vector<std::pair<std::string, Pending*>> ordered;
  for (auto& [name, p] : by_secret) ordered.emplace_back(name, &p);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const auto& a, const auto& b) { return a.second->rank < b.second->rank; });
  const std::string ns = api::tenantNamespace(cluster);
  std::vector<json> out;
  for (auto& [name, pending] : ordered) {
    Pending& p = *pending;
    HERD_ASSIGN_OR_RETURN(json meta, objectMeta(cluster, kCredentialsComponent, name, ns));
    meta["annotations"][std::string(kFileModesAnnotation)] = modesAnnotation(p.modes);
    out.push_back({{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", std::move(meta)},
                   {"type", "Opaque"},
                   {"data", std::move(p.data)}});
  }
  return out;
}

Result<pki::PkiFiles> filesFromSecrets(const std::vector<json>& secrets) {
  pki::PkiFiles out;
  for (const auto& secret : secrets) {
    const json& meta = secret.value("metadata", json::object());
    const std::string name = meta.value("name", "");
    bool known = std::any_of(std::begin(kTable), std::end(kTable),
                             [&](const CredentialFile& f) { return f.secret == name; });
    if (!known) continue;
    std::string modes_text =
        meta.value("annotations", json::object()).value(std::string(kFileModesAnnotation), "");
    HERD_ASSIGN_OR_RETURN(auto modes, parseModes(name, modes_text));
    const json data = secret.value("data", json::object());
    for (const auto& [key, value] : data.items()) {
      const CredentialFile* file = nullptr;
      for (const auto& f : kTable) {
        if (f.secret == name && f.key == key) file = &f;
      }
      if (file == nullptr) {
        return Status::invalid(
            fmt::format("Secret {} holds key \"{}\", which is no credential file herd knows; "
                        "remove the key",
                        name, key));
      }
      if (!value.is_string()) {
        return Status::invalid(fmt::format("Secret {}: data key {} is not a string", name, key));
      }
      auto decoded = base64Decode(value.get<std::string>());
      if (!decoded) {
        return decoded.status().withContext(fmt::format("Secret {} key {}", name, key));
      }
      auto mode = modes.find(key);
      out[std::string(file->path)] = {std::move(*decoded),
                                      mode == modes.end() ? kUnknownMode : mode->second};
    }
  }
  return out;
}

}  // namespace herd::provider::kubernetes
