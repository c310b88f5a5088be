#pragma once

#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "webhook_ingress/messages.hpp"
#include "webhook_ingress/state.hpp"

namespace wi {

/// The routing view of the tenant registry that HTTP handlers read to reach
/// a tenant actor in one hop and to check tokens without a message.
///
/// Ownership: the directory actor is the only writer (it derives every entry
/// from its own state); handlers on any thread only read. Readers hold a
/// shared lock for one hash look-up and a constant-time compare, writers an
/// exclusive lock for one insert: no I/O and no waiting beyond that.
class tenant_table {
 public:
  /// Outcome of a look-up.
  enum class verdict {
    /// Unknown tenant, wrong or expired token, or deactivated tenant.
    unauthorized,
    /// Valid token; the tenant's actor does not run yet (ask the directory).
    dormant,
    /// Valid token; `actor` is the tenant's actor.
    running,
  };

  struct lookup_result {
    verdict outcome = verdict::unauthorized;
    tenant_actor actor;
  };

  /// Checks `token_hash` (SHA-256 of the presented token) against the
  /// tenant's current token, and against the token a rotation replaced
  /// while `now` (unix seconds) is before the end of its grace period, in
  /// constant time; returns where to send the request.
  [[nodiscard]] lookup_result lookup(std::string_view tenant_id,
                                     std::string_view token_hash,
                                     unix_seconds now) const;

  /// `lookup` at the current time.
  [[nodiscard]] lookup_result lookup(std::string_view tenant_id,
                                     std::string_view token_hash) const;

  /// Whether the table has an entry for the tenant (active or not; purged
  /// tenants have none).
  [[nodiscard]] bool holds(std::string_view tenant_id) const;

  /// Adds or replaces a tenant's credentials and state from its registry
  /// entry, keeping its actor; a purged entry removes the tenant.
  void update(const tenant_entry& entry);

  /// Sets the actor of an existing entry (null: the tenant is dormant).
  void set_actor(const std::string& tenant_id, tenant_actor actor);

 private:
  struct entry {
    std::string token_hash;
    std::string previous_token_hash;
    unix_seconds previous_valid_until = 0;
    bool active = true;
    tenant_actor actor;
  };

  mutable std::shared_mutex mtx_;
  std::unordered_map<std::string, entry> entries_;
};

} // namespace wi
