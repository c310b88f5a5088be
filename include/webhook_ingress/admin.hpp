#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "webhook_ingress/domain.hpp"
#include "webhook_ingress/limits.hpp"

namespace wi {

/// Endpoints of one tenant by status.
struct endpoint_counts {
  uint64_t active = 0;
  uint64_t disabled = 0;
  uint64_t inactive = 0;

  friend bool operator==(const endpoint_counts&,
                         const endpoint_counts&) = default;
};

/// What the admin API shows of one tenant
/// (`GET /admin/v1/tenants[/{id}]`).
struct tenant_summary {
  /// Identity and state; `token` is always empty here.
  tenant_info info;
  /// When it was deactivated; 0 while active.
  unix_seconds deactivated_at = 0;
  /// Until when the token replaced by the last rotation still works; 0 when
  /// none does.
  unix_seconds previous_token_valid_until = 0;
  /// Whether the tenant's actor runs (else its state waits in the
  /// directory until first use).
  bool loaded = false;
  endpoint_counts endpoints;
  /// Events held and deliveries not yet delivered nor given up.
  uint64_t events = 0;
  uint64_t pending_deliveries = 0;
  /// Delivery attempts to its endpoints (deleted ones included) and how
  /// many got a 2xx (the dashboard's success rate, issue 18).
  uint64_t attempts_total = 0;
  uint64_t attempts_successful = 0;
  /// Messages waiting in the tenant actor's mailbox; 0 when not loaded.
  uint64_t mailbox_depth = 0;
  /// The newest time any of its records carries (endpoint change, event,
  /// attempt, breaker transition); 0 when it owns nothing yet.
  unix_millis last_mutation_at = 0;
  /// The limits in force (overrides over the node defaults), the tenant's
  /// own overrides, and how much of them it uses.
  tenant_limits limits;
  limit_overrides overrides;
  limits_usage usage;
};

/// One page of tenants ordered by id.
struct tenant_page {
  std::vector<tenant_summary> items;
  uint32_t page = 1;
  uint32_t page_size = 10;
  /// Tenants over all pages (purged ones are not listed).
  uint64_t total_items = 0;
};

/// The admin's internal view of one endpoint
/// (`GET /admin/v1/tenants/{id}/endpoints/{eid}`): everything the tenant
/// sees plus its recent attempts. The HTTP layer redacts the secret.
struct endpoint_internal {
  /// Endpoint, breaker and statistics.
  endpoint_stats stats;
  /// The newest attempts, newest first (at most `max_recent_attempts`).
  std::vector<attempt_info> recent_attempts;
};

/// The answer to a token rotation (`POST /admin/v1/tenants/{id}/tokens`).
struct issued_token {
  std::string tenant_id;
  /// The new bearer token in clear text (shown only here).
  std::string token;
  unix_seconds issued_at = 0;
  /// Until when the replaced token keeps working (exclusive).
  unix_seconds previous_valid_until = 0;
};

/// The durable log's position (`GET /admin/v1/node`).
struct wal_status {
  /// Sequence number of the newest record; 0 if none.
  uint64_t last_sequence = 0;
  /// Sequence number of the oldest record still stored.
  uint64_t first_sequence = 0;
  /// The highest sequence number a stored snapshot covers; 0 if none.
  uint64_t last_snapshot_sequence = 0;
  /// Records waiting for their synced batch.
  uint64_t pending = 0;
};

/// What a node is, fixed at start (`GET /admin/v1/node`).
struct node_identity {
  std::string version;
  /// Build type, compiler and source revision.
  std::string build;
  /// Generated at the first start on a data directory, kept in it.
  std::string node_id;
  std::string data_dir;
  unix_millis started_at = 0;
};

/// The node's live state as the directory sees it (`GET /admin/v1/node`).
struct node_status {
  wal_status wal;
  /// Registered tenants (not purged), how many of them are active, and how
  /// many have a running actor.
  uint64_t tenants = 0;
  uint64_t tenants_active = 0;
  uint64_t tenants_loaded = 0;
  /// Actors alive in the actor system (tenants, directory, WAL writer,
  /// payload reader).
  uint64_t actors_alive = 0;
  /// Delivery attempts under way and accepted by the engine but waiting for
  /// a free slot.
  uint64_t deliveries_in_flight = 0;
  uint64_t deliveries_queued = 0;
};

} // namespace wi
