#pragma once

// Per-tenant limits (issue 13): pure decisions with an injected clock, and
// the runtime state a tenant actor keeps for them. The tenant actor only
// calls these; the limits themselves are described in
// `webhook_ingress/limits.hpp` and docs/operations.md ("Per-tenant limits").

#include <chrono>
#include <cstdint>

#include <caf/error.hpp>

#include "webhook_ingress/limits.hpp"
#include "webhook_ingress/state.hpp"

namespace wi {

/// The clock of the publish rate limit: monotonic time points, which the
/// tenant actor reads from the program's clock (`clock::steady_now()`, so a
/// `fake_clock` moves the limit too); tests may pass any time point.
using limit_clock = std::chrono::steady_clock;

/// A token bucket of publishes, in millionths of a token so that refilling
/// is exact integer arithmetic (a rate of `r` per second adds `r` micro-
/// tokens per microsecond). Runtime only: a restarted tenant starts full.
struct token_bucket {
  /// Micro-tokens available; at most `burst * 1e6`.
  uint64_t micro_tokens = 0;
  /// When `micro_tokens` was last brought up to date.
  limit_clock::time_point updated{};
  /// False until first used: a fresh bucket is full.
  bool started = false;

  friend bool operator==(const token_bucket&, const token_bucket&) = default;
};

/// The result of asking the bucket for one publish.
struct bucket_decision {
  /// Whether the publish may go ahead (one token was taken).
  bool allowed = true;
  /// When not allowed: how long until a whole token is there (> 0).
  std::chrono::microseconds wait{0};
  /// The bucket after the decision.
  token_bucket next;
};

/// Asks `bucket` for one publish at `now` under `rate` per second and a
/// bucket of `burst` (taken as 1 if 0). With `rate` 0 every publish is
/// allowed and the bucket is left as it is. A `now` before `bucket.updated`
/// (a clock that went back) refills nothing. Pure.
[[nodiscard]] bucket_decision take_token(const token_bucket& bucket,
                                         uint64_t rate, uint64_t burst,
                                         limit_clock::time_point now);

/// Returns the whole tokens `bucket` holds at `now` (the bucket's size when
/// it was never used). Pure.
[[nodiscard]] uint64_t tokens_at(const token_bucket& bucket, uint64_t rate,
                                 uint64_t burst, limit_clock::time_point now);

/// Returns `defaults` with each of `overrides`' values in place of the
/// default. Pure.
[[nodiscard]] tenant_limits resolve(const limit_overrides& overrides,
                                    const tenant_limits& defaults);

/// Returns `overrides` after `patch` (`set` replaces, `reset` drops the
/// override, `keep` leaves it). Pure.
[[nodiscard]] limit_overrides merge(limit_overrides overrides,
                                    const limits_patch& patch);

/// Returns the value of limit `kind` in `x`.
[[nodiscard]] uint64_t value_of(const tenant_limits& x, limit_kind kind);

/// The publish rate limit's verdict as an error: `errc::rate_limited` on
/// field `publish_rate`, with the seconds to wait (`wait` rounded up, at
/// least 1) for `Retry-After`.
[[nodiscard]] caf::error rate_limited(const tenant_limits& limits,
                                      std::chrono::microseconds wait);

/// Checks whether one more endpoint fits: `existing` endpoints plus
/// `creating` ones not yet durable must stay below `max_endpoints` (0: no
/// limit). Returns `errc::endpoint_limit_reached` on field `max_endpoints`
/// otherwise. Pure.
[[nodiscard]] caf::error check_endpoint_quota(const tenant_limits& limits,
                                              uint64_t existing,
                                              uint64_t creating);

/// Checks whether a payload of `bytes` fits: `stored` bytes plus `incoming`
/// bytes of publishes not yet durable plus `bytes` must not exceed
/// `max_stored_bytes` (0: no limit). Returns `errc::quota_exceeded` on
/// field `max_stored_bytes` otherwise, with `retry_after` (rounded up to
/// whole seconds, at least 1): the earliest time history pruning could
/// release bytes. Pure.
[[nodiscard]] caf::error
check_storage_quota(const tenant_limits& limits, uint64_t stored,
                    uint64_t incoming, uint64_t bytes,
                    std::chrono::milliseconds retry_after);

/// What a tenant actor keeps for its limits at runtime (never stored).
struct limits_runtime {
  /// The publish token bucket.
  token_bucket bucket;
  /// Endpoint creates sent to the WAL and not answered yet.
  uint64_t creating = 0;
  /// Payload bytes of publishes admitted and not answered yet.
  uint64_t incoming_bytes = 0;
};

} // namespace wi
