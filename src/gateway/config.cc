#include "gateway/config.h"

#include <fmt/format.h>

#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/yaml.h"
#include "common/files.h"
#include "common/net.h"
#include "gateway/client_hello.h"

namespace herd::gateway {
namespace {

using nlohmann::json;

Status checkKeys(const json& object, std::string_view where,
                 std::initializer_list<std::string_view> allowed) {
  if (!object.is_object()) return Status::invalid(fmt::format("{}: must be a mapping", where));
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (auto a : allowed) known = known || key == a;
    if (!known) return Status::invalid(fmt::format("{}: unknown field \"{}\"", where, key));
  }
  return Status::ok();
}

Result<std::string> getString(const json& object, std::string_view where, const char* key,
                              std::string fallback) {
  if (!object.contains(key)) return fallback;
  const auto& v = object.at(key);
  if (!v.is_string()) return Status::invalid(fmt::format("{}.{}: must be a string", where, key));
  return v.get<std::string>();
}

Result<int64_t> getInt(const json& object, std::string_view where, const char* key,
                       int64_t fallback, int64_t min, int64_t max) {
  if (!object.contains(key)) return fallback;
  const auto& v = object.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > max) {
    return Status::invalid(
        fmt::format("{}.{}: must be an integer from {} to {}", where, key, min, max));
  }
  return v.get<int64_t>();
}

Result<bool> getBool(const json& object, std::string_view where, const char* key) {
  if (!object.contains(key)) return false;
  const auto& v = object.at(key);
  if (!v.is_boolean())
    return Status::invalid(fmt::format("{}.{}: must be true or false", where, key));
  return v.get<bool>();
}

Result<Millis> getDuration(const json& object, std::string_view where, const char* key,
                           Millis fallback) {
  if (!object.contains(key)) return fallback;
  const auto& v = object.at(key);
  if (!v.is_string()) {
    return Status::invalid(fmt::format("{}.{}: must be a duration like \"10s\"", where, key));
  }
  auto d = parseDuration(v.get<std::string>());
  if (!d) return d.status().withContext(fmt::format("{}.{}", where, key));
  return d;
}

Result<std::vector<BackendAddress>> getBackends(const json& object, std::string_view where,
                                                const char* key) {
  std::vector<BackendAddress> out;
  if (!object.contains(key)) return out;
  const auto& list = object.at(key);
  if (!list.is_array()) return Status::invalid(fmt::format("{}.{}: must be a list", where, key));
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string()) {
      return Status::invalid(fmt::format("{}.{}[{}]: must be \"ip:port\"", where, key, i));
    }
    auto address = parseBackendAddress(list[i].get<std::string>());
    if (!address) return address.status().withContext(fmt::format("{}.{}[{}]", where, key, i));
    out.push_back(*address);
  }
  return out;
}

Status checkListen(std::string_view where, const std::string& value, bool optional) {
  if (value.empty() && optional) return Status::ok();
  auto address = parseBackendAddress(value);
  if (!address) return address.status().withContext(where);
  return Status::ok();
}

bool isDnsLabel(std::string_view name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

}  // namespace

std::string BackendAddress::key() const {
  return net::formatHostPort(ip, port);
}

Result<BackendAddress> parseBackendAddress(std::string_view text) {
  HERD_ASSIGN_OR_RETURN(auto parsed, net::parseHostPort(text));
  BackendAddress out{std::move(parsed.host), parsed.port};
  if (out.ip == "localhost") out.ip = "127.0.0.1";
  if (!net::IpAddress::parse(out.ip)) {
    return Status::invalid(fmt::format("\"{}\": host must be an IP address", text));
  }
  return out;
}

Result<Millis> parseDuration(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  std::string_view unit(end, text.data() + text.size() - end);
  if (ec != std::errc() || end == text.data() || value < 0) {
    return Status::invalid(fmt::format("\"{}\": not a duration (e.g. 500ms, 10s, 5m, 1h)", text));
  }
  int64_t scale = 0;
  if (unit == "ms") scale = 1;
  if (unit == "s") scale = 1000;
  if (unit == "m") scale = 60 * 1000;
  if (unit == "h") scale = 3600 * 1000;
  constexpr int64_t kMaxMillis = int64_t{7} * 24 * 3600 * 1000;  // a week: a typo beyond that
  if (scale == 0 || value > kMaxMillis / scale) {
    return Status::invalid(fmt::format("\"{}\": not a duration (e.g. 500ms, 10s, 5m, 1h)", text));
  }
  return Millis(value * scale);
}

std::string tenantPortConflict(const GatewayConfig& config, uint16_t port) {
  if (port == 0) return "0 is not a port";
  std::vector<std::pair<std::string, std::string>> listeners{{"listeners.tls", config.tls_listen},
                                                             {"listeners.http", config.http_listen},
                                                             {"listeners.admin", config.admin_listen}};
  if (config.tunnel) {
    listeners.emplace_back("tunnel.listen", config.tunnel->ssh_listen);
    for (const auto& l : config.tunnel->connect) {
      if (l.kind != tunnel::ConnectListenerConfig::Kind::kUnix)
        listeners.emplace_back("tunnel.connect", l.address);
    }
    listeners.emplace_back("tunnel.peers.listen", config.tunnel->peers.listen);
  }
  for (const auto& [name, text] : listeners) {
    if (text.empty()) continue;
    auto address = net::parseHostPort(text);
    if (address && address->port == port) {
      return fmt::format("{} is the port of {} ({})", port, name, text);
    }
  }
  return {};
}

