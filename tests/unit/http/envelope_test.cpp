#include "http/envelope.hpp"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include <boost/json.hpp>
#include <caf/sec.hpp>

#include "http/json_codec.hpp"
#include "http/time_format.hpp"
#include "webhook_ingress/error.hpp"

using namespace wi::http;
namespace json = boost::json;

namespace {

const response_meta meta{"req-1", "2024-01-01T12:00:00Z"};

json::object parse(const std::string& body) {
  return json::parse(body).as_object();
}

void expect_meta(const json::object& obj) {
  json::object expected{{"request_id", "req-1"},
                        {"timestamp", "2024-01-01T12:00:00Z"},
                        {"version", "1.0"}};
  EXPECT_EQ(obj.at("meta"), json::value(expected));
}

std::vector<std::string> keys_of(const json::object& obj) {
  std::vector<std::string> result;
  for (const auto& kv : obj)
    result.emplace_back(kv.key());
  return result;
}

} // namespace

TEST(success_body, shape) {
  auto obj = parse(success_body(json::object{{"a", 1}}, meta));
  EXPECT_EQ(keys_of(obj),
            (std::vector<std::string>{"success", "data", "meta"}));
  EXPECT_EQ(obj.at("success"), true);
  EXPECT_EQ(obj.at("data"), json::value(json::object{{"a", 1}}));
  expect_meta(obj);
  obj = parse(success_body(nullptr, meta));
  EXPECT_TRUE(obj.at("data").is_null());
  obj = parse(success_body(json::array{1, 2}, meta));
  EXPECT_EQ(obj.at("data"), json::value(json::array{1, 2}));
}

TEST(page_body, shape) {
  wi::endpoint_page page;
  page.page = 2;
  page.page_size = 1;
  page.total_items = 3;
  wi::endpoint ep;
  ep.id = 2;
  ep.url = "https://example.com";
  ep.secret = "mysecret";
  ep.event_types = {"*"};
  page.items.push_back(ep);
  auto obj = parse(page_body(page, meta));
  EXPECT_EQ(keys_of(obj), (std::vector<std::string>{"success", "data",
                                                    "pagination", "meta"}));
  EXPECT_EQ(obj.at("success"), true);
  const auto& data = obj.at("data").as_array();
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0], json::value(to_json(ep)));
  EXPECT_EQ(obj.at("pagination"), json::value(pagination_json(page)));
  EXPECT_EQ(obj.at("pagination").at("has_next"), true);
  EXPECT_EQ(obj.at("pagination").at("has_prev"), true);
  expect_meta(obj);
  page.items.clear();
  obj = parse(page_body(page, meta));
  EXPECT_TRUE(obj.at("data").as_array().empty());
}

TEST(error_body, with_field) {
  auto err = wi::make_error(wi::errc::validation_failed, "url",
                            "url must be at most 77 characters");
  auto obj = parse(error_body(err, meta));
  EXPECT_EQ(keys_of(obj),
            (std::vector<std::string>{"success", "data", "error", "meta"}));
  EXPECT_EQ(obj.at("success"), false);
  EXPECT_TRUE(obj.at("data").is_null());
  json::object expected{{"code", "VALIDATION_FAILED"},
                        {"message", "url must be at most 77 characters"},
                        {"field", "url"}};
  EXPECT_EQ(obj.at("error"), json::value(expected));
  expect_meta(obj);
}

TEST(error_body, without_field) {
  auto err = wi::make_error(wi::errc::unauthorized, "missing bearer token");
  auto obj = parse(error_body(err, meta));
  json::object expected{{"code", "UNAUTHORIZED"},
                        {"message", "missing bearer token"}};
  EXPECT_EQ(obj.at("error"), json::value(expected));
}

TEST(error_body, foreign_error_is_internal) {
  auto obj =
    parse(error_body(caf::make_error(caf::sec::request_timeout), meta));
  EXPECT_EQ(obj.at("error").at("code"), "INTERNAL");
  EXPECT_FALSE(obj.at("error").as_object().contains("field"));
  EXPECT_FALSE(obj.at("error").at("message").as_string().empty());
}

TEST(error_body, escapes_special_characters) {
  auto err = wi::make_error(wi::errc::validation_failed, "headers.X\"\n",
                            "headers.X\"\n is bad \xc3\xa9");
  auto obj = parse(error_body(err, meta));
  EXPECT_EQ(obj.at("error").at("field"), "headers.X\"\n");
  EXPECT_EQ(obj.at("error").at("message"), "headers.X\"\n is bad \xc3\xa9");
}

TEST(request_id, fresh_ids_are_valid_and_unique) {
  std::set<std::string> ids;
  for (int i = 0; i < 10000; ++i) {
    auto id = make_request_id();
    ASSERT_EQ(id.size(), 16u);
    ASSERT_TRUE(valid_request_id(id));
    for (char c : id)
      ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 10000u);
  // Other threads get other sequences.
  std::string other;
  std::thread t{[&] { other = make_request_id(); }};
  t.join();
  EXPECT_EQ(ids.count(other), 0u);
}

TEST(request_id, validation) {
  EXPECT_TRUE(valid_request_id("a"));
  EXPECT_TRUE(valid_request_id("Req-1.2_3:4"));
  EXPECT_TRUE(valid_request_id(std::string(128, 'x')));
  EXPECT_FALSE(valid_request_id(""));
  EXPECT_FALSE(valid_request_id(std::string(129, 'x')));
  EXPECT_FALSE(valid_request_id("a b"));
  EXPECT_FALSE(valid_request_id("a\r\nSet-Cookie: x"));
  EXPECT_FALSE(valid_request_id("a/b"));
  EXPECT_FALSE(valid_request_id("\xc3\xa9"));
}

TEST(make_response_meta, echoes_valid_id_or_makes_one) {
  auto m = make_response_meta("abc-123");
  EXPECT_EQ(m.request_id, "abc-123");
  EXPECT_TRUE(parse_rfc3339(m.timestamp));
  m = make_response_meta("bad id");
  EXPECT_EQ(m.request_id.size(), 16u);
  EXPECT_TRUE(valid_request_id(m.request_id));
  m = make_response_meta("");
  EXPECT_EQ(m.request_id.size(), 16u);
}
