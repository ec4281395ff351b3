// Shared set-up of the fake apiserver's tests: a server on 127.0.0.1:0 per test and clients
// for the admin, a token user and anonymous callers.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fake_apiserver.h"
#include "test_client.h"

namespace herd::fake::testing {

using Json = nlohmann::ordered_json;

class FakeApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override { startServer({}); }

  void startServer(FakeApiServerOptions options) {
    options.tokens["limited-token"] = {"limited-user", {}};
    auto started = FakeApiServer::start(options);
    ASSERT_TRUE(started.isOk()) << started.status().toString();
    server_ = std::move(*started);
  }

  Client admin() const {
    return Client(server_->port(),
                  {server_->caPem(), server_->adminCertPem(), server_->adminKeyPem(), ""});
  }
  Client tokenUser(const std::string& token = "limited-token") const {
    return Client(server_->port(), {server_->caPem(), "", "", token});
  }
  Client anonymous() const { return Client(server_->port(), {server_->caPem(), "", "", ""}); }

  static Json json(const Response& r) { return Json::parse(r.body, nullptr, false); }

  Response post(const std::string& path, const Json& body) const {
    return admin().request("POST", path, body.dump());
  }
  Response put(const std::string& path, const Json& body) const {
    return admin().request("PUT", path, body.dump());
  }
  Response patch(const std::string& path, const std::string& type, const std::string& body) const {
    return admin().request("PATCH", path, body, {{"Content-Type", type}});
  }
  Response del(const std::string& path, const std::string& body = "") const {
    return admin().request("DELETE", path, body);
  }
  Response get(const std::string& path) const { return admin().get(path); }

  void createNamespace(const std::string& name) const {
    Response r =
        post("/api/v1/namespaces",
             {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}});
    ASSERT_EQ(r.status, 201) << r.body;
  }
  Response createConfigMap(const std::string& ns, const Json& metadata,
                           const Json& data = Json::object()) const {
    return post(
        "/api/v1/namespaces/" + ns + "/configmaps",
        {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", metadata}, {"data", data}});
  }

  // Polls `path` until its status is `code`, for at most `limit`.
  bool waitForStatus(const std::string& path, int code,
                     std::chrono::milliseconds limit = std::chrono::seconds(5)) const {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (get(path).status == code) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::unique_ptr<FakeApiServer> server_;
};

}  // namespace herd::fake::testing
