#include "tunnel/ssh_server.h"

#include <fmt/format.h>
#include <libssh/callbacks.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/files.h"
#include "common/log.h"
#include "common/socket.h"
#include "tunnel/http_reply.h"
#include "tunnel/libssh_handles.h"

namespace herd::tunnel {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

void initLibssh() {
  static std::once_flag once;
  std::call_once(once, [] { ssh_init(); });
}

namespace {

// One read from a client socket.
constexpr size_t kRelayChunk = 64 * 1024;
// What libssh 0.10 reads from its socket per poll (a fixed buffer in its socket layer).
constexpr uint64_t kLibsshRead = 4096;
// The most a stream holds on its way to the client: libssh's full channel window (1,280,000
// bytes) and a packet more. A stream reads its channel only when it can take all that libssh
// holds: every read reopens the window to the full size whatever is still buffered, so a
// partial read would let a slow client's node send another window each time. Reading all at
// once also spares libssh moving the rest of its buffer to the front. So a slow or stalled
// client costs at most this plus one window (~2.7 MB) and never blocks other channels. The
// buffer grows only as far as a stream's bursts need.
constexpr size_t kMaxToClient = 1536 * 1024;
// Channel opens a node may attempt (all refused) before it is disconnected as hostile.
constexpr int kMaxRefusedChannelOpens = 64;
// Failed public-key attempts before the connection is dropped (OpenSSH's MaxAuthTries is 6).
constexpr int kMaxAuthFailures = 6;
// How long a node has to accept a forwarded-tcpip channel before the CONNECT gets a 504.
constexpr milliseconds kChannelOpenTimeout{10000};
// How much longer the channel of such a CONNECT is kept to close it if the node answers late.
constexpr milliseconds kAbandonedOpenGrace{60000};

// A tenant's node keys, parsed once.
struct TenantKeys {
  std::string tenant;
  std::vector<SshKeyPtr> keys;
};

Result<SshKeyPtr> parsePublicKeyLine(const std::string& line) {
  size_t space = line.find(' ');
  if (space == std::string::npos) return Status::invalid("not an OpenSSH public key line");
  std::string type = line.substr(0, space);
  std::string rest = line.substr(space + 1);
  std::string b64 = rest.substr(0, rest.find(' '));
  ssh_key key = nullptr;
  if (ssh_pki_import_pubkey_base64(b64.c_str(), ssh_key_type_from_name(type.c_str()), &key) !=
      SSH_OK) {
    return Status::invalid("cannot read public key \"" + line.substr(0, 40) + "...\"");
  }
  return SshKeyPtr(key);
}

}  // namespace

// One node connection, from key exchange to disconnect, on its own thread.
class SshNodeSession : public NodeSession, public std::enable_shared_from_this<SshNodeSession> {
 public:
  SshNodeSession(SshServer::Impl& server, uint64_t id, int fd);
  ~SshNodeSession() override;

  uint64_t id() const override { return id_; }
  const std::string& tenant() const override { return tenant_; }
  bool submit(StreamRequest&& stream) override;
  bool probe(milliseconds timeout) override;
  void evict() override;

  void run();
  // Asks the session to end; with `force`, also cuts the TCP connection under it.
  void requestStop(bool force);

 private:
  struct Stream;
  bool handshake();
  void loop();
  void finish();
  void wake();
  void sendKeepalive();
  int onAuthPubkey(const char* user, ssh_key key, char signature_state);
  int onMessage(ssh_message message);
  bool onForwardRequest(const std::string& address, int port);
  void acceptNewStreams();
  void startStream(StreamRequest&& request);
  void advanceOpening(Stream& s, Clock::time_point now);
  int onChannelData(Stream& s, const char* data, uint32_t size, bool is_stderr);
  void pumpToClient(Stream& s);
  void pumpToNode(Stream& s);
  bool streamDone(const Stream& s) const;
  void closeStream(Stream& s, int http_status, std::string_view reason);

  static int authPubkeyThunk(ssh_session, const char* user, ssh_key key, char state, void* self) {
    return static_cast<SshNodeSession*>(self)->onAuthPubkey(user, key, state);
  }
  static int messageThunk(ssh_session, ssh_message message, void* self) {
    return static_cast<SshNodeSession*>(self)->onMessage(message);
  }
  static int channelDataThunk(ssh_session, ssh_channel, void*, uint32_t, int, void* stream);
  static void channelEventThunk(ssh_session, ssh_channel, void* stream);

