#include "common/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <utility>

namespace herd::metrics {
namespace {

using LabelValues = std::vector<std::string>;

bool isNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view typeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// A sample's value as the collector gave it: byte counts above 2^53 must not lose digits.
struct Value {
  enum class Kind { kSigned, kUnsigned, kDouble } kind = Kind::kUnsigned;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
};

struct SeriesSnapshot {
  LabelValues labels;
  Value value;
  std::vector<uint64_t> buckets;  // histograms: per bucket, not cumulative
  double sum = 0;
};

LabelValues toLabelValues(std::initializer_list<std::string_view> values) {
  return LabelValues(values.begin(), values.end());
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace

bool isValidMetricName(std::string_view name) {
  if (name.empty() || !(isNameStart(name[0]) || name[0] == ':')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return isNameStart(c) || isDigit(c) || c == ':'; });
}

bool isValidLabelName(std::string_view name) {
  if (name.empty() || !isNameStart(name[0]) || name.starts_with("__")) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return isNameStart(c) || isDigit(c); });
}

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {}

void Histogram::observe(double v) {
  // The first bound at or above v: Prometheus buckets are "less than or equal".
  auto at = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  buckets_[static_cast<size_t>(at - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::buckets() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

namespace detail {

class FamilyState {
 public:
  FamilyState(Type t, FamilyOptions o, Collector c)
      : type(t), options(std::move(o)), collect(std::move(c)) {}

  const Type type;
  const FamilyOptions options;
  const Collector collect;  // empty for owned families
  std::shared_ptr<void> handle;

  std::mutex mutex;
  std::map<LabelValues, std::unique_ptr<Counter>> counters;
  std::map<LabelValues, std::unique_ptr<Gauge>> gauges;
  std::map<LabelValues, std::unique_ptr<Histogram>> histograms;

  template <class Metric>
  std::map<LabelValues, std::unique_ptr<Metric>>& series() {
    if constexpr (std::is_same_v<Metric, Counter>) {
      return counters;
    } else if constexpr (std::is_same_v<Metric, Gauge>) {
      return gauges;
    } else {
      return histograms;
    }
  }

  Status checkArity(size_t given) const {
    if (given == options.labels.size()) return Status::ok();
    return Status::invalid(fmt::format("metric {} has {} label(s) ({}), {} value(s) given",
                                       options.name, options.labels.size(), joined(options.labels),
                                       given));
  }

  // The series as they are now, sorted by label values.
  std::vector<SeriesSnapshot> snapshot();
};

}  // namespace detail

namespace {

// Collects a collector's samples for one family, dropping those that do not fit it.
class SnapshotSink final : public Sink {
 public:
  SnapshotSink(const detail::FamilyState& family, std::vector<SeriesSnapshot>& out)
      : family_(family), out_(out) {}

  void addHistogram(std::initializer_list<std::string_view> labels,
                    std::span<const uint64_t> buckets, double sum) override {
    if (family_.type != Type::kHistogram || !fits(labels) ||
        buckets.size() != family_.options.buckets.size() + 1) {
      return;
    }
    out_.push_back({toLabelValues(labels), {}, {buckets.begin(), buckets.end()}, sum});
  }

 protected:
  void addSigned(std::initializer_list<std::string_view> labels, int64_t value) override {
    add(labels, {Value::Kind::kSigned, value, 0, 0});
  }
  void addUnsigned(std::initializer_list<std::string_view> labels, uint64_t value) override {
    add(labels, {Value::Kind::kUnsigned, 0, value, 0});
  }
  void addDouble(std::initializer_list<std::string_view> labels, double value) override {
    add(labels, {Value::Kind::kDouble, 0, 0, value});
  }

 private:
  bool fits(std::initializer_list<std::string_view> labels) const {
    return labels.size() == family_.options.labels.size();
  }
  void add(std::initializer_list<std::string_view> labels, Value value) {
    if (family_.type == Type::kHistogram || !fits(labels)) return;
    out_.push_back({toLabelValues(labels), value, {}, 0});
  }

  const detail::FamilyState& family_;
  std::vector<SeriesSnapshot>& out_;
};

}  // namespace

std::vector<SeriesSnapshot> detail::FamilyState::snapshot() {
  std::vector<SeriesSnapshot> out;
  if (collect) {
    SnapshotSink sink(*this, out);
    collect(sink);
    // A collector may read an unordered container: sort, and keep the first of duplicates.
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.labels < b.labels; });
    out.erase(std::unique(out.begin(), out.end(),
                          [](const auto& a, const auto& b) { return a.labels == b.labels; }),
              out.end());
    return out;
  }
  std::lock_guard lock(mutex);
  for (const auto& [labels, c] : counters) {
    out.push_back({labels, {Value::Kind::kUnsigned, 0, c->value(), 0}, {}, 0});
  }
  for (const auto& [labels, g] : gauges) {
    out.push_back({labels, {Value::Kind::kDouble, 0, 0, g->value()}, {}, 0});
  }
  for (const auto& [labels, h] : histograms) out.push_back({labels, {}, h->buckets(), h->sum()});
  return out;
}

namespace {

// The text encoder. Escaping as the exposition format asks: label values escape backslash,
// double quote and line feed; help texts backslash and line feed.
void appendEscaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out.push_back(c);
    }
  }
}

void appendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

void appendValue(std::string& out, const Value& v) {
  switch (v.kind) {
    case Value::Kind::kSigned:
      fmt::format_to(std::back_inserter(out), "{}", v.i);
      break;
    case Value::Kind::kUnsigned:
      fmt::format_to(std::back_inserter(out), "{}", v.u);
      break;
    case Value::Kind::kDouble:
      appendDouble(out, v.d);
      break;
  }
}

// name{a="x",b="y"[,le="bound"]}; no braces when there is no label at all.
void appendSeriesName(std::string& out, std::string_view name, std::string_view suffix,
                      const std::vector<std::string>& label_names, const LabelValues& values,
                      const std::string* le = nullptr) {
  out += name;
  out += suffix;
  if (label_names.empty() && le == nullptr) return;
  out.push_back('{');
  for (size_t i = 0; i < label_names.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += label_names[i];
    out += "=\"";
    appendEscaped(out, values[i], true);
    out.push_back('"');
  }
  if (le != nullptr) {
    if (!label_names.empty()) out.push_back(',');
    out += "le=\"";
    out += *le;
    out.push_back('"');
  }
  out.push_back('}');
}

void appendHistogram(std::string& out, const FamilyOptions& family, const SeriesSnapshot& s,
                     const std::vector<std::string>& bounds) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < s.buckets.size(); ++i) {
    cumulative += s.buckets[i];
    appendSeriesName(out, family.name, "_bucket", family.labels, s.labels, &bounds[i]);
    fmt::format_to(std::back_inserter(out), " {}\n", cumulative);
  }
  appendSeriesName(out, family.name, "_sum", family.labels, s.labels);
  out.push_back(' ');
  appendDouble(out, s.sum);
  out.push_back('\n');
  // The count is the +Inf bucket, so the two agree even while observations race the scrape.
  appendSeriesName(out, family.name, "_count", family.labels, s.labels);
  fmt::format_to(std::back_inserter(out), " {}\n", cumulative);
}

void appendFamily(std::string& out, Type type, const FamilyOptions& family,
                  const std::vector<SeriesSnapshot>& series) {
  out += "# HELP ";
  out += family.name;
  out.push_back(' ');
  appendEscaped(out, family.help, false);
  out += "\n# TYPE ";
  out += family.name;
  out.push_back(' ');
  out += typeName(type);
  out.push_back('\n');
  if (type == Type::kHistogram) {
    std::vector<std::string> bounds;
    for (double b : family.buckets) {
      bounds.emplace_back();
      appendDouble(bounds.back(), b);
    }
    bounds.emplace_back("+Inf");
    for (const auto& s : series) appendHistogram(out, family, s, bounds);
    return;
  }
  for (const auto& s : series) {
    appendSeriesName(out, family.name, "", family.labels, s.labels);
    out.push_back(' ');
    appendValue(out, s.value);
    out.push_back('\n');
  }
}

Status checkOptions(Type type, const FamilyOptions& o) {
  if (!isValidMetricName(o.name)) {
    return Status::invalid(fmt::format(
        "metric name \"{}\" is not valid: it must match [a-zA-Z_:][a-zA-Z0-9_:]*", o.name));
  }
  if (o.help.empty()) return Status::invalid(fmt::format("metric {} has no help text", o.name));
  std::set<std::string_view> seen;
  for (const auto& label : o.labels) {
    if (!isValidLabelName(label)) {
      return Status::invalid(
          fmt::format("label name \"{}\" of metric {} is not valid: it must match "
                      "[a-zA-Z_][a-zA-Z0-9_]* and not start with \"__\"",
                      label, o.name));
    }
    if (type == Type::kHistogram && label == "le") {
      return Status::invalid(
          fmt::format("histogram {} may not have a label \"le\" (its buckets use it)", o.name));
    }
    if (!seen.insert(label).second) {
      return Status::invalid(fmt::format("metric {} names label \"{}\" twice", o.name, label));
    }
  }
  if (type != Type::kHistogram) {
    if (!o.buckets.empty()) {
      return Status::invalid(fmt::format("metric {} is not a histogram but has buckets", o.name));
    }
    return Status::ok();
  }
  for (size_t i = 0; i < o.buckets.size(); ++i) {
    if (!std::isfinite(o.buckets[i]) || (i > 0 && o.buckets[i] <= o.buckets[i - 1])) {
      return Status::invalid(fmt::format(
          "histogram {}: bucket bounds must be finite and strictly increasing (+Inf is implied)",
          o.name));
    }
  }
  return Status::ok();
}

