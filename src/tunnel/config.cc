#include "tunnel/config.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "api/validation.h"
#include "common/yaml.h"
#include "common/files.h"
#include "common/net.h"

namespace herd::tunnel {
namespace {

using nlohmann::json;

class Reader {
 public:
  explicit Reader(std::string base_dir) : base_dir_(std::move(base_dir)) {}

  std::string string(const json& obj, const char* key, const std::string& path,
                     std::string fallback = {}) {
    if (!obj.contains(key)) return fallback;
    if (!obj[key].is_string()) {
      fail(path + "." + key, "must be a string");
      return fallback;
    }
    return obj[key].get<std::string>();
  }

  std::string file(const json& obj, const char* key, const std::string& path) {
    std::string value = string(obj, key, path);
    if (value.empty() || value.front() == '/') return value;
    return base_dir_ + "/" + value;
  }

  long integer(const json& obj, const char* key, const std::string& path, long fallback, long min,
               long max) {
    if (!obj.contains(key)) return fallback;
    if (!obj[key].is_number_integer() || obj[key].get<long>() < min || obj[key].get<long>() > max) {
      fail(path + "." + key, fmt::format("must be an integer in [{}, {}]", min, max));
      return fallback;
    }
    return obj[key].get<long>();
  }

  std::vector<std::string> strings(const json& obj, const char* key, const std::string& path) {
    std::vector<std::string> out;
    if (!obj.contains(key)) return out;
    if (!obj[key].is_array()) {
      fail(path + "." + key, "must be a list of strings");
      return out;
    }
    for (size_t i = 0; i < obj[key].size(); ++i) {
      if (!obj[key][i].is_string()) {
        fail(fmt::format("{}.{}[{}]", path, key, i), "must be a string");
      } else {
        out.push_back(obj[key][i].get<std::string>());
      }
    }
    return out;
  }

  TlsFiles tls(const json& obj, const std::string& path, const char* ca_key) {
    TlsFiles t{file(obj, "certFile", path), file(obj, "keyFile", path), file(obj, ca_key, path)};
    if (t.cert_file.empty() || t.key_file.empty() || t.ca_file.empty()) {
      fail(path, fmt::format("needs certFile, keyFile and {} (mutual TLS)", ca_key));
    }
    return t;
  }

  void fail(const std::string& path, const std::string& message) {
    errors_ += "\n  " + path + ": " + message;
  }
  const std::string& errors() const { return errors_; }
  const std::string& baseDir() const { return base_dir_; }

