#include "kube/config.h"

#include <fmt/format.h>

#include <cstdlib>

#include "common/base64.h"
#include "common/files.h"
#include "common/yaml.h"

namespace herd::kube {
namespace {

using nlohmann::json;

std::string dirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string resolvePath(const std::string& path, const std::string& base_dir) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return base_dir + "/" + path;
}

std::string stringField(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<std::string> dataField(const json& obj, const char* key, const std::string& where) {
  std::string encoded = stringField(obj, key);
  if (encoded.empty()) return std::string();
  auto decoded = base64Decode(encoded);
  if (!decoded) return Status::invalid(fmt::format("{}: {} is not valid base64", where, key));
  return *decoded;
}

// Each list entry is {name, <kind>: {...}}; an entry without a name is an error, as in kubectl.
template <typename Fn>
Status forEachNamed(const json& doc, const char* list, const char* kind, Fn&& fn) {
  auto it = doc.find(list);
  if (it == doc.end() || it->is_null()) return Status::ok();
  if (!it->is_array()) return Status::invalid(fmt::format("kubeconfig: {} must be a list", list));
  for (const auto& entry : *it) {
    std::string name = entry.is_object() ? stringField(entry, "name") : "";
    if (name.empty())
      return Status::invalid(fmt::format("kubeconfig: an entry of {} has no name", list));
    auto body = entry.find(kind);
    if (body == entry.end() || !body->is_object()) {
      return Status::invalid(
          fmt::format("kubeconfig: {} \"{}\" has no {} section", list, name, kind));
    }
    HERD_RETURN_IF_ERROR(fn(name, *body));
  }
  return Status::ok();
}

Result<std::string> readCredentialFile(const std::string& path, const std::string& what) {
  auto data = files::read(path);
  if (!data) return data.status().withContext(what);
  return *data;
}

}  // namespace

Result<Kubeconfig> parseKubeconfig(std::string_view text, const std::string& base_dir) {
  HERD_ASSIGN_OR_RETURN(auto docs, parseDocuments(text));
  Kubeconfig cfg;
  if (docs.empty()) return cfg;  // an empty file is an empty config, as kubectl reads it
  if (docs.size() > 1) return Status::invalid("kubeconfig: expected one YAML document");
  const json& doc = docs[0];
  if (!doc.is_object()) return Status::invalid("kubeconfig: expected a mapping at the top level");
  cfg.current_context = stringField(doc, "current-context");
  HERD_RETURN_IF_ERROR(forEachNamed(
      doc, "clusters", "cluster", [&](const std::string& name, const json& c) -> Status {
        Kubeconfig::Cluster cl;
        cl.server = stringField(c, "server");
        cl.certificate_authority = resolvePath(stringField(c, "certificate-authority"), base_dir);
        HERD_ASSIGN_OR_RETURN(
            cl.certificate_authority_data,
            dataField(c, "certificate-authority-data", "cluster \"" + name + "\""));
        auto insecure = c.find("insecure-skip-tls-verify");
        if (insecure != c.end() && !insecure->is_null() && !insecure->is_boolean()) {
          return Status::invalid(fmt::format(
              "kubeconfig: cluster \"{}\": insecure-skip-tls-verify must be true or false", name));
        }
        cl.insecure_skip_tls_verify =
            insecure != c.end() && insecure->is_boolean() && insecure->get<bool>();
        cl.tls_server_name = stringField(c, "tls-server-name");
        cfg.clusters.emplace(name, std::move(cl));
        return Status::ok();
      }));
  HERD_RETURN_IF_ERROR(
      forEachNamed(doc, "users", "user", [&](const std::string& name, const json& u) -> Status {
        Kubeconfig::User user;
        std::string where = "user \"" + name + "\"";
        user.client_certificate = resolvePath(stringField(u, "client-certificate"), base_dir);
        user.client_key = resolvePath(stringField(u, "client-key"), base_dir);
        HERD_ASSIGN_OR_RETURN(user.client_certificate_data,
                              dataField(u, "client-certificate-data", where));
        HERD_ASSIGN_OR_RETURN(user.client_key_data, dataField(u, "client-key-data", where));
        user.token = stringField(u, "token");
        user.token_file = resolvePath(stringField(u, "tokenFile"), base_dir);
        user.has_exec = u.contains("exec") && !u["exec"].is_null();
        user.has_auth_provider = u.contains("auth-provider") && !u["auth-provider"].is_null();
        cfg.users.emplace(name, std::move(user));
        return Status::ok();
      }));
  HERD_RETURN_IF_ERROR(forEachNamed(
      doc, "contexts", "context", [&](const std::string& name, const json& c) -> Status {
        cfg.contexts.emplace(name,
                             Kubeconfig::Context{stringField(c, "cluster"), stringField(c, "user"),
                                                 stringField(c, "namespace")});
        return Status::ok();
      }));
  return cfg;
}

void mergeKubeconfig(Kubeconfig& into, const Kubeconfig& later) {
  into.clusters.insert(later.clusters.begin(), later.clusters.end());  // insert keeps existing keys
  into.users.insert(later.users.begin(), later.users.end());
  into.contexts.insert(later.contexts.begin(), later.contexts.end());
  if (into.current_context.empty()) into.current_context = later.current_context;
}

Result<RestConfig> resolveContext(const Kubeconfig& config, const std::string& context) {
  std::string name = context.empty() ? config.current_context : context;
  if (name.empty()) {
    return Status::invalid("kubeconfig: no current-context is set and no --context was given");
  }
  auto ctx = config.contexts.find(name);
  if (ctx == config.contexts.end())
    return Status::notFound(fmt::format("kubeconfig: context \"{}\" not found", name));
  auto cl = config.clusters.find(ctx->second.cluster);
  if (cl == config.clusters.end()) {
    return Status::notFound(fmt::format("kubeconfig: cluster \"{}\" of context \"{}\" not found",
                                        ctx->second.cluster, name));
  }
  RestConfig rc;
  const Kubeconfig::Cluster& c = cl->second;
  if (c.server.empty())
    return Status::invalid(fmt::format("kubeconfig: cluster \"{}\" has no server", cl->first));
  rc.server = c.server;
  while (!rc.server.empty() && rc.server.back() == '/') rc.server.pop_back();
  rc.insecure_skip_tls_verify = c.insecure_skip_tls_verify;
  rc.tls_server_name = c.tls_server_name;
  if (c.insecure_skip_tls_verify &&
      (!c.certificate_authority_data.empty() || !c.certificate_authority.empty())) {
    return Status::invalid(
        fmt::format("kubeconfig: cluster \"{}\": specifying a root certificates file with the "
                    "insecure flag is not allowed",
                    cl->first));
  }
  if (!c.certificate_authority_data.empty()) {
    rc.ca_pem = c.certificate_authority_data;
  } else if (!c.certificate_authority.empty()) {
    HERD_ASSIGN_OR_RETURN(rc.ca_pem,
                          readCredentialFile(c.certificate_authority, "certificate-authority"));
  }
  if (!ctx->second.user.empty()) {
    auto us = config.users.find(ctx->second.user);
    if (us == config.users.end()) {
      return Status::notFound(fmt::format("kubeconfig: user \"{}\" of context \"{}\" not found",
                                          ctx->second.user, name));
    }
    const Kubeconfig::User& u = us->second;
    if (u.has_exec || u.has_auth_provider) {
      return Status::invalid(
          fmt::format("kubeconfig: user \"{}\" uses an exec or auth-provider plugin, which herd "
                      "does not run; use a client "
                      "certificate or a token",
                      us->first));
    }
    if (!u.client_certificate_data.empty()) {
      rc.client_cert_pem = u.client_certificate_data;
    } else if (!u.client_certificate.empty()) {
      HERD_ASSIGN_OR_RETURN(rc.client_cert_pem,
                            readCredentialFile(u.client_certificate, "client-certificate"));
    }
    if (!u.client_key_data.empty()) {
      rc.client_key_pem = u.client_key_data;
    } else if (!u.client_key.empty()) {
      HERD_ASSIGN_OR_RETURN(rc.client_key_pem, readCredentialFile(u.client_key, "client-key"));
    }
    if (rc.client_cert_pem.empty() != rc.client_key_pem.empty()) {
      return Status::invalid(
          fmt::format("kubeconfig: user \"{}\" has a client certificate without a key or a key "
                      "without a certificate",
                      us->first));
    }
    // As clientcmd: a token given inline wins over a token file.
    rc.bearer_token = u.token;
    if (u.token.empty()) rc.token_file = u.token_file;
  }
  if (!ctx->second.namespace_.empty()) rc.namespace_ = ctx->second.namespace_;
  return rc;
}

Result<RestConfig> loadKubeconfig(const LoadOptions& options) {
  Kubeconfig merged;
  std::vector<std::string> paths;
  bool must_exist = false;
  if (!options.kubeconfig_path.empty()) {
    paths.push_back(options.kubeconfig_path);
    must_exist = true;
  } else if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    std::string list = env;
    size_t start = 0;
    while (start <= list.size()) {
      size_t colon = list.find(':', start);
      if (colon == std::string::npos) colon = list.size();
      if (colon > start) paths.push_back(list.substr(start, colon - start));
      start = colon + 1;
    }
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    paths.push_back(std::string(home) + "/.kube/config");
  }
  bool found_any = false;
  for (const auto& path : paths) {
    if (!must_exist && !files::exists(path)) continue;  // kubectl skips missing files in KUBECONFIG
    HERD_ASSIGN_OR_RETURN(std::string text, files::read(path));
    auto parsed = parseKubeconfig(text, dirOf(path));
    if (!parsed) return parsed.status().withContext(path);
    mergeKubeconfig(merged, *parsed);
    found_any = true;
  }
  if (!found_any) {
    return Status::notFound(
        "no kubeconfig found: set --kubeconfig or KUBECONFIG, or create ~/.kube/config");
  }
  HERD_ASSIGN_OR_RETURN(RestConfig rc, resolveContext(merged, options.context));
  if (!options.namespace_.empty()) rc.namespace_ = options.namespace_;
  return rc;
}

