// Operator routes: node view, tenant inspection (paged list, one tenant, one
// endpoint's internal view), token rotation with a grace period, tenant
// deactivation and purge, snapshots on demand.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "support/assertions.hpp"
#include "support/fixture.hpp"
#include "support/receiver.hpp"
#include "support/time_util.hpp"

using namespace wi_e2e;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr std::string_view tenants_path = "/admin/v1/tenants";
constexpr std::string_view node_path = "/admin/v1/node";

std::string tenant_path(std::string_view id, std::string_view suffix = "") {
  return std::string{tenants_path} + "/" + std::string{id} +
         std::string{suffix};
}

class admin_ops : public server_test {
 protected:
  std::vector<std::string> extra_args() const override {
    // Deliveries to the local receiver, one quick retry.
    return {"--allow-private-targets", "--retry-schedule", "50ms"};
  }

  http_response admin_get(std::string_view path) {
    return client().get(path, bearer(admin_token_));
  }

  /// An admin request with `body` (none if empty).
  http_response admin_request(std::string_view method, std::string_view path,
                              std::string body = {}) {
    std::optional<std::string> b;
    if (!body.empty())
      b = std::move(body);
    return client().request(method, path, bearer(admin_token_), std::move(b));
  }

  /// `GET /admin/v1/tenants/{id}` as the data object; fails the test on
  /// another answer.
  json::object tenant_view(const std::string& id) {
    auto r = admin_get(tenant_path(id));
    EXPECT_TRUE(is_success(r, 200));
    return r.data().is_object() ? r.data().get_object() : json::object{};
  }

  json::object node_view() {
    auto r = admin_get(node_path);
    EXPECT_TRUE(is_success(r, 200));
    return r.data().is_object() ? r.data().get_object() : json::object{};
  }

  /// Status of `GET /v1/webhook/endpoints/list` with `token`.
  long list_status(const std::string& token) {
    return client()
      .get(std::string{endpoints_path} + "/list", bearer(token))
      .status;
  }
};

} // namespace

TEST_F(admin_ops, every_admin_route_needs_the_admin_token) {
  auto t = new_tenant();
  auto other = new_tenant();
  create_endpoint(client(), t.token, endpoint_request());
  struct call {
    std::string method;
    std::string path;
    std::string body;
  };
  std::vector<call> calls = {
    {"GET", std::string{node_path}, ""},
    {"GET", std::string{tenants_path}, ""},
    {"POST", std::string{tenants_path}, R"({"name":"x"})"},
    {"GET", tenant_path(t.id), ""},
    {"GET", tenant_path(t.id, "/endpoints/1"), ""},
    {"POST", tenant_path(t.id, "/tokens"), ""},
    {"DELETE", tenant_path(other.id), ""},
    {"PATCH", tenant_path(other.id), R"({"limits":{"max_endpoints":0}})"},
    {"POST", "/admin/v1/snapshot", ""},
  };
  for (const auto& c : calls) {
    SCOPED_TRACE(c.method + " " + c.path);
    std::optional<std::string> body;
    if (!c.body.empty())
      body = c.body;
    auto none = client().request(c.method, c.path, {}, body);
    EXPECT_TRUE(is_error(none, 401, "UNAUTHORIZED"));
    auto wrong =
      client().request(c.method, c.path, bearer(admin_token_ + "x"), body);
    EXPECT_TRUE(is_error(wrong, 401, "UNAUTHORIZED"));
    auto tenant_token =
      client().request(c.method, c.path, bearer(t.token), body);
    EXPECT_TRUE(is_error(tenant_token, 403, "FORBIDDEN"));
  }
  // Nothing changed: the rotation and the deactivation were refused.
  EXPECT_EQ(list_status(t.token), 200);
  EXPECT_EQ(list_status(other.token), 204);
}

