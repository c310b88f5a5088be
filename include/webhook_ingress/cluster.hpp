#pragma once

// Vocabulary of cluster mode (`--etcd`), shared by the membership and
// placement code (etcd side) and the peer layer (CAF remote actors that
// forward requests to a tenant's owner). Neither side includes the other:
// they meet here. No etcd, curl or CAF network header is included.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace wi::cluster {

/// A member's life cycle, as recorded under its etcd lease.
enum class node_state { joining, active, draining, drained };

/// The lower-case name used in etcd values and admin answers
/// (`joining`, `active`, `draining`, `drained`).
std::string_view to_string(node_state state) noexcept;

/// Parses a name written by `to_string`; nothing for anything else.
std::optional<node_state> parse_node_state(std::string_view name) noexcept;

/// One node of the cluster as the member list shows it.
struct member {
  /// The node id (`--node-id`, or the one kept in the data directory).
  std::string id;
  /// Where clients reach its HTTP API, `host:port`.
  std::string http;
  /// Where peers reach its CAF middleman, `host:port`.
  std::string peer;
  node_state state = node_state::joining;
};

/// Where one tenant lives: its placement key in etcd.
struct placement {
  placement() = default;
  /// A placement of `owner_id` at `epoch_no`, with `backup_id` as backup
  /// (none when empty). A constructor, so that `{owner, epoch}` stays
  /// complete now that `backup` exists.
  placement(std::string owner_id, std::uint64_t epoch_no,
            std::string backup_id = {})
    : owner(std::move(owner_id)), epoch(epoch_no),
      backup(std::move(backup_id)) {}

  /// The owner node's id: the only node that holds the tenant's actor and
  /// records.
  std::string owner;
  /// Grows by one with every change of owner; a node that knows an older
  /// epoch must not acknowledge anything for the tenant.
  std::uint64_t epoch = 0;
  /// The backup node's id (`--replicas 2`): named only while it holds every
  /// record the owner acknowledged; empty when the tenant has one copy
  /// (docs/architecture.md, "Cluster: replication").
  std::string backup;
};

/// What a node knows of the cluster right now: its own id, the members and
/// the placement map, as last seen through its etcd watches.
///
/// Thread safety: every function may be called from any thread (HTTP I/O
/// threads and CAF workers alike) and never blocks on the network; answers
/// come from the node's cached copy.
class view {
 public:
  virtual ~view() = default;

  /// This node's id.
  virtual std::string self() const = 0;

  /// The tenant's placement, if the cached map has it.
  virtual std::optional<placement>
  placement_of(std::string_view tenant_id) const = 0;

  /// The member with this id, if it is in the cached member list (a node
  /// whose lease expired is not).
  virtual std::optional<member> member_of(std::string_view node_id) const = 0;

  /// Every member in the cached list, ordered by id.
  virtual std::vector<member> members() const = 0;
};

} // namespace wi::cluster

namespace wi::cluster {

/// Cluster mode as the HTTP front end drives it, beyond the read-only
/// `view`: readiness, the admin counts and the placement of new tenants.
/// Implemented by the etcd membership (actors/cluster/membership.hpp).
/// Same thread-safety rule as `view`: any thread, never blocks.
class control : public view {
 public:
  /// Whether this node is in good standing: etcd answered recently, the
  /// cached member list and placement map are in sync (the watch is up) and
  /// the lease was renewed in time (this node may acknowledge writes).
  /// `/readyz` answers 503 while it is not.
  virtual bool ready() const = 0;

  /// How many tenants each node owns in the cached placement map (node id
  /// -> count; nodes owning none are absent).
  virtual std::map<std::string, size_t> tenants_by_node() const = 0;

  /// Records that this node created `tenant_id` and holds it: its
  /// placement key is claimed in the background (retried until etcd takes
  /// it). Returns at once.
  virtual void tenant_created(std::string tenant_id) = 0;

  /// Claims the placement key of `tenant_id`, just created here, for this
  /// node: one attempt, on the membership's own threads, ahead of the
  /// background claims. `done` is called exactly once, from that thread,
  /// with the placement etcd holds afterwards (this node's, epoch 1) or the
  /// error that kept etcd from taking it. Returns at once.
  virtual void
  claim_created(std::string tenant_id,
                std::function<void(caf::expected<placement>)> done) = 0;

  /// Self-fencing: whether this node renewed its lease recently enough to
  /// acknowledge writes of the tenants it owns (see
  /// `membership::may_acknowledge`). While false, mutations of its tenants
  /// answer 503 TENANT_UNAVAILABLE and no move starts.
  virtual bool may_acknowledge() const = 0;
};

} // namespace wi::cluster

namespace wi::cluster {

/// The steps of a planned move of one tenant from its owner (`from`) to
/// another node (`to`), in order. A move that fails before `committing`
/// succeeded ends `aborted` (the old owner serves on, nothing changed hands);
/// from a successful commit on it ends `done` (the new owner serves).
enum class move_state {
  /// The old owner stopped taking the tenant's requests (they wait) and
  /// reads its state: snapshot, pending deliveries, payloads.
  freezing,
  /// The state travels to the new owner.
  shipping,
  /// The new owner writes it durably (one synced batch).
  importing,
  /// The placement key changes owner in one etcd transaction guarded by
  /// its revision, epoch + 1.
  committing,
  /// The new owner serves; the old owner answers the waiting requests
  /// through it and deletes its copy.
  releasing,
  done,
  aborted,
};

/// The lower-case name used in admin answers (`freezing`, ..., `aborted`).
std::string_view to_string(move_state state) noexcept;

/// One move as `GET /admin/v1/cluster` shows it under `data.moves.under_way`.
struct move_info {
  std::string tenant;
  std::string from;
  std::string to;
  move_state state = move_state::freezing;
};

/// Moves tenants this node owns to other nodes. Implemented by the move
/// coordinator (actors/cluster/mover.hpp); the rebalancer (joins, drains)
/// and the admin routes drive it through this interface.
///
/// Thread safety: every function may be called from any thread and returns
/// at once; the work runs on the coordinator's own actors and threads.
class mover {
 public:
  virtual ~mover() = default;

  /// Starts moving `tenant` (owned by this node) to the member `to`.
  /// `done` is called exactly once, from any thread, with nothing on
  /// success (the new owner serves the tenant and this node holds nothing
  /// of it) or the error that aborted the move (this node still owns and
  /// serves the tenant). A move of a tenant already under way, not owned
  /// here, or to a node that is not an active member fails at once with
  /// `errc::validation_failed`.
  virtual void move(std::string tenant, std::string to,
                    std::function<void(caf::error)> done) = 0;

  /// The moves this node runs now (as the old owner), oldest first.
  virtual std::vector<move_info> under_way() const = 0;

  /// Moves this node finished as the old owner since it started.
  virtual uint64_t moves_done() const = 0;
};

} // namespace wi::cluster
