#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/error.hpp>

#include "actors/tenant_state.hpp"
#include "webhook_ingress/domain.hpp"
#include "webhook_ingress/records.hpp"

namespace wi {

/// A registered tenant. Only the SHA-256 of its token is kept.
struct tenant_entry {
  std::string id;
  std::string name;
  /// SHA-256 of the bearer token, 32 raw bytes.
  std::string token_hash;
  unix_seconds created_at = 0;
  bool active = true;

  friend bool operator==(const tenant_entry&, const tenant_entry&) = default;
};

/// The tenant registry, owned by the directory actor.
struct directory_state {
  /// Tenants by id (ordered, so listings are stable).
  std::map<std::string, tenant_entry> tenants;

  friend bool operator==(const directory_state&,
                         const directory_state&) = default;
};

/// Applies a `tenant_created` record. Pure and deterministic like the tenant
/// `apply`; a duplicate tenant id is `errc::corrupt_data`; other record kinds
/// are not directory records (`errc::corrupt_data`).
[[nodiscard]] caf::error apply(directory_state& st, const record& rec);

/// Returns the admin view of a tenant (never its token).
[[nodiscard]] tenant_info info_of(const tenant_entry& x);

/// The whole node's state as rebuilt from the WAL: the registry, each
/// tenant's state, and the sequence number of the last record applied.
struct node_state {
  directory_state directory;
  std::unordered_map<std::string, tenant_state> tenants;
  uint64_t last_sequence = 0;

  friend bool operator==(const node_state&, const node_state&) = default;
};

/// Applies any record to the node state, dispatching to the directory's or
/// the owning tenant's `apply` (the same functions the actors use live). A
/// tenant record for an unknown tenant is `errc::corrupt_data`.
[[nodiscard]] caf::error apply(node_state& st, const record& rec);

} // namespace wi
