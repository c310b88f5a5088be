// GET /v1/webhook/endpoints/list: paging, 204 on empty pages, query
// validation, date filters, and concurrent creates.

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
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

struct pagination {
  int64_t page, page_size, total_items, total_pages;
  bool has_next, has_prev;
};

class endpoint_list : public server_test {
 protected:
  /// `GET /v1/webhook/endpoints/list?<query>`, query already encoded.
  http_response list(const std::string& token, const std::string& query = "") {
    auto path = std::string{endpoints_path} + "/list";
    if (!query.empty())
      path += "?" + query;
    return client().get(path, bearer(token));
  }

  /// Creates `n` endpoints for `token`; returns their `data` objects.
  std::vector<json::object> create_n(const std::string& token, int n) {
    std::vector<json::object> result;
    for (int i = 0; i < n; ++i)
      result.push_back(create_endpoint(
        client(), token,
        endpoint_request("https://example.com/h/" + random_hex(8))));
    return result;
  }

  /// Asserts a 200 page with the given identifiers and pagination.
  static ::testing::AssertionResult is_page(const http_response& r,
                                            const std::vector<int64_t>& ids,
                                            pagination p) {
    if (auto res = is_success(r, 200); !res)
      return res;
    if (!r.data().is_array())
      return ::testing::AssertionFailure() << "data not an array\n" << r;
    std::vector<int64_t> got;
    for (const auto& x : r.data().get_array()) {
      if (auto res = is_endpoint(x); !res)
        return res << "\n" << r;
      got.push_back(as_int(x.at("identifier")));
    }
    if (got != ids)
      return ::testing::AssertionFailure() << "unexpected identifiers\n" << r;
    auto* pg = r.json.get_object().if_contains("pagination");
    if (pg == nullptr || !pg->is_object())
      return ::testing::AssertionFailure() << "no pagination object\n" << r;
    json::object expected{{"page", p.page},
                          {"page_size", p.page_size},
                          {"total_items", p.total_items},
                          {"total_pages", p.total_pages},
                          {"has_next", p.has_next},
                          {"has_prev", p.has_prev}};
    for (const auto& kv : expected) {
      auto* x = pg->get_object().if_contains(kv.key());
      if (x == nullptr || *x != kv.value())
        return ::testing::AssertionFailure()
               << "pagination." << kv.key() << " should be "
               << json::serialize(kv.value()) << "\n"
               << r;
    }
    return ::testing::AssertionSuccess();
  }

  static std::vector<int64_t> range(int64_t first, int64_t last) {
    std::vector<int64_t> result;
    for (auto i = first; i <= last; ++i)
      result.push_back(i);
    return result;
  }
};

std::string q(std::string_view name, std::string_view value) {
  return std::string{name} + "=" + url_encode(value);
}

} // namespace

TEST_F(endpoint_list, no_endpoints_is_204_without_body) {
  auto t = new_tenant();
  EXPECT_TRUE(is_no_content(list(t.token)));
  EXPECT_TRUE(is_no_content(list(t.token, "page=1&pageSize=5")));
  EXPECT_TRUE(is_no_content(list(t.token, "page=3")));
}

TEST_F(endpoint_list, default_page_is_1_and_page_size_10) {
  auto t = new_tenant();
  auto created = create_n(t.token, 12);
  auto r = list(t.token);
  EXPECT_TRUE(is_page(r, range(1, 10), {1, 10, 12, 2, true, false}));
  EXPECT_TRUE(is_page(list(t.token, "page=2"), range(11, 12),
                      {2, 10, 12, 2, false, true}));
  EXPECT_TRUE(is_no_content(list(t.token, "page=3")));
  // Items are the full endpoints, as GET returns them.
  ASSERT_TRUE(is_success(r, 200));
  for (size_t i = 0; i < 10; ++i)
    EXPECT_EQ(r.data().as_array()[i], json::value(created[i])) << i;
}

