// herd join-command NAME: what to paste on a node so that it joins tenant NAME from anywhere:
// the node's SSH key and the gateway's pinned host key written to /etc/herd, the stock
// OpenSSH tunnel that lets the control plane reach the node's kubelet (ssh -N -R), and the
// `kubeadm join` line with the tenant's bootstrap token and CA hash. Everything comes from the
// tenant's credential Secrets in the seed; nothing is written anywhere by this command.
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <ostream>
#include <regex>

#include "cli/app.h"
#include "cli/commands.h"
#include "cli/seed.h"
#include "common/files.h"
#include "common/net.h"
#include "common/openssl_handles.h"
#include "pki/bootstrap_token.h"

namespace herd::cli {
namespace {

using nlohmann::json;

struct JoinOptions {
  SeedFlags seed;
  std::string name;
  std::string tunnel_address;   // the gateway's SSH listener, host:port
  std::string host_key_file;    // its public host key (OpenSSH one-line)
  std::string node_name = "$(hostname)";
};

// kubeadm's --discovery-token-ca-cert-hash: SHA-256 of the CA's DER SubjectPublicKeyInfo.
Result<std::string> caCertHash(const std::string& pem) {
  ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return Status::invalid("the tenant's ca.crt is not a PEM certificate");
  unsigned char* der = nullptr;
  int length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.get()), &der);
  if (length <= 0) return Status::internal("cannot encode the CA's public key");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_length = 0;
  EVP_Digest(der, static_cast<size_t>(length), md, &md_length, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  std::string out = "sha256:";
  for (unsigned int i = 0; i < md_length; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

std::string hostPortOf(const std::string& url) {
  std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  return rest.substr(0, rest.find('/'));
}

Result<std::string> joinScript(kube::Client& client, const JoinOptions& o) {
  auto got = client.get(clustersResource(), "", o.name);
  if (!got) return explainSeedError(got.status(), o.name);
  std::string endpoint = got->value("status", json::object()).value("endpoint", "");
  if (endpoint.empty())
    return Status::failedPrecondition(fmt::format(
        "cluster \"{}\" has no endpoint in its status yet (see `herd describe cluster {}`)",
        o.name, o.name));
  HERD_ASSIGN_OR_RETURN(std::string token_text,
                        readTenantFile(client, o.name, "bootstrap-token", "bootstrap-token"));
  while (!token_text.empty() && (token_text.back() == '\n' || token_text.back() == ' '))
    token_text.pop_back();
  HERD_ASSIGN_OR_RETURN(auto token, pki::BootstrapToken::parse(token_text));
  HERD_ASSIGN_OR_RETURN(std::string ca, readTenantFile(client, o.name, "ca-certs", "ca.crt"));
  HERD_ASSIGN_OR_RETURN(std::string hash, caCertHash(ca));
  HERD_ASSIGN_OR_RETURN(std::string node_key,
                        readTenantFile(client, o.name, "ssh-node-key", "node_ed25519_key"));
  HERD_ASSIGN_OR_RETURN(auto tunnel, net::parseHostPort(o.tunnel_address));
  HERD_ASSIGN_OR_RETURN(std::string host_key, files::read(o.host_key_file));
  static const std::regex kPublicKey("^(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/=]+");
  std::smatch m;
  if (!std::regex_search(host_key, m, kPublicKey))
    return Status::invalid(o.host_key_file + ": not an OpenSSH public key");
  std::string pinned = tunnel.port == 22 ? tunnel.host
                                         : fmt::format("[{}]:{}", tunnel.host, tunnel.port);
  if (!node_key.ends_with("\n")) node_key += "\n";

  std::string out;
  out += fmt::format("# Join this node to cluster {} (run as root).\n", o.name);
  out += "install -d -m 0700 /etc/herd\n";
  out += "cat > /etc/herd/node_ed25519_key <<'HERD_KEY'\n" + node_key + "HERD_KEY\n";
  out += "chmod 0600 /etc/herd/node_ed25519_key\n";
  out += fmt::format("echo '{} {}' > /etc/herd/known_hosts\n", pinned, m.str(0));
  out += "# The tunnel: the control plane reaches this node's kubelet through the gateway.\n";
  out += fmt::format(
      "ssh -N -f -o ExitOnForwardFailure=yes -o ServerAliveInterval=15 "
      "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/etc/herd/known_hosts "
      "-i /etc/herd/node_ed25519_key -p {} -R {}:10250:127.0.0.1:10250 {}@{}\n",
      tunnel.port, o.node_name, o.name, tunnel.host);
  out += fmt::format(
      "kubeadm join {} --token {} --discovery-token-ca-cert-hash {}\n", hostPortOf(endpoint),
      token.toString(), hash);
  return out;
}

int runJoinCommand(const JoinOptions& o, Streams io) {
  auto client = connectSeed(o.seed);
  if (!client) {
    io.err << "herd: " << client.status().message() << "\n";
    return kExitFailure;
  }
  auto script = joinScript(**client, o);
  if (!script) {
    io.err << "herd: " << script.status().message() << "\n";
    return kExitFailure;
  }
  io.out << *script;
  return kExitOk;
}

}  // namespace

void addJoinCommand(CLI::App& app, Streams io, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "join-command",
      "Print what to paste on a node to join a tenant cluster: its SSH key, the tunnel "
      "through the gateway, and the kubeadm join line");
  auto o = std::make_shared<JoinOptions>();
  cmd->add_option("NAME", o->name, "Cluster name")->required();
  cmd->add_option("--tunnel-address", o->tunnel_address,
                  "The gateway's SSH tunnel listener that nodes dial (host:port)")
      ->required();
  cmd->add_option("--tunnel-host-key-file", o->host_key_file,
                  "The gateway's public SSH host key, which the node pins")
      ->required();
  cmd->add_option("--node-name", o->node_name,
                  "The name the node binds in the tunnel (default: the node's hostname)");
  addSeedFlags(cmd, o->seed);
  cmd->callback([o, io, &exit_code] { exit_code = runJoinCommand(*o, io); });
}

}  // namespace herd::cli
