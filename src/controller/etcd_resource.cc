// The etcd step of a reconcile. Level-based like every step: each reconcile reads etcd's own
// member list, reconciles herd's record of the membership (status.etcd.members) with it,
// reports each member's health, makes at most one membership change, and applies the spec
// rendered from the record.
//
// A change is made only while every voting member answers, one member at a time: a new member
// is added as a learner (it takes no part in quorum), started with the membership it joins,
// and promoted once etcd says it has caught up; shrinking removes the highest member first,
// then its workload goes. A member whose data the provider sees gone is removed and added
// afresh in its place. The record is written to status after each change; a controller killed
// between a change and that write finds the change in etcd's member list next time (a member
// listed but not recorded is adopted by its peer URL, one recorded but not listed is dropped),
// so any step may be interrupted.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "api/conditions.h"
#include "api/naming.h"
#include "common/log.h"
#include "controller/resources.h"
#include "etcd/client.h"
#include "pki/tenant_pki.h"

namespace herd::controller {
namespace {

using EventType = EventRecorder::Type;
namespace cond = api::condition;

std::string hexId(uint64_t id) {
  return fmt::format("{:x}", id);
}

int memberIndex(const api::EtcdMemberStatus& m) {
  return api::etcdMemberIndex(m.name).value_or(-1);
}

void sortByIndex(std::vector<api::EtcdMemberStatus>& members) {
  std::sort(members.begin(), members.end(),
            [](const auto& a, const auto& b) { return memberIndex(a) < memberIndex(b); });
}

// The file of the PKI set, or "" when it is missing.
std::string pkiData(const pki::PkiFiles& files, const std::string& path) {
  auto it = files.find(path);
  return it == files.end() ? "" : it->second.data;
}

// What one reconcile sees of the tenant's etcd.
struct Observed {
  std::vector<provider::EtcdEndpoint> endpoints;  // by index
  std::vector<etcd::Member> listed;
  std::map<uint64_t, std::vector<std::string>> alarms;  // member id -> alarm names
};

class EtcdResource : public Resource {
 public:
  std::string_view name() const override { return "etcd"; }
  std::string_view conditionType() const override { return cond::kEtcdReady; }

  Outcome reconcile(Context& ctx) override {
    auto endpoints = ctx.provider.etcdEndpoints(ctx.cluster);
    if (!endpoints) {
      ctx.setCondition(cond::kEtcdReady, false, "EndpointsUnknown", endpoints.status().message());
      return Outcome::failed("EtcdEndpointsUnknown", endpoints.status());
    }
    if (endpoints->empty()) return rollOut(ctx);  // the provider offers no way in: roll out only

    std::vector<std::string> urls;
    for (const auto& e : *endpoints) urls.push_back(e.client_url);
    auto client = ctx.options.etcd_clients(urls, ctx.pki);
    if (!client) {
      ctx.setCondition(cond::kEtcdReady, false, "ClientFailed", client.status().message());
      return Outcome::failed("EtcdClientFailed", client.status());
    }
    etcd::Client& etcd = **client;
    Observed seen;
    seen.endpoints = std::move(*endpoints);

    std::vector<api::EtcdMemberStatus> recorded;
    if (ctx.status.etcd) recorded = ctx.status.etcd->members;
    if (recorded.empty()) return bootstrap(ctx, etcd, seen);
    auto listed = etcd.memberList();
    if (!listed) {
      // Keep every member running as recorded, and say that none answers.
      for (auto& m : recorded) markUnreachable(m, listed.status().message());
      ctx.status.etcd->members = recorded;
      Outcome applied = rollOut(ctx);
      std::string message = fmt::format("no member answers: {}", listed.status().message());
      ctx.setCondition(cond::kEtcdReady, false, "Unreachable", message);
      if (applied.kind == Outcome::Kind::kError) return applied;
      return Outcome::wait("EtcdUnreachable", message, ctx.options.poll);
    }
    seen.listed = std::move(*listed);
    seen.alarms = alarmsOf(etcd);
    recorded = reconcileRecord(recorded, seen);
    observeHealth(etcd, seen, recorded);
    record(ctx, recorded);

    std::string change;
    Outcome changed = changeMembership(ctx, etcd, seen, recorded, change);
    if (changed.kind == Outcome::Kind::kError) {
      ctx.setCondition(cond::kEtcdReady, false, changed.reason, changed.message);
      return changed;
    }
    maintain(ctx, etcd, seen, recorded);
    record(ctx, recorded);

    Outcome applied = rollOut(ctx);
    if (applied.kind == Outcome::Kind::kError) return applied;
    int32_t desired = *ctx.cluster.spec.controlPlane.etcd.replicas;
    std::string pending = pendingWork(recorded, desired);
    if (!change.empty()) pending = change;
    if (pending.empty()) return applied;
    ctx.setCondition(cond::kEtcdReady, false, "Resizing", pending);
    return Outcome::wait("EtcdMembershipChanging", pending, ctx.options.poll);
  }

