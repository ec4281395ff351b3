#include "etcd/client.h"

#include <atomic>
#include <charconv>
#include <nlohmann/json.hpp>

#include "common/base64.h"
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
    if (error != j.end() && error->is_object() && !grpc) grpc = intField<int>(*error, "http_code");
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

  // One POST on member `index`; the error names the member.
  Result<json> postTo(size_t index, const std::string& path, const json& body) {
    kube::HttpRequest request;
    request.method = "POST";
    request.target = path;
    request.headers.emplace_back("Content-Type", "application/json");
    request.body = body.dump();
    auto response = transports[index]->roundTrip(request, config.timeout);
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
  const auto& endpoints = impl_->config.endpoints;
  size_t index = 0;
  while (index < endpoints.size() && endpoints[index] != endpoint) ++index;
  if (index == endpoints.size()) return Status::invalid("not a configured endpoint: " + endpoint);
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

}  // namespace herd::etcd
