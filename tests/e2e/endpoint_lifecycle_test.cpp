// Endpoint lifecycle (issue 17) on the real binary: update (PATCH), delete,
// and secret rotation with an overlap during which every delivery carries
// both signatures; every validation error, 404 across tenants, durability
// across restarts (WAL replay after kill -9, and snapshots).

#include <fstream>

#include "support/delivery_fixture.hpp"

using namespace wi_e2e::delivery_fixture;

namespace {

/// Whether one `v1,` entry of the delivery's `webhook-signature` header is
/// the signature with `secret` (what the Standard Webhooks libraries
/// accept: any of the space-separated signatures).
bool verifies(const received_request& req, std::string_view secret) {
  auto header = req.header("webhook-signature").value_or("");
  auto expected =
    webhook_signature(secret, req.header("webhook-id").value_or(""),
                      req.header("webhook-timestamp").value_or(""), req.body);
  size_t at = 0;
  while (at <= header.size()) {
    auto end = std::min(header.find(' ', at), header.size());
    if (header.substr(at, end - at) == expected)
      return true;
    at = end + 1;
  }
  return false;
}

/// The number of signatures in the delivery's `webhook-signature` header.
size_t signature_count(const received_request& req) {
  auto header = req.header("webhook-signature").value_or("");
  return header.empty() ? 0
                        : 1 + static_cast<size_t>(
                                std::count(header.begin(), header.end(), ' '));
}

class lifecycle : public delivery {
 protected:
  http_response patch(const tenant& t, std::string_view id,
                      std::string body) const {
    return client().request("PATCH", endpoint_path(id), bearer(t.token),
                            std::move(body));
  }

  http_response patch(const tenant& t, int64_t id, std::string body) const {
    return patch(t, std::to_string(id), std::move(body));
  }

  http_response del(const tenant& t, std::string_view id) const {
    return client().request("DELETE", endpoint_path(id), bearer(t.token));
  }

  http_response del(const tenant& t, int64_t id) const {
    return del(t, std::to_string(id));
  }

  http_response rotate(const tenant& t, std::string_view id,
                       std::string body) const {
    return client().post(endpoint_path(id, "/secret/rotate"), std::move(body),
                         bearer(t.token));
  }

  http_response rotate(const tenant& t, int64_t id, std::string body) const {
    return rotate(t, std::to_string(id), std::move(body));
  }

  http_response secret(const tenant& t, std::string_view id) const {
    return client().get(endpoint_path(id, "/secret"), bearer(t.token));
  }

  http_response secret(const tenant& t, int64_t id) const {
    return secret(t, std::to_string(id));
  }

  /// `GET /v1/webhook/endpoints/{id}` data.
  json::value get(const tenant& t, int64_t id) const {
    auto r = client().get(endpoint_path(id), bearer(t.token));
    EXPECT_TRUE(is_success(r, 200));
    return r.data();
  }

  /// Kills the server with SIGKILL (no snapshot) and starts it again.
  void restart_kill9() {
    server_->kill9();
    server_->start();
    client_ = std::make_unique<http_client>(server_->base_url());
  }

  void snapshot() {
    auto r = client().post("/admin/v1/snapshot", "", bearer(admin_token_));
    ASSERT_EQ(r.status, 200) << r;
  }

