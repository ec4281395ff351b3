#include "tunnel/connect_request.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "common/net.h"

namespace herd::tunnel {
namespace {

ConnectParse invalid(int status, std::string error) {
  ConnectParse p;
  p.state = ParseState::kInvalid;
  p.http_status = status;
  p.error = std::move(error);
  return p;
}

bool isTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Printable form of an untrusted fragment for an error message: short, no control bytes.
std::string quoted(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  }
  if (s.size() > 64) out += "...";
  return "\"" + out + "\"";
}

// The target of "CONNECT host:port": a DNS name or an IP literal ("[v6]:port"), port 1-65535.
bool parseAuthority(std::string_view authority, ConnectRequest& out, std::string& error) {
  auto target = net::parseHostPort(authority);
  if (!target) {
    error = "CONNECT target " + target.status().message();
    return false;
  }
  const std::string& host = target->host;
  // 253 is the longest DNS name; a node address is a name or an IP literal (an IPv6 one came
  // in brackets and was checked by the parser).
  bool v6 = host.find(':') != std::string::npos;
  if (!v6 && (host.size() > 253 || !std::all_of(host.begin(), host.end(), isHostChar))) {
    error = "CONNECT target " + quoted(authority) + " is not a DNS name or IP address";
    return false;
  }
  out.host = host;
  out.port = target->port;
  return true;
}

}  // namespace

ConnectParse parseConnectRequest(std::string_view bytes) {
  size_t end = bytes.find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 > kMaxConnectHeaderBytes) {
    if (bytes.size() >= kMaxConnectHeaderBytes) {
      return invalid(431, fmt::format("request headers exceed {} bytes", kMaxConnectHeaderBytes));
    }
    // Fail early on something that can never become a CONNECT (a TLS ClientHello, SSH).
    std::string_view method = "CONNECT ";
    if (!method.starts_with(bytes.substr(0, method.size()))) {
      return invalid(405, "only CONNECT is supported here (this is herd's egress proxy)");
    }
    ParseState state = ParseState::kIncomplete;
    return ConnectParse{state, {}, 0, {}};
  }
  std::string_view head = bytes.substr(0, end + 2);  // every line keeps its CRLF
  size_t line_end = head.find("\r\n");
  std::string_view request_line = head.substr(0, line_end);
  if (!request_line.starts_with("CONNECT ")) {
    return invalid(405, "only CONNECT is supported here (this is herd's egress proxy)");
  }
  std::string_view rest = request_line.substr(8);
  size_t space = rest.find(' ');
  if (space == std::string_view::npos) {
    return invalid(400, "malformed request line " + quoted(request_line));
  }
  std::string_view authority = rest.substr(0, space);
  std::string_view version = rest.substr(space + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return invalid(400, "unsupported HTTP version " + quoted(version));
  }
  ConnectParse parse;
  if (!parseAuthority(authority, parse.request, parse.error)) {
    return invalid(400, parse.error);
  }
  size_t pos = line_end + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, next - pos);
    pos = next + 2;
    size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos ||
        !std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(colon),
                     isTokenChar)) {
      return invalid(400, "malformed header line " + quoted(line));
    }
    std::string_view value = trim(line.substr(colon + 1));
    if (std::any_of(value.begin(), value.end(),
                    [](char c) { return c == '\0' || c == '\r' || c == '\n'; })) {
      return invalid(400, "header value with control characters");
    }
    if (lower(line.substr(0, colon)) == kForwardedTenantHeader) {
      parse.request.forwarded_tenant = std::string(value);
    }
  }
  parse.state = ParseState::kComplete;
  parse.request.header_bytes = end + 4;
  return parse;
}

}  // namespace herd::tunnel
