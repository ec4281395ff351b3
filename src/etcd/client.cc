#include "etcd/client.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/base64.h"
#include "common/unique_fd.h"
#include "etcd/gateway.h"
#include "kube/transport.h"

namespace herd::etcd {
namespace {

using json = nlohmann::json;

// int64 fields come as JSON strings ("42"); accept numbers too. Absent means 0.
template <typename Int>
Int intField(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end()) return 0;
  if (it->is_number_integer()) return it->get<Int>();
  if (!it->is_string()) return 0;
  const std::string& text = it->get_ref<const std::string&>();
  Int value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

bool boolField(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

std::string stringField(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string bytesField(const json& object, const char* name) {
  auto decoded = base64Decode(stringField(object, name));
  return decoded ? std::move(*decoded) : std::string();
}

KeyValue parseKeyValue(const json& j) {
  KeyValue kv;
  kv.key = bytesField(j, "key");
  kv.value = bytesField(j, "value");
  kv.create_revision = intField<int64_t>(j, "create_revision");
  kv.mod_revision = intField<int64_t>(j, "mod_revision");
  kv.version = intField<int64_t>(j, "version");
  kv.lease = intField<int64_t>(j, "lease");
  return kv;
}

std::vector<KeyValue> parseKeyValues(const json& j, const char* name) {
  std::vector<KeyValue> out;
  auto it = j.find(name);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& kv : *it) out.push_back(parseKeyValue(kv));
  return out;
}

int64_t headerRevision(const json& j) {
  auto it = j.find("header");
  return it != j.end() && it->is_object() ? intField<int64_t>(*it, "revision") : 0;
}

json encode(const RangeRequest& r) {
  json j = {{"key", base64Encode(r.key)}};
  if (!r.range_end.empty()) j["range_end"] = base64Encode(r.range_end);
  if (r.limit) j["limit"] = std::to_string(r.limit);
  if (r.revision) j["revision"] = std::to_string(r.revision);
  if (r.keys_only) j["keys_only"] = true;
  if (r.count_only) j["count_only"] = true;
  if (r.serializable) j["serializable"] = true;
  return j;
}

json encode(const PutRequest& r) {
  json j = {{"key", base64Encode(r.key)}, {"value", base64Encode(r.value)}};
  if (r.lease) j["lease"] = std::to_string(r.lease);
  if (r.prev_kv) j["prev_kv"] = true;
  return j;
}

json encode(const DeleteRequest& r) {
  json j = {{"key", base64Encode(r.key)}};
  if (!r.range_end.empty()) j["range_end"] = base64Encode(r.range_end);
  if (r.prev_kv) j["prev_kv"] = true;
  return j;
}

json encode(const Compare& c) {
  static constexpr const char* kOps[] = {"EQUAL", "NOT_EQUAL", "GREATER", "LESS"};
  json j = {{"key", base64Encode(c.key)}, {"result", kOps[static_cast<int>(c.op)]}};
  switch (c.target) {
    case Compare::Target::kValue:
      j["target"] = "VALUE";
      j["value"] = base64Encode(c.value);
      break;
    case Compare::Target::kVersion:
      j["target"] = "VERSION";
      j["version"] = std::to_string(c.number);
      break;
    case Compare::Target::kCreateRevision:
      j["target"] = "CREATE";
      j["create_revision"] = std::to_string(c.number);
      break;
    case Compare::Target::kModRevision:
      j["target"] = "MOD";
      j["mod_revision"] = std::to_string(c.number);
      break;
  }
  return j;
}

json encode(const TxnOp& op) {
  if (auto* r = std::get_if<RangeRequest>(&op)) return {{"request_range", encode(*r)}};
  if (auto* p = std::get_if<PutRequest>(&op)) return {{"request_put", encode(*p)}};
  return {{"request_delete_range", encode(std::get<DeleteRequest>(op))}};
}

RangeResponse parseRange(const json& j) {
  RangeResponse out;
  out.revision = headerRevision(j);
  out.kvs = parseKeyValues(j, "kvs");
  out.more = boolField(j, "more");
  out.count = intField<int64_t>(j, "count");
  return out;
}

PutResponse parsePut(const json& j) {
  PutResponse out;
  out.revision = headerRevision(j);
  auto it = j.find("prev_kv");
  if (it != j.end() && it->is_object()) out.prev_kv = parseKeyValue(*it);
  return out;
}

DeleteResponse parseDelete(const json& j) {
  DeleteResponse out;
  out.revision = headerRevision(j);
  out.deleted = intField<int64_t>(j, "deleted");
  out.prev_kvs = parseKeyValues(j, "prev_kvs");
  return out;
}

// gRPC status codes the gateway reports in {"error": ..., "code": N}.
Code codeFromGrpc(int grpc) {
  switch (grpc) {
    case 3:
      return Code::kInvalid;
    case 4:
      return Code::kDeadlineExceeded;
    case 5:
      return Code::kNotFound;
    case 6:
      return Code::kAlreadyExists;
    case 7:
      return Code::kPermissionDenied;
    case 8:
      return Code::kResourceExhausted;
    case 9:
      return Code::kFailedPrecondition;
    case 10:
      return Code::kConflict;
    case 11:
      return Code::kGone;  // OUT_OF_RANGE: mvcc's compacted / future revision
    case 14:
      return Code::kUnavailable;
    case 16:
      return Code::kUnauthenticated;
    default:
      return Code::kInternal;
  }
}

}  // namespace

// Decodes a gateway answer: the JSON object on success, the etcd error otherwise.
Result<json> decodeGatewayResponse(int http_status, const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    std::string excerpt = body.substr(0, 120);
    return Status(http_status == 200 ? Code::kInternal : Code::kUnavailable,
                  "HTTP " + std::to_string(http_status) + " with a body that is not a JSON object" +
                      (excerpt.empty() ? " (empty)" : ": " + excerpt));
  }
  auto error = j.find("error");
  if (http_status != 200 || error != j.end()) {
    std::string message = stringField(j, "message");
    if (message.empty() && error != j.end()) {
      message = error->is_string()   ? error->get<std::string>()
                : error->is_object() ? stringField(*error, "message")
                                     : error->dump();
    }
    int grpc = intField<int>(j, "code");
    // Streams report errors as {"error": {"grpc_code": N, "http_code": H, "message": ...}}.
    if (error != j.end() && error->is_object() && !grpc) grpc = intField<int>(*error, "grpc_code");
    return Status(codeFromGrpc(grpc),
                  message.empty() ? "HTTP " + std::to_string(http_status) : message);
  }
  return j;
}

std::string prefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

struct Client::Impl {
  ClientConfig config;
  std::vector<std::unique_ptr<kube::Transport>> transports;
  std::atomic<size_t> preferred{0};

