// PeerForwarder: how a CONNECT reaches the replica that holds a node's session. Nodes dial
// one address, so each node's session lives on whichever replica the load balancer picked.
// A replica that does not hold the node asks its peers, over mutual TLS, with the same
// CONNECT plus the tenant in a header; the first peer that answers 200 carries the stream.
// Forwarded requests are never forwarded again, so a miss costs one round to each peer and
// can never loop. Thread-safe; owned by the Tunnel.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"
#include "tunnel/config.h"
#include "tunnel/connect_request.h"
#include "tunnel/metrics.h"

namespace herd::tunnel {

class PeerForwarder {
 public:
  static Result<std::unique_ptr<PeerForwarder>> create(const PeerConfig& config);
  ~PeerForwarder();

  // Tries each peer in turn. On the first 200 the client gets "200 Connection established",
  // the stream is relayed on a thread of its own, and this returns true. False leaves
  // `client` untouched for the caller's 502.
  bool forward(const std::string& tenant, const ConnectRequest& request, const std::string& early,
               UniqueFd& client);
  // Waits for relays in flight to end (at most a second, then cuts them).
  void stop();

  struct Impl;

 private:
  explicit PeerForwarder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace herd::tunnel
