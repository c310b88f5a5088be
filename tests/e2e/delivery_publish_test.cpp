// The webhook engine end to end: idempotency, inactive endpoints, statistics,
// the pending cap.

#include "support/delivery_fixture.hpp"

using namespace wi_e2e::delivery_fixture;

// -- idempotency --------------------------------------------------------------

TEST_F(delivery, republishing_with_an_idempotency_key_is_a_duplicate) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto other = new_tenant();
  add_endpoint(t, rx_.url("/idem"), {"*"});
  add_endpoint(other, rx_.url("/idem-other"), {"*"});

  // Header key.
  auto first = publish_ok(t, "order.created", R"({"n": 1})",
                          {{"Idempotency-Key", "key-1"}});
  EXPECT_EQ(first.at("duplicate"), false);
  EXPECT_EQ(as_int(first.at("endpoints")), 1);
  auto again = publish_ok(t, "order.created", R"({"n": 2})",
                          {{"Idempotency-Key", "key-1"}});
  EXPECT_EQ(again.at("id"), first.at("id"));
  EXPECT_EQ(again.at("duplicate"), true);
  EXPECT_EQ(again.at("created_at"), first.at("created_at"));

  // Body field.
  auto body_first =
    publish_ok(t, "order.created", R"({"n": 3})", {}, std::string{"key-2"});
  EXPECT_EQ(body_first.at("duplicate"), false);
  EXPECT_NE(body_first.at("id"), first.at("id"));
  auto body_again =
    publish_ok(t, "order.created", R"({"n": 4})", {}, std::string{"key-2"});
  EXPECT_EQ(body_again.at("id"), body_first.at("id"));
  EXPECT_EQ(body_again.at("duplicate"), true);
  // The header key and the body field are the same key.
  auto via_header = publish_ok(t, "order.created", R"({"n": 5})",
                               {{"Idempotency-Key", "key-2"}});
  EXPECT_EQ(via_header.at("id"), body_first.at("id"));
  EXPECT_EQ(via_header.at("duplicate"), true);

  // The header wins over the body field.
  auto both = publish_ok(t, "order.created", R"({"n": 6})",
                         {{"Idempotency-Key", "key-3"}}, std::string{"key-2"});
  EXPECT_EQ(both.at("duplicate"), false);
  EXPECT_NE(both.at("id"), body_first.at("id"));
  auto both_again =
    publish_ok(t, "order.created", R"({"n": 7})", {}, std::string{"key-3"});
  EXPECT_EQ(both_again.at("id"), both.at("id"));
  EXPECT_EQ(both_again.at("duplicate"), true);

  // Keys are per tenant.
  auto foreign = publish_ok(other, "order.created", R"({"n": 8})",
                            {{"Idempotency-Key", "key-1"}});
  EXPECT_EQ(foreign.at("duplicate"), false);
  EXPECT_NE(foreign.at("id"), first.at("id"));

  // Concurrent publishes with one key: one event.
  std::vector<json::object> race(6);
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < race.size(); ++i)
      threads.emplace_back([&, i] {
        auto r = publish(t, event_body("order.created", R"({"race": true})"),
                         {{"Idempotency-Key", "key-race"}});
        if (r.status == 202 && r.data().is_object())
          race[i] = r.data().as_object();
      });
    for (auto& th : threads)
      th.join();
  }
  size_t originals = 0;
  for (const auto& r : race) {
    ASSERT_TRUE(r.contains("id")) << "a racing publish failed";
    EXPECT_EQ(r.at("id"), race[0].at("id"));
    originals += r.at("duplicate") == false ? 1 : 0;
  }
  EXPECT_EQ(originals, 1u);

  auto stored = get_event(t, str_at(first, "id"));
  EXPECT_EQ(stored.at("idempotency_key"), "key-1") << json::serialize(stored);
  EXPECT_EQ(get_event(t, str_at(both, "id")).at("idempotency_key"), "key-3");

  // Exactly one delivery per distinct event, with the original payload.
  for (const auto& id :
       {first.at("id"), body_first.at("id"), both.at("id"), race[0].at("id")})
    wait_settled(t, id.as_string());
  wait_settled(other, foreign.at("id").as_string());
  std::this_thread::sleep_for(quiet_period);
  auto got = rx_.requests("/idem");
  ASSERT_EQ(got.size(), 4u) << describe(got);
  std::map<std::string, size_t> per_id;
  for (const auto& r : got)
    ++per_id[r.header("webhook-id").value_or("")];
  for (const auto& id :
       {first.at("id"), body_first.at("id"), both.at("id"), race[0].at("id")})
    EXPECT_EQ(per_id[std::string{id.as_string()}], 1u) << describe(got);
  auto first_delivery = with_id(got, str_at(first, "id"));
  ASSERT_EQ(first_delivery.size(), 1u);
  EXPECT_EQ(json::parse(first_delivery[0].body).at("data"),
            json::parse(R"({"n": 1})"));
  EXPECT_EQ(rx_.count("/idem-other"), 1u);
}

