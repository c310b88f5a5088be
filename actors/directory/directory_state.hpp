#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/error.hpp>

#include "actors/common/owner_log.hpp"
#include "actors/tenant/stored_tenant.hpp"
#include "actors/tenant/tenant_state.hpp"
#include "webhook_ingress/admin.hpp"
#include "webhook_ingress/domain.hpp"
#include "webhook_ingress/records.hpp"
#include "webhook_ingress/state.hpp"

namespace wi {

/// Applies a registry record (`is_directory_record`): `tenant_created`,
/// `token_issued`, `tenant_deactivated`, `tenant_purged`, and for planned
/// moves `tenant_imported` (takes the entry with its epoch, replacing an
/// earlier import) and `tenant_moved_out` (removes the entry, no
/// tombstone). Pure and deterministic like the tenant `apply`. A duplicate
/// tenant id, a record for an unknown or purged tenant, an import of a
/// purged or foreign entry, and any tenant-level record are
/// `errc::corrupt_data`.
[[nodiscard]] caf::error apply(directory_state& st, const record& rec);

/// Returns whether `tenant_id` is a purged tenant's tombstone.
[[nodiscard]] bool is_purged(const directory_state& st,
                             std::string_view tenant_id);

/// Returns the admin view of a tenant (never its token).
[[nodiscard]] tenant_info info_of(const tenant_entry& x);

/// Adds the registry's fields of `entry` to `summary`.
void add_registry_fields(tenant_summary& summary, const tenant_entry& entry);

/// Recovered tenants in their stored form, by tenant id.
using stored_tenants = std::unordered_map<std::string, stored_tenant,
                                          transparent_hash, std::equal_to<>>;

/// The whole node's state as rebuilt from snapshots and the WAL: the
/// registry, each tenant's state (decoded, or still stored), where each
/// owner stands in the WAL, and the sequence number of the last record read.
struct node_state {
  directory_state directory;
  /// Decoded tenant states.
  std::unordered_map<std::string, tenant_state> tenants;
  /// Tenants not decoded yet (`load_node`); a tenant is in at most one of
  /// `tenants` and `stored`. A registered tenant in neither owns nothing.
  stored_tenants stored;
  /// By owner: tenant id or `directory_owner`. Filled by recovery only.
  owner_logs logs;
  uint64_t last_sequence = 0;
  /// The highest sequence number any loaded snapshot covers; 0 if none.
  uint64_t last_snapshot_sequence = 0;

  friend bool operator==(const node_state&, const node_state&) = default;
};

/// Applies any record to the node state, dispatching to the directory's or
/// the owning tenant's `apply` (the same functions the actors use live). A
/// tenant record for an unknown tenant is `errc::corrupt_data`; one for a
/// purged tenant is skipped (its records stay in the WAL until truncation),
/// and `tenant_purged` and `tenant_moved_out` drop the tenant's state;
/// `tenant_imported` starts it over (its `tenant_state_imported` follows). The
/// rvalue overload moves the record's strings into the state (recovery).
[[nodiscard]] caf::error apply(node_state& st, const record& rec);
[[nodiscard]] caf::error apply(node_state& st, record&& rec);

} // namespace wi
