#pragma once

// The backup's durable copy of other nodes' tenants (`--replicas 2`,
// docs/architecture.md, "Cluster: replication"): its own RocksDB under
// `<data dir>/replica`, apart from the node's own store, so that a node's
// recovery never takes another node's tenants for its own. Every write is
// one synced `WriteBatch`.
//
// Per tenant it keeps the owner's epoch, a base (the tenant as a move
// exports it: registry entry and snapshot, covering the owner's WAL up to
// `covered_seq`), the owner's records after the base keyed by the owner's
// WAL sequence, and the tenant's payloads. Rebuilding a tenant is its base,
// then its records in order.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

namespace wi::persistence {

/// One tenant's share of one synced WAL batch of its owner. Crosses the wire
/// (inside a replication message).
struct replica_slice {
  std::string tenant;
  /// The placement epoch the owner holds the tenant under.
  uint64_t epoch = 0;
  /// The owner's WAL sequence of the tenant's record before `records`'
  /// first (0: none since the owner's first): lets the backup see a gap.
  uint64_t prev_seq = 0;
  /// (owner's WAL sequence, encoded record), ascending.
  std::vector<std::pair<uint64_t, std::string>> records;
  /// Payloads stored in the same batch: (payload key, bytes).
  std::vector<std::pair<std::string, std::string>> payloads;
  /// Payload keys deleted in the same batch.
  std::vector<std::string> erased_payloads;

  /// Record and payload bytes carried (for metrics).
  [[nodiscard]] uint64_t size_bytes() const noexcept {
    uint64_t n = 0;
    for (const auto& [seq, bytes] : records)
      n += bytes.size();
    for (const auto& [k, v] : payloads)
      n += k.size() + v.size();
    return n;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_slice& x) {
  return f(caf::meta::type_name("wi_replica_slice"), x.tenant, x.epoch,
           x.prev_seq, x.records, x.payloads, x.erased_payloads);
}

/// A tenant's base on the backup: its whole state as of the owner's WAL
/// sequence `covered_seq`. Crosses the wire.
struct replica_base {
  std::string tenant;
  uint64_t epoch = 0;
  uint64_t covered_seq = 0;
  /// The registry entry, in the directory's encoding (as a move exports it).
  std::string registry;
  /// `encode_snapshot(tenant_state)`.
  std::string snapshot;
  /// Every stored payload of the tenant: (payload key, bytes).
  std::vector<std::pair<std::string, std::string>> payloads;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_base& x) {
  return f(caf::meta::type_name("wi_replica_base"), x.tenant, x.epoch,
           x.covered_seq, x.registry, x.snapshot, x.payloads);
}

/// What became of one slice.
enum class slice_result : uint8_t {
  /// Durable (records the store already had were skipped).
  stored,
  /// Refused: the store holds the tenant under a newer epoch (the sender
  /// is fenced).
  stale_epoch,
  /// Durable, but records between what the store held and this slice are
  /// missing: the copy is not complete until a new base.
  gap,
};

/// Where the store's copy of one tenant stands.
struct replica_info {
  uint64_t epoch = 0;
  /// Whether a base is stored.
  bool has_base = false;
  /// The owner's sequence the base covers (0 without a base).
  uint64_t covered_seq = 0;
  /// The owner's sequence of the newest record or base held.
  uint64_t last_seq = 0;
  /// Records held past the base.
  uint64_t records = 0;
  /// Whether base and records hold every record of the tenant up to
  /// `last_seq` (no gap): the copy can rebuild the tenant.
  bool complete = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_info& x) {
  return f(caf::meta::type_name("wi_replica_info"), x.epoch, x.has_base,
           x.covered_seq, x.last_seq, x.records, x.complete);
}

/// Everything the store holds of one tenant, to rebuild it.
struct replica_copy {
  replica_info info;
  replica_base base;
  /// Records past the base, ascending by the owner's sequence.
  std::vector<std::pair<uint64_t, std::string>> records;
};

/// The backup's store. Thread-safe (one mutex); every call blocks on disk,
/// so only a detached actor or a test calls it.
class replica_store {
 public:
  struct impl;

  explicit replica_store(std::unique_ptr<impl> x);
  ~replica_store();
  replica_store(const replica_store&) = delete;
  replica_store& operator=(const replica_store&) = delete;

  /// Writes every slice that is not stale as one synced batch and returns
  /// one result per slice (same order). A slice of a newer epoch than held
  /// first forgets everything held of its tenant (a new owner's sequence
  /// numbers are unrelated to the old one's). Fails with
  /// `errc::storage_unavailable` (nothing written) when the write failed.
  [[nodiscard]] caf::expected<std::vector<slice_result>>
  write(const std::vector<replica_slice>& slices);

  /// Stores `base` (synced) as the tenant's base: records up to its
  /// `covered_seq` go, later ones stay. Fails with
  /// `errc::tenant_unavailable` for an epoch older than held.
  [[nodiscard]] caf::expected<replica_info> put_base(const replica_base& base);

  /// Where the copy of `tenant` stands; nothing if none is held.
  [[nodiscard]] std::optional<replica_info> info(std::string_view tenant) const;

  /// Reads the whole copy of `tenant`; nothing if none is held.
  [[nodiscard]] caf::expected<std::optional<replica_copy>>
  read(std::string_view tenant) const;

  /// Deletes everything held of `tenant` (synced).
  [[nodiscard]] caf::error drop(std::string_view tenant);

  /// The tenants held, ordered by id.
  [[nodiscard]] std::vector<std::string> tenants() const;

 private:
  std::unique_ptr<impl> impl_;
};

/// Opens (creating if needed) the replica store in `dir`. Fails with
/// `errc::storage_unavailable` or `errc::corrupt_data` naming `dir`.
[[nodiscard]] caf::expected<std::unique_ptr<replica_store>>
open_replica_store(const std::string& dir);

} // namespace wi::persistence
