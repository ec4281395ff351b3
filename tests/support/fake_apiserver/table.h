// Table output (Accept: application/json;as=Table, what kubectl get asks for): the columns of
// kube-apiserver's built-in printers word for word, a CRD's additionalPrinterColumns, and rows
// carrying the object, its metadata or nothing as includeObject= says.
//
// Pure functions; thread-safe.
#pragma once

#include <vector>

#include "http_types.h"
#include "registry.h"

namespace herd::fake {

// The Table of `items` (stored objects of `type`) as printed for `req`, with `list_meta` as
// its metadata (resourceVersion, continue).
Json tableOf(const HttpRequest& req, const ResourceType& type, const std::vector<Json>& items,
             const Json& list_meta);

}  // namespace herd::fake
