// Batch ingestion (issue 19): POST /v1/webhook/events/batch with up to 100
// events, one WAL append, a result per event in order.

#include "support/delivery_fixture.hpp"

using namespace wi_e2e::delivery_fixture;

namespace {

constexpr std::string_view batch_path = "/v1/webhook/events/batch";

/// `{"events": [<each of events>]}`, the events inserted verbatim.
std::string batch_body(const std::vector<std::string>& events) {
  std::string body = R"({"events": [)";
  for (size_t i = 0; i < events.size(); ++i)
    body += (i == 0 ? "" : ", ") + events[i];
  return body + "]}";
}

} // namespace

class batch : public delivery {
 protected:
  http_response post_batch(const tenant& t, const std::string& body) const {
    return client().post(batch_path, body, bearer(t.token));
  }

  /// Posts a batch expecting 202; returns `data.results`.
  json::array results_of(const tenant& t, const std::string& body,
                         int64_t accepted, int64_t refused) const {
    auto r = post_batch(t, body);
    EXPECT_TRUE(is_success(r, 202));
    if (r.status != 202 || !r.data().is_object())
      throw std::runtime_error("batch failed");
    const auto& d = r.data().get_object();
    EXPECT_EQ(as_int(d.at("accepted")), accepted) << r;
    EXPECT_EQ(as_int(d.at("refused")), refused) << r;
    return d.at("results").as_array();
  }

  /// The receipt of result `x`, which must be accepted.
  static json::object receipt(const json::value& x) {
    EXPECT_EQ(as_int(x.at("status")), 202) << json::serialize(x);
    EXPECT_FALSE(x.as_object().contains("error")) << json::serialize(x);
    return x.at("data").as_object();
  }

  /// Expects result `x` to be refused with `status`, `code` on `field`.
  static void expect_refused(const json::value& x, int64_t status,
                             std::string_view code, std::string_view field) {
    EXPECT_EQ(as_int(x.at("status")), status) << json::serialize(x);
    EXPECT_FALSE(x.as_object().contains("data")) << json::serialize(x);
    const auto& e = x.at("error");
    EXPECT_EQ(str_at(e, "code"), code) << json::serialize(x);
    EXPECT_EQ(str_at(e, "field"), field) << json::serialize(x);
    EXPECT_FALSE(str_at(e, "message").empty()) << json::serialize(x);
  }
};

TEST_F(batch, every_event_accepted_in_order_and_delivered) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto a = add_endpoint(t, rx_.url("/a"), {"order.paid"});
  add_endpoint(t, rx_.url("/b"), {"order.shipped"});
  std::vector<std::string> events;
  for (int i = 0; i < 100; ++i)
    events.push_back(
      event_body(i % 2 == 0 ? "order.paid" : "order.shipped",
                 // Kept byte for byte, as in a single publish.
                 R"({"i": )" + std::to_string(i) + R"(, "x": 1.0})"));
  auto results = results_of(t, batch_body(events), 100, 0);
  ASSERT_EQ(results.size(), 100u);
  std::set<std::string> ids;
  for (size_t i = 0; i < results.size(); ++i) {
    auto d = receipt(results[i]);
    EXPECT_TRUE(is_event_id(str_at(d, "id")));
    EXPECT_EQ(str_at(d, "event_type"),
              i % 2 == 0 ? "order.paid" : "order.shipped");
    EXPECT_EQ(as_int(d.at("endpoints")), 1);
    EXPECT_FALSE(d.at("duplicate").as_bool());
    ids.insert(str_at(d, "id"));
  }
  EXPECT_EQ(ids.size(), 100u);
  // Each event is stored and delivered like a single publish's.
  auto first = str_at(receipt(results[0]), "id");
  auto ev = wait_settled(t, first);
  EXPECT_EQ(delivery_of(ev, a).at("status"), "delivered");
  ASSERT_TRUE(rx_.wait_for_count("/a", 50, 10s));
  ASSERT_TRUE(rx_.wait_for_count("/b", 50, 10s));
  auto got = with_id(rx_.requests("/a"), first);
  ASSERT_FALSE(got.empty());
  EXPECT_NE(got.front().body.find(R"("data":{"i": 0, "x": 1.0})"),
            std::string::npos)
    << got.front().body;
}

TEST_F(batch, invalid_events_are_refused_with_their_field_the_rest_accepted) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  add_endpoint(t, rx_.url("/a"), {"*"});
  auto results = results_of(
    t,
    batch_body({event_body("ok.one", "1"), R"({"payload": 1})",
                R"({"event_type": "bad type!", "payload": 1})",
                R"({"event_type": 7, "payload": 1})", R"("not an object")",
                R"({"event_type": "no.payload"})",
                event_body("ok.two", R"({"a": [1, 2]})")}),
    2, 5);
  ASSERT_EQ(results.size(), 7u);
  EXPECT_EQ(str_at(receipt(results[0]), "event_type"), "ok.one");
  expect_refused(results[1], 422, "VALIDATION_FAILED", "events[1].event_type");
  expect_refused(results[2], 422, "VALIDATION_FAILED", "events[2].event_type");
  expect_refused(results[3], 400, "INVALID_PARAMETER", "events[3].event_type");
  expect_refused(results[4], 400, "INVALID_PARAMETER", "events[4]");
  expect_refused(results[5], 422, "VALIDATION_FAILED", "events[5].payload");
  EXPECT_EQ(str_at(receipt(results[6]), "event_type"), "ok.two");
  // Only the accepted ones exist.
  get_event(t, str_at(receipt(results[0]), "id"));
  get_event(t, str_at(receipt(results[6]), "id"));
  // Nothing valid at all: still a per-event answer, nothing stored.
  auto none = results_of(t, batch_body({R"({"payload": 1})"}), 0, 1);
  expect_refused(none[0], 422, "VALIDATION_FAILED", "events[0].event_type");
}

