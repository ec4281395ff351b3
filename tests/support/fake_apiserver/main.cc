// herd-fake-apiserver: the fake kube-apiserver as a process, for kubectl and the local
// provider. Serves until SIGTERM or SIGINT, then stops cleanly (and saves --state-dir).
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "common/files.h"
#include "fake_apiserver.h"

int main(int argc, char** argv) {
  CLI::App app{"A fake kube-apiserver for tests: the recorded v1.32 REST protocol over HTTPS."};
  std::string listen = "127.0.0.1:0";
  std::string kubeconfig_out;
  herd::fake::FakeApiServerOptions options;
  std::vector<std::string> tokens;
  int fail_count = 0;
  int fail_code = 500;
  app.add_option("--listen", listen, "host:port to listen on (loopback only)");
  app.add_option("--kubeconfig-out", kubeconfig_out, "where to write the admin kubeconfig")
      ->required();
  app.add_option("--state-dir", options.state_dir,
                 "keep credentials and objects here across restarts");
  app.add_option("--data-dir", options.data_dir, "recorded discovery documents");
  app.add_option("--openapi-dir", options.openapi_dir, "recorded OpenAPI documents");
  app.add_option("--token", tokens, "TOKEN=USER: accept a bearer token for USER (repeatable)");
  app.add_option("--watch-history", options.history_limit,
                 "events kept for watches (older: 410 Gone)");
  app.add_option("--fail-first", fail_count, "answer the first N requests with --fail-code");
  app.add_option("--fail-code", fail_code, "500 or 429");
  std::string etcd_ca, etcd_cert, etcd_key;
  app.add_option("--etcd-servers", options.etcd.servers,
                 "keep the objects in this etcd (https://host:port, comma separated) instead "
                 "of in memory")
      ->delimiter(',');
  app.add_option("--etcd-cafile", etcd_ca, "the CA of etcd's serving certificates");
  app.add_option("--etcd-certfile", etcd_cert, "the client certificate for etcd");
  app.add_option("--etcd-keyfile", etcd_key, "its key");
  app.add_option("--etcd-prefix", options.etcd.prefix, "the prefix of every key in etcd");
  CLI11_PARSE(app, argc, argv);
  for (auto [path, pem] :
       {std::pair{&etcd_ca, &options.etcd.ca_pem}, std::pair{&etcd_cert, &options.etcd.cert_pem},
        std::pair{&etcd_key, &options.etcd.key_pem}}) {
    if (path->empty()) continue;
    auto read = herd::files::read(*path);
    if (!read.isOk()) {
      std::cerr << "herd-fake-apiserver: " << read.status().toString() << "\n";
      return 2;
    }
    *pem = *read;
  }

  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "--listen must be host:port\n";
    return 2;
  }
  options.host = listen.substr(0, colon);
  if (options.host != "127.0.0.1" && options.host != "localhost") {
    std::cerr << "--listen: the fake apiserver listens on loopback only\n";
    return 2;
  }
  if (options.host == "localhost") options.host = "127.0.0.1";
  options.port = static_cast<uint16_t>(std::stoi(listen.substr(colon + 1)));
  for (const auto& t : tokens) {
    size_t eq = t.find('=');
    if (eq == std::string::npos) {
      std::cerr << "--token must be TOKEN=USER\n";
      return 2;
    }
    options.tokens[t.substr(0, eq)] = {t.substr(eq + 1), {}, ""};
  }

  // Block the stop signals before any thread starts, then wait for one of them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = herd::fake::FakeApiServer::start(options);
  if (!server.isOk()) {
    std::cerr << "herd-fake-apiserver: " << server.status().toString() << "\n";
    return 1;
  }
  if (fail_count > 0) (*server)->failNextRequests(fail_count, fail_code, 1);
  auto written = herd::files::writeAtomic(kubeconfig_out, (*server)->adminKubeconfig(), 0600);
  if (!written.isOk()) {
    std::cerr << "herd-fake-apiserver: " << written.toString() << "\n";
    return 1;
  }
  std::cout << "serving on " << (*server)->url() << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  (*server)->stop();
  return 0;
}
