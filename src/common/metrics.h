// Metrics: a registry of Prometheus metric families and the one encoder that renders them as
// text exposition format 0.0.4 (what /metrics serves).
//
// A family is a name, a help text, a type and a list of label names. Its series are either
// owned by the registry (Counter, Gauge, Histogram: relaxed atomics, made on first use of a
// set of label values) or read at scrape time by a collector callback from counters that live
// elsewhere: a data path keeps its plain atomics and pays nothing for being exported.
//
// Output is deterministic: families in the order they were registered, series in each family
// sorted by label values. Names follow Prometheus' rules and are checked at registration;
// label values and help texts may hold anything (the encoder escapes them).
//
// Thread-safety: a Registry may be registered with, looked up and scraped from any thread at
// once (it locks itself; lookups take their family's lock, so keep the pointer they return).
// Counter, Gauge and Histogram are lock-free and may be updated from any thread. Collectors run
// on the scraping thread, with no lock of the registry held, and must not register families.
// Families and their series live as long as the registry (until removed).
#pragma once

#include <atomic>
#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/status.h"

namespace herd::metrics {

enum class Type { kCounter, kGauge, kHistogram };

// What a family is: name ([a-zA-Z_:][a-zA-Z0-9_:]*), help (required), label names
// ([a-zA-Z_][a-zA-Z0-9_]*, not "__"-prefixed, distinct; not "le" on histograms) and, for
// histograms only, the bucket upper bounds: finite and strictly increasing (+Inf is implied).
struct FamilyOptions {
  std::string name;
  std::string help;
  std::vector<std::string> labels = {};
  std::vector<double> buckets = {};
};

class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  void sub(double d) { value_.fetch_sub(d, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds` are the family's, which outlives every series of it.
  explicit Histogram(std::span<const double> bounds);
  void observe(double v);
  // Per-bucket counts, not cumulative: one per bound, the last for values above every bound.
  std::vector<uint64_t> buckets() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

namespace detail {
class FamilyState;
}

// The series of one owned family, by label values (one per label name, in order). Lookups
// lock the family: resolve once and keep the pointer, it stays valid until remove().
template <class Metric>
class Family {
 public:
  Result<Metric*> withLabels(std::initializer_list<std::string_view> values);
  // Drops a series from the output; pointers to it dangle afterwards. False if it was not there.
  bool remove(std::initializer_list<std::string_view> values);

 private:
  friend class Registry;
  explicit Family(detail::FamilyState& state) : state_(state) {}
  detail::FamilyState& state_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Where a collector puts the series it reads at scrape time. Label values come one per label
// name of the family, in order; a sample with the wrong number of them, or a histogram with
// the wrong number of buckets, is dropped, as is a second sample with the same label values.
class Sink {
 public:
  virtual ~Sink() = default;

  // Counters and gauges. Integers are rendered exactly; doubles in their shortest form.
  template <class T>
  requires std::integral<T>
  void add(std::initializer_list<std::string_view> labels, T value) {
    if constexpr (std::is_signed_v<T>) {
      addSigned(labels, static_cast<int64_t>(value));
    } else {
      addUnsigned(labels, static_cast<uint64_t>(value));
    }
  }
  void add(std::initializer_list<std::string_view> labels, double value) {
    addDouble(labels, value);
  }
  template <class T>
  void add(T value) {
    add({}, value);
  }
  // Histograms: per-bucket counts, not cumulative (one per bound and one above every bound).
  virtual void addHistogram(std::initializer_list<std::string_view> labels,
                            std::span<const uint64_t> buckets, double sum) = 0;

 protected:
  virtual void addSigned(std::initializer_list<std::string_view> labels, int64_t value) = 0;
  virtual void addUnsigned(std::initializer_list<std::string_view> labels, uint64_t value) = 0;
  virtual void addDouble(std::initializer_list<std::string_view> labels, double value) = 0;
};

using Collector = std::function<void(Sink&)>;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Owned families. Invalid names or options, and a name (or, for a histogram, any of its
  // _bucket/_sum/_count names) that clashes with one registered already, are refused.
  Result<CounterFamily*> counter(FamilyOptions options);
  Result<GaugeFamily*> gauge(FamilyOptions options);
  Result<HistogramFamily*> histogram(FamilyOptions options);
  // A family whose series `collect` reports at each scrape; checked as above.
  Status collect(Type type, FamilyOptions options, Collector collect);
  // The same for families declared in code, whose refusal is a defect of the build: it aborts
  // with the reason (as Prometheus' MustRegister panics).
  void mustCollect(Type type, FamilyOptions options, Collector collect);

  // The text exposition of every family (format 0.0.4, text/plain; version=0.0.4).
  std::string text() const;
  void appendText(std::string& out) const;

 private:
  template <class Metric>
  Result<Family<Metric>*> owned(FamilyOptions options);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Prometheus' naming rules, for callers that build names at run time.
bool isValidMetricName(std::string_view name);
bool isValidLabelName(std::string_view name);

}  // namespace herd::metrics
