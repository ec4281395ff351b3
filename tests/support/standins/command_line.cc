#include "command_line.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <regex>
#include <sstream>

#include "common/net.h"

namespace herd::standins {
namespace {

Status invalidValue(const std::string& value, const std::string& flag, const std::string& why) {
  return Status::invalid(
      fmt::format("invalid argument \"{}\" for \"--{}\" flag: {}", value, flag, why));
}

Status checkValue(const FlagSpec& spec, const std::string& value) {
  const std::string& t = spec.type;
  if (t.empty()) {
    if (value == "true" || value == "false" || value == "1" || value == "0" || value == "t" ||
        value == "f" || value == "TRUE" || value == "FALSE" || value == "True" ||
        value == "False") {
      return Status::ok();
    }
    return invalidValue(value, spec.name,
                        "strconv.ParseBool: parsing \"" + value + "\": invalid syntax");
  }
  if (t == "int" || t == "int32" || t == "int64" || t == "uint" || t == "uint32" || t == "uint64" ||
      t == "uint16") {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size() || (t[0] == 'u' && v < 0)) {
      return invalidValue(value, spec.name, "parse error");
    }
    return Status::ok();
  }
  if (t == "float32" || t == "float64" || t == "float") {
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') return invalidValue(value, spec.name, "parse error");
    return Status::ok();
  }
  if (t == "version") return Status::ok();  // "true", "raw" or a version to report
  if (t == "duration") {
    auto d = parseGoDuration(value);
    if (!d.isOk()) return invalidValue(value, spec.name, d.status().message());
    return Status::ok();
  }
  if (t == "ip") {
    if (!net::IpAddress::parse(value).isOk()) {
      return invalidValue(value, spec.name, "failed to parse IP: \"" + value + "\"");
    }
    return Status::ok();
  }
  return Status::ok();  // strings, lists and maps: the binary checks their meaning itself
}

}  // namespace

std::map<std::string, FlagSpec> parseHelp(const std::string& help_text) {
  // "      --name type   description" or "  -v, --v Level   ..."; booleans have no type word.
  static const std::regex line_re(
      R"(^\s+(?:-[A-Za-z], )?--([a-z0-9][a-z0-9.-]*)(?: ([A-Za-z0-9]+)(?:\[=([^\]]*)\])?)?(?:\s{2,}|$))");
  std::map<std::string, FlagSpec> flags;
  std::istringstream in(help_text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, line_re)) continue;
    FlagSpec spec{m[1].str(), m[2].matched ? m[2].str() : "", std::nullopt};
    if (m[3].matched) spec.no_value_default = m[3].str();
    flags.emplace(spec.name, spec);
  }
  return flags;
}

std::optional<std::string> CommandLine::get(const std::string& flag) const {
  auto it = values.find(flag);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::string CommandLine::getOr(const std::string& flag, const std::string& fallback) const {
  return get(flag).value_or(fallback);
}

Result<CommandLine> parseCommandLine(const std::vector<std::string>& args,
                                     const std::map<std::string, FlagSpec>& flags) {
  CommandLine out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      out.help = true;
      continue;
    }
    if (!arg.starts_with("--") || arg.size() == 2) {
      return Status::invalid(fmt::format("unexpected argument \"{}\"", arg));
    }
    std::string body = arg.substr(2);
    size_t eq = body.find('=');
    std::string name = body.substr(0, eq);
    auto it = flags.find(name);
    if (it == flags.end()) return Status::invalid("unknown flag: --" + name);
    std::string value;
    if (eq != std::string::npos) {
      value = body.substr(eq + 1);
    } else if (it->second.type.empty()) {
      value = "true";
    } else if (it->second.no_value_default) {
      value = *it->second.no_value_default;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Status::invalid("flag needs an argument: --" + name);
    }
    HERD_RETURN_IF_ERROR(checkValue(it->second, value));
    if (name == "version") out.version = value != "false";
    out.values[name] = value;
  }
  return out;
}

Result<int64_t> parseGoDuration(const std::string& text) {
  if (text == "0") return 0;
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  bool negative = !text.empty() && text[0] == '-';
  if (i == text.size()) return Status::invalid("time: invalid duration \"" + text + "\"");
  double total_ms = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (start == i) return Status::invalid("time: invalid duration \"" + text + "\"");
    double number = std::strtod(text.substr(start, i - start).c_str(), nullptr);
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit == "ns")
      scale = 1e-6;
    else if (unit == "us" || unit == "µs")
      scale = 1e-3;
    else if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1e3;
    else if (unit == "m")
      scale = 60e3;
    else if (unit == "h")
      scale = 3600e3;
    else if (unit.empty())
      return Status::invalid("time: missing unit in duration \"" + text + "\"");
    else
      return Status::invalid(
          fmt::format("time: unknown unit \"{}\" in duration \"{}\"", unit, text));
    total_ms += number * scale;
  }
  return static_cast<int64_t>(std::llround(negative ? -total_ms : total_ms));
}

}  // namespace herd::standins
