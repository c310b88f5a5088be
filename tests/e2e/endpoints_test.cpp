// Endpoint routes: create, get, disable, enable, statistics; ids, 404, 401
// and tenant isolation on every route.

#include <chrono>
#include <thread>

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "support/assertions.hpp"
#include "support/fixture.hpp"
#include "support/time_util.hpp"

using namespace wi_e2e;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

/// A route addressed by endpoint id.
struct id_route {
  std::string method;
  std::string suffix;
  /// Status of a successful call.
  long ok_status;
};

const std::vector<id_route> id_routes = {
  {"GET", "", 200},
  {"PUT", "/disable", 204},
  {"PUT", "/enable", 204},
  {"PUT", "/statistics", 200},
  {"GET", "/statistics", 200},
};

http_response call(const http_client& client, const id_route& route,
                   std::string_view id, const header_list& headers) {
  auto path = endpoint_path(id, route.suffix);
  if (route.method == "PUT")
    return client.put(path, headers);
  return client.get(path, headers);
}

std::string trace(const id_route& route, std::string_view id) {
  return route.method + " " + endpoint_path(id, route.suffix);
}

time_point now() {
  auto d = std::chrono::system_clock::now().time_since_epoch();
  return {std::chrono::duration_cast<std::chrono::seconds>(d).count(), 0};
}

class endpoints : public server_test {};

} // namespace

TEST_F(endpoints, create_returns_201_with_the_endpoint) {
  auto t = new_tenant();
  auto body = endpoint_request("https://example.com/hooks/a", "s3cr3t-value",
                               {"user.created", "user.updated"});
  body["headers"] =
    json::object{{"X-Custom", "one"}, {"Authorization", "Bearer downstream"}};
  auto before = now();
  auto r =
    client().post(endpoints_path, json::serialize(body), bearer(t.token));
  auto after = now();
  ASSERT_TRUE(is_success(r, 201));
  ASSERT_TRUE(is_endpoint(r.data())) << r;
  const auto& d = r.data().get_object();
  EXPECT_EQ(as_int(d.at("identifier")), 1) << r;
  EXPECT_EQ(d.at("url"), body.at("url")) << r;
  EXPECT_EQ(d.at("secret"), body.at("secret")) << r;
  EXPECT_EQ(d.at("event_types"), body.at("event_types")) << r;
  EXPECT_EQ(d.at("headers"), body.at("headers")) << r;
  EXPECT_EQ(d.at("status"), "active") << r;
  EXPECT_EQ(d.at("last_modified"), d.at("create_timestamp")) << r;
  auto created = *parse_rfc3339(str_at(d, "create_timestamp"));
  EXPECT_GE(created.seconds, before.seconds - 1) << r;
  EXPECT_LE(created.seconds, after.seconds + 1) << r;
}

TEST_F(endpoints, create_without_headers_has_empty_headers) {
  auto t = new_tenant();
  auto d = create_endpoint(client(), t.token);
  EXPECT_EQ(d.at("headers"), json::object{}) << json::serialize(d);
}

TEST_F(endpoints, identifiers_count_per_tenant_from_one) {
  auto a = new_tenant();
  auto b = new_tenant();
  EXPECT_EQ(as_int(create_endpoint(client(), a.token).at("identifier")), 1);
  EXPECT_EQ(as_int(create_endpoint(client(), a.token).at("identifier")), 2);
  EXPECT_EQ(as_int(create_endpoint(client(), b.token).at("identifier")), 1);
  EXPECT_EQ(as_int(create_endpoint(client(), a.token).at("identifier")), 3);
  EXPECT_EQ(as_int(create_endpoint(client(), b.token).at("identifier")), 2);
}

TEST_F(endpoints, get_returns_what_create_returned) {
  auto t = new_tenant();
  auto body = endpoint_request("http://hooks.example.org:8080/x?y=1",
                               "another-secret", {"a", "b", "c"});
  body["headers"] = json::object{{"X-Trace", "42"}};
  auto created = create_endpoint(client(), t.token, body);
  create_endpoint(client(), t.token);
  auto r = client().get(endpoint_path(1), bearer(t.token));
  ASSERT_TRUE(is_success(r, 200));
  EXPECT_EQ(spec_fields(r.data()), json::value(created)) << r;
  // The breaker extensions of a healthy endpoint.
  EXPECT_EQ(r.data().at("status_reason"), "") << r;
  EXPECT_EQ(as_int(r.data().at("consecutive_failures")), 0) << r;
  EXPECT_FALSE(r.data().as_object().contains("disabled_at")) << r;
}