  Result<size_t> indexOf(const std::string& endpoint) const;

  // One POST on member `index`; the error names the member.
  Result<json> postTo(size_t index, const std::string& path, const json& body) {
    return postTo(index, path, body, config.timeout);
  }
  Result<json> postTo(size_t index, const std::string& path, const json& body,
                      std::chrono::milliseconds timeout) {
    kube::HttpRequest request;
    request.method = "POST";
    request.target = path;
    request.headers.emplace_back("Content-Type", "application/json");
    request.body = body.dump();
    auto response = transports[index]->roundTrip(request, timeout);
    if (!response) return response.status().withContext(config.endpoints[index]);
    auto decoded = decodeGatewayResponse(response->status, response->body);
    if (!decoded) return decoded.status().withContext(config.endpoints[index] + " " + path);
    return decoded;
  }

  // `idempotent` calls move on to the next member on Unavailable; others are sent once.
  Result<json> post(const std::string& path, const json& body, bool idempotent) {
    const size_t n = transports.size();
    size_t start = preferred.load();
    Status last;
    for (size_t i = 0; i < n; ++i) {
      size_t index = (start + i) % n;
      auto result = postTo(index, path, body);
      if (result || result.status().code() != Code::kUnavailable) {
        preferred.store(index);
        return result;
      }
      last = result.status();
      preferred.store((index + 1) % n);
      if (!idempotent) break;
    }
    return last;
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::create(const ClientConfig& config) {
  if (config.endpoints.empty()) return Status::invalid("etcd client: no endpoints");
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  for (const auto& endpoint : config.endpoints) {
    kube::RestConfig rest;
    rest.server = endpoint;
    rest.ca_pem = config.ca_pem;
    rest.client_cert_pem = config.client_cert_pem;
    rest.client_key_pem = config.client_key_pem;
    rest.timeout = config.timeout;
    rest.user_agent = "herd-etcd";
    auto transport = kube::makeTransport(rest);
    if (!transport) return transport.status().withContext("etcd endpoint " + endpoint);
    impl->transports.push_back(std::move(*transport));
  }
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

const std::vector<std::string>& Client::endpoints() const {
  return impl_->config.endpoints;
}

Result<RangeResponse> Client::range(const RangeRequest& request) {
  auto j = impl_->post("/v3/kv/range", encode(request), /*idempotent=*/true);
  if (!j) return j.status();
  return parseRange(*j);
}

Result<PutResponse> Client::put(const PutRequest& request) {
  auto j = impl_->post("/v3/kv/put", encode(request), false);
  if (!j) return j.status();
  return parsePut(*j);
}

Result<DeleteResponse> Client::deleteRange(const DeleteRequest& request) {
  auto j = impl_->post("/v3/kv/deleterange", encode(request), false);
  if (!j) return j.status();
  return parseDelete(*j);
}

Result<TxnResponse> Client::txn(const TxnRequest& request) {
  json body = {{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const auto& c : request.compare) body["compare"].push_back(encode(c));
  for (const auto& op : request.success) body["success"].push_back(encode(op));
  for (const auto& op : request.failure) body["failure"].push_back(encode(op));
  auto j = impl_->post("/v3/kv/txn", body, false);
  if (!j) return j.status();
  TxnResponse out;
  out.revision = headerRevision(*j);
  out.succeeded = boolField(*j, "succeeded");
  auto responses = j->find("responses");
  if (responses != j->end() && responses->is_array()) {
    for (const auto& r : *responses) {
      if (auto it = r.find("response_range"); it != r.end()) {
        out.responses.emplace_back(parseRange(*it));
      } else if (auto put = r.find("response_put"); put != r.end()) {
        out.responses.emplace_back(parsePut(*put));
      } else if (auto del = r.find("response_delete_range"); del != r.end()) {
        out.responses.emplace_back(parseDelete(*del));
      } else {
        return Status::internal("etcd txn: a response of unknown kind: " + r.dump());
      }
    }
  }
  return out;
}

Status Client::compact(int64_t revision, bool physical) {
  json body = {{"revision", std::to_string(revision)}};
  if (physical) body["physical"] = true;
  auto j = impl_->post("/v3/kv/compaction", body, false);
  return j ? Status::ok() : j.status();
}

Result<LeaseGrant> Client::leaseGrant(int64_t ttl_seconds, int64_t id) {
  json body = {{"TTL", std::to_string(ttl_seconds)}};
  if (id) body["ID"] = std::to_string(id);
  auto j = impl_->post("/v3/lease/grant", body, false);
  if (!j) return j.status();
  std::string error = stringField(*j, "error");
  if (!error.empty()) return Status::failedPrecondition("etcd lease grant: " + error);
  return LeaseGrant{intField<int64_t>(*j, "ID"), intField<int64_t>(*j, "TTL")};
}

Status Client::leaseRevoke(int64_t id) {
  auto j = impl_->post("/v3/kv/lease/revoke", {{"ID", std::to_string(id)}}, false);
  return j ? Status::ok() : j.status();
}

Result<int64_t> Client::leaseKeepAliveOnce(int64_t id) {
  // The gateway serves the keep-alive stream as newline-delimited {"result": ...} objects:
  // send one request, read one answer, close.
  const size_t n = impl_->transports.size();
  size_t index = impl_->preferred.load() % n;
  const std::string& endpoint = impl_->config.endpoints[index];
  kube::HttpRequest request;
  request.method = "POST";
  request.target = "/v3/lease/keepalive";
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = json{{"ID", std::to_string(id)}}.dump();
  auto stream = impl_->transports[index]->openStream(request, impl_->config.timeout);
  if (!stream) return stream.status().withContext(endpoint);
  auto line = (*stream)->readLine(impl_->config.timeout);
  (*stream)->cancel();
  if (!line) return line.status().withContext(endpoint + " lease keep-alive");
  if (!*line) {
    return Status::unavailable(endpoint + " lease keep-alive: the stream ended without an answer");
  }
  auto j = decodeGatewayResponse((*stream)->status(), **line);
  if (!j) return j.status().withContext(endpoint + " lease keep-alive");
  auto result = j->find("result");
  if (result == j->end() || !result->is_object()) {
    return Status::internal(endpoint + " lease keep-alive: no result in " + **line);
  }
  return intField<int64_t>(*result, "TTL");
}

Result<LeaseTimeToLive> Client::leaseTimeToLive(int64_t id, bool keys) {
  json body = {{"ID", std::to_string(id)}};
  if (keys) body["keys"] = true;
  auto j = impl_->post("/v3/kv/lease/timetolive", body, true);
  if (!j) return j.status();
  LeaseTimeToLive out;
  out.id = intField<int64_t>(*j, "ID");
  out.ttl = intField<int64_t>(*j, "TTL");
  out.granted_ttl = intField<int64_t>(*j, "grantedTTL");
  if (auto it = j->find("keys"); it != j->end() && it->is_array()) {
    for (const auto& k : *it) {
      auto decoded = k.is_string() ? base64Decode(k.get<std::string>()) : Result<std::string>("");
      if (decoded) out.keys.push_back(std::move(*decoded));
    }
  }
  return out;
}

Result<MemberStatus> Client::status(const std::string& endpoint) {
  HERD_ASSIGN_OR_RETURN(size_t index, impl_->indexOf(endpoint));
  auto j = impl_->postTo(index, "/v3/maintenance/status", json::object());
  if (!j) return j.status();
  MemberStatus out;
  out.endpoint = endpoint;
  out.version = stringField(*j, "version");
  out.db_size = intField<int64_t>(*j, "dbSize");
  out.db_size_in_use = intField<int64_t>(*j, "dbSizeInUse");
  if (auto h = j->find("header"); h != j->end() && h->is_object()) {
    out.member_id = intField<uint64_t>(*h, "member_id");
  }
  out.leader = intField<uint64_t>(*j, "leader");
  out.raft_index = intField<uint64_t>(*j, "raftIndex");
  out.raft_term = intField<uint64_t>(*j, "raftTerm");
  out.is_learner = boolField(*j, "isLearner");
  if (auto it = j->find("errors"); it != j->end() && it->is_array()) {
    for (const auto& e : *it) {
      if (e.is_string()) out.errors.push_back(e.get<std::string>());
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Watch

namespace {

// A stream that stays silent this long is dropped and reopened from nextRevision(): a member
// that died without closing its sockets (SIGKILL, a partition) is noticed after this much.
// etcd 3.4's progress notifications come every 10 minutes, too rarely to lean on.
constexpr std::chrono::seconds kIdleReconnect{20};
// Pause between rounds over every member while none answers, so that a cluster being
// restarted is not hammered by reconnects.
constexpr std::chrono::milliseconds kReconnectPause{200};

json encode(const WatchRequest& r, int64_t start_revision) {
  json create = {{"key", base64Encode(r.key)}};
  if (!r.range_end.empty()) create["range_end"] = base64Encode(r.range_end);
  if (start_revision) create["start_revision"] = std::to_string(start_revision);
  if (r.prev_kv) create["prev_kv"] = true;
  return {{"create_request", create}};
}

}  // namespace

class WatchImpl final : public Watch {
 public:
  WatchImpl(Client::Impl& client, WatchRequest request)
      : client_(client), request_(std::move(request)), next_revision_(request_.start_revision) {}

  ~WatchImpl() override {
    cancel();
    if (reader_.joinable()) reader_.join();
  }

  void start() {
    reader_ = std::thread([this] { readLoop(); });
  }

  // Waits until etcd has registered the watch (or the watch ended).
  Status waitCreated(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return created_ || !terminal_.isOk(); })) {
      return Status::deadlineExceeded("etcd watch: not registered within " +
                                      std::to_string(timeout.count()) + " ms");
    }
    return terminal_;
  }

  Result<std::vector<WatchEvent>> next(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || !terminal_.isOk(); });
    if (!queue_.empty()) {
      std::vector<WatchEvent> out(std::make_move_iterator(queue_.begin()),
                                  std::make_move_iterator(queue_.end()));
      queue_.clear();
      return out;
    }
    if (!terminal_.isOk()) return terminal_;
    return std::vector<WatchEvent>{};
  }

  int64_t nextRevision() const override {
    std::lock_guard lock(mu_);
    return next_revision_;
  }
  int64_t compactRevision() const override {
    std::lock_guard lock(mu_);
    return compact_revision_;
  }
  std::string endpoint() const override {
    std::lock_guard lock(mu_);
    return endpoint_;
  }

  void cancel() override {
    std::lock_guard lock(mu_);
    if (cancelled_) return;
    cancelled_ = true;
    if (stream_) stream_->cancel();
    if (terminal_.isOk()) terminal_ = Status::unavailable("etcd watch: cancelled");
    cv_.notify_all();
  }

 private:
  enum class Outcome { kReconnectSame, kReconnectNext, kEnded };

  void readLoop();
  Outcome readStream(size_t index);
  // Handles one line of the stream; false when the stream must be dropped (`outcome` says
  // how to go on).
  bool handleLine(size_t index, const std::string& line, Outcome& outcome);
  void end(Status status) {
    std::lock_guard lock(mu_);
    if (terminal_.isOk()) terminal_ = std::move(status);
    cv_.notify_all();
  }

  Client::Impl& client_;
  const WatchRequest request_;
  std::thread reader_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WatchEvent> queue_;
  Status terminal_;
  bool created_ = false;
  bool cancelled_ = false;
  int64_t next_revision_;
  int64_t compact_revision_ = 0;
  std::string endpoint_;
  std::unique_ptr<kube::ResponseStream> stream_;  // the open one; guarded for cancel()
  Status last_error_ = Status::unavailable("no member tried");  // the reader thread's own
};

void WatchImpl::readLoop() {
  const size_t n = client_.transports.size();
  size_t index = client_.preferred.load() % n;
  auto last_success = std::chrono::steady_clock::now();
  size_t failures_in_round = 0;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (cancelled_ || !terminal_.isOk()) return;
    }
    Outcome outcome = readStream(index);
    if (outcome == Outcome::kEnded) return;
    if (outcome == Outcome::kReconnectNext) {
      index = (index + 1) % n;
      ++failures_in_round;
    } else {
      last_success = std::chrono::steady_clock::now();
      failures_in_round = 0;
    }
    if (failures_in_round >= n) {
      failures_in_round = 0;
      if (std::chrono::steady_clock::now() - last_success > client_.config.watch_reconnect) {
        end(Status::unavailable("etcd watch: no member answered for " +
                                std::to_string(client_.config.watch_reconnect.count()) +
                                " ms; last: " + last_error_.message()));
        return;
      }
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, kReconnectPause, [&] { return cancelled_; });
    }
  }
}

