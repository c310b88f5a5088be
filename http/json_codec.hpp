#pragma once

#include <boost/json/object.hpp>

#include "webhook_ingress/domain.hpp"

namespace wi::http {

/// Renders an endpoint as the spec's `WebhookEndpoint`: `identifier`
/// (integer), `url`, `secret`, `event_types` (array), `headers` (object in
/// the tenant's order), `status` (`active` / `disabled` / `inactive`),
/// `create_timestamp` and `last_modified` (RFC 3339 UTC), `description`
/// and `rate_limit` only when set, and `ordering` (issue 17). The previous
/// secret of a rotation is not shown
/// (`GET .../secret` shows it).
[[nodiscard]] boost::json::object to_json(const wi::endpoint& x);

/// `GET /v1/webhook/endpoints/{id}/secret`: `secret`, and during a
/// rotation's grace `previous` = `{"secret", "expires_at"}` (RFC 3339 UTC).
[[nodiscard]] boost::json::object to_json(const wi::secret_info& x);

/// The answer to a rotation: `secret` (the new one) and
/// `previous_expires_at` (RFC 3339 UTC, when the replaced secret stops
/// signing).
[[nodiscard]] boost::json::object rotation_json(const wi::secret_info& x);

/// Renders statistics as the spec's `WebhookStatistics`: `id` (the endpoint
/// id), `endpoint` (as above), `total_attempts`, `successful_attempts`,
/// `failed_attempts`, `success_rate` (0-100), `average_response_time_ms`,
/// `pending_events`, and `last_success_at` / `last_failure_at` (RFC 3339)
/// only when set.
[[nodiscard]] boost::json::object to_json(const wi::endpoint_stats& x);

/// Renders a tenant for the admin API: `id`, `name`, `created_at`
/// (RFC 3339), `active`, and `token` only when non-empty (the answer that
/// created the tenant).
[[nodiscard]] boost::json::object to_json(const wi::tenant_info& x);

/// Renders the spec's `Pagination` of a page: `page`, `page_size`,
/// `total_items`, `total_pages` (ceil(total_items / page_size); 0 without
/// items or with page_size 0), `has_next` (page < total_pages) and
/// `has_prev` (page > 1).
[[nodiscard]] boost::json::object pagination_json(const wi::endpoint_page& x);

/// The pagination block for any paged list.
[[nodiscard]] boost::json::object
pagination_json(uint32_t page, uint32_t page_size, uint64_t total_items);

/// `{"id", "event_type", "created_at", "endpoints", "duplicate"}`.
[[nodiscard]] boost::json::object to_json(const wi::event_receipt& x);

/// `{"endpoint", "status", "attempts", "next_attempt_at" (pending only),
/// "reason" (failed only)}`.
[[nodiscard]] boost::json::object to_json(const wi::delivery_state& x);

/// An event with its deliveries.
[[nodiscard]] boost::json::object to_json(const wi::event_state& x);

/// One attempt of the attempt log.
[[nodiscard]] boost::json::object to_json(const wi::attempt_info& x);

/// The endpoint plus its breaker: `status_reason` (empty, `manual`,
/// `consecutive_failures` or `gone`), `consecutive_failures`, and
/// `disabled_at` / `next_probe_at` when set.
[[nodiscard]] boost::json::object to_json(const wi::endpoint_view& x);

/// Adds the breaker fields to an endpoint or statistics object.
void add_breaker(boost::json::object& out, const wi::breaker_state& b);

} // namespace wi::http
