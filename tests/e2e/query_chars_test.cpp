// Query strings with the characters RFC 3986 lets a query carry unencoded
// (`:` `/` `?` `@` and the sub-delims), as curl, browsers and most client
// libraries send RFC 3339 dates; and `+` in a date's UTC offset.
#include <string>

#include <gtest/gtest.h>

#include "support/api.hpp"
#include "support/assertions.hpp"
#include "support/fixture.hpp"

namespace wi_e2e {
namespace {

class query_chars : public server_test {};

TEST_F(query_chars, raw_colons_in_dates_list_endpoints) {
  auto t = new_tenant();
  create_endpoint(client(), t.token);
  for (std::string query :
       {"initialDate=2020-01-01T00:00:00Z",
        "initialDate=2020-01-01T00:00:00Z&finalDate=2999-12-31T23:59:59Z",
        "initialDate=2020-01-01T00:00:00.123z",
        "initialDate=2020-01-01T01:00:00%2B01:00",
        // `+` unencoded: form decoding makes it a space; dates read it as +.
        "initialDate=2020-01-01T01:00:00+01:00",
        "finalDate=2999-01-01T00:00:00-05:30",
        // Other characters a query may hold raw, in an ignored parameter.
        "x=a:b/c?d@e!$'()*,=f&pageSize=10", "x=a:b;pageSize=10"}) {
    SCOPED_TRACE(query);
    auto r = client().get(std::string{endpoints_path} + "/list?" + query,
                          bearer(t.token));
    EXPECT_TRUE(is_success(r, 200));
  }
  // The offset counts: an hour ahead of UTC excludes what a UTC bound keeps.
  auto future = client().get(std::string{endpoints_path} +
                               "/list?initialDate=2999-01-01T00:00:00+01:00",
                             bearer(t.token));
  EXPECT_TRUE(is_no_content(future));
  // Still errors: a date that is not RFC 3339, a bad escape, a raw
  // character outside RFC 3986's query grammar.
  auto bad_date = client().get(std::string{endpoints_path} +
                                 "/list?initialDate=2020-01-01T00:00:00",
                               bearer(t.token));
  EXPECT_TRUE(
    is_field_error(bad_date, 400, "INVALID_PARAMETER", "initialDate"));
  auto bad_escape = client().get(
    std::string{endpoints_path} + "/list?initialDate=%ZZ", bearer(t.token));
  EXPECT_TRUE(is_field_error(bad_escape, 400, "INVALID_PARAMETER", "query"));
  auto bracket = client().get(std::string{endpoints_path} + "/list?x=%5B&y=[",
                              bearer(t.token));
  EXPECT_TRUE(is_field_error(bracket, 400, "INVALID_PARAMETER", "query"));
}

TEST_F(query_chars, raw_reserved_characters_on_every_route_with_a_query) {
  auto t = new_tenant();
  auto ep = create_endpoint(client(), t.token);
  auto id = ep.at("identifier").as_int64();
  const std::string extra = "x=a:b/c?d@e";
  auto attempts =
    client().get(endpoint_path(id, "/attempts") + "?" + extra, bearer(t.token));
  EXPECT_TRUE(is_no_content(attempts)) << attempts;
  auto admin = header_list{{"Authorization", "Bearer " + admin_token_}};
  auto tenants = client().get("/admin/v1/tenants?" + extra, admin);
  EXPECT_TRUE(is_success(tenants, 200));
  auto deactivate = client().request(
    "DELETE", "/admin/v1/tenants/" + t.id + "?" + extra + "&purge=false",
    admin);
  EXPECT_TRUE(is_success(deactivate, 200));
}

} // namespace
} // namespace wi_e2e
