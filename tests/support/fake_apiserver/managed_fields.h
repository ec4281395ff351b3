// metadata.managedFields as kube-apiserver keeps them: field sets in the FieldsV1 format, the
// ownership moves of Update operations, and server-side apply (conflicts, force, removal of
// fields a manager stopped applying).
//
// A FieldSet holds paths of FieldsV1 elements ("f:spec", "k:{\"name\":\"app\"}", "v:\"x\"").
// Lists merge by key when a ListKeys function names their keys (built-in table or a CRD's
// x-kubernetes-list-map-keys); everything else is atomic. Pure functions; thread-safe.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace herd::fake {

using Json = nlohmann::ordered_json;
using FieldPathElems = std::vector<std::string>;
using FieldSet = std::set<FieldPathElems>;

// How a list at a dotted path merges: keys for a map list, `set` for a set of scalars.
struct ListShape {
  std::vector<std::string> keys;
  bool set = false;
};
using ListKeys = std::function<ListShape(const std::string& dotted_path)>;

// Which part of an object a write may touch: everything but status for the main resource
// of a type with a status subresource, only status for /status.
enum class FieldScope { kAll, kNoStatus, kStatusOnly };

// `applied`: the set of an apply configuration (maps are members only through their leaves).
FieldSet fieldsOf(const Json& object, const ListKeys& keys, FieldScope scope, bool applied = false);
Json toFieldsV1(const FieldSet& set);
FieldSet fromFieldsV1(const Json& fields);

// ".spec.template.spec.containers[name=\"app\"].image", as conflicts name fields.
std::string describePath(const FieldPathElems& path);

struct UpdateContext {
  std::string manager;
  std::string api_version;
  std::string subresource;  // "" or "status"/"scale"
  std::string now;          // RFC 3339 time for changed entries
  FieldScope scope = FieldScope::kAll;
};

// Rewrites new_object's metadata.managedFields after an Update from `old_object` (null for a
// create): the manager takes the fields it changed, others lose them.
void recordUpdate(const Json& old_object, Json& new_object, const ListKeys& keys,
                  const UpdateContext& ctx);

struct ApplyConflict {
  std::string field;    // describePath form
  std::string manager;  // display name
  std::string message;  // cause message
};

struct ApplyResult {
  Json object;
  std::vector<ApplyConflict> conflicts;  // non-empty: 409 unless forced
};

// Server-side apply of `applied` onto `current` (null when the object does not exist yet).
ApplyResult serverSideApply(const Json& current, const Json& applied, const ListKeys& keys,
                            const UpdateContext& ctx, bool force);

// "Apply failed with 2 conflicts: ..." exactly as kube-apiserver words it.
std::string conflictMessage(const std::vector<ApplyConflict>& conflicts);

}  // namespace herd::fake
