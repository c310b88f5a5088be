#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/common/wal_commit.hpp"
#include "actors/directory/directory_state.hpp"
#include "actors/directory/tenant_table.hpp"
#include "actors/tenant/tenant_actor.hpp"
#include "webhook_ingress/messages.hpp"

namespace wi {

/// A recovered tenant, decoded, whose actor has not been spawned yet: its
/// state and where it stands in the WAL.
struct dormant_tenant {
  tenant_state data;
  owner_log log;
};

/// A recovered tenant still in its stored form (snapshot bytes and record
/// sequence numbers; its actor decodes it), and where it stands in the WAL.
struct stored_slot {
  stored_tenant data;
  owner_log log;
};

/// A tenant whose actor runs (linked to the directory); the actor owns the
/// tenant's state and WAL position.
struct running_tenant {
  tenant_actor actor;
};

/// A tenant frozen for a planned move (this node is the old owner): its
/// actor, frozen (it refuses mutations), and the state it froze with once
/// it answered. Its requests park in the routing table. Ends by `thaw`
/// (-> dormant) or `release_to` / `discard` (gone).
struct moving_tenant {
  tenant_actor actor;
  std::optional<frozen_tenant> frozen;
};

/// A tenant a planned move imported here (this node is the new owner):
/// durable, not served (its requests park in the routing table, it is not
/// in admin views, its actor does not run, its deliveries wait) until
/// `activate` (-> dormant or stored) or `discard` (gone). Its registry entry
/// says `incoming` until the `tenant_activated` record, so a restart keeps
/// it here, in its stored form, for the start-up reconcile to decide.
struct incoming_tenant {
  /// Its state: decoded (imported while this node ran) or stored (found so
  /// at start; its actor decodes it once activated).
  std::variant<dormant_tenant, stored_slot> held;
  /// The placement epoch the import recorded.
  uint64_t epoch = 0;
  /// A `tenant_activated` record is on its way to the WAL.
  bool activating = false;
};

/// Everything the directory holds of one tenant: exactly one of its forms,
/// so "in at most one place" holds by construction. A tenant moves
/// stored -> running or dormant -> running when its actor is spawned;
/// planned moves add running -> moving -> dormant (thaw) or gone (release),
/// and incoming -> dormant or stored (activate) or gone (discard).
using tenant_slot = std::variant<stored_slot, dormant_tenant, running_tenant,
                                 moving_tenant, incoming_tenant>;

/// The directory's tenant slots, by tenant id.
using tenant_slots = std::unordered_map<std::string, tenant_slot,
                                        transparent_hash, std::equal_to<>>;

/// State of the directory actor.
struct directory_actor_state {
  /// The tenant registry as durably applied.
  directory_state data;
  /// What the directory holds of each tenant, one slot per tenant id (see
  /// `tenant_slot`). A registered tenant without a slot owns nothing yet.
  tenant_slots tenants;
  /// Where the directory's own records stand, and the snapshot cadence (for
  /// the directory and every tenant actor it spawns).
  commit_log log;
  /// Handed to every tenant actor; null disables deliveries.
  std::shared_ptr<const delivery_settings> delivery;
  wal_writer_actor wal;
  /// Reads stored tenants' WAL records back (warm-up; each stored tenant's
  /// actor reads its own when started before warm-up reached it).
  wal_reader_actor reader;
  /// The routing view this actor publishes for the HTTP handlers.
  std::shared_ptr<tenant_table> table;
  /// True while an `expire_atom` timer is on its way (parked requests).
  bool expiry_scheduled = false;

  static inline const char* name = "wi.directory";
};

/// Spawns the directory actor over the recovered `node`. Before it returns,
/// `table` holds an entry for every tenant of `node`, so handlers may use the
/// table as soon as this returns, and the directory is registered as the
/// WAL writer's checkpoint listener.
///
/// The directory owns the tenant registry: it registers tenants (durably,
/// through `wal`), lists them, and spawns each tenant's actor on first use,
/// handing it the tenant's recovered state. Tenant actors are linked to it:
/// the directory's exit ends them.
///
/// Snapshots: the directory snapshots its registry every `snapshot_every`
/// registrations; each tenant actor does the same for its records. When the
/// WAL writer asks (`checkpoint_atom`), the directory snapshots the named
/// owner: itself, a dormant tenant (whose state it holds), or a running
/// tenant (by asking its actor). `shutdown_atom` snapshots everything that
/// has uncovered records and answers once all of it is durable.
///
/// Tenants with pending deliveries are spawned at once (their deliveries
/// resume); all others on first use. A tenant still in its stored form is
/// decoded by its own actor when that starts (`stored_tenant_actor_impl`),
/// never by the directory; to snapshot one, the directory starts it.
///
/// `reader` reads the WAL records of stored tenants back; it may be null
/// only if no tenant of `node` is stored with records past its snapshot.
[[nodiscard]] directory_actor
spawn_directory(caf::actor_system& sys, node_state node, wal_writer_actor wal,
                std::shared_ptr<tenant_table> table,
                uint64_t snapshot_every = 10'000,
                std::shared_ptr<const delivery_settings> delivery = nullptr,
                wal_reader_actor reader = {});

} // namespace wi
