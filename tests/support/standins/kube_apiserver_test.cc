// The kube-apiserver stand-in, started with the command line herd renders for a tenant
// (render::renderControlPlane, paths moved from /etc/kubernetes to a scratch directory, ports
// to free loopback ones) and the tenant's own PKI (pki::generatePki): real kubectl works with
// the tenant's admin.conf, strangers are refused as the real server refuses them, health
// answers as recorded, and the command line is held to the real binary's.
//
// The tenant's etcd is started from the rendered etcd spec (Debian's etcd; the tests that
// serve skip when it is not installed): the stand-in keeps its objects there as the real
// server does, so two replicas share them and a restart keeps them. With HERD_KUBE_BIN naming
// a directory that holds a real kube-apiserver, the same tests run it instead; the test of
// what only the stand-in refuses (the loopback rule) skips then.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/defaults.h"
#include "common/files.h"
#include "common/process.h"
#include "kube/transport.h"
#include "pki/bootstrap_token.h"
#include "pki/kubeconfig.h"
#include "pki/pki_store.h"
#include "pki/tenant_pki.h"
#include "render/mounts.h"
#include "render/render.h"
#include "support/test_env.h"

namespace herd::standins {
namespace {

using namespace std::chrono_literals;
using herd::testing::freeLoopbackPort;

// A real kube-apiserver under HERD_KUBE_BIN, else the stand-in.
std::string kubeBinDir() {
  const char* real = std::getenv("HERD_KUBE_BIN");
  return real && *real ? std::string(real) : std::string(HERD_STANDIN_DIR);
}
bool runningReal() {
  return kubeBinDir() != HERD_STANDIN_DIR;
}

std::string replaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
  return text;
}

// "$ kubectl get --raw /livez?verbose\n<body>[exit status: 0]\n" -> <body>.
std::string recordedBody(const std::string& file) {
  std::string text = herd::testing::readFileOrDie(
      fmt::format("{}/kubernetes/kubectl/{}", HERD_STANDIN_SHARED_DIR, file));
  text = text.substr(text.find('\n') + 1);
  return text.substr(0, text.rfind("[exit status:"));
}

// One tenant, "demo", rendered for one loopback host: its PKI under <dir>/kubernetes (where
// /etc/kubernetes is inside the components), its etcd and kube-apiserver command lines.
class TenantControlPlane {
 public:
  TenantControlPlane() {
    cluster_.metadata.name = "demo";
    cluster_.spec.controlPlane.etcd.replicas = 1;
    api::applyDefaults(cluster_);
    root_ = dir_.path() + "/kubernetes";
  }

  void render() {
    auto pki = pki::generatePki(cluster_, {});
    ASSERT_TRUE(pki.isOk()) << pki.status().message();
    pki_ = *pki;
    ASSERT_TRUE(pki::writePkiDir(root_, pki_.files).isOk());

    api_port_ = freeLoopbackPort();
    render::Platform platform;
    platform.gateway_address = "127.0.0.1";
    platform.tunnel_connect_address = fmt::format("127.0.0.1:{}", freeLoopbackPort());
    platform.tunnel_ca_bundle = pki_.files.at("pki/ca.crt").data;
    render::Topology t = render::kubernetesTopology(cluster_);
    int client = freeLoopbackPort(), peer = freeLoopbackPort(), metrics = freeLoopbackPort();
    t.etcd_members = {{"etcd-0", fmt::format("https://127.0.0.1:{}", client),
                       fmt::format("https://127.0.0.1:{}", peer)}};
    t.etcd_listen_host = "127.0.0.1";
    t.etcd_advertise_host = "127.0.0.1";
    t.etcd_client = {client, ""};
    t.etcd_peer = {peer, ""};
    t.etcd_metrics = {metrics, ""};
    t.apiserver_bind_address = "127.0.0.1";
    t.apiserver_port = {api_port_, ""};
    auto specs = render::renderControlPlane(cluster_, platform, t);
    ASSERT_TRUE(specs.isOk()) << specs.status().message();
    for (const auto& spec : *specs) {
      auto args = render::expandMemberArgs(
          spec, spec.component == render::Component::kEtcd ? "etcd-0" : "kube-apiserver-0");
      ASSERT_TRUE(args.isOk()) << args.status().message();
      for (auto& a : *args) a = moved(a);
      if (spec.component == render::Component::kEtcd) etcd_args_ = *args;
      if (spec.component == render::Component::kApiServer) api_args_ = *args;
      for (const auto& f : spec.files) {
        if (f.pki_file.empty()) {
          ASSERT_TRUE(files::makeDirs(moved(f.path.substr(0, f.path.rfind('/'))), 0755).isOk());
          ASSERT_TRUE(files::writeAtomic(moved(f.path), moved(f.content), f.mode).isOk());
        }
      }
    }
    ASSERT_FALSE(api_args_.empty());
    // The tenant's admin.conf names its public address behind the gateway; here the client
    // dials the apiserver itself. Same CA, same credentials.
    admin_conf_ = withServer("admin.conf", "admin.conf");
    herd_conf_ = withServer("herd.conf", "herd.conf");
  }

