// What identifies one version of a file that the gateway polls for changes (its --config):
// size and nanosecond mtime catch in-place writes; inode and device catch the rename and
// symlink swaps with which editors and Kubernetes (a mounted ConfigMap) replace it. Polling a
// stamp rather than inotify on purpose: it follows those swaps, and costs one stat() per poll.
// Value type; thread-safe.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>

namespace herd::gateway {

struct FileStamp {
  bool present = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

// The stamp of `path` as stat() follows it; not present when it cannot be read.
inline FileStamp stampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {true, st.st_dev, st.st_ino, st.st_size,
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

}  // namespace herd::gateway
