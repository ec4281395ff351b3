#include "selectors.h"

#include <algorithm>
#include <map>

#include "wire.h"

namespace herd::fake {
namespace {

const Json* dottedLookup(const Json& object, const std::string& path) {
  const Json* cur = &object;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t dot = path.find('.', pos);
    if (dot == std::string::npos) dot = path.size();
    std::string key = path.substr(pos, dot - pos);
    if (!cur->is_object() || !cur->contains(key)) return nullptr;
    cur = &(*cur)[key];
    pos = dot + 1;
  }
  return cur;
}

bool fieldSupported(const ResourceType& type, const std::string& field) {
  if (field == "metadata.name" || field == "metadata.namespace") return true;
  if (type.custom) return false;
  static const std::map<std::string, std::vector<std::string>> kFields = {
      {"pods",
       {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"}},
      {"events",
       {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}},
      {"secrets", {"type"}},
      {"namespaces", {"status.phase"}},
      {"nodes", {"spec.unschedulable"}},
      {"replicasets", {"status.replicas"}},
      {"jobs", {"status.successful"}},
  };
  auto it = kFields.find(type.resource);
  return it != kFields.end() &&
         std::find(it->second.begin(), it->second.end(), field) != it->second.end();
}

}  // namespace

bool parseFieldSelector(const ResourceType& type, const std::string& text,
                        std::vector<Requirement>& out, std::string& error) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string part = trim(text.substr(pos, comma - pos));
    pos = comma + 1;
    if (part.empty()) continue;
    Requirement r;
    if (size_t ne = part.find("!="); ne != std::string::npos) {
      r.key = part.substr(0, ne);
      r.op = "!=";
      r.values.push_back(part.substr(ne + 2));
    } else if (size_t eq2 = part.find("=="); eq2 != std::string::npos) {
      r.key = part.substr(0, eq2);
      r.op = "=";
      r.values.push_back(part.substr(eq2 + 2));
    } else if (size_t eq = part.find('='); eq != std::string::npos) {
      r.key = part.substr(0, eq);
      r.op = "=";
      r.values.push_back(part.substr(eq + 1));
    } else {
      error = "invalid selector: '" + text + "'; can't understand '" + part + "'";
      return false;
    }
    if (!fieldSupported(type, r.key)) {
      error = "field label not supported: " + r.key;
      return false;
    }
    out.push_back(std::move(r));
  }
  return true;
}

bool parseLabelSelector(const std::string& text, std::vector<Requirement>& out,
                        std::string& error) {
  std::vector<std::string> parts;
  int depth = 0;
  std::string cur;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!trim(cur).empty() || !parts.empty()) parts.push_back(cur);
  for (auto part : parts) {
    part = trim(part);
    if (part.empty()) {
      error = "found '', expected: identifier";
      return false;
    }
    Requirement r;
    size_t sp = part.find(' ');
    if (sp != std::string::npos &&
        (part.find(" in ") != std::string::npos || part.find(" notin ") != std::string::npos)) {
      r.key = trim(part.substr(0, sp));
      std::string rest = trim(part.substr(sp));
      r.op = startsWith(rest, "notin") ? "notin" : "in";
      size_t open = rest.find('('), close = rest.rfind(')');
      if (open == std::string::npos || close == std::string::npos || close < open) {
        error = "found '" + rest + "', expected: '('";
        return false;
      }
      std::string inner = rest.substr(open + 1, close - open - 1);
      size_t pos = 0;
      while (pos <= inner.size()) {
        size_t comma = inner.find(',', pos);
        if (comma == std::string::npos) comma = inner.size();
        r.values.push_back(trim(inner.substr(pos, comma - pos)));
        pos = comma + 1;
      }
    } else if (part[0] == '!') {
      r.key = trim(part.substr(1));
      r.op = "!exists";
    } else if (size_t ne = part.find("!="); ne != std::string::npos) {
      r.key = trim(part.substr(0, ne));
      r.op = "!=";
      r.values.push_back(trim(part.substr(ne + 2)));
    } else if (size_t eq2 = part.find("=="); eq2 != std::string::npos) {
      r.key = trim(part.substr(0, eq2));
      r.op = "=";
      r.values.push_back(trim(part.substr(eq2 + 2)));
    } else if (size_t eq = part.find('='); eq != std::string::npos) {
      r.key = trim(part.substr(0, eq));
      r.op = "=";
      r.values.push_back(trim(part.substr(eq + 1)));
    } else {
      r.key = part;
      r.op = "exists";
    }
    if (r.key.empty() || r.key.find_first_of(" ()=!") != std::string::npos) {
      error = "invalid label key \"" + r.key + "\"";
      return false;
    }
    out.push_back(std::move(r));
  }
  return true;
}

bool matchesRequirements(const Json& labels, const std::vector<Requirement>& reqs) {
  for (const auto& r : reqs) {
    bool has = labels.is_object() && labels.contains(r.key) && labels[r.key].is_string();
    std::string value = has ? labels[r.key].get<std::string>() : "";
    bool in = has && std::find(r.values.begin(), r.values.end(), value) != r.values.end();
    if (r.op == "=" && !in) return false;
    if (r.op == "!=" && in) return false;
    if (r.op == "in" && !in) return false;
    if (r.op == "notin" && in) return false;
    if (r.op == "exists" && !has) return false;
    if (r.op == "!exists" && has) return false;
  }
  return true;
}

bool matchesFields(const Json& object, const std::vector<Requirement>& reqs) {
  for (const auto& r : reqs) {
    const Json* v = dottedLookup(object, r.key);
    std::string value;
    if (v != nullptr) value = v->is_string() ? v->get<std::string>() : v->dump();
    bool eq = value == r.values[0];
    if (r.op == "=" && !eq) return false;
    if (r.op == "!=" && eq) return false;
  }
  return true;
}

bool matchesSelectors(const Json& object, const std::vector<Requirement>& labels,
                      const std::vector<Requirement>& fields) {
  return matchesRequirements(object["metadata"].value("labels", Json::object()), labels) &&
         matchesFields(object, fields);
}

}  // namespace herd::fake
