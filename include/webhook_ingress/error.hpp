#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace wi {

/// The project's error codes. Every failure inside the service travels as a
/// `caf::error` of this category (`wi::error_category`); the HTTP layer maps
/// each code to one status and one stable upper-case code in exactly one
/// place (`http/error_mapping.hpp`).
///
/// The error's context is always a message of two strings:
/// `(field, text)`. `field` names the offending input field or parameter
/// (empty when none applies); `text` is a human-readable sentence.
enum class errc : uint8_t {
  /// Not an error; never sent.
  none = 0,
  /// The body is not JSON, or not a JSON object (400 INVALID_JSON).
  invalid_json,
  /// A path id, query value or body field is not of its type, or a date is
  /// not RFC 3339 (400 INVALID_PARAMETER).
  invalid_parameter,
  /// Well-formed input that breaks a rule (422 VALIDATION_FAILED).
  validation_failed,
  /// Missing, malformed or unknown credentials (401 UNAUTHORIZED).
  unauthorized,
  /// Valid credentials without the right to this route (403 FORBIDDEN).
  forbidden,
  /// The addressed resource does not exist for this tenant (404 NOT_FOUND).
  not_found,
  /// No route matches the path (404 ROUTE_NOT_FOUND).
  route_not_found,
  /// The path exists but not for this method (405 METHOD_NOT_ALLOWED).
  method_not_allowed,
  /// The request body exceeds the configured limit (413 PAYLOAD_TOO_LARGE).
  payload_too_large,
  /// A durable write failed; nothing was applied (503 STORAGE_UNAVAILABLE).
  storage_unavailable,
  /// Recovery has not finished yet (503 NOT_READY).
  not_ready,
  /// A bounded queue is full (503 OVERLOADED).
  overloaded,
  /// The tenant has more pending deliveries than its cap (429
  /// TOO_MANY_PENDING, with Retry-After).
  too_many_pending,
  /// Stored data cannot be decoded or does not belong to this service.
  corrupt_data,
  /// A bug: an invariant did not hold (500 INTERNAL).
  internal,
  /// Cluster mode: the node that owns the tenant cannot be reached, did not
  /// answer in time, or is not a member (503 TENANT_UNAVAILABLE, with
  /// Retry-After).
  tenant_unavailable,
  /// The request target is longer than the server accepts (414
  /// URI_TOO_LONG). Appended, so that the values before it keep their numbers.
  uri_too_long,
  // -- per-tenant limits (issue 13); appended so existing codes keep their
  // numbers.
  /// The tenant publishes faster than its `publish_rate` allows (429
  /// RATE_LIMITED, with Retry-After).
  rate_limited,
  /// The tenant's stored event payloads reached `max_stored_bytes` (429
  /// QUOTA_EXCEEDED, with Retry-After).
  quota_exceeded,
  /// The tenant has `max_endpoints` endpoints already (422
  /// ENDPOINT_LIMIT_REACHED).
  endpoint_limit_reached,
};

/// The CAF error category of `errc`.
inline constexpr caf::atom_value error_category = caf::atom("wi");

/// Returns the enumerator's name, e.g. `"validation_failed"`.
inline std::string to_string(errc x) {
  switch (x) {
  case errc::none:
    return "none";
  case errc::invalid_json:
    return "invalid_json";
  case errc::invalid_parameter:
    return "invalid_parameter";
  case errc::validation_failed:
    return "validation_failed";
  case errc::unauthorized:
    return "unauthorized";
  case errc::forbidden:
    return "forbidden";
  case errc::not_found:
    return "not_found";
  case errc::route_not_found:
    return "route_not_found";
  case errc::method_not_allowed:
    return "method_not_allowed";
  case errc::payload_too_large:
    return "payload_too_large";
  case errc::storage_unavailable:
    return "storage_unavailable";
  case errc::not_ready:
    return "not_ready";
  case errc::overloaded:
    return "overloaded";
  case errc::too_many_pending:
    return "too_many_pending";
  case errc::corrupt_data:
    return "corrupt_data";
  case errc::internal:
    return "internal";
  case errc::tenant_unavailable:
    return "tenant_unavailable";
  case errc::uri_too_long:
    return "uri_too_long";
  case errc::rate_limited:
    return "rate_limited";
  case errc::quota_exceeded:
    return "quota_exceeded";
  case errc::endpoint_limit_reached:
    return "endpoint_limit_reached";
  }
  return "unknown";
}

/// Builds an error of category `wi` with the context `(field, text)`.
[[nodiscard]] inline caf::error make_error(errc code, std::string field,
                                           std::string text) {
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(std::move(field), std::move(text))};
}

/// Builds an error of category `wi` whose answer tells the client when to
/// try again: the context is `(field, text, seconds)`, and the HTTP layer
/// sends `seconds` as `Retry-After` (see `retry_after_of`).
[[nodiscard]] inline caf::error make_error(errc code, std::string field,
                                           std::string text,
                                           uint64_t retry_after_seconds) {
  return caf::error{
    static_cast<uint8_t>(code), error_category,
    caf::make_message(std::move(field), std::move(text), retry_after_seconds)};
}

/// Builds an error of category `wi` without a field.
[[nodiscard]] inline caf::error make_error(errc code, std::string text) {
  return make_error(code, std::string{}, std::move(text));
}

/// Returns the `errc` of `err`, `errc::none` for no error, or
/// `errc::internal` for an error of another category (a CAF system error
/// such as a dead actor is a bug here).
[[nodiscard]] inline errc code_of(const caf::error& err) {
  if (!err)
    return errc::none;
  if (err.category() != error_category)
    return errc::internal;
  return static_cast<errc>(err.code());
}

/// Returns the field named in `err`'s context, or an empty string.
[[nodiscard]] inline std::string field_of(const caf::error& err) {
  const auto& ctx = err.context();
  if (err.category() == error_category && ctx.size() >= 2 &&
      ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return {};
}

/// Returns the human-readable text of `err`'s context; for errors of other
/// categories a rendering of the CAF error.
[[nodiscard]] inline std::string text_of(const caf::error& err) {
  const auto& ctx = err.context();
  if (err.category() == error_category && ctx.size() >= 2 &&
      ctx.match_element<std::string>(1))
    return ctx.get_as<std::string>(1);
  return caf::to_string(err);
}

/// Returns the seconds after which the client may try again, if `err`
/// carries them (built with the four-argument `make_error`).
[[nodiscard]] inline std::optional<uint64_t>
retry_after_of(const caf::error& err) {
  const auto& ctx = err.context();
  if (err.category() == error_category && ctx.size() == 3 &&
      ctx.match_element<uint64_t>(2))
    return ctx.get_as<uint64_t>(2);
  return std::nullopt;
}

} // namespace wi
