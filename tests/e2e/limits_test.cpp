// Per-tenant limits (issue 13) on the real binary: endpoints (422
// ENDPOINT_LIMIT_REACHED), stored payload bytes (429 QUOTA_EXCEEDED, released
// by history pruning), publish rate (429 RATE_LIMITED with Retry-After), the
// admin view and `PATCH /admin/v1/tenants/{id}`, and that all of it survives
// restarts.

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "support/assertions.hpp"
#include "support/fixture.hpp"

using namespace wi_e2e;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr std::string_view events_path = "/v1/webhook/events";

std::string tenant_path(std::string_view id) {
  return "/admin/v1/tenants/" + std::string{id};
}

class limits_base : public server_test {
 protected:
  /// `PATCH /admin/v1/tenants/{id}` with `body`.
  http_response patch(const std::string& id, std::string body) {
    return client().request("PATCH", tenant_path(id), bearer(admin_token_),
                            std::move(body));
  }

  /// The admin view's object `member` (`limits`, `limit_overrides`,
  /// `usage`).
  json::object view(const std::string& id, std::string_view member) {
    auto r = client().get(tenant_path(id), bearer(admin_token_));
    EXPECT_TRUE(is_success(r, 200));
    if (!r.data().is_object() || !r.data().as_object().contains(member))
      return {};
    return r.data().as_object().at(member).as_object();
  }

  http_response create(const tenant& t) {
    return client().post(std::string{endpoints_path},
                         json::serialize(endpoint_request()), bearer(t.token));
  }

  /// Publishes an event whose payload is exactly `payload` (compact JSON).
  http_response publish(const tenant& t, std::string_view payload = "{}",
                        std::string_view key = {}) {
    std::string with_key;
    if (!key.empty())
      with_key = R"(,"idempotency_key":")" + std::string{key} + '"';
    return client().post(events_path,
                         R"({"event_type":"x","payload":)" +
                           std::string{payload} + with_key + "}",
                         bearer(t.token));
  }
};

// -- endpoints ----------------------------------------------------------------

class endpoint_limit : public limits_base {
 protected:
  std::vector<std::string> extra_args() const override {
    return {"--tenant-max-endpoints", "2"};
  }
};

TEST_F(endpoint_limit, is_422_then_raised_per_tenant_and_kept_over_restart) {
  auto t = new_tenant();
  auto other = new_tenant();
  EXPECT_TRUE(is_success(create(t), 201));
  EXPECT_TRUE(is_success(create(t), 201));
  auto third = create(t);
  EXPECT_TRUE(
    is_field_error(third, 422, "ENDPOINT_LIMIT_REACHED", "max_endpoints"));
  EXPECT_FALSE(third.has_header("Retry-After")) << third;
  // Nothing was created, and another tenant has its own quota.
  EXPECT_EQ(as_int(view(t.id, "usage").at("endpoints")), 2);
  EXPECT_TRUE(is_success(create(other), 201));
  EXPECT_EQ(as_int(view(t.id, "limits").at("max_endpoints")), 2);
  EXPECT_TRUE(view(t.id, "limit_overrides").empty());

  // The admin raises this tenant's quota to 3.
  auto raised = patch(t.id, R"({"limits":{"max_endpoints":3}})");
  ASSERT_TRUE(is_success(raised, 200));
  const auto& data = raised.data().as_object();
  EXPECT_EQ(str_at(data, "id"), t.id);
  EXPECT_EQ(as_int(data.at("limits").at("max_endpoints")), 3);
  EXPECT_EQ(json::serialize(data.at("limit_overrides")),
            R"({"max_endpoints":3})");
  EXPECT_EQ(as_int(data.at("usage").at("endpoints")), 2);
  EXPECT_TRUE(is_success(create(t), 201));
  EXPECT_TRUE(
    is_field_error(create(t), 422, "ENDPOINT_LIMIT_REACHED", "max_endpoints"));

  // The override was durable before the answer: it survives a kill -9.
  restart_after_kill9();
  EXPECT_EQ(as_int(view(t.id, "limits").at("max_endpoints")), 3);
  EXPECT_EQ(as_int(view(t.id, "usage").at("endpoints")), 3);
  EXPECT_TRUE(
    is_field_error(create(t), 422, "ENDPOINT_LIMIT_REACHED", "max_endpoints"));

  // null: back to the node default (2), which 3 endpoints already exceed;
  // 0: no limit.
  auto reset = patch(t.id, R"({"limits":{"max_endpoints":null}})");
  ASSERT_TRUE(is_success(reset, 200));
  EXPECT_EQ(as_int(reset.data().as_object().at("limits").at("max_endpoints")),
            2);
  EXPECT_TRUE(
    reset.data().as_object().at("limit_overrides").as_object().empty());
  EXPECT_TRUE(
    is_field_error(create(t), 422, "ENDPOINT_LIMIT_REACHED", "max_endpoints"));
  ASSERT_TRUE(
    is_success(patch(t.id, R"({"limits":{"max_endpoints":0}})"), 200));
  EXPECT_TRUE(is_success(create(t), 201));
  restart_graceful(); // the snapshot path keeps it too
  EXPECT_EQ(as_int(view(t.id, "limits").at("max_endpoints")), 0);
  EXPECT_EQ(as_int(view(t.id, "usage").at("endpoints")), 4);
}