TEST_F(batch, idempotency_keys_per_event_within_and_across_batches) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  add_endpoint(t, rx_.url("/a"), {"k.t"});
  auto single = publish_ok(t, "k.t", "1", {}, "key-single");
  auto results = results_of(
    t,
    batch_body({event_body("k.t", "1", "key-a"),
                event_body("k.t", "2", "key-a"),
                event_body("k.t", "3", "key-single"), event_body("k.t", "4")}),
    4, 0);
  auto first = receipt(results[0]);
  EXPECT_FALSE(first.at("duplicate").as_bool());
  // The key repeated within the batch answers with its first event.
  auto again = receipt(results[1]);
  EXPECT_TRUE(again.at("duplicate").as_bool());
  EXPECT_EQ(str_at(again, "id"), str_at(first, "id"));
  // A key of a single publish answers with that event.
  auto old = receipt(results[2]);
  EXPECT_TRUE(old.at("duplicate").as_bool());
  EXPECT_EQ(str_at(old, "id"), str_at(single, "id"));
  EXPECT_FALSE(receipt(results[3]).at("duplicate").as_bool());
  // A later batch with the same key: the same event again.
  auto later =
    results_of(t, batch_body({event_body("k.t", "9", "key-a")}), 1, 0);
  EXPECT_EQ(str_at(receipt(later[0]), "id"), str_at(first, "id"));
  EXPECT_TRUE(receipt(later[0]).at("duplicate").as_bool());
  // One delivery per distinct event: the single one, key-a's and the
  // keyless one.
  ASSERT_TRUE(rx_.wait_for_count("/a", 3, 10s));
  std::this_thread::sleep_for(quiet_period);
  EXPECT_EQ(rx_.requests("/a").size(), 3u) << describe(rx_.requests());
}

TEST_F(batch, refused_as_a_whole_when_the_batch_itself_is_wrong) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  std::vector<std::string> events(101, event_body("a.b", "1"));
  EXPECT_TRUE(is_field_error(post_batch(t, batch_body(events)), 422,
                             "VALIDATION_FAILED", "events"));
  EXPECT_TRUE(is_field_error(post_batch(t, R"({"events": []})"), 422,
                             "VALIDATION_FAILED", "events"));
  EXPECT_TRUE(
    is_field_error(post_batch(t, "{}"), 422, "VALIDATION_FAILED", "events"));
  EXPECT_TRUE(is_field_error(post_batch(t, R"({"events": {}})"), 400,
                             "INVALID_PARAMETER", "events"));
  EXPECT_TRUE(is_field_error(post_batch(t, "[1"), 400, "INVALID_JSON", "body"));
  EXPECT_TRUE(is_error(client().post(batch_path, batch_body({}), {}), 401,
                       "UNAUTHORIZED"));
  // Nothing of the refused batches was stored: 100 events still fit.
  events.resize(100);
  results_of(t, batch_body(events), 100, 0);
}

TEST_F(batch, the_publish_rate_applies_per_event) {
  start({"--allow-private-targets", "--tenant-publish-rate", "1",
         "--tenant-publish-burst", "3"});
  auto t = new_tenant();
  std::vector<std::string> events(5, event_body("a.b", "1"));
  auto results = results_of(t, batch_body(events), 3, 2);
  for (size_t i = 0; i < 3; ++i)
    receipt(results[i]);
  for (size_t i = 3; i < 5; ++i) {
    expect_refused(results[i], 429, "RATE_LIMITED", "publish_rate");
    EXPECT_GE(as_int(results[i].at("error").at("retry_after_seconds")), 1);
  }
}

TEST_F(batch, accepted_events_survive_kill9) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  add_endpoint(t, rx_.url("/a"), {"a.b"});
  std::vector<std::string> events;
  for (int i = 0; i < 20; ++i)
    events.push_back(event_body("a.b", std::to_string(i)));
  auto results = results_of(t, batch_body(events), 20, 0);
  // Acknowledged means synced: the crash right after the answer loses none.
  server_->kill9();
  server_->start();
  client_ = std::make_unique<http_client>(server_->base_url());
  for (const auto& x : results) {
    auto id = str_at(x.at("data"), "id");
    auto ev = wait_settled(t, id, 15s);
    EXPECT_EQ(str_at(ev, "event_type"), "a.b");
    EXPECT_EQ(ev.at("deliveries").as_array().at(0).at("status"), "delivered")
      << json::serialize(ev);
  }
}
