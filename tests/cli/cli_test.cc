// The herd binary as a user runs it: output, exit status, pipes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/yaml.h"
#include "support/test_env.h"

namespace herd {
namespace {

using testing::runHerd;

TEST(CliTest, VersionPrintsHerdAndKubernetesVersions) {
  auto r = runHerd({"version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("herd 0.1.0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Kubernetes: 1.30, 1.31, 1.32, 1.33, 1.34, 1.35, 1.36 (default 1.32)"),
            std::string::npos)
      << r.out;
  auto j = nlohmann::json::parse(runHerd({"version", "-o", "json"}).out);
  EXPECT_EQ(j["defaultKubernetesVersion"], "1.32");
  EXPECT_EQ(j["apiVersion"], "herd.io/v1alpha1");
}

TEST(CliTest, CreateDryRunPipesIntoValidate) {
  auto created = runHerd({"create", "cluster", "demo", "--dry-run", "-o", "yaml"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_NE(created.out.find("kind: Cluster"), std::string::npos);
  auto validated = runHerd({"validate", "-f", "-"}, created.out);
  EXPECT_EQ(validated.exit_code, 0) << validated.err;
  EXPECT_EQ(validated.out, "<stdin>: Cluster \"demo\" is valid\n");
}

TEST(CliTest, CreateDryRunJsonAppliesFlags) {
  auto r = runHerd({"create", "cluster", "shop", "--dry-run", "-o", "json", "--version", "1.31",
                    "--etcd-replicas", "5", "--service-cidr", "172.20.0.0/16", "--base-domain",
                    "k.example.net", "--enable-addon", "dashboard", "--disable-addon", "kube-proxy",
                    "--paused"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["spec"]["version"], "1.31");
  EXPECT_EQ(j["spec"]["controlPlane"]["etcd"]["replicas"], 5);
  EXPECT_EQ(j["spec"]["network"]["dnsServiceIP"], "172.20.0.10");
  EXPECT_EQ(j["spec"]["expose"]["hostname"], "shop.k.example.net");
  EXPECT_EQ(j["spec"]["addons"]["dashboard"]["enabled"], true);
  EXPECT_EQ(j["spec"]["addons"]["kubeProxy"]["enabled"], false);
  EXPECT_EQ(j["spec"]["paused"], true);
}

TEST(CliTest, CreateRejectsInvalidFlagsWithFieldPaths) {
  auto r = runHerd(
      {"create", "cluster", "demo", "--dry-run", "--etcd-replicas", "2", "--version", "1.20"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "herd: Cluster \"demo\" is invalid:\n"
            "  spec.version: Unsupported value: \"1.20\": supported values: \"1.30\", \"1.31\", "
            "\"1.32\", \"1.33\", \"1.34\", \"1.35\", \"1.36\"\n"
            "  spec.controlPlane.etcd.replicas: Invalid value: 2: must be 1, 3 or 5\n");
}

TEST(CliTest, CreateWithoutDryRunNeedsTheSeed) {
  auto r = runHerd({"create", "cluster", "demo", "--kubeconfig", "/nonexistent/kubeconfig"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "herd: connect to the seed: open /nonexistent/kubeconfig: No such file or directory\n");
}

TEST(CliTest, ValidateReportsEveryProblemAndFails) {
  testing::TempDir dir;
  std::string path = dir.write(
      "bad.yaml",
      "apiVersion: herd.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: demo\nspec:\n"
      "  controlPlane:\n    etcd:\n      replicas: 2\n  network:\n    podCIDR: 10.96.0.0/16\n");
  auto r = runHerd({"validate", "-f", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            path + ": Cluster \"demo\" is invalid:\n" +
                "  spec.controlPlane.etcd.replicas: Invalid value: 2: must be 1, 3 or 5\n" +
                "  spec.network.podCIDR: Invalid value: \"10.96.0.0/16\": must not overlap with "
                "spec.network.serviceCIDR (10.96.0.0/12)\n");
}

TEST(CliTest, ValidateJsonReport) {
  auto r = runHerd(
      {"validate", "-o", "json", "-f", "-"},
      "apiVersion: herd.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: x\nspec:\n  bogus: 1\n");
  EXPECT_EQ(r.exit_code, 1);
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["valid"], false);
  EXPECT_EQ(j[0]["errors"][0]["field"], "spec.bogus");
  EXPECT_EQ(j[0]["errors"][0]["message"], "unknown field \"spec.bogus\"");
}

TEST(CliTest, ValidateMissingFileAndEmptyInput) {
  auto missing = runHerd({"validate", "-f", "/nonexistent.yaml"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "/nonexistent.yaml: open /nonexistent.yaml: No such file or directory\n");
  auto empty = runHerd({"validate", "-f", "-"}, "");
  EXPECT_EQ(empty.exit_code, 1);
  EXPECT_EQ(empty.err, "<stdin>: no Cluster object found\n");
}

TEST(CliTest, UsageErrorsExitWithTwo) {
  EXPECT_EQ(runHerd({}).exit_code, 2);
  EXPECT_EQ(runHerd({"create", "cluster"}).exit_code, 2);
  EXPECT_EQ(runHerd({"create", "cluster", "x", "-o", "xml"}).exit_code, 2);
  EXPECT_EQ(runHerd({"validate"}).exit_code, 2);
  auto r = runHerd({"no-such-command"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("herd --help"), std::string::npos);
}

TEST(CliTest, HelpEverywhereExitsZero) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--help"},
                                                                {"version", "--help"},
                                                                {"create", "--help"},
                                                                {"create", "cluster", "--help"},
                                                                {"validate", "--help"},
                                                                {"crd", "--help"}}) {
    auto r = runHerd(args);
    EXPECT_EQ(r.exit_code, 0) << args[0];
    EXPECT_NE(r.out.find("Usage:"), std::string::npos) << args[0] << ": " << r.out;
  }
  EXPECT_NE(runHerd({"create", "cluster", "--help"}).out.find("--etcd-replicas"),
            std::string::npos);
}

TEST(CliTest, CrdPrintsTheDeployedDefinition) {
  auto r = runHerd({"crd"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out,
            testing::readFileOrDie(testing::sourceDir() + "/deploy/crds/herd.io_clusters.yaml"));
}

}  // namespace
}  // namespace herd
