// The webhook engine end to end: durability across kill -9 and restarts,
// pruning of delivered history.

#include "support/delivery_fixture.hpp"

using namespace wi_e2e::delivery_fixture;

// -- durability ---------------------------------------------------------------

TEST_F(delivery, kill9_with_pending_deliveries_loses_and_repeats_nothing) {
  // Many failures in a row: keep the circuit breaker out of this test.
  // At most six attempts in flight per endpoint: some deliveries of the
  // late events are still queued, never tried, at the crash.
  start({"--allow-private-targets", "--breaker-failures", "1000",
         "--endpoint-concurrency", "6", "--retry-schedule",
         "300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms"});
  auto t = new_tenant();
  auto failing = add_endpoint(t, rx_.url("/failing"), {"order.paid"});
  auto healthy = add_endpoint(t, rx_.url("/healthy"), {"order.paid"});
  auto slow = add_endpoint(t, rx_.url("/slow"), {"order.paid"});
  rx_.set("/failing", behaviour::always(reply{503, 0ms, {}, "down"}));
  rx_.set("/slow", behaviour::always(reply{200, 10s, {}, "late"}));

  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(str_at(
      publish_ok(t, "order.paid", "{\"i\": " + std::to_string(i) + "}"), "id"));
  // The healthy endpoint's deliveries are recorded as done; the failing one
  // was tried; the slow one is in flight.
  for (const auto& id : ids)
    wait_event(t, id, [&](const json::object& e) {
      return delivery_of(e, healthy).at("status") == "delivered" &&
             as_int(delivery_of(e, failing).at("attempts")) >= 1;
    });
  for (const auto& id : ids) {
    auto ev = get_event(t, id);
    ASSERT_EQ(delivery_of(ev, healthy).at("status"), "delivered")
      << json::serialize(ev);
    ASSERT_EQ(delivery_of(ev, failing).at("status"), "pending")
      << json::serialize(ev);
    ASSERT_EQ(delivery_of(ev, slow).at("status"), "pending")
      << json::serialize(ev);
  }
  ASSERT_TRUE(rx_.wait_for_count("/slow", ids.size(), 5s));
  // From now on nobody answers before the crash, so nothing more is
  // recorded: what GET shows below is what the crash finds.
  const reply hang{503, 10s, {}, "never"};
  rx_.set("/failing", behaviour::always(hang));
  rx_.set("/healthy", behaviour::always(hang));
  ASSERT_TRUE(rx_.wait_until(
    [&](const std::vector<received_request>& log) {
      for (size_t i = 0; i < 5; ++i) {
        bool hanging = false;
        for (const auto& r : log)
          hanging = hanging || (r.path == "/failing" && !r.answered &&
                                r.header("webhook-id") == ids[i]);
        if (!hanging)
          return false;
      }
      return true;
    },
    5s));
  // Accepted right before the crash: in flight or not even tried.
  for (int i = 0; i < 3; ++i)
    ids.push_back(
      str_at(publish_ok(t, "order.paid", "{\"late\": true}"), "id"));
  // What the server recorded as done just before the crash.
  std::set<std::pair<int64_t, std::string>> done_before;
  std::map<std::string, int64_t> failing_attempts_before;
  for (const auto& id : ids) {
    auto ev = get_event(t, id);
    for (const auto& d : ev.at("deliveries").as_array())
      if (d.at("status") == "delivered")
        done_before.emplace(as_int(d.at("endpoint")), id);
    failing_attempts_before[id] =
      as_int(delivery_of(ev, failing).at("attempts"));
  }
  auto failing_stats = stats(t, failing);

  server_->kill9();
  rx_.set("/failing", behaviour::always(reply{200, 0ms, {}, "fine"}));
  rx_.set("/slow", behaviour::always(reply{200, 0ms, {}, "fast"}));
  rx_.set("/healthy", behaviour::always(reply{200, 0ms, {}, "ok"}));
  auto restarted_at = std::chrono::steady_clock::now();
  server_->start();
  client_ = std::make_unique<http_client>(server_->base_url());

  // Deliveries resume at start, before any request reaches the tenant.
  const std::map<int64_t, std::string> paths = {
    {failing, "/failing"}, {healthy, "/healthy"}, {slow, "/slow"}};
  std::vector<std::pair<std::string, std::string>> owed;
  for (const auto& id : ids)
    for (const auto& [ep, path] : paths)
      if (done_before.count({ep, id}) == 0)
        owed.emplace_back(path, id);
  EXPECT_TRUE(wait_answered_after(owed, restarted_at, 10s))
    << describe(rx_.requests());

  std::map<std::string, json::object> final_events;
  for (const auto& id : ids) {
    auto ev = wait_settled(t, id, 15s);
    for (const auto& d : ev.at("deliveries").as_array())
      EXPECT_EQ(d.at("status"), "delivered") << json::serialize(ev);
    final_events[id] = ev;
  }
  std::this_thread::sleep_for(quiet_period);
  auto all = rx_.requests();
  for (const auto& id : ids) {
    SCOPED_TRACE(id);
    for (const auto& [ep, path] : paths) {
      SCOPED_TRACE(path);
      auto got = with_id(rx_.requests(path), id);
      std::vector<received_request> after;
      for (const auto& r : got)
        if (r.at > restarted_at)
          after.push_back(r);
      // Arrived (and was answered 200) at least once.
      EXPECT_TRUE(std::any_of(
        got.begin(), got.end(),
        [](const auto& r) { return r.status == 200 && r.answered; }))
        << describe(all);
      if (done_before.count({ep, id}) > 0) {
        // Recorded as done before the crash: never sent again.
        EXPECT_TRUE(after.empty()) << describe(all);
      } else {
        // Sent again after the restart, once: the answer was 200.
        EXPECT_EQ(after.size(), 1u) << describe(all);
      }
    }
    // Attempts recorded before the crash are kept.
    EXPECT_EQ(as_int(delivery_of(final_events[id], failing).at("attempts")),
              failing_attempts_before[id] + 1)
      << json::serialize(final_events[id]);
  }
  // The first five were recorded as delivered to the healthy endpoint.
  for (size_t i = 0; i < 5; ++i)
    EXPECT_EQ(done_before.count({healthy, ids[i]}), 1u) << ids[i];
  // Statistics survive the crash: every recorded attempt counted once.
  for (auto ep : {healthy, slow}) {
    auto st = stats(t, ep);
    EXPECT_EQ(as_int(st.at("successful_attempts")), 8) << json::serialize(st);
    EXPECT_EQ(as_int(st.at("failed_attempts")), 0) << json::serialize(st);
    EXPECT_EQ(as_int(st.at("pending_events")), 0) << json::serialize(st);
  }
  auto fs = stats(t, failing);
  EXPECT_EQ(as_int(fs.at("failed_attempts")),
            as_int(failing_stats.at("failed_attempts")))
    << json::serialize(fs);
  EXPECT_EQ(as_int(fs.at("successful_attempts")), 8) << json::serialize(fs);
}

