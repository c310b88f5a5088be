// Deterministic mutation tests of the request parsers: random edits of valid
// inputs must never crash (run under ASan/UBSan), must fail only with input
// error codes, and accepted inputs must be stable under re-encoding.

#include <gtest/gtest.h>

#include <random>
#include <string>

#include <boost/json.hpp>

#include "http/routes.hpp"
#include "http/time_format.hpp"
#include "http/validation.hpp"
#include "webhook_ingress/error.hpp"

using namespace wi::http;
using wi::errc;
namespace json = boost::json;

namespace {

std::string mutate(std::string x, std::mt19937& rng) {
  static constexpr std::string_view alphabet =
    "{}[]\":,./\\@#?%-_*0123456789aAzZ \t\r\n\x01\x7f\xc3\xa9\xff";
  auto edits = std::uniform_int_distribution<int>{1, 4}(rng);
  for (int i = 0; i < edits; ++i) {
    auto pos = x.empty() ? 0 : rng() % (x.size() + 1);
    auto c = alphabet[rng() % alphabet.size()];
    switch (rng() % 3) {
    case 0:
      x.insert(x.begin() + static_cast<ptrdiff_t>(pos), c);
      break;
    case 1:
      if (pos < x.size())
        x.erase(pos, 1);
      break;
    default:
      if (pos < x.size())
        x[pos] = c;
    }
  }
  return x;
}

std::string encode(const wi::new_endpoint& x) {
  json::object obj;
  obj["url"] = x.url;
  obj["secret"] = x.secret;
  json::array types;
  for (const auto& t : x.event_types)
    types.emplace_back(t);
  obj["event_types"] = std::move(types);
  json::object headers;
  for (const auto& [k, v] : x.headers)
    headers[k] = v;
  obj["headers"] = std::move(headers);
  return json::serialize(obj);
}

bool is_input_error(errc code) {
  return code == errc::invalid_json || code == errc::invalid_parameter ||
         code == errc::validation_failed;
}

} // namespace

TEST(robustness, create_endpoint_mutations) {
  const std::string seed =
    R"({"url":"https://example.com:8443/hook?x=1","secret":"s3cr3t-\u00e9t\u00e9",)"
    R"("event_types":["user.created","*","user.created"],)"
    R"("headers":{"X-A":"1","Authorization":" Bearer t"}})";
  ASSERT_TRUE(parse_create_endpoint(seed));
  std::mt19937 rng{12345};
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    auto body = mutate(seed, rng);
    auto res = parse_create_endpoint(body);
    if (!res) {
      ASSERT_TRUE(is_input_error(wi::code_of(res.error()))) << body;
      ASSERT_FALSE(wi::field_of(res.error()).empty()) << body;
      continue;
    }
    ++accepted;
    auto again = parse_create_endpoint(encode(*res));
    ASSERT_TRUE(again) << body << " -> " << wi::text_of(again.error());
    ASSERT_EQ(again->url, res->url);
    ASSERT_EQ(again->secret, res->secret);
    ASSERT_EQ(again->event_types, res->event_types);
    ASSERT_EQ(again->headers, res->headers);
  }
  EXPECT_GT(accepted, 0);
}

TEST(robustness, tenant_and_id_mutations) {
  std::mt19937 rng{777};
  for (int i = 0; i < 5000; ++i) {
    auto body = mutate(R"({"name":"Acme \u00e9"})", rng);
    auto res = parse_create_tenant(body);
    if (!res) {
      ASSERT_TRUE(is_input_error(wi::code_of(res.error()))) << body;
    }
    auto id = mutate("1234567890", rng);
    auto parsed = parse_endpoint_id(id);
    bool all_digits =
      !id.empty() && id.find_first_not_of("0123456789") == std::string::npos;
    if (!parsed) {
      ASSERT_EQ(wi::code_of(parsed.error()), errc::invalid_parameter) << id;
      ASSERT_EQ(wi::field_of(parsed.error()), "id");
    } else {
      ASSERT_TRUE(all_digits) << id;
    }
  }
}

TEST(robustness, rfc3339_mutations) {
  std::mt19937 rng{4242};
  for (int i = 0; i < 20000; ++i) {
    auto text = mutate("2024-02-29T23:59:60.123+05:30", rng);
    if (auto ms = parse_rfc3339(text)) {
      // Whatever parses formats to a time that parses to the same second.
      auto secs = *ms / 1000 - (*ms % 1000 < 0 ? 1 : 0);
      ASSERT_EQ(parse_rfc3339(format_rfc3339(secs)), secs * 1000) << text;
    }
  }
}

TEST(robustness, route_mutations) {
  std::mt19937 rng{99};
  for (int i = 0; i < 20000; ++i) {
    auto path = mutate("/v1/webhook/endpoints/12/statistics", rng);
    auto res = match_route(http_method::get, path);
    if (res) {
      ASSERT_EQ(res->id == route_id::get_statistics ||
                  res->id == route_id::get_endpoint ||
                  res->id == route_id::list_endpoints,
                true)
        << path;
      ASSERT_FALSE(allowed_methods(path).empty()) << path;
    } else {
      auto code = wi::code_of(res.error());
      ASSERT_TRUE(code == errc::route_not_found ||
                  code == errc::method_not_allowed)
        << path;
      ASSERT_EQ(allowed_methods(path).empty(), code == errc::route_not_found)
        << path;
    }
  }
}
