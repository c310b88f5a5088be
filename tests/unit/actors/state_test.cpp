// Pure state functions: apply, list, replay through recovery.

#include <gtest/gtest.h>

#include <random>

#include "actors/directory_state.hpp"
#include "actors/recovery.hpp"
#include "actors/tenant_state.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/storage.hpp"
#include "webhook_ingress/error.hpp"

namespace {

using namespace wi;

endpoint make_endpoint(endpoint_id id, unix_seconds at) {
  return endpoint{id,
                  "https://example.com/" + std::to_string(id),
                  "secret-" + std::to_string(id),
                  {"user.created"},
                  {{"X-Id", std::to_string(id)}},
                  endpoint_status::active,
                  at,
                  at};
}

tenant_state tenant_with(const std::string& tid, int n) {
  tenant_state st{tid, 0, {}};
  for (int i = 1; i <= n; ++i) {
    auto id = static_cast<endpoint_id>(i);
    EXPECT_FALSE(
      wi::apply(st, endpoint_created{tid, make_endpoint(id, 1000 + i)}));
  }
  return st;
}

TEST(tenant_apply, created_then_status_changed) {
  tenant_state st{"t1", 0, {}};
  ASSERT_FALSE(wi::apply(st, endpoint_created{"t1", make_endpoint(1, 10)}));
  ASSERT_FALSE(wi::apply(
    st, endpoint_status_changed{"t1", 1, endpoint_status::inactive, 20}));
  ASSERT_EQ(st.last_id, 1u);
  ASSERT_EQ(st.endpoints.size(), 1u);
  EXPECT_EQ(st.endpoints.at(1).status, endpoint_status::inactive);
  EXPECT_EQ(st.endpoints.at(1).created_at, 10);
  EXPECT_EQ(st.endpoints.at(1).last_modified, 20);
}

TEST(tenant_apply, rejects_records_that_cannot_follow) {
  auto st = tenant_with("t1", 2);
  auto before = st;
  // Identifier not above the last one.
  EXPECT_EQ(code_of(wi::apply(st, endpoint_created{"t1", make_endpoint(2, 5)})),
            errc::corrupt_data);
  // Unknown endpoint.
  EXPECT_EQ(
    code_of(wi::apply(
      st, endpoint_status_changed{"t1", 9, endpoint_status::active, 5})),
    errc::corrupt_data);
  // Another tenant's record.
  EXPECT_EQ(code_of(wi::apply(st, endpoint_created{"t2", make_endpoint(3, 5)})),
            errc::corrupt_data);
  // A directory-level record.
  EXPECT_EQ(code_of(wi::apply(st, tenant_created{"t1", "n", "h", 1})),
            errc::corrupt_data);
  EXPECT_EQ(st, before);
}

TEST(tenant_list, pages_in_identifier_order) {
  auto st = tenant_with("t1", 7);
  list_query q;
  q.page_size = 3;
  q.page = 3;
  auto page = list_endpoints(st, q);
  EXPECT_EQ(page.total_items, 7u);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].id, 7u);
  q.page = 1;
  page = list_endpoints(st, q);
  ASSERT_EQ(page.items.size(), 3u);
  EXPECT_EQ(page.items[0].id, 1u);
  EXPECT_EQ(page.items[2].id, 3u);
  q.page = 4;
  page = list_endpoints(st, q);
  EXPECT_TRUE(page.items.empty());
  EXPECT_EQ(page.total_items, 7u);
}

TEST(tenant_list, date_bounds_are_inclusive_in_milliseconds) {
  auto st = tenant_with("t1", 5); // created_at 1001..1005
  list_query q;
  q.created_from = 1002 * 1000;
  q.created_to = 1004 * 1000;
  auto page = list_endpoints(st, q);
  ASSERT_EQ(page.total_items, 3u);
  EXPECT_EQ(page.items.front().id, 2u);
  EXPECT_EQ(page.items.back().id, 4u);
  q.created_from = 1002 * 1000 + 1; // excludes 1002 exactly
  page = list_endpoints(st, q);
  EXPECT_EQ(page.total_items, 2u);
}