WatchImpl::Outcome WatchImpl::readStream(size_t index) {
  const std::string& endpoint = client_.config.endpoints[index];
  int64_t start;
  {
    std::lock_guard lock(mu_);
    start = next_revision_;
    endpoint_ = endpoint;
  }
  kube::HttpRequest http;
  http.method = "POST";
  http.target = "/v3/watch";
  http.headers.emplace_back("Content-Type", "application/json");
  http.body = encode(request_, start).dump();
  auto opened = client_.transports[index]->openStream(http, client_.config.timeout);
  if (!opened) {
    last_error_ = opened.status().withContext(endpoint);
    return Outcome::kReconnectNext;
  }
  kube::ResponseStream* stream = opened->get();
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return Outcome::kEnded;
    stream_ = std::move(*opened);
  }
  Outcome outcome = Outcome::kReconnectNext;
  bool delivered = false;
  for (;;) {
    auto line = stream->readLine(kIdleReconnect);
    if (!line) {
      // Silence past kIdleReconnect is not the member's fault: reopen on the same one.
      outcome = line.status().code() == Code::kDeadlineExceeded ? Outcome::kReconnectSame
                                                                : Outcome::kReconnectNext;
      last_error_ = line.status().withContext(endpoint + " watch");
      break;
    }
    if (!*line) {
      last_error_ = Status::unavailable(endpoint + " watch: the stream ended");
      break;
    }
    if ((*line)->empty()) continue;
    delivered = true;
    if (!handleLine(index, **line, outcome)) break;
  }
  std::unique_ptr<kube::ResponseStream> closing;
  {
    std::lock_guard lock(mu_);
    closing = std::move(stream_);
    if (cancelled_) return Outcome::kEnded;
  }
  if (outcome == Outcome::kReconnectNext && delivered) outcome = Outcome::kReconnectSame;
  return outcome;
}

