// Field errors in Kubernetes' style: each names the field path and what is wrong with it,
// formatted exactly as kube-apiserver formats field.Error ("spec.x: Invalid value: 2: must be
// 1, 3 or 5"). A FieldErrors list gathers every problem of an object, not just the first.
// Value types; not thread-safe to mutate concurrently.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace herd::api {

// A path such as spec.controlPlane.etcd.replicas or spec.resources.limits[cpu].
class FieldPath {
 public:
  FieldPath() = default;
  explicit FieldPath(std::string_view root) : path_(root) {}
  FieldPath child(std::string_view name) const;
  FieldPath index(size_t i) const;
  FieldPath key(std::string_view k) const;
  const std::string& str() const { return path_; }

 private:
  std::string path_;
};

struct FieldError {
  enum class Type {
    kInvalid,
    kRequired,
    kNotSupported,
    kForbidden,
    kDuplicate,
    kUnknownField,
    kTypeMismatch
  };
  Type type = Type::kInvalid;
  std::string field;
  nlohmann::json value;  // the offending value, if any
  std::string detail;    // for kNotSupported: the supported values, already quoted

  // The kube-apiserver cause reason: FieldValueInvalid, FieldValueRequired, ...
  std::string_view reason() const;
  // The message without the field: `Invalid value: 2: must be 1, 3 or 5`.
  std::string message() const;
  // The whole line: `spec.controlPlane.etcd.replicas: Invalid value: 2: must be 1, 3 or 5`.
  std::string toString() const;
};

class FieldErrors {
 public:
  void invalid(const FieldPath& p, nlohmann::json value, std::string detail);
  void required(const FieldPath& p, std::string detail = {});
  void notSupported(const FieldPath& p, nlohmann::json value,
                    const std::vector<std::string_view>& supported);
  void forbidden(const FieldPath& p, std::string detail);
  void duplicate(const FieldPath& p, nlohmann::json value);
  void unknownField(const FieldPath& p);
  void typeMismatch(const FieldPath& p, const nlohmann::json& value, std::string_view expected,
                    std::string_view hint = {});
  void add(FieldError e) { errors_.push_back(std::move(e)); }
  void append(const FieldErrors& other);

  bool empty() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }
  const std::vector<FieldError>& all() const { return errors_; }
  auto begin() const { return errors_.begin(); }
  auto end() const { return errors_.end(); }

  // One Status of kind Invalid, formatted as kube-apiserver does:
  // `Cluster "demo" is invalid: [a: ..., b: ...]` (no brackets for a single error).
  Status toStatus(std::string_view kind, std::string_view name) const;

 private:
  std::vector<FieldError> errors_;
};

}  // namespace herd::api