 private:
  static Outcome rollOut(Context& ctx) {
    // The spec follows the record: render again.
    ctx.specs.reset();
    ctx.cluster.status = ctx.status;
    return rollOutComponent(ctx, render::Component::kEtcd, cond::kEtcdReady,
                            &api::ComponentsStatus::etcd);
  }

  static void record(Context& ctx, std::vector<api::EtcdMemberStatus> members) {
    sortByIndex(members);
    if (!ctx.status.etcd) ctx.status.etcd.emplace();
    keepSettledEtcdFigures(ctx.status.etcd->members, members);
    ctx.status.etcd->members = std::move(members);
  }

  static void markUnreachable(api::EtcdMemberStatus& m, const std::string& why) {
    m.reachable = false;
    m.leader = false;
    m.message = why;
  }

  // The members of the first start all run and have joined: from now on herd keeps the record.
  // Until then (and wherever herd cannot reach the members) etcd is only rolled out.
  Outcome bootstrap(Context& ctx, etcd::Client& etcd, Observed& seen) {
    Outcome applied = rollOut(ctx);
    if (!applied.isDone()) return applied;
    auto listed = etcd.memberList();
    if (!listed) {
      // The error names whichever member the client tried last, so it goes to the log; the
      // condition says the same thing every time, and an unchanged status is not rewritten.
      log::forCluster(ctx.cluster.metadata.name)
          .info("etcd members unreachable", {{"error", listed.status().message()}});
      api::Condition c{std::string(cond::kEtcdHealthy),
                       std::string(cond::kUnknown),
                       "Unreachable",
                       "herd cannot reach the members, so it changes no membership; the "
                       "controller's log has the error",
                       "",
                       ctx.generation};
      api::setCondition(ctx.status, std::move(c), ctx.now);
      return applied;
    }
    std::vector<api::EtcdMemberStatus> members;
    for (const auto& m : *listed) {
      if (m.name.empty() || !api::etcdMemberIndex(m.name)) {
        std::string message = "waiting for every member of the first start to join";
        ctx.setCondition(cond::kEtcdReady, false, "Bootstrapping", message);
        return Outcome::wait("EtcdBootstrapping", message, ctx.options.poll);
      }
      api::EtcdMemberStatus out;
      out.name = m.name;
      out.id = hexId(m.id);
      out.learner = m.is_learner;
      members.push_back(std::move(out));
    }
    seen.listed = *listed;
    seen.alarms = alarmsOf(etcd);
    observeHealth(etcd, seen, members);
    record(ctx, members);
    ctx.event(EventType::kNormal, "EtcdBootstrapped",
              fmt::format("etcd runs {} members; herd now keeps its membership", members.size()));
    maintain(ctx, etcd, seen, ctx.status.etcd->members);
    // Rendered from the record now: the bootstrap settings change, which no running member
    // restarts for.
    return rollOut(ctx);
  }

  static std::map<uint64_t, std::vector<std::string>> alarmsOf(etcd::Client& etcd) {
    std::map<uint64_t, std::vector<std::string>> out;
    auto alarms = etcd.alarms();
    if (!alarms) return out;
    for (const auto& a : *alarms) {
      if (a.type != etcd::Alarm::Type::kNone) out[a.member_id].push_back(etcd::alarmName(a.type));
    }
    return out;
  }

