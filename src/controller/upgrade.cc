#include "controller/upgrade.h"

#include <fmt/format.h>

#include <charconv>

namespace herd::controller {
namespace {

struct Version {
  int major = 0;
  int minor = 0;
};

// "1.31" or "1.31.4" (an optional leading "v"); the patch does not matter here.
std::optional<Version> parseMinor(std::string_view s) {
  if (s.starts_with('v')) s.remove_prefix(1);
  Version v;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v.major);
  if (r.ec != std::errc() || r.ptr == s.data() + s.size() || *r.ptr != '.') return std::nullopt;
  const char* minor_start = r.ptr + 1;
  r = std::from_chars(minor_start, s.data() + s.size(), v.minor);
  if (r.ec != std::errc() || r.ptr == minor_start) return std::nullopt;
  if (r.ptr != s.data() + s.size() && *r.ptr != '.') return std::nullopt;
  return v;
}

}  // namespace

VersionDecision decideVersion(const std::string& running, const std::string& requested) {
  VersionDecision d;
  d.target = requested;
  if (running.empty() || running == requested) return d;
  auto from = parseMinor(running);
  auto to = parseMinor(requested);
  auto refuse = [&](std::string reason, std::string message) {
    d.target = running;
    d.refused = true;
    d.reason = std::move(reason);
    d.message = std::move(message);
    return d;
  };
  if (!from || !to) {
    return refuse("MalformedVersion",
                  fmt::format("cannot compare version {} with the running {}", requested, running));
  }
  if (to->major != from->major || to->minor < from->minor) {
    return refuse("Downgrade",
                  fmt::format("{} is older than the running {}: Kubernetes cannot be downgraded "
                              "across minor releases; set spec.version back to {}",
                              requested, running, running));
  }
  if (to->minor > from->minor + 1) {
    return refuse("VersionSkipped",
                  fmt::format("{} skips a minor release: upgrade one minor at a time, first to "
                              "{}.{}",
                              requested, from->major, from->minor + 1));
  }
  return d;
}

}  // namespace herd::controller
