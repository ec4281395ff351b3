// RAII owners for libssh handles. Private to src/tunnel: it pulls in libssh's headers, which
// the public headers keep out. Each deleter is the one libssh documents for that handle.
#pragma once

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <memory>

namespace herd::tunnel {

struct SshSessionDeleter {
  void operator()(ssh_session s) const { ssh_free(s); }
};
struct SshBindDeleter {
  void operator()(ssh_bind b) const { ssh_bind_free(b); }
};
struct SshEventDeleter {
  void operator()(ssh_event e) const { ssh_event_free(e); }
};
struct SshKeyDeleter {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};
struct SshStringDeleter {
  void operator()(char* s) const { ssh_string_free_char(s); }
};

using SshSessionPtr = std::unique_ptr<ssh_session_struct, SshSessionDeleter>;
using SshBindPtr = std::unique_ptr<ssh_bind_struct, SshBindDeleter>;
using SshEventPtr = std::unique_ptr<ssh_event_struct, SshEventDeleter>;
using SshKeyPtr = std::unique_ptr<ssh_key_struct, SshKeyDeleter>;
using SshCharPtr = std::unique_ptr<char, SshStringDeleter>;

// libssh's global initialisation, done once per process before any other libssh call.
void initLibssh();

}  // namespace herd::tunnel
