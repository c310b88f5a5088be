#pragma once

#include <cstddef>
#include <memory>

#include <caf/actor_system.hpp>

#include "persistence/storage.hpp"
#include "webhook_ingress/messages.hpp"

namespace wi::persistence {

/// Limits of the WAL writer's group commit.
struct wal_writer_config {
  /// Most records written by one synced batch. Default: 1024.
  size_t max_batch = 1024;
  /// Most records waiting for a batch; an append beyond it fails at once
  /// with `errc::overloaded`. Default: 65536.
  size_t max_pending = 65536;
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
/// `store` must outlive the actor.
[[nodiscard]] wal_writer_actor spawn_wal_writer(caf::actor_system& sys,
                                                std::shared_ptr<storage> store,
                                                wal_writer_config cfg = {});

} // namespace wi::persistence