Result<GatewayConfig> parseGatewayConfig(std::string_view text, const std::string& base_dir) {
  auto docs = parseDocuments(text);
  if (!docs) return docs.status();
  if (docs->size() != 1) return Status::invalid("expected exactly one YAML document");
  const json& root = docs->front();
  HERD_RETURN_IF_ERROR(
      checkKeys(root, "config",
                {"listeners", "workers", "baseDomain", "limits", "timeouts", "healthCheck",
                 "tenants", "httpRoutes", "defaultBackends", "tunnel"}));
  GatewayConfig c;
  if (root.contains("tunnel")) {
    // The tunnel's own parser, on the section as it stands: one schema for `herd tunnel
    // --config` and the gateway. JSON is YAML, so the subtree goes back as its JSON text.
    c.tunnel_section = root.at("tunnel").dump();
    auto tunnel = tunnel::TunnelConfig::parse(c.tunnel_section, base_dir);
    if (!tunnel) return tunnel.status().withContext("tunnel");
    c.tunnel = std::move(*tunnel);
  }
  if (root.contains("listeners")) {
    const json& l = root.at("listeners");
    HERD_RETURN_IF_ERROR(checkKeys(l, "listeners", {"tls", "http", "admin"}));
    HERD_ASSIGN_OR_RETURN(c.tls_listen, getString(l, "listeners", "tls", c.tls_listen));
    HERD_ASSIGN_OR_RETURN(c.http_listen, getString(l, "listeners", "http", ""));
    HERD_ASSIGN_OR_RETURN(c.admin_listen, getString(l, "listeners", "admin", c.admin_listen));
  }
  HERD_RETURN_IF_ERROR(checkListen("listeners.tls", c.tls_listen, false));
  HERD_RETURN_IF_ERROR(checkListen("listeners.http", c.http_listen, true));
  HERD_RETURN_IF_ERROR(checkListen("listeners.admin", c.admin_listen, false));
  HERD_ASSIGN_OR_RETURN(auto workers, getInt(root, "config", "workers", 0, 0, 256));
  c.workers = static_cast<int>(workers);
  HERD_ASSIGN_OR_RETURN(c.base_domain, getString(root, "config", "baseDomain", c.base_domain));
  if (!isValidHostName(c.base_domain)) return Status::invalid("baseDomain: not a DNS name");

  if (root.contains("limits")) {
    const json& l = root.at("limits");
    HERD_RETURN_IF_ERROR(checkKeys(
        l, "limits",
        {"maxConnections", "maxConnectionsPerTenant", "maxClientHelloBytes", "maxHttpHeadBytes"}));
    HERD_ASSIGN_OR_RETURN(
        c.limits.max_connections,
        getInt(l, "limits", "maxConnections", c.limits.max_connections, 1, 10'000'000));
    HERD_ASSIGN_OR_RETURN(c.limits.max_connections_per_tenant,
                          getInt(l, "limits", "maxConnectionsPerTenant",
                                 c.limits.max_connections_per_tenant, 1, 10'000'000));
    // A hello needs a few hundred bytes; more than a few records is an attack, not a client.
    HERD_ASSIGN_OR_RETURN(
        auto hello, getInt(l, "limits", "maxClientHelloBytes",
                           static_cast<int64_t>(c.limits.max_client_hello_bytes), 512, 65536));
    c.limits.max_client_hello_bytes = static_cast<size_t>(hello);
    HERD_ASSIGN_OR_RETURN(auto head,
                          getInt(l, "limits", "maxHttpHeadBytes",
                                 static_cast<int64_t>(c.limits.max_http_head_bytes), 256, 65536));
    c.limits.max_http_head_bytes = static_cast<size_t>(head);
  }
  if (root.contains("timeouts")) {
    const json& t = root.at("timeouts");
    HERD_RETURN_IF_ERROR(
        checkKeys(t, "timeouts", {"handshake", "idle", "connect", "drain", "removedRouteGrace"}));
    HERD_ASSIGN_OR_RETURN(c.timeouts.handshake,
                          getDuration(t, "timeouts", "handshake", c.timeouts.handshake));
    HERD_ASSIGN_OR_RETURN(c.timeouts.idle, getDuration(t, "timeouts", "idle", c.timeouts.idle));
    HERD_ASSIGN_OR_RETURN(c.timeouts.connect,
                          getDuration(t, "timeouts", "connect", c.timeouts.connect));
    HERD_ASSIGN_OR_RETURN(c.timeouts.drain, getDuration(t, "timeouts", "drain", c.timeouts.drain));
    HERD_ASSIGN_OR_RETURN(
        c.timeouts.removed_route_grace,
        getDuration(t, "timeouts", "removedRouteGrace", c.timeouts.removed_route_grace));
    for (auto [name, value] : {std::pair{"handshake", c.timeouts.handshake},
                               {"idle", c.timeouts.idle},
                               {"connect", c.timeouts.connect}}) {
      if (value.count() == 0) return Status::invalid(fmt::format("timeouts.{}: must be > 0", name));
    }
  }
  if (root.contains("healthCheck")) {
    const json& h = root.at("healthCheck");
    HERD_RETURN_IF_ERROR(checkKeys(h, "healthCheck", {"interval", "timeout"}));
    HERD_ASSIGN_OR_RETURN(c.health.interval,
                          getDuration(h, "healthCheck", "interval", c.health.interval));
    HERD_ASSIGN_OR_RETURN(c.health.timeout,
                          getDuration(h, "healthCheck", "timeout", c.health.timeout));
    if (c.health.interval.count() < 10 || c.health.timeout.count() < 10) {
      return Status::invalid("healthCheck: interval and timeout must be at least 10ms");
    }
  }
  HERD_ASSIGN_OR_RETURN(c.default_backends, getBackends(root, "config", "defaultBackends"));

  std::set<std::string> names;
  std::map<uint16_t, std::string> ports;  // tenant port -> tenant
  if (root.contains("tenants")) {
    const json& list = root.at("tenants");
    if (!list.is_array()) return Status::invalid("tenants: must be a list");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string where = fmt::format("tenants[{}]", i);
      const json& t = list[i];
      HERD_RETURN_IF_ERROR(checkKeys(
          t, where,
          {"name", "hostname", "apiServers", "etcd", "maxConnections", "proxyProtocol", "port"}));
      TenantRoutes tenant;
      HERD_ASSIGN_OR_RETURN(tenant.name, getString(t, where, "name", ""));
      if (!isDnsLabel(tenant.name)) {
        return Status::invalid(
            fmt::format("{}.name: \"{}\" is not a DNS label", where, tenant.name));
      }
      if (!names.insert(tenant.name).second) {
        return Status::invalid(
            fmt::format("{}.name: tenant \"{}\" listed twice", where, tenant.name));
      }
      HERD_ASSIGN_OR_RETURN(tenant.hostname, getString(t, where, "hostname", ""));
      if (!tenant.hostname.empty() && !isValidHostName(tenant.hostname)) {
        return Status::invalid(fmt::format("{}.hostname: not a DNS name", where));
      }
      HERD_ASSIGN_OR_RETURN(tenant.api_servers, getBackends(t, where, "apiServers"));
      HERD_ASSIGN_OR_RETURN(tenant.etcd, getBackends(t, where, "etcd"));
      HERD_ASSIGN_OR_RETURN(tenant.max_connections,
                            getInt(t, where, "maxConnections", 0, 0, 10'000'000));
      HERD_ASSIGN_OR_RETURN(tenant.proxy_protocol, getBool(t, where, "proxyProtocol"));
      HERD_ASSIGN_OR_RETURN(auto port, getInt(t, where, "port", 0, 1, 65535));
      tenant.port = static_cast<uint16_t>(port);
      if (tenant.port != 0) {
        if (auto conflict = tenantPortConflict(c, tenant.port); !conflict.empty()) {
          return Status::invalid(fmt::format("{}.port: {}", where, conflict));
        }
        if (auto [it, fresh] = ports.emplace(tenant.port, tenant.name); !fresh) {
          return Status::invalid(fmt::format("{}.port: {} is tenant \"{}\"'s already", where,
                                             tenant.port, it->second));
        }
      }
      c.tenants.push_back(std::move(tenant));
    }
  }
  if (root.contains("httpRoutes")) {
    const json& list = root.at("httpRoutes");
    if (!list.is_array()) return Status::invalid("httpRoutes: must be a list");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string where = fmt::format("httpRoutes[{}]", i);
      const json& r = list[i];
      HERD_RETURN_IF_ERROR(checkKeys(r, where, {"host", "tenant", "backends", "proxyProtocol"}));
      HttpRoute route;
      HERD_ASSIGN_OR_RETURN(route.host, getString(r, where, "host", ""));
      if (!isValidHostName(route.host)) {
        return Status::invalid(fmt::format("{}.host: not a DNS name", where));
      }
      HERD_ASSIGN_OR_RETURN(route.tenant, getString(r, where, "tenant", ""));
      HERD_ASSIGN_OR_RETURN(route.backends, getBackends(r, where, "backends"));
      HERD_ASSIGN_OR_RETURN(route.proxy_protocol, getBool(r, where, "proxyProtocol"));
      c.http_routes.push_back(std::move(route));
    }
  }
  return c;
}

Result<GatewayConfig> loadGatewayConfig(const std::string& path) {
  auto text = files::read(path);
  if (!text) return text.status();
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  auto config = parseGatewayConfig(*text, dir);
  if (!config) return config.status().withContext(path);
  return config;
}

}  // namespace herd::gateway
