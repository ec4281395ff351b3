// Small blocking-style socket helpers: listening on host:port or a Unix path, connecting with a
// deadline, non-blocking mode, the port a listener got, and writing all of a buffer. Addresses
// are parsed by net::parseHostPort. Stateless free functions; thread-safe as the system calls
// are.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/unique_fd.h"

namespace herd::net {

// "127.0.0.1:2222", "[::1]:2222", ":2222" (all addresses); port 0 takes any free port.
Result<UniqueFd> listenTcp(const std::string& address, int backlog = 1024);
// Replaces a stale socket file at `path`; the socket is made 0660.
Result<UniqueFd> listenUnix(const std::string& path, int backlog = 1024);
// "host:port" or "[v6]:port"; the socket is non-blocking, with TCP_NODELAY.
Result<UniqueFd> connectTcp(const std::string& address, std::chrono::milliseconds timeout);
// The port a listening socket is bound to.
int boundPort(int fd);
void setNonBlocking(int fd);

// Writes all of `data` to a (possibly non-blocking) socket, waiting up to `timeout`.
bool writeAll(int fd, std::string_view data,
              std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace herd::net
