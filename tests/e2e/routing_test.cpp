// Unknown paths (404), wrong methods (405), and request ids.

#include <set>
#include <sstream>

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "support/assertions.hpp"
#include "support/fixture.hpp"

using namespace wi_e2e;
namespace json = boost::json;

namespace {

class routing : public server_test {
 protected:
  void SetUp() override {
    server_test::SetUp();
    tenant_ = new_tenant();
    create_endpoint(client(), tenant_.token);
  }

  header_list auth() const { return bearer(tenant_.token); }

  tenant tenant_;
};

/// The methods of an `Allow` header, upper-cased tokens.
std::set<std::string> allowed(const http_response& r) {
  std::set<std::string> result;
  std::istringstream in{r.header("allow")};
  std::string token;
  while (std::getline(in, token, ',')) {
    auto b = token.find_first_not_of(" \t");
    auto e = token.find_last_not_of(" \t");
    if (b != std::string::npos)
      result.insert(token.substr(b, e - b + 1));
  }
  return result;
}

std::string request_id_of(const http_response& r) {
  return str_at(r.json.at("meta"), "request_id");
}

} // namespace

TEST_F(routing, unknown_path_is_404_route_not_found) {
  std::vector<std::pair<std::string, std::string>> cases = {
    {"GET", "/"},
    {"GET", "/nope"},
    {"GET", "/v1"},
    {"GET", "/v1/webhook"},
    {"GET", "/v1/webhook/endpoints/1/bogus"},
    {"PUT", "/v1/webhook/endpoints/1/disable/extra"},
    {"GET", "/v1/webhook/endpoints/list/1"},
    {"POST", "/v2/webhook/endpoints"},
    {"GET", "/admin/v1/nope"},
    {"GET", "/healthz/extra"},
  };
  for (const auto& [method, path] : cases) {
    SCOPED_TRACE(method + " " + path);
    auto r = client().request(method, path, auth(),
                              method == "GET" ? std::nullopt
                                              : std::optional<std::string>{""});
    EXPECT_TRUE(is_error(r, 404, "ROUTE_NOT_FOUND"));
  }
}

