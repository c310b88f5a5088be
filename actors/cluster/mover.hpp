#pragma once

// The move coordinator: drives planned moves of tenants between nodes
// (docs/cluster.md, "Moves"). It implements `cluster::mover` for this node
// as the old owner (one `move_machine` per move, at most
// `max_concurrent` at once, the rest queued) and takes incoming offers as
// the new owner (import, commit in etcd, activate or discard).
//
// Threads: the coordinator owns a small pool of its own threads
// (`move_runner`) for every blocking etcd call and every timer; the
// `local_tenants` steps and the peer layer are asynchronous and call back
// from their own threads. Nothing here runs on, or blocks, a CAF scheduler
// or RESTinio I/O thread: the public functions only take a mutex and send.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/cluster/move_machine.hpp"
#include "actors/cluster/peer.hpp"
#include "webhook_ingress/cluster.hpp"
#include "webhook_ingress/transfer.hpp"

namespace wi::cluster {

/// Runs blocking work and timers off the actor and I/O threads.
class move_runner {
 public:
  virtual ~move_runner() = default;
  /// Runs `fn` soon on a runner thread (it may block on etcd).
  virtual void post(std::function<void()> fn) = 0;
  /// Runs `fn` on a runner thread once `delay` has passed.
  virtual void post_after(std::chrono::milliseconds delay,
                          std::function<void()> fn) = 0;
};

/// A `move_runner` on `threads` threads of its own; `stop` (or the
/// destructor) drops what is still queued and joins them.
class thread_runner final : public move_runner {
 public:
  explicit thread_runner(size_t threads = 2);
  ~thread_runner() override;
  thread_runner(const thread_runner&) = delete;
  thread_runner& operator=(const thread_runner&) = delete;

  void post(std::function<void()> fn) override;
  void post_after(std::chrono::milliseconds delay,
                  std::function<void()> fn) override;
  void stop();

 private:
  using clock = std::chrono::steady_clock;
  void loop();

  std::mutex mtx_;
  std::condition_variable cv_;
  std::multimap<clock::time_point, std::function<void()>> due_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

/// What the coordinator needs of etcd; both block (runner threads only).
struct move_store {
  /// A linearizable read of the tenant's placement key (nothing: missing).
  std::function<caf::expected<std::optional<placement_record>>(
    const std::string& tenant)>
    read;
  /// Puts `{owner, epoch}` at the tenant's key if its `mod_revision` is
  /// still `expected`: whether it did.
  std::function<caf::expected<bool>(const std::string& tenant, int64_t expected,
                                    const std::string& owner, uint64_t epoch)>
    swap;
};

/// Everything the coordinator talks to.
struct mover_deps {
  /// This node's local data (the directory).
  local_tenants local;
  move_store store;
  /// The cached view (members, placements, readiness); never blocks.
  std::shared_ptr<const control> cluster;
  /// Records a placement in this node's cache at once (the membership's
  /// `note_placement`).
  std::function<void(const std::string& tenant, const placement&)>
    note_placement;
  /// Sends an offer to the peer at a `host:port` address (the forwarder's
  /// `peer_move_atom`); never blocks.
  std::function<void(std::string peer, move_offer, move_done)> ship;
  /// Tells the peer at an address to discard its copy (best effort).
  std::function<void(std::string peer, std::string tenant, uint64_t epoch)>
    tell_discard;
  /// Runs the blocking calls and timers.
  std::shared_ptr<move_runner> runner;
};

/// Settings of the coordinator.
struct mover_config {
  move_timing timing;
  /// Moves this node runs at once as the old owner; more are queued.
  /// Default 4.
  size_t max_concurrent = 4;
  /// The clock of durations; default `std::chrono::steady_clock::now`.
  std::function<std::chrono::steady_clock::time_point()> clock;
  /// A file (in the data directory) listing the tenants this node froze
  /// for a move that has not ended, written durably before each freeze;
  /// `reconcile_at_start` fences them. Empty: no journal (tests).
  std::string journal_path;
  /// Test-only fault hook: `move:<step>:<role>` makes the process
  /// `_exit(137)` at that step (see docs/cluster.md, "Moves"); empty: never.
  std::string crash_at;
};

/// The coordinator (see the file comment).
class move_coordinator final : public mover {
 public:
  move_coordinator(mover_config cfg, mover_deps deps);
  ~move_coordinator() override;
  move_coordinator(const move_coordinator&) = delete;
  move_coordinator& operator=(const move_coordinator&) = delete;

  // -- mover ------------------------------------------------------------------

  void move(std::string tenant, std::string to,
            std::function<void(caf::error)> done) override;
  std::vector<move_info> under_way() const override;
  uint64_t moves_done() const override;

  // -- the new owner's side (the peer actor's `move_handlers`) --------------

  /// Takes an offer: import, commit in etcd (guarded by the offer's
  /// `mod_revision`), then activate or discard; `reply` says whether this
  /// node owns the tenant now. Never blocks.
  void accept(move_offer offer, std::function<void(move_reply)> reply);

  /// The old owner aborted a move to this node: discard the copy if etcd
  /// confirms another node owns the tenant (runs on a runner thread).
  void discard_copy(std::string tenant, uint64_t epoch);

  /// At start in cluster mode (after `join`, before serving; blocks: main
  /// thread only). For every tenant of `held` (held here) whose placement
  /// names another node: `discard` (a stale copy). For every tenant the
  /// journal lists (a move from here was under way when this node stopped)
  /// whose placement still names this node: move its key on (this node,
  /// epoch + 1, guarded by its mod_revision) so that the commit of that
  /// move, if still in flight, can never land; if it landed first, discard.
  /// For every tenant of `incoming` (imported here by a move, not
  /// activated when this node stopped; each with its import's epoch, and
  /// also in `held`): `activate` if the placement names this node (the
  /// move's commit took), else `discard` (no key either: the old owner
  /// claims it again). Until then the directory serves none of them.
  /// Returns how many copies were discarded.
  [[nodiscard]] caf::expected<size_t> reconcile_at_start(
    const std::vector<std::string>& held,
    const std::vector<std::pair<std::string, uint64_t>>& incoming = {});

  /// The peer layer's handlers bound to this coordinator.
  [[nodiscard]] move_handlers handlers();

  // -- metrics
  // -------------------------------------------------------------------

  /// Moves that ended aborted here as the old owner.
  [[nodiscard]] uint64_t moves_aborted() const;

  /// The Prometheus text: `webhook_ingress_cluster_moves_total{result}`,
  /// `webhook_ingress_cluster_move_duration_seconds` (histogram, old owner,
  /// freeze to release), `webhook_ingress_cluster_move_bytes_total` (state
  /// shipped by moves that committed),
  /// `webhook_ingress_cluster_moves_under_way`.
  [[nodiscard]] std::string metrics_text() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

/// Reads the fault hook `WEBHOOK_INGRESS_TEST_CRASH_AT` (test only).
[[nodiscard]] std::string crash_hook_from_environment();

} // namespace wi::cluster
