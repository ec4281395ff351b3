// How the fake handles stored objects outside any one request: the key order of their fields
// as kube-apiserver prints them (Go struct order for built-in kinds), their finalizers and spec,
// the JSONPath subset that printer columns and the scale subresource use, and the list shapes
// that managed fields and server-side apply follow.
//
// Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "managed_fields.h"
#include "registry.h"

namespace herd::fake {

// ObjectMeta with its fields in Go's order, labels and annotations sorted as Go maps are.
Json orderedMeta(const Json& meta);
// Built-in kinds in Go struct order; custom resources with sorted keys (they are unstructured
// maps inside kube-apiserver).
Json presentable(const ResourceType& type, const Json& object);
// A stored object as the API returns it for `type`: its apiVersion and kind, then presentable.
Json forOutput(const ResourceType& type, Json object);

// Everything but metadata, status, apiVersion and kind: a change here bumps the generation.
Json specPart(const Json& obj);
std::vector<std::string> finalizersOf(const Json& obj);
void setFinalizers(Json& obj, const std::vector<std::string>& finalizers);

// Sets the field at a dotted path (".spec.replicas", as a scale subresource names it),
// creating the objects on the way.
void setFieldPath(Json& obj, const std::string& path, Json value);
// The subset of kubectl JSONPath used by printer columns: .a.b, .a[0].b and
// .a[?(@.k=="v")].b. Null when the path leads nowhere.
Json evalJsonPath(const Json& obj, const std::string& path);

// The object as its /scale subresource shows it (autoscaling/v1 Scale).
Json scaleOf(const ResourceType& type, const Json& obj);

// Shapes of lists for managed fields and apply: the built-in table, or the CRD schema's
// x-kubernetes-list-type annotations.
ListKeys listKeysFor(const ResourceTypePtr& type);
// True when a CRD schema carries CEL rules (x-kubernetes-validations).
bool schemaHasCel(const nlohmann::json& schema);

}  // namespace herd::fake
