// Per-endpoint rate limits and FIFO ordering (issue 17, items 4 and 5) on
// the real binary with a loopback receiver: 1 000 events to a FIFO endpoint
// whose receiver fails at random arrive in publish order; with 10 ordering
// keys each key is in order and a stalled key holds back only itself; a
// limited endpoint receives at its rate while an unlimited one on the same
// tenant is not slowed; the options are validated, shown, patched and
// survive restarts.

#include "support/delivery_fixture.hpp"

using namespace wi_e2e::delivery_fixture;

namespace {

class ordering : public delivery {
 protected:
  http_response patch(const tenant& t, int64_t id, std::string body) const {
    return client().request("PATCH", endpoint_path(id), bearer(t.token),
                            std::move(body));
  }

  json::object get(const tenant& t, int64_t id) const {
    return get_endpoint(client(), t.token, id);
  }

  /// Creates an endpoint for `path` on the receiver with `options` merged
  /// into the create body; returns its id.
  int64_t add_with(const tenant& t, const std::string& path,
                   const json::object& options) {
    auto body = endpoint_request(rx_.url(path), "plain-secret-1", {"*"});
    for (const auto& kv : options)
      body[kv.key()] = kv.value();
    return as_int(create_endpoint(client(), t.token, body).at("identifier"));
  }

  /// Statistics of `ep` once its `total_attempts` reached `n` (the last
  /// attempt's record may land just after its answer), or after 5 s.
  json::object stats_after(const tenant& t, int64_t ep, int64_t n) const {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    auto s = stats(t, ep);
    while (as_int(s.at("total_attempts")) < n &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
      s = stats(t, ep);
    }
    return s;
  }

  /// Publishes `{"event_type": "order.step", "payload": {"key": key, "n":
  /// n}}` with `ordering_key` = `key` (none when empty); returns the id.
  std::string publish_step(const tenant& t, const std::string& key, int n) {
    std::string body = R"({"event_type": "order.step", "payload": {"key": ")" +
                       key + R"(", "n": )" + std::to_string(n) + "}";
    if (!key.empty())
      body += R"(, "ordering_key": ")" + key + "\"";
    body += "}";
    auto r = publish(t, body);
    if (r.status != 202)
      throw std::runtime_error("publish failed: " + std::to_string(r.status));
    return std::string{r.data().at("id").as_string()};
  }
};

/// The event ids of `log` in the order of their first answered 200.
std::vector<std::string>
first_successes(const std::vector<received_request>& log) {
  std::vector<std::string> order;
  std::set<std::string> seen;
  for (const auto& r : log)
    if (r.status == 200) {
      auto id = r.header("webhook-id").value_or("");
      if (seen.insert(id).second)
        order.push_back(id);
    }
  return order;
}

size_t answered_ok(const std::vector<received_request>& log) {
  std::set<std::string> ids;
  for (const auto& r : log)
    if (r.status == 200 && r.answered)
      ids.insert(r.header("webhook-id").value_or(""));
  return ids.size();
}

} // namespace