TEST_F(delivery, graceful_restart_and_snapshots_keep_deliveries_and_keys) {
  // Snapshots every few records, then a SIGTERM (which snapshots all).
  // An attempt still under way when the grace period ends is not an
  // attempt: it is sent again after the restart.
  // The failing endpoint must not trip the breaker.
  start({"--allow-private-targets", "--snapshot-every", "3",
         "--breaker-failures", "1000", "--shutdown-grace", "1",
         "--retry-schedule", "200ms,200ms,200ms,200ms,200ms,200ms,200ms"});
  auto t = new_tenant();
  auto ok = add_endpoint(t, rx_.url("/ok"), {"a"});
  auto down = add_endpoint(t, rx_.url("/down"), {"a"});
  auto hang = add_endpoint(t, rx_.url("/hang"), {"h"});
  rx_.set("/down", behaviour::always(reply{500, 0ms, {}, "down"}));
  rx_.set("/hang", behaviour::always(reply{200, 10s, {}, "too late"}));
  auto hung = publish_ok(t, "h");
  ASSERT_TRUE(rx_.wait_for_count("/hang", 1, 5s));
  std::vector<json::object> receipts;
  for (int i = 0; i < 4; ++i)
    receipts.push_back(
      publish_ok(t, "a", "{\"i\": " + std::to_string(i) + "}",
                 {{"Idempotency-Key", "k" + std::to_string(i)}}));
  for (const auto& r : receipts)
    wait_event(t, str_at(r, "id"), [&](const json::object& e) {
      return delivery_of(e, ok).at("status") == "delivered" &&
             as_int(delivery_of(e, down).at("attempts")) >= 1;
    });
  auto ok_stats = stats(t, ok);
  auto ok_log = attempts(t, ok, "?pageSize=100");
  ASSERT_TRUE(is_success(ok_log, 200));

  std::chrono::steady_clock::time_point restarted_at;
  restart_graceful([&] {
    rx_.set("/down", behaviour::always(reply{200, 0ms, {}, "up"}));
    rx_.set("/hang", behaviour::always(reply{200, 0ms, {}, "now"}));
    restarted_at = std::chrono::steady_clock::now();
  });
  // The pending deliveries resume by themselves after the restart.
  std::vector<std::pair<std::string, std::string>> owed;
  for (const auto& r : receipts)
    owed.emplace_back("/down", str_at(r, "id"));
  owed.emplace_back("/hang", str_at(hung, "id"));
  EXPECT_TRUE(wait_answered_after(owed, restarted_at, 10s))
    << describe(rx_.requests());

  for (const auto& r : receipts) {
    auto ev = wait_settled(t, str_at(r, "id"));
    EXPECT_EQ(ev.at("created_at"), r.at("created_at"));
    EXPECT_EQ(delivery_of(ev, ok).at("status"), "delivered");
    EXPECT_EQ(as_int(delivery_of(ev, ok).at("attempts")), 1);
    EXPECT_EQ(delivery_of(ev, down).at("status"), "delivered")
      << json::serialize(ev);
  }
  // What was delivered before is kept, and not sent again.
  EXPECT_EQ(stats(t, ok), ok_stats);
  auto log_after = attempts(t, ok, "?pageSize=100");
  EXPECT_EQ(log_after.data(), ok_log.data());
  // Idempotency keys survive.
  auto dup = publish_ok(t, "a", "{}", {{"Idempotency-Key", "k2"}});
  EXPECT_EQ(dup.at("id"), receipts[2].at("id"));
  EXPECT_EQ(dup.at("duplicate"), true);
  // And new events flow.
  auto fresh = publish_ok(t, "a");
  EXPECT_EQ(fresh.at("duplicate"), false);
  wait_settled(t, str_at(fresh, "id"));
  std::this_thread::sleep_for(quiet_period);
  EXPECT_EQ(rx_.count("/ok"), 5u) << describe(rx_.requests("/ok"));
  auto s = stats(t, down);
  EXPECT_EQ(as_int(s.at("successful_attempts")), 5) << json::serialize(s);
  EXPECT_EQ(as_int(s.at("pending_events")), 0) << json::serialize(s);
  auto h = wait_settled(t, str_at(hung, "id"));
  EXPECT_EQ(delivery_of(h, hang).at("status"), "delivered")
    << json::serialize(h);
  EXPECT_EQ(as_int(delivery_of(h, hang).at("attempts")), 1)
    << json::serialize(h);
  EXPECT_EQ(rx_.count("/hang"), 2u);
  auto hs = stats(t, hang);
  EXPECT_EQ(as_int(hs.at("total_attempts")), 1) << json::serialize(hs);
}