  // /etc/kubernetes/... -> <dir>/kubernetes/..., /var/lib/etcd -> <dir>/etcd-data.
  std::string moved(const std::string& text) const {
    return replaceAll(replaceAll(text, std::string(render::kKubernetesDir), root_),
                      std::string(render::kEtcdDataDir), dir_.path() + "/etcd-data");
  }

  std::string withServer(const std::string& pki_file, const std::string& name, int port = 0) {
    auto parsed = pki::parseKubeconfig(pki_.files.at(pki_file).data);
    EXPECT_TRUE(parsed.isOk());
    parsed->server = port == 0 ? url() : fmt::format("https://127.0.0.1:{}", port);
    return dir_.write(name, pki::renderKubeconfig(*parsed));
  }

  // Debian's etcd with the rendered flags, when installed (a real kube-apiserver needs it).
  bool startEtcd() {
    auto etcd = findExecutable("etcd");
    if (!etcd) return false;
    std::vector<std::string> argv{*etcd};
    argv.insert(argv.end(), etcd_args_.begin(), etcd_args_.end());
    ProcessOptions options;
    options.stderr_path = dir_.file("etcd.log");
    auto p = Process::spawn(argv, options);
    EXPECT_TRUE(p.isOk()) << p.status().message();
    if (!p.isOk()) return false;
    processes_.push_back(std::move(*p));
    return true;
  }
  Result<Process> startApiServer(std::vector<std::string> extra = {},
                                 const std::string& log = "kube-apiserver.log") {
    std::vector<std::string> argv{kubeBinDir() + "/kube-apiserver"};
    argv.insert(argv.end(), api_args_.begin(), api_args_.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    ProcessOptions options;
    options.stderr_path = dir_.file(log);
    return Process::spawn(argv, options);
  }

  // kubectl with `kubeconfig` (a path), its exit code and output.
  CommandResult kubectl(const std::string& kubeconfig, std::vector<std::string> args) {
    std::vector<std::string> argv{"kubectl", "--kubeconfig", kubeconfig};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = runCommand(argv, {}, 30s);
    EXPECT_TRUE(r.isOk()) << r.status().message();
    return r.isOk() ? *r : CommandResult{};
  }

  bool waitReady(std::chrono::milliseconds timeout, const std::string& kubeconfig = "") {
    return herd::testing::eventually(
        [&] {
          auto r =
              runCommand({"kubectl", "--kubeconfig", kubeconfig.empty() ? herd_conf_ : kubeconfig,
                          "get", "--raw", "/readyz"},
                         {}, 10s);
          return r.isOk() && r->exit_code == 0 && r->out == "ok";
        },
        timeout);
  }

  // A request with the tenant's CA, as `cert`/`key` (PEM; empty: no client certificate).
  Result<kube::HttpResponse> get(const std::string& target, const std::string& cert = "",
                                 const std::string& key = "", const std::string& token = "",
                                 int port = 0) {
    kube::RestConfig rc;
    rc.server = port == 0 ? url() : fmt::format("https://127.0.0.1:{}", port);
    rc.ca_pem = pki_.files.at("pki/ca.crt").data;
    rc.client_cert_pem = cert;
    rc.client_key_pem = key;
    rc.bearer_token = token;
    HERD_ASSIGN_OR_RETURN(auto transport, kube::makeTransport(rc));
    return transport->roundTrip({.method = "GET", .target = target, .headers = {}, .body = ""},
                                10s);
  }
  Result<kube::HttpResponse> post(const std::string& target, const std::string& body,
                                  const std::string& token) {
    kube::RestConfig rc;
    rc.server = url();
    rc.ca_pem = pki_.files.at("pki/ca.crt").data;
    rc.bearer_token = token;
    HERD_ASSIGN_OR_RETURN(auto transport, kube::makeTransport(rc));
    return transport->roundTrip(
        {.method = "POST",
         .target = target,
         .headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}},
         .body = body},
        10s);
  }

