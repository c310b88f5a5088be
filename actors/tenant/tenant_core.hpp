#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/delivery/retry_policy.hpp"
#include "actors/tenant/tenant_limits.hpp"
#include "webhook_ingress/delivery.hpp"
#include "webhook_ingress/domain.hpp"
#include "webhook_ingress/records.hpp"
#include "webhook_ingress/state.hpp"

namespace wi {

// The tenant's decisions as pure functions of (state, settings, now): whether
// a publish is admitted (rate, quota, pending cap) and which event an
// idempotency key answers with, what an attempt's outcome means, which
// breaker transition follows, which delivery a probe uses and which ones
// expired, which events a pruning round removes. The tenant actor
// (`tenant_actor.cpp`) is the shell: it reads `now` from its clock, commits
// the records these functions return, arms timers and submits to the
// engine. Tests call them with any `now` (no sleeping, no actor).

/// What one delivery outcome is, for the tenant. One place decides it:
/// "2xx is success" and "410 is gone" are not written anywhere else.
enum class outcome_kind {
  /// 2xx, exchange completed.
  delivered,
  /// Any other answer or transport error: an attempt that failed.
  failed,
  /// HTTP 410: failed, and the breaker trips at once.
  gone,
  /// The engine shut down before sending: not an attempt (the delivery
  /// stays pending for the next start).
  shutdown,
  /// The engine's queue was full and nothing was sent: not an attempt (it
  /// counts nowhere); tried again shortly.
  overloaded,
};

/// Classifies `x` (see `outcome_kind`).
[[nodiscard]] outcome_kind classify(const delivery_outcome& x) noexcept;

/// Returns whether `kind` is an attempt of the endpoint (recorded, counted
/// in statistics, retry budget and breaker).
[[nodiscard]] constexpr bool is_attempt(outcome_kind kind) noexcept {
  return kind != outcome_kind::shutdown && kind != outcome_kind::overloaded;
}

/// Builds the `attempt_recorded` record of attempt number `attempt` of
/// (`event_id`, `ep`), started at `started`, that ended with `outcome`
/// (an attempt, see `is_attempt`) at `now`: delivered; pending with the
/// next attempt at `now` + the policy's delay (a 429/503 `Retry-After`
/// taken into account); or failed as `exhausted`. The response excerpt is
/// made valid UTF-8. Deterministic for a deterministic `jitter`.
[[nodiscard]] attempt_recorded
record_attempt(const std::string& tenant_id, const std::string& event_id,
               endpoint_id ep, uint32_t attempt, unix_millis started,
               const delivery_outcome& outcome, const retry_policy& retries,
               const jitter_source& jitter, unix_millis now);

/// The breaker's settings (see `delivery_settings`).
struct breaker_settings {
  /// Consecutive failed attempts that trip the breaker.
  uint32_t failures = 10;
  /// First cool-down, and the most it doubles to.
  std::chrono::milliseconds cooldown{60'000};
  std::chrono::milliseconds max_cooldown{3'600'000};
};

/// A breaker transition to commit.
struct breaker_transition {
  endpoint_status status = endpoint_status::disabled;
  /// `consecutive_failures` or `gone` on a trip, the old reason after a
  /// failed probe, empty on recovery.
  std::string reason;
  std::chrono::milliseconds cooldown{0};
  /// Whether this trips an active endpoint (an `endpoint.disabled`
  /// notification follows), rather than re-arming a disabled one.
  bool trip = false;