TEST_F(endpoints, disable_and_enable_answer_204_and_change_status) {
  auto t = new_tenant();
  auto created = create_endpoint(client(), t.token);
  // Timestamps have one-second resolution: let last_modified move.
  std::this_thread::sleep_for(1100ms);
  auto r = client().put(endpoint_path(1, "/disable"), bearer(t.token));
  ASSERT_TRUE(is_no_content(r));
  auto disabled = get_endpoint(client(), t.token, 1);
  EXPECT_EQ(disabled.at("status"), "inactive");
  EXPECT_EQ(disabled.at("create_timestamp"), created.at("create_timestamp"));
  EXPECT_GT(*parse_rfc3339(str_at(disabled, "last_modified")),
            *parse_rfc3339(str_at(created, "last_modified")))
    << json::serialize(disabled);
  for (auto key : {"identifier", "url", "secret", "event_types", "headers"})
    EXPECT_EQ(disabled.at(key), created.at(key)) << key;
  r = client().put(endpoint_path(1, "/enable"), bearer(t.token));
  ASSERT_TRUE(is_no_content(r));
  auto enabled = get_endpoint(client(), t.token, 1);
  EXPECT_EQ(enabled.at("status"), "active");
  EXPECT_GE(*parse_rfc3339(str_at(enabled, "last_modified")),
            *parse_rfc3339(str_at(disabled, "last_modified")));
}

TEST_F(endpoints, disable_touches_only_the_addressed_endpoint) {
  auto t = new_tenant();
  auto first = create_endpoint(client(), t.token);
  create_endpoint(client(), t.token);
  ASSERT_TRUE(
    is_no_content(client().put(endpoint_path(2, "/disable"), bearer(t.token))));
  EXPECT_EQ(spec_fields(json::value(get_endpoint(client(), t.token, 1))),
            spec_fields(json::value(first)));
  EXPECT_EQ(get_endpoint(client(), t.token, 2).at("status"), "inactive");
}

TEST_F(endpoints, statistics_by_put_and_get_are_all_zero) {
  auto t = new_tenant();
  create_endpoint(client(), t.token);
  ASSERT_TRUE(
    is_no_content(client().put(endpoint_path(1, "/disable"), bearer(t.token))));
  auto ep = get_endpoint(client(), t.token, 1);
  for (auto method : {"PUT", "GET"}) {
    SCOPED_TRACE(method);
    auto r = std::string{method} == "PUT"
               ? client().put(endpoint_path(1, "/statistics"), bearer(t.token))
               : client().get(endpoint_path(1, "/statistics"), bearer(t.token));
    ASSERT_TRUE(is_success(r, 200));
    ASSERT_TRUE(r.data().is_object()) << r;
    const auto& d = r.data().get_object();
    ASSERT_TRUE(d.contains("id")) << r;
    EXPECT_EQ(as_int(d.at("id")), 1) << r;
    ASSERT_TRUE(d.contains("endpoint")) << r;
    EXPECT_EQ(spec_fields(d.at("endpoint")), spec_fields(json::value(ep))) << r;
    for (auto key : {"total_attempts", "successful_attempts", "failed_attempts",
                     "pending_events"}) {
      ASSERT_TRUE(d.contains(key)) << key << "\n" << r;
      EXPECT_EQ(as_int(d.at(key)), 0) << key << "\n" << r;
    }
    for (auto key : {"success_rate", "average_response_time_ms"}) {
      ASSERT_TRUE(d.contains(key)) << key << "\n" << r;
      ASSERT_TRUE(d.at(key).is_number()) << key << "\n" << r;
      EXPECT_EQ(d.at(key).to_number<double>(), 0.0) << key << "\n" << r;
    }
    EXPECT_FALSE(d.contains("last_success_at")) << r;
    EXPECT_FALSE(d.contains("last_failure_at")) << r;
  }
}

TEST_F(endpoints, unknown_id_is_404_on_every_route) {
  auto t = new_tenant();
  create_endpoint(client(), t.token);
  for (const auto& route : id_routes) {
    for (auto id : {"2", "0", "12345"}) {
      SCOPED_TRACE(trace(route, id));
      EXPECT_TRUE(
        is_error(call(client(), route, id, bearer(t.token)), 404, "NOT_FOUND"));
    }
  }
  // A tenant without any endpoint.
  auto empty = new_tenant();
  for (const auto& route : id_routes) {
    SCOPED_TRACE(trace(route, "1"));
    EXPECT_TRUE(is_error(call(client(), route, "1", bearer(empty.token)), 404,
                         "NOT_FOUND"));
  }
}

TEST_F(endpoints, malformed_id_is_400_on_every_route) {
  auto t = new_tenant();
  create_endpoint(client(), t.token);
  for (const auto& route : id_routes) {
    for (auto id : {"abc", "-1", "1.5", "99999999999999999999999", "1e3", "0x1",
                    "1abc"}) {
      SCOPED_TRACE(trace(route, id));
      EXPECT_TRUE(is_error(call(client(), route, id, bearer(t.token)), 400,
                           "INVALID_PARAMETER"));
    }
  }
  EXPECT_EQ(get_endpoint(client(), t.token, 1).at("status"), "active");
}

