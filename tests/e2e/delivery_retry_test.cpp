// The webhook engine end to end: retries with jitter and Retry-After, failures,
// the attempt log, timeouts, exhaustion and resend.

#include "support/delivery_fixture.hpp"

using namespace wi_e2e::delivery_fixture;

// -- retries ------------------------------------------------------------------

TEST_F(delivery, fail_n_times_then_succeed_follows_the_schedule) {
  start({"--allow-private-targets", "--retry-schedule", "200ms,300ms,400ms"});
  auto t = new_tenant();
  const std::string secret = "flaky-secret";
  auto ep = add_endpoint(t, rx_.url("/flaky"), {"job.done"}, secret);
  rx_.set("/flaky", behaviour::fail_times(3, reply{500, 0ms, {}, "nope"},
                                          reply{200, 0ms, {}, "yes"}));
  auto receipt = publish_ok(t, "job.done", R"({"job": 7})");
  auto id = str_at(receipt, "id");
  auto ev = wait_settled(t, id);
  auto d = delivery_of(ev, ep);
  EXPECT_EQ(d.at("status"), "delivered") << json::serialize(ev);
  EXPECT_EQ(as_int(d.at("attempts")), 4) << json::serialize(ev);
  EXPECT_FALSE(d.contains("next_attempt_at")) << json::serialize(ev);
  EXPECT_FALSE(d.contains("reason")) << json::serialize(ev);

  std::this_thread::sleep_for(quiet_period);
  auto got = rx_.requests("/flaky");
  ASSERT_EQ(got.size(), 4u) << describe(got);
  for (const auto& r : got)
    expect_delivery(r, receipt, secret, R"({"job": 7})");
  const int64_t schedule[] = {200, 300, 400};
  for (size_t i = 1; i < got.size(); ++i) {
    auto gap = ms_between(got[i - 1].at, got[i].at);
    auto base = schedule[i - 1];
    SCOPED_TRACE("gap before attempt " + std::to_string(i + 1));
    RecordProperty("gap_ms_" + std::to_string(i), std::to_string(gap));
    EXPECT_GE(gap, base * 8 / 10 - 10) << gap << " ms";
    EXPECT_LE(gap, base * 12 / 10 + spacing_slack_ms) << gap << " ms";
  }

  // Statistics agree with what the receiver saw.
  auto s = stats(t, ep);
  EXPECT_EQ(as_int(s.at("total_attempts")), 4) << json::serialize(s);
  EXPECT_EQ(as_int(s.at("successful_attempts")), 1) << json::serialize(s);
  EXPECT_EQ(as_int(s.at("failed_attempts")), 3) << json::serialize(s);
  EXPECT_EQ(num(s.at("success_rate")), 25.0) << json::serialize(s);
  EXPECT_EQ(as_int(s.at("pending_events")), 0) << json::serialize(s);
  for (auto key : {"last_success_at", "last_failure_at"}) {
    ASSERT_TRUE(s.contains(key)) << key << json::serialize(s);
    auto at = parse_rfc3339(str_at(s, key));
    ASSERT_TRUE(at) << json::serialize(s);
    EXPECT_LE(std::abs(at->seconds - unix_now()), 5) << json::serialize(s);
  }
  EXPECT_GE(str_at(s, "last_success_at"), str_at(s, "last_failure_at"));

  // The attempt log, newest first, with the receiver's answers.
  auto log = attempts(t, ep);
  ASSERT_TRUE(is_success(log, 200));
  ASSERT_TRUE(log.data().is_array()) << log;
  const auto& items = log.data().as_array();
  ASSERT_EQ(items.size(), 4u) << log;
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& a = items[i].as_object();
    SCOPED_TRACE(json::serialize(a));
    EXPECT_EQ(str_at(a, "event_id"), id);
    EXPECT_EQ(as_int(a.at("attempt")), static_cast<int64_t>(4 - i));
    EXPECT_EQ(as_int(a.at("status_code")), i == 0 ? 200 : 500);
    EXPECT_EQ(a.at("response_excerpt"), i == 0 ? "yes" : "nope");
    EXPECT_TRUE(is_rfc3339_utc(str_at(a, "at")));
    EXPECT_GE(as_int(a.at("latency_ms")), 0);
    EXPECT_TRUE(a.at("error").is_string());
    if (i > 0) {
      EXPECT_LE(str_at(a, "at"), str_at(items[i - 1], "at"));
    }
  }
  EXPECT_EQ(items[0].at("error"), "");
  auto pagination = log.json.at("pagination");
  EXPECT_EQ(pagination, json::value(json::object{{"page", 1},
                                                 {"page_size", 10},
                                                 {"total_items", 4},
                                                 {"total_pages", 1},
                                                 {"has_next", false},
                                                 {"has_prev", false}}))
    << log;
  // Paging.
  auto p1 = attempts(t, ep, "?page=1&pageSize=3");
  auto p2 = attempts(t, ep, "?page=2&pageSize=3");
  ASSERT_TRUE(is_success(p1, 200));
  ASSERT_TRUE(is_success(p2, 200));
  ASSERT_EQ(p1.data().as_array().size(), 3u) << p1;
  ASSERT_EQ(p2.data().as_array().size(), 1u) << p2;
  EXPECT_EQ(as_int(p1.data().as_array()[0].at("attempt")), 4) << p1;
  EXPECT_EQ(as_int(p2.data().as_array()[0].at("attempt")), 1) << p2;
  EXPECT_EQ(p1.json.at("pagination").at("has_next"), true) << p1;
  EXPECT_EQ(as_int(p1.json.at("pagination").at("total_pages")), 2) << p1;
  EXPECT_EQ(p2.json.at("pagination").at("has_prev"), true) << p2;
  EXPECT_TRUE(is_no_content(attempts(t, ep, "?page=3&pageSize=3")));
}

