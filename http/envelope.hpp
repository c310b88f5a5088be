#pragma once

#include <string>
#include <string_view>

#include <boost/json/value.hpp>
#include <caf/error.hpp>

#include "webhook_ingress/domain.hpp"

namespace wi::http {

/// The envelope's `meta` member; `version` is always the API version "1.0".
struct response_meta {
  /// The request id, echoed in `X-Request-Id`.
  std::string request_id;
  /// The response time in RFC 3339 UTC.
  std::string timestamp;
};

/// The API version written into every `meta`.
inline constexpr std::string_view api_version = "1.0";

/// Returns the meta of a response: `incoming` (an `X-Request-Id` header
/// value, possibly empty) if `valid_request_id(incoming)`, else a fresh
/// `make_request_id()`, stamped with `now_rfc3339()`.
[[nodiscard]] response_meta make_response_meta(std::string_view incoming);

/// Returns `{"success":true,"data":<data>,"meta":{"request_id":...,
/// "timestamp":...,"version":"1.0"}}`.
[[nodiscard]] std::string success_body(boost::json::value data,
                                       const response_meta& meta);

/// Returns a success envelope whose `data` is the array of the page's
/// endpoints (see `to_json`) with a top-level `pagination` member (see
/// `pagination_json`) before `meta`.
[[nodiscard]] std::string page_body(const wi::endpoint_page& page,
                                    const response_meta& meta);

/// Returns `{"success":false,"data":null,"error":{"code":...,"message":...,
/// "field":...},"meta":{...}}` where `code` comes from `map_error`,
/// `message` is `wi::text_of(err)` and `field` is `wi::field_of(err)`,
/// present only when non-empty, and `retry_after_seconds` when the error
/// carries one (`wi::retry_after_of`, also sent as `Retry-After`). The HTTP
/// status is `map_error(err).status`.
/// A success envelope with `data` = `items` and a `pagination` block.
[[nodiscard]] std::string page_body(boost::json::array items,
                                    boost::json::object pagination,
                                    const response_meta& meta);

/// The envelope's `error` object of `err`: `code`, `message`, and `field`
/// and `retry_after_seconds` when it has them.
[[nodiscard]] boost::json::object error_json(const caf::error& err);

[[nodiscard]] std::string error_body(const caf::error& err,
                                     const response_meta& meta);

/// Returns a fresh request id: 16 lower-case hex characters from a
/// per-thread pseudo-random generator seeded from `std::random_device`, the
/// thread and a process-wide counter. Unique with overwhelming probability;
/// not a secret. Thread-safe.
[[nodiscard]] std::string make_request_id();

/// Returns whether `x` may be echoed as a request id: 1-128 characters of
/// `[A-Za-z0-9._:-]`.
[[nodiscard]] bool valid_request_id(std::string_view x) noexcept;

} // namespace wi::http
