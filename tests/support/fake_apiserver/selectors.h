// Label and field selectors as kube-apiserver parses them from labelSelector= and
// fieldSelector=, with its error messages, and the matching of objects against them. Field
// selectors know which fields each built-in kind supports (metadata.name and
// metadata.namespace everywhere).
//
// Pure functions on value types; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "registry.h"

namespace herd::fake {

struct Requirement {
  std::string key;
  std::string op;  // =, !=, in, notin, exists, !exists
  std::vector<std::string> values;
};

// False with `error` set when `text` is not a selector.
bool parseLabelSelector(const std::string& text, std::vector<Requirement>& out, std::string& error);
bool parseFieldSelector(const ResourceType& type, const std::string& text,
                        std::vector<Requirement>& out, std::string& error);

bool matchesRequirements(const Json& labels, const std::vector<Requirement>& reqs);
bool matchesFields(const Json& object, const std::vector<Requirement>& reqs);
// Both, as list, watch and deletecollection select objects.
bool matchesSelectors(const Json& object, const std::vector<Requirement>& labels,
                      const std::vector<Requirement>& fields);

}  // namespace herd::fake
