#include "api/field_errors.h"

#include <fmt/format.h>

namespace herd::api {
namespace {

std::string formatValue(const nlohmann::json& v) {
  if (v.is_null()) return "null";
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string_view jsonTypeName(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::object:
      return "object";
    case nlohmann::json::value_t::array:
      return "array";
    case nlohmann::json::value_t::string:
      return "string";
    case nlohmann::json::value_t::boolean:
      return "boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      return "integer";
    case nlohmann::json::value_t::number_float:
      return "number";
    default:
      return "unknown";
  }
}

}  // namespace

FieldPath FieldPath::child(std::string_view name) const {
  FieldPath p;
  p.path_ = path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  return p;
}

FieldPath FieldPath::index(size_t i) const {
  FieldPath p;
  p.path_ = fmt::format("{}[{}]", path_, i);
  return p;
}

FieldPath FieldPath::key(std::string_view k) const {
  FieldPath p;
  p.path_ = fmt::format("{}[{}]", path_, k);
  return p;
}

std::string_view FieldError::reason() const {
  switch (type) {
    case Type::kInvalid:
      return "FieldValueInvalid";
    case Type::kTypeMismatch:
      return "FieldValueTypeInvalid";
    case Type::kRequired:
      return "FieldValueRequired";
    case Type::kNotSupported:
      return "FieldValueNotSupported";
    case Type::kForbidden:
      return "FieldValueForbidden";
    case Type::kDuplicate:
      return "FieldValueDuplicate";
    case Type::kUnknownField:
      return "FieldValueUnknown";
  }
  return "FieldValueInvalid";
}

std::string FieldError::message() const {
  switch (type) {
    case Type::kInvalid:
    case Type::kTypeMismatch:
      return fmt::format("Invalid value: {}: {}", formatValue(value), detail);
    case Type::kRequired:
      return detail.empty() ? "Required value" : "Required value: " + detail;
    case Type::kNotSupported:
      return fmt::format("Unsupported value: {}: supported values: {}", formatValue(value), detail);
    case Type::kForbidden:
      return "Forbidden: " + detail;
    case Type::kDuplicate:
      return fmt::format("Duplicate value: {}", formatValue(value));
    case Type::kUnknownField:
      return "unknown field";
  }
  return detail;
}

std::string FieldError::toString() const {
  // kube-apiserver's strict decoding says `unknown field "spec.x"`; the rest are field.Error.
  if (type == Type::kUnknownField) return fmt::format("unknown field \"{}\"", field);
  return fmt::format("{}: {}", field.empty() ? "<nil>" : field, message());
}

void FieldErrors::invalid(const FieldPath& p, nlohmann::json value, std::string detail) {
  errors_.push_back({FieldError::Type::kInvalid, p.str(), std::move(value), std::move(detail)});
}

void FieldErrors::required(const FieldPath& p, std::string detail) {
  errors_.push_back({FieldError::Type::kRequired, p.str(), nullptr, std::move(detail)});
}

void FieldErrors::notSupported(const FieldPath& p, nlohmann::json value,
                               const std::vector<std::string_view>& supported) {
  std::string list;
  for (auto s : supported) {
    if (!list.empty()) list += ", ";
    list += fmt::format("\"{}\"", s);
  }
  errors_.push_back({FieldError::Type::kNotSupported, p.str(), std::move(value), std::move(list)});
}

void FieldErrors::forbidden(const FieldPath& p, std::string detail) {
  errors_.push_back({FieldError::Type::kForbidden, p.str(), nullptr, std::move(detail)});
}

void FieldErrors::duplicate(const FieldPath& p, nlohmann::json value) {
  errors_.push_back({FieldError::Type::kDuplicate, p.str(), std::move(value), {}});
}

void FieldErrors::unknownField(const FieldPath& p) {
  errors_.push_back({FieldError::Type::kUnknownField, p.str(), nullptr, {}});
}

void FieldErrors::typeMismatch(const FieldPath& p, const nlohmann::json& value,
                               std::string_view expected, std::string_view hint) {
  std::string detail = fmt::format("must be {}, not {}", expected, jsonTypeName(value));
  if (!hint.empty()) detail += fmt::format(" ({})", hint);
  errors_.push_back({FieldError::Type::kTypeMismatch, p.str(), value, std::move(detail)});
}

void FieldErrors::append(const FieldErrors& other) {
  errors_.insert(errors_.end(), other.errors_.begin(), other.errors_.end());
}

Status FieldErrors::toStatus(std::string_view kind, std::string_view name) const {
  if (errors_.empty()) return Status::ok();
  std::string joined;
  for (const auto& e : errors_) {
    if (!joined.empty()) joined += ", ";
    joined += e.toString();
  }
  if (errors_.size() > 1) joined = "[" + joined + "]";
  return Status::invalid(fmt::format("{} \"{}\" is invalid: {}", kind, name, joined));
}

}  // namespace herd::api
