// The webhook engine end to end: publishing events, fan-out, signed
// deliveries to a real local receiver, retries with jitter and Retry-After,
// idempotency, inactive endpoints, statistics, the attempt log, resend, the
// pending cap, durability across kill -9, pruning of delivered history, the
// SSRF guard, and input checks on the new routes.

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "support/api.hpp"
#include "support/assertions.hpp"
#include "support/child_process.hpp"
#include "support/http_client.hpp"
#include "support/receiver.hpp"
#include "support/server_process.hpp"
#include "support/time_util.hpp"

using namespace wi_e2e;
using namespace std::chrono_literals;
namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view events_path = "/v1/webhook/events";

/// Slack on top of a scheduled retry delay: the WAL sync of the attempt,
/// timers and a busy two-core machine.
constexpr int64_t spacing_slack_ms = 400;

/// How long "nothing else arrives" is observed.
constexpr auto quiet_period = 300ms;

std::string event_path(std::string_view id) {
  return std::string{events_path} + "/" + std::string{id};
}

/// `{"event_type": type, "payload": <payload_json>, "idempotency_key": key}`
/// with `payload_json` inserted verbatim (so it may carry blanks).
std::string event_body(std::string_view type, std::string_view payload_json,
                       std::optional<std::string> key = std::nullopt) {
  std::string body = "{\"event_type\": " + json::serialize(json::string{type}) +
                     ", \"payload\": " + std::string{payload_json};
  if (key)
    body += ", \"idempotency_key\": " + json::serialize(json::string{*key});
  body += "}";
  return body;
}

/// The path of Debian's `node` (or `nodejs`) from `$PATH`; "node" if none.
std::string node_binary() {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/bin";
  for (auto name : {"node", "nodejs"})
    for (size_t at = 0; at <= dirs.size();) {
      auto end = std::min(dirs.find(':', at), dirs.size());
      auto candidate = std::filesystem::path{dirs.substr(at, end - at)} / name;
      if (::access(candidate.c_str(), X_OK) == 0)
        return candidate.string();
      at = end + 1;
    }
  return "node";
}

/// `x` without JSON whitespace at either end.
std::string trimmed(std::string_view x) {
  constexpr std::string_view blanks = " \t\r\n";
  auto first = x.find_first_not_of(blanks);
  if (first == std::string_view::npos)
    return {};
  return std::string{x.substr(first, x.find_last_not_of(blanks) - first + 1)};
}

int64_t ms_between(std::chrono::steady_clock::time_point a,
                   std::chrono::steady_clock::time_point b) {
  return std::chrono::duration_cast<milliseconds>(b - a).count();
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

int64_t unix_of(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch())
    .count();
}

