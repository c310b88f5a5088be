// Shared by the delivery end-to-end tests (tests/e2e/delivery_*_test.cpp):
// helpers and the `delivery` fixture (a receiver, a server, a tenant).

#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
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

namespace wi_e2e::delivery_fixture {

using namespace wi_e2e;
using namespace std::chrono_literals;
namespace json = boost::json;
using std::chrono::milliseconds;

constexpr std::string_view events_path = "/v1/webhook/events";

/// Slack on top of a scheduled retry delay: the WAL sync of the attempt,
/// timers and a busy two-core machine.
constexpr int64_t spacing_slack_ms = 400;

/// How long "nothing else arrives" is observed.
constexpr auto quiet_period = 300ms;

inline std::string event_path(std::string_view id) {
  return std::string{events_path} + "/" + std::string{id};
}

/// `{"event_type": type, "payload": <payload_json>, "idempotency_key": key}`
/// with `payload_json` inserted verbatim (so it may carry blanks).
inline std::string event_body(std::string_view type,
                              std::string_view payload_json,
                              std::optional<std::string> key = std::nullopt) {
  std::string body = "{\"event_type\": " + json::serialize(json::string{type}) +
                     ", \"payload\": " + std::string{payload_json};
  if (key)
    body += ", \"idempotency_key\": " + json::serialize(json::string{*key});
  body += "}";
  return body;
}

/// The path of Debian's `node` (or `nodejs`) from `$PATH`; "node" if none.
inline std::string node_binary() {
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
inline std::string trimmed(std::string_view x) {
  constexpr std::string_view blanks = " \t\r\n";
  auto first = x.find_first_not_of(blanks);
  if (first == std::string_view::npos)
    return {};
  return std::string{x.substr(first, x.find_last_not_of(blanks) - first + 1)};
}

inline int64_t ms_between(std::chrono::steady_clock::time_point a,
                          std::chrono::steady_clock::time_point b) {
  return std::chrono::duration_cast<milliseconds>(b - a).count();
}

inline int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

inline int64_t unix_of(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch())
    .count();
}

/// `now + d` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
inline std::string http_date_in(std::chrono::seconds d) {
  auto t = static_cast<std::time_t>(unix_now() + d.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

inline bool is_event_id(std::string_view x) {
  if (x.size() != 28 || !x.starts_with("evt_"))
    return false;
  return std::all_of(x.begin() + 4, x.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
  });
}

inline double num(const json::value& v) {
  return v.to_number<double>();
}

/// The requests whose `webhook-id` is `id`.
inline std::vector<received_request>
with_id(const std::vector<received_request>& rs, std::string_view id) {
  std::vector<received_request> result;
  for (const auto& r : rs)
    if (r.header("webhook-id") == std::string{id})
      result.push_back(r);
  return result;
}

inline std::string random_bytes(size_t n) {
  std::random_device rd;
  std::string result;
  for (size_t i = 0; i < n; ++i)
    result.push_back(static_cast<char>(rd() & 0xff));
  return result;
}

/// Describes requests for failure messages.
inline std::string describe(const std::vector<received_request>& rs) {
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

} // namespace wi_e2e::delivery_fixture