  std::string url() const { return fmt::format("https://127.0.0.1:{}", api_port_); }
  std::string log(const std::string& name = "kube-apiserver.log") const {
    return files::read(dir_.file(name)).valueOr("");
  }
  // Every rendered argument but those of `flag`.
  std::vector<std::string> argsWithout(const std::string& flag) const {
    std::vector<std::string> out;
    for (const auto& a : api_args_) {
      if (!a.starts_with("--" + flag + "=")) out.push_back(a);
    }
    return out;
  }

  herd::testing::TempDir dir_;
  api::Cluster cluster_;
  std::string root_;
  pki::PkiResult pki_;
  int api_port_ = 0;
  std::vector<std::string> etcd_args_, api_args_;
  std::string admin_conf_, herd_conf_;
  std::vector<Process> processes_;  // etcd, then the apiservers
};

// Runs kube-apiserver with a command line that it must refuse at start.
CommandResult refused(const std::vector<std::string>& args) {
  std::vector<std::string> argv{kubeBinDir() + "/kube-apiserver"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runCommand(argv, {}, 60s);
  EXPECT_TRUE(r.isOk()) << r.status().message();
  return r.isOk() ? *r : CommandResult{};
}

class KubeApiServerStandinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::cerr << "kube-apiserver from " << kubeBinDir()
              << (runningReal() ? "" : " (the stand-in; set HERD_KUBE_BIN to run a real one)")
              << "\n";
    ASSERT_NO_FATAL_FAILURE(tenant_.render());
  }
  // The tenant's etcd and the apiserver with the rendered flags (and `extra`), ready, with
  // herd's admin binding.
  void serve(std::vector<std::string> extra = {}) {
    if (!tenant_.startEtcd()) {
      GTEST_SKIP() << "kube-apiserver keeps its objects in the tenant's etcd, and etcd is not "
                      "installed";
    }
    auto api = tenant_.startApiServer(std::move(extra));
    ASSERT_TRUE(api.isOk()) << api.status().message();
    tenant_.processes_.push_back(std::move(*api));
    // A real one is ready once etcd is (its /readyz checks etcd).
    ASSERT_TRUE(tenant_.waitReady(90s))
        << tenant_.log() << (runningReal() ? "\netcd:\n" + tenant_.log("etcd.log") : "");
    // admin.conf carries group kubeadm:cluster-admins, which the cluster-admin binding that
    // kubeadm and herd create lets in; herd.conf (system:masters) creates it.
    // (A manifest: kubectl's generators, `create clusterrolebinding`, send protobuf, which the
    // fake does not read.)
    std::string binding = tenant_.dir_.write("cluster-admins.yaml", R"(
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kubeadm:cluster-admins
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: kubeadm:cluster-admins
)");
    auto bound = tenant_.kubectl(tenant_.herd_conf_, {"create", "-f", binding});
    ASSERT_EQ(bound.exit_code, 0) << bound.err;
  }
  void TearDown() override {
    for (auto it = tenant_.processes_.rbegin(); it != tenant_.processes_.rend(); ++it) {
      it->stop(15s);
    }
  }
  TenantControlPlane tenant_;
};

