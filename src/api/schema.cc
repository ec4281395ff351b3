#include "api/schema.h"

#include <fmt/format.h>

#include <map>
#include <optional>
#include <regex>
#include <set>

namespace herd::api::schema {
namespace {

using nlohmann::json;

std::string typeOf(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    default:
      return "unknown";
  }
}

bool typeMatches(const json& v, std::string_view type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "integer") return v.is_number_integer();
  if (type == "number") return v.is_number();
  return true;
}

std::string formatNumber(const json& n) {
  return n.dump();
}

// The text of the field path the apiserver puts in "<path> in body ..." messages.
std::string bodyPath(const FieldPath& p) {
  return p.str().empty() ? "body" : p.str() + " in body";
}

// std::regex recurses once per input character; longer strings would risk the stack.
constexpr size_t kMaxPatternInput = 32 * 1024;

// Compiled patterns, kept per thread: a CRD's handful of patterns is checked against every
// object. nullptr for a pattern that does not compile.
const std::regex* compiled(const std::string& pattern) {
  thread_local std::map<std::string, std::optional<std::regex>> cache;
  auto it = cache.find(pattern);
  if (it == cache.end()) {
    std::optional<std::regex> re;
    try {
      // OpenAPI patterns are ECMA 262 and unanchored, as std::regex_search reads them.
      re.emplace(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
    }
    it = cache.emplace(pattern, std::move(re)).first;
  }
  return it->second ? &*it->second : nullptr;
}

class Validator {
 public:
  explicit Validator(FieldErrors& errs) : errs_(errs) {}

  void check(const json& v, const json& s, const FieldPath& p) {
    if (!s.is_object()) return;
    if (v.is_null()) {
      if (s.value("nullable", false)) return;
      // null for a typed field is rejected the way the apiserver rejects it.
      if (s.contains("type")) typeError(p, "null", s["type"].get<std::string>());
      return;
    }
    if (s.value("x-kubernetes-int-or-string", false)) {
      if (!v.is_number_integer() && !v.is_string()) {
        typeError(p, typeOf(v), "integer or string");
        return;
      }
    } else if (auto t = s.find("type"); t != s.end() && t->is_string()) {
      if (!typeMatches(v, t->get<std::string>())) {
        typeError(p, typeOf(v), t->get<std::string>());
        return;
      }
    }
    checkEnum(v, s, p);
    checkNumber(v, s, p);
    checkString(v, s, p);
    if (v.is_object()) checkObject(v, s, p);
    if (v.is_array()) checkArray(v, s, p);
    for (const char* key : {"allOf", "anyOf", "oneOf"}) checkCombinator(v, s, p, key);
  }

 private:
  // As the apiserver reports it: the value shown is the JSON type that was found.
  void typeError(const FieldPath& p, const std::string& found, const std::string& expected) {
    errs_.add({FieldError::Type::kTypeMismatch, p.str(), found,
               fmt::format("{} must be of type {}: \"{}\"", bodyPath(p), expected, found)});
  }

  void checkEnum(const json& v, const json& s, const FieldPath& p) {
    auto e = s.find("enum");
    if (e == s.end() || !e->is_array()) return;
    for (const auto& option : *e) {
      if (option == v) return;
    }
    std::string list;
    for (const auto& option : *e) {
      if (!list.empty()) list += ", ";
      list += option.dump();
    }
    errs_.add({FieldError::Type::kNotSupported, p.str(), v, list});
  }

  void checkNumber(const json& v, const json& s, const FieldPath& p) {
    if (!v.is_number()) return;
    double x = v.get<double>();
    if (auto m = s.find("maximum"); m != s.end() && m->is_number()) {
      bool exclusive = s.value("exclusiveMaximum", false);
      if (exclusive ? x >= m->get<double>() : x > m->get<double>()) {
        errs_.invalid(p, v,
                      fmt::format("{} should be less than {}{}", bodyPath(p),
                                  exclusive ? "" : "or equal to ", formatNumber(*m)));
      }
    }
    if (auto m = s.find("minimum"); m != s.end() && m->is_number()) {
      bool exclusive = s.value("exclusiveMinimum", false);
      if (exclusive ? x <= m->get<double>() : x < m->get<double>()) {
        errs_.invalid(p, v,
                      fmt::format("{} should be greater than {}{}", bodyPath(p),
                                  exclusive ? "" : "or equal to ", formatNumber(*m)));
      }
    }
    if (s.value("format", "") == "int32" && v.is_number_integer() &&
        (v.get<int64_t>() > INT32_MAX || v.get<int64_t>() < INT32_MIN)) {
      errs_.invalid(p, v, fmt::format("{} must be of type int32", bodyPath(p)));
    }
  }

  void checkString(const json& v, const json& s, const FieldPath& p) {
    if (!v.is_string()) return;
    const std::string& str = v.get_ref<const std::string&>();
    if (auto m = s.find("maxLength");
        m != s.end() && m->is_number_integer() && str.size() > m->get<size_t>()) {
      errs_.add({FieldError::Type::kInvalid, p.str(), v,
                 fmt::format("{} should be at most {} chars long", bodyPath(p), m->get<size_t>())});
    }
    if (auto m = s.find("minLength");
        m != s.end() && m->is_number_integer() && str.size() < m->get<size_t>()) {
      errs_.invalid(
          p, v, fmt::format("{} should be at least {} chars long", bodyPath(p), m->get<size_t>()));
    }
    if (auto m = s.find("pattern"); m != s.end() && m->is_string()) {
      const std::string& pattern = m->get_ref<const std::string&>();
      const std::regex* re = compiled(pattern);
      if (re == nullptr) {
        errs_.invalid(
            p, v,
            fmt::format("the schema's pattern '{}' is not a valid regular expression", pattern));
      } else if (str.size() > kMaxPatternInput) {
        errs_.invalid(
            p, v.get<std::string>().substr(0, 64) + "...",
            fmt::format("{} is too long to be checked against '{}'", bodyPath(p), pattern));
      } else if (!std::regex_search(str, *re)) {
        errs_.invalid(p, v, fmt::format("{} should match '{}'", bodyPath(p), pattern));
      }
    }
    if (s.value("format", "") == "date-time" && !str.empty() && str.size() <= 64) {
      static const std::regex kDateTime(
          R"(^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$)");
      if (!std::regex_match(str, kDateTime)) {
        errs_.invalid(p, v, fmt::format("{} must be of type date-time", bodyPath(p)));
      }
    }
  }

  void checkObject(const json& v, const json& s, const FieldPath& p) {
    if (auto r = s.find("required"); r != s.end() && r->is_array()) {
      for (const auto& name : *r) {
        if (name.is_string() &&
            (!v.contains(name.get<std::string>()) || v[name.get<std::string>()].is_null())) {
          errs_.required(p.child(name.get<std::string>()));
        }
      }
    }
    const json* props = s.contains("properties") ? &s["properties"] : nullptr;
    const json* additional =
        s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
    for (const auto& [k, item] : v.items()) {
      if (props && props->contains(k)) {
        check(item, (*props)[k], p.child(k));
      } else if (additional && additional->is_object()) {
        check(item, *additional, p.key(k));
      }
    }
  }

  void checkArray(const json& v, const json& s, const FieldPath& p) {
    if (auto m = s.find("maxItems");
        m != s.end() && m->is_number_integer() && v.size() > m->get<size_t>()) {
      errs_.invalid(p, v.size(),
                    fmt::format("{} must have at most {} items", bodyPath(p), m->get<size_t>()));
    }
    if (auto m = s.find("minItems");
        m != s.end() && m->is_number_integer() && v.size() < m->get<size_t>()) {
      errs_.invalid(p, v.size(),
                    fmt::format("{} should have at least {} items", bodyPath(p), m->get<size_t>()));
    }
    const json* items = s.contains("items") ? &s["items"] : nullptr;
    for (size_t i = 0; i < v.size(); ++i) {
      if (items) check(v[i], *items, p.index(i));
    }
    std::string list_type = s.value("x-kubernetes-list-type", "");
    if (list_type == "set") {
      for (size_t i = 0; i < v.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
          if (v[i] == v[j]) errs_.duplicate(p.index(i), v[i]);
        }
      }
    } else if (list_type == "map" && s.contains("x-kubernetes-list-map-keys")) {
      std::set<std::string> seen;
      for (size_t i = 0; i < v.size(); ++i) {
        if (!v[i].is_object()) continue;
        json key = json::object();
        for (const auto& k : s["x-kubernetes-list-map-keys"]) {
          std::string name = k.get<std::string>();
          key[name] = v[i].contains(name) ? v[i][name] : json(nullptr);
        }
        if (!seen.insert(key.dump()).second) errs_.duplicate(p.index(i), key);
      }
    }
  }

  void checkCombinator(const json& v, const json& s, const FieldPath& p, const char* which) {
    auto c = s.find(which);
    if (c == s.end() || !c->is_array()) return;
    size_t passed = 0;
    FieldErrors first;
    for (const auto& sub : *c) {
      FieldErrors local;
      Validator(local).check(v, sub, p);
      if (local.empty()) {
        ++passed;
      } else if (first.empty()) {
        first = local;
      }
    }
    std::string_view w = which;
    if ((w == "allOf" && passed != c->size()) || (w == "anyOf" && passed == 0)) errs_.append(first);
    if (w == "oneOf" && passed != 1)
      errs_.invalid(p, v,
                    fmt::format("{} must validate one and only one schema (oneOf)", bodyPath(p)));
  }

  FieldErrors& errs_;
};

}  // namespace

