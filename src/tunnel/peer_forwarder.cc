#include "tunnel/peer_forwarder.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "common/net.h"
#include "common/socket.h"
#include "tunnel/http_reply.h"
#include "tunnel/tls_relay.h"

namespace herd::tunnel {
namespace {

// A peer in the same cluster answers within milliseconds; one that does not is skipped.
constexpr std::chrono::milliseconds kPeerTimeout{2000};

}  // namespace

struct PeerForwarder::Impl {
  PeerConfig config;
  ossl::SslCtxPtr tls;
  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, int> relays;  // id -> peer socket, to cut at shutdown
  uint64_t next_id = 1;
  bool stopping = false;

  // The peer's answer to our CONNECT: true for 200, with the peer's TLS session ready.
  std::unique_ptr<TlsSession> ask(const std::string& peer, const std::string& tenant,
                                  const ConnectRequest& request, UniqueFd& socket) {
    auto connected = net::connectTcp(peer, kPeerTimeout);
    if (!connected) return nullptr;
    socket = std::move(connected).value();
    auto session = TlsSession::connect(tls.get(), socket.get(), kPeerTimeout);
    if (!session) return nullptr;
    std::string connect = fmt::format("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n{1}: {2}\r\n\r\n",
                                      net::formatHostPort(request.host, request.port),
                                      kForwardedTenantHeader, tenant);
    if (!(*session)->writeAll(connect, kPeerTimeout)) return nullptr;
    // Read exactly the response head, byte by byte, so no stream bytes are taken early.
    std::string head;
    auto deadline = std::chrono::steady_clock::now() + kPeerTimeout;
    while (head.size() < 4096 && !head.ends_with("\r\n\r\n")) {
      char c;
      long n = (*session)->read(&c, 1);
      if (n == 1) {
        head += c;
      } else if (n == 0 || std::chrono::steady_clock::now() > deadline) {
        return nullptr;
      } else {
        pollfd p{socket.get(), POLLIN, 0};
        ::poll(&p, 1, 50);
      }
    }
    if (!head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200")) return nullptr;
    return std::move(session).value();
  }
};

PeerForwarder::PeerForwarder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PeerForwarder::~PeerForwarder() {
  stop();
}

Result<std::unique_ptr<PeerForwarder>> PeerForwarder::create(const PeerConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  HERD_ASSIGN_OR_RETURN(impl->tls, makeTlsContext(config.tls, /*server=*/false));
  return std::unique_ptr<PeerForwarder>(new PeerForwarder(std::move(impl)));
}

bool PeerForwarder::forward(const std::string& tenant, const ConnectRequest& request,
                            const std::string& early, UniqueFd& client) {
  for (const std::string& peer : impl_->config.addresses) {
    UniqueFd socket;
    auto session = impl_->ask(peer, tenant, request, socket);
    if (!session) continue;
    if (!net::writeAll(client.get(), kConnectEstablished) ||
        (!early.empty() && !session->writeAll(early))) {
      return true;  // answered (the client is gone); nothing left to relay
    }
    uint64_t id = 0;
    {
      std::lock_guard lock(impl_->mu);
      if (impl_->stopping) return false;
      id = impl_->next_id++;
      impl_->relays[id] = socket.get();
    }
    Impl* impl = impl_.get();
    std::thread([impl, id, session = std::move(session), socket = std::move(socket),
                 client = std::move(client)]() mutable {
      session->relay(client.get());
      session.reset();
      std::lock_guard lock(impl->mu);
      impl->relays.erase(id);
      impl->cv.notify_all();
    }).detach();
    return true;
  }
  return false;
}

void PeerForwarder::stop() {
  if (!impl_) return;
  std::unique_lock lock(impl_->mu);
  impl_->stopping = true;
  if (!impl_->cv.wait_for(lock, std::chrono::seconds(1), [&] { return impl_->relays.empty(); })) {
    for (auto& [id, fd] : impl_->relays) ::shutdown(fd, SHUT_RDWR);
    impl_->cv.wait(lock, [&] { return impl_->relays.empty(); });
  }
}

}  // namespace herd::tunnel
