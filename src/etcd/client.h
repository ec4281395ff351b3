// herd::etcd::Client: an etcd v3 client for the tenant etcd clusters herd runs: KV, txn,
// compaction, leases, watch, cluster membership (learners) and maintenance (status,
// defragment, alarms, snapshots).
//
// Transport: etcd's gRPC JSON gateway (grpc-gateway: POST /v3/... on the client port, on by
// default), carried by herd's own HTTPS stack (kube::Transport: Boost.Beast + OpenSSL,
// keep-alive pool), not gRPC. Debian does ship libgrpc++, but using it means protoc codegen of
// etcd's protos (and gogoproto's) and building protobuf-generated code on two-core CI, plus a
// second TLS stack beside the one herd already tests against the Kubernetes API; the gateway
// needs neither. The trade-offs, honestly: etcd 3.4's gateway maps int64/uint64 fields to JSON
// strings ("42", parsed back here) and bytes to base64, so payloads grow by a third and every
// call pays JSON encoding; each call is an extra hop inside etcd (gateway to its own gRPC
// server); there is no HTTP/2 multiplexing, so every open watch holds a TLS connection of its
// own; and gateway streams go one way (one watch per request, cancelled by closing it, no
// progress requests). Snapshots are the dearest case: etcd serves the gateway's stream at
// roughly 40% of its gRPC stream's speed (bench/etcd). Streams (watch, snapshot, keep-alive) are
// newline-delimited JSON answers to one request.
//
// Failover rule: a call starts at the member that last answered. On a connection failure
// (Unavailable from the transport, or a gateway answer of gRPC code UNAVAILABLE), reads
// (range, lease time-to-live, member list, alarm list) and alarm disarm (clearing a cleared
// alarm changes nothing) move on to the next member, each member tried once. Writes (put,
// delete, txn, compact, lease grant/revoke/keep-alive, member add/remove/promote) are not
// retried: the request may have reached the server before the connection broke, and applying
// it twice is not harmless in general (a second member add fails, a second put bumps the
// revision); the error names the member, and the next call starts at the next member. Calls aimed
// at one member (status, defragment, snapshot) never move. A Watch reconnects by itself: resuming
// from the revision after the last one it delivered is exactly-once by construction, so it is
// always safe. Errors name the member endpoint and etcd's own message, e.g.
// "https://127.0.0.1:2379: etcdserver: mvcc: required revision has been compacted"
// (code Gone for a compacted revision).
//
// Thread-safe: any number of threads may call one Client at once. A Watch belongs to one
// reader thread (cancel() from any); it must not outlive its Client.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
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
  // How long a Watch keeps trying to reconnect before it gives up with Unavailable: long
  // enough for a member restart or a leader election on a loaded machine.
  std::chrono::milliseconds watch_reconnect{std::chrono::seconds(60)};
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

// One change seen by a watch; a deletion carries the key and the revision of its deletion
// (kv.mod_revision), and prev_kv when the watch asked for it.
struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;
  std::optional<KeyValue> prev_kv;
};

struct WatchRequest {
  std::string key;
  std::string range_end;       // as RangeRequest's
  int64_t start_revision = 0;  // 0: changes after now
  bool prev_kv = false;
};

// A watch over a key range, fed by a thread of its own that reads the gateway's stream and,
// when the member it reads from goes away (or the stream idles for kIdleReconnect), reconnects
// to the next member from the revision after the last one delivered, so that no event is lost
// or repeated. Ends with Gone when its revision was compacted away (compactRevision() then
// says to which revision), with Unavailable when no member answered for the client's
// reconnect budget, with etcd's error when etcd cancels it.
class Watch {
 public:
  virtual ~Watch() = default;
  // The next events, oldest first, waiting up to `timeout`; empty when none came in time.
  virtual Result<std::vector<WatchEvent>> next(std::chrono::milliseconds timeout) = 0;
  // The revision a reconnect resumes from: one past the newest delivered or known-seen.
  virtual int64_t nextRevision() const = 0;
  virtual int64_t compactRevision() const = 0;
  // The member the stream is on now.
  virtual std::string endpoint() const = 0;
  // Ends the watch; a blocked next() returns Unavailable ("cancelled"). Any thread.
  virtual void cancel() = 0;
};

struct Member {
  uint64_t id = 0;
  std::string name;  // empty until a member added by memberAdd has started
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
  bool is_learner = false;
};

struct MemberAddResponse {
  Member member;                // the new one
  std::vector<Member> members;  // the whole membership after the change
};

struct Alarm {
  enum class Type { kNone, kNoSpace, kCorrupt };
  uint64_t member_id = 0;
  Type type = Type::kNone;
};
const char* alarmName(Alarm::Type type);  // "NONE", "NOSPACE", "CORRUPT"

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

  // Starts a watch and returns once etcd has registered it: every write after this call
  // returns is seen. etcd registers a watch before it finds its start revision compacted, so
  // that is reported by the first next(): Gone, with compactRevision() set.
  Result<std::unique_ptr<Watch>> watch(const WatchRequest& request);

  Result<std::vector<Member>> memberList();
  // Adds a member with these peer URLs; as a learner it takes no part in quorum until
  // promoted (etcd 3.4 allows one learner at a time). etcd refuses (Unavailable, "unhealthy
  // cluster") unless every voting member has been connected for the last 5 s; that refusal
  // comes before anything is proposed, so it alone is safe to retry.
  Result<MemberAddResponse> memberAdd(const std::vector<std::string>& peer_urls, bool as_learner);
  // Makes a learner a voting member; etcd refuses until the learner has caught up with the
  // leader's log (FailedPrecondition), so callers retry.
  Status memberPromote(uint64_t id);
  Status memberRemove(uint64_t id);

  // The status of one member, `endpoint` being one of the configured endpoints.
  Result<MemberStatus> status(const std::string& endpoint);
  // Rewrites one member's database file to drop the free pages compaction left; the member
  // blocks reads and writes meanwhile, so it may take well beyond the per-call timeout.
  Status defragment(const std::string& endpoint,
                    std::chrono::milliseconds timeout = std::chrono::minutes(2));
  Result<std::vector<Alarm>> alarms();
  // Clears an alarm (NOSPACE after the space is reclaimed). member_id 0 clears that alarm on
  // every member that raised it; type kNone with member_id 0 clears every raised alarm.
  Status disarmAlarm(const Alarm& alarm);
  // Streams a point-in-time copy of one member's database to `path` (through path + ".part",
  // fsync'd, then renamed, so `path` is either absent or whole). `endpoint` empty: the member
  // that last answered. Returns the bytes written. The copy ends with etcd's sha256, which
  // `etcdctl snapshot restore` checks.
  Result<int64_t> snapshot(const std::string& path, const std::string& endpoint = {});

  const std::vector<std::string>& endpoints() const;

 private:
  struct Impl;
  friend class WatchImpl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace herd::etcd