TEST_F(endpoint_list, page_size_one_walks_every_item) {
  auto t = new_tenant();
  create_n(t.token, 3);
  EXPECT_TRUE(is_page(list(t.token, "page=1&pageSize=1"), {1},
                      {1, 1, 3, 3, true, false}));
  EXPECT_TRUE(
    is_page(list(t.token, "page=2&pageSize=1"), {2}, {2, 1, 3, 3, true, true}));
  EXPECT_TRUE(is_page(list(t.token, "page=3&pageSize=1"), {3},
                      {3, 1, 3, 3, false, true}));
  EXPECT_TRUE(is_no_content(list(t.token, "page=4&pageSize=1")));
  EXPECT_TRUE(is_no_content(list(t.token, "page=1000&pageSize=1")));
}

TEST_F(endpoint_list, last_page_is_partial) {
  auto t = new_tenant();
  create_n(t.token, 5);
  EXPECT_TRUE(is_page(list(t.token, "page=3&pageSize=2"), {5},
                      {3, 2, 5, 3, false, true}));
  EXPECT_TRUE(is_page(list(t.token, "pageSize=5"), range(1, 5),
                      {1, 5, 5, 1, false, false}));
  EXPECT_TRUE(is_page(list(t.token, "page=1&pageSize=100"), range(1, 5),
                      {1, 100, 5, 1, false, false}));
  EXPECT_TRUE(is_no_content(list(t.token, "page=2&pageSize=5")));
}

TEST_F(endpoint_list, list_shows_status_changes) {
  auto t = new_tenant();
  create_n(t.token, 3);
  ASSERT_TRUE(
    is_no_content(client().put(endpoint_path(2, "/disable"), bearer(t.token))));
  auto r = list(t.token);
  ASSERT_TRUE(is_page(r, {1, 2, 3}, {1, 10, 3, 1, false, false}));
  EXPECT_EQ(r.data().as_array()[0].at("status"), "active");
  EXPECT_EQ(r.data().as_array()[1].at("status"), "inactive");
  EXPECT_EQ(r.data().as_array()[2].at("status"), "active");
}

TEST_F(endpoint_list, bad_query_values_are_400_or_422) {
  auto with_data = new_tenant();
  create_n(with_data.token, 2);
  auto empty = new_tenant();
  struct bad_query {
    std::string query;
    long status;
    std::string code;
  };
  std::vector<bad_query> cases = {
    {"page=abc", 400, "INVALID_PARAMETER"},
    {"page=1.5", 400, "INVALID_PARAMETER"},
    {"page=1x", 400, "INVALID_PARAMETER"},
    {"pageSize=abc", 400, "INVALID_PARAMETER"},
    {"pageSize=2.5", 400, "INVALID_PARAMETER"},
    {"page=0", 422, "VALIDATION_FAILED"},
    {"page=-1", 422, "VALIDATION_FAILED"},
    {"pageSize=0", 422, "VALIDATION_FAILED"},
    {"pageSize=-5", 422, "VALIDATION_FAILED"},
    {"pageSize=101", 422, "VALIDATION_FAILED"},
    {"pageSize=1000", 422, "VALIDATION_FAILED"},
    {q("initialDate", "yesterday"), 400, "INVALID_PARAMETER"},
    {q("initialDate", "2024-01-01"), 400, "INVALID_PARAMETER"},
    {q("initialDate", "2024-13-01T00:00:00Z"), 400, "INVALID_PARAMETER"},
    {q("finalDate", "2024-01-01 00:00:00"), 400, "INVALID_PARAMETER"},
    {q("finalDate", "2024-02-30T00:00:00Z"), 400, "INVALID_PARAMETER"},
    {q("finalDate", "1704067200"), 400, "INVALID_PARAMETER"},
    {q("initialDate", "2024-01-02T00:00:00Z") + "&" +
       q("finalDate", "2024-01-01T00:00:00Z"),
     422, "VALIDATION_FAILED"},
  };
  for (const auto& c : cases) {
    for (const auto* token : {&with_data.token, &empty.token}) {
      SCOPED_TRACE(c.query + (token == &empty.token ? " (no endpoints)" : ""));
      EXPECT_TRUE(is_error(list(*token, c.query), c.status, c.code));
    }
  }
  // The boundaries themselves are fine.
  EXPECT_TRUE(is_page(list(with_data.token, "page=1&pageSize=100"), {1, 2},
                      {1, 100, 2, 1, false, false}));
  EXPECT_TRUE(is_page(list(with_data.token, "page=1&pageSize=1"), {1},
                      {1, 1, 2, 2, true, false}));
}