TEST_F(admin_ops, node_reports_identity_log_and_counts) {
  auto n = node_view();
  EXPECT_EQ(str_at(n, "version"), WI_VERSION);
  EXPECT_FALSE(str_at(n, "build").empty());
  auto node_id = str_at(n, "node_id");
  EXPECT_TRUE(node_id.starts_with("node_")) << node_id;
  EXPECT_EQ(str_at(n, "data_dir"),
            std::filesystem::absolute(dir_.path()).string());
  EXPECT_TRUE(parse_rfc3339(str_at(n, "started_at")).has_value());
  EXPECT_GE(as_int(n.at("uptime_seconds")), 0);
  EXPECT_EQ(as_int(n.at("wal").at("last_sequence")), 0);
  EXPECT_EQ(as_int(n.at("tenants").at("registered")), 0);
  auto actors_idle = as_int(n.at("actors_alive"));

  // One registration and one endpoint: two WAL records, one tenant actor.
  auto t = new_tenant();
  create_endpoint(client(), t.token, endpoint_request());
  n = node_view();
  EXPECT_EQ(as_int(n.at("wal").at("last_sequence")), 2);
  EXPECT_EQ(as_int(n.at("wal").at("pending")), 0);
  EXPECT_EQ(as_int(n.at("tenants").at("registered")), 1);
  EXPECT_EQ(as_int(n.at("tenants").at("active")), 1);
  EXPECT_EQ(as_int(n.at("tenants").at("loaded")), 1);
  EXPECT_EQ(as_int(n.at("actors_alive")), actors_idle + 1);
  EXPECT_EQ(as_int(n.at("deliveries").at("in_flight")), 0);
  EXPECT_EQ(as_int(n.at("deliveries").at("queued")), 0);

  // A graceful stop snapshots everything; the node id stays.
  restart_graceful();
  n = node_view();
  EXPECT_EQ(str_at(n, "node_id"), node_id);
  EXPECT_EQ(as_int(n.at("wal").at("last_sequence")), 2);
  EXPECT_EQ(as_int(n.at("wal").at("last_snapshot_sequence")), 2);
  // Warm-up loads every stored tenant right after readiness.
  for (int i = 0; i < 100 && as_int(n.at("tenants").at("loaded")) != 1; ++i) {
    std::this_thread::sleep_for(50ms);
    n = node_view();
  }
  EXPECT_EQ(as_int(n.at("tenants").at("loaded")), 1);
}

TEST_F(admin_ops, snapshot_route_covers_everything_now) {
  auto t = new_tenant();
  create_endpoint(client(), t.token, endpoint_request());
  auto r = admin_request("POST", "/admin/v1/snapshot");
  ASSERT_TRUE(is_success(r, 200));
  // The registry and the one tenant.
  EXPECT_EQ(as_int(r.data().at("snapshots")), 2) << r;
  auto n = node_view();
  EXPECT_EQ(as_int(n.at("wal").at("last_snapshot_sequence")),
            as_int(n.at("wal").at("last_sequence")));
  // Nothing new to cover.
  r = admin_request("POST", "/admin/v1/snapshot");
  ASSERT_TRUE(is_success(r, 200));
  EXPECT_EQ(as_int(r.data().at("snapshots")), 0) << r;
}

TEST_F(admin_ops, tenant_view_counts_endpoints_by_status) {
  auto t = new_tenant("acme");
  for (int i = 0; i < 3; ++i)
    create_endpoint(client(), t.token, endpoint_request());
  ASSERT_TRUE(
    is_no_content(client().put(endpoint_path(2, "/disable"), bearer(t.token))));
  auto v = tenant_view(t.id);
  EXPECT_EQ(str_at(v, "id"), t.id);
  EXPECT_EQ(str_at(v, "name"), "acme");
  EXPECT_EQ(v.at("active"), json::value(true));
  EXPECT_EQ(v.at("loaded"), json::value(true));
  EXPECT_FALSE(v.contains("token"));
  EXPECT_EQ(v.at("endpoints"),
            json::parse(R"({"active":2,"disabled":0,"inactive":1,"total":3})"));
  EXPECT_EQ(as_int(v.at("events")), 0);
  EXPECT_EQ(as_int(v.at("pending_deliveries")), 0);
  EXPECT_GE(as_int(v.at("mailbox_depth")), 0);
  auto last = parse_rfc3339(str_at(v, "last_mutation_at"));
  ASSERT_TRUE(last.has_value());

  // The same after a crash, served from the recovered state.
  restart_after_kill9();
  auto after = tenant_view(t.id);
  EXPECT_EQ(after.at("loaded"), json::value(true)); // warm-up or this view
  EXPECT_EQ(after.at("endpoints"), v.at("endpoints"));
  EXPECT_EQ(after.at("last_mutation_at"), v.at("last_mutation_at"));

  EXPECT_TRUE(is_field_error(admin_get(tenant_path("Unknown0000000000")), 404,
                             "NOT_FOUND", "id"));
  EXPECT_TRUE(is_field_error(admin_get(tenant_path("not-an-id")), 400,
                             "INVALID_PARAMETER", "id"));
}

