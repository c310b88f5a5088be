#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wi {

/// Per-tenant endpoint identifier: a sequence starting at 1, never reused.
using endpoint_id = uint64_t;

/// Seconds since the Unix epoch, UTC. All stored times use this unit.
using unix_seconds = int64_t;

/// Milliseconds since the Unix epoch, UTC (query bounds keep sub-seconds).
using unix_millis = int64_t;

/// An endpoint's delivery status, as in the spec's `WebhookEndpointStatus`.
enum class endpoint_status : uint8_t {
  /// Receives deliveries.
  active = 0,
  /// Tripped by the circuit breaker; events queue, only probes are sent.
  disabled = 1,
  /// Switched off by the tenant (`PUT /disable`); nothing is delivered.
  inactive = 2,
};

/// Returns `"active"`, `"disabled"` or `"inactive"`.
constexpr std::string_view to_string(endpoint_status x) noexcept {
  switch (x) {
  case endpoint_status::active:
    return "active";
  case endpoint_status::disabled:
    return "disabled";
  case endpoint_status::inactive:
    return "inactive";
  }
  return "unknown";
}

/// Parses the spec's spelling of a status.
constexpr std::optional<endpoint_status>
parse_endpoint_status(std::string_view x) noexcept {
  for (auto s : {endpoint_status::active, endpoint_status::disabled,
                 endpoint_status::inactive})
    if (to_string(s) == x)
      return s;
  return std::nullopt;
}

/// How an endpoint's deliveries are ordered (issue 17, item 5).
enum class delivery_ordering : uint8_t {
  /// Deliveries are attempted as they fall due, in parallel.
  unordered = 0,
  /// Per ordering key at most one attempt under way, and an event is not
  /// attempted before every earlier event of its key (acceptance order) is
  /// delivered or failed for good.
  fifo = 1,
};

/// Returns `"unordered"` or `"fifo"`.
constexpr std::string_view to_string(delivery_ordering x) noexcept {
  return x == delivery_ordering::fifo ? "fifo" : "unordered";
}

/// Parses the API's spelling of an ordering.
constexpr std::optional<delivery_ordering>
parse_delivery_ordering(std::string_view x) noexcept {
  for (auto o : {delivery_ordering::unordered, delivery_ordering::fifo})
    if (to_string(o) == x)
      return o;
  return std::nullopt;
}

/// Bounds of an endpoint's `rate_limit` (deliveries per second).
inline constexpr uint32_t min_rate_limit = 1;
inline constexpr uint32_t max_rate_limit = 10'000;

/// Custom headers sent with every delivery, in the order the tenant gave.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// A validated create request. Producing one is the HTTP layer's job
/// (`http/validation.hpp`); every value in it already obeys the spec.
struct new_endpoint {
  std::string url;
  std::string secret;
  std::vector<std::string> event_types;
  header_list headers;
  /// Free text for the tenant's own use; empty when none.
  std::string description{};
  /// Most attempts started per second (1..10 000); 0: unlimited.
  uint32_t rate_limit = 0;
  delivery_ordering ordering = delivery_ordering::unordered;
};

/// A validated update (`PATCH /v1/webhook/endpoints/{id}`): each field that
/// is set replaces the endpoint's; unset fields stay as they are. Producing
/// one is the HTTP layer's job (`http/validation.hpp`).
struct endpoint_patch {
  std::optional<std::string> url;
  std::optional<std::vector<std::string>> event_types;
  /// Replaces the whole header list (an empty list removes every header).
  std::optional<header_list> headers;
  /// An empty string clears the description (`null` in the request).
  std::optional<std::string> description;
  /// 0 clears the rate limit (`null` in the request).
  std::optional<uint32_t> rate_limit;
  std::optional<delivery_ordering> ordering;

  /// Returns whether the patch changes nothing.
  [[nodiscard]] bool empty() const noexcept {
    return !url && !event_types && !headers && !description && !rate_limit &&
           !ordering;
  }

  friend bool operator==(const endpoint_patch&,
                         const endpoint_patch&) = default;
};

