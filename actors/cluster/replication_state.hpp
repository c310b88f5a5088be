#pragma once

// Replication decisions as pure functions (docs/architecture.md, "Cluster:
// replication"): which node is a tenant's backup, and where one tenant's
// replication stands on its owner. No I/O; time comes in as `now`, so tests
// drive it with a fake clock.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wi::cluster {

/// The backup of `tenant_id` owned by `owner`: the first node after the
/// owner in the tenant's rendezvous order over `candidates` (the active
/// members), i.e. the highest `rendezvous_score` among the candidates other
/// than `owner`. Nothing when no other candidate exists. Every node computes
/// the same answer.
[[nodiscard]] std::optional<std::string>
choose_backup(std::string_view tenant_id, std::string_view owner,
              const std::vector<std::string>& candidates);

/// Where one tenant's second copy stands, on its owner.
enum class replica_phase {
  /// No backup holds the tenant (one copy): `--replicas 1`, no candidate,
  /// or the backup was dropped (under-replicated when a candidate exists).
  alone,
  /// A backup receives the tenant's base and live batches; the placement
  /// key does not name it yet and no write waits for it.
  filling,
  /// The placement key names the backup; every write waits for it.
  in_sync,
  /// The backup did not answer in time: the owner is removing it from the
  /// placement key; writes waiting on it stay held until etcd took that.
  dropping,
};

/// The lower-case name used in admin answers (`alone`, `filling`,
/// `in_sync`, `dropping`).
[[nodiscard]] std::string_view to_string(replica_phase phase) noexcept;

/// What the owner should do next for one tenant (`replica_tracker::next`).
enum class replica_step {
  /// Nothing to do now.
  none,
  /// Start filling the wanted backup (`replica_tracker::fill_started`).
  start_fill,
  /// Give up the fill under way (too slow, or another backup is wanted);
  /// the key never named it, so nothing changes in etcd.
  abandon_fill,
  /// The backup holds everything: write it into the placement key
  /// (`joined` once etcd took it).
  join,
  /// The backup is overdue or no longer a candidate: remove it from the
  /// placement key (`drop_started`, then `dropped` once etcd took it).
  drop,
};

/// One tenant's replication on its owner: the phase, the backup, and what
/// was shipped to it and acknowledged. Counts are records of this tenant
/// (the owner's WAL sequence numbers are node-wide, so they do not count a
/// tenant's records). Plain data: the replicator owns one per tenant.
struct replica_tracker {
  using time_point = std::chrono::steady_clock::time_point;

  replica_phase phase = replica_phase::alone;
  /// The node filled or in the key; empty while `alone`.
  std::string backup;
  /// Records shipped to `backup` since it was chosen.
  uint64_t sent = 0;
  /// Records `backup` acknowledged as durable (at most `sent`).
  uint64_t acked = 0;
  /// Whether `backup` acknowledged the tenant's base (snapshot).
  bool base_acked = false;
  /// Batches shipped and not acknowledged: (value of `sent` once the batch
  /// is acknowledged, when it was sent), oldest first.
  std::deque<std::pair<uint64_t, time_point>> in_flight;
  /// When the base was sent (the fill's clock), if it was.
  std::optional<time_point> base_sent_at;

  /// Records the owner holds that the backup has not acknowledged.
  [[nodiscard]] uint64_t lag() const noexcept { return sent - acked; }

  /// Whether the oldest unanswered shipment (batch or base) is older than
  /// `timeout` at `now`.
  [[nodiscard]] bool overdue(time_point now,
                             std::chrono::milliseconds timeout) const noexcept;

  /// The next step given the backup placement would choose now (`wanted`,
  /// see `choose_backup`), whether the current `backup` is still an active
  /// member, `now` and the bounded wait `timeout`. An in-sync backup that is
  /// still active stays even when a join made another node the first
  /// candidate (no churn of second copies on joins).
  [[nodiscard]] replica_step next(const std::optional<std::string>& wanted,
                                  bool backup_active, time_point now,
                                  std::chrono::milliseconds timeout) const;

  /// A batch of `records` records of the tenant was shipped at `now`.
  void on_sent(uint64_t records, time_point now);

  /// The backup acknowledged every batch up to `upto` records (a value of
  /// `sent` it was shipped with); older acknowledgements are ignored.
  void on_acked(uint64_t upto) noexcept;

  /// The base was shipped at `now`.
  void on_base_sent(time_point now) noexcept;

  /// The backup acknowledged the base.
  void on_base_acked() noexcept;

  /// Starts filling `node` (from `alone`): counts start at zero.
  void fill_started(std::string node);

  /// The placement key names the backup now (from `filling`).
  void joined() noexcept;

  /// Removing the backup from the key is under way (from `in_sync`).
  void drop_started() noexcept;

  /// The key no longer names a backup, or the fill was abandoned: `alone`.
  void dropped() noexcept;
};

} // namespace wi::cluster
