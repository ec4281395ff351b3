// herd::etcd::Client: an etcd v3 client for the tenant etcd clusters herd runs.
//
// Transport: etcd's gRPC JSON gateway (POST /v3/... on the client port), carried by herd's own
// HTTPS stack (kube::Transport: Boost.Beast + OpenSSL, keep-alive pool), not gRPC. Debian's
// libgrpc++ would need protoc codegen of etcd's protos and gogoproto, a second TLS stack and a
// much longer build on two cores; the gateway needs none of that. The costs: keys and values
// travel base64-encoded inside JSON, int64 fields arrive as JSON strings, and each call pays
// JSON encoding and parsing.
//
// Failover rule: a call starts at the member that last answered. On a connection failure
// (Unavailable from the transport, or a gateway answer of gRPC code UNAVAILABLE), reads
// (range, lease time-to-live, status) move on to the next member, each member tried once.
// Writes (put, delete, txn, compact, lease grant/revoke/keep-alive) are not retried: the
// request may have reached the server before the connection broke, and applying it twice is
// not harmless in general; the error names the member, and the next call starts at the next
// member. Errors name the member endpoint and etcd's own message, e.g.
// "https://127.0.0.1:2379: etcdserver: mvcc: required revision has been compacted"
// (code Gone for a compacted revision).
//
// Thread-safe: any number of threads may call one Client at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"

namespace herd::etcd {

struct ClientConfig {
  std::vector<std::string> endpoints;  // https://host:port of each member
  std::string ca_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};  // per call
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

// The range_end for every key starting with `prefix` (etcdctl's --prefix).
std::string prefixEnd(const std::string& prefix);

struct RangeRequest {
  std::string key;
  std::string range_end;  // empty: `key` alone; "\0": every key >= key
  int64_t limit = 0;
  int64_t revision = 0;  // 0: the newest
  bool keys_only = false;
  bool count_only = false;
  bool serializable = false;
};
struct RangeResponse {
  int64_t revision = 0;  // the store's revision when the range was served
  std::vector<KeyValue> kvs;
  bool more = false;
  int64_t count = 0;
};

struct PutRequest {
  std::string key;
  std::string value;
  int64_t lease = 0;
  bool prev_kv = false;
};
struct PutResponse {
  int64_t revision = 0;
  std::optional<KeyValue> prev_kv;
};

struct DeleteRequest {
  std::string key;
  std::string range_end;
  bool prev_kv = false;
};
struct DeleteResponse {
  int64_t revision = 0;
  int64_t deleted = 0;
  std::vector<KeyValue> prev_kvs;
};

struct Compare {
  enum class Target { kValue, kVersion, kCreateRevision, kModRevision };
  enum class Op { kEqual, kNotEqual, kGreater, kLess };
  std::string key;
  Target target = Target::kValue;
  Op op = Op::kEqual;
  std::string value;   // for kValue
  int64_t number = 0;  // for the others
};

using TxnOp = std::variant<RangeRequest, PutRequest, DeleteRequest>;
using TxnOpResponse = std::variant<RangeResponse, PutResponse, DeleteResponse>;

struct TxnRequest {
  std::vector<Compare> compare;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
};
struct TxnResponse {
  int64_t revision = 0;
  bool succeeded = false;
  std::vector<TxnOpResponse> responses;
};

struct LeaseGrant {
  int64_t id = 0;
  int64_t ttl = 0;
};
struct LeaseTimeToLive {
  int64_t id = 0;
  int64_t ttl = 0;  // -1 once expired
  int64_t granted_ttl = 0;
  std::vector<std::string> keys;
};

struct MemberStatus {
  std::string endpoint;
  std::string version;
  int64_t db_size = 0;
  int64_t db_size_in_use = 0;
  uint64_t member_id = 0;
  uint64_t leader = 0;
  uint64_t raft_index = 0;
  uint64_t raft_term = 0;
  bool is_learner = false;
  std::vector<std::string> errors;
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> create(const ClientConfig& config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Result<RangeResponse> range(const RangeRequest& request);
  Result<PutResponse> put(const PutRequest& request);
  Result<DeleteResponse> deleteRange(const DeleteRequest& request);
  Result<TxnResponse> txn(const TxnRequest& request);
  // Discards history before `revision`; `physical` waits until it is removed from disk.
  Status compact(int64_t revision, bool physical = false);

  Result<LeaseGrant> leaseGrant(int64_t ttl_seconds, int64_t id = 0);
  Status leaseRevoke(int64_t id);
  // Renews the lease once; returns its TTL afresh (0 when the lease is gone).
  Result<int64_t> leaseKeepAliveOnce(int64_t id);
  Result<LeaseTimeToLive> leaseTimeToLive(int64_t id, bool keys = false);

  // The status of one member, `endpoint` being one of the configured endpoints.
  Result<MemberStatus> status(const std::string& endpoint);

  const std::vector<std::string>& endpoints() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace herd::etcd