TEST_F(endpoint_list, date_filters_are_inclusive_on_create_timestamp) {
  auto t = new_tenant();
  // Three batches at least one second apart (timestamps have 1 s resolution).
  std::vector<json::object> all;
  for (int batch = 0; batch < 3; ++batch) {
    if (batch > 0)
      std::this_thread::sleep_for(1100ms);
    for (auto& x : create_n(t.token, 2))
      all.push_back(std::move(x));
  }
  auto ts = [&](size_t i) {
    return *parse_rfc3339(str_at(all[i], "create_timestamp"));
  };
  // Expected identifiers for the given bounds (RFC 3339 strings, may be
  // empty for "no bound").
  auto expected_ids = [&](const std::string& from, const std::string& to) {
    std::vector<int64_t> result;
    for (size_t i = 0; i < all.size(); ++i)
      if ((from.empty() || ts(i) >= *parse_rfc3339(from)) &&
          (to.empty() || ts(i) <= *parse_rfc3339(to)))
        result.push_back(as_int(all[i].at("identifier")));
    return result;
  };
  auto check = [&](const std::string& from, const std::string& to) {
    std::string query = "pageSize=100";
    if (!from.empty())
      query += "&" + q("initialDate", from);
    if (!to.empty())
      query += "&" + q("finalDate", to);
    SCOPED_TRACE(query);
    auto expected = expected_ids(from, to);
    auto r = list(t.token, query);
    if (expected.empty()) {
      EXPECT_TRUE(is_no_content(r));
    } else {
      auto n = static_cast<int64_t>(expected.size());
      EXPECT_TRUE(is_page(r, expected, {1, 100, n, 1, false, false}));
    }
    return expected.size();
  };
  auto first = str_at(all[0], "create_timestamp");
  auto mid = str_at(all[2], "create_timestamp");
  auto last = str_at(all[5], "create_timestamp");
  // Both bounds equal to a returned create_timestamp: that one at least.
  EXPECT_GE(check(first, first), 1u);
  EXPECT_GE(check(mid, mid), 1u);
  EXPECT_GE(check(last, last), 1u);
  // The batches are apart: the middle one matches neither end.
  EXPECT_LT(check(mid, mid), all.size());
  // One-sided and two-sided ranges.
  check(mid, "");
  check("", mid);
  EXPECT_EQ(check(first, last), all.size());
  // The same instant written with a non-zero UTC offset.
  auto mid_s = time_point{ts(2).seconds, 0};
  check(format_rfc3339(mid_s, 120), format_rfc3339(mid_s, -330));
  check(format_rfc3339(mid_s), format_rfc3339(mid_s));
  // Sub-second bounds are RFC 3339 too: half a second after `mid` excludes
  // the endpoints created in mid's second (when timestamps are whole).
  auto mid_half = format_rfc3339(mid_s).insert(19, ".5");
  check(mid_half, "");
  check("", mid_half);
  // Nothing matches: 204.
  EXPECT_EQ(check("", format_rfc3339({ts(0).seconds - 3600, 0})), 0u);
  EXPECT_EQ(check(format_rfc3339({ts(5).seconds + 3600, 0}), ""), 0u);
  // Paging applies to the filtered items.
  auto after_mid = expected_ids(mid, "");
  ASSERT_GE(after_mid.size(), 2u);
  auto n = static_cast<int64_t>(after_mid.size());
  auto r = list(t.token, q("initialDate", mid) + "&pageSize=1&page=2");
  EXPECT_TRUE(is_page(r, {after_mid[1]}, {2, 1, n, n, n > 2, true}));
}

