#include "http/routes.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "webhook_ingress/error.hpp"

using namespace wi::http;
using wi::errc;

namespace {

constexpr auto get = http_method::get;
constexpr auto post = http_method::post;
constexpr auto put = http_method::put;

route_match must_match(http_method m, std::string_view path) {
  auto res = match_route(m, path);
  EXPECT_TRUE(res) << path << ": " << wi::text_of(res.error());
  return res ? *res : route_match{};
}

errc error_of(http_method m, std::string_view path) {
  auto res = match_route(m, path);
  EXPECT_FALSE(res) << path;
  return res ? errc::none : wi::code_of(res.error());
}

} // namespace

TEST(parse_method, known_and_unknown) {
  EXPECT_EQ(parse_method("GET"), http_method::get);
  EXPECT_EQ(parse_method("POST"), http_method::post);
  EXPECT_EQ(parse_method("PUT"), http_method::put);
  EXPECT_EQ(parse_method("DELETE"), http_method::del);
  EXPECT_EQ(parse_method("PATCH"), http_method::patch);
  EXPECT_EQ(parse_method("HEAD"), http_method::head);
  EXPECT_EQ(parse_method("OPTIONS"), http_method::options);
  EXPECT_EQ(parse_method("get"), http_method::other);
  EXPECT_EQ(parse_method(""), http_method::other);
  EXPECT_EQ(parse_method("TRACE"), http_method::other);
  EXPECT_EQ(to_string(http_method::del), "DELETE");
}

TEST(all_routes, table_is_complete) {
  const auto& routes = all_routes();
  EXPECT_EQ(routes.size(), 40u);
  std::set<std::pair<int, std::string>> seen;
  for (const auto& r : routes) {
    EXPECT_TRUE(
      seen.emplace(static_cast<int>(r.method), std::string{r.path_template})
        .second)
      << r.path_template;
    // Every template matches itself (with {id} as a literal segment).
    auto res = match_route(r.method, r.path_template);
    ASSERT_TRUE(res) << r.path_template;
    EXPECT_EQ(res->id, r.id);
    EXPECT_EQ(res->path_template, r.path_template);
  }
}

TEST(match_route, batch_publish_is_a_literal_beside_events_id) {
  // Issue 19: the literal segment wins over `{id}` for POST; GET of it is
  // not an event (ids start with `evt_`): 405 naming POST.
  EXPECT_EQ(must_match(post, "/v1/webhook/events/batch").id,
            route_id::publish_batch);
  EXPECT_EQ(must_match(get, "/v1/webhook/events/evt_1").id,
            route_id::get_event);
  auto res = match_route(get, "/v1/webhook/events/batch");
  ASSERT_FALSE(res);
  EXPECT_EQ(wi::code_of(res.error()), errc::method_not_allowed);
  EXPECT_EQ(allowed_methods("/v1/webhook/events/batch"), "POST");
}

TEST(match_route, static_routes) {
  EXPECT_EQ(must_match(get, "/healthz").id, route_id::healthz);
  EXPECT_EQ(must_match(get, "/readyz").id, route_id::readyz);
  EXPECT_EQ(must_match(post, "/admin/v1/tenants").id,
            route_id::admin_create_tenant);
  EXPECT_EQ(must_match(get, "/admin/v1/tenants").id,
            route_id::admin_list_tenants);
  EXPECT_EQ(must_match(post, "/v1/webhook/endpoints").id,
            route_id::create_endpoint);
  auto list = must_match(get, "/v1/webhook/endpoints/list");
  EXPECT_EQ(list.id, route_id::list_endpoints);
  EXPECT_EQ(list.path_template, "/v1/webhook/endpoints/list");
  EXPECT_EQ(list.id_param, "");
  EXPECT_EQ(must_match(get, "/healthz").id_param, "");
}

