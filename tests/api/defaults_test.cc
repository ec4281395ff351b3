#include "api/defaults.h"

#include <gtest/gtest.h>

#include "api/codec.h"
#include "api/validation.h"

namespace herd::api {
namespace {

Cluster named(const std::string& name) {
  Cluster c;
  c.metadata.name = name;
  return c;
}

TEST(DefaultsTest, EmptySpecGetsEveryDefault) {
  Cluster c = named("demo");
  applyDefaults(c);
  const ClusterSpec& s = c.spec;
  EXPECT_EQ(s.version, "1.32");
  EXPECT_EQ(s.controlPlane.apiServer.replicas, 2);
  EXPECT_EQ(s.controlPlane.controllerManager.replicas, 2);
  EXPECT_EQ(s.controlPlane.scheduler.replicas, 2);
  EXPECT_EQ(s.controlPlane.etcd.replicas, 3);
  EXPECT_EQ(s.controlPlane.etcd.storageSize, Quantity{"8Gi"});
  EXPECT_EQ(s.network.serviceCIDR, "10.96.0.0/12");
  EXPECT_EQ(s.network.podCIDR, "10.244.0.0/16");
  EXPECT_EQ(s.network.dnsDomain, "cluster.local");
  EXPECT_EQ(s.network.dnsServiceIP, "10.96.0.10");
  EXPECT_EQ(s.expose.hostname, "demo.herd.localhost");
  EXPECT_EQ(s.addons.kubeProxy.enabled, true);
  EXPECT_EQ(s.addons.coreDNS.enabled, true);
  EXPECT_EQ(s.addons.metricsServer.enabled, true);
  EXPECT_EQ(s.addons.dashboard.enabled, false);
  EXPECT_EQ(s.paused, false);
  EXPECT_TRUE(validateCluster(c).empty());
}

TEST(DefaultsTest, ExplicitValuesAreKept) {
  Cluster c = named("demo");
  c.spec.version = "1.30.2";
  c.spec.controlPlane.etcd.replicas = 1;
  c.spec.network.serviceCIDR = "172.20.0.0/16";
  c.spec.network.dnsServiceIP = "172.20.0.53";
  c.spec.expose.hostname = "k8s.example.com";
  c.spec.addons.kubeProxy.enabled = false;
  applyDefaults(c);
  EXPECT_EQ(c.spec.version, "1.30.2");
  EXPECT_EQ(c.spec.controlPlane.etcd.replicas, 1);
  EXPECT_EQ(c.spec.network.dnsServiceIP, "172.20.0.53");
  EXPECT_EQ(c.spec.expose.hostname, "k8s.example.com");
  EXPECT_EQ(c.spec.addons.kubeProxy.enabled, false);
}

TEST(DefaultsTest, DnsServiceIpIsDerivedFromTheServiceRange) {
  Cluster v4 = named("a");
  v4.spec.network.serviceCIDR = "172.20.0.0/16";
  applyDefaults(v4);
  EXPECT_EQ(v4.spec.network.dnsServiceIP, "172.20.0.10");
  Cluster v6 = named("b");
  v6.spec.network.serviceCIDR = "fd00:10::/108";
  v6.spec.network.podCIDR = "fd00:20::/64";
  applyDefaults(v6);
  EXPECT_EQ(v6.spec.network.dnsServiceIP, "fd00:10::a");
  EXPECT_TRUE(validateCluster(v6).empty());
}

TEST(DefaultsTest, NoDnsServiceIpFromAnInvalidRange) {
  Cluster c = named("a");
  c.spec.network.serviceCIDR = "10.96.0.1/12";
  applyDefaults(c);
  EXPECT_FALSE(c.spec.network.dnsServiceIP.has_value());
}

TEST(DefaultsTest, BaseDomainComesFromTheContext) {
  Cluster c = named("shop");
  applyDefaults(c, DefaultingContext{"k.example.net"});
  EXPECT_EQ(c.spec.expose.hostname, "shop.k.example.net");
}

TEST(DefaultsTest, DefaultingIsIdempotent) {
  Cluster c = named("demo");
  applyDefaults(c);
  auto once = encodeCluster(c);
  applyDefaults(c, DefaultingContext{"other.example"});
  EXPECT_EQ(encodeCluster(c), once);
}

}  // namespace
}  // namespace herd::api