TEST(tenant_list, huge_page_numbers_do_not_overflow) {
  auto st = tenant_with("t1", 2);
  list_query q;
  q.page = 4'000'000'000u;
  q.page_size = 100;
  auto page = list_endpoints(st, q);
  EXPECT_TRUE(page.items.empty());
  EXPECT_EQ(page.total_items, 2u);
}

TEST(statistics, are_zero_without_attempts) {
  auto ep = make_endpoint(4, 1);
  auto stats = statistics_of(ep);
  EXPECT_EQ(stats.ep, ep);
  EXPECT_EQ(stats.total_attempts, 0u);
  EXPECT_EQ(stats.success_rate, 0.0);
  EXPECT_FALSE(stats.last_success_at.has_value());
  EXPECT_EQ(stats.pending_events, 0u);
}

TEST(directory_apply, registers_tenants_once) {
  directory_state st;
  ASSERT_FALSE(wi::apply(st, tenant_created{"t1", "acme", "hash", 5}));
  EXPECT_EQ(st.tenants.at("t1").name, "acme");
  EXPECT_EQ(code_of(wi::apply(st, tenant_created{"t1", "again", "h", 6})),
            errc::corrupt_data);
  EXPECT_EQ(st.tenants.at("t1").name, "acme");
  auto info = info_of(st.tenants.at("t1"));
  EXPECT_EQ(info.id, "t1");
  EXPECT_TRUE(info.token.empty());
}

// The property the WAL depends on: applying records live and replaying their
// encoded form through recovery yield the same state.
TEST(replay, equals_live_application) {
  std::mt19937 rng{42};
  persistence::memory_storage store;
  node_state live;
  std::vector<std::string> tenants{"tA", "tB", "tC"};
  for (const auto& t : tenants) {
    record rec = tenant_created{t, "name-" + t, "hash-" + t, 100};
    ASSERT_FALSE(wi::apply(live, rec));
    ASSERT_TRUE(store.append({persistence::encode(rec)}));
  }
  for (int i = 0; i < 500; ++i) {
    const auto& t = tenants[rng() % tenants.size()];
    auto& st = live.tenants[t];
    record rec;
    if (st.endpoints.empty() || rng() % 3 == 0) {
      rec = endpoint_created{t, make_endpoint(st.last_id + 1 + rng() % 2,
                                              static_cast<unix_seconds>(i))};
    } else {
      auto id = 1 + rng() % st.last_id;
      if (st.endpoints.count(id) == 0)
        continue;
      rec =
        endpoint_status_changed{t, id, static_cast<endpoint_status>(rng() % 3),
                                static_cast<unix_seconds>(i)};
    }
    ASSERT_FALSE(wi::apply(live, rec));
    auto seq = store.append({persistence::encode(rec)});
    ASSERT_TRUE(seq);
    live.last_sequence = *seq;
  }
  auto replayed = recover(store);
  ASSERT_TRUE(replayed) << text_of(replayed.error());
  EXPECT_EQ(replayed->directory, live.directory);
  EXPECT_EQ(replayed->tenants, live.tenants);
  EXPECT_EQ(replayed->last_sequence, live.last_sequence);
}

TEST(replay, fails_on_a_record_that_does_not_apply) {
  persistence::memory_storage store;
  ASSERT_TRUE(store.append(
    {persistence::encode(endpoint_created{"ghost", make_endpoint(1, 1)})}));
  auto replayed = recover(store);
  ASSERT_FALSE(replayed);
  EXPECT_EQ(code_of(replayed.error()), errc::corrupt_data);
  EXPECT_NE(text_of(replayed.error()).find("WAL record 1"), std::string::npos);
}

TEST(replay, fails_on_undecodable_bytes) {
  persistence::memory_storage store;
  ASSERT_TRUE(store.append({std::string{"\x07garbage"}}));
  auto replayed = recover(store);
  ASSERT_FALSE(replayed);
  EXPECT_EQ(code_of(replayed.error()), errc::corrupt_data);
}

} // namespace
