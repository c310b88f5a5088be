// The tenant's pure decisions (actors/tenant/tenant_core.hpp): outcome
// classes, attempt records with retries, breaker transitions, probe and
// expiry choice, publish admission (rate, quota, pending cap, idempotency
// window) and prune selection. Time comes from a fake clock; nothing sleeps.

#include "actors/tenant/tenant_core.hpp"

#include <gtest/gtest.h>

#include "actors/common/clock.hpp"
#include "actors/tenant/tenant_state.hpp"
#include "webhook_ingress/error.hpp"

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

namespace {

/// A tenant built by applying records, as the actor would: endpoints 1 and
/// 2 subscribed to `user.created`.
struct publish_fixture : ::testing::Test {
  fake_clock clock;
  tenant_state st = empty_tenant("t1");
  limits_runtime rt;
  publish_settings cfg;

  publish_fixture() {
    for (endpoint_id id : {1, 2}) {
      endpoint ep;
      ep.id = id;
      ep.url = "https://example.com/" + std::to_string(id);
      ep.secret = "secret-secret";
      ep.event_types = {"user.created"};
      EXPECT_FALSE(apply(st, record{endpoint_created{"t1", ep}}));
    }
    cfg.limits = tenant_limits{10, 1000, 1, 1};
    cfg.max_pending = 5;
    cfg.idempotency_window = 60'000ms;
    cfg.prune_interval = 30'000ms;
  }

  /// Stores event `id` with `key`, created at `at`, delivered to nothing.
  void store(const std::string& id, const std::string& key, unix_millis at,
             uint64_t bytes = 10) {
    new_event req{"other.type", std::string(bytes, 'x'), key};
    EXPECT_FALSE(apply(st, record{accept_event("t1", id, req, {}, at)}));
  }

  publish_admission admit(const new_event& req, bool under_way = false) {
    auto x = admit_publish(st, rt, under_way, req, cfg, clock.now(),
                           clock.steady_now());
    rt.bucket = x.bucket;
    return x;
  }
};

} // namespace

