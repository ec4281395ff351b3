#include "support/etcd_cluster.h"

#include <csignal>
#include <thread>

namespace herd::testing {

EtcdCluster::EtcdCluster(Options options) : options_(std::move(options)) {}

EtcdCluster::~EtcdCluster() {
  for (auto& member : members_) {
    if (member) member->stop();
  }
}

bool EtcdCluster::start(int attempts) {
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (startOnce(attempt)) return true;
  }
  return false;
}

bool EtcdCluster::startOnce(int attempt) {
  for (auto& member : members_) {
    if (member) member->stop();
  }
  members_.clear();
  argv_.clear();
  client_ports_.clear();
  const auto n = static_cast<size_t>(options_.members);
  std::vector<int> peer_ports;
  for (size_t i = 0; i < n; ++i) {
    client_ports_.push_back(options_.free_port());
    peer_ports.push_back(options_.free_port());
  }
  auto peer = [&](size_t i) { return "https://127.0.0.1:" + std::to_string(peer_ports[i]); };
  std::string initial;
  for (size_t i = 0; i < n; ++i) {
    initial += (i ? "," : "") + ("etcd-" + std::to_string(i) + "=" + peer(i));
  }
  const std::string pki = options_.dir + "/pki/etcd/";
  for (size_t i = 0; i < n; ++i) {
    std::string name = "etcd-" + std::to_string(i);
    std::string client = "https://127.0.0.1:" + std::to_string(client_ports_[i]);
    std::string data = options_.dir + "/data-" + std::to_string(attempt) + "-" + name;
    argv_.push_back({options_.etcd,
                     "--name",
                     name,
                     "--data-dir",
                     data,
                     "--listen-client-urls",
                     client,
                     "--advertise-client-urls",
                     client,
                     "--listen-peer-urls",
                     peer(i),
                     "--initial-advertise-peer-urls",
                     peer(i),
                     "--initial-cluster",
                     initial,
                     "--initial-cluster-state",
                     "new",
                     "--initial-cluster-token",
                     options_.token,
                     "--cert-file",
                     pki + "server.crt",
                     "--key-file",
                     pki + "server.key",
                     "--client-cert-auth",
                     "--trusted-ca-file",
                     pki + "ca.crt",
                     "--peer-cert-file",
                     pki + "peer.crt",
                     "--peer-key-file",
                     pki + "peer.key",
                     "--peer-client-cert-auth",
                     "--peer-trusted-ca-file",
                     pki + "ca.crt",
                     "--log-level",
                     "warn",
                     "--logger",
                     "zap"});
    argv_.back().insert(argv_.back().end(), options_.extra_args.begin(), options_.extra_args.end());
    members_.emplace_back();
    if (!spawnMember(i)) return false;
  }
  return waitHealthy(options_.start_timeout);
}

bool EtcdCluster::spawnMember(size_t i) {
  ProcessOptions options;
  options.stderr_path = options_.dir + "/etcd-" + std::to_string(i) + ".log";
  auto member = Process::spawn(argv_[i], options);
  if (!member) return false;
  members_[i] = std::move(*member);
  return true;
}

void EtcdCluster::stopMember(int i) {
  auto& member = members_[static_cast<size_t>(i)];
  if (member) member->stop();
  member.reset();
}

void EtcdCluster::killMember(int i) {
  auto& member = members_[static_cast<size_t>(i)];
  if (!member) return;
  (void)member->signal(SIGKILL);
  member->wait();
  member.reset();
}

bool EtcdCluster::restartMember(int i) {
  stopMember(i);
  return spawnMember(static_cast<size_t>(i));
}

bool EtcdCluster::waitHealthy(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string healthcheck = options_.dir + "/pki/etcd/healthcheck-client";
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto& member : members_) {
      if (member && !member->running()) return false;
    }
    // --cluster asks every member the cluster lists; only meaningful with all of them up.
    bool all_up = true;
    for (auto& member : members_) all_up = all_up && member.has_value();
    std::vector<std::string> args{"endpoint", "health"};
    if (all_up) args.push_back("--cluster");
    if (etcdctl(healthcheck, args).exit_code == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return false;
}

std::vector<std::string> EtcdCluster::clientUrls() const {
  std::vector<std::string> out;
  for (int port : client_ports_) out.push_back("https://127.0.0.1:" + std::to_string(port));
  return out;
}

std::string EtcdCluster::endpoints() const {
  std::string out;
  for (const auto& url : clientUrls()) out += (out.empty() ? "" : ",") + url;
  return out;
}

CommandResult EtcdCluster::etcdctl(const std::string& cert_base,
                                   const std::vector<std::string>& args,
                                   const std::string& ca) const {
  std::vector<std::string> argv{options_.etcdctl,
                                "--endpoints=" + endpoints(),
                                "--cacert=" + (ca.empty() ? options_.dir + "/pki/etcd/ca.crt" : ca),
                                "--cert=" + cert_base + ".crt",
                                "--key=" + cert_base + ".key",
                                "--dial-timeout=3s",
                                "--command-timeout=5s"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions options;
  options.env = {"ETCDCTL_API=3"};
  auto result = runCommand(argv, {}, std::chrono::seconds(30), options);
  if (!result) {
    CommandResult failed;
    failed.exit_code = -1;
    failed.err = result.status().toString();
    return failed;
  }
  return *result;
}

}  // namespace herd::testing
