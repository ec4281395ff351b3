#include "common/yaml.h"

#include <gtest/gtest.h>

namespace herd {
namespace {

using nlohmann::json;

TEST(YamlScalarTest, ResolvesLikeKubectl) {
  EXPECT_EQ(resolvePlainScalar("1.32"), json(1.32));
  EXPECT_EQ(resolvePlainScalar("3"), json(3));
  EXPECT_EQ(resolvePlainScalar("-7"), json(-7));
  EXPECT_EQ(resolvePlainScalar("0x1F"), json(31));
  EXPECT_EQ(resolvePlainScalar("010"), json(8));  // YAML 1.1 octal
  EXPECT_EQ(resolvePlainScalar("1e3"), json(1000.0));
  EXPECT_EQ(resolvePlainScalar("yes"), json(true));
  EXPECT_EQ(resolvePlainScalar("Off"), json(false));
  EXPECT_EQ(resolvePlainScalar("~"), json(nullptr));
  EXPECT_EQ(resolvePlainScalar(""), json(nullptr));
  EXPECT_EQ(resolvePlainScalar("10.96.0.0/12"), json("10.96.0.0/12"));
  EXPECT_EQ(resolvePlainScalar("8Gi"), json("8Gi"));
  EXPECT_EQ(resolvePlainScalar("1.32.0"), json("1.32.0"));
  EXPECT_EQ(resolvePlainScalar("v1"), json("v1"));
}

TEST(YamlParseTest, QuotedScalarsStayStrings) {
  auto docs = parseDocuments("a: \"1.32\"\nb: 'true'\nc: !!str 5\nd: 1.32\n");
  ASSERT_TRUE(docs.isOk());
  EXPECT_EQ((*docs)[0], json::parse(R"({"a":"1.32","b":"true","c":"5","d":1.32})"));
}

TEST(YamlParseTest, MultipleDocumentsSkippingEmptyOnes) {
  auto docs = parseDocuments("---\na: 1\n---\n---\nb: [x, {c: d}]\n...\n");
  ASSERT_TRUE(docs.isOk());
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[1], json::parse(R"({"b":["x",{"c":"d"}]})"));
}

TEST(YamlParseTest, RejectsNonStringKeysAndDeepNesting) {
  EXPECT_EQ(parseDocuments("? [a, b]\n: c\n").status().message(),
            "invalid YAML: line 1, column 3: mapping keys must be strings");
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto r = parseDocuments("a: " + deep + "\n");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("nested deeper than 64 levels"), std::string::npos);
}

TEST(YamlParseTest, JsonInputUsesTheJsonParser) {
  auto docs = parseDocuments("  {\"a\": [1, 2.5, \"x\", null, true]}");
  ASSERT_TRUE(docs.isOk());
  EXPECT_EQ((*docs)[0], json::parse(R"({"a":[1,2.5,"x",null,true]})"));
}

TEST(YamlEmitTest, StringsThatWouldChangeTypeAreQuoted) {
  json v = {{"version", "1.32"},
            {"flag", "true"},
            {"empty", ""},
            {"null", "null"},
            {"num", "010"},
            {"plain", "10.96.0.0/12"},
            {"colon", "a: b"},
            {"hash", "# not a comment"},
            {"lead", "-x"},
            {"multi", "line one\nline two\n"},
            {"n", 3},
            {"f", 1.5},
            {"b", false},
            {"list", json::array()},
            {"obj", json::object()},
            {"unicode", "caf\u00e9"}};
  std::string yaml = toYaml(v);
  EXPECT_NE(yaml.find("version: \"1.32\""), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("plain: 10.96.0.0/12"), std::string::npos) << yaml;
  auto back = parseDocuments(yaml);
  ASSERT_TRUE(back.isOk()) << back.status().toString() << "\n" << yaml;
  EXPECT_EQ((*back)[0], v) << yaml;
}

}  // namespace
}  // namespace herd

namespace herd {
namespace {

TEST(YamlScalarTest, HostileNumbersNeitherThrowNorOverflow) {
  EXPECT_TRUE(resolvePlainScalar("1e999").is_number_float());  // an infinity, as YAML reads it
  EXPECT_TRUE(resolvePlainScalar(std::string(400, '9')).is_number_float());
  std::string long_digits(200000, '7');
  EXPECT_TRUE(resolvePlainScalar(long_digits).is_number());  // no recursion per character
  EXPECT_TRUE(resolvePlainScalar(long_digits + "x").is_string());
  std::string yaml = toYaml(nlohmann::json{{"name", "1e999"}});
  EXPECT_EQ(yaml, "name: \"1e999\"\n");
  EXPECT_EQ(resolvePlainScalar("1_000"), nlohmann::json(1000));
  EXPECT_EQ(resolvePlainScalar("0b101"), nlohmann::json(5));
  EXPECT_EQ(resolvePlainScalar("0o17"), nlohmann::json(15));
  EXPECT_EQ(resolvePlainScalar(".5"), nlohmann::json(0.5));
  EXPECT_EQ(resolvePlainScalar("1."), nlohmann::json(1.0));
  EXPECT_TRUE(resolvePlainScalar("1.2.3").is_string());
  EXPECT_TRUE(resolvePlainScalar("e5").is_string());
  EXPECT_TRUE(resolvePlainScalar("1e").is_string());
  EXPECT_TRUE(resolvePlainScalar("0x").is_string());
}

}  // namespace
}  // namespace herd
