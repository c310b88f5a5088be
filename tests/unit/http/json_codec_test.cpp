#include "http/json_codec.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

using namespace wi::http;
namespace json = boost::json;

namespace {

wi::endpoint sample_endpoint() {
  wi::endpoint ep;
  ep.id = 12345;
  ep.url = "https://example.com/webhook";
  ep.secret = "mysecret";
  ep.event_types = {"user.created", "user.updated"};
  ep.headers = {
    {"X-Zeta", "z"}, {"Authorization", " Bearer token"}, {"X-Alpha", "a"}};
  ep.status = wi::endpoint_status::inactive;
  ep.created_at = 1704067200;    // 2024-01-01T00:00:00Z
  ep.last_modified = 1704153600; // 2024-01-02T00:00:00Z
  return ep;
}

std::vector<std::string> keys_of(const json::object& obj) {
  std::vector<std::string> result;
  for (const auto& kv : obj)
    result.emplace_back(kv.key());
  return result;
}

} // namespace

TEST(to_json, endpoint) {
  // Round-trip through text to check what a client sees.
  auto obj =
    json::parse(json::serialize(to_json(sample_endpoint()))).as_object();
  EXPECT_EQ(keys_of(obj),
            (std::vector<std::string>{
              "identifier", "url", "secret", "event_types", "headers", "status",
              "create_timestamp", "last_modified",
              "ordering"})); // issue 17: always shown; rate_limit when set
  ASSERT_TRUE(obj.at("identifier").is_number());
  EXPECT_EQ(obj.at("identifier").to_number<int64_t>(), 12345);
  EXPECT_EQ(obj.at("url"), "https://example.com/webhook");
  EXPECT_EQ(obj.at("secret"), "mysecret");
  EXPECT_EQ(obj.at("event_types"),
            (json::array{"user.created", "user.updated"}));
  const auto& headers = obj.at("headers").as_object();
  EXPECT_EQ(keys_of(headers),
            (std::vector<std::string>{"X-Zeta", "Authorization", "X-Alpha"}));
  EXPECT_EQ(headers.at("Authorization"), " Bearer token");
  EXPECT_EQ(obj.at("status"), "inactive");
  EXPECT_EQ(obj.at("create_timestamp"), "2024-01-01T00:00:00Z");
  EXPECT_EQ(obj.at("last_modified"), "2024-01-02T00:00:00Z");
}

TEST(to_json, endpoint_statuses_and_empty_headers) {
  auto ep = sample_endpoint();
  ep.headers.clear();
  ep.status = wi::endpoint_status::active;
  auto obj = to_json(ep);
  EXPECT_EQ(obj.at("status"), "active");
  ASSERT_TRUE(obj.at("headers").is_object());
  EXPECT_TRUE(obj.at("headers").as_object().empty());
  ep.status = wi::endpoint_status::disabled;
  EXPECT_EQ(to_json(ep).at("status"), "disabled");
}

TEST(to_json, stats_without_times) {
  wi::endpoint_stats st;
  st.ep = sample_endpoint();
  auto obj = json::parse(json::serialize(to_json(st))).as_object();
  EXPECT_EQ(keys_of(obj),
            (std::vector<std::string>{
              "id", "endpoint", "total_attempts", "successful_attempts",
              "failed_attempts", "success_rate", "average_response_time_ms",
              "pending_events", "status_reason", "consecutive_failures",
              "p50_response_time_ms", "p95_response_time_ms"}));
  EXPECT_EQ(obj.at("id").to_number<int64_t>(), 12345);
  EXPECT_EQ(obj.at("endpoint"), json::value(to_json(sample_endpoint())));
  EXPECT_EQ(obj.at("total_attempts").to_number<int64_t>(), 0);
  EXPECT_EQ(obj.at("success_rate").to_number<double>(), 0.0);
  // Whole numbers print as integers, not in Boost.JSON's exponent form.
  EXPECT_EQ(boost::json::serialize(obj.at("success_rate")), "0");
}

