#pragma once

#include <memory>
#include <string>

#include "actors/stored_tenant.hpp"
#include "actors/tenant_actor.hpp"

namespace wi {

/// The behavior of a tenant actor that starts from its stored form: it
/// decodes `stored` (`materialise`) on its own scheduler thread when it
/// first runs, then behaves as `tenant_actor_impl`. Messages sent to it
/// before that wait in its mailbox, so the directory hands out the actor at
/// once and never decodes anything itself.
///
/// The stored bytes passed recovery's format check at start. If they still
/// do not decode or apply (a record that cannot follow the state before it,
/// which only a bug can write), serving the tenant empty or partial would
/// lose acknowledged data, so the process logs the error naming the tenant
/// and record and exits with a failure status, as it would at start.
tenant_actor::behavior_type stored_tenant_actor_impl(
  tenant_actor::stateful_pointer<tenant_actor_state> self,
  std::string tenant_id, stored_tenant stored, owner_log log,
  wal_writer_actor wal, uint64_t snapshot_every,
  std::shared_ptr<const delivery_settings> delivery);

} // namespace wi
