#pragma once

#include <deque>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "webhook_ingress/domain.hpp"
#include "webhook_ingress/endpoint_index.hpp"
#include "webhook_ingress/limits.hpp"

namespace wi {

/// Delivery activity of one endpoint: counters, latency histogram and the
/// most recent attempts. Derived only from WAL records.
struct endpoint_activity {
  uint64_t total = 0;
  uint64_t successful = 0;
  uint64_t failed = 0;
  uint64_t latency_sum_ms = 0;
  /// 0 when there was none.
  unix_millis last_success_at = 0;
  unix_millis last_failure_at = 0;
  /// Deliveries to this endpoint that are pending.
  uint64_t pending = 0;
  /// Attempt counts per latency bucket (`actors/tenant/latency_histogram.hpp`);
  /// empty until the first attempt.
  std::vector<uint32_t> latency_buckets;
  /// The newest attempts, oldest first, at most `max_recent_attempts`.
  std::deque<attempt_info> recent;
  /// The circuit breaker.
  breaker_state breaker;

  friend bool operator==(const endpoint_activity&,
                         const endpoint_activity&) = default;
};

/// How many attempts per endpoint the attempt log keeps.
inline constexpr size_t max_recent_attempts = 100;

/// Everything one tenant owns. Owned by exactly one tenant actor while it
/// runs (before that, by recovery and then the directory); nothing else
/// mutates it. Changed only through `apply` (`actors/tenant/tenant_state.hpp`);
/// snapshots store it whole (`persistence/snapshot_codec.hpp`).
struct tenant_state {
  std::string tenant_id;
  /// Highest endpoint identifier applied so far; 0 when none.
  endpoint_id last_id = 0;
  /// Endpoints ordered by identifier (the list order of the API).
  std::map<endpoint_id, endpoint> endpoints;
  /// Accepted events by id, with their deliveries.
  std::map<std::string, event_state> events;
  /// Idempotency key -> event id.
  std::unordered_map<std::string, std::string> idempotency;
  /// Delivery activity by endpoint (only endpoints with deliveries).
  std::map<endpoint_id, endpoint_activity> activity;
  /// Pending deliveries over all endpoints.
  uint64_t pending = 0;
  /// The tenant's own limits (`tenant_limits_set`); empty ones follow the
  /// node defaults.
  limit_overrides limits;
  /// Bytes of the payloads of `events` (the sum of their `payload_bytes`):
  /// raised by `event_accepted`, released by `history_pruned`.
  uint64_t stored_bytes = 0;
  /// The `seq` of the last event accepted (its acceptance order); 0 when
  /// none.
  uint64_t last_event_seq = 0;
  /// `endpoints` by subscribed event type (derived, never stored; see
  /// `endpoint_index`): what a publish looks up.
  endpoint_index subscribers;

  friend bool operator==(const tenant_state&, const tenant_state&) = default;
};

/// Returns the state of a tenant that owns nothing yet.
[[nodiscard]] inline tenant_state empty_tenant(std::string id) {
  tenant_state st;
  st.tenant_id = std::move(id);
  return st;
}

/// A registered tenant. Only the SHA-256 of its tokens is kept.
struct tenant_entry {
  std::string id;
  std::string name;
  /// SHA-256 of the bearer token, 32 raw bytes; empty once purged.
  std::string token_hash;
  unix_seconds created_at = 0;
  bool active = true;
  /// The token replaced by the last rotation and until when it still works
  /// (unix seconds, exclusive); empty and 0 when none.
  std::string previous_token_hash;
  unix_seconds previous_valid_until = 0;
  /// When the tenant was deactivated; 0 while active.
  unix_seconds deactivated_at = 0;
  /// A tombstone: the tenant's data was purged; only the id is kept.
  bool purged = false;
  /// Cluster mode: the placement epoch under which this node received the
  /// tenant by a planned move (`tenant_imported`); 0 for a tenant created
  /// here.
  uint64_t epoch = 0;
  /// Cluster mode: imported by a planned move (`tenant_imported`) and not
  /// activated yet (`tenant_activated`): held here, not served (its
  /// requests wait, its actor does not run, its deliveries do not resume).
  /// Stays so across restarts until the start-up reconcile activates or
  /// discards it. Not part of a move's export (`encode_entry`).
  bool incoming = false;

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
