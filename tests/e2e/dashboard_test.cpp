// The admin dashboard (issue 18): its files under /admin/ui/ and the admin
// routes it uses (a tenant's endpoint list, disable, enable, resend, the
// tenant search and the node's delivery figures). The page itself is tested
// in headless chromium by tests/browser.

#include <string>

#include <gtest/gtest.h>

#include "support/api.hpp"
#include "support/assertions.hpp"
#include "support/fixture.hpp"

using namespace wi_e2e;

namespace {

class dashboard : public server_test {
 protected:
  std::string base(const tenant& t) { return "/admin/v1/tenants/" + t.id; }
};

} // namespace

TEST_F(dashboard, serves_its_page_with_csp_and_revalidation) {
  auto r = client().get("/admin/ui/");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(r.header("Content-Security-Policy"),
            "default-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'; object-src 'none'");
  EXPECT_EQ(r.header("Cache-Control"), "no-cache");
  EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r.header("Referrer-Policy"), "no-referrer");
  EXPECT_NE(r.body.find("<script src=\"app.js\" defer></script>"),
            std::string::npos);
  auto etag = r.header("ETag");
  ASSERT_EQ(etag.size(), 18u) << r; // a quoted 16-digit hash
  auto again = client().get("/admin/ui/", {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304) << again;
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(again.header("ETag"), etag);
  auto other = client().get("/admin/ui/", {{"If-None-Match", "\"x\""}});
  EXPECT_EQ(other.status, 200);
}

TEST_F(dashboard, serves_each_file_with_its_type) {
  for (auto [path, type] :
       {std::pair{"/admin/ui/app.js", "text/javascript; charset=utf-8"},
        std::pair{"/admin/ui/app.css", "text/css; charset=utf-8"},
        std::pair{"/admin/ui/favicon.svg", "image/svg+xml"},
        std::pair{"/admin/ui/index.html", "text/html; charset=utf-8"}}) {
    auto r = client().get(path);
    EXPECT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.header("Content-Type"), type) << r;
    EXPECT_FALSE(r.body.empty()) << path;
  }
  auto redirect = client().get("/admin/ui");
  EXPECT_EQ(redirect.status, 308) << redirect;
  EXPECT_EQ(redirect.header("Location"), "/admin/ui/");
  EXPECT_TRUE(
    is_error(client().get("/admin/ui/nope.js"), 404, "ROUTE_NOT_FOUND"));
  EXPECT_TRUE(
    is_error(client().get("/admin/ui/x/app.js"), 404, "ROUTE_NOT_FOUND"));
  auto put = client().put("/admin/ui/");
  EXPECT_TRUE(is_error(put, 405, "METHOD_NOT_ALLOWED"));
  EXPECT_EQ(put.header("Allow"), "GET");
}

TEST_F(dashboard, lists_a_tenants_endpoints_with_secrets_redacted) {
  auto t = new_tenant();
  auto path = base(t) + "/endpoints";
  EXPECT_TRUE(is_no_content(client().get(path, bearer(admin_token_))));
  auto ep = create_endpoint(client(), t.token);
  create_endpoint(client(), t.token);
  auto r = client().get(path + "?pageSize=1", bearer(admin_token_));
  ASSERT_TRUE(is_success(r, 200));
  ASSERT_EQ(r.data().as_array().size(), 1u) << r;
  const auto& item = r.data().as_array()[0];
  EXPECT_TRUE(is_endpoint(item));
  EXPECT_EQ(item.at("identifier"), ep.at("identifier"));
  EXPECT_EQ(item.at("url"), ep.at("url"));
  EXPECT_EQ(str_at(item, "secret"), "[redacted]");
  EXPECT_EQ(r.json.at("pagination").at("total_items"), 2) << r;
  EXPECT_EQ(r.json.at("pagination").at("has_next"), true) << r;
  EXPECT_TRUE(
    is_field_error(client().get(path + "?pageSize=0", bearer(admin_token_)),
                   422, "VALIDATION_FAILED", "pageSize"));
}

TEST_F(dashboard, endpoint_routes_take_the_admin_token_only) {
  auto t = new_tenant();
  create_endpoint(client(), t.token);
  for (auto [method, suffix] : {std::pair{"GET", "/endpoints"},
                                std::pair{"PUT", "/endpoints/1/disable"},
                                std::pair{"PUT", "/endpoints/1/enable"},
                                std::pair{"POST", "/endpoints/1/resend"}}) {
    SCOPED_TRACE(suffix);
    auto path = base(t) + suffix;
    std::optional<std::string> body;
    if (std::string_view{method} != "GET")
      body = std::string{};
    EXPECT_TRUE(
      is_error(client().request(method, path, {}, body), 401, "UNAUTHORIZED"));
    EXPECT_TRUE(is_error(client().request(method, path, bearer("nope"), body),
                         401, "UNAUTHORIZED"));
    EXPECT_TRUE(is_error(client().request(method, path, bearer(t.token), body),
                         403, "FORBIDDEN"));
  }
}

TEST_F(dashboard, disable_and_enable_change_the_status_the_api_reports) {
  auto t = new_tenant();
  create_endpoint(client(), t.token);
  auto path = base(t) + "/endpoints/1";
  EXPECT_TRUE(
    is_no_content(client().put(path + "/disable", bearer(admin_token_))));
  EXPECT_EQ(str_at(get_endpoint(client(), t.token, 1), "status"), "inactive");
  EXPECT_TRUE(
    is_no_content(client().put(path + "/enable", bearer(admin_token_))));
  EXPECT_EQ(str_at(get_endpoint(client(), t.token, 1), "status"), "active");
}