  SshServer::Impl& server_;
  const uint64_t id_;
  SshSessionPtr session_;
  SshEventPtr event_;
  UniqueFd wake_fd_;
  ssh_server_callbacks_struct server_callbacks_{};
  ssh_counter_struct socket_counter_{};  // bytes libssh moved on the node's socket

  std::mutex fd_mu_;  // guards socket_fd_ against stop() cutting a reused descriptor
  int socket_fd_;

  std::string tenant_;
  const TenantKeys* tenant_keys_ = nullptr;
  bool authenticated_ = false;
  int auth_failures_ = 0;
  int refused_opens_ = 0;
  std::map<std::string, std::set<int>> forwards_;  // bound address -> ports
  std::list<Stream> streams_;
  // Channels whose CONNECT gave up while the node had not yet answered the open. Freed at
  // once, libssh would drop a late confirmation and never close the channel, leaving the
  // node's connection to its kubelet open for good; kept, they are closed when it comes.
  struct AbandonedOpen {
    ssh_channel channel;
    std::string host;
    uint16_t port;
    Clock::time_point give_up;
  };
  std::vector<AbandonedOpen> abandoned_;
  void finishAbandonedOpens(Clock::time_point now, bool all);

  std::mutex mu_;  // guards inbox_, ended_, last_rx_ waiters
  std::condition_variable rx_cv_;
  std::deque<StreamRequest> inbox_;
  bool ended_ = false;
  Clock::time_point last_rx_;
  std::atomic<bool> probe_requested_{false};
  std::atomic<bool> stop_requested_{false};
};

struct SshServer::Impl {
  const TunnelConfig& config;
  SessionRegistry& registry;
  Metrics& metrics;
  SshBindPtr bind;
  std::string host_key_line;
  std::vector<TenantKeys> tenant_keys;
  UniqueFd listen_fd;
  UniqueFd stop_fd;  // eventfd: wakes the acceptor
  int port = 0;
  std::thread acceptor;
  std::atomic<uint64_t> next_id{1};

  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, std::shared_ptr<SshNodeSession>> sessions;
  int unauthenticated = 0;
  bool stopping = false;

  Impl(const TunnelConfig& c, SessionRegistry& r, Metrics& m)
      : config(c), registry(r), metrics(m) {}

  const TenantKeys* findTenant(std::string_view name) const {
    for (const auto& t : tenant_keys) {
      if (t.tenant == name) return &t;
    }
    return nullptr;
  }

  void acceptLoop();
  void authenticated() {
    std::lock_guard lock(mu);
    --unauthenticated;
  }
  void sessionEnded(uint64_t id, bool was_authenticated) {
    std::lock_guard lock(mu);
    if (!was_authenticated) --unauthenticated;
    sessions.erase(id);
    cv.notify_all();
  }
};

struct SshNodeSession::Stream {
  SshNodeSession* owner = nullptr;
  StreamRequest request;
  ssh_channel channel = nullptr;
  ssh_channel_callbacks_struct callbacks{};
  bool open = false;
  Clock::time_point open_deadline;
  // Bytes read from the channel, not yet written to the client: [to_client_off, to_client_len).
  std::unique_ptr<char[]> to_client;
  size_t to_client_cap = 0;
  size_t to_client_len = 0;
  size_t to_client_off = 0;
  bool channel_has_data = true;  // set by libssh callbacks: look at the channel again
  bool client_eof = false;       // the client half-closed; EOF sent on the channel
  bool node_eof = false;         // the node half-closed; the client's socket shut for writing
  bool failed = false;
  bool open_pending = false;  // the node has the open request and has not answered it
  short revents = 0;
};

int SshNodeSession::channelDataThunk(ssh_session, ssh_channel, void* data, uint32_t size,
                                     int is_stderr, void* stream) {
  auto* s = static_cast<Stream*>(stream);
  return s->owner->onChannelData(*s, static_cast<const char*>(data), size, is_stderr != 0);
}

int SshNodeSession::onChannelData(Stream& s, const char* data, uint32_t size, bool is_stderr) {
  if (is_stderr) return static_cast<int>(size);  // forwarded-tcpip channels carry no stderr
  // Straight from libssh's buffer to the client when nothing is queued ahead of it. What the
  // client cannot take now stays in libssh's channel buffer, which keeps the channel's window
  // closed until pumpToClient() has delivered it: that is the per-channel flow control.
  if (!s.open || s.failed || s.to_client_off < s.to_client_len) {
    s.channel_has_data = true;
    return 0;
  }
  ssize_t n = ::send(s.request.fd.get(), data, size, MSG_NOSIGNAL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) s.failed = true;
    n = 0;
  }
  if (n > 0) server_.metrics.add(Metric::bytes_from_nodes, static_cast<uint64_t>(n));
  if (static_cast<uint32_t>(n) < size) s.channel_has_data = true;
  return static_cast<int>(n);
}

