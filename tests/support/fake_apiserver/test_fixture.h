// Shared set-up of the fake apiserver's tests: a server on 127.0.0.1:0 per test and clients
// for the admin, a token user and anonymous callers.
#pragma once

#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "fake_apiserver.h"
#include "test_client.h"

namespace herd::fake::testing {

using Json = nlohmann::ordered_json;

// How long a test waits for something the fake does in the background (garbage collection,
// namespace deletion, a watch event) before calling it a failure. Generous on purpose: a busy
// 2-core CI machine can starve the fake's threads for seconds; a passing wait returns early.
constexpr auto kPatience = std::chrono::seconds(30);

// A watch read on its own thread, event by event as they arrive, so that a test can write
// while it watches and wait (bounded) for what it expects instead of sleeping. The stream ends
// when the server ends it or when `stop_when` holds for the events seen so far.
class WatchRecorder {
 public:
  using Events = std::vector<Json>;
  WatchRecorder(const Client& client, std::string target,
                std::function<bool(const Events&)> stop_when = nullptr,
                std::map<std::string, std::string> headers = {})
      : stop_when_(std::move(stop_when)) {
    thread_ = std::thread([this, client, target = std::move(target), headers] {
      Response r = client.stream(
          target,
          [this](const std::string& line) {
            std::lock_guard lock(mu_);
            events_.push_back(Json::parse(line, nullptr, false));
            arrivals_.push_back(std::chrono::steady_clock::now());
            cv_.notify_all();
            return !(stop_when_ && stop_when_(events_));
          },
          [this](int) {
            std::lock_guard lock(mu_);
            established_ = true;
            cv_.notify_all();
          },
          headers, std::chrono::seconds(120));
      std::lock_guard lock(mu_);
      response_ = std::move(r);
      finished_ = true;
      cv_.notify_all();
    });
  }
  ~WatchRecorder() { join(); }

  // True once the server has answered with its headers, i.e. the watch is registered.
  bool waitEstablished(std::chrono::milliseconds limit = kPatience) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return established_ || finished_; }) && established_;
  }
  bool waitFor(const std::function<bool(const Events&)>& pred,
               std::chrono::milliseconds limit = kPatience) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return pred(events_) || finished_; }) && pred(events_);
  }
  // Waits for the stream to end and returns the response (body, chunks, `ended`).
  const Response& join() {
    if (thread_.joinable()) thread_.join();
    return response_;
  }
  Events events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  std::vector<std::chrono::steady_clock::time_point> arrivals() const {
    std::lock_guard lock(mu_);
    return arrivals_;
  }

 private:
  std::function<bool(const Events&)> stop_when_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Events events_;
  std::vector<std::chrono::steady_clock::time_point> arrivals_;
  bool established_ = false;
  bool finished_ = false;
  Response response_;
  std::thread thread_;
};

// Event types in order, without BOOKMARKs.
inline std::vector<std::string> eventTypes(const WatchRecorder::Events& events,
                                           bool with_bookmarks = false) {
  std::vector<std::string> out;
  for (const auto& e : events) {
    std::string type = e.is_object() ? e.value("type", "") : "";
    if (with_bookmarks || type != "BOOKMARK") out.push_back(type);
  }
  return out;
}

class FakeApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override { startServer({}); }

  void startServer(FakeApiServerOptions options) {
    options.tokens["limited-token"] = {"limited-user", {}, ""};
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
                     std::chrono::milliseconds limit = kPatience) const {
    return waitUntil([&] { return get(path).status == code; }, limit);
  }
  // Polls `cond` until it holds, for at most `limit`.
  static bool waitUntil(const std::function<bool()>& cond,
                        std::chrono::milliseconds limit = kPatience) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!cond()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

  std::unique_ptr<FakeApiServer> server_;
};

}  // namespace herd::fake::testing
