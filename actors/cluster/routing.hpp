#pragma once

// Where a request for a tenant goes in cluster mode, as pure code: the
// decision of the HTTP front end (serve here, forward, read the placement
// key from etcd first, refuse) and the bounded book of those etcd reads
// (coalesced, capped, with a short negative cache). No I/O, no threads, no
// clock of its own: the membership drives the book under its mutex with its
// injected clock.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "webhook_ingress/cluster.hpp"

namespace wi::cluster {

/// What the front end does with a request for a tenant.
enum class route_action {
  /// Judge it here: the local look-up answers (401/404 when unknown).
  serve_here,
  /// Hand it to `route_decision::node` with `route_decision::epoch`.
  forward,
  /// Read the tenant's placement key from etcd first, then decide again
  /// with what it says (`route_facts::looked_up`).
  look_up,
  /// 503 TENANT_UNAVAILABLE: the sender of a forwarded request knows a
  /// newer placement than this node while this node is the owner here
  /// (fencing: it may have lost the tenant).
  refuse_newer_epoch,
  /// 503 TENANT_UNAVAILABLE: a forwarded request names a placement no newer
  /// than this node's, which names another node (the placements disagree
  /// for a moment; a hop would not raise the epoch).
  refuse_not_owner,
};

/// The decision: the action and, for `forward`, where and with which epoch.
struct route_decision {
  route_action action = route_action::serve_here;
  std::string node;
  uint64_t epoch = 0;

  friend bool operator==(const route_decision&,
                         const route_decision&) = default;
};

/// What the decision reads (one request, one tenant).
struct route_facts {
  /// This node's id.
  std::string self;
  /// The tenant's placement in the cached map, if any.
  std::optional<placement> cached;
  /// Whether this node's directory holds the tenant.
  bool held = false;
  /// Set for a request another node forwarded here: the epoch its sender
  /// knew (0: the sender knew no placement and went by rendezvous).
  std::optional<uint64_t> forwarded_epoch;
  /// The rendezvous owner among the active members (where new tenants
  /// go); nothing when no member is active.
  std::optional<std::string> rendezvous;
  /// Whether etcd was already asked for this request, or a look-up found no
  /// key a moment ago (the negative cache): never look up again then.
  bool looked_up = false;
};

/// The decision, in this order:
/// - cached here: serve here, except a forwarded request whose sender knew a
///   newer epoch (`refuse_newer_epoch`);
/// - cached on another node: forward there (a direct request, or a
///   forwarded one whose sender knew an older epoch: each hop raises the
///   epoch, so no loop), else `refuse_not_owner`;
/// - not cached but held here, or already looked up: serve here;
/// - a forwarded request whose sender went by rendezvous (epoch 0):
///   `look_up` (this node's watch may lag a create or move elsewhere); any
///   other forwarded request: serve here;
/// - a direct request: forward to the rendezvous owner if that is another
///   node (where a create would have put it), else `look_up` (the rendezvous
///   owner is this node, which does not hold it: the tenant is elsewhere or
///   nowhere, and only etcd knows).
[[nodiscard]] route_decision decide_route(const route_facts& f);

/// What `placement_lookups::begin` tells the caller to do.
enum class lookup_start {
  /// Read the key (the caller runs the read, then `finish`).
  read,
  /// A read of the key is under way: the waiter joined it.
  joined,
  /// A read found no key within the negative cache's life: answer "no key"
  /// at once (the waiter was not kept).
  known_missing,
  /// `max_in_flight` keys are being read: refuse (the waiter was not
  /// kept).
  full,
};

/// The bounded book of placement reads (see the file comment). Not
/// thread-safe: the owner serializes the calls.
class placement_lookups {
 public:
  /// What a waiter gets: the placement etcd holds, nothing when it holds
  /// no key, or the error of the read.
  using result = caf::expected<std::optional<placement>>;
  using waiter = std::function<void(result)>;
  using clock_point = std::chrono::steady_clock::time_point;

  /// `max_in_flight`: distinct keys queued or being read at once;
  /// `missing_ttl`: how long a "no key" answer is served from memory;
  /// `max_missing`: entries of that negative cache (oldest dropped first).
  placement_lookups(size_t max_in_flight, std::chrono::milliseconds missing_ttl,
                    size_t max_missing);

  /// Asks for `tenant`'s placement at `now`. On `read` and `joined` the
  /// book keeps `done` until `finish`; otherwise the caller answers it.
  lookup_start begin(const std::string& tenant, waiter& done, clock_point now);

  /// The read of `tenant` ended with `got` at `now`: remembers a "no key"
  /// in the negative cache, and returns the waiters to call (outside any
  /// lock), in arrival order.
  [[nodiscard]] std::vector<waiter> finish(const std::string& tenant,
                                           const result& got, clock_point now);

  /// Whether a read found no key for `tenant` less than `missing_ttl`
  /// before `now` and nothing placed it since.
  [[nodiscard]] bool known_missing(std::string_view tenant,
                                   clock_point now) const;

  /// A placement of `tenant` appeared (the watch, a claim): forget a "no
  /// key" answer about it.
  void placed(std::string_view tenant);

  /// Every waiter, for an answer at shutdown; the book is empty after.
  [[nodiscard]] std::vector<waiter> take_all();

  /// Distinct keys queued or being read.
  [[nodiscard]] size_t in_flight() const noexcept { return waiting_.size(); }

  /// Entries of the negative cache (expired ones included until pruned).
  [[nodiscard]] size_t missing_entries() const noexcept {
    return missing_.size();
  }

 private:
  void prune(clock_point now);

  size_t max_in_flight_;
  std::chrono::milliseconds missing_ttl_;
  size_t max_missing_;
  std::map<std::string, std::vector<waiter>, std::less<>> waiting_;
  /// tenant -> when the "no key" answer expires.
  std::map<std::string, clock_point, std::less<>> missing_;
  /// Negative-cache entries in insertion order, for pruning.
  std::deque<std::pair<std::string, clock_point>> missing_order_;
};

} // namespace wi::cluster