TEST_F(ordering, options_are_validated_shown_patched_and_durable) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  // Defaults: unordered, no rate_limit member.
  auto plain = add_with(t, "/plain", {});
  auto shown = get(t, plain);
  EXPECT_EQ(shown.at("ordering"), "unordered");
  EXPECT_FALSE(shown.contains("rate_limit"));
  // Create with both.
  auto body = endpoint_request(rx_.url("/a"), "plain-secret-1", {"*"});
  body["rate_limit"] = 5;
  body["ordering"] = "fifo";
  auto created = create_endpoint(client(), t.token, body);
  EXPECT_EQ(created.at("rate_limit"), 5);
  EXPECT_EQ(created.at("ordering"), "fifo");
  auto id = as_int(created.at("identifier"));
  // Bad values: 400 for a type, 422 for a rule, naming the field; on
  // create and on PATCH alike.
  const std::pair<std::string, std::pair<long, std::string>> bad[] = {
    {R"("rate_limit": "5")", {400, "rate_limit"}},
    {R"("rate_limit": 1.5)", {400, "rate_limit"}},
    {R"("rate_limit": 0)", {422, "rate_limit"}},
    {R"("rate_limit": 10001)", {422, "rate_limit"}},
    {R"("ordering": null)", {400, "ordering"}},
    {R"("ordering": "lifo")", {422, "ordering"}},
  };
  for (const auto& [member, expected] : bad) {
    SCOPED_TRACE(member);
    auto code =
      expected.first == 400 ? "INVALID_PARAMETER" : "VALIDATION_FAILED";
    auto create_body = json::serialize(body);
    create_body.pop_back();
    create_body += ", " + member + "}";
    auto r =
      client().post("/v1/webhook/endpoints", create_body, bearer(t.token));
    EXPECT_TRUE(is_field_error(r, expected.first, code, expected.second));
    r = patch(t, id, "{" + member + "}");
    EXPECT_TRUE(is_field_error(r, expected.first, code, expected.second));
  }
  EXPECT_EQ(get(t, id).at("rate_limit"), 5); // nothing changed
  // PATCH: set, then null clears the limit; ordering back and forth.
  auto r = patch(t, id, R"({"rate_limit": 10000})");
  ASSERT_TRUE(is_success(r, 200));
  EXPECT_EQ(r.data().at("rate_limit"), 10000);
  r = patch(t, id, R"({"rate_limit": null, "ordering": "unordered"})");
  ASSERT_TRUE(is_success(r, 200));
  EXPECT_FALSE(r.data().as_object().contains("rate_limit"));
  EXPECT_EQ(r.data().at("ordering"), "unordered");
  r = patch(t, plain, R"({"rate_limit": 7, "ordering": "fifo"})");
  ASSERT_TRUE(is_success(r, 200));
  // An event's ordering key is shown on it.
  auto event_id = publish_step(t, "customer-1", 1);
  EXPECT_EQ(get_event(t, event_id).at("ordering_key"), "customer-1");
  auto before_a = get(t, id);
  auto before_plain = get(t, plain);
  // Durable: WAL replay after SIGKILL, then a snapshot (graceful stop).
  server_->kill9();
  server_->start();
  client_ = std::make_unique<http_client>(server_->base_url());
  EXPECT_EQ(get(t, id), before_a);
  EXPECT_EQ(get(t, plain), before_plain);
  EXPECT_EQ(get_event(t, event_id).at("ordering_key"), "customer-1");
  restart_graceful([] {});
  EXPECT_EQ(get(t, plain), before_plain);
  EXPECT_EQ(get(t, plain).at("rate_limit"), 7);
  EXPECT_EQ(get_event(t, event_id).at("ordering_key"), "customer-1");
  // The ordering key's own rules.
  auto too_long = publish(t, R"({"event_type": "a", "payload": 1,
    "ordering_key": ")" + std::string(129, 'k') +
                               "\"}");
  EXPECT_TRUE(
    is_field_error(too_long, 422, "VALIDATION_FAILED", "ordering_key"));
  auto wrong = publish(t, R"({"event_type": "a", "payload": 1,
    "ordering_key": 5})");
  EXPECT_TRUE(is_field_error(wrong, 400, "INVALID_PARAMETER", "ordering_key"));
}

