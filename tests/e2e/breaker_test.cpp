// The circuit breaker end to end: tripping after N consecutive failures or
// at once on 410, queueing while disabled, probes with a doubling cool-down,
// recovery, manual enable/disable, operator notices, and the disabled state
// across kill -9. Millisecond-scale breaker settings keep it fast.

#include <algorithm>
#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "support/delivery_fixture.hpp"

using namespace wi_e2e::delivery_fixture;
using steady = std::chrono::steady_clock;

namespace {

reply status_reply(int status) {
  reply r;
  r.status = status;
  return r;
}

/// The breaker flags; `retry` and `cooldown` vary per test.
std::vector<std::string> breaker_args(const std::string& retry,
                                      const std::string& cooldown = "300ms") {
  return {"--allow-private-targets",
          "--retry-schedule",
          retry,
          "--breaker-failures",
          "3",
          "--breaker-cooldown",
          cooldown,
          "--breaker-max-cooldown",
          "5s"};
}

const std::string fast_retries =
  "100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms";

/// The delivery fixture (a receiver, a server, tenants) with the breaker's
/// own helpers.
class breaker : public delivery {
 protected:
  void restart_after_kill9() {
    server_->kill9();
    server_->start();
    client_ = std::make_unique<http_client>(server_->base_url());
  }

  int64_t add_endpoint(const tenant& t, const std::string& path,
                       const std::vector<std::string>& types) {
    return delivery::add_endpoint(t, rx_.url(path), types);
  }

  /// Publishes and expects 202 for `expected_endpoints`; returns the event
  /// id.
  std::string publish(const tenant& t, std::string_view type,
                      int64_t expected_endpoints = 1) {
    auto d = publish_ok(t, type);
    EXPECT_EQ(as_int(d.at("endpoints")), expected_endpoints);
    return str_at(d, "id");
  }

  json::object endpoint(const tenant& t, int64_t id) const {
    return get_endpoint(client(), t.token, id);
  }

  /// Polls the endpoint until `pred` or the timeout; returns the last one.
  json::object
  wait_endpoint(const tenant& t, int64_t id,
                const std::function<bool(const json::object&)>& pred,
                milliseconds timeout = 5s) const {
    auto deadline = steady::now() + timeout;
    while (true) {
      auto ep = endpoint(t, id);
      if (pred(ep) || steady::now() > deadline)
        return ep;
      std::this_thread::sleep_for(10ms);
    }
  }

  json::object wait_status(const tenant& t, int64_t id, std::string_view s,
                           milliseconds timeout = 5s) const {
    return wait_endpoint(
      t, id, [s](const json::object& ep) { return str_at(ep, "status") == s; },
      timeout);
  }

  /// Polls statistics until `pending_events == n` or 3 s; returns it.
  int64_t wait_pending(const tenant& t, int64_t id, int64_t n) const {
    auto deadline = steady::now() + 3s;
    while (true) {
      auto p = as_int(stats(t, id).at("pending_events"));
      if (p == n || steady::now() > deadline)
        return p;
      std::this_thread::sleep_for(10ms);
    }
  }

  /// Whether every event id got a 200 answer on `path`.
  bool wait_delivered(const std::string& path,
                      const std::vector<std::string>& ids,
                      milliseconds timeout) const {
    return rx_.wait_until(
      [&](const std::vector<received_request>& log) {
        for (const auto& id : ids) {
          bool ok = false;
          for (const auto& r : log)
            ok = ok || (r.path == path && r.answered && r.status == 200 &&
                        r.header("webhook-id") == id);
          if (!ok)
            return false;
        }
        return true;
      },
      timeout);
  }

  /// Expects the breaker's "disabled" shape with `reason`.
  void expect_disabled(const json::object& ep, std::string_view reason,
                       int64_t min_failures) const {
    EXPECT_EQ(str_at(ep, "status"), "disabled") << json::serialize(ep);
    EXPECT_EQ(str_at(ep, "status_reason"), reason) << json::serialize(ep);
    ASSERT_TRUE(ep.contains("consecutive_failures")) << json::serialize(ep);
    EXPECT_GE(as_int(ep.at("consecutive_failures")), min_failures)
      << json::serialize(ep);
    ASSERT_TRUE(ep.contains("disabled_at")) << json::serialize(ep);
    EXPECT_TRUE(is_rfc3339_utc(str_at(ep, "disabled_at")))
      << json::serialize(ep);
    ASSERT_TRUE(ep.contains("next_probe_at")) << json::serialize(ep);
    EXPECT_TRUE(is_rfc3339_utc(str_at(ep, "next_probe_at")))
      << json::serialize(ep);
  }

