// The webhook engine end to end: the SSRF guard and input checks on the
// delivery routes.

#include "support/delivery_fixture.hpp"

using namespace wi_e2e::delivery_fixture;

// -- the SSRF guard -----------------------------------------------------------

TEST_F(delivery, private_targets_are_blocked_without_the_flag) {
  start({"--retry-schedule", "100ms", "--delivery-connect-timeout-ms", "1000"});
  auto t = new_tenant();
  auto port = std::to_string(rx_.port());
  const std::vector<std::string> urls = {
    rx_.url("/ssrf"),
    "http://localhost:" + port + "/ssrf-name",
    "http://[::1]:" + port + "/ssrf-v6",
    "http://10.1.2.3:" + port + "/ssrf-10",
    "http://192.168.1.1:" + port + "/ssrf-192",
    "http://169.254.169.254/latest/meta-data",
  };
  std::vector<int64_t> eps;
  for (const auto& url : urls)
    eps.push_back(add_endpoint(t, url, {"x"}));
  auto receipt = publish_ok(t, "x");
  ASSERT_EQ(as_int(receipt.at("endpoints")), static_cast<int64_t>(urls.size()));
  auto ev = wait_settled(t, str_at(receipt, "id"));
  for (size_t i = 0; i < eps.size(); ++i) {
    SCOPED_TRACE(urls[i]);
    auto d = delivery_of(ev, eps[i]);
    EXPECT_EQ(d.at("status"), "failed") << json::serialize(ev);
    EXPECT_EQ(d.at("reason"), "exhausted") << json::serialize(ev);
    EXPECT_EQ(as_int(d.at("attempts")), 2) << json::serialize(ev);
    auto log = attempts(t, eps[i]);
    ASSERT_TRUE(is_success(log, 200));
    ASSERT_EQ(log.data().as_array().size(), 2u) << log;
    for (const auto& a : log.data().as_array()) {
      EXPECT_EQ(a.at("error"), "blocked_address") << log;
      EXPECT_EQ(as_int(a.at("status_code")), 0) << log;
    }
    EXPECT_EQ(as_int(stats(t, eps[i]).at("failed_attempts")), 2);
  }
  std::this_thread::sleep_for(quiet_period);
  EXPECT_TRUE(rx_.requests().empty()) << describe(rx_.requests());
}

// -- input checks on the new routes -------------------------------------------

TEST_F(delivery, publish_validates_its_input) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto bad = [&](const std::string& body, long status, std::string_view code,
                 std::optional<std::string_view> field) {
    SCOPED_TRACE(body);
    auto r = publish(t, body);
    if (field)
      EXPECT_TRUE(is_field_error(r, status, code, *field));
    else
      EXPECT_TRUE(is_error(r, status, code));
  };
  bad("", 400, "INVALID_JSON", std::nullopt);
  bad("not json", 400, "INVALID_JSON", std::nullopt);
  bad("[1]", 400, "INVALID_JSON", std::nullopt);
  bad(R"({"event_type": "a", "payload": )", 400, "INVALID_JSON", std::nullopt);
  bad(R"({"event_type": 5, "payload": {}})", 400, "INVALID_PARAMETER",
      "event_type");
  bad(R"({"event_type": null, "payload": {}})", 400, "INVALID_PARAMETER",
      "event_type");
  bad(R"({"event_type": ["a"], "payload": {}})", 400, "INVALID_PARAMETER",
      "event_type");
  bad(R"({"event_type": "a", "payload": {}, "idempotency_key": 5})", 400,
      "INVALID_PARAMETER", "idempotency_key");
  bad(R"({"payload": {}})", 422, "VALIDATION_FAILED", "event_type");
  bad(R"({"event_type": "a"})", 422, "VALIDATION_FAILED", "payload");
  bad(R"({"event_type": "", "payload": {}})", 422, "VALIDATION_FAILED",
      "event_type");
  bad(event_body(std::string(129, 'a'), "{}"), 422, "VALIDATION_FAILED",
      "event_type");
  for (auto type : {"user created", "a/b", "é", "a*", "*", "a\tb", "x,y"})
    bad(event_body(type, "{}"), 422, "VALIDATION_FAILED", "event_type");
  bad(event_body("a", "{}", std::string{}), 422, "VALIDATION_FAILED",
      "idempotency_key");
  bad(event_body("a", "{}", std::string(256, 'k')), 422, "VALIDATION_FAILED",
      "idempotency_key");
  EXPECT_TRUE(
    is_field_error(publish(t, event_body("a", "{}"),
                           {{"Idempotency-Key", std::string(256, 'k')}}),
                   422, "VALIDATION_FAILED", "idempotency_key"));
  // The edges that are valid.
  publish_ok(t, "a", "{}", {}, std::string(255, 'k'));
  publish_ok(t, "a", "{}", {{"Idempotency-Key", std::string(255, 'h')}});
  auto longest = publish_ok(t, std::string(128, 'z'));
  EXPECT_EQ(str_at(longest, "event_type"), std::string(128, 'z'));
  publish_ok(t, "A.b_c:d-9");
  publish_ok(t, "x");
  EXPECT_EQ(str_at(get_event(t, str_at(longest, "id")), "event_type"),
            std::string(128, 'z'));
}