/// `now + d` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
std::string http_date_in(std::chrono::seconds d) {
  auto t = static_cast<std::time_t>(unix_now() + d.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

bool is_event_id(std::string_view x) {
  if (x.size() != 28 || !x.starts_with("evt_"))
    return false;
  return std::all_of(x.begin() + 4, x.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
  });
}

double num(const json::value& v) {
  return v.to_number<double>();
}

/// The requests whose `webhook-id` is `id`.
std::vector<received_request> with_id(const std::vector<received_request>& rs,
                                      std::string_view id) {
  std::vector<received_request> result;
  for (const auto& r : rs)
    if (r.header("webhook-id") == std::string{id})
      result.push_back(r);
  return result;
}

std::string random_bytes(size_t n) {
  std::random_device rd;
  std::string result;
  for (size_t i = 0; i < n; ++i)
    result.push_back(static_cast<char>(rd() & 0xff));
  return result;
}

/// Describes requests for failure messages.
std::string describe(const std::vector<received_request>& rs) {
  std::string out;
  for (const auto& r : rs)
    out += r.method + " " + r.target + " -> " + std::to_string(r.status) +
           " id=" + r.header("webhook-id").value_or("-") + "\n";
  return out.empty() ? "(no requests)\n" : out;
}

class delivery : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!server_)
      return;
    if (HasFailure())
      std::cerr << "--- server stderr (tail) ---\n"
                << server_->stderr_tail() << "\n--- end ---\n";
    server_->stop(std::chrono::seconds{5});
  }

  /// Starts the server on this test's data directory with `args`.
  void start(std::vector<std::string> args) {
    server_config cfg;
    cfg.data_dir = dir_.path();
    cfg.admin_token = admin_token_;
    cfg.extra_args = std::move(args);
    server_ = std::make_unique<server_process>(std::move(cfg));
    server_->start();
    client_ = std::make_unique<http_client>(server_->base_url());
  }

  /// SIGTERM (expects exit code 0); `between()` runs while the server is
  /// down; then starts again on the same data directory.
  void restart_graceful(const std::function<void()>& between) {
    auto status = server_->stop(std::chrono::seconds{15});
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << describe_wait_status(status);
    between();
    server_->start();
    client_ = std::make_unique<http_client>(server_->base_url());
  }

  /// Waits until every (path, event id) of `expected` got a request after
  /// `since` that was answered 200. No request reaches the server here.
  bool wait_answered_after(
    const std::vector<std::pair<std::string, std::string>>& expected,
    std::chrono::steady_clock::time_point since, milliseconds timeout) const {
    return rx_.wait_until(
      [&](const std::vector<received_request>& log) {
        for (const auto& [path, id] : expected) {
          bool ok = false;
          for (const auto& r : log)
            ok = ok || (r.path == path && r.at > since && r.answered &&
                        r.status == 200 && r.header("webhook-id") == id);
          if (!ok)
            return false;
        }
        return true;
      },
      timeout);
  }

  const http_client& client() const { return *client_; }

  tenant new_tenant() {
    return create_tenant(client(), admin_token_,
                         "tenant-" + std::to_string(++tenants_));
  }

  int64_t add_endpoint(const tenant& t, const std::string& url,
                       const std::vector<std::string>& types,
                       const std::string& secret = "plain-secret-1",
                       const json::object& headers = {}) {
    auto body = endpoint_request(url, secret, types);
    if (!headers.empty())
      body["headers"] = headers;
    return as_int(create_endpoint(client(), t.token, body).at("identifier"));
  }

  http_response publish(const tenant& t, const std::string& body,
                        const header_list& extra = {}) const {
    auto headers = bearer(t.token);
    headers.insert(headers.end(), extra.begin(), extra.end());
    return client().post(events_path, body, headers);
  }

  /// Publishes and expects a well-formed 202 receipt; returns `data`.
  json::object publish_ok(const tenant& t, std::string_view type,
                          std::string_view payload = R"({"n": 1})",
                          const header_list& extra = {},
                          std::optional<std::string> key = std::nullopt) {
    auto before = unix_now();
    auto r = publish(t, event_body(type, payload, std::move(key)), extra);
    auto after = unix_now();
    EXPECT_TRUE(is_success(r, 202));
    if (r.status != 202 || !r.data().is_object())
      throw std::runtime_error("publish failed");
    const auto& d = r.data().get_object();
    EXPECT_TRUE(is_event_id(str_at(d, "id"))) << r;
    EXPECT_EQ(str_at(d, "event_type"), type) << r;
    EXPECT_TRUE(d.contains("endpoints") && d.at("endpoints").is_number()) << r;
    EXPECT_TRUE(d.contains("duplicate") && d.at("duplicate").is_bool()) << r;
    auto created = parse_rfc3339(str_at(d, "created_at"));
    EXPECT_TRUE(created && is_rfc3339_utc(str_at(d, "created_at"))) << r;
    // A duplicate carries the original's time, which may be older.
    if (created && !d.at("duplicate").as_bool()) {
      EXPECT_GE(created->seconds, before - 1) << r;
      EXPECT_LE(created->seconds, after + 1) << r;
    }
    return d;
  }

  json::object get_event(const tenant& t, std::string_view id) const {
    auto r = client().get(event_path(id), bearer(t.token));
    EXPECT_TRUE(is_success(r, 200));
    if (r.status != 200 || !r.data().is_object())
      throw std::runtime_error("get event failed");
    return r.data().get_object();
  }

  /// Polls `GET /events/{id}` until `pred(data)` or the timeout; returns the
  /// last answer.
  json::object wait_event(const tenant& t, std::string_view id,
                          const std::function<bool(const json::object&)>& pred,
                          milliseconds timeout = 10s) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto ev = get_event(t, id);
      if (pred(ev) || std::chrono::steady_clock::now() > deadline)
        return ev;
      std::this_thread::sleep_for(20ms);
    }
  }

  /// Waits until no delivery of the event is pending.
  json::object wait_settled(const tenant& t, std::string_view id,
                            milliseconds timeout = 10s) const {
    auto ev = wait_event(
      t, id,
      [](const json::object& e) {
        for (const auto& d : e.at("deliveries").as_array())
          if (d.at("status") == "pending")
            return false;
        return true;
      },
      timeout);
    for (const auto& d : ev.at("deliveries").as_array())
      EXPECT_NE(d.at("status"), "pending")
        << "not settled in time: " << json::serialize(ev);
    return ev;
  }

  /// The delivery of `ev` to `endpoint`; throws if absent.
  static json::object delivery_of(const json::object& ev, int64_t endpoint) {
    for (const auto& d : ev.at("deliveries").as_array())
      if (as_int(d.at("endpoint")) == endpoint)
        return d.as_object();
    throw std::runtime_error("no delivery to endpoint " +
                             std::to_string(endpoint) + " in " +
                             json::serialize(ev));
  }

  static std::set<int64_t> delivery_endpoints(const json::object& ev) {
    std::set<int64_t> result;
    for (const auto& d : ev.at("deliveries").as_array())
      result.insert(as_int(d.at("endpoint")));
    return result;
  }

  json::object stats(const tenant& t, int64_t endpoint) const {
    auto r =
      client().get(endpoint_path(endpoint, "/statistics"), bearer(t.token));
    EXPECT_TRUE(is_success(r, 200));
    if (r.status != 200 || !r.data().is_object())
      throw std::runtime_error("statistics failed");
    return r.data().get_object();
  }

  http_response attempts(const tenant& t, int64_t endpoint,
                         std::string_view query = "") const {
    return client().get(endpoint_path(endpoint, "/attempts") +
                          std::string{query},
                        bearer(t.token));
  }

  http_response resend(const tenant& t, int64_t endpoint,
                       std::string_view event_id) const {
    return client().post(
      endpoint_path(endpoint, "/resend/" + std::string{event_id}), "",
      bearer(t.token));
  }

  void set_status(const tenant& t, int64_t endpoint, std::string_view what) {
    auto r = client().put(endpoint_path(endpoint, what), bearer(t.token));
    ASSERT_TRUE(is_no_content(r));
  }

  /// Checks one received delivery against the contract: method, exact
  /// body, headers and signature.
  static void expect_delivery(const received_request& req,
                              const json::object& receipt,
                              std::string_view secret,
                              std::string_view expected_data) {
    SCOPED_TRACE(req.target);
    auto id = str_at(receipt, "id");
    EXPECT_EQ(req.method, "POST");
    auto expected_body = "{\"id\":\"" + id + "\",\"type\":\"" +
                         str_at(receipt, "event_type") + "\",\"timestamp\":\"" +
                         str_at(receipt, "created_at") +
                         "\",\"data\":" + std::string{expected_data} + "}";
    EXPECT_EQ(req.body, expected_body);
    EXPECT_EQ(req.header_count("Content-Type"), 1u);
    EXPECT_EQ(req.header("Content-Type"), "application/json");
    EXPECT_EQ(req.header("User-Agent"),
              std::string{"webhook-ingress/"} + WI_VERSION);
    EXPECT_EQ(req.header("webhook-id"), id);
    auto ts = req.header("webhook-timestamp").value_or("");
    ASSERT_FALSE(ts.empty());
    ASSERT_TRUE(std::all_of(ts.begin(), ts.end(),
                            [](char c) { return c >= '0' && c <= '9'; }))
      << ts;
    auto ts_value = std::stoll(ts);
    EXPECT_GE(ts_value, unix_of(req.wall_at) - 3) << ts;
    EXPECT_LE(ts_value, unix_of(req.wall_at) + 1) << ts;
    EXPECT_EQ(req.header("webhook-signature"),
              webhook_signature(secret, id, ts, req.body));
  }

  const std::string admin_token_ = "e2e-admin-" + random_hex(24);
  receiver rx_;
  temp_dir dir_;
  std::unique_ptr<server_process> server_;
  std::unique_ptr<http_client> client_;
  int tenants_ = 0;
};

} // namespace

