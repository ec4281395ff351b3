// The local provider with the real renderer, the tenant's real PKI and real etcd (Debian's
// etcd-server) as three TLS members on loopback, checked with real etcdctl.
#include "provider/local/local_provider.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "api/defaults.h"
#include "common/files.h"
#include "common/process.h"
#include "pki/tenant_pki.h"
#include "render/render.h"
#include "support/test_env.h"

namespace herd::provider::local {
namespace {

using namespace std::chrono_literals;

std::string which(const std::string& name) {
  for (const char* dir : {"/usr/local/bin", "/usr/bin", "/bin"}) {
    std::string path = std::string(dir) + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

class LocalProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (which("etcd").empty() || which("etcdctl").empty())
      GTEST_SKIP() << "etcd and etcdctl are not installed (Debian: etcd-server, etcd-client)";
    cluster_.metadata.name = "demo";
    cluster_.spec.version = "1.32";
    api::applyDefaults(cluster_);
    platform_.tunnel_connect_address = "127.0.0.1:1";
    platform_.tunnel_ca_bundle = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    LocalProviderOptions o;
    o.state_root = dir_.file("tenants");
    // A range of its own per test process, so that parallel tests do not meet.
    int base = 30000 + (::getpid() % 200) * 50;
    o.ports = {base, base + 49};
    o.binaries = [](const std::string& binary, const std::string&) -> Result<std::string> {
      if (binary == "etcd") return which("etcd");
      return Status::notFound(binary + ": not needed by this test");
    };
    o.supervisor.backoff_initial = 200ms;
    o.supervisor.grace = 5s;
    provider_ = std::make_unique<LocalProvider>(std::move(o));
    ASSERT_TRUE(provider_->ensureTenant(cluster_).isOk());
    auto pki = pki::generatePki(cluster_, {});
    ASSERT_TRUE(pki.isOk()) << pki.status().toString();
    ASSERT_TRUE(provider_->storeCredentials(cluster_, pki->files).isOk());
  }

  render::ComponentSpec etcdSpec(const api::Cluster& cluster) {
    auto topology = provider_->topology(cluster);
    EXPECT_TRUE(topology.isOk()) << topology.status().toString();
    auto specs = render::renderControlPlane(cluster, platform_, *topology);
    EXPECT_TRUE(specs.isOk()) << specs.status().toString();
    for (auto& s : *specs)
      if (s.component == render::Component::kEtcd) return s;
    ADD_FAILURE() << "no etcd spec";
    return {};
  }

  // Applies until the rollout completes; every state seen goes to `seen`.
  bool rollOut(const render::ComponentSpec& spec, std::vector<ComponentState>* seen = nullptr,
               std::chrono::milliseconds timeout = 90s) {
    return testing::eventually(
        [&] {
          auto state = provider_->applyComponent(cluster_, spec);
          EXPECT_TRUE(state.isOk()) << state.status().toString();
          if (!state) return true;
          if (seen) seen->push_back(*state);
          last_ = state->message;
          return state->rolled_out;
        },
        timeout);
  }

  // etcdctl with the apiserver's etcd client certificate against the tenant's members.
  CommandResult etcdctl(std::vector<std::string> args) {
    std::string dir = dir_.file("tenants") + "/demo";
    std::vector<std::string> argv = {which("etcdctl"),
                                     "--endpoints=" + endpoints(),
                                     "--cacert=" + dir + "/pki/etcd/ca.crt",
                                     "--cert=" + dir + "/pki/apiserver-etcd-client.crt",
                                     "--key=" + dir + "/pki/apiserver-etcd-client.key",
                                     "--command-timeout=10s"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions o;
    o.env = {"ETCDCTL_API=3"};
    auto r = runCommand(argv, {}, 30s, o);
    EXPECT_TRUE(r.isOk());
    return r ? *r : CommandResult{};
  }
  std::string endpoints() {
    auto t = provider_->topology(cluster_);
    std::string out;
    for (const auto& m : t->etcd_members) out += (out.empty() ? "" : ",") + m.client_url;
    return out;
  }

  testing::TempDir dir_;
  api::Cluster cluster_;
  render::Platform platform_;
  std::unique_ptr<LocalProvider> provider_;
  std::string last_;
};

TEST_F(LocalProviderTest, ThreeTlsEtcdMembersRunRollOneAtATimeAndLeaveNothingWhenRemoved) {
  render::ComponentSpec spec = etcdSpec(cluster_);
  ASSERT_EQ(spec.replicas, 3);
  ASSERT_TRUE(rollOut(spec)) << last_;

  // A real cluster of three, over TLS with client certificates from the tenant's etcd CA.
  auto members = etcdctl({"member", "list", "-w", "simple"});
  ASSERT_EQ(members.exit_code, 0) << members.err;
  for (const char* name : {"etcd-0", "etcd-1", "etcd-2"})
    EXPECT_NE(members.out.find(std::string(", ") + name + ", "), std::string::npos) << members.out;
  ASSERT_EQ(etcdctl({"put", "/herd/probe", "kept"}).exit_code, 0);
  // A client without a certificate is refused (client-cert auth).
  auto anonymous = runCommand({which("etcdctl"), "--endpoints=" + endpoints(),
                               "--cacert=" + dir_.file("tenants") + "/demo/pki/etcd/ca.crt",
                               "--command-timeout=5s", "get", "/herd/probe"},
                              {}, 30s, {{"ETCDCTL_API=3"}, "", "", ""});
  ASSERT_TRUE(anonymous.isOk());
  EXPECT_NE(anonymous->exit_code, 0) << anonymous->out;

  // The tenant's directory and its secrets are private.
  struct stat st{};
  ASSERT_EQ(::stat((dir_.file("tenants") + "/demo").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((dir_.file("tenants") + "/demo/etcd-1/etc/kubernetes/pki/etcd/server.key").c_str(),
                   &st),
            0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Applying the same spec again changes nothing: same processes.
  auto before = provider_->processes();
  ASSERT_TRUE(rollOut(spec));
  auto after = provider_->processes();
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(before[i].pid, after[i].pid);

  // A changed spec replaces one member at a time, never two at once: quorum holds.
  render::ComponentSpec changed = spec;
  changed.args.push_back("--heartbeat-interval=150");
  std::sort(changed.args.begin(), changed.args.end());
  std::vector<ComponentState> seen;
  ASSERT_TRUE(rollOut(changed, &seen)) << last_;
  for (const auto& s : seen) {
    EXPECT_GE(s.ready_replicas, 2) << s.message;
  }
  auto get = etcdctl({"get", "/herd/probe", "--print-value-only"});
  EXPECT_EQ(get.out, "kept\n") << get.err;
  for (const auto& p : provider_->processes()) {
    auto cmdline = processCommandLine(p.pid);
    EXPECT_NE(std::find(cmdline.begin(), cmdline.end(), "--heartbeat-interval=150"), cmdline.end())
        << p.name;
  }

  // Removing the tenant stops every member and deletes its state.
  auto pids = provider_->processes();
  auto removed = provider_->removeTenant(cluster_);
  ASSERT_TRUE(removed.isOk()) << removed.status().toString();
  EXPECT_TRUE(*removed);
  for (const auto& p : pids) EXPECT_FALSE(processStartTime(p.pid).has_value()) << p.name;
  EXPECT_FALSE(std::filesystem::exists(dir_.file("tenants") + "/demo"));
  EXPECT_TRUE(provider_->processes().empty());
}

TEST_F(LocalProviderTest, AMemberLeftRunningAnotherSpecIsStoppedBeforeItsSuccessorStarts) {
  api::Cluster single = cluster_;
  single.spec.controlPlane.etcd.replicas = 1;
  render::ComponentSpec spec = etcdSpec(single);
  ASSERT_EQ(spec.replicas, 1);
  ASSERT_TRUE(rollOut(spec)) << last_;
  pid_t first = provider_->processes().at(0).pid;
  // A herd that dies leaves its processes; the next one starts with another spec. Play it by
  // starting the member by hand from its pid file's record, as the previous herd would have
  // left it, then giving a fresh provider the changed spec.
  std::string member_dir = dir_.file("tenants") + "/demo/etcd-0";
  std::string pid_file = member_dir + "/etcd-0.pid";
  ASSERT_TRUE(files::exists(pid_file));
  // Keep the process: detach it from this provider without stopping it.
  auto cmdline = processCommandLine(first);
  ASSERT_FALSE(cmdline.empty());
  provider_->stopAll();  // the clean exit stops it; start one again as the old herd had it
  ProcessOptions o;
  o.stdout_path = member_dir + "/etcd-0.log";
  o.stderr_path = o.stdout_path;
  auto old = Process::spawn(cmdline, o);
  ASSERT_TRUE(old.isOk());
  auto start = processStartTime(old->pid());
  ASSERT_TRUE(start.has_value());
  ASSERT_TRUE(files::writeAtomic(pid_file, std::to_string(old->pid()) + " " +
                                               std::to_string(*start) + "\n")
                  .isOk());

  render::ComponentSpec changed = spec;
  changed.args.push_back("--heartbeat-interval=150");
  std::sort(changed.args.begin(), changed.args.end());
  ASSERT_TRUE(rollOut(changed)) << last_;
  // The old process was stopped (never two etcds on one data directory) and its successor
  // runs the new flags.
  EXPECT_TRUE(old->waitFor(10s).has_value()) << "the old member still runs";
  auto now = provider_->processes();
  ASSERT_EQ(now.size(), 1u);
  EXPECT_NE(now[0].pid, old->pid());
  auto args = processCommandLine(now[0].pid);
  EXPECT_NE(std::find(args.begin(), args.end(), "--heartbeat-interval=150"), args.end());
}

// Bootstrap settings are read only on an empty data directory: a member with data keeps
// running when they change, and restarts with them only once its data is gone. The settings
// herd gives a settled member (itself alone, "existing") make etcd refuse to start on lost
// data, and the provider reports the loss.
TEST_F(LocalProviderTest, BootstrapSettingsRestartNoMemberWithDataAndALostMemberIsRefusedAndSeen) {
  api::Cluster single = cluster_;
  single.spec.controlPlane.etcd.replicas = 1;
  render::ComponentSpec spec = etcdSpec(single);
  ASSERT_EQ(spec.bootstrap_env.at("etcd-0").at("ETCD_INITIAL_CLUSTER_STATE"), "new");
  ASSERT_TRUE(rollOut(spec)) << last_;
  ASSERT_EQ(etcdctl({"put", "/herd/probe", "kept"}).exit_code, 0);
  pid_t first = provider_->processes().at(0).pid;
  auto endpoints = provider_->etcdEndpoints(single);
  ASSERT_TRUE(endpoints.isOk()) << endpoints.status().toString();
  ASSERT_EQ(endpoints->size(), 1u);
  EXPECT_FALSE((*endpoints)[0].data_lost);

  render::ComponentSpec settled = spec;
  auto& env = settled.bootstrap_env["etcd-0"];
  env["ETCD_INITIAL_CLUSTER_STATE"] = "existing";
  env["ETCD_INITIAL_CLUSTER"] = "etcd-0=" + (*endpoints)[0].peer_url;
  ASSERT_TRUE(rollOut(settled)) << last_;
  EXPECT_EQ(provider_->processes().at(0).pid, first) << "restarted for bootstrap settings alone";

  // The data goes and the member dies: it restarts with the settled settings and refuses.
  std::filesystem::remove_all(dir_.file("tenants") + "/demo/etcd-0/var/lib/etcd/member");
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(testing::eventually(
      [&] {
        auto s = provider_->processes().at(0);
        return s.restarts >= 2 && s.last_exit == "exit code 1";
      },
      60s))
      << provider_->processes().at(0).last_exit;
  auto log = files::read(dir_.file("tenants") + "/demo/etcd-0/etcd-0.log");
  ASSERT_TRUE(log.isOk());
  EXPECT_NE(log->find("cannot fetch cluster info from peer urls"), std::string::npos);
  endpoints = provider_->etcdEndpoints(single);
  ASSERT_TRUE(endpoints.isOk());
  EXPECT_TRUE((*endpoints)[0].data_lost);
}

}  // namespace
}  // namespace herd::provider::local
