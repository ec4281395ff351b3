#include "common/yaml.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <set>

namespace herd {
namespace {

// Deep enough for any real manifest, shallow enough to keep recursion off the stack limit.
constexpr int kMaxDepth = 64;
// Bounds the expansion of aliases: a 1 MiB manifest has far fewer nodes than this.
constexpr size_t kMaxNodes = 1'000'000;

bool isOneOf(std::string_view s, std::initializer_list<std::string_view> options) {
  for (auto o : options) {
    if (s == o) return true;
  }
  return false;
}

std::optional<nlohmann::json> parseInteger(std::string_view s) {
  std::string digits;
  bool negative = false;
  size_t i = 0;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    i = 1;
  }
  int base = 10;
  std::string_view body = s.substr(i);
  if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
    base = 16;
    body.remove_prefix(2);
  } else if (body.size() > 2 && body[0] == '0' && (body[1] == 'o' || body[1] == 'b')) {
    base = body[1] == 'o' ? 8 : 2;
    body.remove_prefix(2);
  } else if (body.size() > 1 && body[0] == '0') {
    base = 8;  // YAML 1.1 octal, as go-yaml v2 reads it
    body.remove_prefix(1);
  }
  for (char c : body) {
    if (c != '_') digits += c;
  }
  if (digits.empty()) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (end != digits.data() + digits.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    // Too large for an integer: YAML still calls it a number (possibly infinite).
    return nlohmann::json(std::strtod(std::string(s).c_str(), nullptr));
  }
  if (ec != std::errc()) return std::nullopt;
  if (negative) {
    if (value > static_cast<uint64_t>(INT64_MAX) + 1)
      return nlohmann::json(-static_cast<double>(value));
    return nlohmann::json(static_cast<int64_t>(0 - value));
  }
  if (value <= static_cast<uint64_t>(INT64_MAX)) return nlohmann::json(static_cast<int64_t>(value));
  return nlohmann::json(value);
}

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

// The scanners below replace regular expressions on purpose: std::regex recurses once per
// character and a long scalar would overflow the stack.
size_t skipSign(std::string_view s) {
  return !s.empty() && (s[0] == '+' || s[0] == '-') ? 1 : 0;
}

template <typename Pred>
bool allOf(std::string_view s, Pred pred) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!pred(c) && c != '_') return false;
  }
  return true;
}

// [-+]? (0b[01_]+ | 0o?[0-7_]+ | 0x[0-9a-fA-F_]+ | [0-9][0-9_]*)
bool isIntegerSyntax(std::string_view s) {
  std::string_view b = s.substr(skipSign(s));
  if (b.size() > 2 && b[0] == '0' && b[1] == 'b')
    return allOf(b.substr(2), [](char c) { return c == '0' || c == '1'; });
  if (b.size() > 2 && b[0] == '0' && b[1] == 'x') {
    return allOf(b.substr(2), [](char c) {
      return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    });
  }
  if (b.size() > 2 && b[0] == '0' && b[1] == 'o')
    return allOf(b.substr(2), [](char c) { return c >= '0' && c <= '7'; });
  return !b.empty() && isDigit(b[0]) && allOf(b, isDigit);
}

// [-+]? (\.[0-9]+ | [0-9][0-9_]*(\.[0-9_]*)?) ([eE][-+]?[0-9]+)?
bool isFloatSyntax(std::string_view s) {
  size_t i = skipSign(s);
  auto run = [&](bool underscores) {
    size_t start = i;
    while (i < s.size() && (isDigit(s[i]) || (underscores && s[i] == '_'))) ++i;
    return i - start;
  };
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (run(false) == 0) return false;
  } else {
    if (i >= s.size() || !isDigit(s[i])) return false;
    run(true);
    if (i < s.size() && s[i] == '.') {
      ++i;
      run(true);
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (run(false) == 0) return false;
  }
  return i == s.size();
}