TEST(match_route, admin_routes) {
  constexpr auto del = http_method::del;
  constexpr auto patch = http_method::patch;
  EXPECT_EQ(must_match(get, "/admin/v1/node").id, route_id::admin_node);
  EXPECT_EQ(must_match(get, "/admin/v1/cluster").id, route_id::admin_cluster);
  auto drain = must_match(post, "/admin/v1/cluster/nodes/n-1/drain");
  EXPECT_EQ(drain.id, route_id::admin_drain_node);
  EXPECT_EQ(drain.id_param, "n-1");
  EXPECT_EQ(must_match(post, "/admin/v1/snapshot").id,
            route_id::admin_snapshot);
  auto t = must_match(get, "/admin/v1/tenants/abc");
  EXPECT_EQ(t.id, route_id::admin_get_tenant);
  EXPECT_EQ(t.id_param, "abc");
  EXPECT_EQ(must_match(del, "/admin/v1/tenants/abc").id,
            route_id::admin_deactivate_tenant);
  auto tok = must_match(post, "/admin/v1/tenants/abc/tokens");
  EXPECT_EQ(tok.id, route_id::admin_rotate_token);
  EXPECT_EQ(tok.id_param, "abc");
  auto ep = must_match(get, "/admin/v1/tenants/abc/endpoints/12");
  EXPECT_EQ(ep.id, route_id::admin_get_endpoint);
  EXPECT_EQ(ep.path_template, "/admin/v1/tenants/{id}/endpoints/{eid}");
  EXPECT_EQ(ep.id_param, "abc");
  EXPECT_EQ(ep.sub_param, "12");
  EXPECT_EQ(must_match(patch, "/admin/v1/tenants/abc").id,
            route_id::admin_patch_tenant);
  EXPECT_EQ(allowed_methods("/admin/v1/tenants/abc"), "GET, DELETE, PATCH");
  EXPECT_EQ(error_of(put, "/admin/v1/tenants/abc"), errc::method_not_allowed);
}

TEST(match_route, id_routes) {
  auto x = must_match(get, "/v1/webhook/endpoints/42");
  EXPECT_EQ(x.id, route_id::get_endpoint);
  EXPECT_EQ(x.path_template, "/v1/webhook/endpoints/{id}");
  EXPECT_EQ(x.id_param, "42");
  x = must_match(put, "/v1/webhook/endpoints/7/disable");
  EXPECT_EQ(x.id, route_id::disable_endpoint);
  EXPECT_EQ(x.id_param, "7");
  x = must_match(put, "/v1/webhook/endpoints/8/enable");
  EXPECT_EQ(x.id, route_id::enable_endpoint);
  EXPECT_EQ(x.id_param, "8");
  x = must_match(put, "/v1/webhook/endpoints/9/statistics");
  EXPECT_EQ(x.id, route_id::get_statistics);
  EXPECT_EQ(x.id_param, "9");
  x = must_match(get, "/v1/webhook/endpoints/10/statistics");
  EXPECT_EQ(x.id, route_id::get_statistics);
  EXPECT_EQ(x.id_param, "10");
  x = must_match(get, "/v1/webhook/events");
  EXPECT_EQ(x.id, route_id::list_events);
  x = must_match(get, "/v1/webhook/events/evt_1/attempts");
  EXPECT_EQ(x.id, route_id::event_attempts);
  EXPECT_EQ(x.id_param, "evt_1");
  x = must_match(post, "/v1/webhook/endpoints/11/recover");
  EXPECT_EQ(x.id, route_id::recover_endpoint);
  EXPECT_EQ(x.id_param, "11");
  // The id segment is raw: validation is the handler's job.
  x = must_match(get, "/v1/webhook/endpoints/abc");
  EXPECT_EQ(x.id, route_id::get_endpoint);
  EXPECT_EQ(x.id_param, "abc");
  x = must_match(get, "/v1/webhook/endpoints/%31");
  EXPECT_EQ(x.id_param, "%31");
  // "list" is only literal in the 4-segment template.
  x = must_match(put, "/v1/webhook/endpoints/list/disable");
  EXPECT_EQ(x.id, route_id::disable_endpoint);
  EXPECT_EQ(x.id_param, "list");
}

TEST(match_route, literal_wins_over_param) {
  EXPECT_EQ(must_match(get, "/v1/webhook/endpoints/list").id,
            route_id::list_endpoints);
  EXPECT_EQ(error_of(put, "/v1/webhook/endpoints/list"),
            errc::method_not_allowed);
  EXPECT_EQ(allowed_methods("/v1/webhook/endpoints/list"), "GET");
  // Case-sensitive: "List" is an id.
  EXPECT_EQ(must_match(get, "/v1/webhook/endpoints/List").id,
            route_id::get_endpoint);
}

TEST(match_route, route_not_found) {
  for (auto path : {"",
                    "healthz",
                    "/",
                    "//",
                    "/healthz/",
                    "/healthz//",
                    "//healthz",
                    "/HEALTHZ",
                    "/health",
                    "/healthzz",
                    "/v1/webhook/endpoints/",
                    "/v1/webhook/endpoints//",
                    "/v1/webhook/endpoints/1/",
                    "/v1/webhook/endpoints//disable",
                    "/v1/webhook/endpoints/1/disable/",
                    "/v1/webhook/endpoints/1/unknown",
                    "/v1/webhook",
                    "/v1/webhook/endpoints/1/disable/x",
                    "/a/b/c/d/e/f/g/h/i/j/k",
                    "/admin/v1/tenants/",
                    "/admin/v1/tenants/x/unknown",
                    "/admin/v1/tenants/x/endpoints/1/unknown",
                    "/admin/v1/tenants/x/endpoints/1/disable/x",
                    "/v2/webhook/endpoints"}) {
    EXPECT_EQ(error_of(get, path), errc::route_not_found) << path;
    EXPECT_EQ(error_of(post, path), errc::route_not_found) << path;
    EXPECT_EQ(allowed_methods(path), "") << path;
  }
  auto res = match_route(get, "/nope");
  ASSERT_FALSE(res);
  EXPECT_EQ(wi::field_of(res.error()), "path");
}

