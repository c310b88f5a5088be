// Event history and recover (issue 17 items 6 and 7) on the real binary with
// a loopback receiver: GET /v1/webhook/events (newest first, filters, pages,
// 204), GET /v1/webhook/events/{id}/attempts, POST
// /v1/webhook/endpoints/{id}/recover (since, no doubles, the breaker), and
// every validation error.

#include "support/delivery_fixture.hpp"

using namespace wi_e2e::delivery_fixture;

namespace {

/// `t` as RFC 3339 UTC with milliseconds.
std::string rfc3339_ms(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<milliseconds>(t.time_since_epoch());
  auto secs = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[8];
  std::snprintf(frac, sizeof(frac), ".%03dZ",
                static_cast<int>(ms.count() % 1000));
  return std::string{buf} + frac;
}

/// 404 `NOT_FOUND` on `field` (the message names the missing item, as every
/// 404 of the API does).
void expect_not_found(const http_response& r, std::string_view field) {
  EXPECT_TRUE(is_error(r, 404, "NOT_FOUND")) << r;
  if (r.is_json && r.json.is_object()) {
    EXPECT_EQ(str_at(r.json.at("error"), "field"), field) << r;
  }
}

class history : public delivery {
 protected:
  http_response list(const tenant& t, std::string_view query = {}) const {
    std::string path{events_path};
    if (!query.empty())
      path += "?" + std::string{query};
    return client().get(path, bearer(t.token));
  }

  /// The ids of a 200 list answer, in order.
  static std::vector<std::string> ids_of(const http_response& r) {
    std::vector<std::string> ids;
    for (const auto& x : r.data().as_array())
      ids.push_back(str_at(x, "id"));
    return ids;
  }

  static int64_t total_of(const http_response& r) {
    return as_int(r.json.as_object().at("pagination").at("total_items"));
  }

  http_response attempts(const tenant& t, std::string_view event_id,
                         std::string_view query = {}) const {
    auto path = event_path(event_id) + "/attempts";
    if (!query.empty())
      path += "?" + std::string{query};
    return client().get(path, bearer(t.token));
  }

  http_response recover(const tenant& t, std::string_view endpoint,
                        std::string body) const {
    return client().post("/v1/webhook/endpoints/" + std::string{endpoint} +
                           "/recover",
                         std::move(body), bearer(t.token));
  }

  http_response recover(const tenant& t, int64_t endpoint,
                        std::string_view since) const {
    return recover(t, std::to_string(endpoint),
                   R"({"since": ")" + std::string{since} + R"("})");
  }

  /// Waits until the delivery of event `id` to `ep` has `status`.
  json::object wait_delivery(const tenant& t, std::string_view id, int64_t ep,
                             std::string_view status) const {
    return wait_event(t, id, [&](const json::object& e) {
      for (const auto& d : e.at("deliveries").as_array())
        if (as_int(d.at("endpoint")) == ep)
          return str_at(d, "status") == status;
      return false;
    });
  }
};

} // namespace