// -- publish rate -------------------------------------------------------------

class rate_limit : public limits_base {
 protected:
  std::vector<std::string> extra_args() const override {
    return {"--tenant-publish-rate", "1", "--tenant-publish-burst", "3"};
  }
};

TEST_F(rate_limit, is_429_with_retry_after_and_recovers_by_itself) {
  auto t = new_tenant();
  auto other = new_tenant();
  // A burst of 3, then one per second: the 4th within the second is refused
  // (three publishes take milliseconds).
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(is_success(publish(t), 202)) << i;
  auto refused = publish(t);
  ASSERT_TRUE(is_field_error(refused, 429, "RATE_LIMITED", "publish_rate"));
  EXPECT_EQ(refused.header("Retry-After"), "1");
  EXPECT_EQ(as_int(refused.error().at("retry_after_seconds")), 1);
  EXPECT_EQ(as_int(view(t.id, "usage").at("publish_tokens")), 0);
  // Other tenants have their own bucket.
  EXPECT_TRUE(is_success(publish(other), 202));
  // After Retry-After, a token is there again.
  std::this_thread::sleep_for(1050ms);
  EXPECT_TRUE(is_success(publish(t), 202));
  // The admin lifts the limit for this tenant alone: no refusal any more.
  ASSERT_TRUE(is_success(patch(t.id, R"({"limits":{"publish_rate":0}})"), 200));
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(is_success(publish(t), 202)) << i;
  EXPECT_FALSE(view(t.id, "usage").contains("publish_tokens"));
}

// -- stored bytes -------------------------------------------------------------

/// A compact JSON payload of exactly `n` bytes (n >= 8).
std::string payload_of(size_t n) {
  return R"({"k":")" + std::string(n - 8, 'x') + R"("})";
}

class storage_limit : public limits_base {
 protected:
  std::vector<std::string> extra_args() const override {
    return {"--tenant-max-stored-bytes", "100",  "--retention", "1s",
            "--prune-interval",          "200ms"};
  }
};

TEST_F(storage_limit, is_429_until_pruning_releases_the_bytes) {
  auto t = new_tenant();
  ASSERT_EQ(payload_of(60).size(), 60u);
  ASSERT_TRUE(is_success(publish(t, payload_of(60)), 202));
  ASSERT_TRUE(is_success(publish(t, payload_of(40)), 202)); // exactly 100
  EXPECT_EQ(as_int(view(t.id, "usage").at("stored_bytes")), 100);
  auto refused = publish(t, payload_of(8));
  ASSERT_TRUE(
    is_field_error(refused, 429, "QUOTA_EXCEEDED", "max_stored_bytes"));
  // The next pruning round (200 ms) is the earliest release.
  EXPECT_EQ(refused.header("Retry-After"), "1");
  EXPECT_EQ(as_int(refused.error().at("retry_after_seconds")), 1);
  // Once older than the retention (1 s), pruning deletes the events and
  // releases their bytes; publishing works again without anyone's help.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (as_int(view(t.id, "usage").at("stored_bytes")) != 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  EXPECT_EQ(as_int(view(t.id, "usage").at("stored_bytes")), 0);
  EXPECT_TRUE(is_success(publish(t, payload_of(100)), 202));
}

class storage_limit_long : public limits_base {
 protected:
  std::vector<std::string> extra_args() const override {
    return {"--tenant-max-stored-bytes", "100"};
  }
};

TEST_F(storage_limit_long, usage_survives_restarts_and_a_raise_admits_more) {
  auto t = new_tenant();
  ASSERT_TRUE(is_success(publish(t, payload_of(70), "order-1"), 202));
  // Replayed from the WAL after a kill -9: the same 70 bytes.
  restart_after_kill9();
  EXPECT_EQ(as_int(view(t.id, "usage").at("stored_bytes")), 70);
  EXPECT_TRUE(is_field_error(publish(t, payload_of(31)), 429, "QUOTA_EXCEEDED",
                             "max_stored_bytes"));
  ASSERT_TRUE(is_success(publish(t, payload_of(30)), 202));
  // Read back from a snapshot after a graceful stop: 100.
  restart_graceful();
  EXPECT_EQ(as_int(view(t.id, "usage").at("stored_bytes")), 100);
  EXPECT_TRUE(is_field_error(publish(t, payload_of(8)), 429, "QUOTA_EXCEEDED",
                             "max_stored_bytes"));
  // A repeat of an idempotency key stores nothing: it still gets its event.
  auto repeat = publish(t, payload_of(70), "order-1");
  ASSERT_TRUE(is_success(repeat, 202));
  EXPECT_TRUE(repeat.data().as_object().at("duplicate").as_bool()) << repeat;
  ASSERT_TRUE(
    is_success(patch(t.id, R"({"limits":{"max_stored_bytes":1000}})"), 200));
  EXPECT_TRUE(is_success(publish(t, payload_of(8)), 202));
  EXPECT_EQ(as_int(view(t.id, "usage").at("stored_bytes")), 108);
}