TEST_F(dashboard, bad_ids_are_404_or_400) {
  auto t = new_tenant();
  create_endpoint(client(), t.token);
  auto admin = bearer(admin_token_);
  EXPECT_TRUE(is_error(client().put(base(t) + "/endpoints/9/disable", admin),
                       404, "NOT_FOUND"));
  EXPECT_TRUE(
    is_field_error(client().put(base(t) + "/endpoints/x/enable", admin), 400,
                   "INVALID_PARAMETER", "eid"));
  EXPECT_TRUE(
    is_field_error(client().get("/admin/v1/tenants/unknown1/endpoints", admin),
                   404, "NOT_FOUND", "id"));
  EXPECT_TRUE(is_field_error(
    client().put("/admin/v1/tenants/unknown1/endpoints/1/enable", admin), 404,
    "NOT_FOUND", "id"));
  EXPECT_TRUE(
    is_field_error(client().get("/admin/v1/tenants/bad-id!/endpoints", admin),
                   400, "INVALID_PARAMETER", "id"));
  // A deactivated tenant: its endpoints cannot be changed (nor listed).
  ASSERT_TRUE(is_success(client().request("DELETE", base(t), admin), 200));
  EXPECT_TRUE(
    is_field_error(client().put(base(t) + "/endpoints/1/enable", admin), 422,
                   "VALIDATION_FAILED", "id"));
  EXPECT_TRUE(is_field_error(client().get(base(t) + "/endpoints", admin), 422,
                             "VALIDATION_FAILED", "id"));
}

TEST_F(dashboard, resend_schedules_a_delivery_of_an_event) {
  auto t = new_tenant();
  create_endpoint(client(), t.token); // subscribes to user.created only
  // An event no endpoint subscribes to: no delivery pending, resendable.
  auto published = client().post(
    "/v1/webhook/events", R"({"event_type":"other.thing","payload":{"n":1}})",
    bearer(t.token));
  ASSERT_TRUE(is_success(published, 202));
  auto event_id = str_at(published.data(), "id");
  auto path = base(t) + "/endpoints/1/resend";
  auto admin = bearer(admin_token_);
  auto r = client().post(path, R"({"event_id":")" + event_id + R"("})", admin);
  ASSERT_TRUE(is_success(r, 202));
  EXPECT_EQ(r.data().at("endpoint"), 1) << r;
  EXPECT_EQ(str_at(r.data(), "status"), "pending") << r;
  // Pending now: a second resend is refused.
  auto again =
    client().post(path, R"({"event_id":")" + event_id + R"("})", admin);
  EXPECT_TRUE(is_error(again, 422, "VALIDATION_FAILED"));
  EXPECT_EQ(again.error().at("field"), "event_id") << again;
  EXPECT_TRUE(
    is_error(client().post(path, R"({"event_id":"evt_unknown"})", admin), 404,
             "NOT_FOUND"));
  EXPECT_TRUE(is_field_error(client().post(path, "{}", admin), 422,
                             "VALIDATION_FAILED", "event_id"));
  EXPECT_TRUE(is_field_error(client().post(path, R"({"event_id":7})", admin),
                             400, "INVALID_PARAMETER", "event_id"));
  EXPECT_TRUE(
    is_field_error(client().post(path, R"({"event_id":"a b"})", admin), 400,
                   "INVALID_PARAMETER", "event_id"));
  EXPECT_TRUE(
    is_error(client().post(path, "nope", admin), 400, "INVALID_JSON"));
}

TEST_F(dashboard, tenant_list_searches_id_and_name) {
  auto a = new_tenant("Alpha Shop");
  new_tenant("beta");
  auto admin = bearer(admin_token_);
  auto r = client().get("/admin/v1/tenants?search=alpha", admin);
  ASSERT_TRUE(is_success(r, 200));
  ASSERT_EQ(r.data().as_array().size(), 1u) << r;
  EXPECT_EQ(str_at(r.data().as_array()[0], "id"), a.id);
  EXPECT_EQ(r.json.at("pagination").at("total_items"), 1) << r;
  auto by_id = client().get("/admin/v1/tenants?search=" + a.id, admin);
  ASSERT_TRUE(is_success(by_id, 200));
  EXPECT_EQ(by_id.data().as_array().size(), 1u) << by_id;
  EXPECT_TRUE(
    is_no_content(client().get("/admin/v1/tenants?search=gamma", admin)));
  EXPECT_TRUE(is_field_error(
    client().get("/admin/v1/tenants?search=" + std::string(101, 'a'), admin),
    422, "VALIDATION_FAILED", "search"));
  // Each tenant shows its attempt totals (the dashboard's success rate).
  EXPECT_EQ(r.data().as_array()[0].at("attempts").at("total"), 0) << r;
}

TEST_F(dashboard, node_view_carries_the_delivery_figures) {
  auto t = new_tenant();
  create_endpoint(client(), t.token);
  auto r = client().get("/admin/v1/node", bearer(admin_token_));
  ASSERT_TRUE(is_success(r, 200));
  const auto& d = r.data();
  EXPECT_EQ(d.at("endpoints").at("total"), 1) << r;
  EXPECT_EQ(d.at("endpoints").at("active"), 1) << r;
  EXPECT_EQ(d.at("attempts").at("success"), 0) << r;
  EXPECT_EQ(d.at("attempts").at("failure"), 0) << r;
  EXPECT_EQ(d.at("deliveries").at("pending"), 0) << r;
}
