// What every write goes through before it is stored: decoding the body against the target's
// kind (with the strict decoder's unknown-field rules of fieldValidation=), the schema of a
// custom resource (pruning, defaults, validation), the status subresource rule, and the
// request options shared by writes (fieldManager, dryRun).
//
// Pure functions of the request and the object; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "authn.h"
#include "http_types.h"
#include "responses.h"

namespace herd::fake {

// The manager of a write: fieldManager=, else the User-Agent's product name.
std::string managerOf(const HttpRequest& req);
bool dryRun(const HttpRequest& req);

// Parses req.body as an object of t's kind into `obj`; unknown top-level fields of the kinds
// herd writes are dropped with a warning, or refused under fieldValidation=Strict.
std::optional<ApiError> decodeBody(const HttpRequest& req, const Target& t, Json& obj,
                                   std::vector<std::string>& warnings);
// The 400s of a body naming another object than the URL does (unset fields are fine).
std::optional<ApiError> checkBodyName(const Target& t, const std::string& body_name);
std::optional<ApiError> checkBodyNamespace(const Target& t, const Json& meta);
// A custom resource through its CRD's schema: pruned, defaulted and validated in place.
// `status_only`: a write to /status, where unknown fields are never an error.
std::optional<ApiError> admitCustom(const Target& t, Json& obj, const HttpRequest& req,
                                    std::vector<std::string>& warnings, bool status_only);

// The object a write stores, as the status subresource rules it: a write to /status changes
// only the status; a write to the main resource changes everything but a status that the
// resource guards with a /status subresource.
Json applyStatusRule(bool to_status, bool has_status_subresource, const Json& current,
                     const Json& incoming);

}  // namespace herd::fake
