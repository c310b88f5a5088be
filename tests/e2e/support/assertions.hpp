#pragma once

#include <string_view>

#include <boost/json/value.hpp>
#include <gtest/gtest.h>

#include "support/http_client.hpp"

namespace wi_e2e {

/// A success envelope with the given status: JSON content type,
/// `success: true`, a `data` member, no `error`, valid `meta` and an
/// `X-Request-Id` header equal to `meta.request_id`.
::testing::AssertionResult is_success(const http_response& r, long status);

/// An error envelope: the status, `success: false`, `error.code == code`, a
/// non-empty `error.message`, `data` absent or null, valid `meta`, and an
/// `X-Request-Id` header equal to `meta.request_id`.
::testing::AssertionResult is_error(const http_response& r, long status,
                                    std::string_view code);

/// `is_error` plus `error.field == field` and `error.message` naming the
/// field.
::testing::AssertionResult is_field_error(const http_response& r, long status,
                                          std::string_view code,
                                          std::string_view field);

/// 204 with an empty body.
::testing::AssertionResult is_no_content(const http_response& r);

/// The value has the shape of a `WebhookEndpoint`: integer `identifier` >= 1,
/// string `url`/`secret`, non-empty string array `event_types`, object
/// `headers` of strings, `status` in the enum, RFC 3339 UTC
/// `create_timestamp` and `last_modified` with `last_modified >=
/// create_timestamp`.
::testing::AssertionResult is_endpoint(const boost::json::value& v);

/// Returns an endpoint object without the circuit-breaker extensions that
/// `GET /v1/webhook/endpoints/{id}` adds (`status_reason`,
/// `consecutive_failures`, `disabled_at`, `next_probe_at`): the spec's
/// fields only, comparable with what create and list answer.
boost::json::value spec_fields(boost::json::value endpoint);

/// Whether `x` is a valid request id: 1-128 chars of `[A-Za-z0-9._:-]`.
bool is_valid_request_id(std::string_view x);

/// The response body without `meta` (to compare two answers).
boost::json::value without_meta(const http_response& r);

/// `v` as a signed integer; throws if it is not an integer.
int64_t as_int(const boost::json::value& v);

/// `v[key]` as a string; throws if absent or not a string.
std::string str_at(const boost::json::value& v, std::string_view key);

} // namespace wi_e2e