// -- the test's own signing code ----------------------------------------------

TEST(delivery_support, hmac_sha256_and_base64_match_known_vectors) {
  auto hex = [](std::string_view raw) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
      out += digits[c >> 4];
      out += digits[c & 15];
    }
    return out;
  };
  // FIPS 180-2 and RFC 4231 test case 2.
  EXPECT_EQ(hex(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex(sha256(std::string(1000, 'a'))),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
  EXPECT_EQ(hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  // The Standard Webhooks reference example.
  EXPECT_EQ(webhook_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                              "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                              R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

// -- fan-out ------------------------------------------------------------------

TEST_F(delivery, fan_out_by_type_and_wildcard_only_to_matching_endpoints) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto other = new_tenant();
  auto e1 = add_endpoint(t, rx_.url("/e1"), {"user.created"});
  auto e2 = add_endpoint(t, rx_.url("/e2"), {"*"});
  auto e3 = add_endpoint(t, rx_.url("/e3"), {"order.paid"});
  auto e4 = add_endpoint(t, rx_.url("/e4"), {"user.deleted", "user.created"});
  add_endpoint(other, rx_.url("/other"), {"*"});

  auto created = publish_ok(t, "user.created");
  auto paid = publish_ok(t, "order.paid");
  auto prefix = publish_ok(t, "user.created.v2");
  auto upper = publish_ok(t, "USER.CREATED");
  EXPECT_EQ(as_int(created.at("endpoints")), 3);
  EXPECT_EQ(as_int(paid.at("endpoints")), 2);
  EXPECT_EQ(as_int(prefix.at("endpoints")), 1);
  EXPECT_EQ(as_int(upper.at("endpoints")), 1);
  for (const auto* r : {&created, &paid, &prefix, &upper})
    EXPECT_EQ(r->at("duplicate"), false);

  const std::map<std::string, std::set<int64_t>> expected_targets = {
    {str_at(created, "id"), {e1, e2, e4}},
    {str_at(paid, "id"), {e2, e3}},
    {str_at(prefix, "id"), {e2}},
    {str_at(upper, "id"), {e2}},
  };
  for (const auto& [id, targets] : expected_targets) {
    auto ev = wait_settled(t, id);
    EXPECT_EQ(delivery_endpoints(ev), targets) << json::serialize(ev);
    for (const auto& d : ev.at("deliveries").as_array()) {
      EXPECT_EQ(d.at("status"), "delivered") << json::serialize(ev);
      EXPECT_EQ(as_int(d.at("attempts")), 1) << json::serialize(ev);
    }
  }
  std::this_thread::sleep_for(quiet_period);
  auto ids_at = [&](std::string_view path) {
    std::multiset<std::string> ids;
    for (const auto& r : rx_.requests(path))
      ids.insert(r.header("webhook-id").value_or("?"));
    return ids;
  };
  using ids = std::multiset<std::string>;
  auto all = rx_.requests();
  EXPECT_EQ(ids_at("/e1"), (ids{str_at(created, "id")})) << describe(all);
  EXPECT_EQ(ids_at("/e2"), (ids{str_at(created, "id"), str_at(paid, "id"),
                                str_at(prefix, "id"), str_at(upper, "id")}))
    << describe(all);
  EXPECT_EQ(ids_at("/e3"), (ids{str_at(paid, "id")})) << describe(all);
  EXPECT_EQ(ids_at("/e4"), (ids{str_at(created, "id")})) << describe(all);
  EXPECT_EQ(rx_.count("/other"), 0u) << describe(all);
  EXPECT_EQ(all.size(), 7u) << describe(all);
}

TEST_F(delivery, a_burst_reaches_every_endpoint_once_with_exact_statistics) {
  // Many deliveries at once: their attempt records share WAL appends and
  // their bodies come from the in-memory cache; nothing may be lost,
  // repeated or miscounted on the way.
  start({"--allow-private-targets"});
  auto t = new_tenant();
  constexpr int endpoints = 5;
  constexpr int events = 60;
  std::vector<int64_t> eps;
  for (int i = 0; i < endpoints; ++i)
    eps.push_back(
      add_endpoint(t, rx_.url("/b" + std::to_string(i)), {"burst"}));
  std::multiset<std::string> ids;
  for (int i = 0; i < events; ++i) {
    auto r = publish_ok(t, "burst", R"({"i":)" + std::to_string(i) + "}");
    EXPECT_EQ(as_int(r.at("endpoints")), endpoints);
    ids.insert(str_at(r, "id"));
  }
  for (const auto& id : ids)
    wait_settled(t, id);
  std::this_thread::sleep_for(quiet_period);
  for (int i = 0; i < endpoints; ++i) {
    auto path = "/b" + std::to_string(i);
    std::multiset<std::string> got;
    for (const auto& r : rx_.requests(path)) {
      got.insert(r.header("webhook-id").value_or("?"));
      auto body = json::parse(r.body).as_object();
      EXPECT_EQ(str_at(body, "id"), r.header("webhook-id").value_or("?"));
    }
    EXPECT_EQ(got, ids) << path;
    auto s = stats(t, eps[static_cast<size_t>(i)]);
    EXPECT_EQ(as_int(s.at("total_attempts")), events) << path;
    EXPECT_EQ(as_int(s.at("successful_attempts")), events) << path;
    EXPECT_EQ(as_int(s.at("failed_attempts")), 0) << path;
    EXPECT_EQ(as_int(s.at("pending_events")), 0) << path;
  }
  EXPECT_EQ(rx_.requests().size(), static_cast<size_t>(endpoints * events));
}

TEST_F(delivery, a_tenant_has_at_most_tenant_concurrency_attempts_under_way) {
  // Two attempts at a time for the whole tenant, although each of the
  // three endpoints alone would take eight: due deliveries wait in the
  // actor and are all sent, once each, as slots free up.
  start({"--allow-private-targets", "--tenant-concurrency", "2"});
  auto t = new_tenant();
  constexpr auto delay = 150ms;
  constexpr int events = 4;
  std::vector<std::string> paths = {"/c0", "/c1", "/c2"};
  for (const auto& p : paths) {
    add_endpoint(t, rx_.url(p), {"capped"});
    rx_.set(p, behaviour::always(reply{200, delay, {}, "ok"}));
  }
  std::multiset<std::string> ids;
  for (int i = 0; i < events; ++i)
    ids.insert(str_at(publish_ok(t, "capped"), "id"));
  for (const auto& id : ids)
    wait_settled(t, id);
  std::this_thread::sleep_for(quiet_period);
  for (const auto& p : paths) {
    std::multiset<std::string> got;
    for (const auto& r : rx_.requests(p))
      got.insert(r.header("webhook-id").value_or("?"));
    EXPECT_EQ(got, ids) << p;
  }
  // An attempt holds its slot for at least the receiver's delay, so with
  // two slots no three requests arrive within less than that.
  auto all = rx_.requests();
  ASSERT_EQ(all.size(), paths.size() * events);
  for (const auto& r : all) {
    auto close = std::count_if(all.begin(), all.end(), [&](const auto& x) {
      return x.at <= r.at && r.at - x.at < delay - 10ms;
    });
    EXPECT_LE(close, 2) << describe(all);
  }
}

TEST_F(delivery, event_without_matching_endpoint_is_accepted_with_none) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto none = publish_ok(t, "nobody.listens");
  EXPECT_EQ(as_int(none.at("endpoints")), 0);
  add_endpoint(t, rx_.url("/late"), {"nobody.listens"});
  auto ev = get_event(t, str_at(none, "id"));
  EXPECT_EQ(ev.at("deliveries"), json::array{}) << json::serialize(ev);
  EXPECT_EQ(ev.at("event_type"), "nobody.listens");
  EXPECT_EQ(ev.at("created_at"), none.at("created_at"));
  EXPECT_FALSE(ev.contains("idempotency_key")) << json::serialize(ev);
  // An endpoint created later does not receive older events.
  std::this_thread::sleep_for(quiet_period);
  EXPECT_EQ(rx_.count("/late"), 0u);
}

// -- the delivered request ----------------------------------------------------

TEST_F(delivery, signed_body_and_headers_are_exact_for_both_secret_kinds) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  const auto whsec = "whsec_" + base64_encode(random_bytes(32));
  const std::string plain = "plain-secret-value";
  add_endpoint(t, rx_.url("/sig/a?src=wi&x=1"), {"user.created"}, whsec,
               json::object{{"X-Team", "billing"},
                            {"Authorization", "Bearer downstream-token"}});
  add_endpoint(t, rx_.url("/sig/b"), {"user.created", "scalar"}, plain);

  const std::string payload = R"( {
      "name" : "Zo\u00eb \"Z\" \ud83d\ude80 ü",
      "tags": [ "a", "b" ],
      "nested": {"n": 42, "neg": -7, "ok": true, "none": null},
      "line": "x\ny\tz/<>&",
      "empty": {}, "list": [] } )";
  // `data` is the published value's own text, without the blanks around it.
  const auto as_sent = trimmed(payload);
  auto receipt = publish_ok(t, "user.created", payload);
  ASSERT_EQ(as_int(receipt.at("endpoints")), 2);
  wait_settled(t, str_at(receipt, "id"));

  auto a = rx_.requests("/sig/a");
  auto b = rx_.requests("/sig/b");
  ASSERT_EQ(a.size(), 1u) << describe(rx_.requests());
  ASSERT_EQ(b.size(), 1u) << describe(rx_.requests());
  EXPECT_EQ(a[0].target, "/sig/a?src=wi&x=1");
  expect_delivery(a[0], receipt, whsec, as_sent);
  expect_delivery(b[0], receipt, plain, as_sent);
  // The data member parses back to the published payload.
  EXPECT_EQ(json::parse(a[0].body).at("data"), json::parse(payload));
  // Custom headers only where configured, each once.
  EXPECT_EQ(a[0].header("X-Team"), "billing");
  EXPECT_EQ(a[0].header_count("X-Team"), 1u);
  EXPECT_EQ(a[0].header("Authorization"), "Bearer downstream-token");
  EXPECT_FALSE(b[0].header("X-Team"));
  EXPECT_FALSE(b[0].header("Authorization"));
  // A whsec_ key is the decoded bytes, not the text of the secret.
  EXPECT_NE(a[0].header("webhook-signature"),
            webhook_signature("raw:" + whsec, str_at(receipt, "id"),
                              a[0].header("webhook-timestamp").value_or(""),
                              a[0].body));

  // A large payload arrives byte for byte.
  std::string big = "{\"blob\": \"";
  for (size_t i = 0; i < 300'000; ++i)
    big += static_cast<char>('a' + i % 26);
  big += "\"}";
  auto large = publish_ok(t, "scalar", big);
  wait_settled(t, str_at(large, "id"));
  auto got_big = with_id(rx_.requests("/sig/b"), str_at(large, "id"));
  ASSERT_EQ(got_big.size(), 1u);
  expect_delivery(got_big[0], large, plain, big);

  // Payloads that are not objects are delivered as they are.
  for (std::string_view p : {R"("just text")", "[1, 2, [3]]", "0", "false",
                             "null", "-12345678901"}) {
    SCOPED_TRACE(p);
    auto r = publish_ok(t, "scalar", p);
    wait_settled(t, str_at(r, "id"));
    auto got = with_id(rx_.requests("/sig/b"), str_at(r, "id"));
    ASSERT_EQ(got.size(), 1u);
    expect_delivery(got[0], r, plain, p);
  }
}