  /// Trips endpoint `id` (receiver on `path` answering 500, retries fast):
  /// publishes one event and waits for "disabled". Returns the event id.
  std::string trip(const tenant& t, int64_t id, const std::string& path,
                   std::string_view type = "user.created") {
    rx_.set(path, behaviour::always(status_reply(500)));
    auto ev = publish(t, type);
    auto ep = wait_status(t, id, "disabled", 5s);
    EXPECT_EQ(str_at(ep, "status"), "disabled")
      << json::serialize(ep) << describe(rx_.requests(path));
    return ev;
  }
};

// 1. Exactly N consecutive failures trip; a success in between resets.
TEST_F(breaker, TripsAfterExactlyNConsecutiveFailures) {
  // No retry within the test: every publish is exactly one attempt.
  start(breaker_args("30s", "30s"));
  auto t = new_tenant();
  auto id = add_endpoint(t, "/a", {"user.created"});
  rx_.set("/a", behaviour::always(status_reply(500)));

  for (int64_t n = 1; n <= 2; ++n) {
    publish(t, "user.created");
    auto ep = wait_endpoint(t, id, [n](const json::object& e) {
      return as_int(e.at("consecutive_failures")) == n;
    });
    EXPECT_EQ(as_int(ep.at("consecutive_failures")), n) << json::serialize(ep);
    EXPECT_EQ(str_at(ep, "status"), "active") << json::serialize(ep);
    EXPECT_EQ(str_at(ep, "status_reason"), "") << json::serialize(ep);
    EXPECT_FALSE(ep.contains("disabled_at")) << json::serialize(ep);
  }
  publish(t, "user.created");
  auto ep = wait_status(t, id, "disabled");
  expect_disabled(ep, "consecutive_failures", 3);
  EXPECT_EQ(rx_.count("/a"), 3u) << describe(rx_.requests("/a"));
  auto st = stats(t, id);
  EXPECT_EQ(str_at(st.at("endpoint"), "status"), "disabled")
    << json::serialize(st);
  EXPECT_EQ(as_int(st.at("pending_events")), 3) << json::serialize(st);

  // A second endpoint: fail, fail, succeed, fail, fail -> still active.
  auto id2 = add_endpoint(t, "/b", {"other"});
  rx_.set("/b", behaviour::always(status_reply(500)));
  int64_t expected[] = {1, 2, 0, 1, 2};
  for (size_t i = 0; i < 5; ++i) {
    rx_.set("/b", behaviour::always(status_reply(i == 2 ? 200 : 500)));
    publish(t, "other");
    ASSERT_TRUE(rx_.wait_for_count("/b", i + 1, 5s));
    auto e = wait_endpoint(t, id2, [&](const json::object& x) {
      return as_int(x.at("consecutive_failures")) == expected[i] &&
             as_int(stats(t, id2).at("total_attempts")) ==
               static_cast<int64_t>(i + 1);
    });
    EXPECT_EQ(as_int(e.at("consecutive_failures")), expected[i])
      << "after attempt " << i + 1 << ": " << json::serialize(e);
    EXPECT_EQ(str_at(e, "status"), "active") << json::serialize(e);
  }
}

// 2. HTTP 410 trips at once.
TEST_F(breaker, GoneTripsAtOnce) {
  start(breaker_args("30s", "30s"));
  auto t = new_tenant();
  auto id = add_endpoint(t, "/gone", {"user.created"});
  rx_.set("/gone", behaviour::always(status_reply(410)));
  publish(t, "user.created");
  auto ep = wait_status(t, id, "disabled");
  expect_disabled(ep, "gone", 1);
  EXPECT_EQ(rx_.count("/gone"), 1u) << describe(rx_.requests("/gone"));
}

// 3. Disabled: events queue, only probes go out, recovery drains all.
TEST_F(breaker, QueuesWhileDisabledProbesThenRecovers) {
  start(breaker_args(fast_retries));
  auto t = new_tenant();
  auto id = add_endpoint(t, "/a", {"user.created"});
  std::vector<std::string> ids{trip(t, id, "/a")};
  auto tripped_count = rx_.count("/a");
  EXPECT_EQ(tripped_count, 3u) << describe(rx_.requests("/a"));

  for (int i = 0; i < 4; ++i)
    ids.push_back(publish(t, "user.created"));
  EXPECT_EQ(as_int(stats(t, id).at("pending_events")), 5);

  // Observe ~1.3 s: the probes (at ~300 ms and ~900 ms after the trip) are
  // the only requests, each a single request, never one of the new events.
  std::this_thread::sleep_for(1300ms);
  auto rs = rx_.requests("/a");
  std::vector<received_request> after(
    rs.begin() + static_cast<std::ptrdiff_t>(3), rs.end());
  EXPECT_GE(after.size(), 1u) << describe(rs);
  EXPECT_LE(after.size(), 2u) << describe(rs);
  for (size_t i = 1; i < after.size(); ++i)
    EXPECT_GE(ms_between(after[i - 1].at, after[i].at), 450) << describe(rs);
  for (const auto& r : after)
    EXPECT_EQ(r.header("webhook-id"), ids[0])
      << "only the oldest pending delivery is a probe\n"
      << describe(rs);
  EXPECT_EQ(str_at(endpoint(t, id), "status"), "disabled");
  EXPECT_EQ(as_int(stats(t, id).at("pending_events")), 5);

  rx_.set("/a", behaviour::always(status_reply(200)));
  auto ep = wait_status(t, id, "active", 5s);
  EXPECT_EQ(str_at(ep, "status"), "active") << json::serialize(ep);
  EXPECT_EQ(str_at(ep, "status_reason"), "") << json::serialize(ep);
  EXPECT_EQ(as_int(ep.at("consecutive_failures")), 0) << json::serialize(ep);
  EXPECT_TRUE(wait_delivered("/a", ids, 5s)) << describe(rx_.requests("/a"));
  EXPECT_EQ(wait_pending(t, id, 0), 0);
  for (const auto& e : ids) {
    auto ev = get_event(t, e);
    for (const auto& d : ev.at("deliveries").as_array())
      EXPECT_EQ(str_at(d, "status"), "delivered") << json::serialize(ev);
  }
  auto st = stats(t, id);
  EXPECT_EQ(as_int(st.at("pending_events")), 0) << json::serialize(st);
  // At least once: each new event reached the receiver only after recovery.
  std::set<std::string> seen;
  for (const auto& r : rx_.requests("/a"))
    seen.insert(r.header("webhook-id").value_or(""));
  EXPECT_EQ(seen.size(), ids.size()) << describe(rx_.requests("/a"));
}

// 4. Probe intervals double: ~300, ~600, ~1200 ms.
TEST_F(breaker, CooldownDoubles) {
  start(breaker_args(fast_retries));
  auto t = new_tenant();
  auto id = add_endpoint(t, "/a", {"user.created"});
  trip(t, id, "/a");
  ASSERT_TRUE(rx_.wait_for_count("/a", 6, 5s)) << describe(rx_.requests("/a"));
  auto rs = rx_.requests("/a");
  int64_t g1 = ms_between(rs[2].at, rs[3].at);
  int64_t g2 = ms_between(rs[3].at, rs[4].at);
  int64_t g3 = ms_between(rs[4].at, rs[5].at);
  std::string gaps = std::to_string(g1) + ", " + std::to_string(g2) + ", " +
                     std::to_string(g3) + "\n" + describe(rs);
  EXPECT_GE(g1, 240) << gaps;
  EXPECT_LE(g1, 800) << gaps;
  EXPECT_GE(g2, 480) << gaps;
  EXPECT_LE(g2, 1100) << gaps;
  EXPECT_GE(g3, 960) << gaps;
  EXPECT_LE(g3, 1900) << gaps;
  EXPECT_GT(g2, g1) << gaps;
  EXPECT_GT(g3, g2) << gaps;
  EXPECT_EQ(str_at(endpoint(t, id), "status"), "disabled");
}

// 5. PUT /enable on a disabled endpoint: active at once, queue drains.
TEST_F(breaker, EnableDrainsWithoutProbe) {
  start(breaker_args(fast_retries, "30s"));
  auto t = new_tenant();
  auto id = add_endpoint(t, "/a", {"user.created"});
  std::vector<std::string> ids{trip(t, id, "/a")};
  ids.push_back(publish(t, "user.created"));
  ids.push_back(publish(t, "user.created"));
  rx_.set("/a", behaviour::always(status_reply(200)));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(rx_.count("/a"), 3u) << describe(rx_.requests("/a"));

  auto r = client().put(endpoint_path(id, "/enable"), bearer(t.token));
  ASSERT_TRUE(is_no_content(r)) << r;
  auto ep = endpoint(t, id);
  EXPECT_EQ(str_at(ep, "status"), "active") << json::serialize(ep);
  EXPECT_EQ(str_at(ep, "status_reason"), "") << json::serialize(ep);
  EXPECT_EQ(as_int(ep.at("consecutive_failures")), 0) << json::serialize(ep);
  EXPECT_TRUE(wait_delivered("/a", ids, 3s)) << describe(rx_.requests("/a"));
  EXPECT_EQ(wait_pending(t, id, 0), 0);
}

// 6. An inactive endpoint is never probed and gets nothing until enabled.
TEST_F(breaker, InactiveIsNeverProbed) {
  start(breaker_args(fast_retries));
  auto t = new_tenant();
  auto id = add_endpoint(t, "/a", {"user.created"});
  auto first = trip(t, id, "/a");
  auto r = client().put(endpoint_path(id, "/disable"), bearer(t.token));
  ASSERT_TRUE(is_no_content(r)) << r;
  auto count = rx_.count("/a");
  auto ep = endpoint(t, id);
  EXPECT_EQ(str_at(ep, "status"), "inactive") << json::serialize(ep);
  EXPECT_EQ(str_at(ep, "status_reason"), "manual") << json::serialize(ep);
  auto later = publish(t, "user.created", 0);

  // Several cool-downs and retry intervals pass: nothing arrives.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(rx_.count("/a"), count) << describe(rx_.requests("/a"));
  EXPECT_EQ(str_at(endpoint(t, id), "status"), "inactive");
  EXPECT_EQ(as_int(stats(t, id).at("pending_events")), 1);

  rx_.set("/a", behaviour::always(status_reply(200)));
  r = client().put(endpoint_path(id, "/enable"), bearer(t.token));
  ASSERT_TRUE(is_no_content(r)) << r;
  EXPECT_TRUE(wait_delivered("/a", {first}, 3s))
    << describe(rx_.requests("/a"));
  std::this_thread::sleep_for(300ms);
  for (const auto& x : rx_.requests("/a"))
    EXPECT_NE(x.header("webhook-id"), later) << describe(rx_.requests("/a"));
  EXPECT_EQ(wait_pending(t, id, 0), 0);
}

// 7. Notices go to subscribers, never to the endpoint they are about.
TEST_F(breaker, NoticesGoToOtherSubscribers) {
  start(breaker_args(fast_retries));
  auto t = new_tenant();
  auto id = add_endpoint(t, "/a", {"*"});
  add_endpoint(t, "/n", {"endpoint.disabled", "endpoint.recovered"});
  rx_.set("/a", behaviour::always(status_reply(500)));
  publish(t, "user.created", 1);
  auto ep = wait_status(t, id, "disabled");
  ASSERT_EQ(str_at(ep, "status"), "disabled") << json::serialize(ep);

  auto has_type = [](const std::vector<received_request>& log,
                     std::string_view path, std::string_view type) {
    for (const auto& r : log) {
      if (r.path != path)
        continue;
      auto body = json::parse(r.body);
      if (str_at(body, "type") == type)
        return true;
    }
    return false;
  };
  ASSERT_TRUE(rx_.wait_until(
    [&](const auto& log) { return has_type(log, "/n", "endpoint.disabled"); },
    3s))
    << describe(rx_.requests());
  rx_.set("/a", behaviour::always(status_reply(200)));
  ASSERT_TRUE(rx_.wait_until(
    [&](const auto& log) { return has_type(log, "/n", "endpoint.recovered"); },
    5s))
    << describe(rx_.requests());
  std::this_thread::sleep_for(200ms);

  int disabled = 0, recovered = 0;
  for (const auto& r : rx_.requests("/n")) {
    auto body = json::parse(r.body);
    auto type = str_at(body, "type");
    const auto& data = body.at("data");
    EXPECT_EQ(as_int(data.at("endpoint_id")), id) << r.body;
    EXPECT_TRUE(data.at("reason").is_string()) << r.body;
    if (type == "endpoint.disabled") {
      ++disabled;
      EXPECT_EQ(str_at(data, "reason"), "consecutive_failures") << r.body;
    } else if (type == "endpoint.recovered") {
      ++recovered;
    } else {
      ADD_FAILURE() << "unexpected notice " << r.body;
    }
  }
  EXPECT_EQ(disabled, 1) << describe(rx_.requests("/n"));
  EXPECT_EQ(recovered, 1) << describe(rx_.requests("/n"));
  for (const auto& r : rx_.requests("/a")) {
    auto type = str_at(json::parse(r.body), "type");
    EXPECT_EQ(type, "user.created") << "notice sent to its own endpoint\n"
                                    << r.body;
  }
}

// 8. kill -9 while disabled: state and queue survive, probing resumes.
TEST_F(breaker, DisabledSurvivesKill9) {
  start(breaker_args(fast_retries, "2s"));
  auto t = new_tenant();
  auto id = add_endpoint(t, "/a", {"user.created"});
  std::vector<std::string> ids{trip(t, id, "/a")};
  ids.push_back(publish(t, "user.created"));
  ids.push_back(publish(t, "user.created"));
  auto before = stats(t, id);
  EXPECT_EQ(as_int(before.at("pending_events")), 3) << json::serialize(before);
  auto count = rx_.count("/a");

  restart_after_kill9();
  auto ep = endpoint(t, id);
  expect_disabled(ep, "consecutive_failures", 3);
  auto after = stats(t, id);
  EXPECT_EQ(as_int(after.at("pending_events")), 3) << json::serialize(after);
  EXPECT_EQ(rx_.count("/a"), count) << describe(rx_.requests("/a"));

  rx_.set("/a", behaviour::always(status_reply(200)));
  ep = wait_status(t, id, "active", 8s);
  EXPECT_EQ(str_at(ep, "status"), "active") << json::serialize(ep);
  EXPECT_TRUE(wait_delivered("/a", ids, 5s)) << describe(rx_.requests("/a"));
  EXPECT_EQ(wait_pending(t, id, 0), 0);
}

} // namespace