TEST_F(delivery, retry_after_on_429_and_503_is_clamped_to_the_schedule) {
  start({"--allow-private-targets", "--retry-schedule", "300ms,300ms,300ms"});
  auto t = new_tenant();
  add_endpoint(t, rx_.url("/ra"), {"x"});
  behaviour b;
  // Asks for 1 s: clamped to twice the (jittered) 300 ms.
  b.script.push_back(reply{503, 0ms, {{"Retry-After", "1"}}, "busy"});
  // Asks for 0 s: never shorter than the schedule.
  b.script.push_back(reply{429, 0ms, {{"Retry-After", "0"}}, "slow down"});
  // An HTTP date a few seconds ahead: also clamped to twice the delay.
  b.script.push_back(
    reply{503, 0ms, {{"Retry-After", http_date_in(4s)}}, "later"});
  rx_.set("/ra", b);
  auto receipt = publish_ok(t, "x");
  auto ev = wait_settled(t, str_at(receipt, "id"));
  EXPECT_EQ(ev.at("deliveries").as_array()[0].at("status"), "delivered")
    << json::serialize(ev);
  auto got = rx_.requests("/ra");
  ASSERT_EQ(got.size(), 4u) << describe(got);
  auto g1 = ms_between(got[0].at, got[1].at);
  auto g2 = ms_between(got[1].at, got[2].at);
  auto g3 = ms_between(got[2].at, got[3].at);
  RecordProperty("gaps_ms", std::to_string(g1) + "," + std::to_string(g2) +
                              "," + std::to_string(g3));
  EXPECT_GE(g1, 2 * 240 - 10) << g1;
  EXPECT_LE(g1, 2 * 360 + spacing_slack_ms) << g1;
  EXPECT_GE(g2, 240 - 10) << g2;
  EXPECT_LE(g2, 360 + spacing_slack_ms) << g2;
  EXPECT_GE(g3, 2 * 240 - 10) << g3;
  EXPECT_LE(g3, 2 * 360 + spacing_slack_ms) << g3;
}

