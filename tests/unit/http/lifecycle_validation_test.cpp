// Validation, routing and JSON of the endpoint lifecycle (issue 17).

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "http/json_codec.hpp"
#include "http/routes.hpp"
#include "http/validation.hpp"

using namespace wi;
using namespace wi::http;

namespace {

void expect_error(const caf::error& err, errc code, std::string_view field) {
  EXPECT_EQ(code_of(err), code);
  EXPECT_EQ(field_of(err), field);
  EXPECT_NE(text_of(err).find(field), std::string::npos) << text_of(err);
}

} // namespace

TEST(patch_endpoint, sets_only_the_fields_given) {
  auto p = parse_patch_endpoint(R"({"url": "https://example.com/x"})");
  ASSERT_TRUE(p) << text_of(p.error());
  EXPECT_EQ(p->url, "https://example.com/x");
  EXPECT_FALSE(p->event_types || p->headers || p->description);
  p = parse_patch_endpoint(R"({"event_types": ["a", "a", "*"], "headers":
    {"X-B": "2", "X-A": "1"}, "description": null})");
  ASSERT_TRUE(p) << text_of(p.error());
  EXPECT_EQ(*p->event_types, (std::vector<std::string>{"a", "*"}));
  EXPECT_EQ(*p->headers, (header_list{{"X-B", "2"}, {"X-A", "1"}}));
  EXPECT_EQ(p->description, std::string{}); // null clears
  EXPECT_FALSE(p->url);
  p = parse_patch_endpoint("{}");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->empty());
  p = parse_patch_endpoint(R"({"headers": {}})");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->headers, header_list{});
}

TEST(patch_endpoint, refuses_what_create_refuses_and_unknown_fields) {
  struct bad {
    const char* body;
    errc code;
    const char* field;
  };
  const bad cases[] = {
    {"", errc::invalid_json, "body"},
    {"1", errc::invalid_json, "body"},
    {R"({"url": 1})", errc::invalid_parameter, "url"},
    {R"({"url": null})", errc::invalid_parameter, "url"},
    {R"({"event_types": [true]})", errc::invalid_parameter, "event_types[0]"},
    {R"({"headers": {"X": 1}})", errc::invalid_parameter, "headers.X"},
    {R"({"description": []})", errc::invalid_parameter, "description"},
    // Types are checked before unknown fields.
    {R"({"nope": 1, "url": 1})", errc::invalid_parameter, "url"},
    {R"({"secret": "new-secret"})", errc::validation_failed, "secret"},
    {R"({"rate_limit": "5"})", errc::invalid_parameter, "rate_limit"},
    {R"({"rate_limit": 5.5})", errc::invalid_parameter, "rate_limit"},
    {R"({"rate_limit": true})", errc::invalid_parameter, "rate_limit"},
    {R"({"ordering": null})", errc::invalid_parameter, "ordering"},
    {R"({"ordering": 1})", errc::invalid_parameter, "ordering"},
    {R"({"rate_limit": 0})", errc::validation_failed, "rate_limit"},
    {R"({"rate_limit": -1})", errc::validation_failed, "rate_limit"},
    {R"({"rate_limit": 10001})", errc::validation_failed, "rate_limit"},
    {R"({"rate_limit": 18446744073709551615})", errc::validation_failed,
     "rate_limit"},
    {R"({"ordering": "FIFO"})", errc::validation_failed, "ordering"},
    {R"({"ordering": ""})", errc::validation_failed, "ordering"},
    {R"({"rate_limit_": 5})", errc::validation_failed, "rate_limit_"},
    {R"({"url": "https://a/", "Url": "https://a/"})", errc::validation_failed,
     "Url"},
    // A key that is the empty string is named `""` (found by the fuzzer:
    // the error had no field).
    {R"({"": 1})", errc::validation_failed, R"("")"},
    {R"({"url": "mailto:x"})", errc::validation_failed, "url"},
    {R"({"event_types": []})", errc::validation_failed, "event_types"},
    {R"({"event_types": ["a b"]})", errc::validation_failed, "event_types[0]"},
    {R"({"headers": {"Host": "x"}})", errc::validation_failed, "headers.Host"},
    {R"({"headers": {"X": "1", "X": "2"}})", errc::validation_failed,
     "headers.X"},
    {R"({"description": "a\u0000b"})", errc::validation_failed, "description"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    auto p = parse_patch_endpoint(c.body);
    ASSERT_FALSE(p);
    expect_error(p.error(), c.code, c.field);
  }
  auto p = parse_patch_endpoint(R"({"secret": "new-secret"})");
  EXPECT_NE(text_of(p.error()).find("/secret/rotate"), std::string::npos);
  auto long_description =
    R"({"description": ")" + std::string(1024, 'x') + "\"}";
  EXPECT_TRUE(parse_patch_endpoint(long_description));
  long_description.insert(18, "y");
  ASSERT_FALSE(parse_patch_endpoint(long_description));
}

