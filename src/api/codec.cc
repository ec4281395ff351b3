#include "api/codec.h"

#include <fmt/format.h>

#include <limits>
#include <type_traits>

#include "common/yaml.h"

namespace herd::api {
namespace {

using nlohmann::json;

template <typename T>
concept Described = requires {
  T::fields();
};
template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <typename T>
struct IsVector : std::false_type {};
template <typename T>
struct IsVector<std::vector<T>> : std::true_type {};
template <typename T>
struct IsMap : std::false_type {};
template <typename T>
struct IsMap<std::map<std::string, T>> : std::true_type {};

// ObjectMeta fields herd does not model but must carry through a round trip.
constexpr std::string_view kPassthroughMeta[] = {
    "generateName", "selfLink", "deletionGracePeriodSeconds", "ownerReferences", "managedFields",
};

bool isPassthroughMeta(std::string_view key) {
  for (auto k : kPassthroughMeta) {
    if (k == key) return true;
  }
  return false;
}

class Decoder {
 public:
  explicit Decoder(FieldErrors& errors) : errors_(errors) {}

  void decode(const json& j, const FieldPath& p, std::string& out) {
    if (!j.is_string()) return mismatch(p, j, "a string");
    out = j.get<std::string>();
  }
  void decode(const json& j, const FieldPath& p, bool& out) {
    if (!j.is_boolean()) return mismatch(p, j, "a boolean");
    out = j.get<bool>();
  }
  void decode(const json& j, const FieldPath& p, int32_t& out) {
    if (!j.is_number_integer()) return mismatch(p, j, "an integer");
    if (j.is_number_unsigned() ? j.get<uint64_t>() > std::numeric_limits<int32_t>::max()
                               : (j.get<int64_t>() > std::numeric_limits<int32_t>::max() ||
                                  j.get<int64_t>() < std::numeric_limits<int32_t>::min())) {
      errors_.invalid(p, j, "must fit in a 32-bit integer");
      return;
    }
    out = j.get<int32_t>();
  }
  void decode(const json& j, const FieldPath& p, int64_t& out) {
    if (!j.is_number_integer() || (j.is_number_unsigned() && j.get<uint64_t>() > INT64_MAX)) {
      return mismatch(p, j, "an integer");
    }
    out = j.get<int64_t>();
  }
  void decode(const json& j, const FieldPath& p, Quantity& out) {
    // Like resource.Quantity: a string, or a plain number that YAML typed for us.
    if (j.is_string()) {
      out.text = j.get<std::string>();
    } else if (j.is_number()) {
      out.text = j.dump();
    } else {
      mismatch(p, j, "a quantity (string or number)");
    }
  }
  template <typename T>
  void decode(const json& j, const FieldPath& p, std::optional<T>& out) {
    T value{};
    size_t before = errors_.size();
    decode(j, p, value);
    if (errors_.size() == before) out = std::move(value);
  }
  template <typename T>
  void decode(const json& j, const FieldPath& p, std::vector<T>& out) {
    if (!j.is_array()) return mismatch(p, j, "a list");
    out.clear();
    for (size_t i = 0; i < j.size(); ++i) {
      out.emplace_back();
      decode(j[i], p.index(i), out.back());
    }
  }
  template <typename T>
  void decode(const json& j, const FieldPath& p, std::map<std::string, T>& out) {
    if (!j.is_object()) return mismatch(p, j, "a map");
    out.clear();
    for (const auto& [k, v] : j.items()) decode(v, p.key(k), out[k]);
  }
  template <Described T>
  void decode(const json& j, const FieldPath& p, T& out) {
    if (!j.is_object()) return mismatch(p, j, "an object");
    std::apply([&](const auto&... f) { (decodeField(j, p, out, f), ...); }, T::fields());
    for (const auto& [k, v] : j.items()) {
      if (isKnown<T>(k)) continue;
      if constexpr (std::is_same_v<T, ObjectMeta>) {
        if (isPassthroughMeta(k)) {
          out.passthrough[k] = v;
          continue;
        }
      }
      errors_.unknownField(p.child(k));
    }
  }

 private:
  template <typename T, typename F>
  void decodeField(const json& j, const FieldPath& p, T& out, const F& f) {
    auto it = j.find(std::string(f.name));
    // null means "not set", as in Kubernetes' JSON decoding.
    if (it == j.end() || it->is_null()) return;
    decode(*it, p.child(f.name), out.*(f.member));
  }

  template <typename T>
  static bool isKnown(std::string_view key) {
    return std::apply([&](const auto&... f) { return ((f.name == key) || ...); }, T::fields());
  }

  void mismatch(const FieldPath& p, const json& j, std::string_view expected) {
    // YAML reads 1.32 as a number; say how to keep it a string.
    std::string hint = j.is_number() && expected == "a string"
                           ? fmt::format("quote it in YAML: \"{}\"", j.dump())
                           : "";
    errors_.typeMismatch(p, j, expected, hint);
  }

