#include "tenant_server.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "common/socket.h"
#include "memory_tenants.h"

namespace herd::bench {
namespace {

bool readFull(int fd, void* to, size_t size) {
  auto* p = static_cast<char*>(to);
  while (size > 0) {
    ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool writeFull(int fd, const std::string& data) {
  const char* p = data.data();
  size_t size = data.size();
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// A frame: a count of fields, then each field as its length and its bytes.
std::string frame(const std::vector<std::string_view>& fields) {
  std::string out;
  auto put = [&](uint32_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(static_cast<uint32_t>(fields.size()));
  for (auto f : fields) {
    put(static_cast<uint32_t>(f.size()));
    out.append(f);
  }
  return out;
}

bool readFrame(int fd, std::vector<std::string>& fields) {
  uint32_t count = 0;
  if (!readFull(fd, &count, sizeof count) || count > 16) return false;
  fields.assign(count, {});
  for (auto& f : fields) {
    uint32_t size = 0;
    if (!readFull(fd, &size, sizeof size)) return false;
    f.resize(size);
    if (size > 0 && !readFull(fd, f.data(), size)) return false;
  }
  return true;
}

class Tenants {
 public:
  std::shared_ptr<MemoryTenantApi> of(const std::string& tenant) {
    std::lock_guard lock(mu_);
    auto& slot = apis_[tenant];
    if (!slot) slot = std::make_shared<MemoryTenantApi>();
    return slot;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<MemoryTenantApi>> apis_;
};

void serveConnection(int fd, Tenants& tenants) {
  std::vector<std::string> fields;
  while (readFrame(fd, fields) && fields.size() == 4) {
    kube::HttpRequest request;
    request.method = std::move(fields[1]);
    request.target = std::move(fields[2]);
    request.body = std::move(fields[3]);
    auto response = tenants.of(fields[0])->roundTrip(request, std::chrono::seconds(30));
    int status = response ? response->status : 500;
    std::string body = response ? std::move(response->body) : response.status().message();
    if (!writeFull(fd, frame({std::to_string(status), body}))) break;
  }
  ::close(fd);
}

}  // namespace

int serveTenants(const std::string& socket_path) {
  auto listener = net::listenUnix(socket_path);
  if (!listener) return 1;
  Tenants tenants;
  for (;;) {
    int fd = ::accept(listener->get(), nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    std::thread(serveConnection, fd, std::ref(tenants)).detach();
  }
}

TenantServerClient::~TenantServerClient() {
  for (int fd : idle_) ::close(fd);
}

Result<int> TenantServerClient::acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      int fd = idle_.back();
      idle_.pop_back();
      return fd;
    }
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::unavailable("socket: " + std::string(std::strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return Status::unavailable("connect to the tenant server " + path_ + ": " + why);
  }
  return fd;
}

void TenantServerClient::release(int fd) {
  std::lock_guard lock(mu_);
  idle_.push_back(fd);
}

Result<kube::HttpResponse> TenantServerClient::roundTrip(const std::string& tenant,
                                                         const kube::HttpRequest& r) {
  HERD_ASSIGN_OR_RETURN(int fd, acquire());
  std::vector<std::string> fields;
  if (!writeFull(fd, frame({tenant, r.method, r.target, r.body})) || !readFrame(fd, fields) ||
      fields.size() != 2) {
    ::close(fd);
    return Status::unavailable("the tenant server dropped the connection");
  }
  release(fd);
  kube::HttpResponse response;
  response.status = std::stoi(fields[0]);
  response.headers = {{"Content-Type", "application/json"}};
  response.body = std::move(fields[1]);
  return response;
}

}  // namespace herd::bench