TEST_F(admin_ops, tenant_list_is_paged_by_id) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(new_tenant().id);
  std::sort(ids.begin(), ids.end());
  auto r = admin_get(std::string{tenants_path} + "?page=1&pageSize=2");
  ASSERT_TRUE(is_success(r, 200));
  ASSERT_EQ(r.data().as_array().size(), 2u) << r;
  EXPECT_EQ(str_at(r.data().as_array()[0], "id"), ids[0]);
  EXPECT_EQ(str_at(r.data().as_array()[1], "id"), ids[1]);
  EXPECT_EQ(as_int(r.json.at("pagination").at("total_items")), 3);
  EXPECT_EQ(r.json.at("pagination").at("has_next"), json::value(true));
  r = admin_get(std::string{tenants_path} + "?page=2&pageSize=2");
  ASSERT_TRUE(is_success(r, 200));
  ASSERT_EQ(r.data().as_array().size(), 1u) << r;
  EXPECT_EQ(str_at(r.data().as_array()[0], "id"), ids[2]);
  EXPECT_TRUE(
    is_no_content(admin_get(std::string{tenants_path} + "?page=3&pageSize=2")));
  EXPECT_TRUE(
    is_field_error(admin_get(std::string{tenants_path} + "?pageSize=0"), 422,
                   "VALIDATION_FAILED", "pageSize"));
  EXPECT_TRUE(is_field_error(admin_get(std::string{tenants_path} + "?page=x"),
                             400, "INVALID_PARAMETER", "page"));
}

