#pragma once

#include <boost/json/object.hpp>

#include "webhook_ingress/admin.hpp"

namespace wi::http {

/// What the admin API shows instead of an endpoint's secret.
inline constexpr const char* redacted = "[redacted]";

/// A tenant for the admin API: the `tenant_info` fields plus `loaded`,
/// `endpoints` (`{"active", "disabled", "inactive", "total"}`), `events`,
/// `pending_deliveries`, `attempts` (`{"total", "successful"}`),
/// `mailbox_depth`, and when set `deactivated_at`,
/// `last_mutation_at` and `previous_token_valid_until` (only while that
/// token still works at `now`, unix seconds), and the per-tenant limits
/// (`limits`, `limit_overrides`, `usage`: see `add_limits_json`).
[[nodiscard]] boost::json::object to_json(const wi::tenant_summary& x,
                                          unix_seconds now);

/// An endpoint's internal view: the statistics object (endpoint with its
/// secret redacted, breaker, counters) plus `recent_attempts`, newest first.
[[nodiscard]] boost::json::object to_json(const wi::endpoint_internal& x);

/// `{"tenant_id", "token", "issued_at", "previous_token_valid_until"}`.
[[nodiscard]] boost::json::object to_json(const wi::issued_token& x);

/// The node view: identity, `uptime_seconds` at `now` (unix milliseconds),
/// `wal` (`last_sequence`, `first_sequence`, `last_snapshot_sequence`,
/// `pending`), tenant and actor counts, deliveries in flight and queued.
[[nodiscard]] boost::json::object node_json(const wi::node_identity& id,
                                            const wi::node_status& x,
                                            unix_millis now);

} // namespace wi::http