TEST_F(routing, wrong_method_is_405_with_allow_header) {
  struct wrong_method {
    std::string method;
    std::string path;
    std::set<std::string> must_allow;
  };
  std::vector<wrong_method> cases = {
    {"PUT", "/v1/webhook/endpoints/1", {"GET", "DELETE", "PATCH"}},
    {"POST", "/v1/webhook/endpoints/1", {"GET", "DELETE", "PATCH"}},
    {"DELETE", "/v1/webhook/endpoints/1/secret", {"GET"}},
    {"GET", "/v1/webhook/endpoints/1/secret/rotate", {"POST"}},
    {"POST", "/v1/webhook/endpoints/list", {"GET"}},
    {"DELETE", "/v1/webhook/endpoints/list", {"GET"}},
    {"GET", "/v1/webhook/endpoints", {"POST"}},
    {"PUT", "/v1/webhook/endpoints", {"POST"}},
    {"GET", "/v1/webhook/endpoints/1/disable", {"PUT"}},
    {"POST", "/v1/webhook/endpoints/1/enable", {"PUT"}},
    {"DELETE", "/v1/webhook/endpoints/1/statistics", {"GET", "PUT"}},
    {"DELETE", "/admin/v1/tenants", {"GET", "POST"}},
    {"POST", "/healthz", {"GET"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.method + " " + c.path);
    auto r = client().request(c.method, c.path, auth(),
                              std::optional<std::string>{""});
    EXPECT_TRUE(is_error(r, 405, "METHOD_NOT_ALLOWED"));
    auto allow = allowed(r);
    for (const auto& m : c.must_allow)
      EXPECT_TRUE(allow.count(m)) << "Allow lacks " << m << "\n" << r;
    EXPECT_FALSE(allow.count(c.method)) << "Allow lists " << c.method << "\n"
                                        << r;
  }
  // Nothing was disabled or created on the way.
  auto ep = get_endpoint(client(), tenant_.token, 1);
  EXPECT_EQ(ep.at("status"), "active");
  EXPECT_TRUE(
    is_error(client().get(endpoint_path(2), auth()), 404, "NOT_FOUND"));
}

TEST_F(routing, valid_request_id_is_echoed) {
  for (std::string id : {std::string{"abc"}, std::string{"A.b_c:d-1"},
                         std::string{"7"}, std::string(128, 'x')}) {
    SCOPED_TRACE(id);
    header_list headers = auth();
    headers.emplace_back("X-Request-Id", id);
    // On a success, an error, and a 204.
    auto ok = client().get(endpoint_path(1), headers);
    EXPECT_TRUE(is_success(ok, 200));
    EXPECT_EQ(request_id_of(ok), id);
    auto missing = client().get(endpoint_path(99), headers);
    EXPECT_TRUE(is_error(missing, 404, "NOT_FOUND"));
    EXPECT_EQ(request_id_of(missing), id);
    auto unauth = client().get(endpoint_path(1), {{"X-Request-Id", id}});
    EXPECT_TRUE(is_error(unauth, 401, "UNAUTHORIZED"));
    EXPECT_EQ(request_id_of(unauth), id);
    auto created = client().post(endpoints_path, "{", headers);
    EXPECT_TRUE(is_error(created, 400, "INVALID_JSON"));
    EXPECT_EQ(request_id_of(created), id);
    auto health = client().get("/healthz", {{"X-Request-Id", id}});
    EXPECT_TRUE(is_success(health, 200));
    EXPECT_EQ(request_id_of(health), id);
    auto no_route = client().get("/nope", headers);
    EXPECT_TRUE(is_error(no_route, 404, "ROUTE_NOT_FOUND"));
    EXPECT_EQ(request_id_of(no_route), id);
    auto no_method = client().request("POST", endpoint_path(1), headers);
    EXPECT_TRUE(is_error(no_method, 405, "METHOD_NOT_ALLOWED"));
    EXPECT_EQ(request_id_of(no_method), id);
    auto invalid = client().post(endpoints_path, R"({"url":"x"})", headers);
    EXPECT_TRUE(is_error(invalid, 422, "VALIDATION_FAILED"));
    EXPECT_EQ(request_id_of(invalid), id);
    auto no_content = client().put(endpoint_path(1, "/enable"), headers);
    EXPECT_TRUE(is_no_content(no_content));
    EXPECT_EQ(no_content.header("x-request-id"), id) << no_content;
  }
}

TEST_F(routing, invalid_or_missing_request_id_gets_a_fresh_one) {
  std::set<std::string> seen;
  std::vector<std::string> invalid = {
    std::string(129, 'x'), "has space", "semi;colon", "slash/ed", "quote\"d",
    "caf\xc3\xa9",         ""};
  for (const auto& id : invalid) {
    SCOPED_TRACE("X-Request-Id: '" + id + "'");
    header_list headers = auth();
    headers.emplace_back("X-Request-Id", id);
    auto r = client().get(endpoint_path(1), headers);
    ASSERT_TRUE(is_success(r, 200)); // checks the header == meta, and format
    auto fresh = request_id_of(r);
    EXPECT_NE(fresh, id);
    EXPECT_TRUE(seen.insert(fresh).second) << "request id reused: " << fresh;
  }
  for (int i = 0; i < 20; ++i) {
    auto r = client().get(endpoint_path(1), auth());
    ASSERT_TRUE(is_success(r, 200));
    auto fresh = request_id_of(r);
    EXPECT_TRUE(seen.insert(fresh).second) << "request id reused: " << fresh;
    auto e = client().get(endpoint_path(42), auth());
    ASSERT_TRUE(is_error(e, 404, "NOT_FOUND"));
    EXPECT_TRUE(seen.insert(request_id_of(e)).second)
      << "request id reused: " << request_id_of(e);
  }
}

TEST_F(routing, one_keep_alive_connection_serves_a_mixed_sequence) {
  http_session session{server().base_url()};
  auto body = json::serialize(endpoint_request());
  long connections = 0;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    std::vector<http_response> rs;
    rs.push_back(session.request("POST", endpoints_path, auth(), body));
    EXPECT_TRUE(is_success(rs.back(), 201));
    auto id = as_int(rs.back().data().at("identifier"));
    rs.push_back(session.request("PUT", endpoint_path(id, "/disable"), auth(),
                                 std::string{}));
    EXPECT_TRUE(is_no_content(rs.back()));
    rs.push_back(session.request("GET", endpoint_path(id), auth()));
    EXPECT_TRUE(is_success(rs.back(), 200));
    EXPECT_EQ(str_at(rs.back().data(), "status"), "inactive");
    rs.push_back(session.request("GET", endpoint_path(999), auth()));
    EXPECT_TRUE(is_error(rs.back(), 404, "NOT_FOUND"));
    rs.push_back(session.request("POST", endpoints_path, auth(), "{"));
    EXPECT_TRUE(is_error(rs.back(), 400, "INVALID_JSON"));
    rs.push_back(session.request("GET", endpoint_path(id), {}));
    EXPECT_TRUE(is_error(rs.back(), 401, "UNAUTHORIZED"));
    rs.push_back(session.request("POST", endpoint_path(id), auth(), ""));
    EXPECT_TRUE(is_error(rs.back(), 405, "METHOD_NOT_ALLOWED"));
    rs.push_back(session.request("GET", "/nope", auth()));
    EXPECT_TRUE(is_error(rs.back(), 404, "ROUTE_NOT_FOUND"));
    rs.push_back(session.request(
      "GET", std::string{endpoints_path} + "/list?page=99", auth()));
    EXPECT_TRUE(is_no_content(rs.back()));
    rs.push_back(session.request("GET", "/healthz"));
    EXPECT_TRUE(is_success(rs.back(), 200));
    for (const auto& r : rs)
      connections += r.new_connections;
  }
  // Not a contract, but worth knowing: how often the server closed.
  RecordProperty("new_connections", static_cast<int>(connections));
  EXPECT_GE(connections, 1);
}