  /// Runs the reference verifiers (tests/e2e/verifier, the npm
  /// `standardwebhooks` and `svix` packages) on `req` with each secret;
  /// returns, per secret, whether both accepted it.
  std::vector<bool> reference_verify(const received_request& req,
                                     const std::vector<std::string>& secrets) {
    auto script = source_dir() / "tests" / "e2e" / "verifier" / "verify.js";
    EXPECT_TRUE(std::filesystem::exists(script.parent_path() / "node_modules" /
                                        "standardwebhooks"))
      << "run scripts/install-deps.sh (npm ci in tests/e2e/verifier)";
    json::array deliveries;
    json::object headers;
    for (auto name : {"webhook-id", "webhook-timestamp", "webhook-signature"})
      headers[name] = req.header(name).value_or("");
    for (const auto& s : secrets)
      deliveries.push_back(
        json::object{{"secret", s}, {"headers", headers}, {"body", req.body}});
    auto file = dir_.path() / "rotation.json";
    {
      std::ofstream out{file};
      out << json::serialize(deliveries);
    }
    auto run =
      run_to_exit({node_binary(), script.string(), file.string()}, 30s);
    EXPECT_TRUE(run.exited() && run.exit_code() == 0) << run.err;
    std::vector<bool> result;
    for (size_t at = 0; at < run.out.size();) {
      auto end = std::min(run.out.find('\n', at), run.out.size());
      auto line = json::parse(run.out.substr(at, end - at));
      result.push_back(line.at("standardwebhooks") == "ok" &&
                       line.at("svix") == "ok");
      at = end + 1;
    }
    EXPECT_EQ(result.size(), secrets.size()) << run.out << run.err;
    result.resize(secrets.size(), false);
    return result;
  }
};

/// A receiver answer that fails the attempt.
reply failing_reply() {
  reply r;
  r.status = 500;
  return r;
}

const reply failing = failing_reply();

/// One bad request and the error it must get.
struct bad_case {
  std::string body;
  long status;
  std::string code;
  std::string field;
};

} // namespace

// -- update -------------------------------------------------------------------

TEST_F(lifecycle, update_changes_each_field_and_answers_like_get) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto body = endpoint_request("https://example.com/a", "plain-secret-1",
                               {"user.created"});
  body["description"] = "first";
  body["headers"] = json::object{{"X-One", "1"}};
  auto created = create_endpoint(client(), t.token, body);
  EXPECT_EQ(created.at("description"), "first");
  auto id = as_int(created.at("identifier"));

  auto r = patch(t, id,
                 R"({"url": "https://example.org/b", "event_types":
                    ["order.paid", "order.paid", "*"], "headers": {"X-Two": "2",
                    "X-Three": "3"}, "description": "second"})");
  ASSERT_TRUE(is_success(r, 200)) << r;
  ASSERT_TRUE(is_endpoint(r.data())) << r;
  const auto& d = r.data().as_object();
  EXPECT_EQ(d.at("url"), "https://example.org/b");
  EXPECT_EQ(d.at("event_types"), json::parse(R"(["order.paid", "*"])"));
  EXPECT_EQ(json::serialize(d.at("headers")), R"({"X-Two":"2","X-Three":"3"})");
  EXPECT_EQ(d.at("description"), "second");
  EXPECT_EQ(d.at("secret"), "plain-secret-1");
  EXPECT_EQ(d.at("status"), "active");
  EXPECT_EQ(d.at("create_timestamp"), created.at("create_timestamp"));
  EXPECT_EQ(r.data(), get(t, id)); // GET's shape, breaker fields included

  // One field at a time leaves the others; null clears the description;
  // {} removes every header; an empty patch changes nothing.
  r = patch(t, id, R"({"description": null})");
  ASSERT_TRUE(is_success(r, 200)) << r;
  EXPECT_FALSE(r.data().as_object().contains("description")) << r;
  EXPECT_EQ(r.data().at("url"), "https://example.org/b");
  r = patch(t, id, R"({"headers": {}})");
  ASSERT_TRUE(is_success(r, 200)) << r;
  EXPECT_EQ(r.data().at("headers"), json::object{});
  EXPECT_EQ(r.data().at("event_types"), json::parse(R"(["order.paid", "*"])"));
  auto before = get(t, id);
  r = patch(t, id, "{}");
  ASSERT_TRUE(is_success(r, 200)) << r;
  EXPECT_EQ(r.data(), before);
}

