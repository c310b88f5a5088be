#include "actors/tenant/tenant_core.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "actors/common/crypto.hpp"
#include "actors/common/text.hpp"
#include "actors/delivery/signing.hpp"

#include "actors/tenant/tenant_state.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

using std::chrono::milliseconds;

outcome_kind classify(const delivery_outcome& x) noexcept {
  if (x.error == "shutdown")
    return outcome_kind::shutdown;
  if (x.error == "overloaded")
    return outcome_kind::overloaded;
  if (x.success())
    return outcome_kind::delivered;
  return x.status == 410 ? outcome_kind::gone : outcome_kind::failed;
}

attempt_recorded record_attempt(const std::string& tenant_id,
                                const std::string& event_id, endpoint_id ep,
                                uint32_t attempt, unix_millis started,
                                const delivery_outcome& outcome,
                                const retry_policy& retries,
                                const jitter_source& jitter, unix_millis now) {
  attempt_recorded rec;
  rec.tenant_id = tenant_id;
  rec.endpoint = ep;
  rec.attempt.event_id = event_id;
  rec.attempt.attempt = attempt;
  rec.attempt.at = started;
  rec.attempt.status_code =
    static_cast<uint16_t>(std::clamp(outcome.status, 0, 999));
  rec.attempt.latency_ms = static_cast<uint32_t>(
    std::clamp<int64_t>(outcome.latency.count(), 0, UINT32_MAX));
  rec.attempt.error = outcome.error;
  rec.attempt.response_excerpt = sanitize_utf8(outcome.response_excerpt);
  if (classify(outcome) == outcome_kind::delivered) {
    rec.outcome = delivery_status::delivered;
    return rec;
  }
  auto wall = std::chrono::system_clock::time_point{milliseconds{now}};
  auto delay =
    retries.next_delay(attempt, retry_after_of(outcome, wall), jitter);
  if (delay) {
    rec.outcome = delivery_status::pending;
    rec.next_attempt_at = now + delay->count();
  } else {
    rec.outcome = delivery_status::failed;
    rec.reason = "exhausted";
  }
  return rec;
}

std::optional<breaker_transition> decide_breaker(endpoint_status status,
                                                 const breaker_state& b,
                                                 outcome_kind kind, bool probe,
                                                 const breaker_settings& cfg) {
  auto success = kind == outcome_kind::delivered;
  auto gone = kind == outcome_kind::gone;
  if (status == endpoint_status::active && !success &&
      (gone || b.consecutive_failures >= cfg.failures))
    return breaker_transition{endpoint_status::disabled,
                              gone ? "gone" : "consecutive_failures",
                              cfg.cooldown, true};
  if (status != endpoint_status::disabled || !probe)
    return std::nullopt;
  if (success)
    return breaker_transition{
      endpoint_status::active, {}, milliseconds{0}, false};
  auto cooldown = std::min(milliseconds{2 * b.cooldown_ms}, cfg.max_cooldown);
  cooldown = std::max(cooldown, cfg.cooldown);
  return breaker_transition{endpoint_status::disabled, b.reason, cooldown,
                            false};
}

breaker_changed breaker_record(const std::string& tenant_id, endpoint_id ep,
                               breaker_transition t, unix_millis now) {
  auto disabled = t.status == endpoint_status::disabled;
  return breaker_changed{tenant_id,
                         ep,
                         t.status,
                         std::move(t.reason),
                         now,
                         disabled ? now + t.cooldown.count() : 0,
                         static_cast<uint64_t>(t.cooldown.count())};
}

probe_choice choose_probe(const tenant_state& st, endpoint_id ep,
                          unix_millis now, milliseconds retention) {
  probe_choice result;
  const event_state* oldest = nullptr;
  const delivery_state* delivery = nullptr;
  auto horizon = now - retention.count();
  for (const auto& [id, ev] : st.events)
    for (const auto& d : ev.deliveries) {
      if (d.endpoint != ep || d.status != delivery_status::pending)
        continue;
      if (ev.created_at < horizon)
        result.expired.push_back(id);
      else if (oldest == nullptr || ev.seq < oldest->seq) {
        // The oldest by acceptance: on a FIFO endpoint the head of its key.
        oldest = &ev;
        delivery = &d;
      }
    }
  if (oldest != nullptr) {
    result.event_id = oldest->id;
    result.attempt = delivery->attempts + 1;
  }
  return result;
}

// -- endpoint lifecycle (issue 17) --------------------------------------------

bool previous_secret_valid(const endpoint& ep, unix_millis now) noexcept {
  return !ep.previous_secret.empty() && now < ep.previous_expires_at;
}