TEST(patch_endpoint, sets_and_clears_the_delivery_options) {
  auto p = parse_patch_endpoint(R"({"rate_limit": 10000, "ordering": "fifo"})");
  ASSERT_TRUE(p) << text_of(p.error());
  EXPECT_EQ(p->rate_limit, 10'000u);
  EXPECT_EQ(p->ordering, delivery_ordering::fifo);
  EXPECT_FALSE(p->url || p->description);
  p = parse_patch_endpoint(R"({"rate_limit": null, "ordering": "unordered"})");
  ASSERT_TRUE(p) << text_of(p.error());
  EXPECT_EQ(p->rate_limit, 0u); // null clears the limit
  EXPECT_EQ(p->ordering, delivery_ordering::unordered);
  p = parse_patch_endpoint(R"({"rate_limit": 1})");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->rate_limit, 1u);
  EXPECT_FALSE(p->ordering);
  EXPECT_FALSE(p->empty());
}

TEST(create_endpoint, accepts_the_delivery_options) {
  auto ep = parse_create_endpoint(
    R"({"url": "https://a.example/", "secret": "secret-secret",
        "event_types": ["*"], "rate_limit": 50, "ordering": "fifo"})");
  ASSERT_TRUE(ep) << text_of(ep.error());
  EXPECT_EQ(ep->rate_limit, 50u);
  EXPECT_EQ(ep->ordering, delivery_ordering::fifo);
  ep = parse_create_endpoint(
    R"({"url": "https://a.example/", "secret": "secret-secret",
        "event_types": ["*"], "rate_limit": null})");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->rate_limit, 0u);
  EXPECT_EQ(ep->ordering, delivery_ordering::unordered);
  ep = parse_create_endpoint(
    R"({"url": "https://a.example/", "secret": "secret-secret",
        "event_types": ["*"], "rate_limit": 10001})");
  ASSERT_FALSE(ep);
  expect_error(ep.error(), errc::validation_failed, "rate_limit");
  ep = parse_create_endpoint(
    R"({"url": "https://a.example/", "secret": "secret-secret",
        "event_types": ["*"], "ordering": "lifo"})");
  ASSERT_FALSE(ep);
  expect_error(ep.error(), errc::validation_failed, "ordering");
  // Types (400) before required fields and rules (422).
  ep = parse_create_endpoint(R"({"rate_limit": "1"})");
  ASSERT_FALSE(ep);
  expect_error(ep.error(), errc::invalid_parameter, "rate_limit");
}

TEST(publish, takes_an_optional_ordering_key) {
  auto ev = parse_publish(R"({"event_type": "a", "payload": 1,
                              "ordering_key": "customer-7"})",
                          "");
  ASSERT_TRUE(ev) << text_of(ev.error());
  EXPECT_EQ(ev->ordering_key, "customer-7");
  ev = parse_publish(R"({"event_type": "a", "payload": 1})", "");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->ordering_key, "");
  auto with_key = [](const std::string& key) {
    return R"({"event_type": "a", "payload": 1, "ordering_key": ")" + key +
           R"("})";
  };
  // 128 characters, the last one two bytes long.
  ev = parse_publish(with_key(std::string(127, 'k') + "\xC3\xA9"), "");
  ASSERT_TRUE(ev) << text_of(ev.error());
  EXPECT_EQ(ev->ordering_key.size(), 129u);
  struct bad {
    std::string body;
    errc code;
  };
  const bad cases[] = {
    {R"({"event_type": "a", "payload": 1, "ordering_key": 7})",
     errc::invalid_parameter},
    {R"({"event_type": "a", "payload": 1, "ordering_key": null})",
     errc::invalid_parameter},
    {with_key(""), errc::validation_failed},
    {with_key(std::string(129, 'k')), errc::validation_failed},
    {with_key(R"(a\nb)"), errc::validation_failed},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    auto r = parse_publish(c.body, "");
    ASSERT_FALSE(r);
    expect_error(r.error(), c.code, "ordering_key");
  }
}

TEST(create_endpoint, accepts_a_description) {
  auto ep = parse_create_endpoint(
    R"({"url": "https://a.example/", "secret": "secret-secret",
        "event_types": ["*"], "description": "for billing"})");
  ASSERT_TRUE(ep) << text_of(ep.error());
  EXPECT_EQ(ep->description, "for billing");
  ep = parse_create_endpoint(
    R"({"url": "https://a.example/", "secret": "secret-secret",
        "event_types": ["*"], "description": null})");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->description, "");
  ep = parse_create_endpoint(R"({"description": 1})");
  ASSERT_FALSE(ep);
  expect_error(ep.error(), errc::invalid_parameter, "description");
}