namespace {

/// Whether `log` has a notice of `type` about endpoint `id` with `reason`.
bool has_notice(const std::vector<received_request>& log, std::string_view type,
                int64_t id, std::string_view reason) {
  for (const auto& r : log) {
    auto body = json::parse(r.body);
    if (str_at(body.as_object(), "type") != type)
      continue;
    const auto& data = body.at("data").as_object();
    if (as_int(data.at("endpoint_id")) == id &&
        str_at(data, "reason") == reason)
      return true;
  }
  return false;
}

} // namespace

// 9. Exhausted deliveries are announced to subscribers (never to the failing
// endpoint), with the event id and the attempt count.
TEST_F(breaker, ExhaustedDeliveriesAreAnnounced) {
  auto args = breaker_args("100ms,100ms");
  args[4] = "1000"; // --breaker-failures: keep the breaker out of this test
  start(args);
  auto t = new_tenant();
  auto failing = add_endpoint(t, "/fail", {"user.created"});
  add_endpoint(t, "/notices", {"message.attempt.exhausted"});
  rx_.set("/fail", behaviour::always(status_reply(500)));
  auto ev = publish(t, "user.created");
  ASSERT_TRUE(rx_.wait_until(
    [&](const std::vector<received_request>& log) {
      return has_notice(log, "message.attempt.exhausted", failing, "exhausted");
    },
    5s))
    << describe(rx_.requests("/notices"));
  for (const auto& r : rx_.requests("/notices")) {
    auto data = json::parse(r.body).at("data").as_object();
    EXPECT_EQ(str_at(data, "event_id"), ev);
    EXPECT_EQ(as_int(data.at("attempts")), 3); // first attempt + 2 retries
  }
  EXPECT_EQ(rx_.requests("/fail").size(), 3u)
    << describe(rx_.requests("/fail"));
  auto d = get_event(t, ev).at("deliveries").as_array().at(0).as_object();
  EXPECT_EQ(str_at(d, "status"), "failed");
  EXPECT_EQ(str_at(d, "reason"), "exhausted");
}

