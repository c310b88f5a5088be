// The tenant's pure decisions (actors/tenant/tenant_core.hpp): outcome
// classes, attempt records with retries, breaker transitions, probe and
// expiry choice. Time comes from a fake clock; nothing sleeps.

#include "actors/tenant/tenant_core.hpp"

#include <gtest/gtest.h>

#include "actors/common/clock.hpp"
#include "actors/tenant/tenant_state.hpp"

using namespace wi;
using namespace std::chrono_literals;

namespace {

delivery_outcome answer(int status, std::string error = {}) {
  delivery_outcome x;
  x.status = status;
  x.error = std::move(error);
  x.latency = 12ms;
  return x;
}

// The middle of the jitter range: every delay exactly as scheduled.
const jitter_source no_jitter = [] { return 0.5; };

struct retries_fixture : ::testing::Test {
  fake_clock clock;
  retry_policy retries{{1000ms, 5000ms}};

  attempt_recorded attempt(uint32_t n, const delivery_outcome& x) {
    return record_attempt("t1", "evt_1", 7, n, clock.now() - 12, x, retries,
                          no_jitter, clock.now());
  }
};

const breaker_settings breaker_cfg{3, 60'000ms, 200'000ms};

breaker_state failures(uint32_t n) {
  breaker_state b;
  b.consecutive_failures = n;
  return b;
}

} // namespace

TEST(tenant_core, classify_is_the_one_success_rule) {
  EXPECT_EQ(classify(answer(200)), outcome_kind::delivered);
  EXPECT_EQ(classify(answer(299)), outcome_kind::delivered);
  EXPECT_EQ(classify(answer(300)), outcome_kind::failed);
  EXPECT_EQ(classify(answer(500)), outcome_kind::failed);
  EXPECT_EQ(classify(answer(410)), outcome_kind::gone);
  EXPECT_EQ(classify(answer(0, "timeout")), outcome_kind::failed);
  EXPECT_EQ(classify(answer(200, "transfer_failed")), outcome_kind::failed);
  EXPECT_EQ(classify(answer(0, "shutdown")), outcome_kind::shutdown);
  EXPECT_EQ(classify(answer(0, "overloaded")), outcome_kind::overloaded);
  EXPECT_TRUE(is_attempt(outcome_kind::gone));
  EXPECT_FALSE(is_attempt(outcome_kind::shutdown));
  EXPECT_FALSE(is_attempt(outcome_kind::overloaded));
}

TEST_F(retries_fixture, a_failure_is_retried_after_the_schedule_then_gives_up) {
  auto first = attempt(1, answer(500));
  EXPECT_EQ(first.outcome, delivery_status::pending);
  EXPECT_EQ(first.next_attempt_at, clock.now() + 1000);
  EXPECT_EQ(first.attempt.status_code, 500);
  EXPECT_EQ(first.attempt.latency_ms, 12u);
  EXPECT_EQ(first.attempt.at, clock.now() - 12);
  clock.advance(1000);
  auto second = attempt(2, answer(0, "timeout"));
  EXPECT_EQ(second.outcome, delivery_status::pending);
  EXPECT_EQ(second.next_attempt_at, clock.now() + 5000);
  EXPECT_EQ(second.attempt.error, "timeout");
  clock.advance(5000);
  auto third = attempt(3, answer(503));
  EXPECT_EQ(third.outcome, delivery_status::failed);
  EXPECT_EQ(third.reason, "exhausted");
  EXPECT_EQ(third.next_attempt_at, 0);
}

TEST_F(retries_fixture, retry_after_lengthens_a_delay_relative_to_now) {
  auto x = answer(429);
  x.retry_after = "1";
  EXPECT_EQ(attempt(1, x).next_attempt_at, clock.now() + 1000);
  x.retry_after = "2"; // within twice the delay
  EXPECT_EQ(attempt(1, x).next_attempt_at, clock.now() + 2000);
  x.retry_after = "60"; // capped at twice the delay
  EXPECT_EQ(attempt(1, x).next_attempt_at, clock.now() + 2000);
  auto ignored = answer(500);
  ignored.retry_after = "2"; // only 429 and 503 count
  EXPECT_EQ(attempt(1, ignored).next_attempt_at, clock.now() + 1000);
}

TEST_F(retries_fixture, a_delivered_attempt_keeps_a_valid_utf8_excerpt) {
  auto x = answer(204);
  x.response_excerpt = "ok\xff";
  auto rec = attempt(1, x);
  EXPECT_EQ(rec.outcome, delivery_status::delivered);
  EXPECT_EQ(rec.attempt.response_excerpt, "ok\xEF\xBF\xBD");
}

