#pragma once

// Joins and drains: which tenants this node should move away, and the thin
// driver that starts those moves through a `mover`.
//
// - `plan_moves` is a pure function of what this node knows (members,
//   the tenants the placement map gives it, its own state, whether etcd is
//   in sync and it may acknowledge): the moves this node should start.
// - `rebalancer` runs it every `interval` and when the member list changes,
//   on its own thread, starts at most `max_concurrent` moves at a time,
//   retries aborted ones with exponential backoff, never runs two moves of
//   one tenant, and drives this node's state through a drain (`draining`,
//   then `drained` once it owns nothing).
//
// Only the owner moves its tenants: every node plans for itself, so no two
// nodes ever plan the same move.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/error.hpp>

#include "webhook_ingress/cluster.hpp"

namespace wi::cluster {

class membership;

/// What the planner reads: one picture of the cluster as this node sees it.
struct cluster_picture {
  /// This node's id.
  std::string self;
  /// This node's own state (as it set it; its member key follows).
  node_state self_state = node_state::joining;
  /// The cached member list.
  std::vector<member> members;
  /// The tenants the cached placement map gives this node.
  std::vector<std::string> owned;
  /// Those of `owned` whose placement is pinned (a manual move).
  std::vector<std::string> pinned;
  /// etcd answers and the cache follows it.
  bool in_sync = false;
  /// This node renewed its lease in time (self-fencing).
  bool may_acknowledge = false;
};

/// One move to start: `tenant` (owned by this node) to the member `to`.
struct planned_move {
  std::string tenant;
  std::string to;

  friend bool operator==(const planned_move&, const planned_move&) = default;
};

/// The moves this node should start, ordered by tenant id:
/// - `active`: every owned tenant, except pinned ones, whose rendezvous
///   owner among the active members (this node counted as active) is
///   another node (a join);
/// - `draining`: every owned tenant, pinned ones too (they stay pinned),
///   to its rendezvous owner among the other active members (none while
///   there is no other active member);
/// - otherwise (`joining`, `drained`), while etcd is not in sync, or while
///   this node may not acknowledge: nothing.
[[nodiscard]] std::vector<planned_move> plan_moves(const cluster_picture& p);

/// Settings of the driver.
struct rebalancer_config {
  /// Reads the picture (any thread; must not block long).
  std::function<cluster_picture()> picture;
  /// Starts moves; null where moves are not available (nothing is moved,
  /// a drain ends only if the node owns nothing).
  std::shared_ptr<mover> moves;
  /// Sets this node's member state; may block on etcd (runs on the
  /// driver's thread only).
  std::function<caf::error(node_state)> set_state;
  /// Most moves under way at once. Default 4.
  size_t max_concurrent = 4;
  /// Time between rounds when nothing pokes the driver. Default 1 s.
  std::chrono::milliseconds interval{1000};
  /// Wait before retrying a tenant whose move aborted; doubles with each
  /// abort up to `max_backoff`. Defaults 500 ms and 30 s.
  std::chrono::milliseconds min_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  /// The clock of the backoff; default `std::chrono::steady_clock::now`.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

/// The driver (see the file comment). Thread safety: every member function
/// may be called from any thread; `wait_drained` blocks (main thread only).
class rebalancer {
 public:
  explicit rebalancer(rebalancer_config cfg);

  /// Stops the thread (moves under way finish on the mover's side).
  ~rebalancer();

  rebalancer(const rebalancer&) = delete;
  rebalancer& operator=(const rebalancer&) = delete;

  /// Starts the thread that calls `run_once` every `interval` and when
  /// poked.
  void start();

  /// Stops the thread; idempotent.
  void stop();

  /// Runs a round now (the member list changed, a move ended). Returns at
  /// once.
  void poke();

  /// Starts draining this node: the next round sets its state `draining`
  /// (again after a failed put), moves every tenant away, then sets it
  /// `drained`. Returns at once; idempotent.
  void drain();

  /// Whether a drain was asked for.
  [[nodiscard]] bool draining() const;

  /// Whether this node set its state `drained`.
  [[nodiscard]] bool drained() const;

  /// Waits until `drained` or `deadline`; returns `drained()`. Blocks.
  bool wait_drained(std::chrono::steady_clock::time_point deadline);

  /// One round on the calling thread: the drain's state changes, then the
  /// moves `plan_moves` asks for, within the bounds. Blocks while
  /// `set_state` does. For the thread and for tests.
  void run_once();

  /// Tenants whose move runs now.
  [[nodiscard]] std::set<std::string> under_way() const;

  /// Moves started and moves that aborted so far.
  [[nodiscard]] size_t started() const;
  [[nodiscard]] size_t aborted() const;

  /// Whether moves are available (a `mover` was given).
  [[nodiscard]] bool can_move() const noexcept { return cfg_.moves != nullptr; }

  /// A function that pokes this driver for as long as it exists (later
  /// calls do nothing); for hooks that may outlive it.
  [[nodiscard]] std::function<void()> poker() const;

  /// A function that calls `drain` for as long as this driver exists
  /// (later calls do nothing); what the HTTP drain route calls.
  [[nodiscard]] std::function<void()> drainer() const;

 private:
  struct shared;

  void loop();

  rebalancer_config cfg_;
  /// What the mover's continuations and the member-list hook reach: kept
  /// alive by them after the driver is gone.
  std::shared_ptr<shared> sh_;
  std::thread thread_;
};

/// Cluster mode: the rebalancer of this node on `m` (picture, state) and
/// `moves` (null until moves exist), poked on every member-list change,
/// started.
[[nodiscard]] std::unique_ptr<rebalancer>
start_rebalancer(std::shared_ptr<membership> m, std::shared_ptr<mover> moves);

/// SIGTERM in cluster mode: drains this node first, waiting up to `grace`
/// for it to own nothing, then returns (the caller stops as usual). Skips
/// the drain, logging why, when `grace` is 0, this node is the last active
/// member, or it owns tenants while moves are not available. Blocks: main
/// thread only. Returns whether the node ended drained.
bool drain_before_stop(rebalancer& r, const membership& m,
                       std::chrono::milliseconds grace);

} // namespace wi::cluster
