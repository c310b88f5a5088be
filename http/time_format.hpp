#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "webhook_ingress/domain.hpp"

namespace wi::http {

/// Formats a Unix time as RFC 3339 UTC without fraction, e.g.
/// `"2024-01-01T00:00:00Z"`. Independent of locale and `TZ`; thread-safe.
/// Times before year 0000 or after 9999 are clamped to
/// `0000-01-01T00:00:00Z` / `9999-12-31T23:59:59Z` (four-digit years only).
[[nodiscard]] std::string format_rfc3339(wi::unix_seconds x);

/// Parses a strict RFC 3339 `date-time`:
/// `YYYY-MM-DD(T|t)HH:MM:SS[.frac](Z|z|+hh:mm|-hh:mm)`. Checks day-of-month
/// against the month including leap years, hour < 24, minute < 60,
/// second <= 60 (a leap second 60 folds into the next second), offset hour
/// < 24 and offset minute < 60. The fraction (one digit or more) is
/// truncated to milliseconds. Returns milliseconds since the Unix epoch
/// (UTC), or nullopt for anything else (no surrounding whitespace allowed).
/// Independent of locale and `TZ`; thread-safe.
[[nodiscard]] std::optional<wi::unix_millis>
parse_rfc3339(std::string_view x) noexcept;

/// Returns the current system time formatted by `format_rfc3339`.
[[nodiscard]] std::string now_rfc3339();

/// Returns the current system time in whole seconds since the Unix epoch.
[[nodiscard]] wi::unix_seconds now_unix_seconds() noexcept;

/// Returns the current system time in milliseconds since the epoch.
[[nodiscard]] wi::unix_millis now_unix_millis() noexcept;

} // namespace wi::http