 private:
  std::string base_dir_;
  std::string errors_;
};

void readTenants(const json& doc, TunnelConfig& config, Reader& r) {
  if (!doc.contains("tenants") || !doc["tenants"].is_array() || doc["tenants"].empty()) {
    r.fail("tenants", "must list at least one tenant");
    return;
  }
  for (size_t i = 0; i < doc["tenants"].size(); ++i) {
    const json& t = doc["tenants"][i];
    std::string path = fmt::format("tenants[{}]", i);
    if (!t.is_object()) {
      r.fail(path, "must be a mapping");
      continue;
    }
    TenantConfig tenant;
    tenant.name = r.string(t, "name", path);
    if (!api::isDns1123Label(tenant.name)) {
      r.fail(path + ".name", "must be a DNS label (the tenant cluster's name)");
    } else if (config.findTenant(tenant.name) != nullptr) {
      r.fail(path + ".name", "tenant \"" + tenant.name + "\" is listed twice");
    }
    tenant.node_keys = r.strings(t, "nodeKeys", path);
    for (const std::string& key_file : r.strings(t, "nodeKeyFiles", path)) {
      std::string full = key_file.front() == '/' ? key_file : r.baseDir() + "/" + key_file;
      auto text = files::read(full);
      if (!text) {
        r.fail(path + ".nodeKeyFiles", text.status().message());
        continue;
      }
      size_t start = 0;
      while (start < text->size()) {
        size_t end = text->find('\n', start);
        if (end == std::string::npos) end = text->size();
        std::string line = text->substr(start, end - start);
        start = end + 1;
        // authorized_keys lines may carry options ("restrict,port-forwarding ssh-ed25519 ...").
        size_t type = line.find("ssh-");
        if (line.empty() || line.front() == '#' || type == std::string::npos) continue;
        tenant.node_keys.push_back(line.substr(type));
      }
    }
    if (tenant.node_keys.empty()) r.fail(path, "needs nodeKeys or nodeKeyFiles");
    tenant.nodes = r.strings(t, "nodes", path);
    for (const std::string& node : tenant.nodes) {
      if (!isValidNodeAddress(node))
        r.fail(path + ".nodes", "\"" + node + "\" is not a node address");
    }
    config.tenants.push_back(std::move(tenant));
  }
}

void readConnect(const json& doc, TunnelConfig& config, Reader& r) {
  if (!doc.contains("connect")) return;
  if (!doc["connect"].is_array()) {
    r.fail("connect", "must be a list of listeners");
    return;
  }
  for (size_t i = 0; i < doc["connect"].size(); ++i) {
    const json& c = doc["connect"][i];
    std::string path = fmt::format("connect[{}]", i);
    ConnectListenerConfig listener;
    if (c.is_object() && c.contains("unix")) {
      listener.kind = ConnectListenerConfig::Kind::kUnix;
      listener.address = r.file(c, "unix", path);
      listener.tenant = r.string(c, "tenant", path);
      if (config.findTenant(listener.tenant) == nullptr) {
        r.fail(path + ".tenant", "must name a tenant listed under tenants");
      }
    } else if (c.is_object() && c.contains("tcp")) {
      listener.kind = ConnectListenerConfig::Kind::kTcp;
      listener.address = r.string(c, "tcp", path);
      listener.tls = r.tls(c, path, "clientCaFile");
      // Optional: pins the listener to one tenant (clientCaFile then holds that tenant's CA
      // alone), so that a certificate another CA issued can never claim this tenant's name.
      listener.tenant = r.string(c, "tenant", path);
      if (!listener.tenant.empty() && config.findTenant(listener.tenant) == nullptr) {
        r.fail(path + ".tenant", "must name a tenant listed under tenants");
      }
    } else {
      r.fail(path, "must have unix: PATH (with tenant:) or tcp: HOST:PORT (with TLS files)");
      continue;
    }
    config.connect.push_back(std::move(listener));
  }
}

}  // namespace

bool isValidNodeAddress(std::string_view address) {
  return net::IpAddress::parse(address).isOk() || api::isDns1123Subdomain(address);
}

Result<TunnelConfig> TunnelConfig::parse(std::string_view yaml, const std::string& base_dir) {
  HERD_ASSIGN_OR_RETURN(auto docs, parseDocuments(yaml));
  if (docs.size() != 1 || !docs[0].is_object()) {
    return Status::invalid("tunnel config must be one YAML mapping");
  }
  const json& doc = docs[0];
  Reader r(base_dir);
  TunnelConfig config;
  json ssh = doc.contains("ssh") ? doc["ssh"] : json::object();
  if (!ssh.is_object()) {
    r.fail("ssh", "must be a mapping");
    ssh = json::object();
  }
  config.ssh_listen = r.string(ssh, "listen", "ssh", config.ssh_listen);
  config.host_key_file = r.file(ssh, "hostKeyFile", "ssh");
  if (config.host_key_file.empty()) r.fail("ssh.hostKeyFile", "is required");
  config.keepalive = std::chrono::seconds(r.integer(ssh, "keepaliveSeconds", "ssh", 5, 1, 3600));
  config.auth_timeout =
      std::chrono::seconds(r.integer(ssh, "authTimeoutSeconds", "ssh", 10, 1, 600));
  config.max_sessions =
      static_cast<int>(r.integer(ssh, "maxSessions", "ssh", config.max_sessions, 1, 100000));
  config.max_unauthenticated = static_cast<int>(
      r.integer(ssh, "maxUnauthenticated", "ssh", config.max_unauthenticated, 1, 100000));
  config.max_streams_per_session = static_cast<int>(
      r.integer(ssh, "maxStreamsPerSession", "ssh", config.max_streams_per_session, 1, 1000000));
  readTenants(doc, config, r);
  readConnect(doc, config, r);
  if (doc.contains("peers")) {
    const json& p = doc["peers"];
    if (!p.is_object()) {
      r.fail("peers", "must be a mapping");
    } else {
      config.peers.listen = r.string(p, "listen", "peers");
      config.peers.addresses = r.strings(p, "addresses", "peers");
      if (!config.peers.listen.empty() || !config.peers.addresses.empty()) {
        config.peers.tls = r.tls(p, "peers", "caFile");
      }
    }
  }
  if (!r.errors().empty()) return Status::invalid("tunnel config is invalid:" + r.errors());
  return config;
}

Result<TunnelConfig> TunnelConfig::load(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(std::string text, files::read(path));
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  auto config = parse(text, dir.empty() ? "/" : dir);
  if (!config) return config.status().withContext(path);
  return config;
}

const TenantConfig* TunnelConfig::findTenant(std::string_view name) const {
  for (const auto& t : tenants) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace herd::tunnel