/// A validated secret rotation
/// (`POST /v1/webhook/endpoints/{id}/secret/rotate`).
struct secret_rotation {
  /// The new secret; empty to have the tenant actor generate a `whsec_` one.
  std::string secret;
  /// How long the replaced secret keeps signing, in milliseconds
  /// (1 s to 7 days).
  int64_t grace_ms = 24 * 3600 * 1000;
};

/// An endpoint's signing secrets (`GET /v1/webhook/endpoints/{id}/secret`).
struct secret_info {
  std::string secret;
  /// The replaced secret while its grace lasts; empty otherwise.
  std::string previous;
  /// When the replaced secret stops signing; 0 when there is none.
  unix_millis previous_expires_at = 0;
};

/// A webhook endpoint as the tenant actor owns it.
struct endpoint {
  endpoint_id id = 0;
  std::string url;
  std::string secret;
  std::vector<std::string> event_types;
  header_list headers;
  endpoint_status status = endpoint_status::active;
  unix_seconds created_at = 0;
  unix_seconds last_modified = 0;
  /// Free text for the tenant's own use; empty when none.
  std::string description{};
  /// The secret the last rotation replaced: deliveries carry its signature
  /// too until `previous_expires_at` (exclusive). Empty and 0 when the
  /// endpoint was never rotated.
  std::string previous_secret{};
  unix_millis previous_expires_at = 0;
  /// Most attempts started per second; 0: unlimited (issue 17, item 4).
  uint32_t rate_limit = 0;
  /// Issue 17, item 5.
  delivery_ordering ordering = delivery_ordering::unordered;

  friend bool operator==(const endpoint&, const endpoint&) = default;
};

/// Circuit-breaker state of one endpoint (extensions of the spec's
/// endpoint view).
struct breaker_state {
  /// Failed attempts since the last success (or since `enable`).
  uint32_t consecutive_failures = 0;
  /// Why the endpoint is not active: `manual` (PUT /disable),
  /// `consecutive_failures` or `gone` (HTTP 410); empty while active.
  std::string reason;
  /// When it stopped being active; 0 while active.
  unix_millis disabled_at = 0;
  /// When the breaker sends its next probe; 0 unless `disabled`.
  unix_millis next_probe_at = 0;
  /// The current cool-down between probes in milliseconds.
  uint64_t cooldown_ms = 0;

  friend bool operator==(const breaker_state&, const breaker_state&) = default;
};

/// An endpoint with its breaker state (`GET /v1/webhook/endpoints/{id}`).
struct endpoint_view {
  endpoint ep;
  breaker_state breaker;
};

/// Where the delivery of one event to one endpoint stands.
enum class delivery_status : uint8_t {
  /// Not delivered yet; an attempt is due at `next_attempt_at`.
  pending = 0,
  /// An attempt got a 2xx answer.
  delivered = 1,
  /// Given up: every scheduled attempt failed (`reason` says why).
  failed = 2,
};

/// Returns `"pending"`, `"delivered"` or `"failed"`.
constexpr std::string_view to_string(delivery_status x) noexcept {
  switch (x) {
  case delivery_status::pending:
    return "pending";
  case delivery_status::delivered:
    return "delivered";
  case delivery_status::failed:
    return "failed";
  }
  return "unknown";
}

/// A validated publish request (`POST /v1/webhook/events`).
struct new_event {
  /// 1-128 characters of `[A-Za-z0-9._:-]`.
  std::string event_type;
  /// The payload as compact JSON text.
  std::string payload;
  /// Empty when the client sent none.
  std::string idempotency_key;
  /// Orders the event among the others of its key on FIFO endpoints
  /// (1-128 characters); empty when the client sent none.
  std::string ordering_key{};
};

/// The answer to an accepted publish.
struct event_receipt {
  std::string id;
  std::string event_type;
  unix_millis created_at = 0;
  /// Number of endpoints the event goes to.
  uint64_t endpoints = 0;
  /// True when an earlier publish with the same idempotency key created it.
  bool duplicate = false;
};

/// One attempt to deliver an event to an endpoint.
struct attempt_info {
  std::string event_id;
  /// 1 for the first attempt of a delivery.
  uint32_t attempt = 0;
  unix_millis at = 0;
  /// HTTP status of the answer; 0 when none arrived.
  uint16_t status_code = 0;
  uint32_t latency_ms = 0;
  /// Empty when an HTTP answer arrived, else the delivery engine's code
  /// (`timeout`, `connect_failed`, `blocked_address`, ...).
  std::string error;
  /// The first 1 KiB of the answer's body.
  std::string response_excerpt;