TEST_F(lifecycle, update_refuses_every_bad_request_and_changes_nothing) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto other = new_tenant();
  auto id = add_endpoint(t, "https://example.com/a", {"user.created"});
  auto before = get(t, id);
  const std::vector<bad_case> cases = {
    {"", 400, "INVALID_JSON", "body"},
    {"[1]", 400, "INVALID_JSON", "body"},
    {"{\"url\": ", 400, "INVALID_JSON", "body"},
    {R"({"url": 5})", 400, "INVALID_PARAMETER", "url"},
    {R"({"url": null})", 400, "INVALID_PARAMETER", "url"},
    {R"({"event_types": "a"})", 400, "INVALID_PARAMETER", "event_types"},
    {R"({"event_types": ["a", 2]})", 400, "INVALID_PARAMETER",
     "event_types[1]"},
    {R"({"headers": []})", 400, "INVALID_PARAMETER", "headers"},
    {R"({"headers": {"X-A": 1}})", 400, "INVALID_PARAMETER", "headers.X-A"},
    {R"({"description": 7})", 400, "INVALID_PARAMETER", "description"},
    {R"({"secret": "another-secret"})", 422, "VALIDATION_FAILED", "secret"},
    {R"({"urll": "https://example.com/"})", 422, "VALIDATION_FAILED", "urll"},
    {R"({"status": "inactive"})", 422, "VALIDATION_FAILED", "status"},
    {R"({"url": "ftp://example.com/"})", 422, "VALIDATION_FAILED", "url"},
    {R"({"url": "https://example.com/)" + std::string(70, 'a') + "\"}", 422,
     "VALIDATION_FAILED", "url"},
    {R"({"event_types": []})", 422, "VALIDATION_FAILED", "event_types"},
    {R"({"event_types": ["ok", "not ok"]})", 422, "VALIDATION_FAILED",
     "event_types[1]"},
    {R"({"headers": {"webhook-id": "x"}})", 422, "VALIDATION_FAILED",
     "headers.webhook-id"},
    {R"({"headers": {"X-A": "a\nb"}})", 422, "VALIDATION_FAILED",
     "headers.X-A"},
    {R"({"description": ")" + std::string(1025, 'd') + "\"}", 422,
     "VALIDATION_FAILED", "description"},
    {R"({"description": "tab\there"})", 422, "VALIDATION_FAILED",
     "description"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    auto r = patch(t, id, c.body);
    EXPECT_TRUE(is_field_error(r, c.status, c.code, c.field)) << r;
  }
  auto r = patch(t, id, R"({"secret": "another-secret"})");
  EXPECT_NE(str_at(r.error(), "message").find("/secret/rotate"),
            std::string::npos)
    << r;
  // Path ids: malformed, unknown, another tenant's.
  EXPECT_TRUE(is_field_error(patch(t, "x1", R"({"description": "d"})"), 400,
                             "INVALID_PARAMETER", "id"));
  EXPECT_TRUE(
    is_error(patch(t, 999, R"({"description": "d"})"), 404, "NOT_FOUND"));
  EXPECT_TRUE(
    is_error(patch(other, id, R"({"description": "d"})"), 404, "NOT_FOUND"));
  EXPECT_EQ(get(t, id), before);
}

TEST_F(lifecycle, queued_attempts_use_the_updated_settings) {
  // The first attempt fails at the old URL; the retry goes to the new URL
  // with the new headers.
  start({"--allow-private-targets", "--retry-schedule", "1s"});
  auto t = new_tenant();
  rx_.set("/old", behaviour::always(failing));
  auto id = add_endpoint(t, rx_.url("/old"), {"a.b"}, "plain-secret-1",
                         json::object{{"X-Version", "old"}});
  auto ev = publish_ok(t, "a.b");
  ASSERT_TRUE(rx_.wait_for_count("/old", 1, 10s));
  auto r = patch(t, id,
                 "{\"url\": \"" + rx_.url("/new") +
                   R"(", "headers": {"X-Version": "new"}})");
  ASSERT_TRUE(is_success(r, 200)) << r;
  auto settled = wait_settled(t, str_at(ev, "id"));
  EXPECT_EQ(delivery_of(settled, id).at("status"), "delivered");
  auto got = rx_.requests("/new");
  ASSERT_EQ(got.size(), 1u) << describe(rx_.requests());
  EXPECT_EQ(got[0].header("X-Version"), "new");
  EXPECT_EQ(rx_.requests("/old").size(), 1u);
  EXPECT_EQ(rx_.requests("/old")[0].header("X-Version"), "old");
}