TEST_F(history, lists_events_newest_first_with_filters_pages_and_204) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto ep = add_endpoint(t, rx_.url("/ok"), {"*"});
  std::vector<std::string> published; // oldest first
  for (auto type : {"a.x", "b.y", "a.x", "b.y", "a.x"}) {
    published.push_back(str_at(publish_ok(t, type), "id"));
    std::this_thread::sleep_for(3ms); // distinct milliseconds
  }
  for (const auto& id : published)
    wait_settled(t, id);
  std::vector<std::string> newest_first(published.rbegin(), published.rend());

  auto r = list(t);
  ASSERT_TRUE(is_success(r, 200)) << r;
  EXPECT_EQ(ids_of(r), newest_first);
  EXPECT_EQ(total_of(r), 5);
  // Each item is what GET /v1/webhook/events/{id} answers.
  for (const auto& item : r.data().as_array()) {
    auto one = get_event(t, str_at(item, "id"));
    EXPECT_EQ(item.as_object(), one) << json::serialize(item);
    EXPECT_EQ(str_at(delivery_of(item.as_object(), ep), "status"), "delivered");
  }

  r = list(t, "page=2&pageSize=2");
  ASSERT_TRUE(is_success(r, 200)) << r;
  EXPECT_EQ(ids_of(r),
            (std::vector<std::string>{newest_first[2], newest_first[3]}));
  EXPECT_EQ(as_int(r.json.as_object().at("pagination").at("total_pages")), 3);
  r = list(t, "page=3&pageSize=2");
  ASSERT_TRUE(is_success(r, 200)) << r;
  EXPECT_EQ(ids_of(r), std::vector<std::string>{newest_first[4]});
  r = list(t, "page=4&pageSize=2");
  EXPECT_EQ(r.status, 204) << r;
  EXPECT_TRUE(r.body.empty()) << r;

  r = list(t, "event_type=a.x");
  ASSERT_TRUE(is_success(r, 200)) << r;
  EXPECT_EQ(ids_of(r), (std::vector<std::string>{published[4], published[2],
                                                 published[0]}));
  EXPECT_EQ(total_of(r), 3);
  r = list(t, "event_type=b.y&pageSize=1&page=2");
  ASSERT_TRUE(is_success(r, 200)) << r;
  EXPECT_EQ(ids_of(r), std::vector<std::string>{published[1]});
  EXPECT_EQ(list(t, "event_type=c.z").status, 204);

  // Dates: raw ':' and an unencoded '+' offset; bounds inclusive.
  r = list(
    t, "initialDate=2000-01-01T00:00:00Z&finalDate=2999-01-01T00:00:00+00:00");
  ASSERT_TRUE(is_success(r, 200)) << r;
  EXPECT_EQ(ids_of(r), newest_first);
  EXPECT_EQ(list(t, "initialDate=2999-01-01T00:00:00Z").status, 204);
  EXPECT_EQ(list(t, "finalDate=2000-01-01T00:00:00Z").status, 204);
  auto created = str_at(r.data().as_array()[0], "created_at"); // newest
  r = list(t, "initialDate=" + created + "&event_type=a.x");
  ASSERT_TRUE(is_success(r, 200)) << r;
  EXPECT_EQ(ids_of(r).front(), published[4]);

  // Another tenant sees only its own (none).
  auto other = new_tenant();
  EXPECT_EQ(list(other).status, 204);
}

TEST_F(history, list_rejects_bad_queries_naming_the_parameter) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  EXPECT_TRUE(
    is_field_error(list(t, "page=x"), 400, "INVALID_PARAMETER", "page"));
  EXPECT_TRUE(
    is_field_error(list(t, "page=0"), 422, "VALIDATION_FAILED", "page"));
  EXPECT_TRUE(is_field_error(list(t, "pageSize=101"), 422, "VALIDATION_FAILED",
                             "pageSize"));
  EXPECT_TRUE(is_field_error(list(t, "pageSize=1.5"), 400, "INVALID_PARAMETER",
                             "pageSize"));
  EXPECT_TRUE(is_field_error(list(t, "initialDate=yesterday"), 400,
                             "INVALID_PARAMETER", "initialDate"));
  EXPECT_TRUE(is_field_error(list(t, "finalDate=2024-13-01T00:00:00Z"), 400,
                             "INVALID_PARAMETER", "finalDate"));
  EXPECT_TRUE(is_field_error(
    list(t, "initialDate=2024-02-01T00:00:00Z&finalDate=2024-01-01T00:00:00Z"),
    422, "VALIDATION_FAILED", "initialDate"));
  EXPECT_TRUE(is_field_error(list(t, "event_type=bad!type"), 422,
                             "VALIDATION_FAILED", "event_type"));
  EXPECT_TRUE(is_field_error(list(t, "event_type="), 422, "VALIDATION_FAILED",
                             "event_type"));
  EXPECT_TRUE(is_field_error(list(t, "event_type=" + std::string(129, 'a')),
                             422, "VALIDATION_FAILED", "event_type"));
  auto r = client().get(std::string{events_path});
  EXPECT_TRUE(is_error(r, 401, "UNAUTHORIZED")) << r;
}

