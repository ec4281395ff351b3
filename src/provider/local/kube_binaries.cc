#include "provider/local/kube_binaries.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>

#include "common/files.h"
#include "common/unique_fd.h"

namespace herd::provider::local {
namespace {

// A connection that takes longer than this to open is a dead mirror, not a slow one.
constexpr long kConnectTimeoutSeconds = 30;
// A transfer slower than 1 KiB/s for a minute has stalled; the full binaries are ~100 MB and
// must not be cut off by a total time limit on a slow link.
constexpr long kLowSpeedBytes = 1024;
constexpr long kLowSpeedSeconds = 60;
// A .sha256 file is 64 hex digits and perhaps a file name; anything much larger is not one.
constexpr size_t kMaxChecksumFileBytes = 4096;

bool isExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// "1.32.4" -> "v1.32.4". Only characters a release tag has, so a version never walks the
// cache directory or a URL path.
Result<std::string> releaseTag(const std::string& version) {
  std::string tag = version.starts_with("v") ? version : "v" + version;
  bool ok = tag.size() > 1 && std::isdigit(static_cast<unsigned char>(tag[1]));
  int dots = 0;
  for (size_t i = 1; ok && i < tag.size(); ++i) {
    char c = tag[i];
    if (c == '.') ++dots;
    ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+';
  }
  if (!ok || dots < 2) {
    return Status::invalid(
        fmt::format("Kubernetes version \"{}\": expected a release such as v1.32.4", version));
  }
  return tag;
}

void initCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;

struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// Where the bytes of one transfer go: memory (checksum files) or a file, hashed on the way.
struct Sink {
  std::string* memory = nullptr;
  size_t memory_limit = 0;
  int fd = -1;
  EVP_MD_CTX* sha = nullptr;
  int write_errno = 0;
  bool too_large = false;
};

size_t writeBody(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t n = size * count;
  if (sink->memory) {
    if (sink->memory->size() + n > sink->memory_limit) {
      sink->too_large = true;
      return 0;
    }
    sink->memory->append(data, n);
    return n;
  }
  for (size_t off = 0; off < n;) {
    ssize_t w = ::write(sink->fd, data + off, n - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      sink->write_errno = errno;
      return 0;
    }
    off += static_cast<size_t>(w);
  }
  EVP_DigestUpdate(sink->sha, data, n);
  return n;
}

struct ProgressTarget {
  const ProgressCallback* callback;
  const std::string* name;
};

int onProgress(void* user, curl_off_t total, curl_off_t done, curl_off_t, curl_off_t) {
  auto* target = static_cast<ProgressTarget*>(user);
  (*target->callback)(*target->name, static_cast<uint64_t>(done), static_cast<uint64_t>(total));
  return 0;
}

// One GET into `sink`. Errors say the URL and what went wrong in terms a user can act on.
Status fetch(const std::string& url, Sink& sink, const ProgressCallback* progress,
             const std::string& name) {
  initCurlOnce();
  CurlHandle curl(curl_easy_init());
  if (!curl) return Status::internal("libcurl could not create a handle");
  char error[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, kLowSpeedBytes);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, kLowSpeedSeconds);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "herd");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, writeBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  ProgressTarget target{progress, &name};
  if (progress && *progress) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, onProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &target);
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) return Status::ok();
  long http = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
  if (rc == CURLE_HTTP_RETURNED_ERROR) {
    if (http == 404) return Status::notFound(fmt::format("{}: HTTP 404 Not Found", url));
    return Status::unavailable(fmt::format("{}: HTTP {}", url, http));
  }
  if (sink.too_large) return Status::invalid(fmt::format("{}: the response is too large", url));
  if (sink.write_errno != 0) return Status::ioError("writing " + name, sink.write_errno);
  if (rc == CURLE_PARTIAL_FILE) {
    return Status::unavailable(
        fmt::format("{}: the transfer ended before the whole file arrived ({})", url, error));
  }
  return Status::unavailable(fmt::format("{}: {}", url, error[0] ? error : curl_easy_strerror(rc)));
}

