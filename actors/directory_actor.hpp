#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/directory_state.hpp"
#include "actors/tenant_table.hpp"
#include "webhook_ingress/messages.hpp"

namespace wi {

/// State of the directory actor.
struct directory_actor_state {
  /// The tenant registry as durably applied.
  directory_state data;
  /// Recovered tenant states whose actor has not been spawned yet.
  std::unordered_map<std::string, tenant_state> dormant;
  /// Running tenant actors (linked to the directory).
  std::unordered_map<std::string, tenant_actor> running;
  wal_writer_actor wal;
  /// The routing view this actor publishes for the HTTP handlers.
  std::shared_ptr<tenant_table> table;

  static inline const char* name = "wi.directory";
};

/// Spawns the directory actor over the recovered `node`. Before it returns,
/// `table` holds an entry for every tenant of `node`, so handlers may use the
/// table as soon as this returns.
///
/// The directory owns the tenant registry: it registers tenants (durably,
/// through `wal`), lists them, and spawns each tenant's actor on first use,
/// handing it the tenant's recovered state. Tenant actors are linked to it:
/// the directory's exit ends them.
[[nodiscard]] directory_actor
spawn_directory(caf::actor_system& sys, node_state node, wal_writer_actor wal,
                std::shared_ptr<tenant_table> table);

} // namespace wi
