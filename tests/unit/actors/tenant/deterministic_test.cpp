// Tenant actor tests on CAF's deterministic test coordinator
// (`caf::test::dsl.hpp`'s `test_coordinator_fixture`): every actor runs on
// the test thread when the test says `sched.run()`, delayed messages fire
// when the test moves CAF's clock, and the tenant's "now" is a `fake_clock`
// the test moves with it. Nothing sleeps and nothing waits on real time.
//
// The WAL writer runs detached in the product (its own thread, which the
// coordinator cannot drive): these tests give the tenant an in-memory
// writer (`memory_wal`) that answers in the same round. What the real writer
// adds (group commit, sync, truncation) is tested in
// tests/unit/persistence/wal_writer_test.cpp and, with a tenant actor on
// top, in actor_test.cpp.
//
// Only the fixture and the scheduler of the DSL are used: its `expect` and
// `allow` report through CAF's own unit-test engine, which has no current
// test under GoogleTest; the checks here are GoogleTest's.

// GoogleTest's FAIL() would take the name of the DSL's FAIL(reason).
#define GTEST_DONT_DEFINE_FAIL 1
#include <gtest/gtest.h>

#define CAF_TEST_NO_MAIN
#include <caf/test/unit_test_impl.hpp> // CAF's test engine, no main()

#include <caf/test/dsl.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/common/clock.hpp"
#include "actors/delivery/delivery_engine.hpp"
#include "actors/tenant/tenant_actor.hpp"
#include "webhook_ingress/error.hpp"

namespace {

using namespace wi;
using namespace std::chrono_literals;

/// What the in-memory WAL writer saw; the test may make it refuse appends.
struct memory_wal_log {
  std::vector<std::string> records;
  uint64_t snapshots = 0;
  bool fail = false;
};

struct memory_wal_state {
  std::shared_ptr<memory_wal_log> log;
  static inline const char* name = "test.memory_wal";
};

/// A WAL writer that keeps records in memory and answers at once: record
/// `i` of an append gets the next sequence number. Scheduled, not detached,
/// so the test coordinator runs it.
wal_writer_actor::behavior_type
memory_wal(wal_writer_actor::stateful_pointer<memory_wal_state> self,
           std::shared_ptr<memory_wal_log> log) {
  self->state.log = std::move(log);
  return {
    [self](append_atom, wal_append& req) -> caf::result<uint64_t> {
      auto& written = *self->state.log;
      if (written.fail)
        return make_error(errc::storage_unavailable, "refused by the test");
      auto first = written.records.size() + 1;
      for (auto& x : req.records)
        written.records.push_back(std::move(x));
      return uint64_t{first};
    },
    [self](snapshot_atom, const std::string&, uint64_t covered,
           const std::string&) {
      ++self->state.log->snapshots;
      return covered;
    },
    [](listen_atom, const checkpoint_actor&) {},
    [](stats_atom) { return wal_status{}; },
    [](purge_atom, const std::string&) { return true; },
  };
}

/// An engine that sends nothing: it keeps the jobs, and the test answers
/// them when it likes (the completion sends the outcome to the tenant, which
/// handles it at the next `sched.run()`).
class scripted_engine final : public delivery_engine {
 public:
  struct job_and_completion {
    delivery_job job;
    completion done;
  };

  std::vector<job_and_completion> jobs;

  void submit(delivery_job job, completion done) override {
    jobs.push_back({std::move(job), std::move(done)});
  }

