#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <caf/expected.hpp>

#include "webhook_ingress/domain.hpp"
#include "webhook_ingress/error.hpp"
#include "webhook_ingress/history.hpp"

namespace wi::http {

/// Limits of `POST /v1/webhook/endpoints`. Lengths count Unicode code points
/// ("characters"), not bytes.
struct endpoint_limits {
  static constexpr size_t max_url = 77;
  static constexpr size_t min_secret = 8;
  static constexpr size_t max_secret = 64;
  static constexpr size_t max_event_types = 64;
  static constexpr size_t max_event_type = 128;
  static constexpr size_t max_headers = 32;
  static constexpr size_t max_header_name = 128;
  static constexpr size_t max_header_value = 1024;
  static constexpr size_t max_tenant_name = 100;
  static constexpr size_t max_page_size = 100;
  static constexpr size_t max_description = 1024;
};

/// Parses `body` as a JSON object: `invalid_json` on field `body` when it is
/// empty, not JSON, or another JSON value.
[[nodiscard]] caf::expected<boost::json::object>
parse_object(std::string_view body);

/// Validates the body of `POST /v1/webhook/endpoints` and returns the
/// endpoint to create. Every error is a `wi::make_error(code, field, text)`
/// whose text names the field. Checks run in this order and the first
/// failure wins:
/// 1. empty, non-JSON or non-object body: `invalid_json`, field `body`;
/// 2. present fields of the wrong JSON type (`null` included):
///    `invalid_parameter` naming `url`, `secret`, `event_types`,
///    `event_types[i]`, `headers` or `headers.<name>`;
/// 3. missing `url`, `secret` or `event_types`: `validation_failed`;
/// 4. rules (`validation_failed`), for url, secret, event_types, headers in
///    this order: url 1-77 characters, printable ASCII only (no whitespace,
///    controls or characters RFC 3986 forbids), absolute `http://` or
///    `https://` (scheme case-insensitive), non-empty valid host (name or
///    `[IPv6]`), optional port 1-65535, no userinfo, no fragment; secret
///    8-64 characters without control characters (C0, DEL, C1), and when
///    it starts with `whsec_` the rest must pass `decode_webhook_secret`
///    (what the Standard Webhooks libraries decode, the key signed with);
///    event_types 1-64 elements, each 1-128 characters, `*` or only
///    `[A-Za-z0-9._:-]`, duplicates removed keeping first order; headers at
///    most 32, names RFC 7230 tokens of at most 128 characters, unique
///    case-insensitively (exact duplicates in the JSON text included), not a
///    header the service sets itself, values at most 1024 characters
///    without CR, LF, NUL or other control characters except HTAB.
/// `description` (optional, issue 17): a string of at most 1024 characters
/// without control characters, or `null`; `null` and `""` mean none.
/// `rate_limit` (optional, issue 17): an integer 1..10 000 (deliveries per
/// second) or `null` (no limit); another JSON type -> `invalid_parameter`,
/// out of range -> `validation_failed`. `ordering` (optional, issue 17): the
/// string `"unordered"` (default) or `"fifo"`; another type ->
/// `invalid_parameter`, another string -> `validation_failed`. The rules run
/// after those of `description`, in this order.
/// Unknown top-level fields are ignored; header order is kept.
[[nodiscard]] caf::expected<wi::new_endpoint>
parse_create_endpoint(std::string_view body);

/// Validates the body of `PATCH /v1/webhook/endpoints/{id}` (issue 17) and
/// returns the change: any of `url`, `event_types`, `headers` (replaces the
/// whole set; `{}` removes every header), `description` (`null` or `""`
/// clears it), `rate_limit` (`null` clears it) and `ordering`, each checked
/// exactly as for create. Order, first failure
/// wins: 1. bad JSON body -> `invalid_json`; 2. wrong types ->
/// `invalid_parameter`, as for create; 3. `secret` -> `validation_failed`
/// naming `secret` and pointing at the rotate route; any other field ->
/// `validation_failed` naming it (a typo must not pass silently); 4. the
/// rules of create -> `validation_failed`. `{}` is a valid empty patch.
[[nodiscard]] caf::expected<wi::endpoint_patch>
parse_patch_endpoint(std::string_view body);

/// Default, shortest and longest grace of a rotated endpoint secret.
inline constexpr int64_t default_secret_grace_ms = 24 * 3600 * 1000;
inline constexpr int64_t min_secret_grace_ms = 1000;
inline constexpr int64_t max_secret_grace_ms = 7 * 24 * 3600 * 1000;

/// Validates the body of `POST /v1/webhook/endpoints/{id}/secret/rotate`
/// (issue 17): empty, or an object with optional `secret` (the rules of
/// create; absent: the tenant actor generates a `whsec_` secret) and
/// optional `grace` (one duration in the config's format, `ms`, `s`, `m` or
/// `h`, from 1 s to 7 days; default 24h). Wrong types -> `invalid_parameter`;
/// other fields and broken rules -> `validation_failed` naming the field.
[[nodiscard]] caf::expected<wi::secret_rotation>
parse_rotate_secret(std::string_view body);

/// Validates the query of `GET /v1/webhook/endpoints/list`. `params` are
/// percent-decoded key/value pairs; unknown keys are ignored and the first
/// occurrence of a key wins. Every type error (400) is reported before any
/// range error (422); the first failure wins.
/// - `page` (default 1): not an integer (empty, `1.5`, `+1`, beyond int64)
///   -> `invalid_parameter`; < 1 or > 4294967295 -> `validation_failed`.
/// - `pageSize` (default 10): not an integer -> `invalid_parameter`; < 1 or
///   > 100 -> `validation_failed`.
/// - `initialDate` / `finalDate`: not RFC 3339 -> `invalid_parameter`
///   naming the parameter (a space is read as `+`: an unencoded `+01:00`
///   offset arrives form-decoded as ` 01:00`); initialDate after finalDate ->
///   `validation_failed` naming `initialDate`. Set `created_from` /
///   `created_to` in milliseconds (both inclusive).
[[nodiscard]] caf::expected<wi::list_query> parse_list_query(
  const std::vector<std::pair<std::string, std::string>>& params);

/// Validates the query of `GET /v1/webhook/events` (issue 17): `page`,
/// `pageSize`, `initialDate` and `finalDate` exactly as `parse_list_query`
/// (bounds on the event's `created_at`), then `event_type` (optional; the
/// rules of publish: 1-128 characters of `[A-Za-z0-9._:-]`, else
/// `validation_failed` naming `event_type`; the first occurrence wins).
[[nodiscard]] caf::expected<wi::event_query> parse_event_query(
  const std::vector<std::pair<std::string, std::string>>& params);

/// Validates the body of `POST /v1/webhook/endpoints/{id}/recover` (issue
/// 17) and returns `since` in milliseconds: a JSON object with only
/// `since`, an RFC 3339 date-time string. Bad JSON -> `invalid_json`; not a
/// string -> `invalid_parameter`; another field, missing, or not RFC 3339
/// -> `validation_failed` naming the field.
[[nodiscard]] caf::expected<wi::unix_millis>
parse_recover(std::string_view body);

/// Parses an endpoint id path segment: decimal digits only (no sign, no
/// whitespace), fitting uint64; else `invalid_parameter` naming `field`.
/// `"0"` is accepted (no endpoint has it, so the tenant actor answers 404).
[[nodiscard]] caf::expected<wi::endpoint_id>
parse_endpoint_id(std::string_view x, std::string_view field = "id");

/// Validates the body of `POST /admin/v1/tenants` and returns the tenant
/// name: a JSON object whose `name` is a string of 1-100 characters without
/// control characters. Bad JSON -> `invalid_json` (field `body`); wrong type
/// -> `invalid_parameter`; missing or breaking a rule -> `validation_failed`
/// (field `name`).
[[nodiscard]] caf::expected<std::string>
parse_create_tenant(std::string_view body);

/// Validates the body of `POST /admin/v1/tenants/{id}/move` and returns the
/// target node id: a JSON object whose `to` is a string of 1-64 letters,
/// digits, `_`, `-`, `.` (a node id). Bad JSON -> `invalid_json`; wrong type
/// -> `invalid_parameter`; missing or malformed -> `validation_failed`
/// (field `to`). Whether `to` names an active member is the mover's check.
[[nodiscard]] caf::expected<std::string>
parse_move_tenant(std::string_view body);

/// The optional `pin` of the same body: whether the move pins the tenant's
/// placement (default true). Not a boolean -> `invalid_parameter` (field
/// `pin`); bad JSON -> `invalid_json`.
[[nodiscard]] caf::expected<bool> parse_move_pin(std::string_view body);

/// Returns the number of Unicode code points in valid UTF-8 `x` (bytes that
/// are not continuation bytes).
[[nodiscard]] size_t count_code_points(std::string_view x) noexcept;

/// Returns whether valid UTF-8 `x` contains a control character: C0
/// (U+0000-U+001F), DEL or C1 (U+0080-U+009F).
[[nodiscard]] bool has_control_chars(std::string_view x) noexcept;

/// Returns whether `x` is a non-empty RFC 7230 token (header field name).
[[nodiscard]] bool is_http_token(std::string_view x) noexcept;

/// Returns whether `name` (any case) is a header the service sets on every
/// delivery and that a tenant therefore cannot override.
[[nodiscard]] bool is_reserved_header(std::string_view name) noexcept;

/// Longest idempotency key accepted.
inline constexpr size_t max_idempotency_key = 255;

/// Longest ordering key accepted, in characters (issue 17).
inline constexpr size_t max_ordering_key = 128;

/// Returns the text of member `name` of the JSON object `object_text`
/// exactly as written (without the whitespace around it; the last one when
/// the name repeats, as `boost::json::parse` keeps it), or nullopt when the
/// object has no such member. `object_text` must be valid JSON; names are
/// compared after unescaping.
[[nodiscard]] std::optional<std::string_view>
raw_member(std::string_view object_text, std::string_view name);

/// Parses and validates a `POST /v1/webhook/events` body: `event_type` (1-128
/// characters of `[A-Za-z0-9._:-]`, required), `payload` (any JSON,
/// required; kept byte for byte as the client wrote it, without surrounding
/// whitespace), `idempotency_key` (optional,
/// 1-255 characters) and `ordering_key` (optional, 1-128 characters without
/// control characters; orders the event on FIFO endpoints, issue 17).
/// `key_header` is the `Idempotency-Key` header (empty if absent); it wins over
/// the body field. Errors as for the endpoint body.
[[nodiscard]] caf::expected<wi::new_event>
parse_publish(std::string_view body, std::string_view key_header);

/// Most events of one `POST /v1/webhook/events/batch`.
inline constexpr size_t max_batch_events = 100;

/// Parses a `POST /v1/webhook/events/batch` body: `events`, an array of 1 to
/// `max_batch_events` objects, each one a `POST /v1/webhook/events` body
/// (`idempotency_key` in the body: there is one header per request, not per
/// event). An error for the batch as a whole (not JSON, `events` missing,
/// not an array, empty or too long) fails the whole; otherwise each event
/// is parsed on its own, in order, its error naming its field as
/// `events[i].field` (`events[i]` for an element that is not an object).
[[nodiscard]] caf::expected<std::vector<caf::expected<wi::new_event>>>
parse_publish_batch(std::string_view body);

/// Validates an event id path segment: 1-64 characters of `[A-Za-z0-9_]`,
/// else 400 INVALID_PARAMETER on `event_id`.
[[nodiscard]] caf::expected<std::string> parse_event_id(std::string_view x);

// -- admin --------------------------------------------------------------------

/// Default and longest grace period of a rotated token, in seconds.
inline constexpr int64_t default_grace_seconds = 24 * 3600;
inline constexpr int64_t max_grace_seconds = 7 * 24 * 3600;

/// Validates a tenant id path segment: 1-64 characters of `[A-Za-z0-9]`,
/// else 400 INVALID_PARAMETER on `id`. (Unknown ids are the directory's 404.)
[[nodiscard]] caf::expected<std::string> parse_tenant_id(std::string_view x);

/// Parses the body of `POST /admin/v1/tenants/{id}/endpoints/{eid}/resend`
/// (the dashboard's resend, issue 18) and returns the event id: a JSON
/// object whose `event_id` is required (422), a string (400) and an event
/// id as `parse_event_id` accepts (400).
[[nodiscard]] caf::expected<std::string>
parse_resend_request(std::string_view body);

/// Parses the body of `POST /admin/v1/tenants/{id}/tokens` and returns the
/// grace period of the replaced token: an empty body or a missing
/// `grace_seconds` -> `default_grace_seconds`; bad JSON -> `invalid_json`;
/// not an integer -> `invalid_parameter`; negative or above
/// `max_grace_seconds` -> `validation_failed` (field `grace_seconds`).
[[nodiscard]] caf::expected<int64_t> parse_rotate_token(std::string_view body);

/// Reads the `purge` query parameter of `DELETE /admin/v1/tenants/{id}`:
/// absent -> false; `true` / `false`; anything else -> `invalid_parameter`.
[[nodiscard]] caf::expected<bool> parse_purge_flag(
  const std::vector<std::pair<std::string, std::string>>& params);

} // namespace wi::http