void SshNodeSession::channelEventThunk(ssh_session, ssh_channel, void* stream) {
  static_cast<Stream*>(stream)->channel_has_data = true;
}

SshNodeSession::SshNodeSession(SshServer::Impl& server, uint64_t id, int fd)
    : server_(server), id_(id), socket_fd_(fd), last_rx_(Clock::now()) {
  wake_fd_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
}

SshNodeSession::~SshNodeSession() = default;

void SshNodeSession::wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

bool SshNodeSession::submit(StreamRequest&& stream) {
  {
    std::lock_guard lock(mu_);
    if (ended_) return false;
    inbox_.push_back(std::move(stream));
  }
  wake();
  return true;
}

bool SshNodeSession::probe(milliseconds timeout) {
  auto asked = Clock::now();
  probe_requested_ = true;
  wake();
  std::unique_lock lock(mu_);
  return rx_cv_.wait_for(lock, timeout, [&] { return ended_ || last_rx_ > asked; }) && !ended_;
}

void SshNodeSession::evict() {
  log::root().info("replacing a stale node session", {{"tenant", tenant_}, {"session", id_}});
  requestStop(false);
}

void SshNodeSession::requestStop(bool force) {
  stop_requested_ = true;
  wake();
  if (force) {
    std::lock_guard lock(fd_mu_);
    if (socket_fd_ >= 0) ::shutdown(socket_fd_, SHUT_RDWR);
  }
}

void SshNodeSession::run() {
  if (handshake()) loop();
  finish();
}

bool SshNodeSession::handshake() {
  session_.reset(ssh_new());
  if (!session_ || !wake_fd_.valid()) return false;
  long timeout = static_cast<long>(server_.config.auth_timeout.count());
  ssh_options_set(session_.get(), SSH_OPTIONS_TIMEOUT, &timeout);
  if (ssh_bind_accept_fd(server_.bind.get(), session_.get(), socket_fd_) != SSH_OK) {
    log::root().warn("ssh accept failed", {{"error", ssh_get_error(server_.bind.get())}});
    return false;
  }
  server_callbacks_.userdata = this;
  server_callbacks_.auth_pubkey_function = &SshNodeSession::authPubkeyThunk;
  ssh_callbacks_init(&server_callbacks_);
  ssh_set_server_callbacks(session_.get(), &server_callbacks_);
  ssh_set_auth_methods(session_.get(), SSH_AUTH_METHOD_PUBLICKEY);
  ssh_set_message_callback(session_.get(), &SshNodeSession::messageThunk, this);
  if (ssh_handle_key_exchange(session_.get()) != SSH_OK) {
    server_.metrics.add(Metric::ssh_handshake_failures);
    log::root().debug("ssh key exchange failed", {{"error", ssh_get_error(session_.get())}});
    return false;
  }
  ssh_set_blocking(session_.get(), 0);
  ssh_set_counters(session_.get(), &socket_counter_, nullptr);
  event_.reset(ssh_event_new());
  return event_ && ssh_event_add_session(event_.get(), session_.get()) == SSH_OK;
}

int SshNodeSession::onAuthPubkey(const char* user, ssh_key key, char signature_state) {
  const TenantKeys* tenant = server_.findTenant(user);
  bool known = false;
  if (tenant != nullptr) {
    for (const auto& k : tenant->keys) {
      if (ssh_key_cmp(k.get(), key, SSH_KEY_CMP_PUBLIC) == 0) known = true;
    }
  }
  if (!known) {
    server_.metrics.add(Metric::ssh_auth_failures);
    log::root().info("ssh key refused", {{"user", user}, {"session", id_}});
    if (++auth_failures_ >= kMaxAuthFailures) requestStop(false);
    return SSH_AUTH_DENIED;
  }
  // A probe ("would this key do?") gets a yes; only a verified signature logs in.
  if (signature_state == SSH_PUBLICKEY_STATE_NONE) return SSH_AUTH_SUCCESS;
  if (signature_state != SSH_PUBLICKEY_STATE_VALID) {
    server_.metrics.add(Metric::ssh_auth_failures);
    return SSH_AUTH_DENIED;
  }
  if (!authenticated_) {
    authenticated_ = true;
    tenant_ = user;
    tenant_keys_ = tenant;
    server_.authenticated();
    server_.metrics.add(Metric::ssh_sessions_authenticated);
    server_.metrics.add(Metric::ssh_sessions_live);
  }
  return SSH_AUTH_SUCCESS;
}

