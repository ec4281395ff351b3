#include "provider/local/tenant_state.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <vector>

#include "common/files.h"
#include "common/net.h"
#include "common/unique_fd.h"

namespace herd::provider::local {
namespace {

constexpr std::string_view kPortsFile = "ports.json";

// A cluster or member name becomes a directory: only DNS-label characters, never "..".
bool isSafeName(const std::string& name) {
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.front() == '-') return false;
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.')) {
      return false;
    }
  }
  return name.find("..") == std::string::npos;
}

Result<std::map<std::string, int>> readPorts(const std::string& path) {
  std::map<std::string, int> ports;
  if (!files::exists(path)) return ports;
  auto text = files::read(path);
  if (!text.isOk()) return text.status();
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  if (!doc.is_object()) return Status::invalid(fmt::format("{}: not a JSON object", path));
  for (const auto& [name, port] : doc.items()) {
    if (!port.is_number_integer() || port.get<int>() < 1 || port.get<int>() > 65535) {
      return Status::invalid(fmt::format("{}: port \"{}\" is not a port number", path, name));
    }
    ports[name] = port.get<int>();
  }
  return ports;
}

// Whether nothing listens on address:port now (a bind succeeds).
bool canBind(const std::string& address, int port) {
  auto ip = net::IpAddress::parse(address);
  if (!ip) return false;
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (ip->isV4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, address.c_str(), &sin->sin_addr);
    len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET6, address.c_str(), &sin6->sin6_addr);
    len = sizeof(sockaddr_in6);
  }
  UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return false;
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0;
}

}  // namespace

Result<TenantState> TenantState::open(const std::string& root, const std::string& cluster) {
  if (!isSafeName(cluster)) {
    return Status::invalid(fmt::format("\"{}\" is not a cluster name", cluster));
  }
  HERD_RETURN_IF_ERROR(files::makeDirs(root, 0700));
  TenantState state(root, root + "/" + cluster);
  HERD_RETURN_IF_ERROR(files::makeDirs(state.dir_, 0700));
  // makeDirs leaves an existing directory's mode alone: a tenant's home is private.
  if (::chmod(state.dir_.c_str(), 0700) != 0) return Status::ioError("chmod " + state.dir_, errno);
  HERD_RETURN_IF_ERROR(state.loadPorts());
  return state;
}

Result<std::string> TenantState::memberDir(const std::string& member) const {
  if (!isSafeName(member))
    return Status::invalid(fmt::format("\"{}\" is not a member name", member));
  std::string dir = dir_ + "/" + member;
  HERD_RETURN_IF_ERROR(files::makeDirs(dir, 0700));
  return dir;
}

Result<pki::PkiFiles> TenantState::loadCredentials() const {
  pki::PkiFiles out;
  for (const std::string& rel : pki::layout::allPaths()) {
    std::string path = dir_ + "/" + rel;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;
      return Status::ioError("reading " + path, errno);
    }
    auto data = files::read(path);
    if (!data.isOk()) return data.status();
    out[rel] = pki::PkiFile{*data, static_cast<unsigned>(st.st_mode & 0777)};
  }
  return out;
}

Status TenantState::storeCredentials(const pki::PkiFiles& set) const {
  // One file at a time, so in the order that leaves a set the next reconcile can complete.
  std::vector<std::pair<const std::string*, const pki::PkiFile*>> ordered;
  for (const auto& [rel, file] : set) ordered.emplace_back(&rel, &file);
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    return pki::layout::storeRank(*a.first) < pki::layout::storeRank(*b.first);
  });
  for (const auto& [rel_ptr, file_ptr] : ordered) {
    const std::string& rel = *rel_ptr;
    const pki::PkiFile& file = *file_ptr;
    if (rel.empty() || rel.front() == '/' || rel.find("..") != std::string::npos) {
      return Status::invalid(fmt::format("\"{}\" is not a path of the PKI layout", rel));
    }
    std::string path = dir_ + "/" + rel;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 0777) == file.mode) {
      auto current = files::read(path);
      if (current.isOk() && *current == file.data) continue;
    }
    HERD_RETURN_IF_ERROR(files::makeDirs(std::filesystem::path(path).parent_path().string(), 0700));
    HERD_RETURN_IF_ERROR(files::writeAtomic(path, file.data, file.mode));
  }
  return Status::ok();
}

Status TenantState::loadPorts() {
  auto ports = readPorts(dir_ + "/" + std::string(kPortsFile));
  if (!ports.isOk()) return ports.status();
  ports_ = std::move(*ports);
  return Status::ok();
}

Result<int> TenantState::port(const std::string& name, const std::string& address,
                              PortRange range) {
  if (auto it = ports_.find(name); it != ports_.end()) return it->second;
  std::set<int> taken;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root_, ec)) {
    auto theirs = readPorts(entry.path().string() + "/" + std::string(kPortsFile));
    if (!theirs.isOk()) continue;  // another tenant's damaged file: its own reconcile reports it
    for (const auto& [n, p] : *theirs) taken.insert(p);
  }
  for (const auto& [n, p] : ports_) taken.insert(p);
  const int size = range.last - range.first + 1;
  const int offset =
      size > 0 ? static_cast<int>(std::hash<std::string>{}(root_) % static_cast<size_t>(size)) : 0;
  for (int i = 0; i < size; ++i) {
    const int p = range.first + (offset + i) % size;
    if (taken.contains(p) || !canBind(address, p)) continue;
    ports_[name] = p;
    HERD_RETURN_IF_ERROR(savePorts());
    return p;
  }
  return Status::resourceExhausted(fmt::format("no free port left in {}-{} on {} for {}",
                                               range.first, range.last, address, name));
}

Status TenantState::savePorts() const {
  nlohmann::json doc(ports_);
  return files::writeAtomic(dir_ + "/" + std::string(kPortsFile), doc.dump(2) + "\n", 0600);
}

Result<TenantState::TakenPorts> TenantState::releaseTakenPorts(
    const std::string& address, const std::function<bool(const std::string&)>& ours) {
  TakenPorts out;
  for (auto it = ports_.begin(); it != ports_.end();) {
    const auto& [name, p] = *it;
    const std::string member = name.substr(0, name.rfind('.'));
    if (canBind(address, p) || ours(member)) {
      ++it;
    } else if (name.ends_with(".peer")) {
      out.kept.emplace_back(name, p);
      ++it;
    } else {
      out.released.emplace_back(name, p);
      it = ports_.erase(it);
    }
  }
  if (!out.released.empty()) HERD_RETURN_IF_ERROR(savePorts());
  return out;
}

Status TenantState::remove() const {
  return files::removeAll(dir_);
}

}  // namespace herd::provider::local
