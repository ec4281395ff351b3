// The controller-manager and scheduler stand-ins hold to the real binaries' command lines
// (recorded --help) and do what herd observes of the real ones: the leader Lease on the tenant
// API and the health endpoints. Run against the fake apiserver, or a real one under
// HERD_KUBE_BIN.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "command_line.h"
#include "common/files.h"
#include "common/process.h"
#include "kube/client.h"
#include "kube/transport.h"
#include "support/test_apiserver.h"
#include "support/test_env.h"

namespace herd::standins {
namespace {

using namespace std::chrono_literals;

std::map<std::string, FlagSpec> recordedFlags(const std::string& binary) {
  return parseHelp(herd::testing::readFileOrDie(
      fmt::format("{}/kubernetes/flags/{}-help.txt", HERD_STANDIN_SHARED_DIR, binary)));
}

TEST(CommandLineTest, ReadsTheRecordedHelpWithTypes) {
  auto flags = recordedFlags("kube-controller-manager");
  EXPECT_GT(flags.size(), 100u);
  EXPECT_EQ(flags.at("kubeconfig").type, "string");
  EXPECT_EQ(flags.at("leader-elect").type, "");
  EXPECT_EQ(flags.at("secure-port").type, "int");
  EXPECT_EQ(flags.at("leader-elect-lease-duration").type, "duration");
  EXPECT_EQ(flags.at("bind-address").type, "ip");
  EXPECT_FALSE(flags.contains("etcd-servers")) << "an apiserver flag";
}

TEST(CommandLineTest, ParsesAsPflagDoesAndRefusesWhatItRefuses) {
  auto flags = recordedFlags("kube-scheduler");
  auto ok = parseCommandLine(
      {"--kubeconfig", "/k.conf", "--leader-elect", "--secure-port=10300", "--v=2"}, flags);
  ASSERT_TRUE(ok.isOk()) << ok.status().message();
  EXPECT_EQ(ok->getOr("kubeconfig", ""), "/k.conf");
  EXPECT_EQ(ok->getOr("leader-elect", ""), "true");
  EXPECT_EQ(ok->getOr("secure-port", ""), "10300");

  struct Case {
    std::vector<std::string> args;
    std::string error;
  } cases[] = {
      {{"--no-such-flag=1"}, "unknown flag: --no-such-flag"},
      {{"--cluster-signing-cert-file=/ca.crt"}, "unknown flag: --cluster-signing-cert-file"},
      {{"--secure-port=ten"}, "invalid argument \"ten\" for \"--secure-port\""},
      {{"--leader-elect=maybe"}, "invalid argument \"maybe\" for \"--leader-elect\""},
      {{"--leader-elect-lease-duration=15"}, "missing unit"},
      {{"--bind-address=localhost"}, "failed to parse IP"},
      {{"--kubeconfig"}, "flag needs an argument: --kubeconfig"},
      {{"kubeconfig=/k"}, "unexpected argument"},
  };
  for (const auto& c : cases) {
    auto got = parseCommandLine(c.args, flags);
    ASSERT_FALSE(got.isOk()) << c.args[0];
    EXPECT_NE(got.status().message().find(c.error), std::string::npos)
        << c.args[0] << ": " << got.status().message();
  }
}

TEST(CommandLineTest, GoDurations) {
  EXPECT_EQ(parseGoDuration("15s").valueOr(-1), 15000);
  EXPECT_EQ(parseGoDuration("1m30s").valueOr(-1), 90000);
  EXPECT_EQ(parseGoDuration("300ms").valueOr(-1), 300);
  EXPECT_EQ(parseGoDuration("1.5h").valueOr(-1), 5400000);
  EXPECT_EQ(parseGoDuration("0").valueOr(-1), 0);
  for (std::string bad : {"", "15", "s", "1x", "1m30"}) {
    EXPECT_FALSE(parseGoDuration(bad).isOk()) << bad;
  }
}

std::string standin(const std::string& binary) {
  return fmt::format("{}/{}", HERD_STANDIN_DIR, binary);
}

TEST(StandinTest, RefusesWhatTheRealBinaryRefusesAndSaysWhy) {
  auto unknown = runCommand({standin("kube-scheduler"), "--etcd-servers=https://x"});
  ASSERT_TRUE(unknown.isOk());
  EXPECT_EQ(unknown->exit_code, 1);
  EXPECT_NE(unknown->err.find("unknown flag: --etcd-servers"), std::string::npos) << unknown->err;
  auto missing = runCommand({standin("kube-controller-manager"), "--kubeconfig=/nonexistent.conf"});
  ASSERT_TRUE(missing.isOk());
  EXPECT_EQ(missing->exit_code, 1);
  EXPECT_NE(missing->err.find("/nonexistent.conf: no such file"), std::string::npos)
      << missing->err;
  auto version = runCommand({standin("kube-scheduler"), "--version"});
  ASSERT_TRUE(version.isOk());
  EXPECT_EQ(version->exit_code, 0);
  EXPECT_TRUE(version->out.starts_with("Kubernetes v1.")) << version->out;
}

class StandinServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto api = herd::testing::TestApiServer::start();
    ASSERT_TRUE(api.isOk()) << api.status().message();
    api_ = std::move(*api);
    std::cerr << "tenant API: " << api_->describe() << "\n";
    auto client = kube::Client::create(api_->adminConfig());
    ASSERT_TRUE(client.isOk());
    client_ = std::move(*client);
  }
  Result<Process> start(const std::string& binary, int port) {
    ProcessOptions options;
    options.stderr_path = dir_.file(fmt::format("{}-{}.log", binary, port));
    return Process::spawn({standin(binary), "--kubeconfig=" + api_->kubeconfigPath(),
                           "--bind-address=127.0.0.1", fmt::format("--secure-port={}", port),
                           "--leader-elect=true", "--leader-elect-lease-duration=2s",
                           "--leader-elect-renew-deadline=1s", "--leader-elect-retry-period=200ms"},
                          options);
  }
  std::string holder(const std::string& lease) {
    auto got = client_->get(kube::leasesResource(), "kube-system", lease);
    if (!got.isOk()) return "";
    return got->value("/spec/holderIdentity"_json_pointer, std::string());
  }
  std::unique_ptr<herd::testing::TestApiServer> api_;
  std::unique_ptr<kube::Client> client_;
  herd::testing::TempDir dir_;
};