TEST_F(KubeApiServerStandinTest, KubectlWorksWithTheTenantsAdminConf) {
  ASSERT_NO_FATAL_FAILURE(serve());
  if (IsSkipped()) return;
  auto ns = tenant_.kubectl(tenant_.admin_conf_, {"get", "ns"});
  ASSERT_EQ(ns.exit_code, 0) << ns.err;
  EXPECT_TRUE(ns.out.starts_with("NAME ")) << ns.out;
  for (const char* name : {"default", "kube-node-lease", "kube-public", "kube-system"}) {
    EXPECT_NE(ns.out.find(std::string("\n") + name + " "), std::string::npos) << name << ns.out;
  }
  // User = CN, groups = O, as the real server reads a client certificate. (`kubectl auth
  // whoami` asks in protobuf, which the fake does not read: the same review as a manifest;
  // without client-side validation, whose OpenAPI v2 document the fake does not serve.)
  std::string review = tenant_.dir_.write(
      "review.yaml", "apiVersion: authentication.k8s.io/v1\nkind: SelfSubjectReview\n");
  auto whoami = tenant_.kubectl(tenant_.admin_conf_,
                                {"create", "--validate=false", "-f", review, "-o", "json"});
  ASSERT_EQ(whoami.exit_code, 0) << whoami.err;
  auto user = nlohmann::json::parse(whoami.out)["status"]["userInfo"];
  EXPECT_EQ(user["username"], "kubernetes-admin");
  EXPECT_EQ(user["groups"], nlohmann::json({"kubeadm:cluster-admins", "system:authenticated"}));
  std::string team = tenant_.dir_.write(
      "team-a.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n");
  auto created = tenant_.kubectl(tenant_.admin_conf_, {"apply", "-f", team});
  EXPECT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(tenant_.kubectl(tenant_.admin_conf_, {"get", "ns", "team-a", "-o", "name"}).out,
            "namespace/team-a\n");
}

TEST_F(KubeApiServerStandinTest, RefusesClientsWithoutTheTenantsCertificate) {
  ASSERT_NO_FATAL_FAILURE(serve());
  if (IsSkipped()) return;
  // Another tenant's admin certificate: issued by a CA this tenant does not trust.
  api::Cluster other;
  other.metadata.name = "other";
  api::applyDefaults(other);
  auto foreign = pki::generatePki(other, {});
  ASSERT_TRUE(foreign.isOk());
  auto stranger = pki::parseKubeconfig(foreign->files.at("admin.conf").data);
  ASSERT_TRUE(stranger.isOk());
  auto refused =
      tenant_.get("/api/v1/namespaces", stranger->client_cert_pem, stranger->client_key_pem);
  ASSERT_TRUE(refused.isOk()) << refused.status().message();
  EXPECT_EQ(refused->status, 401);
  auto status = nlohmann::json::parse(refused->body);
  EXPECT_EQ(status["reason"], "Unauthorized");
  EXPECT_EQ(status["code"], 401);

  // No certificate at all: the rendered flags leave anonymous auth on, as kube-apiserver's
  // default, so the request is system:anonymous's and RBAC refuses it with a 403; health and
  // version stay open to everyone (system:public-info-viewer).
  auto anonymous = tenant_.get("/api/v1/namespaces");
  ASSERT_TRUE(anonymous.isOk()) << anonymous.status().message();
  EXPECT_EQ(anonymous->status, 403);
  EXPECT_EQ(nlohmann::json::parse(anonymous->body)["message"],
            "namespaces is forbidden: User \"system:anonymous\" cannot list resource "
            "\"namespaces\" in API group \"\" at the cluster scope");
  auto health = tenant_.get("/healthz");
  ASSERT_TRUE(health.isOk());
  EXPECT_EQ(health->status, 200);

  auto mine = pki::parseKubeconfig(tenant_.pki_.files.at("admin.conf").data);
  auto allowed = tenant_.get("/api/v1/namespaces", mine->client_cert_pem, mine->client_key_pem);
  ASSERT_TRUE(allowed.isOk());
  EXPECT_EQ(allowed->status, 200);
}

