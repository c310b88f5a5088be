#pragma once

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/directory_state.hpp"
#include "actors/tenant_state.hpp"
#include "webhook_ingress/messages.hpp"

namespace wi {

/// State of a running tenant actor.
struct tenant_actor_state {
  /// The tenant's data as durably applied; changed only by `apply` after the
  /// WAL writer confirmed the record.
  tenant_state data;
  /// The next identifier to hand out. It runs ahead of `data.last_id` while
  /// creates wait for their sync; an identifier whose write failed is never
  /// shown to anyone, so skipping it is harmless.
  endpoint_id next_id = 1;
  /// Where records go to become durable.
  wal_writer_actor wal;
  /// Sequence number of the last record applied to `data`.
  uint64_t last_seq = 0;
  /// Records applied since the last snapshot was sent to the writer.
  uint64_t uncovered = 0;
  /// Write a snapshot after this many records. Default: 10 000.
  uint64_t snapshot_every = 10'000;

  static inline const char* name = "wi.tenant";
};

/// The behavior of a tenant actor (see `tenant_actor` in messages.hpp).
///
/// Every mutation becomes a WAL record that is sent to `wal`; only when the
/// writer confirms the synced write is the record applied to `data` and the
/// caller answered. A failed write answers the error and applies nothing.
/// Records reach the writer, and their confirmations come back, in mailbox
/// order, so state changes apply in the order requests arrived. Reads
/// answer from `data` at once. Every `reply_fn` is called exactly once.
///
/// Snapshots: after `snapshot_every` applied records, and whenever asked
/// (`checkpoint_atom`), the actor sends its whole state to the WAL writer,
/// covering every record up to `last_seq`; records still waiting for their
/// sync are not in it and stay in the WAL.
///
/// `log` is where recovery left this tenant in the WAL.
tenant_actor::behavior_type
tenant_actor_impl(tenant_actor::stateful_pointer<tenant_actor_state> self,
                  tenant_state init, owner_log log, wal_writer_actor wal,
                  uint64_t snapshot_every);

} // namespace wi