TEST_F(lifecycle, updates_survive_kill9_and_snapshots) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto id = add_endpoint(t, "https://example.com/a", {"user.created"});
  ASSERT_TRUE(is_success(patch(t, id, R"({"description": "in a snapshot",
    "headers": {"X-S": "1"}})"),
                         200));
  snapshot();
  ASSERT_TRUE(is_success(patch(t, id, R"({"url": "https://example.com/wal",
    "event_types": ["x.y"]})"),
                         200));
  auto before = get(t, id);
  EXPECT_EQ(before.at("description"), "in a snapshot");
  EXPECT_EQ(before.at("url"), "https://example.com/wal");
  restart_kill9(); // the snapshot, then the WAL's last record
  EXPECT_EQ(get(t, id), before);
  restart_graceful([] {}); // a snapshot of everything
  EXPECT_EQ(get(t, id), before);
}

// -- delete -------------------------------------------------------------------

TEST_F(lifecycle, delete_cancels_pending_deliveries_and_never_reuses_the_id) {
  start({"--allow-private-targets", "--retry-schedule", "1h"});
  auto t = new_tenant();
  auto other = new_tenant();
  rx_.set("/down", behaviour::always(failing));
  auto down = add_endpoint(t, rx_.url("/down"), {"a.b"});
  auto up = add_endpoint(t, rx_.url("/up"), {"a.b"});
  auto ev = publish_ok(t, "a.b");
  auto id = str_at(ev, "id");
  ASSERT_TRUE(rx_.wait_for_count("/down", 1, 10s));
  auto e = wait_event(t, id, [&](const json::object& x) {
    return delivery_of(x, up).at("status") == "delivered" &&
           as_int(delivery_of(x, down).at("attempts")) == 1;
  });
  ASSERT_EQ(delivery_of(e, down).at("status"), "pending") << e;

  EXPECT_TRUE(is_error(del(other, down), 404, "NOT_FOUND"));
  EXPECT_TRUE(is_field_error(del(t, "1x"), 400, "INVALID_PARAMETER", "id"));
  EXPECT_TRUE(is_error(del(t, 999), 404, "NOT_FOUND"));
  ASSERT_TRUE(is_no_content(del(t, down)));

  auto check = [&] {
    auto x = get_event(t, id);
    auto d = delivery_of(x, down);
    EXPECT_EQ(d.at("status"), "failed") << x;
    EXPECT_EQ(d.at("reason"), "cancelled") << x;
    EXPECT_EQ(as_int(d.at("attempts")), 1) << x;
    EXPECT_EQ(delivery_of(x, up).at("status"), "delivered") << x;
    for (std::string suffix : {"", "/statistics", "/attempts", "/secret"})
      EXPECT_TRUE(
        is_error(client().get(endpoint_path(down, suffix), bearer(t.token)),
                 404, "NOT_FOUND"))
        << suffix;
    EXPECT_TRUE(is_error(del(t, down), 404, "NOT_FOUND"));
    EXPECT_TRUE(is_error(resend(t, down, id), 404, "NOT_FOUND"));
    auto list =
      client().get(std::string{endpoints_path} + "/list", bearer(t.token));
    ASSERT_TRUE(is_success(list, 200));
    for (const auto& item : list.data().as_array())
      EXPECT_NE(as_int(item.at("identifier")), down) << list;
    EXPECT_EQ(as_int(list.data().as_array()[0].at("identifier")), up);
  };
  check();
  // Events published now do not go to it.
  auto later = publish_ok(t, "a.b");
  EXPECT_EQ(as_int(later.at("endpoints")), 1);
  // Its id is never handed out again, also after restarts.
  EXPECT_EQ(add_endpoint(t, rx_.url("/up"), {"a.b"}), 3);
  restart_kill9();
  check();
  EXPECT_EQ(add_endpoint(t, rx_.url("/up"), {"a.b"}), 4);
  restart_graceful([] {});
  check();
  EXPECT_EQ(add_endpoint(t, rx_.url("/up"), {"a.b"}), 5);
  EXPECT_EQ(rx_.count("/down"), 1u) << describe(rx_.requests());
}

// -- secret rotation ----------------------------------------------------------