// -- inactive endpoints -------------------------------------------------------

TEST_F(delivery, inactive_endpoints_get_nothing_and_enable_resumes_paused) {
  start({"--allow-private-targets", "--retry-schedule", "1s,1s"});
  auto t = new_tenant();
  auto act = add_endpoint(t, rx_.url("/act"), {"x"});
  auto off = add_endpoint(t, rx_.url("/off"), {"x"});
  auto paused = add_endpoint(t, rx_.url("/paused"), {"x"});
  rx_.set("/paused", behaviour::fail_times(1, reply{500, 0ms, {}, "no"}));
  set_status(t, off, "/disable");

  auto receipt = publish_ok(t, "x");
  auto id = str_at(receipt, "id");
  EXPECT_EQ(as_int(receipt.at("endpoints")), 2);
  ASSERT_TRUE(rx_.wait_for_count("/paused", 1, 5s));
  set_status(t, paused, "/disable");
  auto ev = wait_event(t, id, [&](const json::object& e) {
    return delivery_of(e, paused).at("attempts") == 1 &&
           delivery_of(e, act).at("status") == "delivered";
  });
  EXPECT_EQ(delivery_endpoints(ev), (std::set<int64_t>{act, paused}))
    << json::serialize(ev);
  EXPECT_EQ(delivery_of(ev, act).at("status"), "delivered");

  // While inactive: no retry, no new event.
  auto second = publish_ok(t, "x");
  EXPECT_EQ(as_int(second.at("endpoints")), 1);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(rx_.count("/paused"), 1u) << describe(rx_.requests());
  EXPECT_EQ(rx_.count("/off"), 0u) << describe(rx_.requests());
  ev = get_event(t, id);
  auto d = delivery_of(ev, paused);
  EXPECT_EQ(d.at("status"), "pending") << json::serialize(ev);
  EXPECT_EQ(as_int(d.at("attempts")), 1) << json::serialize(ev);
  EXPECT_EQ(as_int(stats(t, paused).at("pending_events")), 1);
  EXPECT_EQ(delivery_endpoints(get_event(t, str_at(second, "id"))),
            (std::set<int64_t>{act}));

  // Enabled again: the paused delivery goes out, nothing else does.
  set_status(t, paused, "/enable");
  set_status(t, off, "/enable");
  ev = wait_settled(t, id, 5s);
  d = delivery_of(ev, paused);
  EXPECT_EQ(d.at("status"), "delivered") << json::serialize(ev);
  EXPECT_EQ(as_int(d.at("attempts")), 2) << json::serialize(ev);
  std::this_thread::sleep_for(quiet_period);
  auto got = rx_.requests("/paused");
  ASSERT_EQ(got.size(), 2u) << describe(got);
  EXPECT_EQ(got[1].header("webhook-id"), id);
  EXPECT_EQ(rx_.count("/off"), 0u);
  EXPECT_EQ(rx_.count("/act"), 2u);
  EXPECT_EQ(as_int(stats(t, paused).at("pending_events")), 0);
}