// -- the admin route ----------------------------------------------------------

class limits_admin : public limits_base {};

TEST_F(limits_admin, view_shows_the_node_defaults) {
  auto t = new_tenant();
  auto limits = view(t.id, "limits");
  EXPECT_EQ(json::serialize(limits),
            R"({"max_endpoints":1000,"max_stored_bytes":1073741824,)"
            R"("publish_rate":100,"publish_burst":200})");
  auto usage = view(t.id, "usage");
  EXPECT_EQ(as_int(usage.at("endpoints")), 0);
  EXPECT_EQ(as_int(usage.at("stored_bytes")), 0);
}

TEST_F(limits_admin, patch_validates_like_the_rest_of_the_api) {
  auto t = new_tenant();
  EXPECT_TRUE(
    is_field_error(patch(t.id, "not json"), 400, "INVALID_JSON", "body"));
  EXPECT_TRUE(
    is_field_error(patch(t.id, "{}"), 422, "VALIDATION_FAILED", "limits"));
  EXPECT_TRUE(is_field_error(patch(t.id, R"({"limits":null})"), 400,
                             "INVALID_PARAMETER", "limits"));
  EXPECT_TRUE(is_field_error(patch(t.id, R"({"limits":{"publish_rate":"9"}})"),
                             400, "INVALID_PARAMETER", "limits.publish_rate"));
  EXPECT_TRUE(is_field_error(patch(t.id, R"({"limits":{"publish_rate":1.5}})"),
                             400, "INVALID_PARAMETER", "limits.publish_rate"));
  EXPECT_TRUE(is_field_error(patch(t.id, R"({"limits":{"max_endpoint":5}})"),
                             422, "VALIDATION_FAILED", "limits.max_endpoint"));
  EXPECT_TRUE(is_field_error(patch(t.id, R"({"limits":{"publish_burst":0}})"),
                             422, "VALIDATION_FAILED", "limits.publish_burst"));
  EXPECT_TRUE(is_field_error(patch(t.id, R"({"limits":{"max_endpoints":-1}})"),
                             422, "VALIDATION_FAILED", "limits.max_endpoints"));
  EXPECT_TRUE(
    is_field_error(patch(t.id, R"({"limits":{"publish_rate":1000001}})"), 422,
                   "VALIDATION_FAILED", "limits.publish_rate"));
  // Type errors come before rule errors.
  EXPECT_TRUE(
    is_field_error(patch(t.id, R"({"limits":{"nope":1,"publish_burst":true}})"),
                   400, "INVALID_PARAMETER", "limits.publish_burst"));
  // None of these changed anything.
  EXPECT_TRUE(view(t.id, "limit_overrides").empty());
  // Unknown and malformed tenants.
  EXPECT_TRUE(
    is_error(patch("AAAAAAAAAAAAAAAA", R"({"limits":{}})"), 404, "NOT_FOUND"));
  // Every limit at once, then an empty change that keeps them.
  auto all = patch(t.id, R"({"limits":{"max_endpoints":7,)"
                         R"("max_stored_bytes":0,"publish_rate":5,)"
                         R"("publish_burst":9}})");
  ASSERT_TRUE(is_success(all, 200));
  auto expected = R"({"max_endpoints":7,"max_stored_bytes":0,)"
                  R"("publish_rate":5,"publish_burst":9})";
  EXPECT_EQ(json::serialize(all.data().as_object().at("limits")), expected);
  EXPECT_EQ(json::serialize(all.data().as_object().at("limit_overrides")),
            expected);
  auto same = patch(t.id, R"({"limits":{}})");
  ASSERT_TRUE(is_success(same, 200));
  EXPECT_EQ(json::serialize(same.data().as_object().at("limits")), expected);
  // A tenant token is refused (admin route).
  EXPECT_TRUE(
    is_error(client().request("PATCH", tenant_path(t.id), bearer(t.token),
                              std::string{R"({"limits":{}})"}),
             403, "FORBIDDEN"));
}

} // namespace
