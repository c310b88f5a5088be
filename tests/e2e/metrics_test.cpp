// GET /metrics: Prometheus text format, admin-protected unless
// --metrics-public, route templates as labels, counters and gauges that
// follow what the server did.

#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "support/assertions.hpp"
#include "support/fixture.hpp"
#include "support/receiver.hpp"

using namespace wi_e2e;
using namespace std::chrono_literals;

namespace {

/// One scrape: series (name with its labels, as printed) -> value.
using samples = std::map<std::string, double>;

/// Parses the text exposition format: `# HELP` / `# TYPE` lines and
/// `series value` lines. Adds a failure for any other line.
samples parse_metrics(const std::string& text) {
  samples result;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.starts_with("# HELP ") ||
        line.starts_with("# TYPE "))
      continue;
    auto space = line.rfind(' ');
    if (space == std::string::npos || space == 0) {
      ADD_FAILURE() << "malformed line: " << line;
      continue;
    }
    try {
      result[line.substr(0, space)] = std::stod(line.substr(space + 1));
    } catch (const std::exception&) {
      ADD_FAILURE() << "malformed value: " << line;
    }
  }
  return result;
}

/// The value of `series`, 0 if absent (a counter not yet incremented).
double value(const samples& s, const std::string& series) {
  auto i = s.find(series);
  return i == s.end() ? 0 : i->second;
}

std::string requests(std::string_view method, std::string_view route,
                     int status) {
  return "webhook_ingress_http_requests_total{method=\"" + std::string{method} +
         "\",route=\"" + std::string{route} + "\",status=\"" +
         std::to_string(status) + "\"}";
}

class metrics_test : public server_test {
 protected:
  std::vector<std::string> extra_args() const override {
    return {"--allow-private-targets", "--retry-schedule", "50ms",
            "--breaker-failures", "2"};
  }

  samples scrape() {
    auto r = client().get("/metrics", bearer(admin_token_));
    EXPECT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.header("content-type"),
              "text/plain; version=0.0.4; charset=utf-8");
    return parse_metrics(r.body);
  }

  /// Scrapes until `pred` holds (deliveries end asynchronously), at most
  /// 10 s; returns the last scrape.
  template <class Pred>
  samples scrape_until(Pred pred) {
    auto s = scrape();
    for (int i = 0; i < 200 && !pred(s); ++i) {
      std::this_thread::sleep_for(50ms);
      s = scrape();
    }
    return s;
  }
};

class public_metrics_test : public server_test {
 protected:
  std::vector<std::string> extra_args() const override {
    return {"--metrics-public"};
  }
};

} // namespace

TEST_F(metrics_test, needs_the_admin_token) {
  auto t = new_tenant();
  EXPECT_TRUE(is_error(client().get("/metrics"), 401, "UNAUTHORIZED"));
  EXPECT_TRUE(is_error(client().get("/metrics", bearer(admin_token_ + "x")),
                       401, "UNAUTHORIZED"));
  EXPECT_TRUE(
    is_error(client().get("/metrics", bearer(t.token)), 403, "FORBIDDEN"));
}

TEST_F(public_metrics_test, serves_without_a_token_with_the_flag) {
  auto r = client().get("/metrics");
  ASSERT_EQ(r.status, 200) << r;
  auto s = parse_metrics(r.body);
  EXPECT_EQ(value(s, "webhook_ingress_tenants{state=\"active\"}"), 0);
}

TEST_F(metrics_test, request_and_wal_counters_follow_the_requests) {
  auto before = scrape();
  auto t = new_tenant();
  create_endpoint(client(), t.token, endpoint_request());
  EXPECT_EQ(client().get(endpoint_path(1), bearer(t.token)).status, 200);
  EXPECT_EQ(client().get(endpoint_path(7), bearer(t.token)).status, 404);
  EXPECT_EQ(client().get(endpoint_path(7), bearer(t.token)).status, 404);
  auto after = scrape();
  auto delta = [&](const std::string& series) {
    return value(after, series) - value(before, series);
  };
  EXPECT_EQ(delta(requests("POST", "/admin/v1/tenants", 201)), 1);
  EXPECT_EQ(delta(requests("POST", "/v1/webhook/endpoints", 201)), 1);
  EXPECT_EQ(delta(requests("GET", "/v1/webhook/endpoints/{id}", 200)), 1);
  EXPECT_EQ(delta(requests("GET", "/v1/webhook/endpoints/{id}", 404)), 2);
  // The first scrape itself was answered before the second one.
  EXPECT_EQ(delta(requests("GET", "/metrics", 200)), 1);
  EXPECT_EQ(delta("webhook_ingress_http_request_duration_seconds_count{"
                  "route=\"/v1/webhook/endpoints/{id}\"}"),
            3);
  // Two records (tenant, endpoint), each its own synced batch here.
  EXPECT_EQ(delta("webhook_ingress_wal_batch_records_sum"), 2);
  EXPECT_EQ(delta("webhook_ingress_wal_sync_seconds_count"),
            delta("webhook_ingress_wal_batch_records_count"));
  EXPECT_GE(delta("webhook_ingress_wal_batch_records_count"), 1);
  EXPECT_EQ(value(after, "webhook_ingress_tenants{state=\"active\"}"), 1);
  EXPECT_EQ(value(after, "webhook_ingress_endpoints{status=\"active\"}"), 1);
  // Route labels are templates: no raw id appears.
  for (const auto& [series, v] : after)
    EXPECT_EQ(series.find("/endpoints/7"), std::string::npos) << series;
}