// -- statistics ---------------------------------------------------------------

TEST_F(delivery, statistics_match_what_the_receiver_saw) {
  start({"--allow-private-targets", "--retry-schedule", "100ms"});
  auto t = new_tenant();
  auto good = add_endpoint(t, rx_.url("/good"), {"s"});
  auto bad = add_endpoint(t, rx_.url("/bad"), {"s"});
  auto quiet = add_endpoint(t, rx_.url("/quiet"), {"never"});
  rx_.set("/good", behaviour::always(reply{200, 60ms, {}, "ok"}));
  rx_.set("/bad", behaviour::always(reply{503, 0ms, {}, "down"}));
  auto before = unix_now();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(str_at(publish_ok(t, "s"), "id"));
  for (const auto& id : ids)
    wait_settled(t, id);
  std::this_thread::sleep_for(quiet_period);
  ASSERT_EQ(rx_.count("/good"), 3u);
  ASSERT_EQ(rx_.count("/bad"), 6u);

  auto g = stats(t, good);
  SCOPED_TRACE(json::serialize(g));
  EXPECT_EQ(as_int(g.at("id")), good);
  // The WebhookEndpoint fields of the statistics' endpoint are the
  // endpoint's (GET adds the breaker's extension fields).
  auto ep = get_endpoint(client(), t.token, good);
  for (auto key : {"identifier", "url", "secret", "event_types", "headers",
                   "status", "create_timestamp", "last_modified"})
    EXPECT_EQ(g.at("endpoint").at(key), ep.at(key)) << key;
  EXPECT_EQ(as_int(g.at("total_attempts")), 3);
  EXPECT_EQ(as_int(g.at("successful_attempts")), 3);
  EXPECT_EQ(as_int(g.at("failed_attempts")), 0);
  EXPECT_EQ(num(g.at("success_rate")), 100.0);
  EXPECT_EQ(as_int(g.at("pending_events")), 0);
  EXPECT_GE(num(g.at("average_response_time_ms")), 60.0);
  EXPECT_LT(num(g.at("average_response_time_ms")), 2000.0);
  EXPECT_GE(num(g.at("p50_response_time_ms")), 55.0);
  EXPECT_GE(num(g.at("p95_response_time_ms")),
            num(g.at("p50_response_time_ms")));
  ASSERT_TRUE(g.contains("last_success_at"));
  EXPECT_GE(parse_rfc3339(str_at(g, "last_success_at"))->seconds, before - 1);
  EXPECT_LE(parse_rfc3339(str_at(g, "last_success_at"))->seconds,
            unix_now() + 1);
  EXPECT_FALSE(g.contains("last_failure_at"));

  auto b = stats(t, bad);
  SCOPED_TRACE(json::serialize(b));
  EXPECT_EQ(as_int(b.at("total_attempts")), 6);
  EXPECT_EQ(as_int(b.at("successful_attempts")), 0);
  EXPECT_EQ(as_int(b.at("failed_attempts")), 6);
  EXPECT_EQ(num(b.at("success_rate")), 0.0);
  EXPECT_EQ(as_int(b.at("pending_events")), 0);
  EXPECT_TRUE(b.contains("last_failure_at"));
  EXPECT_FALSE(b.contains("last_success_at"));

  auto q = stats(t, quiet);
  SCOPED_TRACE(json::serialize(q));
  for (auto key : {"total_attempts", "successful_attempts", "failed_attempts",
                   "pending_events"})
    EXPECT_EQ(as_int(q.at(key)), 0) << key;
  for (auto key : {"success_rate", "average_response_time_ms",
                   "p50_response_time_ms", "p95_response_time_ms"})
    EXPECT_EQ(num(q.at(key)), 0.0) << key;
  EXPECT_FALSE(q.contains("last_success_at"));
  EXPECT_FALSE(q.contains("last_failure_at"));
  EXPECT_TRUE(is_no_content(attempts(t, quiet)));

  // PUT answers the same.
  auto put = client().put(endpoint_path(good, "/statistics"), bearer(t.token));
  ASSERT_TRUE(is_success(put, 200));
  EXPECT_EQ(put.data(), json::value(stats(t, good)));
}

