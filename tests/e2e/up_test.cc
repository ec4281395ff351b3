// herd up, end to end: the herd binary as a user runs it, with the Kubernetes binaries of
// HERD_KUBE_BIN (real ones) or else herd's stand-ins (build/kube-standins), real etcd, real
// kubectl and etcdctl, and every tenant reached through herd's gateway on one loopback address.
//
// Each test starts one `herd up` of its own (its own state directory, the gateway on a free
// port) and shares it among as many checks as it can: starting the platform and its clusters
// is what takes the time.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "common/base64.h"
#include "common/files.h"
#include "common/net.h"
#include "common/process.h"
#include "common/socket.h"
#include "common/yaml.h"
#include "support/test_env.h"

namespace herd::e2e {
namespace {

using namespace std::chrono_literals;
using namespace std::string_view_literals;
using nlohmann::json;

constexpr std::string_view kBaseDomain = "herd.localhost";
// A cluster's way to Ready on two busy cores: three etcd members and the rest, in order.
constexpr auto kReadyTimeout = 240s;

std::string kubeBinDir() {
  if (const char* dir = std::getenv("HERD_KUBE_BIN"); dir != nullptr && *dir != '\0') return dir;
  return HERD_STANDIN_DIR;
}

bool usingStandins() {
  return kubeBinDir() == HERD_STANDIN_DIR;
}

// Two apiservers per tenant: they share the tenant's etcd (the real kube-apiserver and the
// stand-in alike), so an RBAC binding written through one is seen by the other.
constexpr int kApiserverReplicas = 2;

std::string hostname(const std::string& cluster) {
  return cluster + "." + std::string(kBaseDomain);
}

bool contains(const std::string& text, std::string_view what) {
  return text.find(what) != std::string::npos;
}

// Whether something accepts connections on 127.0.0.1:port.
bool listening(int port) {
  return net::connectTcp(net::formatHostPort("127.0.0.1", static_cast<uint16_t>(port)), 1s).isOk();
}

class UpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* binary : {"kube-apiserver", "kube-controller-manager", "kube-scheduler"}) {
      if (::access((kubeBinDir() + "/" + binary).c_str(), X_OK) != 0)
        GTEST_SKIP() << kubeBinDir() << " holds no " << binary;
    }
    for (const char* tool :
         {"/usr/bin/etcd", "/usr/bin/kubectl", "/usr/bin/etcdctl", "/usr/bin/curl"}) {
      if (::access(tool, X_OK) != 0) GTEST_SKIP() << tool << " is not installed";
    }
    std::cerr << "kubernetes binaries: " << kubeBinDir()
              << (usingStandins() ? " (the stand-ins)" : "") << "\n";
    state_ = dir_.file("state");
  }
  void TearDown() override {
    if (up_ && up_->running() && up_->signal(SIGINT).isOk()) up_->waitFor(60s);
    testing::runHerd({"down", "--state-dir", state_});
    if (HasFailure()) {
      if (const char* keep = std::getenv("HERD_E2E_KEEP"); keep != nullptr)
        (void)runCommand({"cp", "-r", dir_.path(), keep});
      auto log = files::read(log_);
      std::cerr << "--- herd up output (tail) ---\n"
                << (log ? log->substr(log->size() > 8000 ? log->size() - 8000 : 0) : "") << "\n";
    }
  }

  // Starts herd up and waits until it says it is up; the gateway's TLS port from its output.
  // Each run writes a log of its own.
  void up() {
    ProcessOptions o;
    o.stdout_path = log_ = dir_.file("up-" + std::to_string(++runs_) + ".log");
    o.stderr_path = log_;
    auto p = Process::spawn({testing::herdBinary(), "up", "--state-dir", state_, "--kube-bin",
                             kubeBinDir(), "--gateway-port", "0", "--offline"},
                            o);
    ASSERT_TRUE(p.isOk()) << p.status().toString();
    up_.emplace(std::move(*p));
    ASSERT_TRUE(testing::eventually(
        [&] {
          auto text = files::read(log_);
          return (text && contains(*text, "herd is up")) || !up_->running();
        },
        180s));
    ASSERT_TRUE(up_->running()) << "herd up exited";
    std::smatch m;
    std::string text = *files::read(log_);
    ASSERT_TRUE(std::regex_search(text, m, std::regex("gateway: TLS on 127\\.0\\.0\\.1:(\\d+)")));
    gateway_port_ = std::stoi(m[1]);
  }

  // Ctrl-C: herd up stops everything it runs and exits 0.
  void interrupt() {
    ASSERT_TRUE(up_->signal(SIGINT).isOk());
    auto code = up_->waitFor(90s);
    ASSERT_TRUE(code.has_value()) << "herd up did not stop";
    EXPECT_EQ(*code, 0);
  }

  CommandResult herd(std::vector<std::string> args) {
    args.push_back("--kubeconfig");
    args.push_back(state_ + "/kubeconfig");
    return testing::runHerd(args);
  }

  void create(const std::string& name) {
    auto r = herd({"create", "cluster", name, "--etcd-replicas", "3", "--apiserver-replicas",
                   std::to_string(kApiserverReplicas)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  json cluster(const std::string& name) {
    auto r = herd({"get", "clusters", name, "-o", "json"});
    if (r.exit_code != 0) return nullptr;
    auto j = json::parse(r.out, nullptr, false);
    return j.is_discarded() ? nullptr : j;
  }
  bool ready(const std::string& name) {
    json c = cluster(name);
    if (!c.is_object()) return false;
    for (const auto& cond : c.value("status", json::object()).value("conditions", json::array()))
      if (cond.value("type", "") == "Ready" && cond.value("status", "") == "True") return true;
    return false;
  }
  void waitReady(const std::string& name) {
    ASSERT_TRUE(testing::eventually([&] { return ready(name); }, kReadyTimeout))
        << name << ": " << cluster(name).dump();
  }
  int readyReplicas(const std::string& name, const char* component) {
    json c = cluster(name);
    if (!c.is_object()) return -1;
    json s = c.value("status", json::object()).value("components", json::object());
    return s.value(component, json::object()).value("readyReplicas", -1);
  }

  // The tenant's admin kubeconfig as `herd kubeconfig NAME` prints it.
  std::string kubeconfig(const std::string& name) {
    if (auto it = kubeconfigs_.find(name); it != kubeconfigs_.end()) return it->second;
    auto kc = herd({"kubeconfig", name});
    EXPECT_EQ(kc.exit_code, 0) << kc.err;
    return kubeconfigs_[name] = dir_.write(name + ".conf", kc.out);
  }

  // kubectl with `name`'s admin kubeconfig as printed, `flags` before the command.
  CommandResult kubectl(const std::string& name, std::vector<std::string> args,
                        std::vector<std::string> flags = {}) {
    std::vector<std::string> argv = {"/usr/bin/kubectl", "--kubeconfig", kubeconfig(name),
                                     "--request-timeout=20s"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = runCommand(argv, {}, 60s);
    EXPECT_TRUE(r.isOk());
    return r ? *r : CommandResult{};
  }

  void createNamespace(const std::string& tenant, const std::string& ns) {
    std::string manifest =
        dir_.write(tenant + "-" + ns + ".yaml",
                   "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns + "\n");
    auto r = kubectl(tenant, {"create", "-f", manifest});
    EXPECT_EQ(r.exit_code, 0) << tenant << ": " << r.err;
  }
  std::string namespaces(const std::string& tenant) {
    auto r = kubectl(tenant, {"get", "ns", "-o", "name"});
    EXPECT_EQ(r.exit_code, 0) << tenant << ": " << r.err;
    return r.out;
  }

  // etcdctl takes its TLS server name from the endpoint's host, and nothing here resolves
  // etcd.<name>.herd.localhost: each call runs in a mount namespace of its own whose
  // /etc/hosts names every tenant's etcd on loopback. That takes root.
  static bool privateHostsPossible() {
    return ::geteuid() == 0 && findExecutable("unshare").isOk();
  }

  // etcdctl at `target`'s etcd through the gateway, with `target`'s etcd CA and the etcd
  // client certificate of `holder` (both from their tenant state directories).
  CommandResult etcdctl(const std::string& holder, const std::string& target,
                        const std::string& args) {
    std::string pki = state_ + "/tenants/" + holder + "/pki";
    std::string ca = state_ + "/tenants/" + target + "/pki/etcd/ca.crt";
    std::string hosts = "127.0.0.1 localhost";
    for (const char* name : {"alpha", "beta", "gamma"}) hosts += " etcd." + hostname(name);
    std::string hosts_file = dir_.write("hosts", hosts + "\n");
    std::string command = "etcdctl --endpoints https://etcd." + hostname(target) + ":" +
                          std::to_string(gateway_port_) + " --cacert " + ca + " --cert " + pki +
                          "/apiserver-etcd-client.crt --key " + pki +
                          "/apiserver-etcd-client.key --dial-timeout 5s --command-timeout 10s " +
                          args;
    ProcessOptions env;
    env.env = {"ETCDCTL_API=3"};
    auto r = runCommand({"unshare", "--mount", "sh", "-c",
                         "mount --bind " + hosts_file + " /etc/hosts && exec " + command},
                        {}, 60s, env);
    EXPECT_TRUE(r.isOk());
    return r ? *r : CommandResult{};
  }

  // etcdctl straight at one member on loopback (its serving certificate names 127.0.0.1).
  CommandResult etcdctlAtMember(const std::string& tenant, const std::string& member,
                                const std::vector<std::string>& args) {
    std::string pki = state_ + "/tenants/" + tenant + "/pki";
    std::vector<std::string> argv = {
        "/usr/bin/etcdctl",
        "--endpoints",
        "https://127.0.0.1:" + std::to_string(tenantPorts(tenant).at(member + ".client")),
        "--cacert",
        pki + "/etcd/ca.crt",
        "--cert",
        pki + "/apiserver-etcd-client.crt",
        "--key",
        pki + "/apiserver-etcd-client.key",
        "--dial-timeout",
        "5s"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions env;
    env.env = {"ETCDCTL_API=3"};
    auto r = runCommand(argv, {}, 30s, env);
    EXPECT_TRUE(r.isOk());
    return r ? *r : CommandResult{};
  }

  // The HTTP status of a GET through the gateway by SNI, anonymous, certificate unverified:
  // 0 when nothing answered.
  int statusThroughGateway(const std::string& tenant, const std::string& path) {
    std::string host = hostname(tenant);
    std::string port = std::to_string(gateway_port_);
    auto r = runCommand(
        {"/usr/bin/curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
         "--resolve", host + ":" + port + ":127.0.0.1", "https://" + host + ":" + port + path},
        {}, 10s);
    if (!r || r->out.empty()) return 0;
    return std::atoi(r->out.c_str());
  }

  // The loopback ports the local provider allocated to the tenant ("etcd-0.client" -> port).
  std::map<std::string, int> tenantPorts(const std::string& tenant) {
    std::map<std::string, int> out;
    auto text = files::read(state_ + "/tenants/" + tenant + "/ports.json");
    if (!text) return out;
    auto j = json::parse(*text, nullptr, false);
    std::function<void(const json&)> walk = [&](const json& node) {
      if (!node.is_object()) return;
      for (const auto& [key, value] : node.items()) {
        if (value.is_number_integer()) out[key] = value.get<int>();
        walk(value);
      }
    };
    walk(j);
    return out;
  }

  // The pid a member's pid file records, 0 when there is none or it is not alive.
  pid_t memberPid(const std::string& tenant, const std::string& member) {
    auto text = files::read(state_ + "/tenants/" + tenant + "/" + member + "/" + member + ".pid");
    if (!text) return 0;
    pid_t pid = static_cast<pid_t>(std::atoi(text->c_str()));
    return pid > 0 && ::kill(pid, 0) == 0 ? pid : 0;
  }

  std::vector<std::string> processesUnder(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      std::string pid = entry.path().filename().string();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      auto cmdline = files::read("/proc/" + pid + "/cmdline");
      auto stat = files::read("/proc/" + pid + "/stat");
      if (stat && contains(*stat, ") Z ")) continue;  // a zombie runs nothing
      if (cmdline && contains(*cmdline, dir) && !contains(*cmdline, "herd\0up"sv))
        out.push_back(pid);
    }
    return out;
  }

  // Every member directory of a tenant and how many processes run in it.
  std::map<std::string, size_t> processesPerMember(const std::string& tenant) {
    std::map<std::string, size_t> out;
    std::string root = state_ + "/tenants/" + tenant;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
      if (!entry.is_directory()) continue;
      std::string member = entry.path().filename().string();
      if (member == "pki" || member == "tokens" || member == "ssh") continue;
      out[member] = processesUnder(root + "/" + member + "/").size();
    }
    return out;
  }

  testing::TempDir dir_;
  std::string state_;
  std::string log_;
  int runs_ = 0;
  std::optional<Process> up_;
  int gateway_port_ = 0;
  std::map<std::string, std::string> kubeconfigs_;
};

// Three tenants on one herd up: created with `herd create` (herd itself killed while it
// creates them), each served through the gateway by name and by its own port, isolated from
// the others, surviving the loss of an etcd member and of an apiserver, and one deleted while
// the others keep serving.
TEST_F(UpTest, ThreeClustersThroughOneGateway) {
  const std::vector<std::string> names = {"alpha", "beta", "gamma"};
  ASSERT_NO_FATAL_FAILURE(up());
  for (const auto& name : names) ASSERT_NO_FATAL_FAILURE(create(name));

  // Progress shows in `herd get clusters` while they come up; herd is killed outright
  // halfway: as soon as alpha's first etcd member runs, long before any cluster is Ready.
  std::map<std::string, std::set<std::string>> shown;
  auto watch = [&] {
    auto r = herd({"get", "clusters"});
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      // NAME VERSION PHASE ENDPOINT READY AGE: every column but the age, one space apart.
      std::istringstream columns(line);
      std::vector<std::string> cells;
      for (std::string cell; columns >> cell;) cells.push_back(cell);
      if (cells.size() < 2) continue;
      cells.pop_back();
      std::string row;
      for (const auto& cell : cells) row += (row.empty() ? "" : " ") + cell;
      for (const auto& name : names)
        if (cells[0] == name) shown[name].insert(row);
    }
  };
  ASSERT_TRUE(testing::eventually(
      [&] {
        watch();
        return memberPid("alpha", "etcd-0") != 0 || ready("alpha");
      },
      kReadyTimeout));
  ASSERT_FALSE(ready("alpha")) << "alpha was Ready before herd could be killed mid-create";
  ASSERT_EQ(::kill(up_->pid(), SIGKILL), 0);
  up_->wait();
  std::cerr << "herd up killed with clusters half made\n";
  ASSERT_NO_FATAL_FAILURE(up());
  for (const auto& name : names) {
    ASSERT_TRUE(testing::eventually(
        [&] {
          watch();
          return ready(name);
        },
        kReadyTimeout))
        << name << ": " << cluster(name).dump();
  }
  watch();
  for (const auto& name : names) {
    // Something before Ready, then Ready: the phase and the readiness change as it comes up.
    EXPECT_GE(shown[name].size(), 2u) << name;
    for (const auto& line : shown[name]) std::cerr << "  " << line << "\n";
    // The next herd up took over what the killed one started and started nothing twice.
    for (const auto& [member, count] : processesPerMember(name))
      EXPECT_EQ(count, 1u) << name << "/" << member;
  }
  EXPECT_EQ(processesPerMember("alpha").size(),
            static_cast<size_t>(3 + kApiserverReplicas + 2 + 2));

  // Each tenant, with its kubeconfig as printed, through the gateway by its name.
  for (const auto& name : names) {
    auto readyz = kubectl(name, {"get", "--raw", "/readyz"});
    EXPECT_EQ(readyz.exit_code, 0) << name << ": " << readyz.err;
    EXPECT_EQ(readyz.out, "ok") << name;
    createNamespace(name, "only-in-" + name);
  }
  for (const auto& name : names) {
    std::string listed = namespaces(name);
    for (const auto& other : names)
      EXPECT_EQ(contains(listed, "namespace/only-in-" + other + "\n"), other == name)
          << name << " lists " << listed;
  }

  // An in-tenant client: it dials the `kubernetes` Service, which herd points at the
  // gateway's address and the tenant's own port, and sends no SNI (the server name is the
  // Service's IP, which TLS never sends).
  std::map<std::string, int> tenant_port;
  for (const auto& name : names) {
    tenant_port[name] = cluster(name)["status"].value("gatewayPort", 0);
    ASSERT_GT(tenant_port[name], 0) << name;
  }
  auto endpoints =
      kubectl("alpha", {"get", "endpoints", "kubernetes", "-n", "default", "-o", "json"});
  ASSERT_EQ(endpoints.exit_code, 0) << endpoints.err;
  auto subsets = json::parse(endpoints.out, nullptr, false).value("subsets", json::array());
  ASSERT_EQ(subsets.size(), 1u) << endpoints.out;
  EXPECT_EQ(subsets[0]["addresses"][0].value("ip", ""), "127.0.0.1") << endpoints.out;
  EXPECT_EQ(subsets[0]["ports"][0].value("port", 0), tenant_port["alpha"]) << endpoints.out;
  const std::vector<std::string> in_tenant = {
      "--server", "https://127.0.0.1:" + std::to_string(tenant_port["alpha"]), "--tls-server-name",
      "10.96.0.1"};
  auto inside = kubectl("alpha", {"get", "ns", "-o", "name"}, in_tenant);
  EXPECT_EQ(inside.exit_code, 0) << inside.err;
  EXPECT_TRUE(contains(inside.out, "namespace/only-in-alpha")) << inside.out;

  // Isolation: alpha's kubeconfig aimed at beta, by beta's name or at beta's own port, is
  // refused (beta's serving certificate is not of alpha's CA), and beta's apiserver refuses
  // alpha's client certificate even from a client that trusts anything.
  auto by_name = kubectl("alpha", {"get", "ns"}, {"--tls-server-name", hostname("beta")});
  EXPECT_NE(by_name.exit_code, 0);
  EXPECT_TRUE(contains(by_name.err, "x509")) << by_name.err;
  auto by_port = kubectl("alpha", {"get", "ns"},
                         {"--server", "https://127.0.0.1:" + std::to_string(tenant_port["beta"]),
                          "--tls-server-name", "10.96.0.1"});
  EXPECT_NE(by_port.exit_code, 0);
  EXPECT_TRUE(contains(by_port.err, "x509")) << by_port.err;
  {
    auto conf = parseDocuments(testing::readFileOrDie(kubeconfig("alpha")));
    ASSERT_TRUE(conf.isOk());
    const json& user = (*conf)[0]["users"][0]["user"];
    auto cert = base64Decode(user.value("client-certificate-data", ""));
    auto key = base64Decode(user.value("client-key-data", ""));
    ASSERT_TRUE(cert.isOk() && key.isOk());
    std::string host = hostname("beta"), port = std::to_string(gateway_port_);
    auto r = runCommand(
        {"/usr/bin/curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--cert",
         dir_.write("alpha.crt", *cert), "--key", dir_.write("alpha.key", *key), "--resolve",
         host + ":" + port + ":127.0.0.1", "https://" + host + ":" + port + "/api/v1/namespaces"},
        {}, 30s);
    ASSERT_TRUE(r.isOk());
    EXPECT_EQ(r->out, "401") << "beta's apiserver answered alpha's admin with " << r->out;
  }

  // Each tenant's etcd through the gateway with its own etcd client certificate; alpha's
  // certificate at beta's etcd is refused.
  const bool private_hosts = privateHostsPossible();
  if (private_hosts) {
    for (const auto& name : names) {
      auto put = etcdctl(name, name, "put /e2e/owner " + name);
      EXPECT_EQ(put.exit_code, 0) << name << ": " << put.err;
      auto got = etcdctl(name, name, "get /e2e/owner --print-value-only");
      EXPECT_EQ(got.out, name + "\n") << name << ": " << got.err;
    }
    auto foreign = etcdctl("alpha", "beta", "get /e2e/owner --print-value-only");
    EXPECT_NE(foreign.exit_code, 0);
    EXPECT_EQ(foreign.out, "") << "beta's etcd served alpha's certificate";
  } else {
    for (const auto& name : names) {
      auto put = etcdctlAtMember(name, "etcd-0", {"put", "/e2e/owner", name});
      EXPECT_EQ(put.exit_code, 0) << name << ": " << put.err;
    }
  }

  // Faults. An etcd member of alpha killed: restarted, alpha serves throughout, the member
  // has every key again.
  pid_t etcd_pid = memberPid("alpha", "etcd-1");
  ASSERT_NE(etcd_pid, 0);
  ASSERT_EQ(::kill(etcd_pid, SIGKILL), 0);
  EXPECT_TRUE(contains(namespaces("alpha"), "namespace/only-in-alpha"));
  ASSERT_TRUE(testing::eventually(
      [&] {
        pid_t now = memberPid("alpha", "etcd-1");
        return now != 0 && now != etcd_pid && readyReplicas("alpha", "etcd") == 3;
      },
      60s))
      << cluster("alpha").dump();
  auto kept = etcdctlAtMember("alpha", "etcd-1", {"get", "/e2e/owner", "--print-value-only"});
  EXPECT_EQ(kept.out, "alpha\n") << kept.err;
  if (private_hosts) {
    EXPECT_EQ(etcdctl("alpha", "alpha", "get /e2e/owner --print-value-only").out, "alpha\n");
  }
  EXPECT_TRUE(contains(namespaces("alpha"), "namespace/only-in-alpha"));

  // An apiserver of beta killed: restarted, and beta serves again (its objects are kept where
  // the apiserver keeps them in etcd).
  pid_t api_pid = memberPid("beta", "kube-apiserver-0");
  ASSERT_NE(api_pid, 0);
  ASSERT_EQ(::kill(api_pid, SIGKILL), 0);
  ASSERT_TRUE(testing::eventually(
      [&] {
        pid_t now = memberPid("beta", "kube-apiserver-0");
        return now != 0 && now != api_pid &&
               readyReplicas("beta", "apiServer") == kApiserverReplicas;
      },
      60s))
      << cluster("beta").dump();
  EXPECT_TRUE(
      testing::eventually([&] { return statusThroughGateway("beta", "/readyz") == 200; }, 30s));
  EXPECT_TRUE(testing::eventually(
      [&] {
        return kubectl("beta", {"get", "ns"}).exit_code == 0;
      },
      60s))
      << "beta's admin is not served again after its apiserver restarted";
  // Its objects live in etcd: the restarted apiserver serves them.
  EXPECT_TRUE(contains(namespaces("beta"), "namespace/only-in-beta"));
  ASSERT_NO_FATAL_FAILURE(waitReady("beta"));

  // gamma deleted: its processes, ports, files and routes are gone, while alpha and beta
  // answer every probe through the gateway.
  auto gamma_ports = tenantPorts("gamma");
  ASSERT_FALSE(gamma_ports.empty());
  std::atomic<bool> deleting{true};
  std::atomic<int> probes{0}, failures{0};
  std::thread prober([&] {
    while (deleting) {
      for (const char* name : {"alpha", "beta"}) {
        ++probes;
        if (statusThroughGateway(name, "/readyz") != 200) ++failures;
      }
      std::this_thread::sleep_for(200ms);
    }
  });
  auto deleted = herd({"delete", "cluster", "gamma", "--wait", "--timeout", "120"});
  deleting = false;
  prober.join();
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_GT(probes.load(), 0);
  EXPECT_EQ(failures.load(), 0) << "of " << probes.load() << " probes of alpha and beta";
  EXPECT_FALSE(std::filesystem::exists(state_ + "/tenants/gamma"));
  EXPECT_TRUE(processesUnder(state_ + "/tenants/gamma/").empty());
  for (const auto& [what, port] : gamma_ports) EXPECT_FALSE(listening(port)) << what << " " << port;
  EXPECT_TRUE(testing::eventually([&] { return !listening(tenant_port["gamma"]); }, 30s))
      << "the gateway still listens on gamma's port " << tenant_port["gamma"];
  EXPECT_TRUE(
      testing::eventually([&] { return statusThroughGateway("gamma", "/readyz") == 0; }, 30s));
  EXPECT_TRUE(ready("alpha"));
  EXPECT_TRUE(ready("beta"));

  // Ctrl-C: everything stops, nothing is left running.
  ASSERT_NO_FATAL_FAILURE(interrupt());
  EXPECT_TRUE(processesUnder(state_).empty());
  if (!private_hosts)
    GTEST_SKIP() << "etcdctl through the gateway needs a private /etc/hosts (root and unshare); "
                    "everything else ran";
}

// The next herd up brings every cluster back with its PKI, ports and objects: the seed's
// Clusters and the tenant's namespace live in etcd, not in the apiservers.
TEST_F(UpTest, ClustersComeBackAfterRestart) {
  ASSERT_NO_FATAL_FAILURE(up());
  ASSERT_NO_FATAL_FAILURE(create("alpha"));
  ASSERT_NO_FATAL_FAILURE(waitReady("alpha"));
  createNamespace("alpha", "kept-across-restarts");

  ASSERT_NO_FATAL_FAILURE(interrupt());
  EXPECT_TRUE(processesUnder(state_).empty());

  ASSERT_NO_FATAL_FAILURE(up());
  ASSERT_NO_FATAL_FAILURE(waitReady("alpha"));
  EXPECT_TRUE(contains(namespaces("alpha"), "namespace/kept-across-restarts"));
}

// The README's quick start as a newcomer types it: the setup script, `herd up --demo` (with
// the state in its default place, here under a private XDG_STATE_HOME, and the gateway on its
// default port), then kubectl with the kubeconfig that `herd kubeconfig demo` prints.
TEST_F(UpTest, TheReadmesQuickStartWorksAsWritten) {
  std::string readme = testing::readFileOrDie(testing::sourceDir() + "/README.md");
  const std::string quick_start = "scripts/setup && scripts/build && build/herd up --demo";
  const std::string reach =
      "herd kubeconfig demo > demo.conf && kubectl --kubeconfig demo.conf get ns";
  ASSERT_TRUE(contains(readme, quick_start)) << "the README's quick start changed";
  ASSERT_TRUE(contains(readme, reach)) << "the README no longer says how to reach demo";
  if (listening(8443)) GTEST_SKIP() << "something else listens on 8443, herd up's default port";

  auto setup = runCommand({testing::sourceDir() + "/scripts/setup"}, {}, 600s);
  ASSERT_TRUE(setup.isOk());
  ASSERT_EQ(setup->exit_code, 0) << setup->out << setup->err;

  std::string home = dir_.file("home");
  ASSERT_TRUE(files::makeDirs(home, 0700).isOk());
  state_ = dir_.file("xdg") + "/herd";  // where TearDown's `herd down` looks
  ProcessOptions o;
  o.env = {"HOME=" + home, "XDG_STATE_HOME=" + dir_.file("xdg"),
           "KUBECONFIG=", "HERD_KUBE_BIN=" + kubeBinDir(),
           "PATH=" + std::filesystem::path(testing::herdBinary()).parent_path().string() + ":" +
               std::getenv("PATH")};
  o.stdout_path = log_ = dir_.file("demo.log");
  o.stderr_path = log_;
  o.cwd = testing::sourceDir();
  auto p = Process::spawn({testing::herdBinary(), "up", "--demo"}, o);
  ASSERT_TRUE(p.isOk()) << p.status().toString();
  up_.emplace(std::move(*p));
  ASSERT_TRUE(testing::eventually(
      [&] {
        return contains(files::read(log_).valueOr(""), "cluster demo is Ready") || !up_->running();
      },
      kReadyTimeout + 120s));
  ASSERT_TRUE(up_->running()) << "herd up --demo exited";
  std::string shown = files::read(log_).valueOr("");
  std::set<std::string> progress;
  std::istringstream lines(shown);
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("cluster demo: ")) progress.insert(line);
  EXPECT_GE(progress.size(), 3u) << "created, something on the way, Ready:\n" << shown;

  ProcessOptions shell;
  shell.env = o.env;
  shell.cwd = dir_.path();
  auto r = runCommand({"/bin/bash", "-c", reach}, {}, 60s, shell);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_TRUE(contains(r->out, "default ")) << r->out;
  ASSERT_NO_FATAL_FAILURE(interrupt());
}

}  // namespace
}  // namespace herd::e2e
