// Real kubectl v1.32 against the standalone herd-fake-apiserver: discovery, Table output,
// client-side apply of herd's CRD and of a Cluster, printer columns, delete.
#include <gtest/gtest.h>

#include <thread>

#include "common/files.h"
#include "common/process.h"
#include "support/test_env.h"

namespace herd::fake::testing {
namespace {

class KubectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kubectl = findExecutable("kubectl");
    if (!kubectl.isOk()) {
      GTEST_SKIP() << "kubectl is not installed";
    }
    kubectl_ = *kubectl;
    kubeconfig_ = dir_.file("admin.kubeconfig");
    auto server =
        Process::spawn({HERD_FAKE_APISERVER_BINARY, "--listen", "127.0.0.1:0", "--kubeconfig-out",
                        kubeconfig_, "--state-dir", dir_.file("state")},
                       {{}, dir_.file("server.out"), dir_.file("server.err"), ""});
    ASSERT_TRUE(server.isOk()) << server.status().toString();
    server_.emplace(std::move(*server));
    // Generous: key generation and start-up can take seconds on a busy machine.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!files::exists(kubeconfig_) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(files::exists(kubeconfig_)) << "the fake never wrote its kubeconfig";
  }

  void TearDown() override {
    if (server_) {
      EXPECT_EQ(server_->stop(), 0) << "the fake stops cleanly on SIGTERM";
    }
  }

  CommandResult kubectl(std::vector<std::string> args) {
    std::vector<std::string> argv = {kubectl_, "--kubeconfig", kubeconfig_, "--cache-dir",
                                     dir_.file("cache")};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = runCommand(argv, {}, std::chrono::seconds(60));
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    return r.isOk() ? *r : CommandResult{};
  }

  herd::testing::TempDir dir_;
  std::string kubectl_;
  std::string kubeconfig_;
  std::optional<Process> server_;
};

TEST_F(KubectlTest, GetNamespacesAndApiResources) {
  CommandResult ns = kubectl({"get", "ns"});
  ASSERT_EQ(ns.exit_code, 0) << ns.err;
  EXPECT_NE(ns.out.find("NAME"), std::string::npos);
  EXPECT_NE(ns.out.find("STATUS"), std::string::npos);
  EXPECT_NE(ns.out.find("kube-system"), std::string::npos);
  EXPECT_NE(ns.out.find("Active"), std::string::npos);

  CommandResult resources = kubectl({"api-resources"});
  ASSERT_EQ(resources.exit_code, 0) << resources.err;
  EXPECT_NE(resources.out.find("deployments"), std::string::npos);
  EXPECT_NE(resources.out.find("apps/v1"), std::string::npos);
  EXPECT_NE(resources.out.find("leases"), std::string::npos);
}

TEST_F(KubectlTest, ApplyCrdThenClusterShowsPrinterColumnsThenDelete) {
  // kubectl apply validates against the server's OpenAPI, which the fake serves from there.
  if (herd::testing::sharedDir().empty()) GTEST_SKIP() << "../shared/kubernetes is not there";
  CommandResult crd =
      kubectl({"apply", "-f", herd::testing::sourceDir() + "/deploy/crds/herd.io_clusters.yaml"});
  ASSERT_EQ(crd.exit_code, 0) << crd.err;
  EXPECT_NE(crd.out.find("customresourcedefinition.apiextensions.k8s.io/clusters.herd.io created"),
            std::string::npos);

  CommandResult resources = kubectl({"api-resources", "--api-group=herd.io"});
  EXPECT_NE(resources.out.find("clusters"), std::string::npos) << resources.out << resources.err;

  CommandResult manifest =
      herd::testing::runHerd({"create", "cluster", "demo", "--dry-run", "-o", "yaml"});
  ASSERT_EQ(manifest.exit_code, 0) << manifest.err;
  std::string path = dir_.write("demo.yaml", manifest.out);
  CommandResult applied = kubectl({"apply", "-f", path});
  ASSERT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_NE(applied.out.find("cluster.herd.io/demo created"), std::string::npos);

  CommandResult again = kubectl({"apply", "-f", path});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("cluster.herd.io/demo unchanged"), std::string::npos) << again.out;

  CommandResult listed = kubectl({"get", "clusters"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  // The printer columns of herd's CRD, not kubectl's default NAME/AGE.
  EXPECT_NE(listed.out.find("VERSION"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("PHASE"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("demo"), std::string::npos);

  CommandResult deleted = kubectl({"delete", "cluster", "demo"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_NE(deleted.out.find("cluster.herd.io \"demo\" deleted"), std::string::npos);
  CommandResult missing = kubectl({"get", "cluster", "demo"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("NotFound"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace herd::fake::testing