FieldErrors validate(const json& value, const json& schema, const FieldPath& root) {
  FieldErrors errs;
  Validator(errs).check(value, schema, root);
  return errs;
}

void applyDefaults(json& value, const json& schema) {
  if (!schema.is_object()) return;
  if (value.is_object()) {
    if (auto props = schema.find("properties"); props != schema.end()) {
      for (const auto& [k, sub] : props->items()) {
        if (!value.contains(k) && sub.contains("default")) value[k] = sub["default"];
        if (value.contains(k)) applyDefaults(value[k], sub);
      }
    }
    if (auto add = schema.find("additionalProperties"); add != schema.end() && add->is_object()) {
      for (auto& [k, item] : value.items()) {
        if (!schema.contains("properties") || !schema["properties"].contains(k))
          applyDefaults(item, *add);
      }
    }
  } else if (value.is_array()) {
    if (auto items = schema.find("items"); items != schema.end()) {
      for (auto& item : value) applyDefaults(item, *items);
    }
  }
}

std::vector<std::string> prune(json& value, const json& schema, const FieldPath& root) {
  std::vector<std::string> removed;
  if (!schema.is_object() || schema.value("x-kubernetes-preserve-unknown-fields", false))
    return removed;
  if (value.is_object()) {
    const json* props = schema.contains("properties") ? &schema["properties"] : nullptr;
    const json* additional =
        schema.contains("additionalProperties") ? &schema["additionalProperties"] : nullptr;
    std::vector<std::string> drop;
    for (auto& [k, item] : value.items()) {
      if (props && props->contains(k)) {
        auto sub = prune(item, (*props)[k], root.child(k));
        removed.insert(removed.end(), sub.begin(), sub.end());
      } else if (additional && (additional->is_object() ||
                                (additional->is_boolean() && additional->get<bool>()))) {
        if (additional->is_object()) {
          auto sub = prune(item, *additional, root.key(k));
          removed.insert(removed.end(), sub.begin(), sub.end());
        }
      } else {
        drop.push_back(k);
      }
    }
    for (const auto& k : drop) {
      value.erase(k);
      removed.push_back(root.child(k).str());
    }
  } else if (value.is_array() && schema.contains("items")) {
    for (size_t i = 0; i < value.size(); ++i) {
      auto sub = prune(value[i], schema["items"], root.index(i));
      removed.insert(removed.end(), sub.begin(), sub.end());
    }
  }
  return removed;
}

}  // namespace herd::api::schema