bool WatchImpl::handleLine(size_t index, const std::string& line, Outcome& outcome) {
  const std::string& endpoint = client_.config.endpoints[index];
  auto decoded = decodeGatewayResponse(200, line);
  if (!decoded) {
    Status s = decoded.status().withContext(endpoint + " watch");
    if (s.code() == Code::kUnavailable) {
      last_error_ = s;
      outcome = Outcome::kReconnectNext;
    } else {
      outcome = Outcome::kEnded;
      end(s);
    }
    return false;
  }
  auto result = decoded->find("result");
  if (result == decoded->end() || !result->is_object()) {
    outcome = Outcome::kEnded;
    end(Status::internal(endpoint + " watch: an answer without a result: " + line.substr(0, 200)));
    return false;
  }
  const json& r = *result;
  int64_t compact = intField<int64_t>(r, "compact_revision");
  if (compact != 0) {
    std::lock_guard lock(mu_);
    compact_revision_ = compact;
    if (terminal_.isOk()) {
      terminal_ =
          Status::gone(endpoint + " watch: revision " + std::to_string(next_revision_) +
                       " has been compacted; the oldest left is " + std::to_string(compact));
    }
    cv_.notify_all();
    outcome = Outcome::kEnded;
    return false;
  }
  if (boolField(r, "canceled")) {
    std::string reason = stringField(r, "cancel_reason");
    outcome = Outcome::kEnded;
    end(Status::failedPrecondition(endpoint + " watch cancelled by etcd" +
                                   (reason.empty() ? std::string() : ": " + reason)));
    return false;
  }
  std::vector<WatchEvent> events;
  if (auto it = r.find("events"); it != r.end() && it->is_array()) {
    for (const auto& e : *it) {
      WatchEvent event;
      event.type =
          stringField(e, "type") == "DELETE" ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut;
      if (auto kv = e.find("kv"); kv != e.end() && kv->is_object()) event.kv = parseKeyValue(*kv);
      if (auto prev = e.find("prev_kv"); prev != e.end() && prev->is_object()) {
        event.prev_kv = parseKeyValue(*prev);
      }
      events.push_back(std::move(event));
    }
  }
  std::lock_guard lock(mu_);
  if (boolField(r, "created")) {
    created_ = true;
    // A watch from "now" resumes after the revision it was registered at.
    if (next_revision_ == 0) next_revision_ = headerRevision(r) + 1;
  }
  // Resuming from next_revision_ makes etcd replay nothing older; this guards against a
  // member that would. The floor is taken once: the events of one txn share a revision.
  const int64_t floor = next_revision_;
  for (auto& event : events) {
    if (event.kv.mod_revision < floor) continue;
    next_revision_ = std::max(next_revision_, event.kv.mod_revision + 1);
    queue_.push_back(std::move(event));
  }
  if (events.empty() && !boolField(r, "created")) {
    // A progress notification: everything up to its revision has been sent.
    next_revision_ = std::max(next_revision_, headerRevision(r) + 1);
  }
  cv_.notify_all();
  return true;
}