TEST_F(delivery, gone_and_redirect_are_failures_and_redirects_not_followed) {
  // 410 also trips the circuit breaker at once (docs/api.md); a short
  // cool-down lets its probe be the second attempt.
  start({"--allow-private-targets", "--retry-schedule", "100ms",
         "--breaker-cooldown", "100ms"});
  auto t = new_tenant();
  auto gone = add_endpoint(t, rx_.url("/gone"), {"x"});
  auto moved = add_endpoint(t, rx_.url("/moved"), {"x"});
  rx_.set("/gone", behaviour::always(reply{410, 0ms, {}, "gone"}));
  rx_.set("/moved", behaviour::always(reply{
                      302, 0ms, {{"Location", rx_.url("/target")}}, "moved"}));
  auto receipt = publish_ok(t, "x");
  ASSERT_EQ(as_int(receipt.at("endpoints")), 2);
  auto ev = wait_settled(t, str_at(receipt, "id"));
  for (auto ep : {gone, moved}) {
    auto d = delivery_of(ev, ep);
    EXPECT_EQ(d.at("status"), "failed") << json::serialize(ev);
    EXPECT_EQ(d.at("reason"), "exhausted") << json::serialize(ev);
    EXPECT_EQ(as_int(d.at("attempts")), 2) << json::serialize(ev);
    EXPECT_FALSE(d.contains("next_attempt_at")) << json::serialize(ev);
  }
  std::this_thread::sleep_for(quiet_period);
  EXPECT_EQ(rx_.count("/gone"), 2u);
  EXPECT_EQ(rx_.count("/moved"), 2u);
  EXPECT_EQ(rx_.count("/target"), 0u) << describe(rx_.requests());
  for (auto [ep, code] : {std::pair{gone, 410}, std::pair{moved, 302}}) {
    auto log = attempts(t, ep);
    ASSERT_TRUE(is_success(log, 200));
    ASSERT_EQ(log.data().as_array().size(), 2u) << log;
    for (const auto& a : log.data().as_array())
      EXPECT_EQ(as_int(a.at("status_code")), code) << log;
    auto s = stats(t, ep);
    EXPECT_EQ(as_int(s.at("failed_attempts")), 2) << json::serialize(s);
    EXPECT_EQ(as_int(s.at("successful_attempts")), 0) << json::serialize(s);
    EXPECT_EQ(num(s.at("success_rate")), 0.0) << json::serialize(s);
    EXPECT_FALSE(s.contains("last_success_at")) << json::serialize(s);
    EXPECT_TRUE(s.contains("last_failure_at")) << json::serialize(s);
  }
  auto g = get_endpoint(client(), t.token, gone);
  EXPECT_EQ(g.at("status"), "disabled") << json::serialize(g);
  EXPECT_EQ(g.at("status_reason"), "gone") << json::serialize(g);
  EXPECT_EQ(get_endpoint(client(), t.token, moved).at("status"), "active");
}

