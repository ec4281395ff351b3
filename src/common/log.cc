#include "common/log.h"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

namespace herd::log {
namespace {

struct State {
  Level level = Level::kInfo;
  Format format = Format::kText;
  std::shared_ptr<spdlog::logger> logger;
};

std::shared_ptr<spdlog::logger> makeStderrLogger() {
  // herd formats each line itself; spdlog carries it to the sink under a lock.
  auto logger =
      std::make_shared<spdlog::logger>("herd", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::trace);
  return logger;
}

State& state() {
  static State s{Level::kInfo, Format::kText, makeStderrLogger()};
  return s;
}

std::string_view levelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
    case Level::kOff:
      return "off";
  }
  return "info";
}

// RFC 3339 with milliseconds in UTC, the timestamp form Kubernetes components log.
std::string nowRfc3339() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

bool needsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
      return true;
  }
  return false;
}

void appendText(std::string& line, const Field& f) {
  line += ' ';
  line += f.key;
  line += '=';
  if (needsQuotes(f.value)) {
    line += nlohmann::json(f.value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line += f.value;
  }
}

}  // namespace

Result<Level> parseLevel(std::string_view name) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError, Level::kOff}) {
    if (levelName(l) == name) return l;
  }
  return Status::invalid(
      fmt::format("unknown log level \"{}\": use debug, info, warn, error or off", name));
}

Result<Format> parseFormat(std::string_view name) {
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  return Status::invalid(fmt::format("unknown log format \"{}\": use text or json", name));
}

void configure(Level level, Format format) {
  state().level = level;
  state().format = format;
}

void setOutputForTesting(std::ostream* out) {
  if (out == nullptr) {
    state().logger = makeStderrLogger();
    return;
  }
  auto logger = std::make_shared<spdlog::logger>(
      "herd-test", std::make_shared<spdlog::sinks::ostream_sink_mt>(*out));
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::trace);
  state().logger = std::move(logger);
}

bool enabled(Level level) {
  return level != Level::kOff && level >= state().level;
}

Logger Logger::with(std::string_view key, std::string_view value) const {
  Logger copy = *this;
  copy.bound_.emplace_back(key, value);
  return copy;
}

void Logger::write(Level level, std::string_view msg, std::initializer_list<Field> fields) const {
  if (!enabled(level)) return;
  std::string line;
  if (state().format == Format::kJson) {
    nlohmann::ordered_json j;
    j["ts"] = nowRfc3339();
    j["level"] = levelName(level);
    j["msg"] = msg;
    for (const Field& f : bound_) j[f.key] = f.value;
    for (const Field& f : fields) j[f.key] = f.value;
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = nowRfc3339();
    line += ' ';
    std::string_view name = levelName(level);
    for (char c : name) line += static_cast<char>(c - 'a' + 'A');
    line.append(6 - name.size(), ' ');
    line += msg;
    for (const Field& f : bound_) appendText(line, f);
    for (const Field& f : fields) appendText(line, f);
  }
  state().logger->info(line);
  state().logger->flush();
}

const Logger& root() {
  static const Logger logger;
  return logger;
}

}  // namespace herd::log