// 10. A pending delivery older than --retention fails as expired, whether
// its endpoint is failing or disabled, and is announced.
TEST_F(breaker, PendingDeliveriesExpireAfterRetention) {
  auto args = breaker_args("300ms,300ms,300ms,300ms,300ms,300ms", "300ms");
  args.push_back("--retention");
  args.push_back("700ms");
  start(args);
  auto t = new_tenant();
  auto failing = add_endpoint(t, "/fail", {"user.created"});
  add_endpoint(t, "/notices", {"message.attempt.exhausted"});
  rx_.set("/fail", behaviour::always(status_reply(500)));
  auto ev = publish(t, "user.created");
  ASSERT_TRUE(rx_.wait_until(
    [&](const std::vector<received_request>& log) {
      return has_notice(log, "message.attempt.exhausted", failing, "expired");
    },
    5s))
    << describe(rx_.requests("/notices"));
  auto d = get_event(t, ev).at("deliveries").as_array().at(0).as_object();
  EXPECT_EQ(str_at(d, "status"), "failed");
  EXPECT_EQ(str_at(d, "reason"), "expired");
  EXPECT_EQ(wait_pending(t, failing, 0), 0);
  // No attempt starts after the retention window (700 ms after the event,
  // which is at most the first attempt's arrival; 150 ms of slack for
  // delivery of an attempt that started just in time).
  auto attempts = rx_.requests("/fail");
  ASSERT_FALSE(attempts.empty());
  for (const auto& r : attempts)
    EXPECT_LE(r.at - attempts.front().at, 850ms) << describe(attempts);
}
