// The names herd derives from a Cluster: its namespace in the seed, the in-seed Services and
// etcd members, and its public hostnames. One place, so that the PKI (certificate SANs), the
// renderers (object names) and the gateway (routes) always agree. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/cluster.h"

namespace herd::api {

// The seed cluster's own DNS domain, in which in-seed Service names resolve.
inline constexpr std::string_view kSeedDnsDomain = "cluster.local";
// The Service in front of the tenant's kube-apiservers, in the tenant namespace.
inline constexpr std::string_view kApiServerServiceName = "kube-apiserver";
// The headless Service that gives each etcd member a stable name (etcd-0.etcd...).
inline constexpr std::string_view kEtcdServiceName = "etcd";
// etcd's StatefulSet; its members are etcd-0, etcd-1, ...
inline constexpr std::string_view kEtcdStatefulSetName = "etcd";
// The port of the in-seed kube-apiserver Service: kubeadm's, which tools assume.
inline constexpr int kApiServerPort = 6443;
// The gateway's public TLS port, where clients outside the seed reach every tenant by SNI.
inline constexpr int kPublicApiPort = 443;

// herd-<name>: the seed namespace that holds everything of one tenant.
std::string tenantNamespace(const Cluster& cluster);
// The public API hostname: spec.expose.hostname (defaulted to <name>.<base-domain>).
std::string apiHostname(const Cluster& cluster);
// The public etcd hostname: etcd.<api hostname>.
std::string etcdHostname(const Cluster& cluster);
// The names of a Service inside the seed: svc.ns, svc.ns.svc, svc.ns.svc.cluster.local.
std::vector<std::string> serviceDnsNames(std::string_view service, std::string_view ns);
// https://<api hostname>:<port>: the endpoint clients outside the seed use.
std::string publicApiServerUrl(const Cluster& cluster, int port = kPublicApiPort);
// https://kube-apiserver.herd-<name>.svc:6443: the endpoint of components inside the seed.
std::string internalApiServerUrl(const Cluster& cluster);
// etcd-<i>
std::string etcdMemberName(int index);
// i of etcd-<i>; nullopt for any other name.
std::optional<int> etcdMemberIndex(std::string_view name);
// etcd-<i>.etcd.herd-<name>.svc and etcd-<i>.etcd.herd-<name>.svc.cluster.local
std::vector<std::string> etcdMemberDnsNames(const Cluster& cluster, int index);

}  // namespace herd::api
