#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "webhook_ingress/delivery.hpp"

/// When to retry a failed delivery. Everything here is pure except the
/// default jitter source; no function blocks.
namespace wi {

/// A source of uniformly distributed numbers in [0, 1]; values outside are
/// clamped. Injectable so tests can pin the jitter.
using jitter_source = std::function<double()>;

/// Returns a jitter source backed by a thread-local PRNG seeded from
/// `std::random_device`. The returned function is safe to call from any
/// thread.
[[nodiscard]] jitter_source default_jitter();

/// Largest delay a `Retry-After` header can ask for: 10 h.
inline constexpr std::chrono::milliseconds max_retry_after =
  std::chrono::hours{10};

/// Largest single item `parse_retry_schedule` accepts: 7 days.
inline constexpr std::chrono::milliseconds max_schedule_item =
  std::chrono::hours{24 * 7};

/// Returns the default delays before retries 1..7 (after the first attempt):
/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
[[nodiscard]] std::vector<std::chrono::milliseconds> default_retry_schedule();

/// Parses a comma-separated schedule such as `100ms,200ms,1s,5m,2h`: each
/// item a positive integer followed by `ms`, `s`, `m` or `h`; blanks around
/// items are ignored; each item at most `max_schedule_item`. Fails with
/// `errc::validation_failed` (field `retry_schedule`) whose text names the
/// bad item.
[[nodiscard]] caf::expected<std::vector<std::chrono::milliseconds>>
parse_retry_schedule(std::string_view text);

/// Parses a `Retry-After` value: delay-seconds (`120`) or an HTTP-date
/// (IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, or the obsolete RFC 850 and
/// asctime forms). A date is converted relative to `now`; a date in the past
/// gives 0. Returns `nullopt` for anything else. Large values saturate at
/// `max_schedule_item`.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_retry_after(
  std::string_view value,
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// Returns the delay a failed attempt's `Retry-After` asks for, if the
/// status is 429 or 503 and the header parses; else `nullopt`.
[[nodiscard]] std::optional<std::chrono::milliseconds> retry_after_of(
  const delivery_outcome& outcome,
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// A retry schedule with proportional jitter. Immutable after construction;
/// safe to share between threads.
class retry_policy {
 public:
  /// Default jitter: each delay is drawn from [80%, 120%] of its schedule.
  static constexpr double default_jitter_ratio = 0.2;

  /// Uses `schedule` (delays before retry 1, 2, ...) and a jitter of
  /// ±`jitter_ratio` (clamped to [0, 1]).
  explicit retry_policy(
    std::vector<std::chrono::milliseconds> schedule = default_retry_schedule(),
    double jitter_ratio = default_jitter_ratio);

  /// Returns the delay before the next attempt after attempt number
  /// `attempt` (1-based: 1 is the first attempt; 0 counts as 1) failed, or
  /// `nullopt` when the schedule is exhausted (no retry after the last one).
  /// The scheduled delay is jittered with one draw of `jitter`. A
  /// `retry_after` (see `retry_after_of`) never shortens that delay; it may
  /// lengthen it up to twice the jittered delay and up to `max_retry_after`.
  [[nodiscard]] std::optional<std::chrono::milliseconds>
  next_delay(uint32_t attempt,
             std::optional<std::chrono::milliseconds> retry_after,
             const jitter_source& jitter) const;

  /// Returns the total number of attempts: retries plus the first one.
  [[nodiscard]] size_t max_attempts() const noexcept {
    return schedule_.size() + 1;
  }

  /// Returns the unjittered schedule.
  [[nodiscard]] const std::vector<std::chrono::milliseconds>&
  schedule() const noexcept {
    return schedule_;
  }

 private:
  std::vector<std::chrono::milliseconds> schedule_;
  double jitter_ratio_;
};

} // namespace wi
