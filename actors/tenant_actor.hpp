#pragma once

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

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
tenant_actor::behavior_type
tenant_actor_impl(tenant_actor::stateful_pointer<tenant_actor_state> self,
                  tenant_state init, wal_writer_actor wal);

} // namespace wi
