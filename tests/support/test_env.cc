#include "support/test_env.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/files.h"

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
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "cannot find a free loopback port";
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
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

}  // namespace herd::testing
