#include "managed_fields.h"

#include <algorithm>
#include <map>

namespace herd::fake {
namespace {

std::string dotted(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string itemKey(const Json& item, const std::vector<std::string>& keys) {
  nlohmann::json k = nlohmann::json::object();  // sorted keys, as FieldsV1 writes them
  for (const auto& key : keys) {
    if (item.is_object() && item.contains(key)) k[key] = nlohmann::json::parse(item[key].dump());
  }
  return "k:" + k.dump();
}

// `applied`: the set of an apply configuration, where a non-empty map is not a member of its
// own (only its leaves are), unlike the set an Update takes.
void collect(const Json& value, const std::string& path_str, FieldPathElems& path,
             const ListKeys& keys, FieldSet& out, bool applied) {
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      path.push_back("f:" + key);
      if (!applied || !child.is_object() || child.empty()) out.insert(path);
      collect(child, dotted(path_str, key), path, keys, out, applied);
      path.pop_back();
    }
    return;
  }
  if (!value.is_array()) return;
  ListShape shape = keys(path_str);
  if (shape.set) {
    for (const auto& item : value) {
      path.push_back("v:" + item.dump());
      out.insert(path);
      path.pop_back();
    }
    return;
  }
  if (shape.keys.empty()) return;  // atomic: the list is one leaf
  for (const auto& item : value) {
    path.push_back(itemKey(item, shape.keys));
    out.insert(path);
    collect(item, path_str, path, keys, out, applied);
    path.pop_back();
  }
}

const Json* valueAt(const Json& object, const FieldPathElems& path) {
  const Json* cur = &object;
  for (const auto& elem : path) {
    if (elem.rfind("f:", 0) == 0) {
      if (!cur->is_object()) return nullptr;
      auto it = cur->find(elem.substr(2));
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (elem.rfind("k:", 0) == 0) {
      if (!cur->is_array()) return nullptr;
      nlohmann::json want = nlohmann::json::parse(elem.substr(2), nullptr, false);
      const Json* found = nullptr;
      for (const auto& item : *cur) {
        bool match = item.is_object();
        for (auto& [k, v] : want.items()) {
          if (!match) break;
          match = item.contains(k) && nlohmann::json::parse(item[k].dump()) == v;
        }
        if (match) {
          found = &item;
          break;
        }
      }
      if (found == nullptr) return nullptr;
      cur = found;
    } else if (elem.rfind("v:", 0) == 0) {
      if (!cur->is_array()) return nullptr;
      const Json* found = nullptr;
      for (const auto& item : *cur) {
        if (item.dump() == elem.substr(2)) found = &item;
      }
      if (found == nullptr) return nullptr;
      cur = found;
    } else {
      return nullptr;
    }
  }
  return cur;
}

bool removeAt(Json& object, const FieldPathElems& path) {
  if (path.empty()) return false;
  FieldPathElems parent_path(path.begin(), path.end() - 1);
  Json* parent = const_cast<Json*>(valueAt(object, parent_path));
  if (parent == nullptr) return false;
  const std::string& last = path.back();
  if (last.rfind("f:", 0) == 0 && parent->is_object()) return parent->erase(last.substr(2)) > 0;
  if (parent->is_array()) {
    const Json* target = valueAt(object, path);
    for (auto it = parent->begin(); it != parent->end(); ++it) {
      if (&*it == target) {
        parent->erase(it);
        return true;
      }
    }
  }
  return false;
}

bool hasChildren(const FieldSet& set, const FieldPathElems& path) {
  auto it = set.upper_bound(path);
  return it != set.end() && it->size() > path.size() &&
         std::equal(path.begin(), path.end(), it->begin());
}

// Drops everything outside the write's scope: apiVersion/kind, the metadata fields no manager
// owns (name, uid, resourceVersion, ...), and status or everything-but-status.
Json scoped(const Json& object, FieldScope scope) {
  Json out = Json::object();
  if (!object.is_object()) return out;
  for (const auto& [key, value] : object.items()) {
    if (key == "apiVersion" || key == "kind") continue;
    if (key == "metadata") {
      if (scope == FieldScope::kStatusOnly || !value.is_object()) continue;
      Json meta = Json::object();
      for (const char* owned : {"labels", "annotations", "finalizers", "ownerReferences"}) {
        if (value.contains(owned)) meta[owned] = value[owned];
      }
      if (!meta.empty()) out["metadata"] = meta;
      continue;
    }
    if (scope == FieldScope::kNoStatus && key == "status") continue;
    if (scope == FieldScope::kStatusOnly && key != "status") continue;
    out[key] = value;
  }
  return out;
}

struct Entry {
  std::string manager;
  std::string operation;
  std::string api_version;
  std::string time;
  std::string subresource;
  FieldSet set;
  bool touched = false;
};

std::vector<Entry> readEntries(const Json& object) {
  std::vector<Entry> out;
  if (!object.is_object() || !object.contains("metadata")) return out;
  const Json& mf = object["metadata"].value("managedFields", Json::array());
  for (const auto& e : mf) {
    Entry entry;
    entry.manager = e.value("manager", "");
    entry.operation = e.value("operation", "");
    entry.api_version = e.value("apiVersion", "");
    entry.time = e.value("time", "");
    entry.subresource = e.value("subresource", "");
    entry.set = fromFieldsV1(e.value("fieldsV1", Json::object()));
    out.push_back(std::move(entry));
  }
  return out;
}

void writeEntries(Json& object, const std::vector<Entry>& entries) {
  Json mf = Json::array();
  for (const auto& e : entries) {
    if (e.set.empty()) continue;
    Json j = {{"manager", e.manager}, {"operation", e.operation}, {"apiVersion", e.api_version},
              {"time", e.time},       {"fieldsType", "FieldsV1"}, {"fieldsV1", toFieldsV1(e.set)}};
    if (!e.subresource.empty()) j["subresource"] = e.subresource;
    mf.push_back(j);
  }
  if (mf.empty()) {
    object["metadata"].erase("managedFields");
  } else {
    object["metadata"]["managedFields"] = mf;
  }
}

Entry& entryFor(std::vector<Entry>& entries, const UpdateContext& ctx,
                const std::string& operation) {
  for (auto& e : entries) {
    if (e.manager == ctx.manager && e.operation == operation && e.subresource == ctx.subresource)
      return e;
  }
  Entry e;
  e.manager = ctx.manager;
  e.operation = operation;
  e.subresource = ctx.subresource;
  entries.push_back(std::move(e));
  return entries.back();
}

void intersect(FieldSet& set, const FieldSet& with) {
  for (auto it = set.begin(); it != set.end();) {
    it = with.count(*it) ? std::next(it) : set.erase(it);
  }
}

void mergeApplied(Json& target, const Json& applied, const std::string& path,
                  const ListKeys& keys) {
  if (!applied.is_object() || !target.is_object()) {
    target = applied;
    return;
  }
  for (const auto& [key, value] : applied.items()) {
    std::string child = dotted(path, key);
    if (!target.contains(key) || value.is_null()) {
      target[key] = value;
      continue;
    }
    Json& existing = target[key];
    if (value.is_object() && existing.is_object()) {
      mergeApplied(existing, value, child, keys);
    } else if (value.is_array() && existing.is_array()) {
      ListShape shape = keys(child);
      if (shape.set) {
        for (const auto& item : value) {
          if (std::find(existing.begin(), existing.end(), item) == existing.end())
            existing.push_back(item);
        }
      } else if (!shape.keys.empty()) {
        for (const auto& item : value) {
          std::string want = itemKey(item, shape.keys);
          auto found = std::find_if(existing.begin(), existing.end(),
                                    [&](const Json& e) { return itemKey(e, shape.keys) == want; });
          if (found == existing.end()) {
            existing.push_back(item);
          } else {
            mergeApplied(*found, item, child, keys);
          }
        }
      } else {
        existing = value;
      }
    } else {
      existing = value;
    }
  }
}

std::string displayManager(const Entry& e) {
  return e.operation == "Update" ? "\"" + e.manager + "\" using " + e.api_version
                                 : "\"" + e.manager + "\"";
}

}  // namespace

FieldSet fieldsOf(const Json& object, const ListKeys& keys, FieldScope scope, bool applied) {
  FieldSet out;
  FieldPathElems path;
  Json view = scoped(object, scope);
  for (const auto& [key, value] : view.items()) {
    path.push_back("f:" + key);
    // metadata itself belongs to nobody.
    if (key != "metadata" && (!applied || !value.is_object() || value.empty())) out.insert(path);
    collect(value, key, path, keys, out, applied);
    path.pop_back();
  }
  return out;
}

Json toFieldsV1(const FieldSet& set) {
  nlohmann::json root = nlohmann::json::object();
  for (const auto& path : set) {
    nlohmann::json* node = &root;
    for (const auto& elem : path) node = &(*node)[elem];
    if (!node->is_object()) *node = nlohmann::json::object();
  }
  // A member with children is marked with "."; a leaf member is an empty object.
  for (const auto& path : set) {
    if (!hasChildren(set, path)) continue;
    nlohmann::json* node = &root;
    for (const auto& elem : path) node = &(*node)[elem];
    (*node)["."] = nlohmann::json::object();
  }
  return Json::parse(root.dump());
}

FieldSet fromFieldsV1(const Json& fields) {
  FieldSet out;
  FieldPathElems path;
  std::function<void(const Json&)> walk = [&](const Json& node) {
    if (!node.is_object()) return;
    for (const auto& [key, child] : node.items()) {
      if (key == ".") continue;
      path.push_back(key);
      if (!child.is_object() || child.empty() || child.contains(".")) out.insert(path);
      walk(child);
      path.pop_back();
    }
  };
  walk(fields);
  return out;
}

std::string describePath(const FieldPathElems& path) {
  std::string out;
  for (const auto& elem : path) {
    if (elem.rfind("f:", 0) == 0) {
      out += "." + elem.substr(2);
    } else if (elem.rfind("k:", 0) == 0) {
      nlohmann::json k = nlohmann::json::parse(elem.substr(2), nullptr, false);
      std::string inner;
      for (auto& [name, value] : k.items())
        inner += (inner.empty() ? "" : ",") + name + "=" + value.dump();
      out += "[" + inner + "]";
    } else if (elem.rfind("v:", 0) == 0) {
      out += "[" + elem.substr(2) + "]";
    }
  }
  return out;
}

void recordUpdate(const Json& old_object, Json& new_object, const ListKeys& keys,
                  const UpdateContext& ctx) {
  std::vector<Entry> entries =
      old_object.is_null() ? std::vector<Entry>{} : readEntries(old_object);
  FieldSet all_new = fieldsOf(new_object, keys, FieldScope::kAll);
  FieldSet in_scope = fieldsOf(new_object, keys, ctx.scope);
  FieldSet changed;
  for (const auto& path : in_scope) {
    const Json* before = old_object.is_null() ? nullptr : valueAt(old_object, path);
    if (before == nullptr) {
      changed.insert(path);
    } else if (!hasChildren(in_scope, path) && *before != *valueAt(new_object, path)) {
      changed.insert(path);
    }
  }
  for (auto& e : entries) {
    intersect(e.set, all_new);
    bool self =
        e.manager == ctx.manager && e.operation == "Update" && e.subresource == ctx.subresource;
    if (!self) {
      for (const auto& p : changed) e.set.erase(p);
    }
  }
  if (!changed.empty()) {
    Entry& self = entryFor(entries, ctx, "Update");
    self.set.insert(changed.begin(), changed.end());
    self.api_version = ctx.api_version;
    self.time = ctx.now;
  }
  writeEntries(new_object, entries);
}

ApplyResult serverSideApply(const Json& current, const Json& applied, const ListKeys& keys,
                            const UpdateContext& ctx, bool force) {
  ApplyResult result;
  Json patch = applied;
  if (ctx.scope == FieldScope::kNoStatus) patch.erase("status");
  FieldSet applied_set = fieldsOf(patch, keys, ctx.scope, true);

  if (current.is_null()) {
    result.object = patch;
    std::vector<Entry> entries;
    Entry& self = entryFor(entries, ctx, "Apply");
    self.set = applied_set;
    self.api_version = ctx.api_version;
    self.time = ctx.now;
    if (!result.object.contains("metadata")) result.object["metadata"] = Json::object();
    writeEntries(result.object, entries);
    return result;
  }

  std::vector<Entry> entries = readEntries(current);
  std::map<FieldPathElems, std::vector<size_t>> conflicted;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.manager == ctx.manager && e.operation == "Apply" && e.subresource == ctx.subresource)
      continue;
    for (const auto& path : applied_set) {
      if (!e.set.count(path) || hasChildren(applied_set, path)) continue;
      const Json* have = valueAt(current, path);
      const Json* want = valueAt(patch, path);
      if (have != nullptr && want != nullptr && *have != *want) conflicted[path].push_back(i);
    }
  }
  if (!conflicted.empty() && !force) {
    for (const auto& [path, owners] : conflicted) {
      for (size_t i : owners) {
        result.conflicts.push_back({describePath(path), displayManager(entries[i]),
                                    "conflict with " + displayManager(entries[i])});
      }
    }
    return result;
  }
  for (const auto& [path, owners] : conflicted) {
    for (size_t i : owners) entries[i].set.erase(path);
  }

  Json merged = current;
  Json applied_scoped = patch;
  if (applied_scoped.contains("metadata")) {
    Json meta = Json::object();
    for (const char* owned : {"labels", "annotations", "finalizers", "ownerReferences"}) {
      if (applied_scoped["metadata"].contains(owned))
        meta[owned] = applied_scoped["metadata"][owned];
    }
    applied_scoped["metadata"] = meta;
  }
  applied_scoped.erase("apiVersion");
  applied_scoped.erase("kind");
  mergeApplied(merged, applied_scoped, "", keys);

  Entry& self = entryFor(entries, ctx, "Apply");
  FieldSet previous = self.set;
  self.set = applied_set;
  self.api_version = ctx.api_version;
  // Fields this manager applied before and no longer does: removed unless someone else owns
  // them. Deepest first so that a removed list item does not hide its children.
  std::vector<FieldPathElems> dropped;
  for (const auto& path : previous) {
    if (!applied_set.count(path)) dropped.push_back(path);
  }
  std::sort(dropped.begin(), dropped.end(),
            [](const FieldPathElems& a, const FieldPathElems& b) { return a.size() > b.size(); });
  for (const auto& path : dropped) {
    bool owned = std::any_of(entries.begin(), entries.end(),
                             [&](const Entry& e) { return e.set.count(path) > 0; });
    if (!owned) removeAt(merged, path);
  }
  FieldSet all = fieldsOf(merged, keys, FieldScope::kAll);
  for (auto& e : entries) intersect(e.set, all);
  bool changed_object = scoped(merged, FieldScope::kAll) != scoped(current, FieldScope::kAll);
  if (changed_object || previous != self.set) self.time = ctx.now;
  writeEntries(merged, entries);
  result.object = std::move(merged);
  return result;
}

std::string conflictMessage(const std::vector<ApplyConflict>& conflicts) {
  std::string head = "Apply failed with " + std::to_string(conflicts.size()) +
                     (conflicts.size() == 1 ? " conflict: " : " conflicts: ");
  if (conflicts.size() == 1) return head + conflicts[0].message + ": " + conflicts[0].field;
  std::map<std::string, std::vector<std::string>> by_manager;
  for (const auto& c : conflicts) by_manager[c.manager].push_back(c.field);
  std::string body;
  for (const auto& [manager, fields] : by_manager) {
    if (!body.empty()) body += "\n";
    body += "conflicts with " + manager + ":";
    for (const auto& f : fields) body += "\n- " + f;
  }
  return head + body;
}

}  // namespace herd::fake
