#pragma once

// Per-tenant limits (issue 13): the vocabulary shared by the WAL record that
// changes them, the tenant state that keeps them, the admin view that shows
// them and the node options that set their defaults. The decisions live in
// `actors/tenant_limits.hpp`.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace wi {

/// The limits one tenant runs under. A value of 0 means "no limit" for
/// `max_endpoints`, `max_stored_bytes` and `publish_rate`.
struct tenant_limits {
  /// Most endpoints (of any status). Default: 1000.
  uint64_t max_endpoints = 1000;
  /// Most bytes of event payloads kept (until history pruning removes an
  /// event, i.e. for the retention window). Default: 1 GiB.
  uint64_t max_stored_bytes = uint64_t{1} << 30;
  /// Publishes per second, refilled continuously (token bucket). Default:
  /// 100.
  uint64_t publish_rate = 100;
  /// Publishes allowed at once after a quiet period (the bucket's size);
  /// at least 1. Default: 200.
  uint64_t publish_burst = 200;

  friend bool operator==(const tenant_limits&, const tenant_limits&) = default;
};

/// Identifies one limit; the order of `limit_names`.
enum class limit_kind : uint8_t {
  max_endpoints = 0,
  max_stored_bytes = 1,
  publish_rate = 2,
  publish_burst = 3,
};

/// The limits' names as the admin API, the docs and log lines spell them.
inline constexpr std::array<std::string_view, 4> limit_names{
  "max_endpoints", "max_stored_bytes", "publish_rate", "publish_burst"};

/// The values a limit may take, inclusive, for the node options and the
/// admin API alike (0 is "no limit" where the range admits it).
struct limit_range {
  uint64_t min;
  uint64_t max;
};

/// The ranges of the limits, by `limit_kind`.
inline constexpr std::array<limit_range, 4> limit_ranges{{
  {0, 10'000'000},        // max_endpoints
  {0, uint64_t{1} << 50}, // max_stored_bytes (1 PiB)
  {0, 1'000'000},         // publish_rate
  {1, 1'000'000},         // publish_burst
}};

/// A tenant's own values, each overriding the node default (an empty one
/// follows the node's option, whatever it is at the time).
struct limit_overrides {
  std::array<std::optional<uint64_t>, 4> values;

  friend bool operator==(const limit_overrides&,
                         const limit_overrides&) = default;
};

/// What an admin change does to one limit.
enum class limit_op : uint8_t {
  /// Leave it as it is.
  keep = 0,
  /// Override the node default with `value`.
  set = 1,
  /// Drop the override: follow the node default again.
  reset = 2,
};

/// One limit's change.
struct limit_change {
  limit_op op = limit_op::keep;
  uint64_t value = 0;

  friend bool operator==(const limit_change&, const limit_change&) = default;
};

/// An admin change of a tenant's limits, by `limit_kind`. Recorded as is
/// (`tenant_limits_set`), so two changes that race merge field by field
/// in the order they were committed.
struct limits_patch {
  std::array<limit_change, 4> changes;

  friend bool operator==(const limits_patch&, const limits_patch&) = default;
};

/// How much of its limits a tenant uses.
struct limits_usage {
  /// Endpoints of any status.
  uint64_t endpoints = 0;
  /// Bytes of event payloads kept.
  uint64_t stored_bytes = 0;
  /// Whole publishes the token bucket allows right now; nullopt when the
  /// tenant's actor does not run (its bucket is then full) or without a
  /// rate limit.
  std::optional<uint64_t> publish_tokens;

  friend bool operator==(const limits_usage&, const limits_usage&) = default;
};

} // namespace wi
