// Replays the recorded kube-apiserver transcripts (../shared/kubernetes/transcripts) against
// the fake, exchange by exchange, and compares what a client sees: the status code, the
// Status reason and causes, and the shape of returned objects. Recorded resourceVersions and
// uids in later requests are mapped to the fake's own as the replay learns them.
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "common/files.h"
#include "support/test_env.h"
#include "test_fixture.h"

namespace herd::fake::testing {
namespace {

struct Exchange {
  std::string title;
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;
  std::string body;
  int status = 0;
  std::string response;
};

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<Exchange> parseTranscript(const std::string& text) {
  std::vector<Exchange> out;
  std::istringstream in(text);
  std::string line;
  Exchange cur;
  enum { kNone, kReqHeaders, kReqBody, kResStatus, kResHeaders, kResBody } state = kNone;
  auto flush = [&] {
    if (!cur.method.empty()) {
      cur.body = rtrim(cur.body);
      out.push_back(cur);
    }
    cur = Exchange();
  };
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      flush();
      cur.title = line.substr(3);
      state = kNone;
      continue;
    }
    if (line.rfind(">>> REQUEST", 0) == 0) {
      if (!std::getline(in, line)) break;
      std::istringstream rl(line);
      rl >> cur.method >> cur.target;
      state = kReqHeaders;
      continue;
    }
    if (line.rfind("<<< RESPONSE", 0) == 0) {
      state = kResStatus;
      continue;
    }
    switch (state) {
      case kReqHeaders:
        if (line.empty()) {
          state = kReqBody;
        } else if (size_t colon = line.find(": "); colon != std::string::npos) {
          cur.headers[line.substr(0, colon)] = line.substr(colon + 2);
        }
        break;
      case kReqBody:
        cur.body += line + "\n";
        break;
      case kResStatus:
        if (line.rfind("HTTP/1.1 ", 0) == 0) {
          cur.status = std::stoi(line.substr(9, 3));
          state = kResHeaders;
        }
        break;
      case kResHeaders:
        if (line.empty()) state = kResBody;
        break;
      case kResBody:
        if (line.rfind("[wire body", 0) == 0 || line.rfind("=====", 0) == 0 ||
            line.rfind("NOTE", 0) == 0 || line.rfind("---", 0) == 0) {
          state = kNone;
        } else {
          cur.response += line + "\n";
        }
        break;
      case kNone:
        break;
    }
  }
  flush();
  return out;
}

class ReplayTest : public FakeApiServerTest {
 protected:
  void SetUp() override {
    if (herd::testing::sharedDir().empty()) {
      GTEST_SKIP() << "../shared/kubernetes is not there";
    }
    FakeApiServerTest::SetUp();
    for (const char* ns : {"ref-list", "ref-watch", "ref-gc"}) createNamespace(ns);
  }

  std::string substitute(std::string s) const {
    for (const auto& [recorded, actual] : mapping_) {
      for (const std::string& form : {"\"" + recorded + "\"", "=" + recorded}) {
        std::string to = form[0] == '"' ? "\"" + actual + "\"" : "=" + actual;
        for (size_t pos = s.find(form); pos != std::string::npos;
             pos = s.find(form, pos + to.size())) {
          // Only whole values: "=24" must not match "=245".
          size_t end = pos + form.size();
          if (form[0] == '=' && end < s.size() && std::isalnum(static_cast<unsigned char>(s[end])))
            continue;
          s.replace(pos, form.size(), to);
        }
      }
    }
    return s;
  }

  void learn(const Json& recorded, const Json& actual) {
    if (!recorded.is_object() || !actual.is_object()) return;
    if (!recorded.contains("metadata") || !actual.contains("metadata")) return;
    for (const char* key : {"resourceVersion", "uid"}) {
      const Json& r = recorded["metadata"];
      const Json& a = actual["metadata"];
      if (r.contains(key) && a.contains(key) && r[key].is_string() && a[key].is_string()) {
        mapping_[r[key].get<std::string>()] = a[key].get<std::string>();
      }
    }
  }

