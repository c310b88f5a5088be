#include "actors/tenant/tenant_core.hpp"

#include <algorithm>
#include <utility>

#include "actors/common/crypto.hpp"
#include "actors/common/text.hpp"
#include "actors/delivery/signing.hpp"

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
      else if (oldest == nullptr || ev.created_at < oldest->created_at) {
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

} // namespace wi
