#pragma once

#include <array>
#include <string>
#include <string_view>
#include <variant>

#include "webhook_ingress/domain.hpp"
#include "webhook_ingress/limits.hpp"
#include "webhook_ingress/state.hpp"

namespace wi {

/// WAL record: a tenant was registered.
struct tenant_created {
  std::string tenant_id;
  std::string name;
  /// SHA-256 of the whole bearer token, 32 raw bytes.
  std::string token_hash;
  unix_seconds at = 0;

  friend bool operator==(const tenant_created&,
                         const tenant_created&) = default;
};

/// WAL record: an endpoint was created (carries the whole endpoint, with its
/// identifier, status `active` and both timestamps set).
struct endpoint_created {
  std::string tenant_id;
  endpoint ep;

  friend bool operator==(const endpoint_created&,
                         const endpoint_created&) = default;
};

/// WAL record: an endpoint's status changed (also sets `last_modified`).
struct endpoint_status_changed {
  std::string tenant_id;
  endpoint_id id = 0;
  endpoint_status status = endpoint_status::active;
  unix_seconds at = 0;

  friend bool operator==(const endpoint_status_changed&,
                         const endpoint_status_changed&) = default;
};

/// WAL record: an event was accepted and is to be delivered to `endpoints`
/// (its payload is stored beside it, in the same atomic batch).
struct event_accepted {
  std::string tenant_id;
  std::string event_id;
  std::string event_type;
  std::string idempotency_key;
  unix_millis at = 0;
  std::vector<endpoint_id> endpoints;
  /// Size of the payload stored with it, in bytes (0 in records written
  /// before this field existed).
  uint64_t payload_bytes = 0;
  /// The event's ordering key (issue 17); empty when none.
  std::string ordering_key{};

  friend bool operator==(const event_accepted&,
                         const event_accepted&) = default;
};

/// WAL record: one delivery attempt ended; the delivery is now `outcome`
/// (pending again with `next_attempt_at`, delivered, or failed for
/// `reason`).
struct attempt_recorded {
  std::string tenant_id;
  endpoint_id endpoint = 0;
  attempt_info attempt;
  delivery_status outcome = delivery_status::pending;
  unix_millis next_attempt_at = 0;
  std::string reason;

  friend bool operator==(const attempt_recorded&,
                         const attempt_recorded&) = default;
};

/// WAL record: a fresh delivery of an event to an endpoint was scheduled
/// (resend): the delivery is pending again, due `at`, with no attempts.
struct delivery_rescheduled {
  std::string tenant_id;
  std::string event_id;
  endpoint_id endpoint = 0;
  unix_millis at = 0;

  friend bool operator==(const delivery_rescheduled&,
                         const delivery_rescheduled&) = default;
};

/// WAL record: the circuit breaker moved an endpoint to `status`
/// (`disabled` when it trips or a probe fails, `active` when a probe
/// succeeded). Sets the breaker's reason, probe time and cool-down.
struct breaker_changed {
  std::string tenant_id;
  endpoint_id endpoint = 0;
  endpoint_status status = endpoint_status::disabled;
  std::string reason;
  unix_millis at = 0;
  unix_millis next_probe_at = 0;
  uint64_t cooldown_ms = 0;

  friend bool operator==(const breaker_changed&,
                         const breaker_changed&) = default;
};

/// WAL record: a pending delivery outlived the retention window and was
/// dropped as failed with reason `expired`.
struct delivery_expired {
  std::string tenant_id;
  std::string event_id;
  endpoint_id endpoint = 0;
  unix_millis at = 0;

  friend bool operator==(const delivery_expired&,
                         const delivery_expired&) = default;
};

/// WAL record: a tenant got a new bearer token. The previous token keeps
/// working until `previous_valid_until` (unix seconds; at most `at` plus 7
/// days), then stops; a token older than the previous one stops at once.
struct token_issued {
  std::string tenant_id;
  /// SHA-256 of the new token, 32 raw bytes.
  std::string token_hash;
  unix_seconds at = 0;
  unix_seconds previous_valid_until = 0;

  friend bool operator==(const token_issued&, const token_issued&) = default;
};

/// WAL record: a tenant was deactivated: its tokens stop working and its
/// deliveries stop; its data is kept.
struct tenant_deactivated {
  std::string tenant_id;
  unix_seconds at = 0;

  friend bool operator==(const tenant_deactivated&,
                         const tenant_deactivated&) = default;
};

/// WAL record: a tenant's data was purged. The registry keeps a tombstone
/// (its id is never handed out again); the tenant's records before this one
/// are ignored by recovery.
struct tenant_purged {
  std::string tenant_id;
  unix_seconds at = 0;

  friend bool operator==(const tenant_purged&, const tenant_purged&) = default;
};

/// WAL record: delivered history was pruned. `apply` removes each listed
/// event and the idempotency keys that still map to it, but skips an event
/// that has a pending delivery (the state may have changed since the tenant
/// actor chose the events). Statistics and the attempt log are kept. The
/// events' payloads are deleted in the same synced batch as this record.
struct history_pruned {
  std::string tenant_id;
  unix_millis at = 0;
  std::vector<std::string> event_ids;

  friend bool operator==(const history_pruned&,
                         const history_pruned&) = default;
};

/// WAL record: an admin changed the tenant's limits (`PATCH
/// /admin/v1/tenants/{id}`); `apply` merges `change` into the tenant's
/// overrides.
struct tenant_limits_set {
  std::string tenant_id;
  unix_seconds at = 0;
  limits_patch change;