// -- the pending cap ----------------------------------------------------------

TEST_F(delivery, too_many_pending_is_429_with_retry_after) {
  start({"--allow-private-targets", "--max-pending-deliveries", "3"});
  auto t = new_tenant();
  auto other = new_tenant();
  auto slow = add_endpoint(t, rx_.url("/slow"), {"p", "pq"});
  add_endpoint(t, rx_.url("/slow2"), {"pq"});
  add_endpoint(other, rx_.url("/free"), {"*"});
  // A slow receiver: every delivery stays pending while it is in flight.
  rx_.set("/slow", behaviour::always(reply{200, 2500ms, {}, "late"}));

  auto e1 = publish_ok(t, "p", R"({"n":1})", {}, std::string{"cap-1"});
  auto e2 = publish_ok(t, "p");
  // Two more deliveries would make 4 > 3.
  auto over = publish(t, event_body("pq", "{}"));
  EXPECT_TRUE(is_error(over, 429, "TOO_MANY_PENDING"));
  EXPECT_TRUE(over.has_header("Retry-After")) << over;
  auto e3 = publish_ok(t, "p");
  EXPECT_EQ(as_int(e3.at("endpoints")), 1);
  auto full = publish(t, event_body("p", "{}"), {{"Idempotency-Key", "cap-x"}});
  ASSERT_TRUE(is_error(full, 429, "TOO_MANY_PENDING"));
  ASSERT_TRUE(full.has_header("Retry-After")) << full;
  auto ra = full.header("Retry-After");
  ASSERT_FALSE(ra.empty());
  EXPECT_TRUE(std::all_of(ra.begin(), ra.end(),
                          [](char c) { return c >= '0' && c <= '9'; }) &&
              std::stoll(ra) > 0)
    << full;
  // Nothing is added by an event no endpoint wants, or by a duplicate.
  auto nobody = publish_ok(t, "unrouted");
  EXPECT_EQ(as_int(nobody.at("endpoints")), 0);
  auto dup = publish_ok(t, "p", R"({"n":1})", {}, std::string{"cap-1"});
  EXPECT_EQ(dup.at("id"), e1.at("id"));
  EXPECT_EQ(dup.at("duplicate"), true);
  // The cap is per tenant.
  auto foreign = publish_ok(other, "p");
  EXPECT_EQ(as_int(foreign.at("endpoints")), 1);
  EXPECT_EQ(as_int(stats(t, slow).at("pending_events")), 3);

  // Once the receiver answered, the tenant may publish again.
  for (const auto* e : {&e1, &e2, &e3}) {
    auto ev = wait_settled(t, str_at(*e, "id"));
    EXPECT_EQ(delivery_of(ev, slow).at("status"), "delivered");
  }
  EXPECT_EQ(as_int(stats(t, slow).at("pending_events")), 0);
  rx_.set("/slow", behaviour::always(reply{}));
  // A key whose publish was refused was not used up.
  auto retried = publish_ok(t, "p", "{}", {{"Idempotency-Key", "cap-x"}});
  EXPECT_EQ(retried.at("duplicate"), false);
  wait_settled(t, str_at(retried, "id"));
  auto after = publish_ok(t, "pq");
  EXPECT_EQ(as_int(after.at("endpoints")), 2);
  wait_settled(t, str_at(after, "id"));
  std::this_thread::sleep_for(quiet_period);
  EXPECT_EQ(rx_.count("/slow"), 5u) << describe(rx_.requests());
  EXPECT_EQ(rx_.count("/slow2"), 1u) << describe(rx_.requests());
  EXPECT_EQ(rx_.count("/free"), 1u) << describe(rx_.requests());
}
