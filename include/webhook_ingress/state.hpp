#pragma once

#include <map>
#include <string>

#include "webhook_ingress/domain.hpp"

namespace wi {

/// Everything one tenant owns. Owned by exactly one tenant actor while it
/// runs (before that, by recovery and then the directory); nothing else
/// mutates it. Changed only through `apply` (`actors/tenant_state.hpp`);
/// snapshots store it whole (`persistence/snapshot_codec.hpp`).
struct tenant_state {
  std::string tenant_id;
  /// Highest endpoint identifier applied so far; 0 when none.
  endpoint_id last_id = 0;
  /// Endpoints ordered by identifier (the list order of the API).
  std::map<endpoint_id, endpoint> endpoints;

  friend bool operator==(const tenant_state&, const tenant_state&) = default;
};

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

/// The WAL owner key of the directory's own records (`tenant_created`).
/// Tenant ids are base62, so it cannot collide with one.
inline constexpr const char* directory_owner = "#directory";

} // namespace wi
