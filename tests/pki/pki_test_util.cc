#include "pki_test_util.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "api/defaults.h"
#include "common/files.h"
#include "pki/kubeconfig.h"
#include "pki/pki_store.h"

namespace herd::pki::testing {

api::Cluster testCluster(const std::string& name) {
  api::Cluster cluster;
  cluster.metadata.name = name;
  api::applyDefaults(cluster);
  return cluster;
}

PkiResult issueInto(const api::Cluster& cluster, const std::string& dir, PkiOptions options) {
  auto result = generatePki(cluster, options);
  EXPECT_TRUE(result.isOk()) << result.status().toString();
  if (!result) return {};
  auto written = writePkiDir(dir, result->files);
  EXPECT_TRUE(written.isOk()) << written.status().toString();
  return std::move(result).value();
}

CommandResult run(const std::vector<std::string>& argv, std::string_view input,
                  std::chrono::milliseconds timeout, const ProcessOptions& options) {
  auto r = runCommand(argv, input, timeout, options);
  EXPECT_TRUE(r.isOk()) << argv.front() << ": " << r.status().toString();
  return r ? *r : CommandResult{};
}

bool waitForPort(int port, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void extractKubeconfigCert(const std::string& conf, const std::string& path) {
  auto text = files::read(conf);
  ASSERT_TRUE(text.isOk()) << text.status().toString();
  auto parsed = parseKubeconfig(*text);
  ASSERT_TRUE(parsed.isOk()) << parsed.status().toString();
  ASSERT_TRUE(files::writeAtomic(path, parsed->client_cert_pem).isOk());
}

}  // namespace herd::pki::testing
