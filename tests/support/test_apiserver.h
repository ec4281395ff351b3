// The API server a test talks to: the fake apiserver by default, or a real kube-apiserver
// (with Debian's etcd) when HERD_KUBE_BIN names a directory holding one. Tests that need to
// inject faults ask fake(), which is null against a real server, and skip with a reason.
// Owns every process and thread it starts; stops them on destruction.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/process.h"
#include "common/status.h"
#include "kube/config.h"
#include "support/test_env.h"

namespace herd::fake {
class FakeApiServer;
}

namespace herd::testing {

struct TestApiServerOptions {
  // How often the fake sends watch bookmarks (a real server: about once a minute).
  std::chrono::milliseconds bookmark_interval{std::chrono::seconds(60)};
};

class TestApiServer {
 public:
  static Result<std::unique_ptr<TestApiServer>> start(const TestApiServerOptions& options = {});
  ~TestApiServer();

  bool isFake() const { return fake_ != nullptr; }
  fake::FakeApiServer* fake() const { return fake_.get(); }
  // "the fake apiserver" or "kube-apiserver from $HERD_KUBE_BIN".
  const std::string& describe() const { return description_; }
  const kube::RestConfig& adminConfig() const { return admin_; }
  // An admin kubeconfig file, for kubectl and for processes the test starts.
  const std::string& kubeconfigPath() const { return kubeconfig_path_; }
  // Credentials of a user authenticated by a client certificate with these groups.
  Result<kube::RestConfig> userConfig(const std::string& user,
                                      const std::vector<std::string>& groups) const;

 private:
  TestApiServer() = default;
  Status startReal(const std::string& bin_dir);

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<fake::FakeApiServer> fake_;
  std::vector<Process> processes_;  // etcd and kube-apiserver, when real
  std::string description_;
  kube::RestConfig admin_;
  std::string kubeconfig_path_;
  std::string ca_cert_path_, ca_key_path_;
};

}  // namespace herd::testing