TEST(to_json, stats_with_times) {
  wi::endpoint_stats st;
  st.ep = sample_endpoint();
  st.total_attempts = 10;
  st.successful_attempts = 7;
  st.failed_attempts = 3;
  st.success_rate = 70.0;
  st.average_response_time_ms = 12.5;
  st.pending_events = 4;
  st.last_success_at = 1704067200'000; // milliseconds
  st.last_failure_at = 1704067201'999;
  auto obj = json::parse(json::serialize(to_json(st))).as_object();
  EXPECT_EQ(obj.at("total_attempts").to_number<int64_t>(), 10);
  EXPECT_EQ(obj.at("successful_attempts").to_number<int64_t>(), 7);
  EXPECT_EQ(obj.at("failed_attempts").to_number<int64_t>(), 3);
  EXPECT_DOUBLE_EQ(obj.at("success_rate").to_number<double>(), 70.0);
  EXPECT_EQ(boost::json::serialize(obj.at("success_rate")), "70");
  EXPECT_DOUBLE_EQ(obj.at("average_response_time_ms").to_number<double>(),
                   12.5);
  EXPECT_EQ(obj.at("pending_events").to_number<int64_t>(), 4);
  EXPECT_EQ(obj.at("last_success_at"), "2024-01-01T00:00:00Z");
  EXPECT_EQ(obj.at("last_failure_at"), "2024-01-01T00:00:01Z");
  st.breaker.reason = "gone";
  st.breaker.consecutive_failures = 3;
  st.breaker.disabled_at = 1704067202'000;
  st.breaker.next_probe_at = 1704067262'000;
  obj = to_json(st);
  EXPECT_EQ(obj.at("status_reason"), "gone");
  EXPECT_EQ(obj.at("consecutive_failures").to_number<int64_t>(), 3);
  EXPECT_EQ(obj.at("disabled_at"), "2024-01-01T00:00:02Z");
  EXPECT_EQ(obj.at("next_probe_at"), "2024-01-01T00:01:02Z");
  st.last_success_at.reset();
  obj = to_json(st);
  EXPECT_FALSE(obj.contains("last_success_at"));
  EXPECT_TRUE(obj.contains("last_failure_at"));
}

TEST(to_json, tenant) {
  wi::tenant_info t{"t_abc", "Acme", 1704067200, true, ""};
  auto obj = json::parse(json::serialize(to_json(t))).as_object();
  EXPECT_EQ(keys_of(obj),
            (std::vector<std::string>{"id", "name", "created_at", "active"}));
  EXPECT_EQ(obj.at("id"), "t_abc");
  EXPECT_EQ(obj.at("name"), "Acme");
  EXPECT_EQ(obj.at("created_at"), "2024-01-01T00:00:00Z");
  EXPECT_EQ(obj.at("active"), true);
  t.token = "wi_t_abc_secret";
  t.active = false;
  obj = to_json(t);
  EXPECT_EQ(obj.at("token"), "wi_t_abc_secret");
  EXPECT_EQ(obj.at("active"), false);
}

TEST(pagination_json, values) {
  struct row {
    uint32_t page;
    uint32_t page_size;
    uint64_t total;
    uint64_t pages;
    bool next;
    bool prev;
  };
  for (auto r : {
         row{1, 10, 0, 0, false, false},
         row{1, 10, 1, 1, false, false},
         row{1, 10, 10, 1, false, false},
         row{1, 10, 11, 2, true, false},
         row{2, 10, 11, 2, false, true},
         row{2, 10, 100, 10, true, true},
         row{10, 10, 100, 10, false, true},
         row{11, 10, 100, 10, false, true},
         row{3, 0, 5, 0, false, true},
         row{1, 100, 12345678901ull, 123456790, true, false},
         // Found by tests/fuzz/json_codec.cpp: (total + size - 1) / size
         // wrapped to 0 pages near the top of uint64.
         row{1, 10, UINT64_MAX, UINT64_MAX / 10 + 1, true, false},
         row{1, 4294967295u, UINT64_MAX - 1, 4294967297ull, true, false},
         row{1, 1, UINT64_MAX, UINT64_MAX, true, false},
       }) {
    wi::endpoint_page p;
    p.page = r.page;
    p.page_size = r.page_size;
    p.total_items = r.total;
    auto obj = json::parse(json::serialize(pagination_json(p))).as_object();
    EXPECT_EQ(keys_of(obj), (std::vector<std::string>{
                              "page", "page_size", "total_items", "total_pages",
                              "has_next", "has_prev"}));
    EXPECT_EQ(obj.at("page").to_number<uint64_t>(), r.page);
    EXPECT_EQ(obj.at("page_size").to_number<uint64_t>(), r.page_size);
    EXPECT_EQ(obj.at("total_items").to_number<uint64_t>(), r.total);
    EXPECT_EQ(obj.at("total_pages").to_number<uint64_t>(), r.pages)
      << r.page << "/" << r.page_size << "/" << r.total;
    EXPECT_EQ(obj.at("has_next"), r.next);
    EXPECT_EQ(obj.at("has_prev"), r.prev);
  }
}
