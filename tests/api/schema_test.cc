// The OpenAPI schema validator against what a real kube-apiserver answered for the same
// objects (../shared/kubernetes: the Widget CRD of transcript 10 and its 422 responses).
#include "api/schema.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "support/test_env.h"

namespace herd::api::schema {
namespace {

using nlohmann::json;

struct Cause {
  std::string field, reason, message;
  bool operator<(const Cause& o) const {
    return std::tie(field, reason, message) < std::tie(o.field, o.reason, o.message);
  }
  bool operator==(const Cause& o) const = default;
};

std::vector<Cause> causesOf(const FieldErrors& errs) {
  std::vector<Cause> out;
  for (const auto& e : errs) out.push_back({e.field, std::string(e.reason()), e.message()});
  std::sort(out.begin(), out.end());
  return out;
}

class RecordedSchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::sharedDir().empty())
      GTEST_SKIP() << "../shared/kubernetes is not beside the repository";
    json crd = json::parse(
        testing::readFileOrDie(testing::sharedDir() + "/kubernetes/objects/crd-created.json"));
    schema_ = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
  }
  json schema_;
};

TEST_F(RecordedSchemaTest, MatchesTheApiserversCausesForEnumTypeAndMaximum) {
  json bad1 = json::parse(
      R"({"apiVersion":"example.ref.io/v1","kind":"Widget","metadata":{"name":"bad1"},"spec":{"replicas":11,"size":"huge","image":42}})");
  json recorded = json::parse(testing::readFileOrDie(
      testing::sharedDir() + "/kubernetes/objects/status-422-invalid-crd-schema.json"));
  std::vector<Cause> want;
  for (const auto& c : recorded["details"]["causes"]) {
    if (c["field"] == "<nil>") continue;  // the CEL notice: herd does not evaluate CEL rules
    want.push_back({c["field"], c["reason"], c["message"]});
  }
  std::sort(want.begin(), want.end());
  ASSERT_EQ(want.size(), 3u);
  EXPECT_EQ(causesOf(validate(bad1, schema_)), want);
}

TEST_F(RecordedSchemaTest, RequiredAndPatternAsRecorded) {
  json bad2 = json::parse(R"({"metadata":{"name":"bad2"},"spec":{"image":"UPPER CASE!"}})");
  std::vector<Cause> want = {
      {"spec.image", "FieldValueInvalid",
       "Invalid value: \"UPPER CASE!\": spec.image in body should match '^[a-z0-9./:-]+$'"},
      {"spec.replicas", "FieldValueRequired", "Required value"}};
  EXPECT_EQ(causesOf(validate(bad2, schema_)), want);
  json bad4 = json::parse(R"({"metadata":{"name":"bad4"}})");
  EXPECT_EQ(causesOf(validate(bad4, schema_)),
            (std::vector<Cause>{{"spec", "FieldValueRequired", "Required value"}}));
}

TEST_F(RecordedSchemaTest, StatusEnumAsRecorded) {
  json w = json::parse(
      R"({"spec":{"replicas":1},"status":{"conditions":[{"type":"Ready","status":"Maybe"}]}})");
  EXPECT_EQ(
      causesOf(validate(w, schema_)),
      (std::vector<Cause>{
          {"status.conditions[0].status", "FieldValueNotSupported",
           "Unsupported value: \"Maybe\": supported values: \"True\", \"False\", \"Unknown\""}}));
}

TEST_F(RecordedSchemaTest, DefaultsAndPruningAsTheServerDid) {
  // Transcript 10 #6: size defaulted to "small", unknown spec.bogus pruned.
  json w = json::parse(R"({"spec":{"replicas":2,"bogus":true}})");
  auto removed = prune(w, schema_);
  applyDefaults(w, schema_);
  EXPECT_EQ(removed, std::vector<std::string>{"spec.bogus"});
  EXPECT_EQ(w, json::parse(R"({"spec":{"replicas":2,"size":"small"}})"));
  EXPECT_TRUE(validate(w, schema_).empty());
}

TEST(SchemaTest, IntOrStringAndMinimum) {
  json s = json::parse(R"({"type":"object","properties":{
      "q":{"x-kubernetes-int-or-string":true,"anyOf":[{"type":"integer"},{"type":"string"}],"pattern":"^[0-9]+(Gi)?$"},
      "n":{"type":"integer","minimum":1}}})");
  EXPECT_TRUE(validate(json::parse(R"({"q":5,"n":1})"), s).empty());
  EXPECT_TRUE(validate(json::parse(R"({"q":"8Gi"})"), s).empty());
  auto errs = validate(json::parse(R"({"q":true,"n":0})"), s);
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs.all()[0].toString(),
            "n: Invalid value: 0: n in body should be greater than or equal to 1");
  EXPECT_EQ(
      errs.all()[1].toString(),
      "q: Invalid value: \"boolean\": q in body must be of type integer or string: \"boolean\"");
  EXPECT_EQ(validate(json::parse(R"({"q":"8GB"})"), s).all().at(0).toString(),
            "q: Invalid value: \"8GB\": q in body should match '^[0-9]+(Gi)?$'");
}

TEST(SchemaTest, ListMapKeysMustBeUnique) {
  json s = json::parse(
      R"({"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["type"],
      "items":{"type":"object","properties":{"type":{"type":"string"}}}})");
  auto errs = validate(json::parse(R"([{"type":"Ready"},{"type":"Ready"}])"), s,
                       FieldPath("status.conditions"));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs.all()[0].toString(),
            "status.conditions[1]: Duplicate value: {\"type\":\"Ready\"}");
}

TEST(SchemaTest, NullIsATypeErrorUnlessNullable) {
  json s = json::parse(
      R"({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string","nullable":true}}})");
  auto errs = validate(json::parse(R"({"a":null,"b":null})"), s);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs.all()[0].toString(),
            "a: Invalid value: \"null\": a in body must be of type string: \"null\"");
}

}  // namespace
}  // namespace herd::api::schema