TEST_F(KubeApiServerStandinTest, WithoutAnonymousAuthAClientWithoutCertificateGets401) {
  ASSERT_NO_FATAL_FAILURE(serve({"--anonymous-auth=false"}));
  if (IsSkipped()) return;
  for (const char* path : {"/api/v1/namespaces", "/healthz"}) {
    auto r = tenant_.get(path);
    ASSERT_TRUE(r.isOk()) << r.status().message();
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_EQ(nlohmann::json::parse(r->body)["reason"], "Unauthorized") << path;
  }
}

TEST_F(KubeApiServerStandinTest, HealthAnswersAsTheRealServer) {
  ASSERT_NO_FATAL_FAILURE(serve());
  if (IsSkipped()) return;
  for (const char* path : {"/healthz", "/livez", "/readyz"}) {
    auto r = tenant_.kubectl(tenant_.admin_conf_, {"get", "--raw", path});
    EXPECT_EQ(r.exit_code, 0) << path << r.err;
    EXPECT_EQ(r.out, "ok") << path;
  }
  auto livez = tenant_.kubectl(tenant_.admin_conf_, {"get", "--raw", "/livez?verbose"});
  EXPECT_EQ(livez.out, recordedBody("livez-verbose.txt"));
  auto readyz = tenant_.kubectl(tenant_.admin_conf_, {"get", "--raw", "/readyz?verbose"});
  EXPECT_EQ(readyz.out, recordedBody("readyz-verbose.txt"));
  // /healthz runs the /livez checks.
  auto healthz = tenant_.kubectl(tenant_.admin_conf_, {"get", "--raw", "/healthz?verbose"});
  EXPECT_EQ(healthz.out, replaceAll(recordedBody("livez-verbose.txt"), "livez check passed",
                                    "healthz check passed"));
  auto excluded =
      tenant_.kubectl(tenant_.admin_conf_, {"get", "--raw", "/readyz?verbose&exclude=etcd"});
  EXPECT_NE(excluded.out.find("\n[+]etcd excluded: ok\n"), std::string::npos) << excluded.out;
}

TEST_F(KubeApiServerStandinTest, BootstrapTokensAuthenticateAsTheRealServer) {
  ASSERT_NO_FATAL_FAILURE(serve());
  if (IsSkipped()) return;
  // The Secret herd's PKI makes for `kubeadm join`, created as herd creates it.
  std::string secret = tenant_.dir_.write(
      "bootstrap-token.yaml", tenant_.pki_.files.at(std::string(pki::layout::kTokenSecret)).data);
  auto created = tenant_.kubectl(tenant_.herd_conf_, {"create", "-f", secret});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const pki::BootstrapToken& token = tenant_.pki_.token;
  auto review = tenant_.post(
      "/apis/authentication.k8s.io/v1/selfsubjectreviews",
      R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})", token.toString());
  ASSERT_TRUE(review.isOk()) << review.status().message();
  ASSERT_EQ(review->status, 201) << review->body;
  auto user = nlohmann::json::parse(review->body)["status"]["userInfo"];
  EXPECT_EQ(user["username"], "system:bootstrap:" + token.id);
  EXPECT_EQ(user["groups"],
            nlohmann::json({"system:bootstrappers", std::string(pki::kBootstrapTokenGroup),
                            "system:authenticated"}));
  std::string wrong = token.id + ".0123456789abcdef";
  ASSERT_NE(wrong, token.toString());
  auto bad = tenant_.get("/api", "", "", wrong);
  ASSERT_TRUE(bad.isOk());
  EXPECT_EQ(bad->status, 401);
}