TEST_F(delivery, new_routes_answer_401_404_and_400) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto other = new_tenant();
  auto ep = add_endpoint(t, rx_.url("/v"), {"v"});
  auto receipt = publish_ok(t, "v");
  auto id = str_at(receipt, "id");
  wait_settled(t, id);

  // 401 without, with a wrong and with the admin credential.
  struct call {
    std::string method, path;
  };
  const std::vector<call> calls = {
    {"POST", std::string{events_path}},
    {"GET", event_path(id)},
    {"GET", endpoint_path(ep, "/attempts")},
    {"POST", endpoint_path(ep, "/resend/" + id)},
  };
  const std::vector<header_list> bad_auth = {
    {},
    bearer("wi_" + t.id + "_" + std::string(32, 'A')),
    bearer(admin_token_),
    {{"Authorization", "Basic " + t.token}},
  };
  for (const auto& c : calls)
    for (const auto& h : bad_auth) {
      SCOPED_TRACE(c.method + " " + c.path);
      std::optional<std::string> body;
      if (c.method == "POST")
        body = event_body("v", "{}");
      EXPECT_TRUE(is_error(client().request(c.method, c.path, h, body), 401,
                           "UNAUTHORIZED"));
    }

  // GET event: unknown, another tenant's, malformed.
  EXPECT_TRUE(is_error(
    client().get(event_path("evt_AAAAAAAAAAAAAAAAAAAAAAAA"), bearer(t.token)),
    404, "NOT_FOUND"));
  EXPECT_TRUE(is_error(client().get(event_path(id), bearer(other.token)), 404,
                       "NOT_FOUND"));
  const std::vector<std::string> bad_ids = {"evt-1", "evt.1", "%20",
                                            std::string(65, 'a')};
  for (const auto& bad_id : bad_ids) {
    SCOPED_TRACE(bad_id);
    EXPECT_TRUE(is_error(client().get(event_path(bad_id), bearer(t.token)), 400,
                         "INVALID_PARAMETER"));
  }
  auto got = get_event(t, id);
  EXPECT_EQ(str_at(got, "id"), id);
  EXPECT_EQ(got.at("created_at"), receipt.at("created_at"));

  // Attempts: unknown and another tenant's endpoint, bad ids and queries.
  EXPECT_TRUE(is_error(attempts(t, ep + 1), 404, "NOT_FOUND"));
  EXPECT_TRUE(is_error(attempts(other, ep), 404, "NOT_FOUND"));
  EXPECT_TRUE(
    is_error(client().get(endpoint_path("abc", "/attempts"), bearer(t.token)),
             400, "INVALID_PARAMETER"));
  EXPECT_TRUE(is_error(attempts(t, ep, "?page=x"), 400, "INVALID_PARAMETER"));
  EXPECT_TRUE(is_error(attempts(t, ep, "?page=0"), 422, "VALIDATION_FAILED"));
  EXPECT_TRUE(
    is_error(attempts(t, ep, "?pageSize=101"), 422, "VALIDATION_FAILED"));
  EXPECT_TRUE(is_success(attempts(t, ep, "?pageSize=100"), 200));

  // Resend: malformed ids.
  EXPECT_TRUE(is_error(
    client().post(endpoint_path("x1", "/resend/" + id), "", bearer(t.token)),
    400, "INVALID_PARAMETER"));
  EXPECT_TRUE(is_error(
    client().post(endpoint_path(ep, "/resend/evt-1"), "", bearer(t.token)), 400,
    "INVALID_PARAMETER"));

  // Wrong methods (GET lists the events since issue 17).
  auto r = client().put(std::string{events_path}, bearer(t.token));
  EXPECT_TRUE(is_error(r, 405, "METHOD_NOT_ALLOWED"));
  EXPECT_EQ(r.header("Allow"), "GET, POST") << r;
  EXPECT_TRUE(is_error(client().put(event_path(id), bearer(t.token)), 405,
                       "METHOD_NOT_ALLOWED"));

  // Nothing of this reached the receiver beyond the one delivery.
  std::this_thread::sleep_for(quiet_period);
  EXPECT_EQ(rx_.count("/v"), 1u);
}