  // herd's record brought in line with etcd's member list.
  static std::vector<api::EtcdMemberStatus> reconcileRecord(
      const std::vector<api::EtcdMemberStatus>& recorded, const Observed& seen) {
    std::map<std::string, std::string> name_of_peer;
    for (const auto& e : seen.endpoints) name_of_peer[e.peer_url] = e.name;
    std::vector<api::EtcdMemberStatus> out;
    for (const auto& member : seen.listed) {
      std::string name;
      for (const auto& url : member.peer_urls) {
        if (auto it = name_of_peer.find(url); it != name_of_peer.end()) name = it->second;
      }
      if (name.empty()) continue;  // not one of herd's: left alone
      api::EtcdMemberStatus m;
      for (const auto& r : recorded) {
        if (r.name == name) m = r;
      }
      // Added by herd and not started yet (etcd names a member once it has joined); or adopted
      // after a controller died between adding it and writing status.
      bool known = !m.name.empty() && m.id == hexId(member.id);
      m.name = name;
      m.joining = member.name.empty() && (known ? m.joining : true);
      m.id = hexId(member.id);
      m.learner = member.is_learner;
      out.push_back(std::move(m));
    }
    sortByIndex(out);
    return out;
  }

  static void observeHealth(etcd::Client& etcd, const Observed& seen,
                            std::vector<api::EtcdMemberStatus>& members) {
    for (auto& m : members) {
      int index = memberIndex(m);
      if (index < 0 || index >= static_cast<int>(seen.endpoints.size())) {
        markUnreachable(m, "no endpoint for this member");
        continue;
      }
      auto status = etcd.status(seen.endpoints[index].client_url);
      if (!status) {
        markUnreachable(m, status.status().message());
        m.alarms.clear();
        continue;
      }
      m.reachable = true;
      m.message = status->errors.empty() ? "" : fmt::format("{}", fmt::join(status->errors, "; "));
      m.leader = status->leader != 0 && status->leader == status->member_id;
      m.raftIndex = static_cast<int64_t>(status->raft_index);
      m.dbSize = status->db_size;
      m.dbSizeInUse = status->db_size_in_use;
      auto alarms = seen.alarms.find(status->member_id);
      m.alarms = alarms == seen.alarms.end() ? std::vector<std::string>{} : alarms->second;
    }
  }

  const provider::EtcdEndpoint* endpointOf(const Observed& seen, const std::string& name) {
    for (const auto& e : seen.endpoints) {
      if (e.name == name) return &e;
    }
    return nullptr;
  }

