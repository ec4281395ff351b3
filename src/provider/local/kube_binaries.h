// Finding, and when needed fetching, the Kubernetes binaries that the local provider runs for
// one release: kube-apiserver, kube-controller-manager, kube-scheduler (and kubectl for
// `herd up`), the way kind and k0s users expect.
//
// Each binary is looked up, in order, in:
//   1. the directory the user named (`--kube-bin DIR`, or the environment variable
//      HERD_KUBE_BIN): when named, it is the only source, and a missing binary is an error;
//   2. the cache, $XDG_CACHE_HOME/herd/kubernetes/vX.Y.Z/ (~/.cache/... without XDG);
//   3. the official release download, <base>/vX.Y.Z/bin/linux/<arch>/<name>, checked against
//      the published <name>.sha256 and installed into the cache atomically: the bytes go to
//      a temporary file beside the final one, are hashed as they arrive, fsynced, and renamed
//      into place only when the digest matches; on any failure the temporary file is removed,
//      so the cache holds complete, verified binaries or nothing.
// etcd is not a Kubernetes release binary: it comes from the named directory when it holds
// one, else from the machine (Debian's etcd-server installs /usr/bin/etcd).
//
// Downloads use libcurl (HTTPS with the system's CA store, redirects followed: dl.k8s.io
// redirects to its CDN). Stateless apart from the files it writes; thread-safe for different
// cache directories.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace herd::provider::local {

// The official release location; a mirror (air-gapped installs) has the same layout.
inline constexpr std::string_view kDefaultDownloadBase = "https://dl.k8s.io/release";
// The control-plane binaries of one release, as their release file names.
inline constexpr std::string_view kControlPlaneBinaries[] = {
    "kube-apiserver", "kube-controller-manager", "kube-scheduler"};

// Called as a download progresses: the binary, bytes so far, and the total (0 when unknown).
using ProgressCallback =
    std::function<void(const std::string& name, uint64_t done, uint64_t total)>;

struct BinaryOptions {
  std::string kube_bin_dir;  // --kube-bin / HERD_KUBE_BIN; empty: not named
  std::string cache_dir;     // the cache root (…/herd/kubernetes); see defaultCacheDir()
  std::string download_base = std::string(kDefaultDownloadBase);
  std::string arch;  // "amd64", "arm64"; empty: this machine's
  bool allow_download = true;
  ProgressCallback progress;
  // The PATH to search for etcd when the named directory has none.
  std::string path = "/usr/local/bin:/usr/bin:/bin";
};

// $XDG_CACHE_HOME/herd/kubernetes, else $HOME/.cache/herd/kubernetes.
std::string defaultCacheDir();
// The Kubernetes architecture name of this machine ("amd64" for x86_64, "arm64" for aarch64).
std::string machineArch();
// Options filled from the environment: HERD_KUBE_BIN, the default cache, this machine's arch.
BinaryOptions binaryOptionsFromEnvironment();

// Absolute paths of the named binaries of release `version` ("v1.32.4" or "1.32.4"),
// fetching what is missing. Fails with NotFound naming what is missing and the two ways to
// provide it, or with the reason a download was refused (checksum mismatch, HTTP status,
// truncated transfer).
Result<std::map<std::string, std::string>> ensureBinaries(const std::string& version,
                                                          const std::vector<std::string>& names,
                                                          const BinaryOptions& options);

// etcd: from the named directory, else the PATH.
Result<std::string> findEtcd(const BinaryOptions& options);

}  // namespace herd::provider::local