TEST_F(ordering, a_thousand_events_arrive_in_publish_order_despite_failures) {
  start({"--allow-private-targets", "--retry-schedule",
         "5ms,5ms,5ms,5ms,5ms,5ms", "--tenant-publish-rate", "0"});
  auto t = new_tenant();
  // One attempt at a time, so the n-th request gets the n-th answer: about
  // 30% fail (500 or a 502 after a delay), never more than 3 in a row (so
  // no delivery is exhausted and the breaker stays closed).
  std::mt19937 rng{1717};
  behaviour b;
  int streak = 0;
  for (int i = 0; i < 3000; ++i) {
    reply r;
    if (streak < 3 && rng() % 10 < 3) {
      r.status = rng() % 2 == 0 ? 500 : 502;
      r.delay = milliseconds{rng() % 2 == 0 ? 0 : 3};
      ++streak;
    } else {
      streak = 0;
    }
    b.script.push_back(r);
  }
  rx_.set("/fifo", b);
  auto ep = add_with(t, "/fifo", {{"ordering", "fifo"}});
  std::vector<std::string> published;
  for (int n = 0; n < 1000; ++n)
    published.push_back(publish_step(t, "", n));
  ASSERT_TRUE(rx_.wait_until(
    [](const std::vector<received_request>& log) {
      return answered_ok(log) == 1000;
    },
    120s))
    << answered_ok(rx_.requests("/fifo")) << " of 1000 delivered";
  auto log = rx_.requests("/fifo");
  EXPECT_EQ(first_successes(log), published);
  auto failures = std::count_if(log.begin(), log.end(),
                                [](const auto& r) { return r.status != 200; });
  EXPECT_GT(failures, 200); // the failures did happen
  // Every request was an attempt of the endpoint (none lost or doubled).
  auto n = static_cast<int64_t>(log.size());
  EXPECT_EQ(as_int(stats_after(t, ep, n).at("total_attempts")), n);
}

TEST_F(ordering, each_key_in_order_and_a_stalled_key_holds_back_only_itself) {
  start({"--allow-private-targets", "--retry-schedule",
         "5ms,5ms,5ms,5ms,5ms,5ms,5ms,5ms", "--tenant-publish-rate", "0"});
  auto t = new_tenant();
  // Key k3's first request is answered only after 8 s; every other request
  // at once, but 20% of them fail first (500) to shuffle the keys.
  // (Called under the receiver's lock: plain state is enough.)
  bool stalled = false;
  rx_.set_by_request("/keys", [&stalled](const received_request& req) {
    reply r;
    if (!stalled &&
        req.body.find(R"("key": "k3", "n": 0})") != std::string::npos) {
      stalled = true;
      r.delay = 8000ms;
      return r;
    }
    if (req.index % 5 == 1)
      r.status = 500;
    return r;
  });
  add_with(t, "/keys", {{"ordering", "fifo"}});
  constexpr int keys = 10;
  constexpr int per_key = 15;
  std::map<std::string, std::vector<std::string>> published;
  for (int n = 0; n < per_key; ++n)
    for (int k = 0; k < keys; ++k) {
      auto key = "k" + std::to_string(k);
      published[key].push_back(publish_step(t, key, n));
    }
  auto published_at = std::chrono::steady_clock::now();
  std::set<std::string> stalled_key(published["k3"].begin(),
                                    published["k3"].end());
  // The nine other keys are all delivered while k3's first event stalls.
  ASSERT_TRUE(rx_.wait_until(
    [&](const std::vector<received_request>& log) {
      std::set<std::string> done;
      for (const auto& r : log)
        if (r.status == 200 && r.answered &&
            stalled_key.count(r.header("webhook-id").value_or("")) == 0)
          done.insert(r.header("webhook-id").value_or(""));
      return done.size() == (keys - 1) * per_key;
    },
    7s));
  // Meanwhile k3 got exactly one request: its first event, still stalled.
  auto log = rx_.requests("/keys");
  std::vector<received_request> k3;
  for (const auto& r : log)
    if (stalled_key.count(r.header("webhook-id").value_or("")) > 0)
      k3.push_back(r);
  ASSERT_EQ(k3.size(), 1u);
  EXPECT_EQ(k3.front().header("webhook-id"), published["k3"].front());
  EXPECT_FALSE(k3.front().answered)
    << "the other keys finished only after the stall ended, "
    << ms_between(published_at, std::chrono::steady_clock::now())
    << " ms after publishing";
  // Then k3 follows, and every key arrived in its publish order.
  ASSERT_TRUE(rx_.wait_until(
    [&](const std::vector<received_request>& all) {
      return answered_ok(all) == keys * per_key;
    },
    30s));
  auto order = first_successes(rx_.requests("/keys"));
  for (const auto& [key, ids] : published) {
    std::vector<std::string> seen;
    std::set<std::string> mine(ids.begin(), ids.end());
    for (const auto& id : order)
      if (mine.count(id) > 0)
        seen.push_back(id);
    EXPECT_EQ(seen, ids) << key;
  }
}