Result<std::unique_ptr<Watch>> Client::watch(const WatchRequest& request) {
  if (request.key.empty()) return Status::invalid("etcd watch: empty key");
  if (request.start_revision < 0) return Status::invalid("etcd watch: negative start revision");
  auto watch = std::make_unique<WatchImpl>(*impl_, request);
  watch->start();
  HERD_RETURN_IF_ERROR(watch->waitCreated(impl_->config.timeout * 2));
  return std::unique_ptr<Watch>(std::move(watch));
}

// ---------------------------------------------------------------------------------------------
// Cluster membership

namespace {

std::vector<std::string> stringList(const json& object, const char* name) {
  std::vector<std::string> out;
  auto it = object.find(name);
  if (it == object.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

Member parseMember(const json& j) {
  Member m;
  m.id = intField<uint64_t>(j, "ID");
  m.name = stringField(j, "name");
  m.peer_urls = stringList(j, "peerURLs");
  m.client_urls = stringList(j, "clientURLs");
  m.is_learner = boolField(j, "isLearner");
  return m;
}

std::vector<Member> parseMembers(const json& j) {
  std::vector<Member> out;
  if (auto it = j.find("members"); it != j.end() && it->is_array()) {
    for (const auto& m : *it) out.push_back(parseMember(m));
  }
  return out;
}

}  // namespace

Result<std::vector<Member>> Client::memberList() {
  auto j = impl_->post("/v3/cluster/member/list", json::object(), /*idempotent=*/true);
  if (!j) return j.status();
  return parseMembers(*j);
}

Result<MemberAddResponse> Client::memberAdd(const std::vector<std::string>& peer_urls,
                                            bool as_learner) {
  if (peer_urls.empty()) return Status::invalid("etcd member add: no peer URLs");
  json body = {{"peerURLs", peer_urls}};
  if (as_learner) body["isLearner"] = true;
  auto j = impl_->post("/v3/cluster/member/add", body, false);
  if (!j) return j.status();
  auto member = j->find("member");
  if (member == j->end() || !member->is_object()) {
    return Status::internal("etcd member add: the answer names no member: " +
                            j->dump().substr(0, 200));
  }
  MemberAddResponse out;
  out.member = parseMember(*member);
  out.members = parseMembers(*j);
  return out;
}

Status Client::memberPromote(uint64_t id) {
  auto j = impl_->post("/v3/cluster/member/promote", {{"ID", std::to_string(id)}}, false);
  return j ? Status::ok() : j.status();
}

Status Client::memberRemove(uint64_t id) {
  auto j = impl_->post("/v3/cluster/member/remove", {{"ID", std::to_string(id)}}, false);
  return j ? Status::ok() : j.status();
}

// ---------------------------------------------------------------------------------------------
// Maintenance

const char* alarmName(Alarm::Type type) {
  switch (type) {
    case Alarm::Type::kNone:
      return "NONE";
    case Alarm::Type::kNoSpace:
      return "NOSPACE";
    case Alarm::Type::kCorrupt:
      return "CORRUPT";
  }
  return "NONE";
}

Result<size_t> Client::Impl::indexOf(const std::string& endpoint) const {
  for (size_t i = 0; i < config.endpoints.size(); ++i) {
    if (config.endpoints[i] == endpoint) return i;
  }
  return Status::invalid("not a configured etcd endpoint: " + endpoint);
}

Status Client::defragment(const std::string& endpoint, std::chrono::milliseconds timeout) {
  HERD_ASSIGN_OR_RETURN(size_t index, impl_->indexOf(endpoint));
  auto j = impl_->postTo(index, "/v3/maintenance/defragment", json::object(), timeout);
  return j ? Status::ok() : j.status();
}

Result<std::vector<Alarm>> Client::alarms() {
  auto j = impl_->post("/v3/maintenance/alarm", {{"action", "GET"}}, /*idempotent=*/true);
  if (!j) return j.status();
  std::vector<Alarm> out;
  if (auto it = j->find("alarms"); it != j->end() && it->is_array()) {
    for (const auto& a : *it) {
      Alarm alarm;
      alarm.member_id = intField<uint64_t>(a, "memberID");
      std::string name = stringField(a, "alarm");
      if (name == "NOSPACE") {
        alarm.type = Alarm::Type::kNoSpace;
      } else if (name == "CORRUPT") {
        alarm.type = Alarm::Type::kCorrupt;
      } else if (!name.empty() && name != "NONE") {
        return Status::internal("etcd alarm list: unknown alarm " + name);
      }
      out.push_back(alarm);
    }
  }
  return out;
}

Status Client::disarmAlarm(const Alarm& alarm) {
  // etcd deactivates exactly the (member, alarm) pair it is given, so "every member" means
  // one request per raised alarm, as etcdctl's `alarm disarm` does. Disarming is idempotent
  // (a cleared alarm stays cleared), so these go to the next member on a broken connection.
  std::vector<Alarm> targets;
  if (alarm.member_id != 0) {
    targets.push_back(alarm);
  } else {
    HERD_ASSIGN_OR_RETURN(auto raised, alarms());
    for (const auto& a : raised) {
      if (alarm.type == Alarm::Type::kNone || a.type == alarm.type) targets.push_back(a);
    }
  }
  for (const auto& target : targets) {
    json body = {{"action", "DEACTIVATE"},
                 {"alarm", alarmName(target.type)},
                 {"memberID", std::to_string(target.member_id)}};
    auto j = impl_->post("/v3/maintenance/alarm", body, /*idempotent=*/true);
    if (!j) return j.status();
  }
  return Status::ok();
}

namespace {

Status writeAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::ioError("write " + path, errno);
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

}  // namespace

Result<int64_t> Client::snapshot(const std::string& path, const std::string& endpoint) {
  if (path.empty()) return Status::invalid("etcd snapshot: no file to write");
  size_t index = impl_->preferred.load() % impl_->transports.size();
  if (!endpoint.empty()) {
    HERD_ASSIGN_OR_RETURN(index, impl_->indexOf(endpoint));
  }
  const std::string& member = impl_->config.endpoints[index];
  const std::string part = path + ".part";
  UniqueFd fd(::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return Status::ioError("open " + part, errno);
  auto fail = [&](Status s) {
    fd.reset();
    ::unlink(part.c_str());
    return s;
  };
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!sha || EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr) != 1) {
    return fail(Status::internal("etcd snapshot: sha256 unavailable"));
  }

  kube::HttpRequest http;
  http.method = "POST";
  http.target = "/v3/maintenance/snapshot";
  http.headers.emplace_back("Content-Type", "application/json");
  http.body = "{}";
  auto stream = impl_->transports[index]->openStream(http, impl_->config.timeout);
  if (!stream) return fail(stream.status().withContext(member + " snapshot"));
  // etcd sends the database in chunks, the last of which says remaining_bytes 0, then one
  // more chunk holding the sha256 of everything before it; the file keeps that trailer (as
  // etcdctl's does), and it is checked here so that a torn copy never becomes `path`.
  int64_t written = 0;
  bool data_done = false;
  bool hash_checked = false;
  for (;;) {
    auto line = (*stream)->readLine(impl_->config.timeout);
    if (!line) return fail(line.status().withContext(member + " snapshot"));
    if (!*line) break;
    if ((*line)->empty()) continue;
    auto j = decodeGatewayResponse((*stream)->status(), **line);
    if (!j) return fail(j.status().withContext(member + " snapshot"));
    auto result = j->find("result");
    if (result == j->end() || !result->is_object()) {
      return fail(Status::internal(
          member + " snapshot: a chunk without a result: " + (*line)->substr(0, 200)));
    }
    auto blob = base64Decode(stringField(*result, "blob"));
    if (!blob) {
      return fail(Status::internal(member + " snapshot: a chunk whose blob is not base64"));
    }
    if (hash_checked) {
      return fail(Status::internal(member + " snapshot: a chunk after the sha256 trailer"));
    }
    if (data_done) {
      unsigned char digest[EVP_MAX_MD_SIZE];
      unsigned int digest_size = 0;
      EVP_DigestFinal_ex(sha.get(), digest, &digest_size);
      if (blob->size() != digest_size ||
          blob->compare(0, digest_size, reinterpret_cast<char*>(digest), digest_size) != 0) {
        return fail(Status::internal(member + " snapshot: the sha256 trailer does not match the " +
                                     std::to_string(written) + " bytes received"));
      }
      hash_checked = true;
    } else {
      EVP_DigestUpdate(sha.get(), blob->data(), blob->size());
      data_done = intField<int64_t>(*result, "remaining_bytes") == 0;
    }
    if (Status s = writeAll(fd.get(), *blob, part); !s.isOk()) return fail(s);
    written += static_cast<int64_t>(blob->size());
  }
  if (!hash_checked) {
    return fail(Status::unavailable(member + " snapshot: the stream ended after " +
                                    std::to_string(written) + " bytes, before its sha256 trailer"));
  }
  if (::fsync(fd.get()) != 0) return fail(Status::ioError("fsync " + part, errno));
  fd.reset();
  if (::rename(part.c_str(), path.c_str()) != 0) {
    return fail(Status::ioError("rename " + part, errno));
  }
  return written;
}

}  // namespace herd::etcd