TEST_F(admin_ops, endpoint_internal_view_has_breaker_and_recent_attempts) {
  receiver rx;
  rx.set("/hook", behaviour::always(reply{500, 0ms, {}, "nope"}));
  auto t = new_tenant();
  std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  create_endpoint(client(), t.token,
                  endpoint_request(rx.url("/hook"), secret, {"*"}));
  auto pub =
    client().post("/v1/webhook/events",
                  R"({"event_type":"a.b","payload":{"n":1}})", bearer(t.token));
  ASSERT_TRUE(is_success(pub, 202));
  // First attempt and the one retry (50 ms later) both fail.
  ASSERT_TRUE(rx.wait_for_count("/hook", 2, 10s));
  json::object v;
  for (int i = 0; i < 100; ++i) { // until the second outcome is recorded
    auto r = admin_get(tenant_path(t.id, "/endpoints/1"));
    ASSERT_TRUE(is_success(r, 200));
    v = r.data().get_object();
    if (as_int(v.at("total_attempts")) == 2)
      break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(as_int(v.at("total_attempts")), 2);
  EXPECT_EQ(as_int(v.at("failed_attempts")), 2);
  EXPECT_EQ(as_int(v.at("consecutive_failures")), 2);
  EXPECT_EQ(as_int(v.at("pending_events")), 0); // exhausted
  EXPECT_EQ(str_at(v.at("endpoint"), "secret"), "[redacted]");
  EXPECT_EQ(json::serialize(v).find(secret), std::string::npos)
    << json::serialize(v);
  const auto& attempts = v.at("recent_attempts").as_array();
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(as_int(attempts[0].at("attempt")), 2); // newest first
  EXPECT_EQ(as_int(attempts[1].at("attempt")), 1);
  EXPECT_EQ(as_int(attempts[0].at("status_code")), 500);
  EXPECT_EQ(str_at(attempts[0], "response_excerpt"), "nope");

  EXPECT_TRUE(is_field_error(admin_get(tenant_path(t.id, "/endpoints/9")), 404,
                             "NOT_FOUND", "eid"));
  EXPECT_TRUE(is_field_error(admin_get(tenant_path(t.id, "/endpoints/x")), 400,
                             "INVALID_PARAMETER", "eid"));
  // The tenant's own view is unchanged: its secret in clear.
  EXPECT_EQ(str_at(get_endpoint(client(), t.token, 1), "secret"), secret);
}

TEST_F(admin_ops, rotated_token_replaces_the_old_one_after_its_grace) {
  auto t = new_tenant();
  auto r = admin_request("POST", tenant_path(t.id, "/tokens"),
                         R"({"grace_seconds":2})");
  ASSERT_TRUE(is_success(r, 201));
  auto fresh = str_at(r.data(), "token");
  EXPECT_TRUE(fresh.starts_with("wi_" + t.id + "_")) << r;
  EXPECT_NE(fresh, t.token);
  auto issued = parse_rfc3339(str_at(r.data(), "issued_at"));
  auto until = parse_rfc3339(str_at(r.data(), "previous_token_valid_until"));
  ASSERT_TRUE(issued && until);
  EXPECT_EQ(until->seconds - issued->seconds, 2) << r;
  // Both work within the grace period (issued_at is the whole second of the
  // rotation, so at least one more second of grace remains here), then only
  // the new one: the old token is refused from `until` on (the server's and
  // this test's clocks are the same), not before, and not much later.
  EXPECT_EQ(list_status(fresh), 204);
  EXPECT_EQ(list_status(t.token), 204) << "the old token failed in its grace";
  auto unix_now = [] {
    return std::chrono::duration<double>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
  };
  auto end = static_cast<double>(until->seconds);
  std::optional<double> refused_at;
  while (!refused_at && unix_now() < end + 3) {
    auto before = unix_now();
    auto status = list_status(t.token);
    if (status == 401) {
      refused_at = unix_now();
    } else {
      ASSERT_EQ(status, 204);
      EXPECT_LT(before, end) << "the old token outlived its grace";
      std::this_thread::sleep_for(50ms);
    }
  }
  ASSERT_TRUE(refused_at) << "the old token outlived its 2 s grace by 3 s";
  EXPECT_GE(*refused_at, end) << "the old token stopped before its grace";
  EXPECT_EQ(list_status(fresh), 204);

  // A rotation without grace ends the previous token at once; it survives
  // a crash.
  r = admin_request("POST", tenant_path(t.id, "/tokens"),
                    R"({"grace_seconds":0})");
  ASSERT_TRUE(is_success(r, 201));
  auto third = str_at(r.data(), "token");
  EXPECT_EQ(list_status(fresh), 401);
  restart_after_kill9();
  EXPECT_EQ(list_status(third), 204);
  EXPECT_EQ(list_status(fresh), 401);
  EXPECT_EQ(list_status(t.token), 401);
}

TEST_F(admin_ops, default_grace_keeps_the_old_token_across_a_restart) {
  auto t = new_tenant();
  auto r = admin_request("POST", tenant_path(t.id, "/tokens"));
  ASSERT_TRUE(is_success(r, 201));
  auto issued = parse_rfc3339(str_at(r.data(), "issued_at"));
  auto until = parse_rfc3339(str_at(r.data(), "previous_token_valid_until"));
  ASSERT_TRUE(issued && until);
  EXPECT_EQ(until->seconds - issued->seconds, 24 * 3600) << r;
  auto fresh = str_at(r.data(), "token");
  restart_after_kill9();
  EXPECT_EQ(list_status(t.token), 204);
  EXPECT_EQ(list_status(fresh), 204);
  auto v = tenant_view(t.id);
  EXPECT_EQ(v.at("previous_token_valid_until"),
            r.data().at("previous_token_valid_until"));
}

TEST_F(admin_ops, token_rotation_input_is_validated) {
  auto t = new_tenant();
  auto path = tenant_path(t.id, "/tokens");
  EXPECT_TRUE(
    is_field_error(admin_request("POST", path, R"({"grace_seconds":-1})"), 422,
                   "VALIDATION_FAILED", "grace_seconds"));
  EXPECT_TRUE(
    is_field_error(admin_request("POST", path, R"({"grace_seconds":604801})"),
                   422, "VALIDATION_FAILED", "grace_seconds"));
  EXPECT_TRUE(
    is_field_error(admin_request("POST", path, R"({"grace_seconds":"1h"})"),
                   400, "INVALID_PARAMETER", "grace_seconds"));
  EXPECT_TRUE(is_error(admin_request("POST", path, "{"), 400, "INVALID_JSON"));
  EXPECT_TRUE(is_field_error(
    admin_request("POST", tenant_path("Nobody00000000000", "/tokens")), 404,
    "NOT_FOUND", "id"));
  // None of them rotated anything.
  EXPECT_EQ(list_status(t.token), 204);
  auto r = admin_request("POST", path, R"({"grace_seconds":604800})");
  EXPECT_TRUE(is_success(r, 201));
}

TEST_F(admin_ops, deactivated_tenant_is_refused_and_keeps_its_data) {
  auto t = new_tenant();
  create_endpoint(client(), t.token, endpoint_request());
  auto r = admin_request("DELETE", tenant_path(t.id));
  ASSERT_TRUE(is_success(r, 200));
  EXPECT_EQ(r.data().at("active"), json::value(false));
  EXPECT_TRUE(parse_rfc3339(str_at(r.data(), "deactivated_at")).has_value());
  EXPECT_EQ(as_int(r.data().at("endpoints").at("total")), 1);
  EXPECT_EQ(list_status(t.token), 401);
  EXPECT_TRUE(is_error(client().get(endpoint_path(1), bearer(t.token)), 401,
                       "UNAUTHORIZED"));
  // Idempotent; rotation refused; the endpoint is still there for admins.
  EXPECT_TRUE(is_success(admin_request("DELETE", tenant_path(t.id)), 200));
  EXPECT_TRUE(
    is_field_error(admin_request("POST", tenant_path(t.id, "/tokens")), 422,
                   "VALIDATION_FAILED", "id"));
  EXPECT_TRUE(is_success(admin_get(tenant_path(t.id, "/endpoints/1")), 200));

  restart_after_kill9();
  EXPECT_EQ(list_status(t.token), 401);
  auto v = tenant_view(t.id);
  EXPECT_EQ(v.at("active"), json::value(false));
  EXPECT_EQ(as_int(v.at("endpoints").at("total")), 1);
  EXPECT_EQ(as_int(node_view().at("tenants").at("active")), 0);
}

TEST_F(admin_ops, purged_tenant_is_gone_for_good) {
  auto t = new_tenant();
  auto keep = new_tenant();
  create_endpoint(client(), t.token, endpoint_request());
  create_endpoint(client(), keep.token, endpoint_request());
  EXPECT_TRUE(
    is_field_error(admin_request("DELETE", tenant_path(t.id) + "?purge=1"), 400,
                   "INVALID_PARAMETER", "purge"));
  EXPECT_EQ(list_status(t.token), 200); // the bad request changed nothing
  auto r = admin_request("DELETE", tenant_path(t.id) + "?purge=true");
  ASSERT_TRUE(is_success(r, 200));
  EXPECT_EQ(r.data().at("active"), json::value(false));
  EXPECT_EQ(list_status(t.token), 401);
  EXPECT_TRUE(
    is_field_error(admin_get(tenant_path(t.id)), 404, "NOT_FOUND", "id"));
  EXPECT_TRUE(is_field_error(admin_request("DELETE", tenant_path(t.id)), 404,
                             "NOT_FOUND", "id"));
  auto list = admin_get(tenants_path);
  ASSERT_TRUE(is_success(list, 200));
  ASSERT_EQ(list.data().as_array().size(), 1u) << list;
  EXPECT_EQ(str_at(list.data().as_array()[0], "id"), keep.id);

  // Gone after a crash too, and after a snapshot and another restart; the
  // other tenant is untouched.
  restart_after_kill9();
  EXPECT_EQ(list_status(t.token), 401);
  EXPECT_TRUE(
    is_field_error(admin_get(tenant_path(t.id)), 404, "NOT_FOUND", "id"));
  EXPECT_TRUE(is_success(admin_request("POST", "/admin/v1/snapshot"), 200));
  restart_graceful();
  EXPECT_TRUE(
    is_field_error(admin_get(tenant_path(t.id)), 404, "NOT_FOUND", "id"));
  EXPECT_EQ(as_int(node_view().at("tenants").at("registered")), 1);
  EXPECT_EQ(list_status(keep.token), 200);
}
