#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wi_e2e {

/// A point in time with nanosecond resolution, comparable.
struct time_point {
  int64_t seconds = 0; // since the Unix epoch, UTC
  int64_t nanos = 0;   // 0 .. 999'999'999

  friend auto operator<=>(const time_point&, const time_point&) = default;
};

/// Parses an RFC 3339 date-time (`2024-01-01T00:00:00Z`,
/// `2024-01-01T00:00:00.123+02:00`). Strict: 'T' and 'Z' upper case.
std::optional<time_point> parse_rfc3339(std::string_view x);

/// Whether `x` is RFC 3339 and in UTC with a `Z` suffix.
bool is_rfc3339_utc(std::string_view x);

/// Formats `t` (whole seconds) as RFC 3339 with the given offset in minutes,
/// e.g. `2024-01-01T02:00:00+02:00` for offset 120.
std::string format_rfc3339(time_point t, int offset_minutes = 0);

} // namespace wi_e2e