TEST_F(StandinServerTest, ServesHealthOverHttpsAndHoldsTheLease) {
  int port = herd::testing::freeLoopbackPort();
  auto p = start("kube-controller-manager", port);
  ASSERT_TRUE(p.isOk()) << p.status().message();
  ASSERT_TRUE(
      herd::testing::eventually([&] { return !holder("kube-controller-manager").empty(); }, 20s));
  EXPECT_NE(holder("kube-controller-manager").find(fmt::format("_{}", p->pid())),
            std::string::npos);
  kube::RestConfig health;
  health.server = fmt::format("https://127.0.0.1:{}", port);
  health.insecure_skip_tls_verify = true;
  auto transport = kube::makeTransport(health);
  ASSERT_TRUE(transport.isOk());
  auto reply =
      (*transport)
          ->roundTrip({.method = "GET", .target = "/healthz", .headers = {}, .body = ""}, 5s);
  ASSERT_TRUE(reply.isOk()) << reply.status().message();
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, "ok");
  EXPECT_EQ(p->stop(), 0) << "SIGTERM is a clean stop";
}

TEST_F(StandinServerTest, ASecondReplicaTakesOverWhenTheLeaderIsKilled) {
  auto a = start("kube-scheduler", herd::testing::freeLoopbackPort());
  ASSERT_TRUE(a.isOk());
  ASSERT_TRUE(herd::testing::eventually([&] { return !holder("kube-scheduler").empty(); }, 20s));
  auto b = start("kube-scheduler", herd::testing::freeLoopbackPort());
  ASSERT_TRUE(b.isOk());
  std::this_thread::sleep_for(1s);
  std::string first = holder("kube-scheduler");
  ASSERT_NE(first.find(fmt::format("_{}", a->pid())), std::string::npos) << first;
  ASSERT_TRUE(a->signal(SIGKILL).isOk());
  a->wait();
  EXPECT_TRUE(herd::testing::eventually(
      [&] {
        return holder("kube-scheduler").find(fmt::format("_{}", b->pid())) != std::string::npos;
      },
      20s))
      << holder("kube-scheduler");
}

}  // namespace
}  // namespace herd::standins
