#include "patch.h"

#include <algorithm>

namespace herd::fake {
namespace {

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string childPath(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// A JSON pointer as a list of unescaped tokens; false when it is malformed.
bool parsePointer(const std::string& pointer, std::vector<std::string>& tokens) {
  if (pointer.empty()) return true;
  if (pointer[0] != '/') return false;
  size_t pos = 1;
  while (true) {
    size_t next = pointer.find('/', pos);
    std::string token =
        pointer.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    std::string out;
    for (size_t i = 0; i < token.size(); ++i) {
      if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
        out.push_back(token[i + 1] == '0' ? '~' : '/');
        ++i;
      } else {
        out.push_back(token[i]);
      }
    }
    tokens.push_back(out);
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return true;
}

bool parseIndex(const std::string& token, size_t limit, size_t& index) {
  if (token.empty() || token.size() > 9 || !std::all_of(token.begin(), token.end(), ::isdigit))
    return false;
  if (token.size() > 1 && token[0] == '0') return false;
  index = std::stoul(token);
  return index <= limit;
}

// The parent container of a pointer's target, or nullptr.
Json* resolveParent(Json& root, const std::vector<std::string>& tokens) {
  Json* cur = &root;
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (cur->is_object()) {
      auto it = cur->find(t);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      size_t index = 0;
      if (!parseIndex(t, cur->size() - 1, index) || cur->empty()) return nullptr;
      cur = &(*cur)[index];
    } else {
      return nullptr;
    }
  }
  return cur;
}

Status getAt(Json& root, const std::string& pointer, Json& out) {
  std::vector<std::string> tokens;
  if (!parsePointer(pointer, tokens)) return Status::invalid("bad pointer " + pointer);
  if (tokens.empty()) {
    out = root;
    return Status::ok();
  }
  Json* parent = resolveParent(root, tokens);
  if (parent == nullptr) return Status::invalid("missing " + pointer);
  const std::string& last = tokens.back();
  if (parent->is_object()) {
    auto it = parent->find(last);
    if (it == parent->end()) return Status::invalid("missing " + pointer);
    out = *it;
    return Status::ok();
  }
  size_t index = 0;
  if (parent->is_array() && !parent->empty() && parseIndex(last, parent->size() - 1, index)) {
    out = (*parent)[index];
    return Status::ok();
  }
  return Status::invalid("missing " + pointer);
}

Status removeAt(Json& root, const std::string& pointer) {
  std::vector<std::string> tokens;
  if (!parsePointer(pointer, tokens) || tokens.empty())
    return Status::invalid("bad pointer " + pointer);
  Json* parent = resolveParent(root, tokens);
  if (parent == nullptr) return Status::invalid("missing " + pointer);
  const std::string& last = tokens.back();
  if (parent->is_object()) {
    if (parent->erase(last) == 0) return Status::invalid("missing " + pointer);
    return Status::ok();
  }
  size_t index = 0;
  if (parent->is_array() && !parent->empty() && parseIndex(last, parent->size() - 1, index)) {
    parent->erase(parent->begin() + static_cast<long>(index));
    return Status::ok();
  }
  return Status::invalid("missing " + pointer);
}

Status addAt(Json& root, const std::string& pointer, const Json& value, bool replace) {
  std::vector<std::string> tokens;
  if (!parsePointer(pointer, tokens)) return Status::invalid("bad pointer " + pointer);
  if (tokens.empty()) {
    root = value;
    return Status::ok();
  }
  Json* parent = resolveParent(root, tokens);
  if (parent == nullptr) return Status::invalid("missing parent of " + pointer);
  const std::string& last = tokens.back();
  if (parent->is_object()) {
    if (replace && !parent->contains(last)) return Status::invalid("missing " + pointer);
    (*parent)[last] = value;
    return Status::ok();
  }
  if (!parent->is_array()) return Status::invalid("parent of " + pointer + " is not a container");
  if (replace) {
    size_t index = 0;
    if (parent->empty() || !parseIndex(last, parent->size() - 1, index))
      return Status::invalid("missing " + pointer);
    (*parent)[index] = value;
    return Status::ok();
  }
  if (last == "-") {
    parent->push_back(value);
    return Status::ok();
  }
  size_t index = 0;
  if (!parseIndex(last, parent->size(), index)) return Status::invalid("bad index in " + pointer);
  parent->insert(parent->begin() + static_cast<long>(index), value);
  return Status::ok();
}

bool itemMatches(const Json& item, const Json& probe, const std::vector<std::string>& keys) {
  if (!item.is_object() || !probe.is_object()) return false;
  for (const auto& key : keys) {
    auto a = item.find(key);
    auto b = probe.find(key);
    bool a_has = a != item.end();
    bool b_has = b != probe.end();
    if (a_has != b_has) return false;
    if (a_has && *a != *b) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> builtinListKeys(const std::string& path) {
  struct Entry {
    const char* suffix;
    std::vector<std::string> keys;
  };
  static const std::vector<Entry> kEntries = {
      {"containers.ports", {"containerPort", "protocol"}},
      {"initContainers.ports", {"containerPort", "protocol"}},
      {"containers", {"name"}},
      {"initContainers", {"name"}},
      {"ephemeralContainers", {"name"}},
      {"env", {"name"}},
      {"volumeMounts", {"mountPath"}},
      {"volumeDevices", {"devicePath"}},
      {"volumes", {"name"}},
      {"imagePullSecrets", {"name"}},
      {"spec.ports", {"port", "protocol"}},
      {"conditions", {"type"}},
      {"ownerReferences", {"uid"}},
      {"tolerations", {}},
  };
  for (const auto& e : kEntries) {
    if (path == e.suffix || endsWith(path, std::string(".") + e.suffix)) return e.keys;
  }
  return {};
}

void applyMergePatch(Json& target, const Json& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = Json::object();
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      target.erase(key);
    } else {
      applyMergePatch(target[key], value);
    }
  }
}

Status applyJsonPatch(Json& target, const Json& patch) {
  if (!patch.is_array()) return Status::invalid("a JSON patch must be an array of operations");
  for (const auto& op : patch) {
    if (!op.is_object() || !op.contains("op") || !op["op"].is_string() || !op.contains("path") ||
        !op["path"].is_string()) {
      return Status::invalid("malformed JSON patch operation");
    }
    const std::string name = op["op"].get<std::string>();
    const std::string path = op["path"].get<std::string>();
    if (name == "add" || name == "replace" || name == "test") {
      if (!op.contains("value")) return Status::invalid("operation " + name + " needs a value");
    }
    if (name == "add") {
      HERD_RETURN_IF_ERROR(addAt(target, path, op["value"], false));
    } else if (name == "replace") {
      HERD_RETURN_IF_ERROR(addAt(target, path, op["value"], true));
    } else if (name == "remove") {
      HERD_RETURN_IF_ERROR(removeAt(target, path));
    } else if (name == "test") {
      Json current;
      HERD_RETURN_IF_ERROR(getAt(target, path, current));
      if (current != op["value"]) return Status::invalid("test failed at " + path);
    } else if (name == "move" || name == "copy") {
      if (!op.contains("from") || !op["from"].is_string())
        return Status::invalid(name + " needs from");
      Json value;
      HERD_RETURN_IF_ERROR(getAt(target, op["from"].get<std::string>(), value));
      if (name == "move") HERD_RETURN_IF_ERROR(removeAt(target, op["from"].get<std::string>()));
      HERD_RETURN_IF_ERROR(addAt(target, path, value, false));
    } else {
      return Status::invalid("unknown JSON patch operation " + name);
    }
  }
  return Status::ok();
}

Status applyStrategicMergePatch(Json& target, const Json& patch, const std::string& path) {
  if (!patch.is_object()) {
    target = patch;
    return Status::ok();
  }
  if (patch.value("$patch", "") == "replace") {
    target = patch;
    target.erase("$patch");
    return Status::ok();
  }
  if (!target.is_object()) target = Json::object();
  for (const auto& [key, value] : patch.items()) {
    if (key.rfind("$", 0) == 0) continue;  // directives handled by the list merge
    std::string child = childPath(path, key);
    if (value.is_null()) {
      target.erase(key);
      continue;
    }
    std::vector<std::string> keys =
        value.is_array() ? builtinListKeys(child) : std::vector<std::string>{};
    if (!value.is_array() || keys.empty() || !target.contains(key) || !target[key].is_array()) {
      if (value.is_object()) {
        HERD_RETURN_IF_ERROR(applyStrategicMergePatch(target[key], value, child));
      } else if (value.is_array() && !keys.empty()) {
        Json list = Json::array();
        for (const auto& item : value) {
          if (item.is_object() && item.value("$patch", "") == "delete") continue;
          list.push_back(item);
        }
        target[key] = list;
      } else {
        target[key] = value;
      }
      continue;
    }
    Json& list = target[key];
    for (const auto& item : value) {
      if (!item.is_object())
        return Status::invalid("list " + child + " merges by key: items must be objects");
      auto existing = std::find_if(list.begin(), list.end(),
                                   [&](const Json& e) { return itemMatches(e, item, keys); });
      if (item.value("$patch", "") == "delete") {
        if (existing != list.end()) list.erase(existing);
        continue;
      }
      if (existing == list.end()) {
        list.push_back(item);
      } else {
        HERD_RETURN_IF_ERROR(applyStrategicMergePatch(*existing, item, child));
      }
    }
  }
  return Status::ok();
}

}  // namespace herd::fake
