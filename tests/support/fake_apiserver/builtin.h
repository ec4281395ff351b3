// The per-kind rules of kube-apiserver that herd's objects meet: name formats, the validation
// of the kinds herd writes (ConfigMap, Secret, Service, Deployment, Lease, Namespace,
// ownerReferences) with the recorded messages, and the defaults the real server fills in.
//
// Deliberately partial: each rule here was read off a recording. Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include "api/field_errors.h"
#include "registry.h"

namespace herd::fake {

// Validates metadata and the kind-specific fields of a built-in object (custom resources use
// their schema instead, but share the metadata rules).
api::FieldErrors validateObject(const ResourceType& type, const Json& object);

// Fills in the defaults kube-apiserver applies on create and update.
void applyBuiltinDefaults(const ResourceType& type, Json& object);

// True when the kind has metadata.generation (bumped on spec changes).
bool usesGeneration(const ResourceType& type);

}  // namespace herd::fake
