#pragma once

// What a planned move of a tenant (cluster mode) needs of a node's local
// data, and what travels between the old and the new owner. The directory
// implements `local_tenants` (actors/directory); the move coordinator
// (actors/cluster/mover) drives it and ships `tenant_export` through the
// peer layer. Neither includes the other: they meet here.

#include <cstdint>
#include <functional>
#include <future>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

namespace wi {

/// A tenant's whole state as it leaves its old owner: enough for the new
/// owner to serve it exactly as the old one did (registry entry, endpoints,
/// statistics, events, pending deliveries and their payloads). Crosses the
/// wire.
struct tenant_export {
  std::string tenant_id;
  /// The tenant's registry entry (name, token hashes and grace, active
  /// flag, limits), in the directory's own encoding.
  std::string registry;
  /// The tenant's state, `encode_snapshot(tenant_state)`.
  std::string snapshot;
  /// Every stored payload of the tenant: (payload key, bytes).
  std::vector<std::pair<std::string, std::string>> payloads;

  /// Bytes of state carried (registry + snapshot + payload keys and values).
  [[nodiscard]] uint64_t size_bytes() const noexcept {
    uint64_t n = registry.size() + snapshot.size();
    for (const auto& [k, v] : payloads)
      n += k.size() + v.size();
    return n;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tenant_export& x) {
  return f(caf::meta::type_name("wi_tenant_export"), x.tenant_id, x.registry,
           x.snapshot, x.payloads);
}

/// The local steps of a move, as the move coordinator calls them. Every
/// function returns at once (one message send) and calls its continuation
/// exactly once, from any thread; continuations must not block.
///
/// Contract of the steps (the coordinator calls them in this order):
/// - old owner: `freeze` -> (ship, new owner imports and commits) ->
///   `release_to` on success, or `thaw` on abort;
/// - new owner: `import` -> (etcd commit) -> `activate` on success, or
///   `discard` when the commit did not take;
/// - at start, for every tenant held here that the placement map gives to
///   another node: `discard` (a stale copy: an old owner's copy a crash kept,
///   or an import whose commit never happened).
struct local_tenants {
  /// Old owner. From now on the tenant's new requests wait (parked, bounded
  /// in count and time) instead of reaching its actor; the actor finishes
  /// what it already had (including its pending WAL commits), stops its
  /// deliveries and timers, and its state is read. Delivery attempts in
  /// flight are not waited for: their outcomes are dropped here and the new
  /// owner attempts them again (at least once, same `webhook-id`). Fails
  /// with `errc::not_found` for a tenant not held (running) here.
  std::function<void(std::string tenant,
                     std::function<void(caf::expected<tenant_export>)>)>
    freeze;

  /// Old owner, after an aborted move: the tenant serves again from the
  /// state it froze with; parked requests run here.
  std::function<void(std::string tenant, std::function<void(caf::error)>)> thaw;

  /// Old owner, after the commit: parked requests are handed back to the
  /// HTTP layer to go to the new owner `to` (through the peer layer), then
  /// the local copy is deleted as by `discard`.
  std::function<void(std::string tenant, std::string to,
                     std::function<void(caf::error)>)>
    release_to;

  /// New owner: writes `x` durably in one synced batch (registry entry,
  /// state, payloads), recording `epoch`; the tenant is held but not served
  /// until `activate`. Replaces an earlier, uncommitted copy of the same
  /// tenant.
  std::function<void(tenant_export x, uint64_t epoch,
                     std::function<void(caf::error)>)>
    import;

  /// New owner, after the commit: the tenant serves here (its actor starts,
  /// its pending deliveries resume).
  std::function<void(std::string tenant, uint64_t epoch,
                     std::function<void(caf::error)>)>
    activate;

  /// Deletes the local copy of a tenant this node does not own: a durable
  /// record first (so recovery forgets the tenant), then its snapshot and
  /// payloads. Unlike a purge, the tenant id is not tombstoned: the tenant
  /// lives on elsewhere and may come back.
  std::function<void(std::string tenant, std::function<void(caf::error)>)>
    discard;
};

/// Calls `step` with a `caf::error` continuation (one of the steps above,
/// bound to its arguments) and waits for its answer. Blocks: for the
/// start-up reconcile on the main thread, never on an actor's thread.
template <class Step>
[[nodiscard]] caf::error wait_for_step(Step step) {
  std::promise<caf::error> done;
  auto answer = done.get_future();
  step([&done](caf::error err) { done.set_value(std::move(err)); });
  return answer.get();
}

} // namespace wi