std::string signature_header(const endpoint& ep, std::string_view msg_id,
                             int64_t timestamp, std::string_view body,
                             unix_millis now) {
  auto result = sign(ep.secret, msg_id, timestamp, body);
  if (previous_secret_valid(ep, now)) {
    result += ' ';
    result += sign(ep.previous_secret, msg_id, timestamp, body);
  }
  return result;
}

secret_info secrets_of(const endpoint& ep, unix_millis now) {
  secret_info result{ep.secret, {}, 0};
  if (previous_secret_valid(ep, now)) {
    result.previous = ep.previous_secret;
    result.previous_expires_at = ep.previous_expires_at;
  }
  return result;
}

std::string generate_secret() {
  return std::string{webhook_secret_prefix} +
         base64_encode(crypto::random_bytes(32));
}

// -- publishing ---------------------------------------------------------------

const event_state* idempotent_event(const tenant_state& st,
                                    const std::string& key, unix_millis now,
                                    milliseconds window) {
  if (key.empty())
    return nullptr;
  auto i = st.idempotency.find(key);
  if (i == st.idempotency.end())
    return nullptr;
  auto ev = st.events.find(i->second);
  if (ev == st.events.end() || ev->second.created_at + window.count() < now)
    return nullptr;
  return &ev->second;
}

publish_admission admit_publish(const tenant_state& st,
                                const limits_runtime& rt, bool key_under_way,
                                const new_event& req,
                                const publish_settings& cfg, unix_millis now,
                                limit_clock::time_point steady) {
  publish_admission result;
  const auto& limits = cfg.limits;
  auto token =
    take_token(rt.bucket, limits.publish_rate, limits.publish_burst, steady);
  result.bucket = token.next;
  if (!token.allowed) {
    result.refusal = rate_limited(limits, token.wait);
    return result;
  }
  // A repeat of an idempotency key stores nothing.
  if (key_under_way || idempotent_event(st, req.idempotency_key, now,
                                        cfg.idempotency_window) != nullptr)
    return result;
  auto bytes = static_cast<uint64_t>(req.payload.size());
  // Stored bytes go down only when a pruning round removes events.
  result.refusal = check_storage_quota(
    limits, st.stored_bytes, rt.incoming_bytes, bytes, cfg.prune_interval);
  if (!result.refusal)
    result.bytes = bytes;
  return result;
}

caf::expected<std::vector<endpoint_id>>
publish_targets(const tenant_state& st, uint64_t publishing,
                std::string_view event_type, std::optional<endpoint_id> exclude,
                uint64_t max_pending) {
  auto targets = matching_endpoints(st, event_type);
  if (exclude)
    targets.erase(std::remove(targets.begin(), targets.end(), *exclude),
                  targets.end());
  if (st.pending + publishing + targets.size() > max_pending)
    return make_error(errc::too_many_pending, "event_type",
                      "the tenant has " + std::to_string(st.pending) +
                        " pending deliveries, the most allowed is " +
                        std::to_string(max_pending));
  return targets;
}

event_accepted accept_event(const std::string& tenant_id, std::string event_id,
                            const new_event& req,
                            std::vector<endpoint_id> targets, unix_millis now) {
  event_accepted rec{
    tenant_id, std::move(event_id), req.event_type, req.idempotency_key,
    now,       std::move(targets)};
  rec.payload_bytes = req.payload.size(); // per-tenant limits (issue 13)
  rec.ordering_key = req.ordering_key;    // FIFO endpoints (issue 17)
  return rec;
}

// -- history pruning ----------------------------------------------------------

prune_choice choose_prune(const tenant_state& st,
                          const std::set<delivery_key>& in_flight,
                          unix_millis now, const prune_settings& cfg) {
  prune_choice result;
  auto max = std::max<size_t>(cfg.max_per_round, 1);
  auto horizon = now - cfg.retention.count();
  auto key_horizon = now - cfg.idempotency_window.count();
  for (const auto& [id, ev] : st.events) {
    if (result.event_ids.size() >= max)
      break;
    if (ev.created_at >= horizon ||
        (!ev.idempotency_key.empty() && ev.created_at >= key_horizon))
      continue;
    auto busy = std::any_of(ev.deliveries.begin(), ev.deliveries.end(),
                            [&](const delivery_state& d) {
                              return d.status == delivery_status::pending ||
                                     in_flight.count({ev.id, d.endpoint}) > 0;
                            });
    if (!busy)
      result.event_ids.push_back(id);
  }
  result.full = result.event_ids.size() >= max;
  return result;
}

} // namespace wi
