#include "support/test_env.h"

#include <gtest/gtest.h>
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

}  // namespace herd::testing
