#include "support/test_env.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/files.h"
#include "common/socket.h"

namespace herd::testing {

std::string sourceDir() {
  return HERD_SOURCE_DIR;
}

std::string sharedDir() {
  std::string dir = HERD_SHARED_DIR;
  return files::exists(dir + "/kubernetes") ? dir : std::string();
}

std::string herdBinary() {
  return HERD_BINARY;
}

std::string readFileOrDie(const std::string& path) {
  auto data = files::read(path);
  if (!data) {
    ADD_FAILURE() << data.status().toString();
    return {};
  }
  return *data;
}

TempDir::TempDir() {
  auto dir = files::makeTempDir("herd-test");
  if (!dir) {
    ADD_FAILURE() << dir.status().toString();
    return;
  }
  path_ = *dir;
}

TempDir::~TempDir() {
  if (!path_.empty()) (void)files::removeAll(path_);
}

std::string TempDir::write(std::string_view name, std::string_view content) const {
  std::string p = file(name);
  Status s = files::writeAtomic(p, content, 0644);
  if (!s) ADD_FAILURE() << s.toString();
  return p;
}

int freeLoopbackPort() {
  auto port = findFreeLoopbackPort();
  if (!port) {
    ADD_FAILURE() << "cannot find a free loopback port: " << port.status().toString();
    return 0;
  }
  return *port;
}

CommandResult runHerd(const std::vector<std::string>& args, std::string_view input) {
  std::vector<std::string> argv{herdBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runCommand(argv, input, std::chrono::seconds(60));
  if (!r) {
    ADD_FAILURE() << "running herd: " << r.status().toString();
    return {};
  }
  return *r;
}

std::string httpOnLoopback(int port, const std::string& target, const std::string& method) {
  auto fd = net::connectTcp("127.0.0.1:" + std::to_string(port), std::chrono::seconds(5));
  if (!fd) return "";
  ::fcntl(fd->get(), F_SETFL, ::fcntl(fd->get(), F_GETFL) & ~O_NONBLOCK);
  timeval timeout{10, 0};
  ::setsockopt(fd->get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (!net::writeAll(fd->get(), request)) return "";
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd->get(), buffer, sizeof buffer)) > 0;) response.append(buffer, n);
  return response;
}

std::string statusLineOf(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

std::string bodyOf(const std::string& response) {
  auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

}  // namespace herd::testing
