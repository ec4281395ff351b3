#include "common/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace herd::metrics {
namespace {

TEST(MetricsTest, CounterWithAndWithoutLabels) {
  Registry registry;
  auto plain = registry.counter({"herd_things_total", "Things done."});
  ASSERT_TRUE(plain.isOk()) << plain.status().toString();
  auto labelled = registry.counter({"herd_reconciles_total", "Reconciles.", {"cluster", "result"}});
  ASSERT_TRUE(labelled.isOk()) << labelled.status().toString();
  (*(*plain)->withLabels({}))->inc(3);
  (*(*labelled)->withLabels({"beta", "ok"}))->inc();
  (*(*labelled)->withLabels({"alpha", "error"}))->inc(2);
  EXPECT_EQ(registry.text(),
            "# HELP herd_things_total Things done.\n"
            "# TYPE herd_things_total counter\n"
            "herd_things_total 3\n"
            "# HELP herd_reconciles_total Reconciles.\n"
            "# TYPE herd_reconciles_total counter\n"
            "herd_reconciles_total{cluster=\"alpha\",result=\"error\"} 2\n"
            "herd_reconciles_total{cluster=\"beta\",result=\"ok\"} 1\n");
}

TEST(MetricsTest, GaugeRendersShortestDoublesAndSpecialValues) {
  Registry registry;
  auto g = registry.gauge({"herd_depth", "Items queued.", {"queue"}});
  ASSERT_TRUE(g.isOk());
  (*(*g)->withLabels({"a"}))->set(5);
  Gauge* b = *(*g)->withLabels({"b"});
  b->add(2.5);
  b->sub(1);
  (*(*g)->withLabels({"c"}))->set(std::numeric_limits<double>::infinity());
  (*(*g)->withLabels({"d"}))->set(-std::numeric_limits<double>::infinity());
  (*(*g)->withLabels({"e"}))->set(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(registry.text(),
            "# HELP herd_depth Items queued.\n"
            "# TYPE herd_depth gauge\n"
            "herd_depth{queue=\"a\"} 5\n"
            "herd_depth{queue=\"b\"} 1.5\n"
            "herd_depth{queue=\"c\"} +Inf\n"
            "herd_depth{queue=\"d\"} -Inf\n"
            "herd_depth{queue=\"e\"} NaN\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry registry;
  auto h = registry.histogram(
      {"herd_reconcile_seconds", "Reconcile durations.", {"cluster"}, {0.125, 0.5, 1}});
  ASSERT_TRUE(h.isOk()) << h.status().toString();
  Histogram* alpha = *(*h)->withLabels({"alpha"});
  alpha->observe(0.0625);
  alpha->observe(0.125);  // "less than or equal": in the 0.125 bucket
  alpha->observe(0.75);
  alpha->observe(3);
  EXPECT_EQ(registry.text(),
            "# HELP herd_reconcile_seconds Reconcile durations.\n"
            "# TYPE herd_reconcile_seconds histogram\n"
            "herd_reconcile_seconds_bucket{cluster=\"alpha\",le=\"0.125\"} 2\n"
            "herd_reconcile_seconds_bucket{cluster=\"alpha\",le=\"0.5\"} 2\n"
            "herd_reconcile_seconds_bucket{cluster=\"alpha\",le=\"1\"} 3\n"
            "herd_reconcile_seconds_bucket{cluster=\"alpha\",le=\"+Inf\"} 4\n"
            "herd_reconcile_seconds_sum{cluster=\"alpha\"} 3.9375\n"
            "herd_reconcile_seconds_count{cluster=\"alpha\"} 4\n");
}

TEST(MetricsTest, UnlabelledHistogramHasOnlyTheLeLabel) {
  Registry registry;
  auto h = registry.histogram({"herd_wait_seconds", "Waits.", {}, {0.25}});
  ASSERT_TRUE(h.isOk());
  (*(*h)->withLabels({}))->observe(0.25);
  EXPECT_EQ(registry.text(),
            "# HELP herd_wait_seconds Waits.\n"
            "# TYPE herd_wait_seconds histogram\n"
            "herd_wait_seconds_bucket{le=\"0.25\"} 1\n"
            "herd_wait_seconds_bucket{le=\"+Inf\"} 1\n"
            "herd_wait_seconds_sum 0.25\n"
            "herd_wait_seconds_count 1\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry registry;
  auto c = registry.counter({"herd_escaped_total", "A \\ backslash\nand \"quotes\".", {"v"}});
  ASSERT_TRUE(c.isOk());
  (*(*c)->withLabels({"a\\b\"c\nd"}))->inc();
  EXPECT_EQ(registry.text(),
            "# HELP herd_escaped_total A \\\\ backslash\\nand \"quotes\".\n"
            "# TYPE herd_escaped_total counter\n"
            "herd_escaped_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(MetricsTest, FamilyWithoutSeriesStillHasHelpAndType) {
  Registry registry;
  ASSERT_TRUE(registry.counter({"herd_none_total", "Nothing yet.", {"x"}}).isOk());
  EXPECT_EQ(registry.text(),
            "# HELP herd_none_total Nothing yet.\n# TYPE herd_none_total counter\n");
}

TEST(MetricsTest, OutputIsDeterministicWhateverTheOrderOfUse) {
  auto render = [](const std::vector<std::string>& order) {
    Registry registry;
    auto first = registry.gauge({"herd_z_first", "Registered first.", {"k"}});
    auto second = registry.counter({"herd_a_second_total", "Registered second.", {"k"}});
    EXPECT_TRUE(first.isOk() && second.isOk());
    for (const auto& k : order) {
      (*(*first)->withLabels({k}))->set(1);
      (*(*second)->withLabels({k}))->inc();
    }
    return registry.text();
  };
  std::string text = render({"b", "c", "a"});
  EXPECT_EQ(text, render({"a", "b", "c"}));
  EXPECT_EQ(text, render({"c", "a", "b"}));
  // Families in registration order, series by label values.
  EXPECT_LT(text.find("herd_z_first"), text.find("herd_a_second_total"));
  EXPECT_LT(text.find("herd_z_first{k=\"a\"}"), text.find("herd_z_first{k=\"b\"}"));
  EXPECT_LT(text.find("herd_z_first{k=\"b\"}"), text.find("herd_z_first{k=\"c\"}"));
}

TEST(MetricsTest, CollectorsReadExistingCountersAtScrapeTime) {
  Registry registry;
  std::atomic<uint64_t> accepted{0};
  std::map<std::string, int64_t> open{{"beta", 2}, {"alpha", -1}};
  ASSERT_TRUE(registry
                  .collect(Type::kCounter, {"herd_accepted_total", "Accepted."},
                           [&](Sink& s) { s.add(accepted.load()); })
                  .isOk());
  ASSERT_TRUE(registry
                  .collect(Type::kGauge, {"herd_open", "Open.", {"tenant"}},
                           [&](Sink& s) {
                             // Out of order, a duplicate and a wrong arity: sorted and dropped.
                             for (auto it = open.rbegin(); it != open.rend(); ++it) {
                               s.add({it->first}, it->second);
                             }
                             s.add({"alpha"}, 99);
                             s.add({"gamma", "extra"}, 1);
                             s.add({"ratio"}, 0.5);
                           })
                  .isOk());
  ASSERT_TRUE(registry
                  .collect(Type::kHistogram, {"herd_peek_seconds", "Peeks.", {}, {0.5, 1}},
                           [](Sink& s) {
                             const uint64_t buckets[] = {1, 0, 2};
                             s.addHistogram({}, buckets, 4.25);
                             const uint64_t too_few[] = {1};
                             s.addHistogram({}, too_few, 1);
                           })
                  .isOk());
  accepted = 18446744073709551615u;  // read exactly, not through a double
  std::string text = registry.text();
  EXPECT_EQ(text,
            "# HELP herd_accepted_total Accepted.\n"
            "# TYPE herd_accepted_total counter\n"
            "herd_accepted_total 18446744073709551615\n"
            "# HELP herd_open Open.\n"
            "# TYPE herd_open gauge\n"
            "herd_open{tenant=\"alpha\"} -1\n"
            "herd_open{tenant=\"beta\"} 2\n"
            "herd_open{tenant=\"ratio\"} 0.5\n"
            "# HELP herd_peek_seconds Peeks.\n"
            "# TYPE herd_peek_seconds histogram\n"
            "herd_peek_seconds_bucket{le=\"0.5\"} 1\n"
            "herd_peek_seconds_bucket{le=\"1\"} 1\n"
            "herd_peek_seconds_bucket{le=\"+Inf\"} 3\n"
            "herd_peek_seconds_sum 4.25\n"
            "herd_peek_seconds_count 3\n");
  open["alpha"] = 7;
  EXPECT_NE(registry.text().find("herd_open{tenant=\"alpha\"} 7\n"), std::string::npos);
}

TEST(MetricsTest, ConcurrentIncrementsAndScrapesLoseNothing) {
  Registry registry;
  auto c = registry.counter({"herd_hits_total", "Hits.", {"worker"}});
  auto h = registry.histogram({"herd_hit_seconds", "Hit times.", {}, {1}});
  ASSERT_TRUE(c.isOk() && h.isOk());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) (void)registry.text();
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Two workers share a series: their increments race on one atomic.
      Counter* mine = *(*c)->withLabels({std::to_string(t % 2)});
      Histogram* hist = *(*h)->withLabels({});
      for (int i = 0; i < kPerThread; ++i) {
        mine->inc();
        hist->observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  scraper.join();
  std::string text = registry.text();
  EXPECT_NE(text.find("herd_hits_total{worker=\"0\"} 40000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("herd_hits_total{worker=\"1\"} 40000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("herd_hit_seconds_count 80000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("herd_hit_seconds_sum 40000\n"), std::string::npos) << text;
}

TEST(MetricsTest, InvalidNamesAreRefusedWithTheReason) {
  Registry registry;
  auto bad_name = registry.counter({"herd-dashes_total", "Help."});
  ASSERT_FALSE(bad_name.isOk());
  EXPECT_EQ(bad_name.status().code(), Code::kInvalid);
  EXPECT_NE(bad_name.status().message().find("\"herd-dashes_total\""), std::string::npos);
  EXPECT_FALSE(registry.counter({"9lives", "Help."}).isOk());
  EXPECT_FALSE(registry.counter({"", "Help."}).isOk());
  EXPECT_TRUE(registry.counter({"herd:recorded_rule", "Colons are allowed."}).isOk());

  auto bad_label = registry.gauge({"herd_g", "Help.", {"cluster-name"}});
  ASSERT_FALSE(bad_label.isOk());
  EXPECT_NE(bad_label.status().message().find("label name \"cluster-name\""), std::string::npos);
  EXPECT_FALSE(registry.gauge({"herd_g", "Help.", {"__reserved"}}).isOk());
  EXPECT_FALSE(registry.gauge({"herd_g", "Help.", {"a", "a"}}).isOk());
  EXPECT_FALSE(registry.gauge({"herd_g", ""}).isOk());
  EXPECT_FALSE(registry.histogram({"herd_h", "Help.", {"le"}, {1}}).isOk());
  EXPECT_FALSE(registry.histogram({"herd_h", "Help.", {}, {1, 1}}).isOk());
  EXPECT_FALSE(registry.histogram({"herd_h", "Help.", {}, {2, 1}}).isOk());
  EXPECT_FALSE(
      registry.histogram({"herd_h", "Help.", {}, {1, std::numeric_limits<double>::infinity()}})
          .isOk());
  EXPECT_FALSE(registry.gauge({"herd_g", "Help.", {}, {1}}).isOk());
  EXPECT_FALSE(registry.collect(Type::kGauge, {"herd_g", "Help."}, nullptr).isOk());
  // Nothing refused was registered: the names are still free.
  EXPECT_TRUE(registry.gauge({"herd_g", "Help."}).isOk());
  EXPECT_TRUE(registry.histogram({"herd_h", "Help.", {}, {1}}).isOk());
}

TEST(MetricsTest, DuplicateAndClashingRegistrationsAreRefused) {
  Registry registry;
  ASSERT_TRUE(registry.counter({"herd_x_total", "X."}).isOk());
  auto again = registry.gauge({"herd_x_total", "X again."});
  ASSERT_FALSE(again.isOk());
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
  EXPECT_NE(again.status().message().find("herd_x_total"), std::string::npos);
  EXPECT_FALSE(registry.collect(Type::kCounter, {"herd_x_total", "X."}, [](Sink&) {}).isOk());

  ASSERT_TRUE(registry.histogram({"herd_lat", "Latency.", {}, {1}}).isOk());
  EXPECT_FALSE(registry.counter({"herd_lat_count", "Clashes with the histogram."}).isOk());
  EXPECT_FALSE(registry.gauge({"herd_lat_sum", "Clashes with the histogram."}).isOk());
  ASSERT_TRUE(registry.counter({"herd_wait_bucket", "A counter first."}).isOk());
  EXPECT_FALSE(registry.histogram({"herd_wait", "Its _bucket is taken.", {}, {1}}).isOk());
  // The one family of each name was rendered, once.
  std::string text = registry.text();
  EXPECT_EQ(text.find("# TYPE herd_x_total"), text.rfind("# TYPE herd_x_total"));
}

TEST(MetricsTest, WrongNumberOfLabelValuesIsAnError) {
  Registry registry;
  auto c = registry.counter({"herd_c_total", "C.", {"cluster", "result"}});
  ASSERT_TRUE(c.isOk());
  auto wrong = (*c)->withLabels({"alpha"});
  ASSERT_FALSE(wrong.isOk());
  EXPECT_EQ(wrong.status().code(), Code::kInvalid);
  EXPECT_NE(wrong.status().message().find("cluster, result"), std::string::npos);
}

TEST(MetricsTest, RemovedSeriesLeavesTheOutput) {
  Registry registry;
  auto c = registry.counter({"herd_c_total", "C.", {"cluster"}});
  ASSERT_TRUE(c.isOk());
  (*(*c)->withLabels({"alpha"}))->inc();
  (*(*c)->withLabels({"beta"}))->inc();
  EXPECT_TRUE((*c)->remove({"alpha"}));
  EXPECT_FALSE((*c)->remove({"alpha"}));
  std::string text = registry.text();
  EXPECT_EQ(text.find("alpha"), std::string::npos);
  EXPECT_NE(text.find("herd_c_total{cluster=\"beta\"} 1\n"), std::string::npos);
  // A series made again starts from zero.
  EXPECT_EQ((*(*c)->withLabels({"alpha"}))->value(), 0u);
}

TEST(MetricsTest, ValidNamesFollowPrometheus) {
  EXPECT_TRUE(isValidMetricName("herd_gateway_peek_seconds"));
  EXPECT_TRUE(isValidMetricName(":colon_first"));
  EXPECT_FALSE(isValidMetricName("has space"));
  EXPECT_TRUE(isValidLabelName("_private"));
  EXPECT_FALSE(isValidLabelName("has:colon"));
  EXPECT_FALSE(isValidLabelName("1st"));
}

}  // namespace
}  // namespace herd::metrics