  friend bool operator==(const attempt_info&, const attempt_info&) = default;
};

/// The delivery of one event to one endpoint.
struct delivery_state {
  endpoint_id endpoint = 0;
  delivery_status status = delivery_status::pending;
  /// Attempts made so far.
  uint32_t attempts = 0;
  /// While pending: when the next attempt is due. Once delivered or
  /// failed: when that happened (the end of the last attempt, or the
  /// expiry), which `recover` compares with its `since` (issue 17); 0 for a
  /// delivery attempted for the last time before this was recorded.
  unix_millis next_attempt_at = 0;
  /// Why a delivery failed (`exhausted`); empty otherwise.
  std::string reason;

  friend bool operator==(const delivery_state&,
                         const delivery_state&) = default;
};

/// An accepted event as the tenant actor keeps it (its payload lives in the
/// store, not in memory).
struct event_state {
  std::string id;
  std::string type;
  std::string idempotency_key;
  unix_millis created_at = 0;
  std::vector<delivery_state> deliveries;
  /// Size of its stored payload in bytes (counted against the tenant's
  /// `max_stored_bytes` until the event is pruned); 0 for events accepted
  /// before this was recorded.
  uint64_t payload_bytes = 0;
  /// The event's ordering key (FIFO endpoints, issue 17); empty when none.
  std::string ordering_key{};
  /// Acceptance order within the tenant: 1 for its first event, never
  /// reused (`tenant_state::last_event_seq`).
  uint64_t seq = 0;

  friend bool operator==(const event_state&, const event_state&) = default;
};

/// Delivery statistics of one endpoint (the spec's `WebhookStatistics`).
struct endpoint_stats {
  endpoint ep;
  breaker_state breaker;
  uint64_t total_attempts = 0;
  uint64_t successful_attempts = 0;
  uint64_t failed_attempts = 0;
  /// Percentage 0-100 of attempts that got a 2xx; 0 without attempts.
  double success_rate = 0;
  /// Mean wall time of all attempts in milliseconds; 0 without attempts.
  double average_response_time_ms = 0;
  std::optional<unix_millis> last_success_at;
  std::optional<unix_millis> last_failure_at;
  /// Deliveries of this endpoint neither delivered nor exhausted.
  uint64_t pending_events = 0;
  /// Median and 95th percentile of attempt latencies in milliseconds (upper
  /// bounds of 5%-wide histogram buckets); 0 without attempts.
  double p50_response_time_ms = 0;
  double p95_response_time_ms = 0;
};

/// One page of an endpoint's attempts, newest first.
struct attempt_page {
  std::vector<attempt_info> items;
  uint32_t page = 1;
  uint32_t page_size = 10;
  uint64_t total_items = 0;
};

/// Parameters of `GET /v1/webhook/endpoints/list`, already validated.
struct list_query {
  /// 1-based page number.
  uint32_t page = 1;
  /// Items per page, 1-100.
  uint32_t page_size = 10;
  /// Inclusive lower bound on `created_at`, if any.
  std::optional<unix_millis> created_from;
  /// Inclusive upper bound on `created_at`, if any.
  std::optional<unix_millis> created_to;
  /// The admin tenant list only (`search`, issue 18): keeps the tenants
  /// whose id or name contains it, ignoring ASCII case; empty: all.
  std::string search;
};

/// One page of endpoints ordered by identifier.
struct endpoint_page {
  std::vector<endpoint> items;
  uint32_t page = 1;
  uint32_t page_size = 10;
  /// Number of endpoints matching the date filter, over all pages.
  uint64_t total_items = 0;
};

/// A tenant as the admin API shows it.
struct tenant_info {
  std::string id;
  std::string name;
  unix_seconds created_at = 0;
  bool active = true;
  /// The bearer token in clear text: set only in the answer that created
  /// the tenant, empty everywhere else (only its SHA-256 is stored).
  std::string token;
};

} // namespace wi
