#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include "webhook_ingress/domain.hpp"

namespace wi {

/// The program's one source of wall-clock time. Every "now" of the service
/// (record times, breaker and retry deadlines, token grace, HTTP dates)
/// comes from a `clock`; decisions take `now` as an argument, and the actors
/// that call them read it from the clock they were given, so tests move time
/// with a `fake_clock` instead of sleeping. Intervals that must not jump with
/// the wall clock (the publish rate limit) read `steady_now()` of the same
/// clock. Implementations are thread-safe.
class clock {
 public:
  virtual ~clock() = default;

  /// Milliseconds since the Unix epoch.
  [[nodiscard]] virtual unix_millis now() const noexcept = 0;

  /// Monotonic time, for intervals only (its epoch means nothing): never
  /// goes back on the system clock; a fake clock's own time.
  [[nodiscard]] virtual std::chrono::steady_clock::time_point
  steady_now() const noexcept = 0;

  /// Whole seconds since the Unix epoch (`now()` rounded down).
  [[nodiscard]] unix_seconds now_seconds() const noexcept {
    auto ms = now();
    return (ms >= 0 ? ms : ms - 999) / 1000;
  }
};

/// A shared, immutable handle on a clock.
using clock_ptr = std::shared_ptr<const clock>;

/// Returns the system's wall clock (`std::chrono::system_clock`): the
/// default wherever no clock is injected. Never null.
[[nodiscard]] const clock_ptr& wall_clock() noexcept;

/// A clock that stands still until a test moves it. Thread-safe.
class fake_clock final : public clock {
 public:
  explicit fake_clock(unix_millis start = 1'700'000'000'000) : now_(start) {}

  [[nodiscard]] unix_millis now() const noexcept override {
    return now_.load();
  }

  /// `now()` as a monotonic time point: moves exactly as `set` and
  /// `advance` move the clock.
  [[nodiscard]] std::chrono::steady_clock::time_point
  steady_now() const noexcept override {
    return std::chrono::steady_clock::time_point{
      std::chrono::milliseconds{now_.load()}};
  }

  /// Sets the time to `t`.
  void set(unix_millis t) noexcept { now_.store(t); }

  /// Moves the time forward by `ms` milliseconds.
  void advance(unix_millis ms) noexcept { now_.fetch_add(ms); }

 private:
  std::atomic<unix_millis> now_;
};

} // namespace wi
