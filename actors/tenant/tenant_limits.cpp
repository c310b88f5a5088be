#include "actors/tenant/tenant_limits.hpp"

#include <algorithm>
#include <string>

#include "webhook_ingress/error.hpp"

namespace wi {

namespace {

using std::chrono::microseconds;

/// Micro-tokens per token.
constexpr uint64_t micro = 1'000'000;

/// Keeps `burst * micro` and `elapsed * rate` far from overflow whatever a
/// record holds (the API and the options accept at most 1e6 for either).
constexpr uint64_t max_rate_or_burst = 1'000'000'000;

uint64_t capacity_of(uint64_t burst) {
  return std::clamp<uint64_t>(burst, 1, max_rate_or_burst) * micro;
}

/// The bucket brought up to date at `now`.
token_bucket refilled(const token_bucket& bucket, uint64_t rate, uint64_t burst,
                      limit_clock::time_point now) {
  auto cap = capacity_of(burst);
  rate = std::min(rate, max_rate_or_burst);
  token_bucket result = bucket;
  if (!bucket.started) {
    result.micro_tokens = cap;
    result.updated = now;
    result.started = true;
    return result;
  }
  result.micro_tokens = std::min(result.micro_tokens, cap);
  if (now <= bucket.updated)
    return result; // no time passed (or the clock went back): no refill
  auto elapsed = static_cast<uint64_t>(
    std::chrono::duration_cast<microseconds>(now - bucket.updated).count());
  auto missing = cap - result.micro_tokens;
  auto needed = (missing + rate - 1) / rate; // microseconds to fill up
  if (elapsed >= needed) {
    result.micro_tokens = cap;
    result.updated = now;
  } else {
    // Whole microseconds only, so no fraction of a refill is ever lost.
    result.micro_tokens += elapsed * rate;
    result.updated = bucket.updated + microseconds{elapsed};
  }
  return result;
}

uint64_t whole_seconds_up(std::chrono::microseconds x) {
  auto us = static_cast<uint64_t>(std::max<int64_t>(x.count(), 0));
  return std::max<uint64_t>((us + micro - 1) / micro, 1);
}

} // namespace

bucket_decision take_token(const token_bucket& bucket, uint64_t rate,
                           uint64_t burst, limit_clock::time_point now) {
  bucket_decision result;
  if (rate == 0) {
    result.next = bucket;
    return result;
  }
  result.next = refilled(bucket, rate, burst, now);
  auto& tokens = result.next.micro_tokens;
  if (tokens >= micro) {
    tokens -= micro;
    return result;
  }
  rate = std::min(rate, max_rate_or_burst);
  result.allowed = false;
  result.wait =
    microseconds{static_cast<int64_t>((micro - tokens + rate - 1) / rate)};
  return result;
}

uint64_t tokens_at(const token_bucket& bucket, uint64_t rate, uint64_t burst,
                   limit_clock::time_point now) {
  if (rate == 0)
    return capacity_of(burst) / micro;
  return refilled(bucket, rate, burst, now).micro_tokens / micro;
}

tenant_limits resolve(const limit_overrides& overrides,
                      const tenant_limits& defaults) {
  auto pick = [&](limit_kind kind, uint64_t fallback) {
    const auto& x = overrides.values[static_cast<size_t>(kind)];
    return x ? *x : fallback;
  };
  tenant_limits result;
  result.max_endpoints =
    pick(limit_kind::max_endpoints, defaults.max_endpoints);
  result.max_stored_bytes =
    pick(limit_kind::max_stored_bytes, defaults.max_stored_bytes);
  result.publish_rate = pick(limit_kind::publish_rate, defaults.publish_rate);
  result.publish_burst =
    pick(limit_kind::publish_burst, defaults.publish_burst);
  return result;
}

limit_overrides merge(limit_overrides overrides, const limits_patch& patch) {
  for (size_t i = 0; i < patch.changes.size(); ++i) {
    const auto& change = patch.changes[i];
    switch (change.op) {
    case limit_op::keep:
      break;
    case limit_op::set:
      overrides.values[i] = change.value;
      break;
    case limit_op::reset:
      overrides.values[i].reset();
      break;
    }
  }
  return overrides;
}

uint64_t value_of(const tenant_limits& x, limit_kind kind) {
  switch (kind) {
  case limit_kind::max_endpoints:
    return x.max_endpoints;
  case limit_kind::max_stored_bytes:
    return x.max_stored_bytes;
  case limit_kind::publish_rate:
    return x.publish_rate;
  case limit_kind::publish_burst:
    return x.publish_burst;
  }
  return 0;
}

caf::error rate_limited(const tenant_limits& limits,
                        std::chrono::microseconds wait) {
  return make_error(errc::rate_limited, "publish_rate",
                    "publish_rate: the tenant may publish " +
                      std::to_string(limits.publish_rate) +
                      " events per second (publish_burst " +
                      std::to_string(limits.publish_burst) +
                      "); retry after the seconds in Retry-After",
                    whole_seconds_up(wait));
}

caf::error check_endpoint_quota(const tenant_limits& limits, uint64_t existing,
                                uint64_t creating) {
  if (limits.max_endpoints == 0 || existing + creating < limits.max_endpoints)
    return {};
  return make_error(errc::endpoint_limit_reached, "max_endpoints",
                    "max_endpoints: the tenant has " +
                      std::to_string(existing) +
                      " endpoints, the most allowed is " +
                      std::to_string(limits.max_endpoints));
}

caf::error check_storage_quota(const tenant_limits& limits, uint64_t stored,
                               uint64_t incoming, uint64_t bytes,
                               std::chrono::milliseconds retry_after) {
  if (limits.max_stored_bytes == 0 ||
      (stored + incoming + bytes <= limits.max_stored_bytes &&
       bytes <= limits.max_stored_bytes))
    return {};
  return make_error(
    errc::quota_exceeded, "max_stored_bytes",
    "max_stored_bytes: the tenant stores " + std::to_string(stored) +
      " bytes of event payloads, the most allowed is " +
      std::to_string(limits.max_stored_bytes) +
      "; stored events are released once they are older "
      "than the retention and none of their deliveries is "
      "pending",
    whole_seconds_up(std::chrono::duration_cast<microseconds>(retry_after)));
}

} // namespace wi