  /// Answers the oldest job with HTTP `status`.
  void answer(int status) {
    ASSERT_FALSE(jobs.empty());
    auto x = std::move(jobs.front());
    jobs.erase(jobs.begin());
    delivery_outcome outcome;
    outcome.job_id = x.job.job_id;
    outcome.status = status;
    x.done(std::move(outcome));
  }
};

class tenant_deterministic : public ::testing::Test,
                             public test_coordinator_fixture<> {
 protected:
  std::shared_ptr<fake_clock> clock = std::make_shared<fake_clock>();
  std::shared_ptr<memory_wal_log> wal_log = std::make_shared<memory_wal_log>();
  std::shared_ptr<delivery_engine> engine;
  std::shared_ptr<delivery_settings> settings =
    std::make_shared<delivery_settings>();
  tenant_actor tenant;

  /// Starts the tenant with `settings` and an engine of `engine_cfg` (or
  /// `engine`, if set).
  void start(delivery_engine_config engine_cfg = {}) {
    if (!engine)
      engine = std::make_shared<delivery_engine>(engine_cfg);
    settings->engine = engine;
    settings->clock = clock;
    auto wal = sys.spawn(memory_wal, wal_log);
    tenant = sys.spawn(tenant_actor_impl, empty_tenant("t1"), owner_log{},
                       wal_writer_actor{wal}, uint64_t{10'000},
                       std::shared_ptr<const delivery_settings>{settings});
    sched.run();
  }

  void TearDown() override {
    if (tenant)
      caf::anon_send_exit(tenant, caf::exit_reason::user_shutdown);
    sched.run();
    if (engine)
      engine->stop();
  }

  /// Sends `xs...` and a reply function to the tenant, runs every actor
  /// until nothing is left to do, and returns the answer.
  template <class T, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    std::optional<caf::expected<T>> out;
    caf::anon_send(tenant, std::forward<Ts>(xs)...,
                   reply_fn<T>{[&out](caf::expected<T> x) { out = x; }});
    sched.run();
    if (!out)
      return make_error(errc::internal, "no answer after the actors ran");
    return std::move(*out);
  }

  /// Creates an endpoint subscribed to `user.created`.
  caf::expected<endpoint> create_endpoint() {
    return ask<endpoint>(
      create_atom::value,
      new_endpoint{
        "https://example.com/1", "secret-secret", {"user.created"}, {}});
  }

  caf::expected<event_receipt> publish(std::string payload,
                                       std::string key = {}) {
    return ask<event_receipt>(
      publish_atom::value,
      new_event{"user.created", std::move(payload), std::move(key)});
  }

  /// Moves the tenant's clock and CAF's together by `d`, then runs what
  /// became due.
  void advance(std::chrono::milliseconds d) {
    clock->advance(d.count());
    sched.advance_time(d);
    sched.run();
  }

  /// Whether a delayed message is due within `d` of CAF's clock.
  bool timer_due_within(std::chrono::milliseconds d) {
    const auto& pending = sched.clock().schedule();
    return !pending.empty() &&
           pending.begin()->first <= sched.clock().current_time + d;
  }
};

TEST_F(tenant_deterministic, an_overloaded_engine_is_not_an_attempt) {
  // An engine whose queue holds no job refuses every one as `overloaded`,
  // as a full engine does. Nothing is sent, so nothing may count against
  // the endpoint: with one failure enough to trip its breaker, it must stay
  // active with no attempt recorded, its delivery pending and retried.
  settings->breaker_failures = 1;
  delivery_engine_config engine_cfg;
  engine_cfg.max_queued = 0;
  start(engine_cfg);
  auto ep = create_endpoint();
  ASSERT_TRUE(ep) << text_of(ep.error());
  auto receipt = publish("{}");
  ASSERT_TRUE(receipt) << text_of(receipt.error());
  EXPECT_EQ(receipt->endpoints, 1u);
  // The first refusal is immediate, the next ones 1 s apart: each refusal
  // arms the next try 1 s later.
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(timer_due_within(1s)) << "round " << round;
    advance(1s);
  }
  auto st = ask<endpoint_stats>(stats_atom::value, ep->id);
  ASSERT_TRUE(st) << text_of(st.error());
  EXPECT_EQ(st->total_attempts, 0u);
  EXPECT_EQ(st->failed_attempts, 0u);
  EXPECT_EQ(st->pending_events, 1u);
  EXPECT_EQ(st->ep.status, endpoint_status::active);
  EXPECT_EQ(st->breaker.consecutive_failures, 0u);
  auto ev = ask<event_state>(get_atom::value, receipt->id);
  ASSERT_TRUE(ev) << text_of(ev.error());
  ASSERT_EQ(ev->deliveries.size(), 1u);
  EXPECT_EQ(ev->deliveries[0].status, delivery_status::pending);
  EXPECT_EQ(ev->deliveries[0].attempts, 0u);
  // Two records only: the endpoint and the event; no attempt.
  EXPECT_EQ(wal_log->records.size(), 2u);
}