class Converter {
 public:
  Result<nlohmann::json> convert(const YAML::Node& node, int depth) {
    if (depth > kMaxDepth)
      return error(node, fmt::format("nested deeper than {} levels", kMaxDepth));
    if (++nodes_ > kMaxNodes) {
      // No position: the node where the count runs over says nothing about the culprit.
      return Status::invalid(
          fmt::format("document expands to more than {} nodes through aliases", kMaxNodes));
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return nlohmann::json(nullptr);
      case YAML::NodeType::Scalar:
        return scalar(node);
      case YAML::NodeType::Sequence: {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& item : node) {
          auto v = convert(item, depth + 1);
          if (!v) return v;
          arr.push_back(std::move(*v));
        }
        return arr;
      }
      case YAML::NodeType::Map: {
        nlohmann::json obj = nlohmann::json::object();
        for (const auto& kv : node) {
          if (!kv.first.IsScalar()) return error(kv.first, "mapping keys must be strings");
          std::string key = kv.first.Scalar();
          if (obj.contains(key))
            return error(kv.first, fmt::format("mapping key \"{}\" already defined", key));
          auto v = convert(kv.second, depth + 1);
          if (!v) return v;
          obj[key] = std::move(*v);
        }
        return obj;
      }
    }
    return nlohmann::json(nullptr);
  }

 private:
  static Status error(const YAML::Node& node, std::string_view what) {
    auto m = node.Mark();
    if (m.is_null()) return Status::invalid(std::string(what));
    return Status::invalid(fmt::format("line {}, column {}: {}", m.line + 1, m.column + 1, what));
  }

  static nlohmann::json scalar(const YAML::Node& node) {
    const std::string& tag = node.Tag();
    // "!" marks a quoted scalar; explicit !!str likewise stays a string.
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return node.Scalar();
    return resolvePlainScalar(node.Scalar());
  }

  size_t nodes_ = 0;
};

void emit(YAML::Emitter& out, const nlohmann::json& v);

void emitString(YAML::Emitter& out, const std::string& s) {
  if (s.find('\n') != std::string::npos) {
    out << YAML::Literal << s;
  } else if (!resolvePlainScalar(s).is_string()) {
    out << YAML::DoubleQuoted << s;
  } else {
    out << s;  // yaml-cpp quotes on its own when the text is not a valid plain scalar
  }
}

void emit(YAML::Emitter& out, const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::object:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (const auto& [k, item] : v.items()) {
        out << YAML::Key;
        emitString(out, k);
        out << YAML::Value;
        emit(out, item);
      }
      out << YAML::EndMap;
      return;
    case nlohmann::json::value_t::array:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const auto& item : v) emit(out, item);
      out << YAML::EndSeq;
      return;
    case nlohmann::json::value_t::string:
      emitString(out, v.get_ref<const std::string&>());
      return;
    case nlohmann::json::value_t::null:
      out << YAML::Null;
      return;
    case nlohmann::json::value_t::boolean:
      out << (v.get<bool>() ? "true" : "false");
      return;
    default:
      out << v.dump();
      return;
  }
}

}  // namespace

nlohmann::json resolvePlainScalar(std::string_view s) {
  if (isOneOf(s, {"", "~", "null", "Null", "NULL"})) return nullptr;
  if (isOneOf(s, {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"}))
    return true;
  if (isOneOf(s, {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"}))
    return false;
  if (isOneOf(s, {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})) return INFINITY;
  if (isOneOf(s, {"-.inf", "-.Inf", "-.INF"})) return -INFINITY;
  if (isOneOf(s, {".nan", ".NaN", ".NAN"})) return NAN;
  std::string str(s);
  if (isIntegerSyntax(s)) {
    if (auto v = parseInteger(s)) return *v;
  }
  if (isFloatSyntax(s)) {
    std::string clean;
    for (char c : str) {
      if (c != '_') clean += c;
    }
    // strtod, not stod: out-of-range values become infinities instead of exceptions.
    return std::strtod(clean.c_str(), nullptr);
  }
  return str;
}

Result<std::vector<nlohmann::json>> parseDocuments(std::string_view text) {
  std::vector<nlohmann::json> docs;
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return docs;
  if (text[first] == '{' || text[first] == '[') {
    // JSON proper: nlohmann's parser gives exact positions and strict syntax.
    try {
      docs.push_back(nlohmann::json::parse(text));
    } catch (const nlohmann::json::parse_error& e) {
      return Status::invalid(fmt::format("invalid JSON: {}", e.what()));
    }
    return docs;
  }
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return Status::invalid(fmt::format("invalid YAML: {}", e.msg));
    return Status::invalid(fmt::format("invalid YAML: line {}, column {}: {}", e.mark.line + 1,
                                       e.mark.column + 1, e.msg));
  }
  for (const auto& node : nodes) {
    if (node.IsNull()) continue;
    Converter c;
    auto j = c.convert(node, 0);
    if (!j) return j.status().withContext("invalid YAML");
    docs.push_back(std::move(*j));
  }
  return docs;
}

std::string toYaml(const nlohmann::json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetSeqFormat(YAML::Block);
  out.SetMapFormat(YAML::Block);
  emit(out, value);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

}  // namespace herd