// -- retries ------------------------------------------------------------------

// The published `data` arrives byte for byte as the client wrote it, and the
// reference libraries (the `standardwebhooks` and `svix` npm packages, run by
// node) verify real deliveries, for the edge `whsec_` secrets too.
TEST_F(delivery, reference_libraries_verify_deliveries_with_data_as_sent) {
  auto script = source_dir() / "tests" / "e2e" / "verifier" / "verify.js";
  ASSERT_TRUE(std::filesystem::exists(script.parent_path() / "node_modules" /
                                      "standardwebhooks"))
    << "run scripts/install-deps.sh (npm ci in tests/e2e/verifier)";
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto unpadded = base64_encode(random_bytes(32));
  while (unpadded.back() == '=')
    unpadded.pop_back();
  const std::vector<std::pair<std::string, std::string>> secrets = {
    {"/ref/spec", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
    {"/ref/edge", "whsec_AAAAAAAAAAAAAAAAAAAAAR=="},
    {"/ref/random", "whsec_" + base64_encode(random_bytes(32))},
    {"/ref/unpadded", "whsec_" + unpadded},
  };
  for (const auto& [path, secret] : secrets)
    add_endpoint(t, rx_.url(path), {"num.test"}, secret);
  const std::vector<std::string> payloads = {
    R"({"n": [1.0, 0.1, 1e3, -0, 1E+03, -0.0, 2.50],
        "big": 123456789012345678901234567890,
        "u64": 18446744073709551616, "i": -9223372036854775809})",
    R"("caf\u00e9 \/ \ud834\udd1e \"q\"")",
    "\t[ \"é€𝄞\" ,\n  {\"k\" :\"v\"} ]\n",
    "3.14159265358979323846264338327950288",
  };
  std::vector<json::object> receipts;
  for (const auto& p : payloads)
    receipts.push_back(publish_ok(t, "num.test", p));
  for (const auto& r : receipts)
    wait_settled(t, str_at(r, "id"));

  json::array deliveries;
  for (const auto& [path, secret] : secrets) {
    auto got = rx_.requests(path);
    ASSERT_EQ(got.size(), payloads.size()) << describe(rx_.requests());
    for (size_t i = 0; i < payloads.size(); ++i) {
      auto one = with_id(got, str_at(receipts[i], "id"));
      ASSERT_EQ(one.size(), 1u);
      expect_delivery(one[0], receipts[i], secret, trimmed(payloads[i]));
      json::object headers;
      for (auto name : {"webhook-id", "webhook-timestamp", "webhook-signature"})
        headers[name] = one[0].header(name).value_or("");
      deliveries.push_back(json::object{
        {"secret", secret}, {"headers", headers}, {"body", one[0].body}});
    }
  }
  auto file = dir_.path() / "deliveries.json";
  {
    std::ofstream out{file};
    out << json::serialize(deliveries);
  }
  auto run = run_to_exit({node_binary(), script.string(), file.string()}, 30s);
  ASSERT_TRUE(run.exited() && run.exit_code() == 0) << run.err;
  std::vector<std::string> lines;
  for (size_t at = 0; at < run.out.size();) {
    auto end = run.out.find('\n', at);
    lines.push_back(run.out.substr(at, end - at));
    at = end == std::string::npos ? run.out.size() : end + 1;
  }
  ASSERT_EQ(lines.size(), deliveries.size()) << run.out << run.err;
  for (size_t i = 0; i < lines.size(); ++i)
    EXPECT_EQ(json::parse(lines[i]),
              json::parse(R"({"standardwebhooks":"ok","svix":"ok"})"))
      << deliveries[i].at("secret") << " " << deliveries[i].at("body");
}

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

// -- the SSRF guard -----------------------------------------------------------

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

  // Wrong methods.
  auto r = client().get(events_path, bearer(t.token));
  EXPECT_TRUE(is_error(r, 405, "METHOD_NOT_ALLOWED"));
  EXPECT_EQ(r.header("Allow"), "POST") << r;
  EXPECT_TRUE(is_error(client().put(event_path(id), bearer(t.token)), 405,
                       "METHOD_NOT_ALLOWED"));

  // Nothing of this reached the receiver beyond the one delivery.
  std::this_thread::sleep_for(quiet_period);
  EXPECT_EQ(rx_.count("/v"), 1u);
}
