// Small socket helpers for the tunnel's listeners and relays: listening on host:port or a
// Unix path, connecting, non-blocking mode, and the short HTTP answers a CONNECT gets.
// Stateless free functions; thread-safe as the system calls are.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/unique_fd.h"

namespace herd::tunnel {

// "127.0.0.1:2222", "[::1]:2222", ":2222" (all addresses).
Result<UniqueFd> listenTcp(const std::string& address, int backlog = 1024);
// Replaces a stale socket file at `path`; the socket is made 0660.
Result<UniqueFd> listenUnix(const std::string& path, int backlog = 1024);
Result<UniqueFd> connectTcp(const std::string& address, std::chrono::milliseconds timeout);
// The port a listening socket is bound to.
int boundPort(int fd);
void setNonBlocking(int fd);

// Writes all of `data` to a (possibly non-blocking) socket, waiting up to `timeout`.
bool writeAll(int fd, std::string_view data,
              std::chrono::milliseconds timeout = std::chrono::seconds(5));

// "HTTP/1.1 <status> <reason>" with a text/plain body and Connection: close.
std::string httpError(int status, std::string_view body);
inline constexpr std::string_view kConnectEstablished =
    "HTTP/1.1 200 Connection established\r\n\r\n";

}  // namespace herd::tunnel
