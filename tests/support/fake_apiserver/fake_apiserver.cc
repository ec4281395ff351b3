#include "fake_apiserver.h"

#include <openssl/evp.h>

#include "api_server.h"
#include "common/files.h"
#include "http_server.h"
#include "tls_identity.h"

namespace herd::fake {
namespace {

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Reads name.crt/name.key from the state directory, or makes them with `make` and saves them.
Result<KeyPair> loadOrMake(const std::string& dir, const std::string& name,
                           const std::function<Result<KeyPair>()>& make) {
  if (!dir.empty() && files::exists(dir + "/" + name + ".crt") &&
      files::exists(dir + "/" + name + ".key")) {
    HERD_ASSIGN_OR_RETURN(std::string cert, files::read(dir + "/" + name + ".crt"));
    HERD_ASSIGN_OR_RETURN(std::string key, files::read(dir + "/" + name + ".key"));
    return KeyPair{cert, key};
  }
  HERD_ASSIGN_OR_RETURN(KeyPair pair, make());
  if (!dir.empty()) {
    HERD_RETURN_IF_ERROR(files::writeAtomic(dir + "/" + name + ".crt", pair.cert_pem, 0644));
    HERD_RETURN_IF_ERROR(files::writeAtomic(dir + "/" + name + ".key", pair.key_pem, 0600));
  }
  return pair;
}

}  // namespace

Result<std::unique_ptr<FakeApiServer>> FakeApiServer::start(FakeApiServerOptions options) {
  auto server = std::unique_ptr<FakeApiServer>(new FakeApiServer());
  if (options.openapi_dir.empty()) {
    std::string recorded = std::string(HERD_FAKE_APISERVER_SHARED_DIR) + "/kubernetes/openapi";
    if (files::exists(recorded)) options.openapi_dir = recorded;
  }
  server->options_ = options;
  const std::string& dir = options.state_dir;
  if (!dir.empty()) HERD_RETURN_IF_ERROR(files::makeDirs(dir, 0700));
  HERD_ASSIGN_OR_RETURN(KeyPair ca,
                        loadOrMake(dir, "ca", [] { return makeCa("herd-fake-apiserver-ca"); }));
  HERD_ASSIGN_OR_RETURN(KeyPair admin, loadOrMake(dir, "admin", [&] {
                          return issueLeaf(ca, {"herd-admin", {"system:masters"}, {}, {}, false});
                        }));
  KeyPair serving{options.serving_cert_pem, options.serving_key_pem};
  if (serving.cert_pem.empty() != serving.key_pem.empty()) {
    return Status::invalid("a serving certificate needs its key, and a key its certificate");
  }
  if (serving.cert_pem.empty()) {
    HERD_ASSIGN_OR_RETURN(serving, issueLeaf(ca, {"kube-apiserver",
                                                  {},
                                                  {"localhost", "kubernetes", "kubernetes.default"},
                                                  {"127.0.0.1"},
                                                  true}));
  }
  server->ca_cert_pem_ = ca.cert_pem;
  server->ca_key_pem_ = ca.key_pem;
  server->admin_cert_pem_ = admin.cert_pem;
  server->admin_key_pem_ = admin.key_pem;

  if (options.root_ca_pem.empty()) options.root_ca_pem = ca.cert_pem;
  HERD_ASSIGN_OR_RETURN(server->api_, ApiServer::create(options));
  const bool in_etcd = !options.etcd.servers.empty();
  if (!dir.empty() && !in_etcd && files::exists(dir + "/state.json")) {
    HERD_ASSIGN_OR_RETURN(std::string state, files::read(dir + "/state.json"));
    HERD_RETURN_IF_ERROR(server->api_->restore(state).withContext("load " + dir + "/state.json"));
  }
  ApiServer* api = server->api_.get();
  std::string client_ca = options.client_ca_pem.empty() ? ca.cert_pem : options.client_ca_pem;
  HttpServerConfig http{options.host, options.port, serving.cert_pem, serving.key_pem, client_ca};
  HERD_ASSIGN_OR_RETURN(server->http_, HttpServer::start(http, [api](const HttpRequest& req) {
                          return api->handle(req);
                        }));
  return server;
}

FakeApiServer::~FakeApiServer() {
  stop();
}

void FakeApiServer::stop() {
  if (!api_) return;
  // Watches first (they block connection threads), then the listener and connections.
  api_->stop();
  if (http_) http_->stop();
  if (!options_.state_dir.empty() && options_.etcd.servers.empty()) {
    (void)files::writeAtomic(options_.state_dir + "/state.json", api_->snapshot(), 0600);
  }
  http_.reset();
  api_.reset();
}

uint16_t FakeApiServer::port() const {
  return http_ ? http_->port() : 0;
}

std::string FakeApiServer::url() const {
  return "https://" + options_.host + ":" + std::to_string(port());
}

Result<std::pair<std::string, std::string>> FakeApiServer::issueClientCert(
    const std::string& user, const std::vector<std::string>& groups) const {
  HERD_ASSIGN_OR_RETURN(KeyPair leaf,
                        issueLeaf({ca_cert_pem_, ca_key_pem_}, {user, groups, {}, {}, false}));
  return std::make_pair(leaf.cert_pem, leaf.key_pem);
}

std::string FakeApiServer::adminKubeconfig() const {
  return "apiVersion: v1\n"
         "kind: Config\n"
         "clusters:\n"
         "- name: fake\n"
         "  cluster:\n"
         "    server: " +
         url() +
         "\n"
         "    certificate-authority-data: " +
         base64(ca_cert_pem_) +
         "\n"
         "users:\n"
         "- name: admin\n"
         "  user:\n"
         "    client-certificate-data: " +
         base64(admin_cert_pem_) +
         "\n"
         "    client-key-data: " +
         base64(admin_key_pem_) +
         "\n"
         "contexts:\n"
         "- name: fake\n"
         "  context:\n"
         "    cluster: fake\n"
         "    user: admin\n"
         "current-context: fake\n";
}

void FakeApiServer::dropWatches() {
  api_->dropWatches();
}
void FakeApiServer::failNextRequests(int count, int code, int retry_after_seconds) {
  api_->failNextRequests(count, code, retry_after_seconds);
}
void FakeApiServer::setLatency(std::chrono::milliseconds latency) {
  api_->setLatency(latency);
}
void FakeApiServer::compactHistory(uint64_t revision) {
  api_->compactHistory(revision);
}
uint64_t FakeApiServer::resourceVersion() const {
  return api_->resourceVersion();
}

}  // namespace herd::fake