TEST(tenant_core, the_breaker_trips_after_n_failures_or_at_once_on_gone) {
  using enum outcome_kind;
  auto active = endpoint_status::active;
  EXPECT_EQ(decide_breaker(active, failures(2), failed, false, breaker_cfg),
            std::nullopt);
  auto trip = decide_breaker(active, failures(3), failed, false, breaker_cfg);
  ASSERT_TRUE(trip);
  EXPECT_EQ(*trip,
            (breaker_transition{endpoint_status::disabled,
                                "consecutive_failures", 60'000ms, true}));
  auto at_once =
    decide_breaker(active, failures(1), outcome_kind::gone, false, breaker_cfg);
  ASSERT_TRUE(at_once);
  EXPECT_EQ(at_once->reason, "gone");
  EXPECT_EQ(decide_breaker(active, failures(9), delivered, false, breaker_cfg),
            std::nullopt);
  EXPECT_EQ(decide_breaker(endpoint_status::inactive, failures(9), failed,
                           false, breaker_cfg),
            std::nullopt);
}

TEST(tenant_core, a_probe_recovers_or_doubles_the_cooldown_up_to_the_cap) {
  using enum outcome_kind;
  auto disabled = endpoint_status::disabled;
  auto b = failures(5);
  b.reason = "consecutive_failures";
  b.cooldown_ms = 60'000;
  EXPECT_EQ(decide_breaker(disabled, b, failed, false, breaker_cfg),
            std::nullopt); // only the probe's own outcome counts
  EXPECT_EQ(decide_breaker(disabled, b, delivered, true, breaker_cfg),
            (breaker_transition{endpoint_status::active, "", 0ms, false}));
  EXPECT_EQ(
    decide_breaker(disabled, b, failed, true, breaker_cfg),
    (breaker_transition{disabled, "consecutive_failures", 120'000ms, false}));
  b.cooldown_ms = 120'000;
  EXPECT_EQ(decide_breaker(disabled, b, failed, true, breaker_cfg)->cooldown,
            200'000ms);
}

TEST(tenant_core, a_breaker_record_sets_the_next_probe_from_now) {
  fake_clock clock;
  auto rec = breaker_record(
    "t1", 4, {endpoint_status::disabled, "gone", 60'000ms, true}, clock.now());
  EXPECT_EQ(rec, (breaker_changed{"t1", 4, endpoint_status::disabled, "gone",
                                  clock.now(), clock.now() + 60'000, 60'000}));
  auto back = breaker_record("t1", 4, {endpoint_status::active, "", 0ms, false},
                             clock.now());
  EXPECT_EQ(back.next_probe_at, 0);
  EXPECT_TRUE(probe_is_due(rec.next_probe_at, clock.now() + 60'000));
  EXPECT_FALSE(probe_is_due(rec.next_probe_at, clock.now() + 59'000));
}

TEST(tenant_core, a_probe_uses_the_oldest_live_delivery_and_expires_older) {
  fake_clock clock;
  tenant_state st;
  st.tenant_id = "t1";
  auto add = [&](std::string id, unix_millis created, endpoint_id ep,
                 delivery_status status, uint32_t attempts) {
    event_state ev;
    ev.id = id;
    ev.created_at = created;
    delivery_state d;
    d.endpoint = ep;
    d.status = status;
    d.attempts = attempts;
    ev.deliveries.push_back(d);
    st.events.emplace(id, std::move(ev));
  };
  auto now = clock.now();
  add("evt_old", now - 10'000, 1, delivery_status::pending, 4);
  add("evt_a", now - 5'000, 1, delivery_status::pending, 2);
  add("evt_b", now - 1'000, 1, delivery_status::pending, 1);
  add("evt_done", now - 8'000, 1, delivery_status::delivered, 1);
  add("evt_other", now - 9'000, 2, delivery_status::pending, 1);
  auto choice = choose_probe(st, 1, now, 8'000ms);
  EXPECT_EQ(choice.event_id, "evt_a");
  EXPECT_EQ(choice.attempt, 3u);
  EXPECT_EQ(choice.expired, std::vector<std::string>{"evt_old"});
  clock.advance(10'000); // everything is past the retention now
  auto later = choose_probe(st, 1, clock.now(), 8'000ms);
  EXPECT_TRUE(later.event_id.empty());
  EXPECT_EQ(later.expired.size(), 3u);
}