// The digest a .sha256 file names: its first word, 64 hex digits.
Result<std::string> parseChecksum(const std::string& text, const std::string& url) {
  size_t end = 0;
  while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
  std::string digest = text.substr(0, end);
  bool hex = digest.size() == 64;
  for (char& ch : digest) {
    hex = hex && std::isxdigit(static_cast<unsigned char>(ch));
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  if (!hex) return Status::invalid(fmt::format("{}: not a SHA-256 checksum file", url));
  return digest;
}

std::string hexDigest(EVP_MD_CTX* sha) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(sha, md, &len);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

// Removes the temporary file unless the download was installed.
struct PartialFile {
  std::string path;
  ~PartialFile() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

Status syncDirectory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Status::ioError("opening " + dir, errno);
  if (::fsync(fd.get()) != 0) return Status::ioError("syncing " + dir, errno);
  return Status::ok();
}

// Downloads <base>/<tag>/bin/linux/<arch>/<name> into `dir`, verified against its .sha256.
Result<std::string> download(const std::string& tag, const std::string& name,
                             const std::string& dir, const BinaryOptions& options,
                             const std::string& arch) {
  std::string url = fmt::format("{}/{}/bin/linux/{}/{}", options.download_base, tag, arch, name);
  std::string checksum_text;
  Sink checksum_sink;
  checksum_sink.memory = &checksum_text;
  checksum_sink.memory_limit = kMaxChecksumFileBytes;
  if (Status s = fetch(url + ".sha256", checksum_sink, nullptr, name); !s.isOk()) return s;
  auto want = parseChecksum(checksum_text, url + ".sha256");
  if (!want.isOk()) return want.status();

  if (Status s = files::makeDirs(dir, 0755); !s.isOk()) return s;
  std::string final_path = dir + "/" + name;
  std::random_device random;
  PartialFile partial{fmt::format("{}/.{}.partial-{}-{:08x}", dir, name, ::getpid(), random())};
  UniqueFd fd(::open(partial.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::ioError("creating " + partial.path, errno);
  std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter> sha(EVP_MD_CTX_new());
  EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
  Sink sink;
  sink.fd = fd.get();
  sink.sha = sha.get();
  const ProgressCallback* progress = options.progress ? &options.progress : nullptr;
  if (Status s = fetch(url, sink, progress, name); !s.isOk()) return s;
  std::string got = hexDigest(sha.get());
  if (got != *want) {
    return Status::invalid(fmt::format(
        "{}: checksum mismatch (published sha256 {}, downloaded file {}); nothing was installed",
        url, *want, got));
  }
  if (::fchmod(fd.get(), 0755) != 0) return Status::ioError("chmod " + partial.path, errno);
  if (::fsync(fd.get()) != 0) return Status::ioError("syncing " + partial.path, errno);
  fd.reset();
  if (::rename(partial.path.c_str(), final_path.c_str()) != 0) {
    return Status::ioError("installing " + final_path, errno);
  }
  partial.path.clear();
  if (Status s = syncDirectory(dir); !s.isOk()) return s;
  return final_path;
}

std::string missingMessage(const std::string& name, const std::string& tag,
                           const std::string& cache, const std::string& why) {
  return fmt::format(
      "{} {} is not available: {}. Provide it in one of two ways: name a directory holding the "
      "release binaries with --kube-bin DIR (or HERD_KUBE_BIN=DIR), or put them into {} "
      "(files named kube-apiserver, kube-controller-manager, kube-scheduler, executable)",
      name, tag, why, cache);
}

}  // namespace

std::string defaultCacheDir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/herd/kubernetes";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/root") + "/.cache/herd/kubernetes";
}

std::string machineArch() {
  struct utsname u {};
  if (::uname(&u) != 0) return "amd64";
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64" || m == "arm64") return "arm64";
  if (m.starts_with("armv7")) return "arm";
  return m;  // ppc64le, s390x: the release uses the kernel's name
}

BinaryOptions binaryOptionsFromEnvironment() {
  BinaryOptions options;
  if (const char* dir = std::getenv("HERD_KUBE_BIN"); dir && *dir) options.kube_bin_dir = dir;
  options.cache_dir = defaultCacheDir();
  options.arch = machineArch();
  if (const char* path = std::getenv("PATH"); path && *path) options.path = path;
  return options;
}

Result<std::map<std::string, std::string>> ensureBinaries(const std::string& version,
                                                          const std::vector<std::string>& names,
                                                          const BinaryOptions& options) {
  auto tag = releaseTag(version);
  if (!tag.isOk()) return tag.status();
  std::string arch = options.arch.empty() ? machineArch() : options.arch;
  std::string cache = options.cache_dir.empty() ? defaultCacheDir() : options.cache_dir;
  std::string release_dir = cache + "/" + *tag;
  std::map<std::string, std::string> found;
  for (const std::string& name : names) {
    if (name.empty() || name.find('/') != std::string::npos || name.starts_with(".")) {
      return Status::invalid(fmt::format("\"{}\" is not a release binary name", name));
    }
    if (!options.kube_bin_dir.empty()) {
      std::string path = options.kube_bin_dir + "/" + name;
      if (!isExecutableFile(path)) {
        return Status::notFound(fmt::format(
            "{} is not an executable file; the directory named by --kube-bin / HERD_KUBE_BIN "
            "must hold {}",
            path, name));
      }
      found[name] = path;
      continue;
    }
    std::string cached = release_dir + "/" + name;
    if (isExecutableFile(cached)) {
      found[name] = cached;
      continue;
    }
    if (!options.allow_download) {
      return Status::notFound(missingMessage(name, *tag, release_dir, "downloads are off"));
    }
    auto fetched = download(*tag, name, release_dir, options, arch);
    if (!fetched.isOk()) {
      if (fetched.status().code() == Code::kInvalid) return fetched.status();
      return Status(fetched.status().code(),
                    missingMessage(name, *tag, release_dir,
                                   "downloading it failed: " + fetched.status().message()));
    }
    found[name] = *fetched;
  }
  return found;
}

Result<std::string> findEtcd(const BinaryOptions& options) {
  if (!options.kube_bin_dir.empty() && isExecutableFile(options.kube_bin_dir + "/etcd")) {
    return options.kube_bin_dir + "/etcd";
  }
  size_t start = 0;
  while (start <= options.path.size()) {
    size_t end = options.path.find(':', start);
    if (end == std::string::npos) end = options.path.size();
    std::string dir = options.path.substr(start, end - start);
    if (!dir.empty() && isExecutableFile(dir + "/etcd")) return dir + "/etcd";
    start = end + 1;
  }
  return Status::notFound(
      "etcd is not installed: install Debian's etcd-server (apt-get install etcd-server), or put "
      "an etcd binary into the directory named by --kube-bin / HERD_KUBE_BIN");
}

}  // namespace herd::provider::local