TEST_F(delivery, attempt_log_is_valid_json_whatever_the_receiver_answers) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto binary = add_endpoint(t, rx_.url("/binary"), {"x"});
  auto cut = add_endpoint(t, rx_.url("/cut"), {"x"});
  // Not UTF-8 at all.
  rx_.set("/binary", behaviour::always(
                       reply{200, 0ms, {}, std::string("\xff\xfe\x00ok", 5)}));
  // Valid UTF-8 whose 1 KiB excerpt would end inside a two-byte character.
  std::string text = "a";
  for (int i = 0; i < 600; ++i)
    text += "\xc3\xa9"; // U+00E9
  rx_.set("/cut", behaviour::always(reply{200, 0ms, {}, text}));
  auto receipt = publish_ok(t, "x");
  wait_settled(t, str_at(receipt, "id"));
  for (auto ep : {binary, cut}) {
    SCOPED_TRACE(ep);
    // is_success needs a body that parses as JSON, which must be UTF-8
    // (RFC 8259 section 8.1).
    auto log = attempts(t, ep);
    ASSERT_TRUE(is_success(log, 200));
    const auto& a = log.data().as_array().at(0);
    EXPECT_EQ(as_int(a.at("status_code")), 200) << log;
  }
  // The binary answer is kept as far as it can be (the bytes that are not
  // UTF-8 may be replaced); the cut one keeps every whole character of its
  // first 1 KiB (a cut character may be replaced, not kept half).
  auto bin =
    str_at(attempts(t, binary).data().as_array().at(0), "response_excerpt");
  EXPECT_TRUE(bin.ends_with("ok")) << bin;
  auto excerpt =
    str_at(attempts(t, cut).data().as_array().at(0), "response_excerpt");
  EXPECT_TRUE(excerpt.starts_with(text.substr(0, 1023))) << excerpt;
  EXPECT_LE(excerpt.size(), 1023u + 3u) << excerpt;
}

TEST_F(delivery, a_timed_out_attempt_is_a_failure_and_retried) {
  start({"--allow-private-targets", "--retry-schedule", "100ms",
         "--delivery-timeout-ms", "300"});
  auto t = new_tenant();
  auto ep = add_endpoint(t, rx_.url("/late"), {"x"});
  // A 200 that comes too late does not count.
  // The answer that counts is long: only its first 1 KiB is kept.
  std::string long_body;
  for (size_t i = 0; i < 3000; ++i)
    long_body += static_cast<char>('A' + i % 26);
  rx_.set("/late", behaviour::fail_times(1, reply{200, 1500ms, {}, "late"},
                                         reply{200, 0ms, {}, long_body}));
  auto receipt = publish_ok(t, "x");
  auto ev = wait_settled(t, str_at(receipt, "id"));
  auto d = delivery_of(ev, ep);
  EXPECT_EQ(d.at("status"), "delivered") << json::serialize(ev);
  EXPECT_EQ(as_int(d.at("attempts")), 2) << json::serialize(ev);
  auto log = attempts(t, ep);
  ASSERT_TRUE(is_success(log, 200));
  const auto& items = log.data().as_array();
  ASSERT_EQ(items.size(), 2u) << log;
  EXPECT_EQ(items[0].at("error"), "") << log;
  EXPECT_EQ(as_int(items[0].at("status_code")), 200) << log;
  EXPECT_EQ(str_at(items[0], "response_excerpt"), long_body.substr(0, 1024))
    << log;
  EXPECT_EQ(items[1].at("error"), "timeout") << log;
  EXPECT_EQ(as_int(items[1].at("status_code")), 0) << log;
  EXPECT_GE(as_int(items[1].at("latency_ms")), 290) << log;
  auto s = stats(t, ep);
  EXPECT_EQ(as_int(s.at("failed_attempts")), 1) << json::serialize(s);
  EXPECT_EQ(as_int(s.at("successful_attempts")), 1) << json::serialize(s);
  EXPECT_EQ(num(s.at("success_rate")), 50.0) << json::serialize(s);
  EXPECT_EQ(rx_.count("/late"), 2u);
}

// -- exhaustion and resend ----------------------------------------------------

