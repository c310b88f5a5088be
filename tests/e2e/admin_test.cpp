// Tenant administration: POST/GET /admin/v1/tenants.

#include <regex>
#include <set>

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "support/assertions.hpp"
#include "support/fixture.hpp"
#include "support/time_util.hpp"

using namespace wi_e2e;

namespace {

constexpr std::string_view tenants_path = "/admin/v1/tenants";

class admin : public server_test {};

} // namespace

TEST_F(admin, create_tenant_returns_201_with_id_name_token_and_time) {
  auto r =
    client().post(tenants_path, R"({"name":"acme"})", bearer(admin_token_));
  ASSERT_TRUE(is_success(r, 201));
  ASSERT_TRUE(r.data().is_object()) << r;
  const auto& d = r.data().get_object();
  auto id = str_at(d, "id");
  EXPECT_TRUE(std::regex_match(id, std::regex{"[A-Za-z0-9_-]+"})) << r;
  EXPECT_EQ(str_at(d, "name"), "acme") << r;
  auto token = str_at(d, "token");
  EXPECT_TRUE(token.starts_with("wi_" + id + "_")) << r;
  EXPECT_GT(token.size(), 4 + id.size()) << "empty secret part\n" << r;
  EXPECT_TRUE(std::regex_match(token, std::regex{"[A-Za-z0-9_-]+"}))
    << "token not URL-safe\n"
    << r;
  EXPECT_TRUE(parse_rfc3339(str_at(d, "created_at")).has_value()) << r;
  ASSERT_TRUE(d.contains("active")) << r;
  EXPECT_EQ(d.at("active"), boost::json::value(true)) << r;
}

TEST_F(admin, tenants_get_distinct_ids_and_tokens) {
  std::set<std::string> ids;
  std::set<std::string> tokens;
  for (int i = 0; i < 5; ++i) {
    // Same name on purpose: names are labels, not keys.
    auto t = new_tenant("same-name");
    ids.insert(t.id);
    tokens.insert(t.token);
  }
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(tokens.size(), 5u);
}

TEST_F(admin, list_tenants_returns_all_without_tokens) {
  auto a = new_tenant("alpha");
  auto b = new_tenant("beta");
  auto r = client().get(tenants_path, bearer(admin_token_));
  ASSERT_TRUE(is_success(r, 200));
  ASSERT_TRUE(r.data().is_array()) << r;
  std::map<std::string, boost::json::object> by_id;
  for (const auto& x : r.data().get_array()) {
    ASSERT_TRUE(x.is_object()) << r;
    EXPECT_FALSE(x.get_object().contains("token")) << "token leaked\n" << r;
    by_id[str_at(x, "id")] = x.get_object();
  }
  ASSERT_EQ(by_id.size(), 2u) << r;
  for (const auto& t : {a, b}) {
    SCOPED_TRACE(t.name);
    ASSERT_TRUE(by_id.count(t.id)) << r;
    // Every field of the creation answer but the token, plus the summary.
    auto expected = t.data;
    expected.erase("token");
    for (const auto& [key, value] : expected)
      EXPECT_EQ(by_id[t.id].at(key), value) << key << "\n" << r;
    EXPECT_EQ(by_id[t.id].at("endpoints").at("total"), 0) << r;
    EXPECT_EQ(by_id[t.id].at("pending_deliveries"), 0) << r;
  }
  const auto& page = r.json.at("pagination");
  EXPECT_EQ(page.at("total_items"), 2) << r;
  EXPECT_EQ(page.at("page"), 1) << r;
}

TEST_F(admin, routes_require_the_admin_token) {
  auto t = new_tenant();
  std::vector<std::pair<std::string, header_list>> variants = {
    {"no header", {}},
    {"wrong token", bearer(admin_token_ + "x")},
    {"token prefix", bearer(admin_token_.substr(0, admin_token_.size() - 1))},
    {"basic scheme", {{"Authorization", "Basic " + admin_token_}}},
    {"empty bearer", {{"Authorization", "Bearer "}}},
  };
  for (const auto& [what, headers] : variants) {
    SCOPED_TRACE(what);
    EXPECT_TRUE(
      is_error(client().get(tenants_path, headers), 401, "UNAUTHORIZED"));
    EXPECT_TRUE(
      is_error(client().post(tenants_path, R"({"name":"evil"})", headers), 401,
               "UNAUTHORIZED"));
  }
  // A valid tenant token is known but not allowed here.
  EXPECT_TRUE(
    is_error(client().get(tenants_path, bearer(t.token)), 403, "FORBIDDEN"));
  EXPECT_TRUE(
    is_error(client().post(tenants_path, R"({"name":"evil"})", bearer(t.token)),
             403, "FORBIDDEN"));
  // Nothing was created by the rejected requests.
  auto r = client().get(tenants_path, bearer(admin_token_));
  ASSERT_TRUE(is_success(r, 200));
  EXPECT_EQ(r.data().as_array().size(), 1u) << r;
}

TEST_F(admin, create_tenant_without_name_is_422) {
  for (auto body : {R"({})", R"({"nom":"acme"})"}) {
    SCOPED_TRACE(body);
    auto r = client().post(tenants_path, body, bearer(admin_token_));
    EXPECT_TRUE(is_error(r, 422, "VALIDATION_FAILED"));
  }
}

TEST_F(admin, create_tenant_with_bad_json_is_400) {
  for (auto body : {"{", "not json", "", R"(["acme"])", "null"}) {
    SCOPED_TRACE(body);
    auto r = client().post(tenants_path, body, bearer(admin_token_));
    EXPECT_TRUE(is_error(r, 400, "INVALID_JSON"));
  }
  auto r = client().get(tenants_path, bearer(admin_token_));
  EXPECT_EQ(r.status, 204) << r; // still no tenant
}

TEST_F(admin, tenant_token_works_on_tenant_routes) {
  auto t = new_tenant();
  auto r =
    client().post(endpoints_path, boost::json::serialize(endpoint_request()),
                  bearer(t.token));
  EXPECT_TRUE(is_success(r, 201));
}
