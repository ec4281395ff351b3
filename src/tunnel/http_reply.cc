#include "tunnel/http_reply.h"

#include <fmt/format.h>

namespace herd::tunnel {

std::string httpError(int status, std::string_view body) {
  std::string_view reason = status == 400   ? "Bad Request"
                            : status == 403 ? "Forbidden"
                            : status == 405 ? "Method Not Allowed"
                            : status == 431 ? "Request Header Fields Too Large"
                            : status == 503 ? "Service Unavailable"
                            : status == 504 ? "Gateway Timeout"
                                            : "Bad Gateway";
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}\n",
      status, reason, body.size() + 1, body);
}

}  // namespace herd::tunnel