  friend bool operator==(const tenant_limits_set&,
                         const tenant_limits_set&) = default;
};

/// WAL record (cluster mode, a planned move): this node received the tenant
/// from its old owner. The registry takes `entry` as it is (replacing an
/// earlier, uncommitted import of the same tenant) with the placement
/// `epoch`. Always written in one synced batch with the tenant's
/// `tenant_state_imported` (next sequence number) and its payloads. A
/// directory record.
struct tenant_imported {
  std::string tenant_id;
  /// The registry entry as the old owner had it (`epoch` set from below).
  tenant_entry entry;
  uint64_t epoch = 0;

  friend bool operator==(const tenant_imported&,
                         const tenant_imported&) = default;
};

/// WAL record (a planned move): the tenant's whole state as it arrived,
/// `encode_snapshot(tenant_state)`. Applying it replaces the state: every
/// earlier record of the tenant (an earlier life on this node, before it
/// moved out and back, or an earlier uncommitted import) no longer counts.
/// A tenant record, so a snapshot of the tenant taken before it (a stale
/// one a move-out left behind) covers less and loses.
struct tenant_state_imported {
  std::string tenant_id;
  std::string snapshot;

  friend bool operator==(const tenant_state_imported&,
                         const tenant_state_imported&) = default;
};

/// WAL record (a planned move): this node's copy of the tenant was deleted
/// (it lives on another node). Unlike `tenant_purged` the registry entry
/// goes without a tombstone: the tenant may come back by a later
/// `tenant_imported`. Its records before this one are ignored by recovery;
/// its snapshot and payloads are deleted after it (not synced). A directory
/// record.
struct tenant_moved_out {
  std::string tenant_id;
  unix_seconds at = 0;

  friend bool operator==(const tenant_moved_out&,
                         const tenant_moved_out&) = default;
};

/// WAL record: an endpoint's settings changed (`PATCH`, issue 17). Each
/// set field replaces the endpoint's; `at` becomes its `last_modified`. A
/// record about an endpoint deleted meanwhile changes nothing.
struct endpoint_updated {
  std::string tenant_id;
  endpoint_id id = 0;
  unix_seconds at = 0;
  endpoint_patch change;

  friend bool operator==(const endpoint_updated&,
                         const endpoint_updated&) = default;
};

/// WAL record: an endpoint was deleted (issue 17). Its pending deliveries
/// end `failed` with reason `cancelled` (they stay on their events), its
/// statistics and attempt log go; its id is never handed out again.
struct endpoint_deleted {
  std::string tenant_id;
  endpoint_id id = 0;
  unix_seconds at = 0;

  friend bool operator==(const endpoint_deleted&,
                         const endpoint_deleted&) = default;
};

/// WAL record: an endpoint's signing secret was rotated (issue 17). The
/// current secret becomes the previous one, signing too until
/// `previous_expires_at`; an older previous secret is dropped.
struct endpoint_secret_rotated {
  std::string tenant_id;
  endpoint_id id = 0;
  /// The new secret.
  std::string secret;
  unix_millis at = 0;
  unix_millis previous_expires_at = 0;

  friend bool operator==(const endpoint_secret_rotated&,
                         const endpoint_secret_rotated&) = default;
};

/// One durable mutation. Records carry every value they set (ids, times), so
/// applying them is deterministic: the same `apply` serves live mutation and
/// replay. New alternatives are appended at the end; the binary codec
/// (`persistence/record_codec.hpp`) tags each with a stable number.
using record = std::variant<
  tenant_created, endpoint_created, endpoint_status_changed, event_accepted,
  attempt_recorded, delivery_rescheduled, breaker_changed, delivery_expired,
  token_issued, tenant_deactivated, tenant_purged, history_pruned,
  tenant_limits_set, tenant_imported, tenant_state_imported, tenant_moved_out,
  endpoint_updated, endpoint_deleted, endpoint_secret_rotated>;

/// Returns the record's kind, e.g. `"endpoint_created"` (for log lines).
[[nodiscard]] inline std::string_view kind_of(const record& x) {
  static constexpr std::array<std::string_view, 19> names{
    "tenant_created",         "endpoint_created", "endpoint_status_changed",
    "event_accepted",         "attempt_recorded", "delivery_rescheduled",
    "breaker_changed",        "delivery_expired", "token_issued",
    "tenant_deactivated",     "tenant_purged",    "history_pruned",
    "tenant_limits_set",      "tenant_imported",  "tenant_state_imported",
    "tenant_moved_out",       "endpoint_updated", "endpoint_deleted",
    "endpoint_secret_rotated"};
  static_assert(std::variant_size_v<record> == names.size());
  return names[x.index()];
}

/// Returns the tenant a record belongs to.
[[nodiscard]] inline const std::string& tenant_of(const record& x) {
  return std::visit(
    [](const auto& r) -> const std::string& { return r.tenant_id; }, x);
}

/// Returns whether a record belongs to the tenant registry (the directory)
/// rather than to the state of its tenant.
[[nodiscard]] inline bool is_directory_record(const record& x) {
  return std::holds_alternative<tenant_created>(x) ||
         std::holds_alternative<token_issued>(x) ||
         std::holds_alternative<tenant_deactivated>(x) ||
         std::holds_alternative<tenant_purged>(x) ||
         std::holds_alternative<tenant_imported>(x) ||
         std::holds_alternative<tenant_moved_out>(x);
}

/// Returns the WAL owner of a record: the snapshot that covers it. Registry
/// records belong to the directory (`directory_owner`), everything else to
/// its tenant.
[[nodiscard]] inline std::string_view wal_owner(const record& x) {
  if (is_directory_record(x))
    return directory_owner;
  return tenant_of(x);
}

} // namespace wi
