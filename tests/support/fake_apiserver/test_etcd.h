// A real etcd (Debian's etcd-server, one member, TLS with client certificates from herd's
// PKI) for the fake apiserver's tests of its etcd storage: started on loopback by a test,
// stopped with it. available() is false, with the reason, when etcd is not installed.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/files.h"
#include "common/process.h"
#include "fake_apiserver.h"
#include "pki_test_util.h"
#include "support/etcd_cluster.h"

namespace herd::fake::testing {

class TestEtcd {
 public:
  // Starts a one-member cluster; check available() and started() after.
  TestEtcd() {
    auto etcd = findExecutable("etcd");
    auto etcdctl = findExecutable("etcdctl");
    if (!etcd || !etcdctl) {
      why_ = "etcd or etcdctl is not installed (scripts/setup installs them)";
      return;
    }
    pki::testing::issueInto(pki::testing::testCluster("fake"), dir_.path());
    herd::testing::EtcdCluster::Options options;
    options.etcd = *etcd;
    options.etcdctl = *etcdctl;
    options.dir = dir_.path();
    options.members = 1;
    options.token = "herd-fake-apiserver-test";
    options.free_port = pki::testing::freeLoopbackPort;
    cluster_ = std::make_unique<herd::testing::EtcdCluster>(std::move(options));
    started_ = cluster_->start();
    if (!started_) why_ = "etcd did not become healthy; logs under " + dir_.path();
  }

  bool available() const { return cluster_ != nullptr; }
  bool started() const { return started_; }
  const std::string& why() const { return why_; }
  herd::testing::EtcdCluster& cluster() { return *cluster_; }

  // What a fake needs to keep its objects here, as kube-apiserver's client certificate.
  FakeEtcdOptions options(const std::string& prefix = "/registry") const {
    FakeEtcdOptions out;
    out.servers = cluster_->clientUrls();
    out.ca_pem = files::read(dir_.path() + "/pki/etcd/ca.crt").valueOr("");
    out.cert_pem = files::read(dir_.path() + "/pki/apiserver-etcd-client.crt").valueOr("");
    out.key_pem = files::read(dir_.path() + "/pki/apiserver-etcd-client.key").valueOr("");
    out.prefix = prefix;
    return out;
  }
  // etcdctl with kube-apiserver's client certificate.
  CommandResult etcdctl(const std::vector<std::string>& args) const {
    return cluster_->etcdctl(dir_.path() + "/pki/apiserver-etcd-client", args);
  }

 private:
  herd::testing::TempDir dir_;
  std::unique_ptr<herd::testing::EtcdCluster> cluster_;
  bool started_ = false;
  std::string why_;
};

// Names the instances of a test parameterised on whether the objects are in etcd.
inline std::string storageModeName(const ::testing::TestParamInfo<bool>& mode) {
  return mode.param ? "Etcd" : "Memory";
}

}  // namespace herd::fake::testing