TEST_F(endpoint_list, concurrent_creates_get_distinct_identifiers_1_to_n) {
  constexpr int threads = 16;
  constexpr int per_thread = 8;
  constexpr int total = threads * per_thread;
  auto t = new_tenant();
  std::mutex mtx;
  std::map<int64_t, std::string> url_by_id;
  std::vector<std::string> failures;
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) {
    workers.emplace_back([&, i] {
      http_client client{server().base_url()};
      for (int j = 0; j < per_thread; ++j) {
        auto url =
          "https://example.com/t" + std::to_string(i) + "/" + std::to_string(j);
        try {
          auto r =
            client.post(endpoints_path, json::serialize(endpoint_request(url)),
                        bearer(t.token));
          std::lock_guard guard{mtx};
          if (r.status != 201 || !r.is_json) {
            std::ostringstream os;
            os << r;
            failures.push_back(os.str());
            continue;
          }
          auto id = as_int(r.data().at("identifier"));
          if (!url_by_id.emplace(id, url).second)
            failures.push_back("duplicate identifier " + std::to_string(id));
        } catch (const std::exception& e) {
          std::lock_guard guard{mtx};
          failures.push_back(e.what());
        }
      }
    });
  }
  for (auto& w : workers)
    w.join();
  for (const auto& f : failures)
    ADD_FAILURE() << f;
  ASSERT_EQ(url_by_id.size(), static_cast<size_t>(total));
  EXPECT_EQ(url_by_id.begin()->first, 1);
  EXPECT_EQ(url_by_id.rbegin()->first, total);
  // The list agrees, in identifier order, with the right URL per id.
  auto p1 = list(t.token, "page=1&pageSize=100");
  auto p2 = list(t.token, "page=2&pageSize=100");
  EXPECT_TRUE(is_page(p1, range(1, 100), {1, 100, total, 2, true, false}));
  EXPECT_TRUE(is_page(p2, range(101, total), {2, 100, total, 2, false, true}));
  for (const auto* page : {&p1, &p2}) {
    if (!page->is_json || !page->data().is_array())
      continue;
    for (const auto& x : page->data().get_array()) {
      auto id = as_int(x.at("identifier"));
      EXPECT_EQ(str_at(x, "url"), url_by_id[id]) << id;
    }
  }
}

TEST_F(endpoint_list, concurrent_creates_of_two_tenants_stay_separate) {
  auto a = new_tenant();
  auto b = new_tenant();
  std::mutex mtx;
  std::map<std::string, std::set<int64_t>> ids;
  std::vector<std::string> failures;
  std::vector<std::thread> workers;
  for (int i = 0; i < 8; ++i) {
    workers.emplace_back([&, i] {
      const auto& token = i % 2 == 0 ? a.token : b.token;
      http_client client{server().base_url()};
      for (int j = 0; j < 8; ++j) {
        try {
          auto r = client.post(
            endpoints_path, json::serialize(endpoint_request()), bearer(token));
          std::lock_guard guard{mtx};
          if (r.status != 201) {
            std::ostringstream os;
            os << r;
            failures.push_back(os.str());
            continue;
          }
          ids[token].insert(as_int(r.data().at("identifier")));
        } catch (const std::exception& e) {
          std::lock_guard guard{mtx};
          failures.push_back(e.what());
        }
      }
    });
  }
  for (auto& w : workers)
    w.join();
  for (const auto& f : failures)
    ADD_FAILURE() << f;
  auto expected = range(1, 32);
  EXPECT_EQ(std::vector<int64_t>(ids[a.token].begin(), ids[a.token].end()),
            expected);
  EXPECT_EQ(std::vector<int64_t>(ids[b.token].begin(), ids[b.token].end()),
            expected);
  EXPECT_TRUE(is_page(list(a.token, "pageSize=100"), expected,
                      {1, 100, 32, 1, false, false}));
  EXPECT_TRUE(is_page(list(b.token, "pageSize=100"), expected,
                      {1, 100, 32, 1, false, false}));
}