  friend bool operator==(const breaker_transition&,
                         const breaker_transition&) = default;
};

/// The breaker's decision after an attempt of an endpoint in `status` with
/// breaker `b` (as applied, the attempt included) ended as `kind`; `probe`
/// says whether the attempt was the breaker's probe. An active endpoint
/// trips on `gone` or after `failures` consecutive failures; a disabled one
/// recovers on a successful probe, or waits twice as long (within
/// [cooldown, max_cooldown]) after a failed one. `nullopt`: no change.
[[nodiscard]] std::optional<breaker_transition>
decide_breaker(endpoint_status status, const breaker_state& b,
               outcome_kind kind, bool probe, const breaker_settings& cfg);

/// The record of transition `t` of endpoint `ep` at `now`: a disabled
/// endpoint's next probe is due at `now` + its cool-down.
[[nodiscard]] breaker_changed breaker_record(const std::string& tenant_id,
                                             endpoint_id ep,
                                             breaker_transition t,
                                             unix_millis now);

/// What a probe of a disabled endpoint uses: its oldest pending delivery
/// created at or after `now - retention`, and every pending one created
/// before it (to expire).
struct probe_choice {
  /// The probe's event and attempt number; empty event id: nothing to
  /// probe with.
  std::string event_id;
  uint32_t attempt = 0;
  std::vector<std::string> expired;
};

/// Chooses the probe of endpoint `ep` at `now` (see `probe_choice`).
[[nodiscard]] probe_choice choose_probe(const tenant_state& st, endpoint_id ep,
                                        unix_millis now,
                                        std::chrono::milliseconds retention);

/// Returns whether a probe timer that fires at `now` for a breaker whose
/// next probe is at `next_probe_at` is current (5 ms of timer slack), not
/// one armed for an earlier cool-down.
[[nodiscard]] constexpr bool probe_is_due(unix_millis next_probe_at,
                                          unix_millis now) noexcept {
  return next_probe_at <= now + 5;
}

// -- endpoint lifecycle (issue 17) --------------------------------------------

/// Returns whether `ep`'s replaced secret still signs at `now` (a rotation's
/// grace, `previous_expires_at` exclusive).
[[nodiscard]] bool previous_secret_valid(const endpoint& ep,
                                         unix_millis now) noexcept;

/// Returns the `webhook-signature` header of one delivery to `ep` at `now`:
/// `v1,<signature with the secret>`, followed during a rotation's grace by
/// ` v1,<signature with the previous secret>` (Standard Webhooks lists
/// signatures space-separated; receivers accept any that verifies).
[[nodiscard]] std::string
signature_header(const endpoint& ep, std::string_view msg_id, int64_t timestamp,
                 std::string_view body, unix_millis now);

/// Returns `ep`'s secrets at `now`: the previous one only while it signs.
[[nodiscard]] secret_info secrets_of(const endpoint& ep, unix_millis now);

/// Returns a fresh signing secret: `whsec_` and the base64 of 32 random
/// bytes (what the Standard Webhooks libraries generate and decode).
[[nodiscard]] std::string generate_secret();

// -- publishing ---------------------------------------------------------------

/// What publish admission needs besides the tenant's state (taken from the
/// tenant actor's `delivery_settings` and the tenant's limits).
struct publish_settings {
  /// The limits in force (see `resolve`).
  tenant_limits limits;
  /// Most pending deliveries of the tenant.
  uint64_t max_pending = 100'000;
  /// How long an idempotency key answers with its first event.
  std::chrono::milliseconds idempotency_window{24 * 3600 * 1000};
  /// How often history is pruned: the earliest a full storage quota can
  /// free bytes (the `Retry-After` of `errc::quota_exceeded`).
  std::chrono::milliseconds prune_interval{60'000};
};

/// Returns the event idempotency key `key` answers with at `now`: the key's
/// first event while it was created no longer than `window` before `now`;
/// null for no key, an unknown key or a key whose window has passed (a
/// publish with it then creates a new event). Pure.
[[nodiscard]] const event_state*
idempotent_event(const tenant_state& st, const std::string& key,
                 unix_millis now, std::chrono::milliseconds window);

/// The verdict on a client's publish under the tenant's limits.
struct publish_admission {
  /// Empty when admitted; else `errc::rate_limited` (see `rate_limited`) or
  /// `errc::quota_exceeded` (see `check_storage_quota`).
  caf::error refusal;
  /// The token bucket after the decision, to keep whatever the verdict.
  token_bucket bucket;
  /// Payload bytes to count as incoming until the publish is answered: the
  /// payload's size, or 0 for a repeat of an idempotency key.
  uint64_t bytes = 0;
};

/// Admits a client's publish `req` at wall time `now` and monotonic time
/// `steady`: it takes a token of the publish rate from `rt.bucket`; then,
/// unless it repeats an idempotency key in force (`idempotent_event`, or
/// `key_under_way`: a publish with the key is on its way to the WAL), which
/// must get its first event's answer even when the quota is full, its
/// payload must fit the storage quota beside the payloads of publishes
/// under way (`rt.incoming_bytes`). Operator notices never come through
/// here. Pure.
[[nodiscard]] publish_admission
admit_publish(const tenant_state& st, const limits_runtime& rt,
              bool key_under_way, const new_event& req,
              const publish_settings& cfg, unix_millis now,
              limit_clock::time_point steady);

/// Returns the endpoints an event of `event_type` goes to (subscribed,
/// ascending; never `exclude`, the endpoint an operator notice is about),
/// or `errc::too_many_pending` on field `event_type` when they would take
/// the tenant past `max_pending` pending deliveries, counting `publishing`
/// deliveries of publishes not durable yet. Pure.
[[nodiscard]] caf::expected<std::vector<endpoint_id>>
publish_targets(const tenant_state& st, uint64_t publishing,
                std::string_view event_type, std::optional<endpoint_id> exclude,
                uint64_t max_pending);

/// The record of a publish: event `event_id` of `req` for `targets`,
/// accepted at `now`, with the payload's size. Pure.
[[nodiscard]] event_accepted accept_event(const std::string& tenant_id,
                                          std::string event_id,
                                          const new_event& req,
                                          std::vector<endpoint_id> targets,
                                          unix_millis now);

// -- history pruning ----------------------------------------------------------

/// A delivery of the tenant: (event id, endpoint).
using delivery_key = std::pair<std::string, endpoint_id>;

/// What a pruning round goes by.
struct prune_settings {
  /// Events are kept at least this long after their creation.
  std::chrono::milliseconds retention{7LL * 24 * 3600 * 1000};
  /// Events with an idempotency key are kept at least this long too.
  std::chrono::milliseconds idempotency_window{24 * 3600 * 1000};
  /// Most events one round removes (0 counts as 1).
  size_t max_per_round = 1000;
};

/// The events a pruning round removes.
struct prune_choice {
  /// In the order of `tenant_state::events`; empty: nothing to remove.
  std::vector<std::string> event_ids;
  /// Whether the round hit `max_per_round` (the next one follows at once).
  bool full = false;
};

/// Chooses the events a pruning round at `now` removes: none of their
/// deliveries is pending or has an attempt under way (`in_flight`), created
/// more than `retention` before `now`, and, with an idempotency key, more
/// than `idempotency_window` before `now`; at most `max_per_round`. Pure.
[[nodiscard]] prune_choice choose_prune(const tenant_state& st,
                                        const std::set<delivery_key>& in_flight,
                                        unix_millis now,
                                        const prune_settings& cfg);

} // namespace wi
