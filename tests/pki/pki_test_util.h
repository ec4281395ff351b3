// Shared by the PKI tests: a defaulted test Cluster, a PKI written to a scratch directory,
// free loopback ports (from support/test_env.h) and bounded waits for the real servers (etcd, sshd,
// openssl s_server) the tests start.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "api/cluster.h"
#include "common/process.h"
#include "pki/tenant_pki.h"
#include "support/test_env.h"

namespace herd::pki::testing {

// A defaulted Cluster named `name` under herd.localhost.
api::Cluster testCluster(const std::string& name);
// Issues `cluster`'s PKI (ECDSA unless told) and writes it under `dir`.
PkiResult issueInto(const api::Cluster& cluster, const std::string& dir, PkiOptions options = {});
// Runs a command, failing the test if it cannot be started or times out.
CommandResult run(const std::vector<std::string>& argv, std::string_view input = {},
                  std::chrono::milliseconds timeout = std::chrono::seconds(60),
                  const ProcessOptions& options = {});
using herd::testing::freeLoopbackPort;
// True once something accepts TCP connections on 127.0.0.1:port, false after `timeout`.
bool waitForPort(int port, std::chrono::milliseconds timeout);
// The certificate inside a kubeconfig, written to `path` as PEM.
void extractKubeconfigCert(const std::string& conf, const std::string& path);

}  // namespace herd::pki::testing
