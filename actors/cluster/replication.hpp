#pragma once

// The backup's side of replication (`--replicas 2`, docs/architecture.md,
// "Cluster: replication"): the messages an owner sends a backup node, and
// the replica keeper, the detached actor that writes them to the node's
// replica store with group commit. The owner's side (the WAL writer's
// replication hook, the per-tenant `replica_tracker`s, the placement key's
// `backup`) builds on these.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "persistence/replica_store.hpp"

namespace wi::cluster {

/// One synced WAL batch of an owner, as far as it concerns one backup node:
/// a slice per tenant that node backs up. Crosses the wire.
struct replica_batch {
  /// The owner's node id.
  std::string from;
  std::vector<persistence::replica_slice> slices;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_batch& x) {
  return f(caf::meta::type_name("wi_replica_batch"), x.from, x.slices);
}

/// The backup's answer once a batch is durable in its replica store: one
/// result per slice, in order. Crosses the wire.
struct replica_ack {
  /// `persistence::slice_result` values as bytes (CAF 0.17's deserializer
  /// reads vectors of enums into uninitialized values; bytes are exact).
  std::vector<uint8_t> results;

  /// An ack of `xs`.
  [[nodiscard]] static replica_ack
  of(const std::vector<persistence::slice_result>& xs) {
    replica_ack ack;
    ack.results.reserve(xs.size());
    for (auto x : xs)
      ack.results.push_back(static_cast<uint8_t>(x));
    return ack;
  }

  /// The results, decoded; a value this build does not know counts as a
  /// gap (the copy is not trusted).
  [[nodiscard]] std::vector<persistence::slice_result> decoded() const {
    std::vector<persistence::slice_result> xs;
    xs.reserve(results.size());
    for (auto x : results)
      xs.push_back(x <= static_cast<uint8_t>(persistence::slice_result::gap)
                     ? static_cast<persistence::slice_result>(x)
                     : persistence::slice_result::gap);
    return xs;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_ack& x) {
  return f(caf::meta::type_name("wi_replica_ack"), x.results);
}

using replicate_atom = caf::atom_constant<caf::atom("replicate")>;
using replica_base_atom = caf::atom_constant<caf::atom("replbase")>;

/// The replica keeper's interface:
/// - `(replicate, batch)`: answers once the batch is durable (synced) in the
///   replica store, with one result per slice; `errc::storage_unavailable`
///   when the write failed (nothing of it is durable) and
///   `errc::tenant_unavailable` for a batch from a node about a tenant this
///   node owns (never stored: a copy must live on another node).
/// - `(replica_base, base)`: stores a tenant's base (synced); answers where
///   the copy stands, or the store's error.
using replica_actor = caf::typed_actor<
  caf::replies_to<replicate_atom, replica_batch>::with<replica_ack>,
  caf::replies_to<replica_base_atom,
                  persistence::replica_base>::with<persistence::replica_info>>;

/// Settings of the replica keeper.
struct replica_keeper_config {
  /// Whether this node owns the tenant now (its placement map); such slices
  /// are refused. Unset: none are refused. Called on the keeper's thread;
  /// must not block.
  std::function<bool(std::string_view tenant)> owns;
  /// Most slices written by one synced batch; a batch (message) is never
  /// split. Default: 1024.
  size_t max_slices = 1024;
  /// Called after each synced write with the bytes written (metrics).
  std::function<void(uint64_t)> on_write;
};

/// Spawns the keeper: a detached actor (it blocks on fsync) writing to
/// `store`. Group commit like the WAL writer's: every batch that arrived
/// while one synced write ran goes into the next write, so the backup's disk
/// batches as the owners' load grows.
[[nodiscard]] replica_actor
spawn_replica_keeper(caf::actor_system& sys,
                     std::shared_ptr<persistence::replica_store> store,
                     replica_keeper_config cfg = {});

/// Registers the replication types that cross the wire (both sides of a
/// cluster need them), before the actor system starts.
void configure_replication(caf::actor_system_config& cfg);

} // namespace wi::cluster
