// The certificate table: every certificate a tenant control plane needs, declared once as
// data in kubeadm's layout and with kubeadm's subjects, in CA-before-leaf order. Issuance,
// rotation, the file layout and `herd pki check` all walk this one table. Entries whose
// `kubeconfig` is set live inside that kubeconfig (as kubeadm's admin.conf does) instead of
// pki/. Also here: the SAN rules, which derive each certificate's names from the Cluster.
// Immutable data and pure functions; thread-safe.
#pragma once

#include <span>
#include <string_view>

#include "api/cluster.h"
#include "pki/certificate.h"

namespace herd::pki {

// Which names a certificate carries, computed from the Cluster by sansFor().
enum class SanRule {
  kNone,        // client certificates and CAs
  kApiServer,   // kube-apiserver serving certificate
  kEtcdServer,  // etcd client-facing serving certificate
  kEtcdPeer,    // etcd member-to-member certificate (serving and client)
};

struct CertEntry {
  std::string_view name;  // also the path under pki/ without .crt/.key: "etcd/server"
  std::string_view ca;    // the issuing CA's name; empty for a self-signed CA
  std::string_view common_name;
  std::string_view organization;  // empty when the subject has no O
  unsigned key_usage = 0;
  unsigned ext_key_usage = 0;
  SanRule sans = SanRule::kNone;
  std::string_view kubeconfig;  // "admin.conf" when the certificate is stored in a kubeconfig
  std::string_view purpose;     // one line for `herd pki check` and the docs

  bool isCa() const { return ca.empty(); }
};

// The group that kubeadm (1.29+) binds to cluster-admin; herd creates the same binding.
inline constexpr std::string_view kClusterAdminsGroup = "kubeadm:cluster-admins";
// The group the apiserver lets through authorization unconditionally. Only herd's own
// credential carries it: herd must reach a tenant before any RBAC exists there.
inline constexpr std::string_view kSystemMastersGroup = "system:masters";

// A common name that stands for the Cluster's own name (the apiservers' egress client
// certificate: herd's CONNECT listener takes the tenant from the client certificate's CN).
inline constexpr std::string_view kClusterNameSubject = "$(CLUSTER)";
// The entry's common name for `cluster`; with no cluster, the table's text.
std::string commonNameFor(const CertEntry& entry, const api::Cluster* cluster);

std::span<const CertEntry> certificateTable();
// nullptr when there is no such entry.
const CertEntry* findCertEntry(std::string_view name);

// The SANs an entry must carry for `cluster` (defaulted), sorted.
SubjectAltNames sansFor(const CertEntry& entry, const api::Cluster& cluster);

}  // namespace herd::pki