TEST_F(history, attempts_of_an_event_on_all_endpoints_newest_first) {
  start({"--allow-private-targets", "--retry-schedule", "100ms"});
  auto t = new_tenant();
  auto flaky = add_endpoint(t, rx_.url("/flaky"), {"job.done"});
  auto ok = add_endpoint(t, rx_.url("/ok"), {"job.done"});
  rx_.set("/flaky", behaviour::fail_times(1, reply{500, 0ms, {}, "nope"}));
  auto id = str_at(publish_ok(t, "job.done"), "id");
  wait_settled(t, id);

  auto r = attempts(t, id);
  ASSERT_TRUE(is_success(r, 200)) << r;
  const auto& items = r.data().as_array();
  ASSERT_EQ(items.size(), 3u) << r;
  EXPECT_EQ(total_of(r), 3);
  // Newest first: the retry of /flaky is the latest.
  EXPECT_EQ(as_int(items[0].at("endpoint")), flaky) << r;
  EXPECT_EQ(as_int(items[0].at("attempt")), 2) << r;
  EXPECT_EQ(as_int(items[0].at("status_code")), 200) << r;
  std::multiset<int64_t> endpoints;
  for (const auto& x : items) {
    EXPECT_EQ(str_at(x, "event_id"), id);
    endpoints.insert(as_int(x.at("endpoint")));
    // Like the endpoint attempt log's items, plus `endpoint`.
    for (auto key : {"attempt", "at", "status_code", "latency_ms", "error",
                     "response_excerpt"})
      EXPECT_TRUE(x.as_object().contains(key)) << key;
  }
  EXPECT_EQ(endpoints, (std::multiset<int64_t>{flaky, flaky, ok}));
  r = attempts(t, id, "pageSize=2&page=2");
  ASSERT_TRUE(is_success(r, 200)) << r;
  EXPECT_EQ(r.data().as_array().size(), 1u);
  EXPECT_EQ(attempts(t, id, "page=3&pageSize=2").status, 204);
  EXPECT_TRUE(is_field_error(attempts(t, id, "pageSize=0"), 422,
                             "VALIDATION_FAILED", "pageSize"));

  expect_not_found(attempts(t, "evt_nope"), "event_id");
  EXPECT_TRUE(is_field_error(attempts(t, "evt-bad!"), 400, "INVALID_PARAMETER",
                             "event_id"));
  auto other = new_tenant();
  expect_not_found(attempts(other, id), "event_id");
}

TEST_F(history, recover_requeues_what_failed_since_once) {
  start({"--allow-private-targets", "--retry-schedule", "50ms"});
  auto t = new_tenant();
  auto ep = add_endpoint(t, rx_.url("/down"), {"job.done"});
  rx_.set("/down", behaviour::always(reply{500, 0ms, {}, "down"}));
  auto early = str_at(publish_ok(t, "job.done"), "id");
  wait_delivery(t, early, ep, "failed");
  std::this_thread::sleep_for(5ms);
  auto since = rfc3339_ms(std::chrono::system_clock::now());
  std::vector<std::string> late;
  for (int i = 0; i < 2; ++i)
    late.push_back(str_at(publish_ok(t, "job.done"), "id"));
  for (const auto& id : late) {
    auto ev = wait_delivery(t, id, ep, "failed");
    EXPECT_EQ(str_at(delivery_of(ev, ep), "reason"), "exhausted");
    EXPECT_EQ(as_int(delivery_of(ev, ep).at("attempts")), 2);
  }

  // The receiver answers slowly: the re-queued deliveries stay pending while
  // a second recover runs, which finds nothing to re-queue.
  rx_.set("/down", behaviour::always(reply{200, 500ms, {}, "back"}));
  auto before = rx_.requests("/down").size();
  auto r = recover(t, ep, since);
  ASSERT_TRUE(is_success(r, 202)) << r;
  EXPECT_EQ(as_int(r.data().at("requeued")), 2) << r;
  r = recover(t, ep, since);
  ASSERT_TRUE(is_success(r, 202)) << r;
  EXPECT_EQ(as_int(r.data().at("requeued")), 0) << r;
  for (const auto& id : late) {
    auto ev = wait_delivery(t, id, ep, "delivered");
    EXPECT_EQ(as_int(delivery_of(ev, ep).at("attempts")), 1)
      << json::serialize(ev);
  }
  EXPECT_EQ(str_at(delivery_of(get_event(t, early), ep), "status"), "failed");
  std::this_thread::sleep_for(quiet_period);
  auto got = rx_.requests("/down");
  ASSERT_EQ(got.size() - before, 2u) << describe(got);
  EXPECT_EQ(with_id(got, late[0]).size(), 3u); // 2 failed + 1 recovered
  EXPECT_EQ(with_id(got, late[1]).size(), 3u);

  // Delivered ones are not failed any more; the early one is found with an
  // earlier `since` (an offset, fractions).
  r = recover(t, std::to_string(ep),
              R"({"since": "2000-01-01T01:00:00.5+01:00"})");
  ASSERT_TRUE(is_success(r, 202)) << r;
  EXPECT_EQ(as_int(r.data().at("requeued")), 1) << r;
  wait_delivery(t, early, ep, "delivered");
}