int SshNodeSession::onMessage(ssh_message message) {
  int type = ssh_message_type(message);
  int subtype = ssh_message_subtype(message);
  if (type == SSH_REQUEST_GLOBAL && subtype == SSH_GLOBAL_REQUEST_TCPIP_FORWARD) {
    const char* address = ssh_message_global_request_address(message);
    int port = ssh_message_global_request_port(message);
    if (authenticated_ && address != nullptr && onForwardRequest(address, port)) {
      ssh_message_global_request_reply_success(message, static_cast<uint16_t>(port));
      return 0;
    }
    return 1;  // the default reply: failure (ExitOnForwardFailure makes ssh exit)
  }
  if (type == SSH_REQUEST_GLOBAL && subtype == SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD) {
    const char* address = ssh_message_global_request_address(message);
    int port = ssh_message_global_request_port(message);
    auto it = address == nullptr ? forwards_.end() : forwards_.find(address);
    if (it != forwards_.end() && it->second.erase(port) == 1) {
      if (it->second.empty()) {
        server_.registry.release(tenant_, it->first, this);
        forwards_.erase(it);
      }
      ssh_message_global_request_reply_success(message, 0);
      return 0;
    }
    return 1;
  }
  if (type == SSH_REQUEST_CHANNEL_OPEN) {
    // Nodes only ever receive channels. A node opening its own (a shell, -L forwards) is
    // refused; one that keeps trying is not a node.
    server_.metrics.add(Metric::ssh_channel_opens_refused);
    if (++refused_opens_ > kMaxRefusedChannelOpens) requestStop(false);
    return 1;
  }
  return 1;
}

bool SshNodeSession::onForwardRequest(const std::string& address, int port) {
  auto refuse = [&](std::string_view why) {
    server_.metrics.add(Metric::forwards_refused);
    log::root().warn("remote forward refused",
                     {{"tenant", tenant_}, {"address", address}, {"port", port}, {"why", why}});
    return false;
  };
  if (port < 1 || port > 65535) return refuse("a node must forward a fixed port");
  if (!isValidNodeAddress(address)) return refuse("not a DNS name or IP address");
  const TenantConfig* tenant = server_.config.findTenant(tenant_);
  if (tenant == nullptr) return refuse("unknown tenant");
  if (!tenant->nodes.empty() &&
      std::find(tenant->nodes.begin(), tenant->nodes.end(), address) == tenant->nodes.end()) {
    return refuse("not a node of this tenant");
  }
  if (forwards_.count(address) == 0) {
    auto claim = server_.registry.claim(tenant_, address, shared_from_this());
    if (claim == SessionRegistry::Claim::kHeldByLiveSession) {
      return refuse("another live session holds this node name");
    }
  }
  forwards_[address].insert(port);
  server_.metrics.add(Metric::forwards_bound);
  log::root().info("node bound", {{"tenant", tenant_}, {"address", address}, {"port", port}});
  return true;
}

void SshNodeSession::sendKeepalive() {
  // libssh tracks one outstanding global request: the first call collects an answer that
  // arrived since the last probe, the second sends a fresh keepalive@openssh.com if none is
  // outstanding. The node's answer (always "failure") is what proves it is alive.
  ssh_send_keepalive(session_.get());
  ssh_send_keepalive(session_.get());
}

