#include "common/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace herd::log {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override { setOutputForTesting(&out_); }
  void TearDown() override {
    setOutputForTesting(nullptr);
    configure(Level::kInfo, Format::kText);
  }
  std::ostringstream out_;
};

TEST_F(LogTest, TextLineCarriesLevelMessageAndFields) {
  configure(Level::kInfo, Format::kText);
  forCluster("demo").info("etcd ready", {{"members", 3}, {"phase", "Provisioning"}});
  std::string line = out_.str();
  EXPECT_NE(line.find(" INFO  etcd ready cluster=demo members=3 phase=Provisioning\n"),
            std::string::npos)
      << line;
  EXPECT_EQ(line[4], '-');  // starts with an RFC 3339 timestamp
}

TEST_F(LogTest, TextQuotesValuesWithSpaces) {
  configure(Level::kInfo, Format::kText);
  root().warn("retrying", {{"error", "connection refused: 127.0.0.1:2379"}});
  EXPECT_NE(out_.str().find("error=\"connection refused: 127.0.0.1:2379\""), std::string::npos)
      << out_.str();
}

TEST_F(LogTest, JsonLinesAreParseableWithEveryField) {
  configure(Level::kDebug, Format::kJson);
  forCluster("a\"b").with("component", "etcd").debug("started", {{"pid", 42}});
  auto j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["level"], "debug");
  EXPECT_EQ(j["msg"], "started");
  EXPECT_EQ(j["cluster"], "a\"b");
  EXPECT_EQ(j["component"], "etcd");
  EXPECT_EQ(j["pid"], "42");
  EXPECT_TRUE(j.contains("ts"));
}

TEST_F(LogTest, LevelFiltersLowerLevels) {
  configure(Level::kWarn, Format::kText);
  root().info("hidden");
  root().debug("hidden");
  EXPECT_EQ(out_.str(), "");
  root().error("shown");
  EXPECT_NE(out_.str().find("ERROR shown"), std::string::npos);
  configure(Level::kOff, Format::kText);
  root().error("silenced");
  EXPECT_EQ(out_.str().find("silenced"), std::string::npos);
}

TEST(LogParseTest, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(*parseLevel("debug"), Level::kDebug);
  EXPECT_EQ(*parseFormat("json"), Format::kJson);
  EXPECT_EQ(parseLevel("verbose").status().message(),
            "unknown log level \"verbose\": use debug, info, warn, error or off");
  EXPECT_FALSE(parseFormat("xml").isOk());
}

}  // namespace
}  // namespace herd::log