  // Replays one transcript; returns the number of exchanges compared.
  int replay(const std::string& file, const std::set<int>& skip = {}) {
    std::string text = herd::testing::readFileOrDie(herd::testing::sharedDir() +
                                                    "/kubernetes/transcripts/" + file);
    std::vector<Exchange> exchanges = parseTranscript(text);
    int compared = 0;
    for (const auto& ex : exchanges) {
      int number = std::atoi(ex.title.c_str());
      if (skip.count(number) || ex.target.find("watch=1") != std::string::npos) continue;
      SCOPED_TRACE(file + " #" + ex.title);
      std::map<std::string, std::string> headers;
      for (const auto& [k, v] : ex.headers) {
        if (k != "Host" && k != "User-Agent" && k != "Content-Length") headers[k] = v;
      }
      Response got =
          admin().request(ex.method, substitute(ex.target), substitute(ex.body), headers);
      // The recording waited for kube-controller-manager here ("2 s later", "right after",
      // "after polling"): poll the fake's controller until it reaches the recorded state.
      bool waited = ex.title.find("later") != std::string::npos ||
                    ex.title.find("polling") != std::string::npos ||
                    ex.title.find("after") != std::string::npos;
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
      while (waited && ex.method == "GET" && got.status != ex.status &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        got = admin().request(ex.method, substitute(ex.target), substitute(ex.body), headers);
      }
      ++compared;
      EXPECT_EQ(got.status, ex.status) << ex.method << " " << ex.target << "\n" << got.body;
      Json want = Json::parse(ex.response, nullptr, false);
      Json have = Json::parse(got.body, nullptr, false);
      if (want.is_discarded()) {
        if (ex.response.find("404 page not found") != std::string::npos) {
          EXPECT_EQ(got.body, "404 page not found\n");
        }
        continue;
      }
      if (have.is_discarded()) {
        ADD_FAILURE() << "not JSON: " << got.body;
        continue;
      }
      if (want.value("kind", "") == "Status" && want.value("status", "") == "Failure") {
        EXPECT_EQ(have.value("reason", ""), want.value("reason", "")) << got.body;
        EXPECT_EQ(have.value("code", 0), want.value("code", 0));
        std::vector<std::string> want_causes, have_causes;
        for (const auto& c : want.value("details", Json::object()).value("causes", Json::array())) {
          want_causes.push_back(c.value("reason", "") + " " + c.value("field", ""));
        }
        for (const auto& c : have.value("details", Json::object()).value("causes", Json::array())) {
          have_causes.push_back(c.value("reason", "") + " " + c.value("field", ""));
        }
        std::sort(want_causes.begin(), want_causes.end());
        std::sort(have_causes.begin(), have_causes.end());
        EXPECT_EQ(have_causes, want_causes) << got.body;
        continue;
      }
      learn(want, have);
      EXPECT_EQ(have.value("kind", ""), want.value("kind", ""));
      EXPECT_EQ(have.value("apiVersion", ""), want.value("apiVersion", ""));
      for (const auto& [key, value] : want.items()) {
        // Workload status comes from kube-controller-manager, which the fake does not run.
        if (key == "status" && (want.value("kind", "") == "Deployment")) continue;
        (void)value;
        EXPECT_TRUE(have.contains(key)) << "missing top-level field " << key << " in " << got.body;
      }
      if (want.contains("metadata") && have.contains("metadata")) {
        for (const auto& [key, value] : want["metadata"].items()) {
          // deployment.kubernetes.io/revision is written by kube-controller-manager.
          if (key == "selfLink" || (key == "annotations" && want.value("kind", "") == "Deployment"))
            continue;
          EXPECT_TRUE(have["metadata"].contains(key))
              << "missing metadata." << key << " in " << got.body;
        }
      }
      if (want.contains("items") && have.contains("items")) {
        EXPECT_EQ(have["items"].size(), want["items"].size()) << got.body;
      }
    }
    return compared;
  }

  std::map<std::string, std::string> mapping_;
};

TEST_F(ReplayTest, NamespacesConflictsAndNotFound) {
  EXPECT_EQ(replay("01-namespace-create-conflict-notfound.txt"), 7);
  EXPECT_EQ(replay("02-configmap-update-conflict.txt"), 7);
}

TEST_F(ReplayTest, InvalidObjects) {
  replay("01-namespace-create-conflict-notfound.txt");
  EXPECT_EQ(replay("03-invalid-422.txt"), 10);
}

TEST_F(ReplayTest, ListPagination) {
  EXPECT_EQ(replay("04-list-pagination.txt"), 9);
}

TEST_F(ReplayTest, PatchTypesAndServerSideApply) {
  replay("01-namespace-create-conflict-notfound.txt");
  EXPECT_GE(replay("06-patch-types.txt"), 20);
}

TEST_F(ReplayTest, FinalizersAndOwnerReferences) {
  replay("01-namespace-create-conflict-notfound.txt");
  replay("02-configmap-update-conflict.txt");
  EXPECT_GE(replay("08-finalizers.txt"), 10);
  EXPECT_GE(replay("09-ownerref-cascade.txt"), 20);
}

TEST_F(ReplayTest, CustomResourceDefinitions) {
  replay("01-namespace-create-conflict-notfound.txt");
  // #18 needs a CEL rule evaluated (x-kubernetes-validations), which the fake does not do.
  EXPECT_GE(replay("10-crd.txt", {18}), 18);
}

TEST_F(ReplayTest, LeasesAndNamespaceDeletion) {
  replay("01-namespace-create-conflict-notfound.txt");
  // #10 reads the kube-apiserver's own identity Lease, which the fake does not publish.
  EXPECT_GE(replay("12-lease-leader-election.txt", {10}), 9);
  EXPECT_GE(replay("14-namespace-delete.txt"), 4);
}

}  // namespace
}  // namespace herd::fake::testing
