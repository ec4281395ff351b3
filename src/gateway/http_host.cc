#include "gateway/http_host.h"

#include "common/net.h"
#include "gateway/client_hello.h"

namespace herd::gateway {
namespace {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// "name", "name:port", "[v6]" or "[v6]:port" -> the lower-case name, or false when the value
// is none of these.
bool normalizeHost(std::string_view value, std::string& out) {
  auto parsed = net::parseHostPort(value, {.port_optional = true});
  if (!parsed) return false;
  if (parsed->host.find(':') != std::string::npos) {
    // An IPv6 literal cannot name a tenant; keep it so the default route can take it.
    out = "[" + parsed->host + "]";
    return true;
  }
  std::string_view name = parsed->host;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (!isValidHostName(name)) return false;
  out.assign(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return true;
}

}  // namespace

std::string_view httpHeadOutcomeName(HttpHeadOutcome outcome) {
  switch (outcome) {
    case HttpHeadOutcome::kNeedMore:
      return "need_more";
    case HttpHeadOutcome::kOk:
      return "ok";
    case HttpHeadOutcome::kMalformed:
      return "malformed";
    case HttpHeadOutcome::kTooLarge:
      return "too_large";
  }
  return "unknown";
}

HttpHeadInfo inspectHttpHead(std::string_view data, size_t max_bytes) {
  auto head_end = data.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    // The request line must look like HTTP as soon as it is complete, so that noise on the
    // listener is refused at once rather than after the timeout.
    auto line_end = data.find("\r\n");
    if (line_end != std::string_view::npos &&
        data.substr(0, line_end).find(" HTTP/1.") == std::string_view::npos) {
      return {HttpHeadOutcome::kMalformed, {}};
    }
    if (data.size() >= max_bytes) return {HttpHeadOutcome::kTooLarge, {}};
    return {HttpHeadOutcome::kNeedMore, {}};
  }
  if (head_end + 4 > max_bytes) return {HttpHeadOutcome::kTooLarge, {}};
  std::string_view head = data.substr(0, head_end + 2);
  auto line_end = head.find("\r\n");
  std::string_view request_line = head.substr(0, line_end);
  auto sp1 = request_line.find(' ');
  auto sp2 = request_line.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == 0 || sp2 == sp1 ||
      request_line.substr(sp2 + 1).substr(0, 7) != "HTTP/1.") {
    return {HttpHeadOutcome::kMalformed, {}};
  }
  HttpHeadInfo result{HttpHeadOutcome::kOk, {}};
  bool seen_host = false;
  std::string_view rest = head.substr(line_end + 2);
  while (!rest.empty()) {
    auto end = rest.find("\r\n");
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end + 2);
    auto colon = line.find(':');
    // Obsolete line folding and field names with spaces are request smuggling vectors.
    if (colon == std::string_view::npos || colon == 0 || line.front() == ' ' ||
        line.front() == '\t' || line.substr(0, colon).find(' ') != std::string_view::npos) {
      return {HttpHeadOutcome::kMalformed, {}};
    }
    if (!equalsIgnoreCase(line.substr(0, colon), "host")) continue;
    if (seen_host) return {HttpHeadOutcome::kMalformed, {}};
    seen_host = true;
    if (!normalizeHost(trim(line.substr(colon + 1)), result.host)) {
      return {HttpHeadOutcome::kMalformed, {}};
    }
  }
  return result;
}

}  // namespace herd::gateway