TEST_F(history, recover_on_a_tripped_endpoint_queues_until_the_probe) {
  // Two attempts; the breaker trips at the second failure in a row, the
  // one that also ends the delivery: no probe has run when the recover
  // comes (a failed probe would double the cool-down).
  start({"--allow-private-targets", "--retry-schedule", "50ms",
         "--breaker-failures", "2", "--breaker-cooldown", "1s",
         "--breaker-max-cooldown", "5s"});
  auto t = new_tenant();
  auto ep = add_endpoint(t, rx_.url("/down"), {"job.done"});
  rx_.set("/down", behaviour::always(reply{500, 0ms, {}, "down"}));
  auto id = str_at(publish_ok(t, "job.done"), "id");
  wait_delivery(t, id, ep, "failed");
  // The breaker's record follows the attempt's: wait for it.
  http_response r;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  do {
    r = client().get(endpoint_path(ep), bearer(t.token));
    ASSERT_TRUE(is_success(r, 200)) << r;
  } while (str_at(r.data(), "status") != "disabled" &&
           std::chrono::steady_clock::now() < deadline &&
           (std::this_thread::sleep_for(20ms), true));
  ASSERT_EQ(str_at(r.data(), "status"), "disabled") << r;

  auto before = rx_.requests("/down").size();
  rx_.set("/down", behaviour::always(reply{200, 0ms, {}, "back"}));
  r = recover(t, ep, "2000-01-01T00:00:00Z");
  ASSERT_TRUE(is_success(r, 202)) << r;
  EXPECT_EQ(as_int(r.data().at("requeued")), 1) << r;
  // Queued behind the breaker: pending with no attempt until its probe.
  auto d = delivery_of(get_event(t, id), ep);
  EXPECT_EQ(str_at(d, "status"), "pending") << json::serialize(d);
  EXPECT_EQ(as_int(d.at("attempts")), 0) << json::serialize(d);
  auto ev = wait_delivery(t, id, ep, "delivered");
  auto got = rx_.requests("/down");
  ASSERT_EQ(got.size() - before, 1u) << describe(got); // the probe
  r = client().get(endpoint_path(ep), bearer(t.token));
  EXPECT_EQ(str_at(r.data(), "status"), "active") << r;
}

TEST_F(history, recover_rejects_bad_requests_naming_the_field) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto ep = std::to_string(add_endpoint(t, rx_.url("/ok"), {"job.done"}));
  EXPECT_TRUE(is_field_error(recover(t, ep, ""), 400, "INVALID_JSON", "body"));
  EXPECT_TRUE(
    is_field_error(recover(t, ep, "[]"), 400, "INVALID_JSON", "body"));
  EXPECT_TRUE(
    is_field_error(recover(t, ep, "{}"), 422, "VALIDATION_FAILED", "since"));
  EXPECT_TRUE(is_field_error(recover(t, ep, R"({"since": 5})"), 400,
                             "INVALID_PARAMETER", "since"));
  EXPECT_TRUE(is_field_error(recover(t, ep, R"({"since": "yesterday"})"), 422,
                             "VALIDATION_FAILED", "since"));
  EXPECT_TRUE(is_field_error(
    recover(t, ep, R"({"since": "2024-01-01T00:00:00Z", "until": 1})"), 422,
    "VALIDATION_FAILED", "until"));
  EXPECT_TRUE(
    is_field_error(recover(t, "x1", R"({"since": "2024-01-01T00:00:00Z"})"),
                   400, "INVALID_PARAMETER", "id"));
  expect_not_found(recover(t, "999", R"({"since": "2024-01-01T00:00:00Z"})"),
                   "id");
  auto other = new_tenant();
  expect_not_found(recover(other, ep, R"({"since": "2024-01-01T00:00:00Z"})"),
                   "id");
  auto r = recover(t, ep, R"({"since": "2024-01-01T00:00:00Z"})");
  ASSERT_TRUE(is_success(r, 202)) << r;
  EXPECT_EQ(as_int(r.data().at("requeued")), 0);
  r = client().get("/v1/webhook/endpoints/" + ep + "/recover", bearer(t.token));
  EXPECT_TRUE(is_error(r, 405, "METHOD_NOT_ALLOWED")) << r;
  EXPECT_EQ(r.header("allow"), "POST");
}
