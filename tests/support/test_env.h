// Helpers shared by herd's tests: where the sources, the shared reference data and the built
// herd binary are; scratch directories that clean up after themselves; running herd.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/process.h"
#include "free_port.h"

namespace herd::testing {

std::string sourceDir();
// ../shared beside the repository: recorded Kubernetes data. Empty if it is not there.
std::string sharedDir();
std::string herdBinary();
std::string readFileOrDie(const std::string& path);

// A private directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  // Writes `content` to file(name) and returns its path.
  std::string write(std::string_view name, std::string_view content) const;

 private:
  std::string path_;
};

// Waits until `predicate` holds, polling every 50 ms, for at most `timeout`; whether it did.
template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return predicate();
}

// findFreeLoopbackPort() (free_port.h), failing the test (and returning 0) when there is none.
int freeLoopbackPort();

// Runs the built herd binary with `args`, feeding `input` on standard input.
CommandResult runHerd(const std::vector<std::string>& args, std::string_view input = {});

}  // namespace herd::testing
