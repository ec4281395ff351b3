#include "api/quantity.h"

#include <gtest/gtest.h>

namespace herd::api {
namespace {

TEST(QuantityTest, ParsesEverySuffixKind) {
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("100m")), 0.1);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("2")), 2);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("1.5")), 1.5);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("1Gi")), 1073741824.0);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("8Gi")), 8.0 * 1073741824.0);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("500M")), 5e8);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("1k")), 1000);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("2e3")), 2000);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("12E-1")), 1.2);
  EXPECT_DOUBLE_EQ(static_cast<double>(*parseQuantity("+.5")), 0.5);
  EXPECT_LT(*parseQuantity("-1"), 0);
}

TEST(QuantityTest, RejectsWhatTheApiserverRejects) {
  for (const char* bad :
       {"", "lots", "1GB", "1gi", "Gi", "1..2", "1.2.3", "1e", "1e+", "1 Gi", "0x10", "1Ki5"}) {
    EXPECT_FALSE(parseQuantity(bad).isOk()) << bad;
  }
}

}  // namespace
}  // namespace herd::api
