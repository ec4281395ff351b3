#include "api/naming.h"

#include <fmt/format.h>

namespace herd::api {

std::string tenantNamespace(const Cluster& cluster) {
  return namespaceFor(cluster.metadata.name);
}

std::string apiHostname(const Cluster& cluster) {
  return cluster.spec.expose.hostname.value_or("");
}

std::string etcdHostname(const Cluster& cluster) {
  std::string host = apiHostname(cluster);
  return host.empty() ? host : "etcd." + host;
}

std::vector<std::string> serviceDnsNames(std::string_view service, std::string_view ns) {
  return {fmt::format("{}.{}", service, ns), fmt::format("{}.{}.svc", service, ns),
          fmt::format("{}.{}.svc.{}", service, ns, kSeedDnsDomain)};
}

std::string publicApiServerUrl(const Cluster& cluster, int port) {
  return fmt::format("https://{}:{}", apiHostname(cluster), port);
}

std::string internalApiServerUrl(const Cluster& cluster) {
  return fmt::format("https://{}.{}.svc:{}", kApiServerServiceName, tenantNamespace(cluster),
                     kApiServerPort);
}

std::string etcdMemberName(int index) {
  return fmt::format("{}-{}", kEtcdStatefulSetName, index);
}

std::optional<int> etcdMemberIndex(std::string_view name) {
  std::string prefix = fmt::format("{}-", kEtcdStatefulSetName);
  if (!name.starts_with(prefix) || name.size() == prefix.size() ||
      name.size() > prefix.size() + 3) {
    return std::nullopt;
  }
  int index = 0;
  for (char c : name.substr(prefix.size())) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + (c - '0');
  }
  return index;
}

std::vector<std::string> etcdMemberDnsNames(const Cluster& cluster, int index) {
  std::string member = etcdMemberName(index);
  std::string ns = tenantNamespace(cluster);
  return {fmt::format("{}.{}.{}.svc", member, kEtcdServiceName, ns),
          fmt::format("{}.{}.{}.svc.{}", member, kEtcdServiceName, ns, kSeedDnsDomain)};
}

}  // namespace herd::api
