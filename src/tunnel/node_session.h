// NodeSession: what the rest of herd sees of one node's live SSH session: a place to send
// streams (each becomes a forwarded-tcpip channel to the node) and a liveness probe. The SSH
// server implements it; tests and the peer forwarder swap in their own. Implementations are
// thread-safe: streams and probes arrive from CONNECT threads, the session runs on its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/unique_fd.h"

namespace herd::tunnel {

// A client connection that asked, with CONNECT, for host:port on a node. The session answers
// it ("200 Connection established" or a 502/504 with a reason) and then relays bytes.
struct StreamRequest {
  UniqueFd fd;       // non-blocking stream socket, owned
  std::string host;  // the node address the kube-apiserver named
  uint16_t port = 0;
  std::string early;  // bytes the client sent after its CONNECT headers
};

class NodeSession {
 public:
  virtual ~NodeSession() = default;
  virtual uint64_t id() const = 0;
  virtual const std::string& tenant() const = 0;
  // Hands the stream to the session. False when the session has ended (the caller answers).
  virtual bool submit(StreamRequest&& stream) = 0;
  // Asks the node to answer within `timeout`; true when it did (the session is live).
  virtual bool probe(std::chrono::milliseconds timeout) = 0;
  // Ends the session (a reconnect from the same node took its names).
  virtual void evict() = 0;
};

}  // namespace herd::tunnel
