#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

#include <caf/error.hpp>

#include "webhook_ingress/messages.hpp"

namespace wi {

/// Where a WAL owner's actor (a tenant, or the directory) stands in the WAL:
/// the one commit → apply → snapshot cadence both of them follow. A record
/// is applied only after the WAL writer confirmed it (`wal_commit`); each
/// applied record counts towards the next snapshot.
struct commit_log {
  /// Sequence number of the last record applied.
  uint64_t last_seq = 0;
  /// Records applied since the last snapshot was sent to the writer.
  uint64_t uncovered = 0;
  /// Write a snapshot after this many records (at least 1). Default: 10 000.
  uint64_t snapshot_every = 10'000;

  /// A log that starts at `last`, with `pending` records not covered by a
  /// snapshot, and snapshots every `every` records (0 counts as 1).
  [[nodiscard]] static commit_log starting_at(uint64_t last, uint64_t pending,
                                              uint64_t every) noexcept {
    return {last, pending, std::max<uint64_t>(every, 1)};
  }

  /// Notes that the record with sequence number `seq` was applied; returns
  /// whether a snapshot is due now.
  [[nodiscard]] bool applied(uint64_t seq) noexcept {
    last_seq = seq;
    return ++uncovered >= snapshot_every;
  }

  /// Notes that a snapshot covering `last_seq` is on its way to the writer.
  void snapshot_sent() noexcept { uncovered = 0; }
};

/// Sends `req` to the WAL writer `wal` on behalf of `self`; calls
/// `on_durable(first_seq)` once its batch is synced (record `i` of `req` has
/// sequence number first_seq + `i`), or `on_error(err)` if nothing was
/// written. The only path by which the tenant and directory actors write
/// records.
template <class Self, class OnDurable, class OnError>
void wal_commit(Self* self, const wal_writer_actor& wal, wal_append req,
                OnDurable on_durable, OnError on_error) {
  self->request(wal, caf::infinite, append_atom::value, std::move(req))
    .then(std::move(on_durable),
          [on_error = std::move(on_error)](caf::error& err) mutable {
            on_error(std::move(err));
          });
}

} // namespace wi