TEST_F(delivery, exhausted_delivery_is_failed_and_resend_delivers_again) {
  start({"--allow-private-targets", "--retry-schedule", "100ms,100ms"});
  auto t = new_tenant();
  const std::string secret = "resend-secret";
  auto ep = add_endpoint(t, rx_.url("/down"), {"*"}, secret);
  rx_.set("/down", behaviour::always(reply{500, 0ms, {}, "down"}));
  auto receipt = publish_ok(t, "invoice.sent", R"({"v": 1})");
  auto id = str_at(receipt, "id");
  auto ev = wait_settled(t, id);
  auto d = delivery_of(ev, ep);
  EXPECT_EQ(d, (json::object{{"endpoint", ep},
                             {"status", "failed"},
                             {"attempts", 3},
                             {"reason", "exhausted"}}))
    << json::serialize(ev);
  std::this_thread::sleep_for(quiet_period);
  ASSERT_EQ(rx_.count("/down"), 3u);
  EXPECT_EQ(as_int(stats(t, ep).at("pending_events")), 0);

  // Resend a failed delivery once the receiver is back.
  rx_.set("/down", behaviour::always(reply{200, 0ms, {}, "back"}), false);
  auto r = resend(t, ep, id);
  ASSERT_TRUE(is_success(r, 202));
  const auto& rd = r.data().as_object();
  EXPECT_EQ(as_int(rd.at("endpoint")), ep) << r;
  EXPECT_EQ(rd.at("status"), "pending") << r;
  EXPECT_EQ(as_int(rd.at("attempts")), 0) << r;
  EXPECT_FALSE(rd.contains("reason")) << r;
  ev = wait_settled(t, id);
  d = delivery_of(ev, ep);
  EXPECT_EQ(d.at("status"), "delivered") << json::serialize(ev);
  EXPECT_EQ(as_int(d.at("attempts")), 1) << json::serialize(ev);
  ASSERT_TRUE(rx_.wait_for_count("/down", 4, 2s));
  auto got = rx_.requests("/down");
  EXPECT_EQ(got[3].body, got[0].body);
  expect_delivery(got[3], receipt, secret, R"({"v": 1})");

  // Resend a delivered one: delivered once more.
  r = resend(t, ep, id);
  ASSERT_TRUE(is_success(r, 202));
  ASSERT_TRUE(rx_.wait_for_count("/down", 5, 5s));
  wait_settled(t, id);
  std::this_thread::sleep_for(quiet_period);
  EXPECT_EQ(rx_.count("/down"), 5u);
  auto s = stats(t, ep);
  EXPECT_EQ(as_int(s.at("total_attempts")), 5) << json::serialize(s);
  EXPECT_EQ(as_int(s.at("successful_attempts")), 2) << json::serialize(s);
  EXPECT_EQ(num(s.at("success_rate")), 40.0) << json::serialize(s);

  // A delivery still pending cannot be resent.
  rx_.set("/down", behaviour::always(reply{500, 300ms, {}, "slow"}));
  r = resend(t, ep, id);
  ASSERT_TRUE(is_success(r, 202));
  EXPECT_TRUE(is_error(resend(t, ep, id), 422, "VALIDATION_FAILED"));
  wait_settled(t, id);

  // Also to an endpoint the event did not go to (docs/api.md).
  auto extra = add_endpoint(t, rx_.url("/extra"), {"other.type"});
  r = resend(t, extra, id);
  ASSERT_TRUE(is_success(r, 202));
  EXPECT_EQ(as_int(r.data().at("endpoint")), extra) << r;
  ASSERT_TRUE(rx_.wait_for_count("/extra", 1, 5s));
  ev = wait_settled(t, id);
  EXPECT_EQ(delivery_of(ev, extra).at("status"), "delivered")
    << json::serialize(ev);
  expect_delivery(rx_.requests("/extra").at(0), receipt, "plain-secret-1",
                  R"({"v": 1})");

  // Unknown event, unknown endpoint, another tenant's event.
  EXPECT_TRUE(
    is_error(resend(t, ep, "evt_AAAAAAAAAAAAAAAAAAAAAAAA"), 404, "NOT_FOUND"));
  EXPECT_TRUE(is_error(resend(t, extra + 1, id), 404, "NOT_FOUND"));
  auto other = new_tenant();
  auto other_ep = add_endpoint(other, rx_.url("/other"), {"*"});
  EXPECT_TRUE(is_error(resend(other, other_ep, id), 404, "NOT_FOUND"));
  std::this_thread::sleep_for(quiet_period);
  EXPECT_EQ(rx_.count("/other"), 0u);
}