  // At most one membership change; `change` says which one was made.
  Outcome changeMembership(Context& ctx, etcd::Client& etcd, const Observed& seen,
                           std::vector<api::EtcdMemberStatus>& members, std::string& change) {
    const int32_t desired = *ctx.cluster.spec.controlPlane.etcd.replicas;
    auto voters = [&] {
      return std::count_if(members.begin(), members.end(), [](auto& m) { return !m.learner; });
    };
    auto othersAnswer = [&](const api::EtcdMemberStatus* except) {
      return std::all_of(members.begin(), members.end(),
                         [&](auto& m) { return &m == except || m.learner || m.reachable; });
    };
    auto parseId = [](const std::string& hex) { return std::stoull(hex, nullptr, 16); };

    // A member added before goes first: promoted once it has caught up.
    for (auto& m : members) {
      if (!m.learner) continue;
      if (m.joining || !m.reachable || !othersAnswer(&m)) return Outcome::done();
      Status promoted = etcd.memberPromote(parseId(m.id));
      if (promoted.code() == Code::kFailedPrecondition) return Outcome::done();  // catching up
      if (!promoted) return Outcome::failed("EtcdPromoteFailed", promoted.withContext(m.name));
      m.learner = false;
      change = fmt::format("promoted {} to a voting member", m.name);
      ctx.event(EventType::kNormal, "EtcdMemberPromoted", change);
      return Outcome::done();
    }
    // A voting member whose data is gone is removed, to be added afresh, if the others keep
    // quorum without it (they all answer). The only member cannot be: its data is the cluster's.
    for (auto& m : members) {
      const provider::EtcdEndpoint* e = endpointOf(seen, m.name);
      if (e == nullptr || !e->data_lost || m.joining || m.reachable) continue;
      if (voters() < 2 || !othersAnswer(&m)) return Outcome::done();
      Status removed = etcd.memberRemove(parseId(m.id));
      if (!removed) return Outcome::failed("EtcdRemoveFailed", removed.withContext(m.name));
      change = fmt::format("removed {}, whose data is gone, to add it afresh", m.name);
      ctx.event(EventType::kWarning, "EtcdMemberDataLost", change);
      members.erase(
          std::find_if(members.begin(), members.end(), [&](auto& o) { return o.name == m.name; }));
      return Outcome::done();
    }
    if (!othersAnswer(nullptr)) return Outcome::done();  // only while healthy
    if (static_cast<int32_t>(members.size()) < desired) {
      // The first free place: a replaced member's, else the next.
      for (int i = 0; i < desired; ++i) {
        std::string name = api::etcdMemberName(i);
        if (std::any_of(members.begin(), members.end(), [&](auto& m) { return m.name == name; }))
          continue;
        const provider::EtcdEndpoint* e = endpointOf(seen, name);
        if (e == nullptr) {
          return Outcome::failed("EtcdAddFailed",
                                 Status::internal("the provider places no member " + name));
        }
        auto added = etcd.memberAdd({e->peer_url}, /*as_learner=*/true);
        if (added.status().code() == Code::kUnavailable) return Outcome::done();  // not yet
        if (!added) return Outcome::failed("EtcdAddFailed", added.status().withContext(name));
        api::EtcdMemberStatus m;
        m.name = name;
        m.id = hexId(added->member.id);
        m.learner = true;
        m.joining = true;
        members.push_back(std::move(m));
        sortByIndex(members);
        change = fmt::format("added {} as a learner", name);
        ctx.event(EventType::kNormal, "EtcdMemberAdded", change);
        return Outcome::done();
      }
    }
    if (static_cast<int32_t>(members.size()) > desired) {
      api::EtcdMemberStatus last = members.back();
      Status removed = etcd.memberRemove(parseId(last.id));
      if (!removed) return Outcome::failed("EtcdRemoveFailed", removed.withContext(last.name));
      members.pop_back();
      change = fmt::format("removed {}", last.name);
      ctx.event(EventType::kNormal, "EtcdMemberRemoved", change);
    }
    return Outcome::done();
  }

  // What is left to do before etcd is as asked; "" when nothing.
  static std::string pendingWork(const std::vector<api::EtcdMemberStatus>& members,
                                 int32_t desired) {
    for (const auto& m : members) {
      if (m.joining) return fmt::format("{} is starting to join", m.name);
      if (m.learner) return fmt::format("{} is catching up as a learner", m.name);
    }
    for (const auto& m : members) {
      if (!m.reachable) return fmt::format("{} does not answer: {}", m.name, m.message);
    }
    if (static_cast<int32_t>(members.size()) != desired) {
      return fmt::format("{} members, {} asked for", members.size(), desired);
    }
    return "";
  }