void SshNodeSession::loop() {
  const auto start = Clock::now();
  const auto auth_deadline = start + server_.config.auth_timeout;
  const auto keepalive = std::chrono::duration_cast<milliseconds>(server_.config.keepalive);
  auto last_keepalive = start;
  std::vector<pollfd> fds;
  std::vector<Stream*> polled;
  int ssh_fd = ssh_get_fd(session_.get());
  while (!stop_requested_) {
    bool write_pending = (ssh_get_poll_flags(session_.get()) & SSH_WRITE_PENDING) != 0;
    fds.clear();
    polled.clear();
    fds.push_back({ssh_fd, static_cast<short>(POLLIN | (write_pending ? POLLOUT : 0)), 0});
    fds.push_back({wake_fd_.get(), POLLIN, 0});
    bool busy = false;
    for (Stream& s : streams_) {
      s.revents = 0;
      if (!s.open) continue;
      short events = 0;
      bool client_pending = s.to_client_len > s.to_client_off;
      if (client_pending) events |= POLLOUT;
      if (!client_pending && s.channel_has_data) busy = true;
      // Reading a client is gated by its own channel's window (and by the node's TCP
      // connection having drained), never by another stream's state.
      if (!s.client_eof && !write_pending && ssh_channel_window_size(s.channel) > 0) {
        events |= POLLIN;
      }
      if (events != 0) {
        fds.push_back({s.request.fd.get(), events, 0});
        polled.push_back(&s);
      }
    }
    bool opening = !abandoned_.empty() ||
                   std::any_of(streams_.begin(), streams_.end(), [](auto& s) { return !s.open; });
    int timeout = busy ? 0 : opening ? 20 : 500;
    int ready = ::poll(fds.data(), fds.size(), timeout);
    if (ready < 0 && errno != EINTR) break;
    auto now = Clock::now();
    if (fds[0].revents != 0) {
      std::lock_guard lock(mu_);
      last_rx_ = now;
      rx_cv_.notify_all();
    }
    if (fds[1].revents & POLLIN) {
      uint64_t count = 0;
      [[maybe_unused]] ssize_t n = ::read(wake_fd_.get(), &count, sizeof count);
    }
    for (size_t i = 0; i < polled.size(); ++i) polled[i]->revents = fds[i + 2].revents;
    // libssh reads the node's socket at most kLibsshRead bytes per poll; while a read comes
    // back full the socket may hold more, so keep feeding it (bounded, so that the streams
    // are served between batches). A short read ends the batch without another poll.
    // Only when the node's socket is ready: libssh's own poll would find nothing else to do
    // (it keeps no complete packet unprocessed), and a client's bytes alone need no poll of
    // the node's socket on their way in.
    int rc = SSH_OK;
    if (fds[0].revents != 0) {
      uint64_t read_before = socket_counter_.in_bytes;
      rc = ssh_event_dopoll(event_.get(), 0);
      for (int more = 0;
           rc == SSH_OK && socket_counter_.in_bytes - read_before == kLibsshRead && more < 64;
           ++more) {
        read_before = socket_counter_.in_bytes;
        rc = ssh_event_dopoll(event_.get(), 0);
      }
    }
    if (rc == SSH_ERROR) break;
    if ((ssh_get_status(session_.get()) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0) break;
    if (now > auth_deadline && (!authenticated_ || forwards_.empty())) {
      // A node authenticates and binds its names at once; anything slower is holding a
      // connection slot for nothing.
      server_.metrics.add(Metric::ssh_auth_timeouts);
      break;
    }
    if (probe_requested_.exchange(false) || now - last_keepalive >= keepalive) {
      if (authenticated_) sendKeepalive();
      last_keepalive = now;
    }
    if (authenticated_ && now - last_rx_ > 3 * keepalive) {
      server_.metrics.add(Metric::ssh_keepalive_timeouts);
      log::root().info("node stopped answering", {{"tenant", tenant_}, {"session", id_}});
      break;
    }
    acceptNewStreams();
    finishAbandonedOpens(now, false);
    for (auto it = streams_.begin(); it != streams_.end();) {
      Stream& s = *it;
      if (!s.open) advanceOpening(s, now);
      if (s.open && !s.failed) {
        pumpToClient(s);
        if (s.revents & (POLLIN | POLLHUP | POLLERR)) pumpToNode(s);
      }
      if (streamDone(s)) {
        closeStream(s, 0, {});
        it = streams_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

void SshNodeSession::acceptNewStreams() {
  std::deque<StreamRequest> incoming;
  {
    std::lock_guard lock(mu_);
    incoming.swap(inbox_);
  }
  for (auto& request : incoming) startStream(std::move(request));
}

void SshNodeSession::startStream(StreamRequest&& request) {
  auto it = forwards_.find(request.host);
  if (it == forwards_.end() || it->second.count(request.port) == 0) {
    server_.metrics.add(Metric::connect_unknown_node);
    net::writeAll(request.fd.get(),
                  httpError(502, fmt::format("node {} of tenant {} is connected but "
                                             "does not forward port {}",
                                             request.host, tenant_, request.port)));
    return;
  }
  if (streams_.size() >= static_cast<size_t>(server_.config.max_streams_per_session)) {
    net::writeAll(request.fd.get(),
                  httpError(503, "too many open streams to node " + request.host));
    return;
  }
  Stream& s = streams_.emplace_back();
  s.owner = this;
  s.request = std::move(request);
  s.open_deadline = Clock::now() + kChannelOpenTimeout;
  s.channel = ssh_channel_new(session_.get());
  s.callbacks.userdata = &s;
  s.callbacks.channel_data_function = &SshNodeSession::channelDataThunk;
  s.callbacks.channel_eof_function = &SshNodeSession::channelEventThunk;
  s.callbacks.channel_close_function = &SshNodeSession::channelEventThunk;
  ssh_callbacks_init(&s.callbacks);
  if (s.channel == nullptr || ssh_set_channel_callbacks(s.channel, &s.callbacks) != SSH_OK) {
    s.failed = true;
  }
  server_.metrics.add(Metric::streams_live);
}

void SshNodeSession::advanceOpening(Stream& s, Clock::time_point now) {
  if (s.failed) return;
  // The originator address is the gateway's side; kubelets only see 127.0.0.1 anyway.
  int rc = ssh_channel_open_reverse_forward(s.channel, s.request.host.c_str(), s.request.port,
                                            "127.0.0.1", 0);
  if (rc == SSH_AGAIN) {
    s.open_pending = true;
    if (now > s.open_deadline) {
      server_.metrics.add(Metric::streams_failed);
      net::writeAll(
          s.request.fd.get(),
          httpError(504, "node " + s.request.host + " did not answer the channel open in time"));
      s.failed = true;
    }
    return;
  }
  if (rc != SSH_OK) {
    server_.metrics.add(Metric::streams_failed);
    net::writeAll(
        s.request.fd.get(),
        httpError(502, fmt::format("node {} of tenant {} refused the connection to port {} "
                                   "(is the kubelet listening?)",
                                   s.request.host, tenant_, s.request.port)));
    s.failed = true;
    return;
  }
  server_.metrics.add(Metric::streams_opened);
  s.open = true;
  if (!net::writeAll(s.request.fd.get(), kConnectEstablished)) {
    s.failed = true;
    return;
  }
  if (!s.request.early.empty()) {
    // Sent at once: the window of a fresh channel exceeds what fits in a CONNECT read.
    if (ssh_channel_write(s.channel, s.request.early.data(),
                          static_cast<uint32_t>(s.request.early.size())) < 0) {
      s.failed = true;
    }
    server_.metrics.add(Metric::bytes_to_nodes, s.request.early.size());
    s.request.early.clear();
  }
}

void SshNodeSession::pumpToClient(Stream& s) {
  if (s.node_eof) return;
  // Bounded so one busy stream cannot starve the others in this round.
  for (int round = 0; round < 8; ++round) {
    bool client_full = false;
    if (s.to_client_off < s.to_client_len) {
      ssize_t n = ::send(s.request.fd.get(), s.to_client.get() + s.to_client_off,
                         s.to_client_len - s.to_client_off, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        s.failed = true;
        return;
      }
      if (n > 0) s.to_client_off += static_cast<size_t>(n);
      client_full = s.to_client_off < s.to_client_len;
    }
    if (!s.channel_has_data) return;
    // Take from the channel while the client is slow only when all of it fits (see
    // kMaxToClient); with nothing pending, take what fits so that a stream always moves.
    size_t pending = s.to_client_len - s.to_client_off;
    if (s.to_client_off > 0) {
      std::memmove(s.to_client.get(), s.to_client.get() + s.to_client_off, pending);
      s.to_client_off = 0;
      s.to_client_len = pending;
    }
    int available = ssh_channel_poll(s.channel, 0);
    if (available == SSH_ERROR) {
      s.failed = true;
      return;
    }
    if (available == SSH_EOF || (available == 0 && ssh_channel_is_eof(s.channel))) {
      // The node half-closed and libssh holds nothing more: pass the EOF on once the client
      // has all that came before it.
      if (pending > 0) return;
      s.channel_has_data = false;
      ::shutdown(s.request.fd.get(), SHUT_WR);
      s.node_eof = true;
      return;
    }
    size_t want = pending + static_cast<size_t>(std::max(available, 1));
    if (want > s.to_client_cap && s.to_client_cap < kMaxToClient) {
      size_t cap = std::min(std::max(want, 2 * s.to_client_cap), kMaxToClient);
      auto grown = std::make_unique_for_overwrite<char[]>(cap);
      if (pending > 0) std::memcpy(grown.get(), s.to_client.get(), pending);
      s.to_client = std::move(grown);
      s.to_client_cap = cap;
    }
    size_t space = s.to_client_cap - pending;
    if (space == 0 || (pending > 0 && space < static_cast<size_t>(available))) return;
    int n = ssh_channel_read_nonblocking(s.channel, s.to_client.get() + pending,
                                         static_cast<uint32_t>(space), 0);
    if (n == SSH_EOF) n = 0;  // handled on the next pass, once the buffer is delivered
    if (n < 0) {
      s.failed = true;
      return;
    }
    if (n == 0) {
      if (pending == 0) s.channel_has_data = false;
      return;
    }
    s.to_client_len = pending + static_cast<size_t>(n);
    server_.metrics.add(Metric::bytes_from_nodes, static_cast<uint64_t>(n));
    if (client_full) return;
  }
}

void SshNodeSession::pumpToNode(Stream& s) {
  uint32_t window = ssh_channel_window_size(s.channel);
  if (s.client_eof || window == 0) return;
  char buffer[kRelayChunk];
  size_t want = std::min<size_t>(window, sizeof buffer);
  ssize_t n = ::recv(s.request.fd.get(), buffer, want, 0);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) s.failed = true;
    return;
  }
  if (n == 0) {
    s.client_eof = true;
    ssh_channel_send_eof(s.channel);
    return;
  }
  if (ssh_channel_write(s.channel, buffer, static_cast<uint32_t>(n)) < 0) {
    s.failed = true;
    return;
  }
  server_.metrics.add(Metric::bytes_to_nodes, static_cast<uint64_t>(n));
}

bool SshNodeSession::streamDone(const Stream& s) const {
  if (s.failed) return true;
  if (!s.open) return false;
  if (s.to_client_off < s.to_client_len) return false;
  if (s.client_eof && s.node_eof) return true;
  // The node closed the channel outright: whatever it sent has been delivered.
  return ssh_channel_is_closed(s.channel) && !s.channel_has_data;
}

void SshNodeSession::closeStream(Stream& s, int http_status, std::string_view reason) {
  if (http_status != 0) net::writeAll(s.request.fd.get(), httpError(http_status, reason));
  if (s.channel != nullptr) {
    // Detach first: libssh keeps a freed channel until the node confirms the close, and a
    // late packet must not call back into a Stream that is gone.
    ssh_remove_channel_callbacks(s.channel, &s.callbacks);
    if (!s.open && s.open_pending) {
      abandoned_.push_back(
          {s.channel, s.request.host, s.request.port, Clock::now() + kAbandonedOpenGrace});
    } else {
      if (s.open && !ssh_channel_is_closed(s.channel)) ssh_channel_close(s.channel);
      ssh_channel_free(s.channel);
    }
    s.channel = nullptr;
  }
  s.request.fd.reset();
  server_.metrics.sub(Metric::streams_live);
}

void SshNodeSession::finishAbandonedOpens(Clock::time_point now, bool all) {
  for (size_t i = abandoned_.size(); i-- > 0;) {
    AbandonedOpen& a = abandoned_[i];
    int rc =
        all ? SSH_ERROR
            : ssh_channel_open_reverse_forward(a.channel, a.host.c_str(), a.port, "127.0.0.1", 0);
    if (rc == SSH_AGAIN && now < a.give_up) continue;
    if (rc == SSH_OK) ssh_channel_close(a.channel);  // the node answered late: hang up
    ssh_channel_free(a.channel);
    abandoned_[i] = std::move(abandoned_.back());
    abandoned_.pop_back();
  }
}

void SshNodeSession::finish() {
  {
    std::lock_guard lock(mu_);
    ended_ = true;
    rx_cv_.notify_all();
  }
  std::deque<StreamRequest> leftover;
  {
    std::lock_guard lock(mu_);
    leftover.swap(inbox_);
  }
  for (auto& request : leftover) {
    net::writeAll(request.fd.get(), httpError(502, "the node's tunnel closed; retry"));
  }
  for (Stream& s : streams_) closeStream(s, s.open ? 0 : 502, "the node's tunnel closed; retry");
  streams_.clear();
  finishAbandonedOpens(Clock::now(), true);
  for (const auto& [address, ports] : forwards_) {
    server_.registry.release(tenant_, address, this);
  }
  forwards_.clear();
  if (authenticated_) server_.metrics.sub(Metric::ssh_sessions_live);
  {
    // ssh_disconnect() closes the socket (libssh owns it since ssh_bind_accept_fd), so the
    // descriptor number is forgotten under the same lock: requestStop(true) must never
    // shutdown() a number that another connection has been given since.
    std::lock_guard lock(fd_mu_);
    if (session_) {
      ssh_disconnect(session_.get());
      if (event_) ssh_event_remove_session(event_.get(), session_.get());
    }
    event_.reset();
    session_.reset();
    socket_fd_ = -1;
  }
  server_.sessionEnded(id_, authenticated_);
}

void SshServer::Impl::acceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd.get(), POLLIN, 0}, {stop_fd.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if (fds[1].revents != 0) break;
    if ((fds[0].revents & POLLIN) == 0) continue;
    int fd = ::accept4(listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      // EMFILE and friends: back off briefly rather than spin on a full descriptor table.
      if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
        std::this_thread::sleep_for(milliseconds(50));
      }
      continue;
    }
    metrics.add(Metric::ssh_connections_accepted);
    // Channel opens and small requests are latency-bound; Nagle would hold them back for
    // the node's delayed ACK (40 ms a round trip).
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::shared_ptr<SshNodeSession> session;
    {
      std::lock_guard lock(mu);
      if (stopping || static_cast<int>(sessions.size()) >= config.max_sessions ||
          unauthenticated >= config.max_unauthenticated) {
        metrics.add(Metric::ssh_connections_over_limit);
        ::close(fd);
        continue;
      }
      uint64_t id = next_id++;
      session = std::make_shared<SshNodeSession>(*this, id, fd);
      sessions[id] = session;
      ++unauthenticated;
    }
    // Detached: a session ends by itself and unregisters; stop() waits for that.
    std::thread([session] { session->run(); }).detach();
  }
}