Result<RestConfig> inClusterConfig(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port) {
    return Status::failedPrecondition(
        "not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  }
  RestConfig rc;
  std::string h = host;
  rc.server = h.find(':') != std::string::npos ? fmt::format("https://[{}]:{}", h, port)
                                               : fmt::format("https://{}:{}", h, port);
  rc.token_file = sa_dir + "/token";
  HERD_ASSIGN_OR_RETURN(rc.ca_pem, readCredentialFile(sa_dir + "/ca.crt", "service-account CA"));
  if (auto ns = files::read(sa_dir + "/namespace"); ns && !ns->empty()) rc.namespace_ = *ns;
  // Fail now rather than on the first request when the token is missing.
  HERD_RETURN_IF_ERROR(readCredentialFile(rc.token_file, "service-account token").status());
  return rc;
}

TokenSource::TokenSource(const RestConfig& config, std::chrono::milliseconds refresh)
    : static_token_(config.bearer_token), file_(config.token_file), refresh_(refresh) {}

Result<std::string> TokenSource::token() {
  if (file_.empty()) return static_token_;
  auto now = std::chrono::steady_clock::now();
  if (cached_.empty() || now - read_at_ >= refresh_) {
    auto data = files::read(file_);
    if (!data) {
      if (!cached_.empty()) return cached_;  // keep the last good token through a transient error
      return data.status().withContext("read token file");
    }
    std::string t = *data;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    cached_ = std::move(t);
    read_at_ = now;
  }
  return cached_;
}

}  // namespace herd::kube