TEST(rotate_secret, defaults_and_durations) {
  auto r = parse_rotate_secret("");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->secret, "");
  EXPECT_EQ(r->grace_ms, 24 * 3600 * 1000);
  r = parse_rotate_secret("{}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->grace_ms, default_secret_grace_ms);
  const std::pair<const char*, int64_t> ok[] = {
    {"1s", 1000},
    {"1000ms", 1000},
    {"90s", 90'000},
    {"15m", 900'000},
    {"2h", 7'200'000},
    {"168h", 604'800'000},
    {"10080m", 604'800'000},
  };
  for (const auto& [text, ms] : ok) {
    r = parse_rotate_secret(std::string{R"({"grace": ")"} + text + "\"}");
    ASSERT_TRUE(r) << text;
    EXPECT_EQ(r->grace_ms, ms) << text;
  }
  r = parse_rotate_secret(
    R"({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
}

TEST(rotate_secret, refuses_bad_bodies) {
  struct bad {
    const char* body;
    errc code;
    const char* field;
  };
  const bad cases[] = {
    {"x", errc::invalid_json, "body"},
    {"[]", errc::invalid_json, "body"},
    {R"({"secret": 1})", errc::invalid_parameter, "secret"},
    {R"({"grace": 3600})", errc::invalid_parameter, "grace"},
    {R"({"grace": null})", errc::invalid_parameter, "grace"},
    {R"({"other": 1})", errc::validation_failed, "other"},
    {R"({"": "24h"})", errc::validation_failed, R"("")"},
    {R"({"secret": "1234567"})", errc::validation_failed, "secret"},
    {R"({"secret": "whsec_a-b_"})", errc::validation_failed, "secret"},
    {R"({"grace": "999ms"})", errc::validation_failed, "grace"},
    {R"({"grace": "0s"})", errc::validation_failed, "grace"},
    {R"({"grace": "10081m"})", errc::validation_failed, "grace"},
    {R"({"grace": "1d"})", errc::validation_failed, "grace"},
    {R"({"grace": "h"})", errc::validation_failed, "grace"},
    {R"({"grace": " 1h"})", errc::validation_failed, "grace"},
    {R"({"grace": "1h,1h"})", errc::validation_failed, "grace"},
    {R"({"grace": "99999999999999999999h"})", errc::validation_failed, "grace"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    auto r = parse_rotate_secret(c.body);
    ASSERT_FALSE(r);
    expect_error(r.error(), c.code, c.field);
  }
}

TEST(lifecycle_routes, are_routed_beside_the_spec_routes) {
  auto m = match_route(http_method::patch, "/v1/webhook/endpoints/7");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id, route_id::update_endpoint);
  EXPECT_EQ(m->id_param, "7");
  m = match_route(http_method::del, "/v1/webhook/endpoints/7");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id, route_id::delete_endpoint);
  m = match_route(http_method::post, "/v1/webhook/endpoints/7/secret/rotate");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id, route_id::rotate_secret);
  EXPECT_EQ(m->id_param, "7");
  m = match_route(http_method::get, "/v1/webhook/endpoints/7/secret");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id, route_id::get_secret);
  EXPECT_EQ(allowed_methods("/v1/webhook/endpoints/7"), "GET, DELETE, PATCH");
  EXPECT_EQ(allowed_methods("/v1/webhook/endpoints/7/secret"), "GET");
  // The list route still wins over {id}.
  EXPECT_EQ(allowed_methods("/v1/webhook/endpoints/list"), "GET");
}

TEST(lifecycle_json, shows_description_and_secrets) {
  endpoint ep;
  ep.id = 1;
  EXPECT_FALSE(to_json(ep).contains("description"));
  EXPECT_FALSE(to_json(ep).contains("rate_limit")); // absent: unlimited
  EXPECT_EQ(to_json(ep).at("ordering"), "unordered");
  ep.rate_limit = 25;
  ep.ordering = delivery_ordering::fifo;
  EXPECT_EQ(to_json(ep).at("rate_limit"), 25);
  EXPECT_EQ(to_json(ep).at("ordering"), "fifo");
  ep.description = "d";
  ep.previous_secret = "never-shown-here";
  auto j = to_json(ep);
  EXPECT_EQ(j.at("description"), "d");
  EXPECT_EQ(boost::json::serialize(j).find("never-shown-here"),
            std::string::npos);
  secret_info s{"new", "", 0};
  EXPECT_EQ(boost::json::value(to_json(s)),
            boost::json::parse(R"({"secret": "new"})"));
  s = secret_info{"new", "old", 1704067200999};
  EXPECT_EQ(boost::json::value(to_json(s)),
            boost::json::parse(R"({"secret": "new", "previous": {"secret":
              "old", "expires_at": "2024-01-01T00:00:00Z"}})"));
  EXPECT_EQ(boost::json::value(rotation_json(s)),
            boost::json::parse(R"({"secret": "new", "previous_expires_at":
              "2024-01-01T00:00:00Z"})"));
}