TEST_F(endpoints, other_tenants_endpoint_is_indistinguishable_from_missing) {
  auto a = new_tenant("a");
  auto b = new_tenant("b");
  create_endpoint(client(), a.token,
                  endpoint_request("https://a.example.com/1"));
  auto b1 = create_endpoint(client(), b.token,
                            endpoint_request("https://b.example.com/1"));
  // B asks for id 2 while no tenant has one ...
  std::vector<http_response> missing;
  for (const auto& route : id_routes)
    missing.push_back(call(client(), route, "2", bearer(b.token)));
  // ... and again once A has an endpoint 2: B must not see a difference.
  auto a2 = create_endpoint(client(), a.token,
                            endpoint_request("https://a.example.com/2"));
  for (size_t i = 0; i < id_routes.size(); ++i) {
    const auto& route = id_routes[i];
    SCOPED_TRACE(trace(route, "2"));
    auto foreign = call(client(), route, "2", bearer(b.token));
    EXPECT_TRUE(is_error(missing[i], 404, "NOT_FOUND"));
    EXPECT_TRUE(is_error(foreign, 404, "NOT_FOUND"));
    EXPECT_EQ(without_meta(foreign), without_meta(missing[i]))
      << "foreign:\n"
      << foreign << "missing:\n"
      << missing[i];
    EXPECT_EQ(foreign.headers.size(), missing[i].headers.size())
      << "foreign:\n"
      << foreign << "missing:\n"
      << missing[i];
    // A's endpoint is untouched, whatever B did.
    EXPECT_EQ(spec_fields(json::value(get_endpoint(client(), a.token, 2))),
              spec_fields(json::value(a2)));
  }
  // B's own id 1 is B's endpoint, not A's.
  auto r = client().get(endpoint_path(1), bearer(b.token));
  ASSERT_TRUE(is_success(r, 200));
  EXPECT_EQ(spec_fields(r.data()), json::value(b1)) << r;
  auto stats = client().get(endpoint_path(1, "/statistics"), bearer(b.token));
  ASSERT_TRUE(is_success(stats, 200));
  EXPECT_EQ(stats.data().at("endpoint"), json::value(b1)) << stats;
  // B's disable of its id 1 leaves A's id 1 alone.
  ASSERT_TRUE(
    is_no_content(client().put(endpoint_path(1, "/disable"), bearer(b.token))));
  EXPECT_EQ(get_endpoint(client(), a.token, 1).at("status"), "active");
  // Lists are per tenant.
  auto list =
    client().get(std::string{endpoints_path} + "/list", bearer(b.token));
  ASSERT_TRUE(is_success(list, 200));
  ASSERT_EQ(list.data().as_array().size(), 1u) << list;
  EXPECT_EQ(str_at(list.data().as_array()[0], "url"),
            "https://b.example.com/1");
}

TEST_F(endpoints, every_route_rejects_bad_credentials_with_401) {
  auto t = new_tenant();
  auto other = new_tenant();
  create_endpoint(client(), t.token);
  auto secret_part = t.token.substr(3 + t.id.size() + 1);
  auto wrong_secret = secret_part;
  wrong_secret.back() = wrong_secret.back() == 'A' ? 'B' : 'A';
  std::vector<std::pair<std::string, header_list>> variants = {
    {"no header", {}},
    {"basic scheme", {{"Authorization", "Basic " + t.token}}},
    {"token without scheme", {{"Authorization", t.token}}},
    {"bearer without token", {{"Authorization", "Bearer"}}},
    {"bearer with empty token", {{"Authorization", "Bearer "}}},
    {"malformed token", bearer("garbage")},
    {"malformed prefix", bearer("xx_" + t.id + "_" + secret_part)},
    {"unknown tenant", bearer("wi_nosuchtenant_" + secret_part)},
    {"wrong secret", bearer("wi_" + t.id + "_" + wrong_secret)},
    {"token plus a char", bearer(t.token + "x")},
    {"token minus a char", bearer(t.token.substr(0, t.token.size() - 1))},
    {"other tenant id, own secret",
     bearer("wi_" + other.id + "_" + secret_part)},
    {"admin token", bearer(admin_token_)},
  };
  auto create_body = json::serialize(endpoint_request());
  for (const auto& [what, headers] : variants) {
    SCOPED_TRACE(what);
    for (const auto& route : id_routes) {
      SCOPED_TRACE(trace(route, "1"));
      EXPECT_TRUE(
        is_error(call(client(), route, "1", headers), 401, "UNAUTHORIZED"));
    }
    EXPECT_TRUE(is_error(client().post(endpoints_path, create_body, headers),
                         401, "UNAUTHORIZED"));
    EXPECT_TRUE(
      is_error(client().get(std::string{endpoints_path} + "/list", headers),
               401, "UNAUTHORIZED"));
  }
  // Nothing changed: one active endpoint, none for the other tenant.
  auto list =
    client().get(std::string{endpoints_path} + "/list", bearer(t.token));
  ASSERT_TRUE(is_success(list, 200));
  EXPECT_EQ(list.data().as_array().size(), 1u) << list;
  EXPECT_EQ(get_endpoint(client(), t.token, 1).at("status"), "active");
  EXPECT_TRUE(is_no_content(
    client().get(std::string{endpoints_path} + "/list", bearer(other.token))));
}
