#include "common/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace herd {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return Status::invalid("odd number " + std::to_string(x) + " cannot be halved");
  return x / 2;
}

Result<int> quarter(int x) {
  HERD_ASSIGN_OR_RETURN(int h, half(x));
  return half(h);
}

Status checkEven(int x) {
  HERD_RETURN_IF_ERROR(half(x).status());
  return Status::ok();
}

TEST(StatusTest, OkHasNoMessage) {
  Status s;
  EXPECT_TRUE(s.isOk());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.toString(), "ok");
}

TEST(StatusTest, NamedConstructorsCarryCodeAndMessage) {
  EXPECT_EQ(Status::notFound("cluster \"x\" not found").toString(),
            "not_found: cluster \"x\" not found");
  EXPECT_EQ(Status::conflict("stale").code(), Code::kConflict);
  EXPECT_EQ(Status::alreadyExists("a").code(), Code::kAlreadyExists);
  EXPECT_EQ(Status::gone("g").code(), Code::kGone);
}

TEST(StatusTest, IoErrorNamesTheOperationAndErrno) {
  Status s = Status::ioError("open /nope", ENOENT);
  EXPECT_EQ(s.code(), Code::kIo);
  EXPECT_EQ(s.message(), "open /nope: No such file or directory");
}

TEST(StatusTest, WithContextPrefixesOnlyErrors) {
  EXPECT_EQ(Status::invalid("bad").withContext("read a.yaml").message(), "read a.yaml: bad");
  EXPECT_TRUE(Status::ok().withContext("ignored").isOk());
  EXPECT_EQ(Status::ok().withContext("ignored").message(), "");
}

TEST(ResultTest, HoldsValueOrStatus) {
  Result<int> ok = half(8);
  ASSERT_TRUE(ok.isOk());
  EXPECT_EQ(*ok, 4);
  EXPECT_TRUE(ok.status().isOk());
  Result<int> bad = half(3);
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().message(), "odd number 3 cannot be halved");
  EXPECT_EQ(bad.valueOr(-1), -1);
}

TEST(ResultTest, MacrosPropagateTheFirstError) {
  EXPECT_EQ(*quarter(8), 2);
  EXPECT_EQ(quarter(6).status().message(), "odd number 3 cannot be halved");
  EXPECT_TRUE(checkEven(2).isOk());
  EXPECT_EQ(checkEven(5).code(), Code::kInvalid);
}

}  // namespace
}  // namespace herd
