#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>

#include "persistence/storage.hpp"
#include "webhook_ingress/messages.hpp"

namespace wi::persistence {

/// One synced batch as the replication hook sees it (`--replicas 2`): every
/// record with its owner and sequence number, and the payloads stored or
/// deleted with them, in WAL order.
struct synced_batch {
  struct entry {
    /// The record's WAL owner (a tenant id, or `directory_owner`).
    std::string owner;
    uint64_t seq = 0;
    std::string bytes;
  };
  std::vector<entry> records;
  std::vector<payload_put> payloads;
};

/// Called on the writer's thread after each synced batch with that batch;
/// the writer answers the batch's appends only once `done` was called
/// (from any thread, exactly once), and answers batches in order. Must not
/// block.
using replication_hook =
  std::function<void(synced_batch batch, std::function<void()> done)>;

/// Limits of the WAL writer's group commit.
struct wal_writer_config {
  /// Most records written by one synced batch (an append with more records
  /// than this is written alone, never split). Default: 1024.
  size_t max_batch = 1024;
  /// Most records waiting for a batch; an append beyond it fails at once
  /// with `errc::overloaded`. Default: 65536.
  size_t max_pending = 65536;
  /// How long the WAL may grow behind its oldest needed record: once more
  /// than `max_tail_per_owner` records per owner with uncovered records lie
  /// between that record and the head, the writer asks its checkpoint
  /// listener to snapshot the owner holding the WAL back. Default: 10 000
  /// (the `--snapshot-every` default).
  uint64_t max_tail_per_owner = 10'000;
  /// The highest sequence number a stored snapshot covered at start (from
  /// recovery); reported by `stats` until the next snapshot. Default: 0.
  uint64_t recovered_snapshot_seq = 0;
  /// Called on the writer's thread after each synced batch with its record
  /// count and the seconds it took (for metrics); must not block. Default:
  /// none.
  std::function<void(size_t, double)> on_batch;
  /// Replication (docs/architecture.md, "Cluster: replication"): when set,
  /// each synced batch goes to this hook and its appends are answered only
  /// once the hook is done with it (the backup holds it, or was dropped).
  /// Default: none (answers right after the local sync).
  replication_hook replicate;
};

/// Spawns the WAL writer: a detached actor (it blocks on fsync, so it owns a
/// thread and never occupies a scheduler thread) that implements group
/// commit. Appends that arrive while a synced batch is being written queue
/// up; the next batch writes all of them (up to `max_batch`) as one
/// `WriteBatch` and then replies to each with its sequence number, in
/// arrival order. A failed batch fails every record in it with
/// `errc::storage_unavailable`. Replies from one writer to one sender keep
/// the sender's order, so each tenant's records commit in the order sent.
///
/// Retention: the writer tracks, per owner, the records its latest snapshot
/// does not cover (`wal_retention`); after each snapshot it deletes the WAL
/// below the oldest record any owner still needs. `uncovered` seeds that
/// bookkeeping with what recovery replayed past each owner's snapshot.
[[nodiscard]] wal_writer_actor spawn_wal_writer(
  caf::actor_system& sys, std::shared_ptr<storage> store,
  wal_writer_config cfg = {},
  std::unordered_map<std::string, std::vector<uint64_t>> uncovered = {});

} // namespace wi::persistence