TEST(match_route, method_not_allowed) {
  EXPECT_EQ(error_of(post, "/healthz"), errc::method_not_allowed);
  EXPECT_EQ(error_of(http_method::head, "/healthz"), errc::method_not_allowed);
  EXPECT_EQ(error_of(http_method::other, "/readyz"), errc::method_not_allowed);
  EXPECT_EQ(error_of(get, "/v1/webhook/endpoints"), errc::method_not_allowed);
  EXPECT_EQ(error_of(put, "/v1/webhook/endpoints/1"), errc::method_not_allowed);
  EXPECT_EQ(error_of(post, "/v1/webhook/endpoints/1"),
            errc::method_not_allowed);
  EXPECT_EQ(error_of(get, "/v1/webhook/endpoints/1/disable"),
            errc::method_not_allowed);
  EXPECT_EQ(error_of(post, "/v1/webhook/endpoints/1/enable"),
            errc::method_not_allowed);
  EXPECT_EQ(error_of(post, "/v1/webhook/endpoints/1/statistics"),
            errc::method_not_allowed);
  EXPECT_EQ(error_of(http_method::patch, "/admin/v1/tenants"),
            errc::method_not_allowed);
  auto res = match_route(http_method::del, "/healthz");
  ASSERT_FALSE(res);
  EXPECT_EQ(wi::field_of(res.error()), "method");
  EXPECT_NE(wi::text_of(res.error()).find("DELETE"), std::string::npos);
}

TEST(allowed_methods, lists_methods_in_fixed_order) {
  EXPECT_EQ(allowed_methods("/healthz"), "GET");
  EXPECT_EQ(allowed_methods("/readyz"), "GET");
  EXPECT_EQ(allowed_methods("/admin/v1/tenants"), "GET, POST");
  EXPECT_EQ(allowed_methods("/v1/webhook/endpoints"), "POST");
  EXPECT_EQ(allowed_methods("/v1/webhook/endpoints/5"), "GET, DELETE, PATCH");
  EXPECT_EQ(allowed_methods("/v1/webhook/endpoints/5/disable"), "PUT");
  EXPECT_EQ(allowed_methods("/v1/webhook/endpoints/5/enable"), "PUT");
  EXPECT_EQ(allowed_methods("/v1/webhook/endpoints/5/statistics"), "GET, PUT");
  // Event history and recover (issue 17).
  EXPECT_EQ(allowed_methods("/v1/webhook/events"), "GET, POST");
  EXPECT_EQ(allowed_methods("/v1/webhook/events/evt_1/attempts"), "GET");
  EXPECT_EQ(allowed_methods("/v1/webhook/endpoints/5/recover"), "POST");
}

TEST(match_route, dashboard_admin_routes) { // issue 18
  auto list = match_route(http_method::get, "/admin/v1/tenants/t1/endpoints");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->id, route_id::admin_list_endpoints);
  EXPECT_EQ(list->id_param, "t1");
  auto off =
    match_route(http_method::put, "/admin/v1/tenants/t1/endpoints/7/disable");
  ASSERT_TRUE(off);
  EXPECT_EQ(off->id, route_id::admin_disable_endpoint);
  EXPECT_EQ(off->id_param, "t1");
  EXPECT_EQ(off->sub_param, "7");
  auto on =
    match_route(http_method::put, "/admin/v1/tenants/t1/endpoints/7/enable");
  ASSERT_TRUE(on);
  EXPECT_EQ(on->id, route_id::admin_enable_endpoint);
  auto resend =
    match_route(http_method::post, "/admin/v1/tenants/t1/endpoints/7/resend");
  ASSERT_TRUE(resend);
  EXPECT_EQ(resend->id, route_id::admin_resend_event);
  EXPECT_EQ(allowed_methods("/admin/v1/tenants/t1/endpoints"), "GET");
  EXPECT_EQ(allowed_methods("/admin/v1/tenants/t1/endpoints/7/resend"), "POST");
}
