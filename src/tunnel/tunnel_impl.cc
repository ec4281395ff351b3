// The one Tunnel implementation: owns its config copy, metrics, registry, SSH server,
// CONNECT listeners and peer forwarder, and stops them in reverse order of dependency.
#include <signal.h>

#include "tunnel/connect_listener.h"
#include "tunnel/peer_forwarder.h"
#include "tunnel/session_registry.h"
#include "tunnel/ssh_server.h"
#include "tunnel/tunnel.h"

namespace herd::tunnel {
namespace {

// How long the current owner of a node name has to answer before a reconnect takes it.
constexpr std::chrono::milliseconds kProbeTimeout{2000};

class TunnelImpl : public Tunnel {
 public:
  explicit TunnelImpl(TunnelConfig config)
      : config_(std::move(config)), registry_(metrics_, kProbeTimeout) {}
  ~TunnelImpl() override { stop(); }

  Status start() {
    // Relays write to sockets whose readers may vanish; that is an error to handle, not a
    // reason for the whole gateway to die.
    ::signal(SIGPIPE, SIG_IGN);
    if (!config_.peers.addresses.empty()) {
      HERD_ASSIGN_OR_RETURN(peers_, PeerForwarder::create(config_.peers));
    }
    HERD_ASSIGN_OR_RETURN(ssh_, SshServer::start(config_, registry_, metrics_));
    for (const auto& listener : config_.connect) {
      HERD_ASSIGN_OR_RETURN(auto started, ConnectListener::start(listener, config_, registry_,
                                                                 metrics_, peers_.get()));
      listeners_.push_back(std::move(started));
    }
    if (!config_.peers.listen.empty()) {
      peer_listener_config_.kind = ConnectListenerConfig::Kind::kPeer;
      peer_listener_config_.address = config_.peers.listen;
      peer_listener_config_.tls = config_.peers.tls;
      HERD_ASSIGN_OR_RETURN(peer_listener_, ConnectListener::start(peer_listener_config_, config_,
                                                                   registry_, metrics_, nullptr));
    }
    return Status::ok();
  }

  int sshPort() const override { return ssh_->port(); }
  const std::string& hostKeyLine() const override { return ssh_->hostKeyLine(); }
  std::vector<std::string> connectAddresses() const override {
    std::vector<std::string> out;
    for (const auto& l : listeners_) out.push_back(l->address());
    return out;
  }
  std::string peerAddress() const override {
    return peer_listener_ ? peer_listener_->address() : std::string();
  }
  size_t liveNodes() const override { return registry_.size(); }
  std::string metricsText() const override { return metrics_.prometheusText(); }

  void stop() override {
    // New CONNECTs first (they would land on sessions about to end), then the nodes.
    for (auto& l : listeners_) l->stop();
    if (peer_listener_) peer_listener_->stop();
    if (peers_) peers_->stop();
    if (ssh_) ssh_->stop();
  }

 private:
  TunnelConfig config_;
  Metrics metrics_;
  SessionRegistry registry_;
  ConnectListenerConfig peer_listener_config_;
  std::unique_ptr<PeerForwarder> peers_;
  std::unique_ptr<SshServer> ssh_;
  std::vector<std::unique_ptr<ConnectListener>> listeners_;
  std::unique_ptr<ConnectListener> peer_listener_;
};

}  // namespace

Result<std::unique_ptr<Tunnel>> startTunnel(TunnelConfig config) {
  auto tunnel = std::make_unique<TunnelImpl>(std::move(config));
  HERD_RETURN_IF_ERROR(tunnel->start());
  return std::unique_ptr<Tunnel>(std::move(tunnel));
}

}  // namespace herd::tunnel
