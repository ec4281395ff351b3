// Errors as kube-apiserver answers them: a metav1.Status body with the reason, message and
// details the real server gives for each failure, and the HTTP responses carrying JSON bodies,
// errors and the mux's plain-text 404.
//
// Value types and pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "api/field_errors.h"
#include "http_types.h"
#include "registry.h"

namespace herd::fake {

struct ApiError {
  int code = 500;
  std::string reason;
  std::string message;
  Json details = nullptr;  // null: no "details" key
  Json metadata = Json::object();
};

Json statusJson(const ApiError& e);

ApiError notFound(const ResourceType& type, const std::string& name);
ApiError namespaceNotFound(const std::string& ns);
ApiError badRequest(std::string message);
ApiError methodNotAllowed();
// A query parameter kube-apiserver's ListOptions validation forbids (field.Forbidden).
ApiError listOptionsForbidden(const std::string& field, const std::string& detail);
// What ListOptions validation says about sendInitialEvents (WatchList), as recorded.
std::optional<ApiError> checkSendInitialEvents(const HttpRequest& req, bool watch);
ApiError alreadyExists(const ResourceType& type, const std::string& name);
ApiError conflictModified(const ResourceType& type, const std::string& name);
// `cel_note`: the note kube-apiserver adds when a schema's CEL rules were skipped.
ApiError invalid(const ResourceType& type, const std::string& name, const api::FieldErrors& errs,
                 bool cel_note = false);

HttpResponse jsonResponse(HttpResponse res, int code, const Json& body);
HttpResponse errorResponse(HttpResponse res, const ApiError& e);
// The authorization filter's 403 (responsewriters.Forbidden) also sets nosniff.
HttpResponse forbiddenResponse(HttpResponse res, const ApiError& e);
HttpResponse plainNotFound(HttpResponse res);

}  // namespace herd::fake