TEST_F(lifecycle, rotation_signs_with_both_secrets_during_the_grace_only) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  const std::string old_secret = "whsec_" + base64_encode(random_bytes(32));
  auto id = add_endpoint(t, rx_.url("/r"), {"a.b"}, old_secret);

  auto e1 = publish_ok(t, "a.b");
  wait_settled(t, str_at(e1, "id"));
  auto r = rotate(t, id, R"({"grace": "4s"})");
  auto rotated_at = unix_now();
  ASSERT_TRUE(is_success(r, 200)) << r;
  auto new_secret = str_at(r.data(), "secret");
  EXPECT_TRUE(new_secret.starts_with("whsec_")) << r;
  ASSERT_TRUE(base64_decode(new_secret.substr(6)).has_value()) << r;
  EXPECT_EQ(base64_decode(new_secret.substr(6))->size(), 32u) << r;
  auto expires = parse_rfc3339(str_at(r.data(), "previous_expires_at"));
  ASSERT_TRUE(expires) << r;
  EXPECT_GE(expires->seconds, rotated_at + 2) << r;
  EXPECT_LE(expires->seconds, rotated_at + 5) << r;

  auto s = secret(t, id);
  ASSERT_TRUE(is_success(s, 200)) << s;
  EXPECT_EQ(s.data(),
            json::parse(R"({"secret": ")" + new_secret +
                        R"(", "previous": {"secret": ")" + old_secret +
                        R"(", "expires_at": ")" +
                        str_at(r.data(), "previous_expires_at") + "\"}}"))
    << s;
  EXPECT_EQ(str_at(get(t, id), "secret"), new_secret);

  auto e2 = publish_ok(t, "a.b");
  wait_settled(t, str_at(e2, "id"));
  auto before = with_id(rx_.requests("/r"), str_at(e1, "id"));
  auto during = with_id(rx_.requests("/r"), str_at(e2, "id"));
  ASSERT_EQ(before.size(), 1u);
  ASSERT_EQ(during.size(), 1u);
  EXPECT_EQ(signature_count(before[0]), 1u);
  EXPECT_TRUE(verifies(before[0], old_secret));
  // One header, `v1,<new> v1,<old>`.
  EXPECT_EQ(during[0].header_count("webhook-signature"), 1u);
  EXPECT_EQ(signature_count(during[0]), 2u);
  auto header = during[0].header("webhook-signature").value_or("");
  auto ts = during[0].header("webhook-timestamp").value_or("");
  EXPECT_EQ(
    header,
    webhook_signature(new_secret, str_at(e2, "id"), ts, during[0].body) + " " +
      webhook_signature(old_secret, str_at(e2, "id"), ts, during[0].body));
  EXPECT_EQ(reference_verify(during[0], {new_secret, old_secret}),
            (std::vector<bool>{true, true}));

  // After the grace: only the new secret signs; GET shows no previous.
  std::this_thread::sleep_until(std::chrono::system_clock::time_point{
    std::chrono::seconds{expires->seconds + 2}});
  s = secret(t, id);
  ASSERT_TRUE(is_success(s, 200)) << s;
  EXPECT_EQ(s.data(), json::parse(R"({"secret": ")" + new_secret + "\"}"));
  auto e3 = publish_ok(t, "a.b");
  wait_settled(t, str_at(e3, "id"));
  auto after = with_id(rx_.requests("/r"), str_at(e3, "id"));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(signature_count(after[0]), 1u);
  EXPECT_TRUE(verifies(after[0], new_secret));
  EXPECT_FALSE(verifies(after[0], old_secret));
  EXPECT_EQ(reference_verify(after[0], {new_secret, old_secret}),
            (std::vector<bool>{true, false}));
}