// The names a family's samples use: a histogram's also end in _bucket, _sum and _count.
std::vector<std::string> claimedNames(Type type, const std::string& name) {
  if (type != Type::kHistogram) return {name};
  return {name, name + "_bucket", name + "_sum", name + "_count"};
}

}  // namespace

struct Registry::Impl {
  std::mutex mutex;
  std::vector<std::unique_ptr<detail::FamilyState>> families;
  std::set<std::string> names;

  Result<detail::FamilyState*> add(Type type, FamilyOptions options, Collector collect) {
    HERD_RETURN_IF_ERROR(checkOptions(type, options));
    std::vector<std::string> claimed = claimedNames(type, options.name);
    std::lock_guard lock(mutex);
    for (const auto& n : claimed) {
      if (names.contains(n)) {
        return Status::alreadyExists(fmt::format(
            "metric {} is registered already (a family uses the name {})", options.name, n));
      }
    }
    names.insert(claimed.begin(), claimed.end());
    families.push_back(
        std::make_unique<detail::FamilyState>(type, std::move(options), std::move(collect)));
    return families.back().get();
  }
};

Registry::Registry() : impl_(std::make_unique<Impl>()) {}
Registry::~Registry() = default;

namespace {

template <class Metric>
Metric* makeSeries(detail::FamilyState& state) {
  if constexpr (std::is_same_v<Metric, Histogram>) {
    return new Histogram(state.options.buckets);
  } else {
    return new Metric();
  }
}

template <class Metric>
Type typeOf() {
  if constexpr (std::is_same_v<Metric, Counter>) {
    return Type::kCounter;
  } else if constexpr (std::is_same_v<Metric, Gauge>) {
    return Type::kGauge;
  } else {
    return Type::kHistogram;
  }
}

}  // namespace

template <class Metric>
Result<Metric*> Family<Metric>::withLabels(std::initializer_list<std::string_view> values) {
  HERD_RETURN_IF_ERROR(state_.checkArity(values.size()));
  std::lock_guard lock(state_.mutex);
  auto& slot = state_.series<Metric>()[toLabelValues(values)];
  if (!slot) slot.reset(makeSeries<Metric>(state_));
  return slot.get();
}

template <class Metric>
bool Family<Metric>::remove(std::initializer_list<std::string_view> values) {
  std::lock_guard lock(state_.mutex);
  return state_.series<Metric>().erase(toLabelValues(values)) > 0;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

template <class Metric>
Result<Family<Metric>*> Registry::owned(FamilyOptions options) {
  HERD_ASSIGN_OR_RETURN(detail::FamilyState * state,
                        impl_->add(typeOf<Metric>(), std::move(options), nullptr));
  // Family's constructor is private to Registry; the state keeps the handle alive.
  std::shared_ptr<Family<Metric>> handle(new Family<Metric>(*state));
  state->handle = handle;
  return handle.get();
}

Result<CounterFamily*> Registry::counter(FamilyOptions options) {
  return owned<Counter>(std::move(options));
}
Result<GaugeFamily*> Registry::gauge(FamilyOptions options) {
  return owned<Gauge>(std::move(options));
}
Result<HistogramFamily*> Registry::histogram(FamilyOptions options) {
  return owned<Histogram>(std::move(options));
}

Status Registry::collect(Type type, FamilyOptions options, Collector collect) {
  if (!collect) return Status::invalid(fmt::format("metric {} has no collector", options.name));
  auto added = impl_->add(type, std::move(options), std::move(collect));
  return added.status();
}

void Registry::mustCollect(Type type, FamilyOptions options, Collector collect) {
  std::string name = options.name;
  Status added = this->collect(type, std::move(options), std::move(collect));
  if (!added.isOk()) {
    fmt::print(stderr, "herd: metric {} cannot be registered: {}\n", name, added.message());
    std::abort();
  }
}

void Registry::appendText(std::string& out) const {
  // Families are never removed: their pointers stay valid once copied out under the lock, and
  // collectors then run without it.
  std::vector<detail::FamilyState*> families;
  {
    std::lock_guard lock(impl_->mutex);
    families.reserve(impl_->families.size());
    for (const auto& f : impl_->families) families.push_back(f.get());
  }
  for (detail::FamilyState* f : families) appendFamily(out, f->type, f->options, f->snapshot());
}

std::string Registry::text() const {
  std::string out;
  appendText(out);
  return out;
}

}  // namespace herd::metrics
