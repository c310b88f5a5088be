#pragma once

#include <memory>
#include <string>

#include "actors/tenant/stored_tenant.hpp"
#include "actors/tenant/tenant_actor.hpp"

namespace wi {

/// The behavior of a tenant actor that starts from its stored form. Unless
/// `stored.records` already holds the tenant's WAL records (one per
/// sequence number in `log.uncovered`), it first asks `reader` for them and
/// awaits the answer: messages sent to the actor meanwhile wait in its
/// mailbox, so the directory hands out the actor at once and never reads or
/// decodes anything itself. Then it decodes `stored` (`materialise`) on its
/// own scheduler thread and behaves as `tenant_actor_impl`.
///
/// The stored bytes passed recovery's format check at start. If they still
/// do not decode or apply (a record that cannot follow the state before it,
/// which only a bug can write), or the records cannot be read back (the
/// store failed under a running node), serving the tenant empty or partial
/// would lose acknowledged data, so the process logs the error naming the
/// tenant and record and exits with a failure status, as it would at start.
tenant_actor::behavior_type stored_tenant_actor_impl(
  tenant_actor::stateful_pointer<tenant_actor_state> self,
  std::string tenant_id, stored_tenant stored, owner_log log,
  wal_writer_actor wal, wal_reader_actor reader, uint64_t snapshot_every,
  std::shared_ptr<const delivery_settings> delivery);

} // namespace wi