TEST_F(ordering,
       a_limited_endpoint_gets_its_rate_and_an_unlimited_one_is_not_slowed) {
  start({"--allow-private-targets", "--tenant-publish-rate", "0"});
  auto t = new_tenant();
  // A backlog of 50 for the limited endpoint: at 1 a second while
  // publishing (so the publishing speed does not matter), then 20.
  auto limited = add_with(t, "/limited", {{"rate_limit", 1}});
  add_with(t, "/free", {});
  constexpr int backlog = 50;
  for (int n = 0; n < backlog; ++n)
    publish_step(t, "", n);
  ASSERT_TRUE(rx_.wait_for_count("/free", backlog, 10s));
  auto patched_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(is_success(patch(t, limited, R"({"rate_limit": 20})"), 200));
  ASSERT_TRUE(rx_.wait_for_count("/limited", 10, 5s));
  // While the limited endpoint works through its backlog, the unlimited
  // one gets 20 new events at once.
  auto before = std::chrono::steady_clock::now();
  for (int n = 0; n < 20; ++n)
    publish_step(t, "", backlog + n);
  ASSERT_TRUE(rx_.wait_for_count("/free", backlog + 20, 5s));
  auto free_took = ms_between(before, std::chrono::steady_clock::now());
  EXPECT_LT(rx_.count("/limited"), static_cast<size_t>(backlog)) << free_took;
  ASSERT_TRUE(rx_.wait_for_count("/limited", backlog + 20, 20s));
  auto got = rx_.requests("/limited");
  // Never faster than the limit: 23 consecutive requests (20 a second plus
  // the bucket's 2 plus one) span a second, less arrival jitter.
  for (size_t i = 0; i + 22 < got.size(); ++i)
    EXPECT_GE(ms_between(got[i].at, got[i + 22].at), 850) << i;
  // And not slower: the k requests after the change span (k - 1) / 20 s,
  // within -10% / +25% (timers on a busy machine).
  std::vector<received_request> after;
  for (const auto& r : got)
    if (r.at > patched_at)
      after.push_back(r);
  ASSERT_GT(after.size(), 40u);
  auto expected_ms = static_cast<int64_t>((after.size() - 1) * 50);
  auto span = ms_between(after.front().at, after.back().at);
  EXPECT_GE(span, expected_ms * 9 / 10);
  EXPECT_LE(span, expected_ms * 5 / 4);
  // Waiting is not an attempt: one attempt per delivery, none failed.
  auto s = stats_after(t, limited, backlog + 20);
  EXPECT_EQ(as_int(s.at("total_attempts")), backlog + 20);
  EXPECT_EQ(as_int(s.at("failed_attempts")), 0);
  EXPECT_EQ(s.at("endpoint").at("status"), "active");
}

TEST_F(ordering, clearing_a_rate_limit_releases_what_waits) {
  start({"--allow-private-targets", "--tenant-publish-rate", "0"});
  auto t = new_tenant();
  auto id = add_with(t, "/slow", {{"rate_limit", 1}});
  for (int n = 0; n < 20; ++n)
    publish_step(t, "", n);
  ASSERT_TRUE(rx_.wait_for_count("/slow", 1, 5s));
  EXPECT_LT(rx_.count("/slow"), 5u); // one per second
  ASSERT_TRUE(is_success(patch(t, id, R"({"rate_limit": null})"), 200));
  EXPECT_TRUE(rx_.wait_for_count("/slow", 20, 3s)) << rx_.count("/slow");
}