TEST_F(metrics_test, state_gauges_follow_status_changes_and_restarts) {
  auto t = new_tenant();
  create_endpoint(client(), t.token, endpoint_request());
  create_endpoint(client(), t.token, endpoint_request());
  ASSERT_TRUE(
    is_no_content(client().put(endpoint_path(2, "/disable"), bearer(t.token))));
  auto s = scrape();
  EXPECT_EQ(value(s, "webhook_ingress_endpoints{status=\"active\"}"), 1);
  EXPECT_EQ(value(s, "webhook_ingress_endpoints{status=\"inactive\"}"), 1);
  // Recovered state counts the same once warm-up decoded the tenant.
  restart_after_kill9();
  s = scrape_until([](const samples& x) {
    return value(x, "webhook_ingress_endpoints{status=\"active\"}") == 1;
  });
  EXPECT_EQ(value(s, "webhook_ingress_endpoints{status=\"active\"}"), 1);
  EXPECT_EQ(value(s, "webhook_ingress_endpoints{status=\"inactive\"}"), 1);
  EXPECT_EQ(value(s, "webhook_ingress_tenants{state=\"active\"}"), 1);
  // Using the tenant does not count its endpoints again.
  EXPECT_EQ(client().get(endpoint_path(1), bearer(t.token)).status, 200);
  s = scrape();
  EXPECT_EQ(value(s, "webhook_ingress_endpoints{status=\"active\"}"), 1);
  // Deactivating and purging the tenant takes its endpoints away.
  auto r =
    client().request("DELETE", "/admin/v1/tenants/" + t.id + "?purge=true",
                     bearer(admin_token_));
  ASSERT_TRUE(is_success(r, 200));
  // The purged tenant's actor leaves the gauges when it has exited, which
  // may come just after the answer.
  s = scrape_until([](const samples& x) {
    return value(x, "webhook_ingress_endpoints{status=\"active\"}") == 0 &&
           value(x, "webhook_ingress_endpoints{status=\"inactive\"}") == 0;
  });
  EXPECT_EQ(value(s, "webhook_ingress_endpoints{status=\"active\"}"), 0);
  EXPECT_EQ(value(s, "webhook_ingress_endpoints{status=\"inactive\"}"), 0);
  EXPECT_EQ(value(s, "webhook_ingress_tenants{state=\"active\"}"), 0);
}

TEST_F(metrics_test, delivery_and_breaker_counters_follow_the_engine) {
  receiver rx;
  rx.set("/ok", behaviour::always(reply{}));
  rx.set("/down", behaviour::always(reply{500, 0ms, {}, "down"}));
  auto t = new_tenant();
  create_endpoint(client(), t.token,
                  endpoint_request(rx.url("/ok"), "s3cr3t-value", {"ok"}));
  create_endpoint(client(), t.token,
                  endpoint_request(rx.url("/down"), "s3cr3t-value", {"down"}));
  auto publish = [&](std::string_view type) {
    auto r = client().post("/v1/webhook/events",
                           R"({"event_type":")" + std::string{type} +
                             R"(","payload":{}})",
                           bearer(t.token));
    EXPECT_TRUE(is_success(r, 202));
  };
  publish("ok");
  auto s = scrape_until([](const samples& x) {
    return value(
             x, "webhook_ingress_deliveries_total{outcome=\"delivered\"}") == 1;
  });
  EXPECT_EQ(value(s, "webhook_ingress_deliveries_total{outcome=\"delivered\"}"),
            1);
  EXPECT_EQ(
    value(s, "webhook_ingress_delivery_attempts_total{outcome=\"success\"}"),
    1);
  EXPECT_EQ(value(s, "webhook_ingress_deliveries{state=\"pending\"}"), 0);
  EXPECT_EQ(value(s, "webhook_ingress_delivery_duration_seconds_count"), 1);

  // Two failed attempts (first + one retry) trip the breaker at 2 and
  // exhaust the delivery.
  publish("down");
  s = scrape_until([](const samples& x) {
    return value(x,
                 "webhook_ingress_deliveries_total{outcome=\"exhausted\"}") ==
             1 &&
           value(x, "webhook_ingress_breaker_transitions_total{to="
                    "\"disabled\"}") == 1;
  });
  EXPECT_EQ(
    value(s, "webhook_ingress_delivery_attempts_total{outcome=\"failure\"}"),
    2);
  EXPECT_EQ(value(s, "webhook_ingress_deliveries_total{outcome=\"exhausted\"}"),
            1);
  EXPECT_EQ(
    value(s, "webhook_ingress_breaker_transitions_total{to=\"disabled\"}"), 1);
  EXPECT_EQ(value(s, "webhook_ingress_endpoints{status=\"disabled\"}"), 1);
  EXPECT_EQ(value(s, "webhook_ingress_endpoints{status=\"active\"}"), 1);
  EXPECT_EQ(value(s, "webhook_ingress_deliveries{state=\"pending\"}"), 0);
  EXPECT_EQ(value(s, "webhook_ingress_deliveries{state=\"in_flight\"}"), 0);
}