SshServer::SshServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SshServer::~SshServer() {
  stop();
}

Result<std::unique_ptr<SshServer>> SshServer::start(const TunnelConfig& config,
                                                    SessionRegistry& registry, Metrics& metrics) {
  initLibssh();
  auto impl = std::make_unique<Impl>(config, registry, metrics);
  HERD_ASSIGN_OR_RETURN(std::string key_text, files::read(config.host_key_file));
  ssh_key host_key = nullptr;
  if (ssh_pki_import_privkey_base64(key_text.c_str(), nullptr, nullptr, nullptr, &host_key) !=
      SSH_OK) {
    return Status::invalid(config.host_key_file + ": not an unencrypted OpenSSH private key");
  }
  char* b64 = nullptr;
  ssh_pki_export_pubkey_base64(host_key, &b64);
  SshCharPtr b64_owner(b64);
  impl->host_key_line =
      fmt::format("{} {}", ssh_key_type_to_char(ssh_key_type(host_key)), b64 ? b64 : "");
  impl->bind.reset(ssh_bind_new());
  // The bind takes ownership of the imported key.
  if (!impl->bind ||
      ssh_bind_options_set(impl->bind.get(), SSH_BIND_OPTIONS_IMPORT_KEY, host_key) != SSH_OK) {
    ssh_key_free(host_key);
    return Status::internal("libssh refused the host key");
  }
  for (const auto& tenant : config.tenants) {
    TenantKeys keys{tenant.name, {}};
    for (const auto& line : tenant.node_keys) {
      auto key = parsePublicKeyLine(line);
      if (!key) return key.status().withContext("tenant " + tenant.name);
      keys.keys.push_back(std::move(key).value());
    }
    impl->tenant_keys.push_back(std::move(keys));
  }
  HERD_ASSIGN_OR_RETURN(impl->listen_fd, net::listenTcp(config.ssh_listen));
  impl->port = net::boundPort(impl->listen_fd.get());
  impl->stop_fd = UniqueFd(::eventfd(0, EFD_CLOEXEC));
  Impl* raw = impl.get();
  impl->acceptor = std::thread([raw] { raw->acceptLoop(); });
  log::root().info("ssh tunnel server listening",
                   {{"address", config.ssh_listen}, {"port", impl->port}});
  return std::unique_ptr<SshServer>(new SshServer(std::move(impl)));
}

int SshServer::port() const {
  return impl_->port;
}

const std::string& SshServer::hostKeyLine() const {
  return impl_->host_key_line;
}

void SshServer::stop() {
  if (!impl_ || !impl_->acceptor.joinable()) return;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(impl_->stop_fd.get(), &one, sizeof one);
  impl_->acceptor.join();
  impl_->listen_fd.reset();
  std::unique_lock lock(impl_->mu);
  impl_->stopping = true;
  // Gracefully first (each session disconnects), then cut what is stuck in a handshake.
  for (auto& [id, session] : impl_->sessions) session->requestStop(false);
  if (!impl_->cv.wait_for(lock, std::chrono::seconds(1), [&] { return impl_->sessions.empty(); })) {
    for (auto& [id, session] : impl_->sessions) session->requestStop(true);
    impl_->cv.wait(lock, [&] { return impl_->sessions.empty(); });
  }
}

}  // namespace herd::tunnel
