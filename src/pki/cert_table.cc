#include "pki/cert_table.h"

#include "api/naming.h"
#include "common/net.h"

namespace herd::pki {
namespace {

// kubeadm gives every certificate digitalSignature and keyEncipherment, and CAs keyCertSign.
constexpr unsigned kLeafUsage = kDigitalSignature | kKeyEncipherment;
constexpr unsigned kCaUsage = kDigitalSignature | kKeyEncipherment | kCertSign;

// CAs first, then the leaves each one issues: issuance walks the table once, in order.
constexpr CertEntry kTable[] = {
    {"ca", "", "kubernetes", "", kCaUsage, 0, SanRule::kNone, "",
     "cluster CA: signs the apiserver's, kubelets' and clients' certificates"},
    {"front-proxy-ca", "", "front-proxy-ca", "", kCaUsage, 0, SanRule::kNone, "",
     "front proxy CA: vouches for requests the apiserver proxies to extension apiservers"},
    {"etcd/ca", "", "etcd-ca", "", kCaUsage, 0, SanRule::kNone, "",
     "etcd CA: etcd members and their clients"},
    {"apiserver", "ca", "kube-apiserver", "", kLeafUsage, kServerAuth, SanRule::kApiServer, "",
     "kube-apiserver serving certificate"},
    {"apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client", kClusterAdminsGroup,
     kLeafUsage, kClientAuth, SanRule::kNone, "",
     "kube-apiserver's client certificate towards kubelets"},
    {"front-proxy-client", "front-proxy-ca", "front-proxy-client", "", kLeafUsage, kClientAuth,
     SanRule::kNone, "", "kube-apiserver's client certificate towards extension apiservers"},
    {"etcd/server", "etcd/ca", "kube-etcd", "", kLeafUsage, kServerAuth | kClientAuth,
     SanRule::kEtcdServer, "", "etcd serving certificate for client traffic"},
    {"etcd/peer", "etcd/ca", "kube-etcd-peer", "", kLeafUsage, kServerAuth | kClientAuth,
     SanRule::kEtcdPeer, "", "etcd member-to-member certificate"},
    {"etcd/healthcheck-client", "etcd/ca", "kube-etcd-healthcheck-client", "", kLeafUsage,
     kClientAuth, SanRule::kNone, "", "etcd client certificate for liveness probes"},
    {"apiserver-etcd-client", "etcd/ca", "kube-apiserver-etcd-client", "", kLeafUsage, kClientAuth,
     SanRule::kNone, "", "kube-apiserver's client certificate towards etcd"},
    {"apiserver-egress-client", "ca", kClusterNameSubject, "", kLeafUsage, kClientAuth,
     SanRule::kNone, "",
     "kube-apiserver's client certificate towards herd's tunnel CONNECT listener (CN: the "
     "cluster)"},
    {"admin", "ca", "kubernetes-admin", kClusterAdminsGroup, kLeafUsage, kClientAuth,
     SanRule::kNone, "admin.conf", "the tenant owner's cluster-admin credential (admin.conf)"},
    {"controller-manager", "ca", "system:kube-controller-manager", "", kLeafUsage, kClientAuth,
     SanRule::kNone, "controller-manager.conf",
     "kube-controller-manager's credential (controller-manager.conf)"},
    {"scheduler", "ca", "system:kube-scheduler", "", kLeafUsage, kClientAuth, SanRule::kNone,
     "scheduler.conf", "kube-scheduler's credential (scheduler.conf)"},
    {"herd", "ca", "herd:controller", kSystemMastersGroup, kLeafUsage, kClientAuth, SanRule::kNone,
     "herd.conf", "herd's own credential inside the tenant: installs RBAC and addons (herd.conf)"},
};

void addLoopback(SubjectAltNames& sans) {
  sans.dns.emplace_back("localhost");
  sans.ips.emplace_back("127.0.0.1");
}

void addEtcdMembers(SubjectAltNames& sans, const api::Cluster& cluster) {
  int members = cluster.spec.controlPlane.etcd.replicas.value_or(1);
  for (int i = 0; i < members; ++i) {
    for (auto& name : api::etcdMemberDnsNames(cluster, i)) sans.dns.push_back(std::move(name));
  }
}

}  // namespace

std::string commonNameFor(const CertEntry& entry, const api::Cluster* cluster) {
  if (entry.common_name == kClusterNameSubject && cluster != nullptr) {
    return cluster->metadata.name;
  }
  return std::string(entry.common_name);
}

std::span<const CertEntry> certificateTable() {
  return kTable;
}

const CertEntry* findCertEntry(std::string_view name) {
  for (const auto& entry : kTable) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

SubjectAltNames sansFor(const CertEntry& entry, const api::Cluster& cluster) {
  SubjectAltNames sans;
  const std::string ns = api::tenantNamespace(cluster);
  switch (entry.sans) {
    case SanRule::kNone:
      return sans;
    case SanRule::kApiServer: {
      // In-cluster clients reach the apiserver through the `kubernetes` Service, whose
      // ClusterIP is the first address of the service range.
      if (auto cidr = net::Cidr::parse(cluster.spec.network.serviceCIDR.value_or(""))) {
        if (auto ip = cidr->network().nth(1)) sans.ips.push_back(ip->toString());
      }
      const std::string domain = cluster.spec.network.dnsDomain.value_or("cluster.local");
      for (const char* name : {"kubernetes", "kubernetes.default", "kubernetes.default.svc"}) {
        sans.dns.emplace_back(name);
      }
      sans.dns.push_back("kubernetes.default.svc." + domain);
      if (auto host = api::apiHostname(cluster); !host.empty()) sans.dns.push_back(host);
      for (auto& name : api::serviceDnsNames(api::kApiServerServiceName, ns))
        sans.dns.push_back(std::move(name));
      addLoopback(sans);
      break;
    }
    case SanRule::kEtcdServer:
      if (auto host = api::etcdHostname(cluster); !host.empty()) sans.dns.push_back(host);
      for (auto& name : api::serviceDnsNames(api::kEtcdServiceName, ns))
        sans.dns.push_back(std::move(name));
      addEtcdMembers(sans, cluster);
      addLoopback(sans);
      sans.ips.emplace_back("::1");
      break;
    case SanRule::kEtcdPeer:
      addEtcdMembers(sans, cluster);
      addLoopback(sans);
      sans.ips.emplace_back("::1");
      break;
  }
  sans.normalize();
  return sans;
}

}  // namespace herd::pki
