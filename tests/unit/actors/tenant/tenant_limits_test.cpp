// Per-tenant limits (issue 13): the token bucket with a fake clock, the
// quota checks, overrides, and the stored-bytes accounting of `apply`.

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "actors/tenant/admin_views.hpp"
#include "actors/tenant/tenant_limits.hpp"
#include "actors/tenant/tenant_state.hpp"
#include "persistence/snapshot_codec.hpp"
#include "webhook_ingress/error.hpp"

namespace {

using namespace wi;
using namespace std::chrono_literals;

/// A fake clock: any point will do, the bucket only looks at differences.
limit_clock::time_point at(std::chrono::microseconds x) {
  return limit_clock::time_point{} + 1h + x;
}

/// Takes tokens at `now` until refused; returns how many were allowed.
int drain(token_bucket& b, uint64_t rate, uint64_t burst,
          limit_clock::time_point now) {
  int n = 0;
  for (;;) {
    auto d = take_token(b, rate, burst, now);
    b = d.next;
    if (!d.allowed)
      return n;
    ++n;
  }
}

TEST(token_bucket, starts_full_and_allows_the_burst_at_once) {
  token_bucket b;
  EXPECT_EQ(tokens_at(b, 10, 20, at(0us)), 20u);
  EXPECT_EQ(drain(b, 10, 20, at(0us)), 20);
  EXPECT_EQ(tokens_at(b, 10, 20, at(0us)), 0u);
}

TEST(token_bucket, refused_publish_says_how_long_until_the_next_token) {
  token_bucket b;
  ASSERT_EQ(drain(b, 10, 2, at(0us)), 2);
  // 10 per second: a token every 100 ms.
  auto d = take_token(b, 10, 2, at(0us));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.wait, 100'000us);
  // 30 ms later, 70 ms remain.
  d = take_token(b, 10, 2, at(30ms));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.wait, 70'000us);
  // A refusal takes nothing: at 100 ms exactly one token is there.
  b = d.next;
  d = take_token(b, 10, 2, at(100ms));
  EXPECT_TRUE(d.allowed);
  b = d.next;
  EXPECT_FALSE(take_token(b, 10, 2, at(100ms)).allowed);
}

TEST(token_bucket, refills_at_the_rate_and_never_beyond_the_burst) {
  token_bucket b;
  ASSERT_EQ(drain(b, 100, 50, at(0us)), 50);
  // 100 per second for 250 ms: 25 tokens.
  EXPECT_EQ(drain(b, 100, 50, at(250ms)), 25);
  // An hour of quiet fills up to the burst only.
  EXPECT_EQ(drain(b, 100, 50, at(1h)), 50);
}

TEST(token_bucket, loses_no_fraction_of_a_token_between_calls) {
  // 3 per second = one token every 333 333.3 us; asked every 7 us for a
  // second (the last ask at 1 000 006 us), exactly 3 tokens are granted
  // after the burst of 10: the remainders of the odd intervals add up (the
  // bucket never fills up again, so nothing spills over its top).
  token_bucket b;
  int allowed = 0;
  for (int us = 0; us <= 1'000'006; us += 7) {
    auto d = take_token(b, 3, 10, at(std::chrono::microseconds{us}));
    b = d.next;
    allowed += d.allowed ? 1 : 0;
  }
  EXPECT_EQ(allowed, 10 + 3);
}

TEST(token_bucket, a_clock_that_goes_back_refills_nothing) {
  token_bucket b;
  ASSERT_EQ(drain(b, 10, 1, at(1s)), 1);
  EXPECT_FALSE(take_token(b, 10, 1, at(0us)).allowed);
  EXPECT_FALSE(take_token(b, 10, 1, at(1s + 99ms)).allowed);
  EXPECT_TRUE(take_token(b, 10, 1, at(1s + 100ms)).allowed);
}

TEST(token_bucket, rate_zero_means_no_limit) {
  token_bucket b;
  for (int i = 0; i < 10'000; ++i) {
    auto d = take_token(b, 0, 1, at(0us));
    ASSERT_TRUE(d.allowed);
    b = d.next;
  }
  EXPECT_EQ(b, token_bucket{});
}

TEST(token_bucket, a_smaller_burst_caps_what_is_held) {
  token_bucket b;
  b = take_token(b, 10, 100, at(0us)).next; // 99 left
  // The limit drops to a burst of 5: at most 5 at once from now on.
  EXPECT_EQ(tokens_at(b, 10, 5, at(0us)), 5u);
  EXPECT_EQ(drain(b, 10, 5, at(0us)), 5);
}

TEST(token_bucket, huge_values_do_not_overflow) {
  token_bucket b;
  auto far = at(std::chrono::hours{24 * 365 * 100});
  ASSERT_TRUE(take_token(b, UINT64_MAX, UINT64_MAX, at(0us)).allowed);
  b = take_token(b, 1, 1, at(0us)).next;
  EXPECT_TRUE(take_token(b, 1'000'000, 1'000'000, far).allowed);
}

TEST(tenant_limits, rate_limited_error_rounds_the_wait_up_to_seconds) {
  tenant_limits lim;
  auto err = rate_limited(lim, 100'000us);
  EXPECT_EQ(code_of(err), errc::rate_limited);
  EXPECT_EQ(field_of(err), "publish_rate");
  EXPECT_EQ(retry_after_of(err), 1u);
  EXPECT_EQ(retry_after_of(rate_limited(lim, 1'000'001us)), 2u);
  EXPECT_EQ(retry_after_of(rate_limited(lim, 3s)), 3u);
}

TEST(tenant_limits, endpoint_quota_counts_creates_under_way) {
  tenant_limits lim;
  lim.max_endpoints = 3;
  EXPECT_FALSE(check_endpoint_quota(lim, 2, 0));
  auto err = check_endpoint_quota(lim, 2, 1);
  EXPECT_EQ(code_of(err), errc::endpoint_limit_reached);
  EXPECT_EQ(field_of(err), "max_endpoints");
  EXPECT_EQ(retry_after_of(err), std::nullopt);
  EXPECT_EQ(code_of(check_endpoint_quota(lim, 3, 0)),
            errc::endpoint_limit_reached);
  lim.max_endpoints = 0; // no limit
  EXPECT_FALSE(check_endpoint_quota(lim, 1'000'000, 1'000'000));
}

TEST(tenant_limits, storage_quota_counts_bytes_under_way) {
  tenant_limits lim;
  lim.max_stored_bytes = 100;
  EXPECT_FALSE(check_storage_quota(lim, 60, 30, 10, 60s)); // exactly full
  auto err = check_storage_quota(lim, 60, 30, 11, 60s);
  EXPECT_EQ(code_of(err), errc::quota_exceeded);
  EXPECT_EQ(field_of(err), "max_stored_bytes");
  EXPECT_EQ(retry_after_of(err), 60u);
  EXPECT_EQ(retry_after_of(check_storage_quota(lim, 100, 0, 1, 1500ms)), 2u);
  EXPECT_EQ(retry_after_of(check_storage_quota(lim, 100, 0, 1, 1ms)), 1u);
  lim.max_stored_bytes = 0; // no limit
  EXPECT_FALSE(check_storage_quota(lim, UINT64_MAX / 2, 0, 1, 60s));
}

TEST(tenant_limits, overrides_replace_defaults_and_patches_merge) {
  tenant_limits defaults;
  limit_overrides none;
  EXPECT_EQ(resolve(none, defaults), defaults);
  limits_patch p;
  p.changes[static_cast<size_t>(limit_kind::max_endpoints)] = {limit_op::set,
                                                               5};
  p.changes[static_cast<size_t>(limit_kind::publish_rate)] = {limit_op::set, 0};
  auto o = merge(none, p);
  auto lim = resolve(o, defaults);
  EXPECT_EQ(lim.max_endpoints, 5u);
  EXPECT_EQ(lim.publish_rate, 0u);
  EXPECT_EQ(lim.max_stored_bytes, defaults.max_stored_bytes);
  EXPECT_EQ(lim.publish_burst, defaults.publish_burst);
  // A second patch resets one and keeps the other.
  limits_patch reset;
  reset.changes[static_cast<size_t>(limit_kind::max_endpoints)] = {
    limit_op::reset, 0};
  o = merge(o, reset);
  lim = resolve(o, defaults);
  EXPECT_EQ(lim.max_endpoints, defaults.max_endpoints);
  EXPECT_EQ(lim.publish_rate, 0u);
  EXPECT_EQ(value_of(lim, limit_kind::publish_rate), 0u);
  EXPECT_EQ(value_of(lim, limit_kind::publish_burst), 200u);
}

// -- stored bytes through apply -----------------------------------------------

endpoint ep1() {
  return endpoint{1,  "https://a.example/",    "secret-1", {"*"},
                  {}, endpoint_status::active, 1,          1};
}

TEST(tenant_limits_apply, stored_bytes_follow_accepted_and_pruned_events) {
  auto st = empty_tenant("t");
  ASSERT_FALSE(wi::apply(st, endpoint_created{"t", ep1()}));
  ASSERT_FALSE(wi::apply(st, event_accepted{"t", "e1", "x", "", 1, {}, 100}));
  ASSERT_FALSE(wi::apply(st, event_accepted{"t", "e2", "x", "", 2, {1}, 20}));
  ASSERT_FALSE(wi::apply(st, event_accepted{"t", "e3", "x", "", 3, {}, 0}));
  EXPECT_EQ(st.stored_bytes, 120u);
  EXPECT_EQ(st.events.at("e2").payload_bytes, 20u);
  EXPECT_EQ(summarize(st).usage.stored_bytes, 120u);
  EXPECT_EQ(summarize(st).usage.endpoints, 1u);
  // e2 is still pending: pruning skips it and keeps its bytes.
  ASSERT_FALSE(wi::apply(st, history_pruned{"t", 9, {"e1", "e2", "e3"}}));
  EXPECT_EQ(st.stored_bytes, 20u);
  EXPECT_EQ(st.events.size(), 1u);
  ASSERT_FALSE(wi::apply(st, attempt_recorded{"t",
                                              1,
                                              {"e2", 1, 5, 200, 1, "", ""},
                                              delivery_status::delivered,
                                              0,
                                              ""}));
  ASSERT_FALSE(wi::apply(st, history_pruned{"t", 10, {"e2"}}));
  EXPECT_EQ(st.stored_bytes, 0u);
  EXPECT_TRUE(st.events.empty());
}

TEST(tenant_limits_apply, limits_set_merges_into_the_overrides) {
  auto st = empty_tenant("t");
  limits_patch p;
  p.changes[static_cast<size_t>(limit_kind::publish_burst)] = {limit_op::set,
                                                               7};
  ASSERT_FALSE(wi::apply(st, tenant_limits_set{"t", 1, p}));
  EXPECT_EQ(st.limits.values[static_cast<size_t>(limit_kind::publish_burst)],
            7u);
  EXPECT_EQ(summarize(st).overrides, st.limits);
  // Another tenant's record is refused and changes nothing.
  auto before = st;
  EXPECT_EQ(code_of(wi::apply(st, tenant_limits_set{"u", 2, {}})),
            errc::corrupt_data);
  EXPECT_EQ(st, before);
}

TEST(tenant_limits_apply, replay_and_snapshot_agree_with_live_application) {
  // The same records applied live, and replayed after a snapshot of a
  // prefix, give the same state: stored bytes and overrides included.
  std::vector<record> recs{
    endpoint_created{"t", ep1()},
    event_accepted{"t", "e1", "x", "", 1, {1}, 300},
    tenant_limits_set{"t", 2, {{{{limit_op::set, 9}}}}},
    event_accepted{"t", "e2", "x", "", 3, {}, 50},
    history_pruned{"t", 4, {"e2"}},
    event_accepted{"t", "e3", "x", "k", 5, {}, 7},
  };
  auto live = empty_tenant("t");
  for (const auto& r : recs)
    ASSERT_FALSE(wi::apply(live, r));
  for (size_t cut = 0; cut <= recs.size(); ++cut) {
    auto prefix = empty_tenant("t");
    for (size_t i = 0; i < cut; ++i)
      ASSERT_FALSE(wi::apply(prefix, recs[i]));
    auto replayed =
      persistence::decode_tenant_snapshot(persistence::encode_snapshot(prefix));
    ASSERT_TRUE(replayed);
    for (size_t i = cut; i < recs.size(); ++i)
      ASSERT_FALSE(wi::apply(*replayed, recs[i]));
    EXPECT_EQ(*replayed, live) << "cut " << cut;
  }
  EXPECT_EQ(live.stored_bytes, 307u);
}

} // namespace