TEST_F(tenant_deterministic,
       the_breaker_trips_probes_after_its_cooldown_and_recovers) {
  // Two failures trip the breaker; the probe waits for the cool-down (on
  // the fake clock and CAF's, moved together), and a successful probe
  // brings the endpoint back. Each step is checked at its exact time.
  auto scripted = std::make_shared<scripted_engine>();
  engine = scripted;
  settings->breaker_failures = 2;
  settings->breaker_cooldown = 60s;
  settings->retries = retry_policy{{1000ms, 1000ms, 1000ms}, 0.0};
  start();
  auto ep = create_endpoint();
  ASSERT_TRUE(ep) << text_of(ep.error());
  auto status = [&] {
    auto view = ask<endpoint_view>(get_atom::value, ep->id);
    return view ? view->ep.status : endpoint_status::inactive;
  };
  ASSERT_TRUE(publish("{}"));
  ASSERT_EQ(scripted->jobs.size(), 1u); // the first attempt, at once
  scripted->answer(500);
  sched.run();
  EXPECT_EQ(status(), endpoint_status::active);
  advance(999ms);
  EXPECT_TRUE(scripted->jobs.empty()) << "retried before its delay";
  advance(1ms);
  ASSERT_EQ(scripted->jobs.size(), 1u); // the second attempt
  scripted->answer(500);
  sched.run();
  EXPECT_EQ(status(), endpoint_status::disabled);
  advance(59'999ms);
  EXPECT_TRUE(scripted->jobs.empty()) << "probed before the cool-down";
  advance(1ms);
  ASSERT_EQ(scripted->jobs.size(), 1u); // the probe
  scripted->answer(200);
  sched.run();
  EXPECT_EQ(status(), endpoint_status::active);
  auto st = ask<endpoint_stats>(stats_atom::value, ep->id);
  ASSERT_TRUE(st) << text_of(st.error());
  EXPECT_EQ(st->total_attempts, 3u);
  EXPECT_EQ(st->failed_attempts, 2u);
  EXPECT_EQ(st->pending_events, 0u);
  EXPECT_EQ(st->breaker.consecutive_failures, 0u);
}

TEST_F(tenant_deterministic, record_times_and_signatures_use_the_tenant_clock) {
  // Every "now" of the tenant comes from its clock: an endpoint's creation
  // and change times, and the timestamp a delivery is signed with.
  auto scripted = std::make_shared<scripted_engine>();
  engine = scripted;
  clock->set(1'800'000'000'250);
  start();
  auto ep = create_endpoint();
  ASSERT_TRUE(ep) << text_of(ep.error());
  EXPECT_EQ(ep->created_at, 1'800'000'000);
  clock->advance(5'000);
  ASSERT_TRUE(
    ask<no_content>(status_atom::value, ep->id, endpoint_status::inactive));
  ASSERT_TRUE(
    ask<no_content>(status_atom::value, ep->id, endpoint_status::active));
  auto view = ask<endpoint_view>(get_atom::value, ep->id);
  ASSERT_TRUE(view) << text_of(view.error());
  EXPECT_EQ(view->ep.last_modified, 1'800'000'005);
  auto receipt = publish("{}");
  ASSERT_TRUE(receipt) << text_of(receipt.error());
  EXPECT_EQ(receipt->created_at, 1'800'000'005'250);
  ASSERT_EQ(scripted->jobs.size(), 1u);
  std::string timestamp;
  for (const auto& [name, value] : scripted->jobs.front().job.headers)
    if (name == delivery_header::webhook_timestamp)
      timestamp = value;
  EXPECT_EQ(timestamp, "1800000005");
  scripted->answer(200);
}

TEST_F(tenant_deterministic,
       an_idempotency_key_is_usable_again_after_its_window) {
  // Within the window the key answers its first event as a duplicate; once
  // the window has passed, the same key publishes a new event (and that one
  // is then the key's event).
  settings->idempotency_window = 300ms;
  start();
  auto first = publish(R"({"n":1})", "key-1");
  ASSERT_TRUE(first) << text_of(first.error());
  clock->advance(300); // the window's last millisecond
  auto again = publish(R"({"n":2})", "key-1");
  ASSERT_TRUE(again) << text_of(again.error());
  EXPECT_FALSE(first->duplicate);
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->id, first->id);
  clock->advance(1); // past the window
  auto later = publish(R"({"n":3})", "key-1");
  ASSERT_TRUE(later) << text_of(later.error());
  EXPECT_FALSE(later->duplicate) << "the key outlived its window";
  EXPECT_NE(later->id, first->id);
  auto repeat = publish(R"({"n":4})", "key-1");
  ASSERT_TRUE(repeat) << text_of(repeat.error());
  EXPECT_TRUE(repeat->duplicate);
  EXPECT_EQ(repeat->id, later->id) << "the key now names the newer event";
}

TEST_F(tenant_deterministic, the_publish_rate_limit_follows_the_program_clock) {
  // One publish per second, a bucket of one. Only the fake clock moves (not
  // CAF's, not the real one): the limiter must read the tenant's clock.
  // Before it did, it read std::chrono::steady_clock inline and the third
  // publish was refused.
  settings->limits = tenant_limits{1000, uint64_t{1} << 30, 1, 1};
  start();
  ASSERT_TRUE(publish("{}"));
  auto refused = publish("{}");
  ASSERT_FALSE(refused);
  EXPECT_EQ(code_of(refused.error()), errc::rate_limited);
  EXPECT_EQ(field_of(refused.error()), "publish_rate");
  clock->advance(999);
  EXPECT_FALSE(publish("{}"));
  clock->advance(1);
  auto allowed = publish("{}");
  EXPECT_TRUE(allowed) << text_of(allowed.error());
}

TEST_F(tenant_deterministic,
       a_failed_write_answers_the_error_and_applies_nothing) {
  start();
  wal_log->fail = true;
  auto refused = publish("{}", "key-1");
  ASSERT_FALSE(refused);
  EXPECT_EQ(code_of(refused.error()), errc::storage_unavailable);
  wal_log->fail = false;
  // Nothing of the refused publish stayed: the key is free.
  auto accepted = publish("{}", "key-1");
  ASSERT_TRUE(accepted) << text_of(accepted.error());
  EXPECT_FALSE(accepted->duplicate);
  EXPECT_EQ(wal_log->records.size(), 1u);
}

} // namespace
