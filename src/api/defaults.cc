#include "api/defaults.h"

#include "api/validation.h"
#include "api/versions.h"
#include "common/net.h"

namespace herd::api {
namespace {

template <typename T, typename V>
void setIfUnset(std::optional<T>& field, V&& value) {
  if (!field) field = T(std::forward<V>(value));
}

}  // namespace

void applyDefaults(Cluster& cluster, const DefaultingContext& context) {
  ClusterSpec& spec = cluster.spec;
  setIfUnset(spec.version, std::string(defaultRelease().minor));

  // Two replicas of every stateless component: one can be rescheduled while the other serves.
  setIfUnset(spec.controlPlane.apiServer.replicas, kDefaultApiServerReplicas);
  setIfUnset(spec.controlPlane.controllerManager.replicas, kDefaultControllerManagerReplicas);
  setIfUnset(spec.controlPlane.scheduler.replicas, kDefaultSchedulerReplicas);
  // Three etcd members survive the loss of one; five survive two at higher write latency.
  setIfUnset(spec.controlPlane.etcd.replicas, kDefaultEtcdReplicas);
  // etcd's default backend quota is 2 GiB; the volume also holds the WAL and snapshots.
  setIfUnset(spec.controlPlane.etcd.storageSize, Quantity{std::string(kDefaultEtcdStorageSize)});

  NetworkSpec& net = spec.network;
  setIfUnset(net.serviceCIDR, std::string(kDefaultServiceCIDR));
  setIfUnset(net.podCIDR, std::string(kDefaultPodCIDR));
  setIfUnset(net.dnsDomain, std::string(kDefaultDnsDomain));
  if (!net.dnsServiceIP) {
    // Derived only from a usable range; an invalid one is reported by validate().
    if (auto cidr = net::Cidr::parse(*net.serviceCIDR); cidr && cidr->isCanonical()) {
      if (auto ip = cidr->nth(kDnsServiceIPIndex)) net.dnsServiceIP = ip->toString();
    }
  }

  // Derived only from a valid name; an invalid one is reported by validate(), once.
  if (!spec.expose.hostname && isDns1123Label(cluster.metadata.name) &&
      !context.baseDomain.empty()) {
    spec.expose.hostname = cluster.metadata.name + "." + context.baseDomain;
  }

  // kube-proxy, CoreDNS and metrics-server make a usable cluster; the dashboard is opt-in.
  setIfUnset(spec.addons.kubeProxy.enabled, true);
  setIfUnset(spec.addons.coreDNS.enabled, true);
  setIfUnset(spec.addons.metricsServer.enabled, true);
  setIfUnset(spec.addons.dashboard.enabled, false);
  setIfUnset(spec.paused, false);
}

}  // namespace herd::api
