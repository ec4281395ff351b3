// A real etcd cluster (Debian's etcd-server) on loopback for tests: N members with TLS on
// client and peer traffic and client-certificate authentication, using the etcd certificates
// herd's PKI writes under <dir>/pki/etcd. Members are Processes, stopped with the cluster.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/process.h"

namespace herd::testing {

class EtcdCluster {
 public:
  struct Options {
    std::string etcd;     // the etcd binary
    std::string etcdctl;  // the etcdctl binary
    std::string dir;      // holds pki/etcd/{ca,server,peer}.{crt,key}; data and logs go here
    int members = 3;
    std::string token = "herd-test";
    std::function<int()> free_port;  // a free port on 127.0.0.1
    // etcd needs a few seconds to elect a leader on a busy 2-core CI machine; leave room.
    std::chrono::seconds start_timeout{60};
    std::vector<std::string> extra_args;  // appended to every member's command line
  };

  explicit EtcdCluster(Options options);
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // Starts the members and waits until every one is healthy; ports can be taken between
  // picking and binding when tests run in parallel, so this picks fresh ports `attempts` times.
  bool start(int attempts = 3);
  // Stops member `i` (SIGTERM, then SIGKILL) / starts it again on its ports and data.
  void stopMember(int i);
  bool restartMember(int i);
  // Kills member `i` with SIGKILL: no goodbye on its connections, as in a crash.
  void killMember(int i);
  // True once every running member reports healthy, false after `timeout`.
  bool waitHealthy(std::chrono::milliseconds timeout);

  std::vector<std::string> clientUrls() const;
  // The client URLs joined with commas, as etcdctl's --endpoints wants them.
  std::string endpoints() const;
  const std::string& dir() const { return options_.dir; }
  const Options& options() const { return options_; }

  // etcdctl against every member with the certificate pair at `cert_base` + .crt/.key and the
  // cluster's CA unless `ca` is given. exit_code is -1 when etcdctl could not be run.
  CommandResult etcdctl(const std::string& cert_base, const std::vector<std::string>& args,
                        const std::string& ca = {}) const;

 private:
  bool startOnce(int attempt);
  bool spawnMember(size_t i);

  Options options_;
  std::vector<std::optional<Process>> members_;
  std::vector<std::vector<std::string>> argv_;
  std::vector<int> client_ports_;
};

}  // namespace herd::testing