TEST_F(publish_fixture, an_idempotency_key_answers_within_its_window_only) {
  store("evt_1", "key-1", clock.now());
  const auto* ev = idempotent_event(st, "key-1", clock.now(), 60'000ms);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(ev->id, "evt_1");
  clock.advance(60'000); // the window's last millisecond still counts
  EXPECT_NE(idempotent_event(st, "key-1", clock.now(), 60'000ms), nullptr);
  clock.advance(1);
  EXPECT_EQ(idempotent_event(st, "key-1", clock.now(), 60'000ms), nullptr);
  EXPECT_EQ(idempotent_event(st, "key-2", clock.now(), 60'000ms), nullptr);
  EXPECT_EQ(idempotent_event(st, "", clock.now(), 60'000ms), nullptr);
}

TEST_F(publish_fixture, the_rate_limit_follows_the_fake_clock) {
  // One publish per second, a bucket of one.
  new_event req{"user.created", "{}", ""};
  auto first = admit(req);
  EXPECT_FALSE(first.refusal);
  EXPECT_EQ(first.bytes, 2u);
  auto second = admit(req);
  ASSERT_TRUE(second.refusal);
  EXPECT_EQ(code_of(second.refusal), errc::rate_limited);
  EXPECT_EQ(field_of(second.refusal), "publish_rate");
  EXPECT_EQ(retry_after_of(second.refusal), std::optional<uint64_t>{1});
  clock.advance(999);
  EXPECT_TRUE(admit(req).refusal);
  clock.advance(1); // a whole token again, and not a real millisecond passed
  EXPECT_FALSE(admit(req).refusal);
}

TEST_F(publish_fixture, the_quota_counts_stored_and_incoming_bytes) {
  cfg.limits.publish_rate = 0; // no rate limit
  store("evt_1", "", clock.now(), 600);
  rt.incoming_bytes = 300;
  auto fits = admit(new_event{"user.created", std::string(100, 'x'), ""});
  EXPECT_FALSE(fits.refusal);
  EXPECT_EQ(fits.bytes, 100u);
  auto over = admit(new_event{"user.created", std::string(101, 'x'), ""});
  ASSERT_TRUE(over.refusal);
  EXPECT_EQ(code_of(over.refusal), errc::quota_exceeded);
  EXPECT_EQ(field_of(over.refusal), "max_stored_bytes");
  EXPECT_EQ(retry_after_of(over.refusal), std::optional<uint64_t>{30});
  EXPECT_EQ(over.bytes, 0u);
}

TEST_F(publish_fixture, a_repeated_key_is_admitted_with_the_quota_full) {
  cfg.limits.publish_rate = 0;
  store("evt_1", "key-1", clock.now(), 1000); // the quota is full
  new_event repeat{"user.created", std::string(50, 'x'), "key-1"};
  auto x = admit(repeat);
  EXPECT_FALSE(x.refusal);
  EXPECT_EQ(x.bytes, 0u); // stores nothing: counts nothing
  auto racing = admit(new_event{"user.created", "{}", "key-2"}, true);
  EXPECT_FALSE(racing.refusal);
  EXPECT_EQ(racing.bytes, 0u);
  clock.advance(60'001); // past the window: a new event, and no room
  EXPECT_EQ(code_of(admit(repeat).refusal), errc::quota_exceeded);
}

TEST_F(publish_fixture, a_repeated_key_still_takes_a_token) {
  store("evt_1", "key-1", clock.now());
  new_event repeat{"user.created", "{}", "key-1"};
  EXPECT_FALSE(admit(repeat).refusal);
  EXPECT_EQ(code_of(admit(repeat).refusal), errc::rate_limited);
}

TEST_F(publish_fixture, targets_skip_the_excluded_endpoint_within_the_cap) {
  auto all = publish_targets(st, 0, "user.created", std::nullopt, 5);
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, (std::vector<endpoint_id>{1, 2}));
  auto notice = publish_targets(st, 0, "user.created", endpoint_id{1}, 5);
  ASSERT_TRUE(notice);
  EXPECT_EQ(*notice, std::vector<endpoint_id>{2});
  EXPECT_TRUE(publish_targets(st, 3, "user.created", std::nullopt, 5));
  auto over = publish_targets(st, 4, "user.created", std::nullopt, 5);
  ASSERT_FALSE(over);
  EXPECT_EQ(code_of(over.error()), errc::too_many_pending);
  EXPECT_EQ(field_of(over.error()), "event_type");
  auto none = publish_targets(st, 5, "nobody.listens", std::nullopt, 5);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(publish_fixture, an_accepted_event_records_what_was_published) {
  new_event req{"user.created", R"({"a":1})", "key-1"};
  auto rec = accept_event("t1", "evt_9", req, {1, 2}, clock.now());
  EXPECT_EQ(rec,
            (event_accepted{
              "t1", "evt_9", "user.created", "key-1", clock.now(), {1, 2}, 7}));
}

TEST_F(publish_fixture, pruning_takes_old_settled_events_up_to_the_limit) {
  auto now = clock.now();
  prune_settings prune{10'000ms, 20'000ms, 2};
  store("evt_a", "", now - 30'000);
  store("evt_b", "", now - 15'000);
  store("evt_keyed", "key-1", now - 15'000); // within the key's window
  store("evt_new", "", now - 5'000);         // within the retention
  auto first = choose_prune(st, {}, now, prune);
  EXPECT_EQ(first.event_ids, (std::vector<std::string>{"evt_a", "evt_b"}));
  EXPECT_TRUE(first.full);
  prune.max_per_round = 10;
  clock.advance(6'000); // evt_keyed is past its window now
  auto second = choose_prune(st, {}, clock.now(), prune);
  EXPECT_EQ(second.event_ids, (std::vector<std::string>{
                                "evt_a", "evt_b", "evt_keyed", "evt_new"}));
  EXPECT_FALSE(second.full);
}

TEST_F(publish_fixture, pruning_keeps_pending_and_attempted_deliveries) {
  auto now = clock.now();
  new_event req{"user.created", "{}", ""};
  ASSERT_FALSE(
    apply(st, record{accept_event("t1", "evt_p", req, {1, 2}, now - 30'000)}));
  store("evt_done", "", now - 30'000);
  prune_settings prune{10'000ms, 20'000ms, 10};
  EXPECT_EQ(choose_prune(st, {}, now, prune).event_ids,
            std::vector<std::string>{"evt_done"});
  // Both deliveries end; one of them still has an attempt under way.
  for (endpoint_id ep : {1, 2}) {
    attempt_recorded rec;
    rec.tenant_id = "t1";
    rec.endpoint = ep;
    rec.attempt.event_id = "evt_p";
    rec.attempt.attempt = 1;
    rec.outcome = delivery_status::delivered;
    ASSERT_FALSE(apply(st, record{rec}));
  }
  EXPECT_EQ(choose_prune(st, {{"evt_p", 2}}, now, prune).event_ids,
            std::vector<std::string>{"evt_done"});
  EXPECT_EQ(choose_prune(st, {}, now, prune).event_ids,
            (std::vector<std::string>{"evt_done", "evt_p"}));
}