  FieldErrors& errors_;
};

class Encoder {
 public:
  static json encode(const std::string& v) { return v; }
  static json encode(bool v) { return v; }
  static json encode(int32_t v) { return v; }
  static json encode(int64_t v) { return v; }
  static json encode(const Quantity& q) { return q.text; }
  template <typename T>
  static json encode(const std::vector<T>& v) {
    json arr = json::array();
    for (const auto& item : v) arr.push_back(encode(item));
    return arr;
  }
  template <typename T>
  static json encode(const std::map<std::string, T>& m) {
    json obj = json::object();
    for (const auto& [k, v] : m) obj[k] = encode(v);
    return obj;
  }
  template <Described T>
  static json encode(const T& v) {
    json obj = json::object();
    std::apply([&](const auto&... f) { (encodeField(obj, v, f), ...); }, T::fields());
    if constexpr (std::is_same_v<T, ObjectMeta>) {
      for (const auto& [k, item] : v.passthrough.items()) obj[k] = item;
    }
    return obj;
  }

 private:
  template <typename T, typename F>
  static void encodeField(json& obj, const T& v, const F& f) {
    const auto& member = v.*(f.member);
    using M = std::remove_cvref_t<decltype(member)>;
    if constexpr (IsOptional<M>::value) {
      if (member) obj[std::string(f.name)] = encode(*member);
    } else if constexpr (std::is_same_v<M, std::string> || IsVector<M>::value || IsMap<M>::value) {
      if (!member.empty()) obj[std::string(f.name)] = encode(member);
    } else if constexpr (Described<M>) {
      json sub = encode(member);
      if (!sub.empty()) obj[std::string(f.name)] = std::move(sub);
    } else {
      obj[std::string(f.name)] = encode(member);
    }
  }
};

class ShapeWriter {
 public:
  template <typename T>
  static json shape() {
    if constexpr (IsOptional<T>::value) {
      return shape<typename T::value_type>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      return {{"type", "string"}};
    } else if constexpr (std::is_same_v<T, bool>) {
      return {{"type", "boolean"}};
    } else if constexpr (std::is_same_v<T, int32_t>) {
      return {{"type", "integer"}, {"format", "int32"}};
    } else if constexpr (std::is_same_v<T, int64_t>) {
      return {{"type", "integer"}, {"format", "int64"}};
    } else if constexpr (std::is_same_v<T, Quantity>) {
      return {{"x-kubernetes-int-or-string", true}};
    } else if constexpr (IsVector<T>::value) {
      return {{"type", "array"}, {"items", shape<typename T::value_type>()}};
    } else if constexpr (IsMap<T>::value) {
      return {{"type", "object"}, {"additionalProperties", shape<typename T::mapped_type>()}};
    } else if constexpr (std::is_same_v<T, ObjectMeta>) {
      return {{"type", "object"}};  // the apiserver owns metadata's schema
    } else {
      json props = json::object();
      std::apply(
          [&](const auto&... f) {
            ((props[std::string(f.name)] =
                  shape<std::remove_cvref_t<decltype(std::declval<T&>().*(f.member))>>()),
             ...);
          },
          T::fields());
      return {{"type", "object"}, {"properties", props}};
    }
  }
};

void checkTypeMeta(const json& object, FieldErrors& errors) {
  auto check = [&](std::string_view key, std::string_view want) {
    auto it = object.find(std::string(key));
    if (it == object.end() || it->is_null() ||
        (it->is_string() && it->get<std::string>().empty())) {
      errors.required(FieldPath(key));
    } else if (!it->is_string() || it->get<std::string>() != want) {
      errors.notSupported(FieldPath(key), *it, {want});
    }
  };
  check("apiVersion", kApiVersion);
  check("kind", kKind);
}

}  // namespace

Decoded decodeCluster(const json& object) {
  Decoded out;
  if (!object.is_object()) {
    out.errors.typeMismatch(FieldPath(), object, "an object");
    return out;
  }
  checkTypeMeta(object, out.errors);
  json body = object;
  body.erase("apiVersion");
  body.erase("kind");
  Decoder(out.errors).decode(body, FieldPath(), out.cluster);
  return out;
}

json encodeCluster(const Cluster& cluster) {
  json obj = Encoder::encode(cluster);
  obj["apiVersion"] = kApiVersion;
  obj["kind"] = kKind;
  if (!obj.contains("metadata")) obj["metadata"] = json::object();
  if (!obj.contains("spec")) obj["spec"] = json::object();
  return obj;
}

Result<std::vector<ManifestDocument>> decodeManifests(std::string_view text) {
  HERD_ASSIGN_OR_RETURN(auto docs, parseDocuments(text));
  std::vector<ManifestDocument> out;
  size_t index = 0;
  for (const auto& doc : docs) {
    // kubectl accepts a v1 List wrapping objects; so do we.
    if (doc.is_object() && doc.value("kind", "") == "List" && doc.contains("items") &&
        doc["items"].is_array()) {
      for (const auto& item : doc["items"]) out.push_back({index++, decodeCluster(item)});
      continue;
    }
    out.push_back({index++, decodeCluster(doc)});
  }
  return out;
}

std::string toJsonText(const json& value) {
  return value.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

json clusterTypeShape() {
  return ShapeWriter::shape<Cluster>();
}

}  // namespace herd::api