TEST_F(KubeApiServerStandinTest, TokenFileUsersAuthenticateAsTheRealServer) {
  std::string file = tenant_.dir_.write(
      "tokens.csv", "# token,user,uid,groups\nsecret-token-1,ci-bot,1001,\"team-a,team-b\"\n");
  ASSERT_NO_FATAL_FAILURE(serve({"--token-auth-file=" + file}));
  if (IsSkipped()) return;
  auto review = tenant_.post(
      "/apis/authentication.k8s.io/v1/selfsubjectreviews",
      R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})", "secret-token-1");
  ASSERT_TRUE(review.isOk()) << review.status().message();
  ASSERT_EQ(review->status, 201) << review->body;
  auto user = nlohmann::json::parse(review->body)["status"]["userInfo"];
  EXPECT_EQ(user["username"], "ci-bot");
  EXPECT_EQ(user["uid"], "1001");
  EXPECT_EQ(user["groups"], nlohmann::json({"team-a", "team-b", "system:authenticated"}));
  auto forbidden = tenant_.get("/api/v1/namespaces", "", "", "secret-token-1");
  ASSERT_TRUE(forbidden.isOk());
  EXPECT_EQ(forbidden->status, 403) << "no RBAC binding for ci-bot";
}

TEST_F(KubeApiServerStandinTest, RefusesAnUnknownFlagAsPflagDoes) {
  auto args = tenant_.api_args_;
  args.push_back("--no-such-flag=1");
  auto r = refused(args);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Error: unknown flag: --no-such-flag"), std::string::npos) << r.err;
  // A flag of kube-controller-manager is no flag of kube-apiserver.
  args.back() = "--leader-elect=true";
  r = refused(args);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown flag: --leader-elect"), std::string::npos) << r.err;
}

TEST_F(KubeApiServerStandinTest, RefusesAMissingEtcdOrAnUnreadableCertificate) {
  auto no_etcd = refused(tenant_.argsWithout("etcd-servers"));
  EXPECT_EQ(no_etcd.exit_code, 1);
  EXPECT_NE(no_etcd.err.find("--etcd-servers must be specified"), std::string::npos) << no_etcd.err;

  std::string missing = tenant_.dir_.file("nowhere/apiserver.crt");
  auto args = tenant_.argsWithout("tls-cert-file");
  args.push_back("--tls-cert-file=" + missing);
  auto no_cert = refused(args);
  EXPECT_EQ(no_cert.exit_code, 1);
  EXPECT_NE(no_cert.err.find(missing + ": no such file or directory"), std::string::npos)
      << no_cert.err;
}

TEST_F(KubeApiServerStandinTest, RefusesANonLoopbackBindAddress) {
  if (runningReal()) {
    GTEST_SKIP() << "the loopback rule is the stand-in's own; a real kube-apiserver listens there";
  }
  for (const char* address : {"0.0.0.0", "10.1.2.3", "::"}) {
    auto args = tenant_.argsWithout("bind-address");
    args.push_back(std::string("--bind-address=") + address);
    auto r = refused(args);
    EXPECT_EQ(r.exit_code, 1) << address;
    EXPECT_NE(r.err.find(fmt::format("--bind-address={} is not a loopback address", address)),
              std::string::npos)
        << r.err;
  }
}

// The admin.conf client certificate of the tenant, for direct requests.
std::pair<std::string, std::string> adminCredentials(const TenantControlPlane& tenant) {
  auto conf = pki::parseKubeconfig(tenant.pki_.files.at("admin.conf").data);
  EXPECT_TRUE(conf.isOk());
  return {conf->client_cert_pem, conf->client_key_pem};
}

nlohmann::json parsed(const Result<kube::HttpResponse>& r) {
  if (!r.isOk()) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, false);
}

