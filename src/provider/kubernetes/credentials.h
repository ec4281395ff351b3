// Where the kubernetes provider keeps a tenant's credentials: the PKI file set (kubeadm's
// layout, pki/tenant_pki.h) split into Secrets of the tenant namespace, one per purpose, so
// that a pod mounts only the Secrets it needs. Each CA's private key has a Secret of its own:
// only a component that mounts it (kube-controller-manager signs with the cluster CA) holds it.
//
// The mapping is one table (path -> Secret, data key); Secret data keys may not contain '/',
// so every path has an explicit key. Files keep their mode through an annotation. Pure data
// and functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "api/cluster.h"
#include "common/status.h"
#include "pki/tenant_pki.h"

namespace herd::provider::kubernetes {

struct CredentialFile {
  std::string_view path;    // pki::layout path: "pki/etcd/server.crt", "admin.conf"
  std::string_view secret;  // the Secret in the tenant namespace
  std::string_view key;     // its data key
};
std::span<const CredentialFile> credentialTable();
// nullptr when no Secret holds `path`.
const CredentialFile* findCredentialFile(std::string_view path);

// The Secret holding the tenant's admin kubeconfig (status.kubeconfigSecret), and its key.
inline constexpr std::string_view kAdminKubeconfigSecret = "admin-kubeconfig";
inline constexpr std::string_view kAdminKubeconfigKey = "admin.conf";
// On each credential Secret: "key=mode" pairs (octal), so a load gives the files back as stored.
inline constexpr std::string_view kFileModesAnnotation = "herd.io/file-modes";

// The Secrets holding `files`, in the order to store them (pki::layout::storeRank: those
// with a CA key first, then the CA certificates, then by name); only Secrets with at least
// one file. Invalid
// when a path has no place in the table (a file herd would otherwise silently lose).
Result<std::vector<nlohmann::json>> credentialSecrets(const api::Cluster& cluster,
                                                      const pki::PkiFiles& files);
// The inverse: the files in these Secrets (Secrets that are not credential Secrets are
// ignored). Invalid on data that is not base64 or a key the table does not know.
Result<pki::PkiFiles> filesFromSecrets(const std::vector<nlohmann::json>& secrets);

}  // namespace herd::provider::kubernetes