// -- history pruning
// -----------------------------------------------------------

TEST_F(delivery, delivered_history_is_pruned_after_the_retention) {
  // A pending delivery waits 30 s for its retry: past the retention, but
  // never pruned (and not expired either before it is due).
  start({"--allow-private-targets", "--retention", "1500ms", "--prune-interval",
         "100ms", "--retry-schedule", "30s"});
  auto t = new_tenant();
  auto good = add_endpoint(t, rx_.url("/good"), {"done"});
  auto bad = add_endpoint(t, rx_.url("/bad"), {"stuck"});
  rx_.set("/good", behaviour::always(reply{200, 0ms, {}, "ok"}));
  rx_.set("/bad", behaviour::always(reply{503, 0ms, {}, "down"}));
  auto done = str_at(publish_ok(t, "done"), "id");
  auto none = str_at(publish_ok(t, "nobody.listens"), "id");
  auto stuck = str_at(publish_ok(t, "stuck"), "id");
  // With an idempotency key the event is kept for the key's 24 h window.
  auto keyed =
    str_at(publish_ok(t, "done", R"({"n": 2})", {}, std::string{"k-1"}), "id");
  wait_settled(t, done);
  wait_settled(t, keyed);
  wait_event(t, stuck, [&](const json::object& e) {
    return as_int(delivery_of(e, bad).at("attempts")) >= 1;
  });
  auto good_stats = json::serialize(stats(t, good));
  auto bad_stats = json::serialize(stats(t, bad));
  auto good_log = attempts(t, good);
  ASSERT_TRUE(is_success(good_log, 200));

  auto gone = [&](const std::string& id) {
    return client().get(event_path(id), bearer(t.token)).status == 404;
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!(gone(done) && gone(none)) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  auto check = [&](std::string_view when) {
    SCOPED_TRACE(when);
    EXPECT_TRUE(is_error(client().get(event_path(done), bearer(t.token)), 404,
                         "NOT_FOUND"));
    EXPECT_TRUE(is_error(client().get(event_path(none), bearer(t.token)), 404,
                         "NOT_FOUND"));
    auto ev = get_event(t, stuck);
    EXPECT_EQ(delivery_of(ev, bad).at("status"), "pending")
      << json::serialize(ev);
    EXPECT_EQ(delivery_of(get_event(t, keyed), good).at("status"), "delivered");
    // Statistics and the attempt log keep what the pruned events did.
    EXPECT_EQ(json::serialize(stats(t, good)), good_stats);
    EXPECT_EQ(json::serialize(stats(t, bad)), bad_stats);
    auto log = attempts(t, good);
    EXPECT_TRUE(is_success(log, 200));
    EXPECT_EQ(json::serialize(log.data()), json::serialize(good_log.data()));
    // A resend of a pruned event finds nothing.
    EXPECT_TRUE(is_error(resend(t, good, done), 404, "NOT_FOUND"));
    // Republishing the key still answers with the kept event.
    auto dup = publish_ok(t, "done", R"({"n": 2})", {}, std::string{"k-1"});
    EXPECT_EQ(str_at(dup, "id"), keyed);
    EXPECT_TRUE(dup.at("duplicate").as_bool());
  };
  check("pruned live");
  auto sent = rx_.count("/good");

  server_->kill9();
  server_->start();
  client_ = std::make_unique<http_client>(server_->base_url());
  check("after kill -9 and restart");
  std::this_thread::sleep_for(quiet_period);
  EXPECT_EQ(rx_.count("/good"), sent) << describe(rx_.requests());
}