TEST_F(lifecycle, a_second_rotation_drops_the_oldest_and_rotation_is_durable) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto other = new_tenant();
  auto id = add_endpoint(t, rx_.url("/r"), {"a.b"}, "first-secret");
  ASSERT_TRUE(is_success(rotate(t, id, R"({"secret": "second-secret"})"), 200));
  auto r = rotate(t, id, R"({"secret": "third-secret", "grace": "2h"})");
  ASSERT_TRUE(is_success(r, 200)) << r;
  EXPECT_EQ(r.data().at("secret"), "third-secret");
  auto expires = parse_rfc3339(str_at(r.data(), "previous_expires_at"));
  ASSERT_TRUE(expires) << r;
  EXPECT_NEAR(static_cast<double>(expires->seconds),
              static_cast<double>(unix_now() + 7200), 3.0);
  auto s = secret(t, id);
  ASSERT_TRUE(is_success(s, 200));
  EXPECT_EQ(s.data().at("secret"), "third-secret");
  EXPECT_EQ(s.data().at("previous").at("secret"), "second-secret") << s;
  EXPECT_EQ(s.data().at("previous").at("expires_at"),
            r.data().at("previous_expires_at"));

  auto ev = publish_ok(t, "a.b");
  wait_settled(t, str_at(ev, "id"));
  auto got = rx_.requests("/r");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(signature_count(got[0]), 2u);
  EXPECT_TRUE(verifies(got[0], "third-secret"));
  EXPECT_TRUE(verifies(got[0], "second-secret"));
  EXPECT_FALSE(verifies(got[0], "first-secret"));

  // Durable: after kill -9 (WAL) and a graceful restart (snapshot).
  auto expected = s.data();
  restart_kill9();
  EXPECT_EQ(secret(t, id).data(), expected);
  restart_graceful([] {});
  EXPECT_EQ(secret(t, id).data(), expected);
  EXPECT_TRUE(is_error(secret(other, id), 404, "NOT_FOUND"));
  EXPECT_TRUE(is_error(rotate(other, id, ""), 404, "NOT_FOUND"));
  EXPECT_EQ(secret(t, id).data(), expected);
}

TEST_F(lifecycle, rotation_refuses_every_bad_request) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto id = add_endpoint(t, "https://example.com/a", {"a.b"}, "current-secret");
  const std::vector<bad_case> cases = {
    {"[]", 400, "INVALID_JSON", "body"},
    {"{", 400, "INVALID_JSON", "body"},
    {R"({"secret": 5})", 400, "INVALID_PARAMETER", "secret"},
    {R"({"secret": null})", 400, "INVALID_PARAMETER", "secret"},
    {R"({"grace": 60})", 400, "INVALID_PARAMETER", "grace"},
    {R"({"graces": "1h"})", 422, "VALIDATION_FAILED", "graces"},
    {R"({"secret": "short"})", 422, "VALIDATION_FAILED", "secret"},
    {R"({"secret": "whsec_not*base64"})", 422, "VALIDATION_FAILED", "secret"},
    {R"({"secret": "current-secret"})", 422, "VALIDATION_FAILED", "secret"},
    {R"({"grace": ""})", 422, "VALIDATION_FAILED", "grace"},
    {R"({"grace": "0s"})", 422, "VALIDATION_FAILED", "grace"},
    {R"({"grace": "999ms"})", 422, "VALIDATION_FAILED", "grace"},
    {R"({"grace": "169h"})", 422, "VALIDATION_FAILED", "grace"},
    {R"({"grace": "8d"})", 422, "VALIDATION_FAILED", "grace"},
    {R"({"grace": "1 h"})", 422, "VALIDATION_FAILED", "grace"},
    {R"({"grace": "1h,2h"})", 422, "VALIDATION_FAILED", "grace"},
    {R"({"grace": "-1s"})", 422, "VALIDATION_FAILED", "grace"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    EXPECT_TRUE(
      is_field_error(rotate(t, id, c.body), c.status, c.code, c.field));
  }
  EXPECT_TRUE(
    is_field_error(rotate(t, "abc", ""), 400, "INVALID_PARAMETER", "id"));
  EXPECT_TRUE(is_error(rotate(t, 999, ""), 404, "NOT_FOUND"));
  EXPECT_TRUE(is_error(secret(t, 999), 404, "NOT_FOUND"));
  // Nothing changed; the bounds themselves are accepted.
  EXPECT_EQ(secret(t, id).data(),
            json::parse(R"({"secret": "current-secret"})"));
  auto r = rotate(t, id, R"({"grace": "1s", "secret": "next-secret-1"})");
  ASSERT_TRUE(is_success(r, 200)) << r;
  r = rotate(t, id, R"({"grace": "168h"})");
  ASSERT_TRUE(is_success(r, 200)) << r;
  EXPECT_EQ(secret(t, id).data().at("previous").at("secret"), "next-secret-1");
}