  // Health conditions and upkeep (defragmentation, NOSPACE); defined below.
  void maintain(Context& ctx, etcd::Client& etcd, const Observed& seen,
                std::vector<api::EtcdMemberStatus>& members);
};

// The --quota-backend-bytes a spec runs etcd with; 0 when it sets none.
int64_t quotaOf(const render::ComponentSpec& spec) {
  constexpr std::string_view kFlag = "--quota-backend-bytes=";
  for (const auto& arg : spec.args) {
    if (arg.starts_with(kFlag)) return std::strtoll(arg.c_str() + kFlag.size(), nullptr, 10);
  }
  return 0;
}

std::string mebibytes(int64_t bytes) {
  return fmt::format("{:.1f} MiB", bytes / 1048576.0);
}

void EtcdResource::maintain(Context& ctx, etcd::Client& etcd, const Observed& seen,
                            std::vector<api::EtcdMemberStatus>& members) {
  auto endpointUrl = [&](const api::EtcdMemberStatus& m) {
    const provider::EtcdEndpoint* e = endpointOf(seen, m.name);
    return e == nullptr ? std::string() : e->client_url;
  };
  auto refresh = [&](api::EtcdMemberStatus& m) {
    if (auto status = etcd.status(endpointUrl(m))) {
      m.dbSize = status->db_size;
      m.dbSizeInUse = status->db_size_in_use;
    }
  };
  // Followers first, the leader last: defragmenting a member blocks it while it rewrites its
  // file, and a blocked leader stalls every write until it returns (or loses its leadership).
  auto inDefragOrder = [&] {
    std::vector<api::EtcdMemberStatus*> order;
    for (auto& m : members) {
      if (m.reachable && !m.leader) order.push_back(&m);
    }
    for (auto& m : members) {
      if (m.reachable && m.leader) order.push_back(&m);
    }
    return order;
  };
  bool all_answer =
      std::all_of(members.begin(), members.end(), [](auto& m) { return m.reachable || m.joining; });

  std::vector<std::string> full;
  for (const auto& m : members) {
    if (std::find(m.alarms.begin(), m.alarms.end(), "NOSPACE") != m.alarms.end()) {
      full.push_back(m.name);
    }
  }
  if (!full.empty()) {
    // Said in one reconcile, acted on in the next: the alarm reaches status before herd clears it.
    const api::Condition* said = api::findCondition(ctx.status, cond::kEtcdHealthy);
    bool reported = said != nullptr && said->reason == "NoSpace";
    auto spec = ctx.specFor(render::Component::kEtcd);
    int64_t quota = spec ? quotaOf(*spec) : 0;
    ctx.setCondition(
        cond::kEtcdHealthy, false, "NoSpace",
        fmt::format("{} raised NOSPACE: the database reached its quota of {} "
                    "(--quota-backend-bytes, 80% of spec.controlPlane.etcd.storageSize, at most "
                    "8 GiB) and etcd refuses every write until space is reclaimed. herd compacts "
                    "the history, defragments each member and then disarms the alarm; if the "
                    "live data alone fills the quota, delete data or raise storageSize",
                    fmt::join(full, ", "), mebibytes(quota)));
    if (!all_answer || !reported) return;
    // Compaction is allowed while NOSPACE is raised; it frees pages that defragmenting returns.
    etcd::RangeRequest every;
    every.key = std::string(1, '\0');  // every key, counted only: just the store's revision
    every.range_end = std::string(1, '\0');
    every.count_only = true;
    auto head = etcd.range(every);
    if (!head) return;
    Status compacted = etcd.compact(head->revision, /*physical=*/true);
    if (!compacted && compacted.code() != Code::kGone) return;  // Gone: compacted already
    for (auto* m : inDefragOrder()) {
      if (Status s = etcd.defragment(endpointUrl(*m)); !s) return;
      refresh(*m);
    }
    bool room = quota <= 0 || std::all_of(members.begin(), members.end(),
                                          [&](auto& m) { return m.dbSizeInUse < quota * 9 / 10; });
    if (!room) return;  // disarmed, the next write would raise it again
    if (!etcd.disarmAlarm({0, etcd::Alarm::Type::kNoSpace})) return;
    for (auto& m : members)
      m.alarms.erase(std::remove(m.alarms.begin(), m.alarms.end(), "NOSPACE"), m.alarms.end());
    ctx.event(
        EventType::kNormal, "EtcdSpaceReclaimed",
        fmt::format("compacted, defragmented and disarmed NOSPACE of {}", fmt::join(full, ", ")));
  } else if (all_answer) {
    // One member per reconcile, the leader only when no follower needs it.
    for (auto* m : inDefragOrder()) {
      int64_t free = m->dbSize - m->dbSizeInUse;
      if (m->dbSize < ctx.options.etcd_defrag_min_bytes ||
          free < m->dbSize * ctx.options.etcd_defrag_free_ratio) {
        continue;
      }
      Status s = etcd.defragment(endpointUrl(*m));
      if (!s) {
        ctx.event(EventType::kWarning, "EtcdDefragmentFailed", s.withContext(m->name).message());
        break;
      }
      int64_t before = m->dbSize;
      refresh(*m);
      ctx.event(EventType::kNormal, "EtcdDefragmented",
                fmt::format("defragmented {}: {} -> {}", m->name, mebibytes(before),
                            mebibytes(m->dbSize)));
      break;
    }
  }

  std::vector<std::string> unreachable, alarmed;
  for (const auto& m : members) {
    if (!m.reachable && !m.joining) unreachable.push_back(m.name);
    for (const auto& a : m.alarms) alarmed.push_back(fmt::format("{} {}", m.name, a));
  }
  if (!unreachable.empty()) {
    ctx.setCondition(cond::kEtcdHealthy, false, "MembersUnreachable",
                     fmt::format("{} do not answer", fmt::join(unreachable, ", ")));
  } else if (!alarmed.empty()) {
    if (full.empty() || api::findCondition(ctx.status, cond::kEtcdHealthy)->reason != "NoSpace") {
      ctx.setCondition(cond::kEtcdHealthy, false, "Alarm",
                       fmt::format("alarms raised: {}", fmt::join(alarmed, ", ")));
    }
  } else {
    ctx.setCondition(cond::kEtcdHealthy, true, "AllMembersAnswer",
                     fmt::format("{} members answer, no alarm raised", members.size()));
  }
}

}  // namespace

void keepSettledEtcdFigures(const std::vector<api::EtcdMemberStatus>& written,
                            std::vector<api::EtcdMemberStatus>& fresh) {
  if (written.size() != fresh.size()) return;
  auto settled = [](api::EtcdMemberStatus m) {
    m.raftIndex = m.dbSize = m.dbSizeInUse = 0;
    return m;
  };
  auto movedATenth = [](int64_t was, int64_t now) {
    return std::abs(now - was) * 10 >= std::max<int64_t>(was, 1);
  };
  int64_t highest = 0;
  for (const auto& m : fresh) highest = std::max(highest, m.raftIndex);
  for (size_t i = 0; i < fresh.size(); ++i) {
    const auto& was = written[i];
    const auto& now = fresh[i];
    if (!(settled(was) == settled(now))) return;
    if (movedATenth(was.dbSize, now.dbSize) || movedATenth(was.dbSizeInUse, now.dbSizeInUse))
      return;
    if (now.reachable && highest - now.raftIndex >= kEtcdLagRefresh) return;
  }
  for (size_t i = 0; i < fresh.size(); ++i) {
    fresh[i].raftIndex = written[i].raftIndex;
    fresh[i].dbSize = written[i].dbSize;
    fresh[i].dbSizeInUse = written[i].dbSizeInUse;
  }
}

std::unique_ptr<Resource> makeEtcdResource() {
  return std::make_unique<EtcdResource>();
}

EtcdClientFactory defaultEtcdClientFactory() {
  return [](const std::vector<std::string>& endpoints,
            const pki::PkiFiles& files) -> Result<std::unique_ptr<etcd::Client>> {
    etcd::ClientConfig config;
    config.endpoints = endpoints;
    config.ca_pem = pkiData(files, "pki/etcd/ca.crt");
    config.client_cert_pem = pkiData(files, "pki/apiserver-etcd-client.crt");
    config.client_key_pem = pkiData(files, "pki/apiserver-etcd-client.key");
    // A reconcile asks each member once; a member that is down must not hold it up for long.
    config.timeout = std::chrono::seconds(3);
    if (config.ca_pem.empty() || config.client_cert_pem.empty() || config.client_key_pem.empty()) {
      return Status::failedPrecondition(
          "the tenant's credentials hold no etcd CA or apiserver-etcd-client certificate");
    }
    return etcd::Client::create(config);
  };
}

}  // namespace herd::controller
