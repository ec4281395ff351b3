// Structured logging: one line per event, human-readable text or JSON lines.
//
// Every event has a level, a message and key=value fields; a Logger carries fields bound once
// (for example cluster=<name>) so that each line of a reconcile names its tenant. Output goes
// through spdlog, so writing is thread-safe; configure() is meant for start-up and is not
// safe to call while other threads log.
#pragma once

#include <fmt/format.h>

#include <initializer_list>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace herd::log {

enum class Level { kDebug, kInfo, kWarn, kError, kOff };
enum class Format { kText, kJson };

// Parses "debug", "info", "warn", "error", "off".
Result<Level> parseLevel(std::string_view name);
// Parses "text" or "json".
Result<Format> parseFormat(std::string_view name);

// Sets the level and format of all logging; lines go to stderr.
void configure(Level level, Format format);
// Sends lines to `out` instead of stderr (tests read them back); nullptr restores stderr.
void setOutputForTesting(std::ostream* out);
bool enabled(Level level);

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <typename T>
  Field(std::string_view k, const T& v) : key(k), value(fmt::format("{}", v)) {}
  std::string key;
  std::string value;
};

class Logger {
 public:
  Logger() = default;
  // A logger whose every line carries `key=value` in addition to this one's fields.
  Logger with(std::string_view key, std::string_view value) const;

  void debug(std::string_view msg, std::initializer_list<Field> fields = {}) const {
    write(Level::kDebug, msg, fields);
  }
  void info(std::string_view msg, std::initializer_list<Field> fields = {}) const {
    write(Level::kInfo, msg, fields);
  }
  void warn(std::string_view msg, std::initializer_list<Field> fields = {}) const {
    write(Level::kWarn, msg, fields);
  }
  void error(std::string_view msg, std::initializer_list<Field> fields = {}) const {
    write(Level::kError, msg, fields);
  }
  void write(Level level, std::string_view msg, std::initializer_list<Field> fields) const;

 private:
  std::vector<Field> bound_;
};

// The process-wide logger with no bound fields.
const Logger& root();
// A logger for one tenant cluster: every line carries cluster=<name>.
inline Logger forCluster(std::string_view name) {
  return root().with("cluster", name);
}

}  // namespace herd::log