TEST_F(KubeApiServerStandinTest, TwoReplicasOnOneEtcdServeOneState) {
  ASSERT_NO_FATAL_FAILURE(serve());
  if (IsSkipped()) return;
  // A second replica of the tenant's apiserver: the same command line on another port.
  int second_port = freeLoopbackPort();
  auto second = tenant_.startApiServer({fmt::format("--secure-port={}", second_port)},
                                       "kube-apiserver-2.log");
  ASSERT_TRUE(second.isOk()) << second.status().message();
  tenant_.processes_.push_back(std::move(*second));
  std::string second_herd = tenant_.withServer("herd.conf", "herd-2.conf", second_port);
  std::string second_admin = tenant_.withServer("admin.conf", "admin-2.conf", second_port);
  ASSERT_TRUE(tenant_.waitReady(90s, second_herd)) << tenant_.log("kube-apiserver-2.log");

  // The ClusterRoleBinding that serve() wrote through the first lets admin.conf in at the
  // second: no 403.
  auto ns = tenant_.kubectl(second_admin, {"get", "ns", "-o", "name"});
  ASSERT_EQ(ns.exit_code, 0) << ns.err;
  EXPECT_NE(ns.out.find("namespace/kube-system\n"), std::string::npos) << ns.out;

  // An object written through one is the same object read through the other.
  auto [cert, key] = adminCredentials(tenant_);
  auto listed =
      parsed(tenant_.get("/api/v1/namespaces/default/configmaps", cert, key, "", second_port));
  ASSERT_TRUE(listed.is_object());
  std::string list_rv = listed["metadata"]["resourceVersion"];
  std::string cm = tenant_.dir_.write(
      "shared.yaml",
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: default\n"
      "data:\n  written: through-the-first\n");
  auto created = tenant_.kubectl(tenant_.admin_conf_, {"create", "-f", cm, "-o", "json"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  auto mine = nlohmann::json::parse(created.out);
  auto theirs = parsed(
      tenant_.get("/api/v1/namespaces/default/configmaps/shared", cert, key, "", second_port));
  ASSERT_TRUE(theirs.is_object());
  EXPECT_EQ(theirs["metadata"]["uid"], mine["metadata"]["uid"]);
  EXPECT_EQ(theirs["metadata"]["resourceVersion"], mine["metadata"]["resourceVersion"]);
  EXPECT_EQ(theirs["data"]["written"], "through-the-first");

  // A watch through the second from before the write sees it.
  auto watched = tenant_.get(
      "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=2"
      "&resourceVersion=" +
          list_rv,
      cert, key, "", second_port);
  ASSERT_TRUE(watched.isOk()) << watched.status().message();
  EXPECT_EQ(watched->status, 200);
  auto first_line =
      nlohmann::json::parse(watched->body.substr(0, watched->body.find('\n')), nullptr, false);
  ASSERT_TRUE(first_line.is_object()) << watched->body;
  EXPECT_EQ(first_line["type"], "ADDED");
  EXPECT_EQ(first_line["object"]["metadata"]["name"], "shared");

  // A write through the second is seen by the first, and the first's stale update conflicts.
  auto patched = tenant_.kubectl(second_admin, {"patch", "configmap", "shared", "--type=merge",
                                                "-p", R"({"data":{"written":"by-the-second"}})"});
  ASSERT_EQ(patched.exit_code, 0) << patched.err;
  auto back = tenant_.kubectl(tenant_.admin_conf_,
                              {"get", "configmap", "shared", "-o", "jsonpath={.data.written}"});
  EXPECT_EQ(back.out, "by-the-second");
  std::string stale = tenant_.dir_.write("stale.json", created.out);
  auto conflict = tenant_.kubectl(tenant_.admin_conf_, {"replace", "-f", stale});
  EXPECT_NE(conflict.exit_code, 0);
  EXPECT_NE(conflict.err.find("the object has been modified"), std::string::npos) << conflict.err;
}

TEST_F(KubeApiServerStandinTest, ARestartedApiServerKeepsItsObjects) {
  ASSERT_NO_FATAL_FAILURE(serve());
  if (IsSkipped()) return;
  std::string cm = tenant_.dir_.write(
      "kept.yaml",
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  namespace: default\n");
  auto created = tenant_.kubectl(tenant_.admin_conf_, {"create", "-f", cm, "-o", "json"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  auto before = nlohmann::json::parse(created.out);

  tenant_.processes_.back().stop(15s);
  tenant_.processes_.pop_back();
  auto again = tenant_.startApiServer({}, "kube-apiserver-restarted.log");
  ASSERT_TRUE(again.isOk()) << again.status().message();
  tenant_.processes_.push_back(std::move(*again));
  ASSERT_TRUE(tenant_.waitReady(90s)) << tenant_.log("kube-apiserver-restarted.log");

  auto got = tenant_.kubectl(tenant_.admin_conf_, {"get", "configmap", "kept", "-o", "json"});
  ASSERT_EQ(got.exit_code, 0) << got.err << "\n(the binding made before the restart is kept too)";
  auto after = nlohmann::json::parse(got.out);
  EXPECT_EQ(after["metadata"]["uid"], before["metadata"]["uid"]);
  EXPECT_EQ(after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);
  EXPECT_EQ(after["metadata"]["creationTimestamp"], before["metadata"]["creationTimestamp"]);
}

TEST_F(KubeApiServerStandinTest, AWatchFromACompactedRevisionIsGone) {
  ASSERT_NO_FATAL_FAILURE(serve({"--etcd-compaction-interval=1s"}));
  if (IsSkipped()) return;
  auto [cert, key] = adminCredentials(tenant_);
  // Every round compacts up to the revision of the round before: after two, revision 1 is
  // long gone (and the apiserver's own history with it).
  bool gone = herd::testing::eventually(
      [&] {
        auto r = tenant_.get(
            "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1"
            "&resourceVersion=1",
            cert, key);
        if (!r.isOk() || r->status != 200) return false;
        auto event = nlohmann::json::parse(r->body.substr(0, r->body.find('\n')), nullptr, false);
        return event.is_object() && event["type"] == "ERROR" && event["object"]["code"] == 410 &&
               event["object"]["reason"] == "Expired";
      },
      60s);
  EXPECT_TRUE(gone) << tenant_.log();
}

TEST_F(KubeApiServerStandinTest, ReportsEtcdFailingUntilItAnswers) {
  // The apiserver first, its etcd only later.
  auto api = tenant_.startApiServer();
  ASSERT_TRUE(api.isOk()) << api.status().message();
  tenant_.processes_.push_back(std::move(*api));
  auto [cert, key] = adminCredentials(tenant_);
  Result<kube::HttpResponse> readyz = Status::unavailable("not asked yet");
  ASSERT_TRUE(herd::testing::eventually(
      [&] {
        readyz = tenant_.get("/readyz?verbose", cert, key);
        return readyz.isOk();
      },
      60s))
      << tenant_.log();
  EXPECT_EQ(readyz->status, 500);
  EXPECT_NE(readyz->body.find("\n[-]etcd failed: reason withheld\n"), std::string::npos)
      << readyz->body;
  EXPECT_NE(readyz->body.find("\n[-]etcd-readiness failed: reason withheld\n"), std::string::npos)
      << readyz->body;
  EXPECT_TRUE(readyz->body.ends_with("readyz check failed\n")) << readyz->body;
  auto livez = tenant_.get("/livez", cert, key);
  ASSERT_TRUE(livez.isOk());
  EXPECT_EQ(livez->status, 500);
  EXPECT_NE(livez->body.find("\n[-]etcd failed: reason withheld\n"), std::string::npos)
      << livez->body;
  EXPECT_TRUE(livez->body.ends_with("livez check failed\n")) << livez->body;

  if (!tenant_.startEtcd()) GTEST_SKIP() << "etcd is not installed";
  EXPECT_TRUE(tenant_.waitReady(90s)) << tenant_.log() << "\netcd:\n" << tenant_.log("etcd.log");
  auto ns = tenant_.kubectl(tenant_.herd_conf_, {"get", "ns", "default", "-o", "name"});
  EXPECT_EQ(ns.out, "namespace/default\n") << ns.err;
}

}  // namespace
}  // namespace herd::standins
