// The event-history indexes (issue 17): kept in step record by record, they
// answer exactly what a scan of the state answers, and equal a rebuild.

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "actors/tenant/event_history.hpp"
#include "actors/tenant/tenant_state.hpp"

using namespace wi;

namespace {

const std::string tid = "T1";

/// A tenant state with its index, changed only through `apply`.
struct indexed {
  tenant_state st = empty_tenant(tid);
  event_history index;

  void apply(const record& rec) {
    index.before(st, rec);
    ASSERT_FALSE(wi::apply(st, rec));
    index.after(st, rec);
  }
};

endpoint make_endpoint(endpoint_id id) {
  endpoint ep;
  ep.id = id;
  ep.url = "http://127.0.0.1/x";
  ep.secret = "secret-secret";
  ep.event_types = {"*"};
  return ep;
}

/// What `list` must answer, by a scan of every event.
event_page scan(const tenant_state& st, const event_query& q) {
  std::vector<const event_state*> hits;
  for (const auto& [id, ev] : st.events)
    if ((q.event_type.empty() || ev.type == q.event_type) &&
        (!q.created_from || ev.created_at >= *q.created_from) &&
        (!q.created_to || ev.created_at <= *q.created_to))
      hits.push_back(&ev);
  std::sort(hits.begin(), hits.end(), [](const auto* x, const auto* y) {
    return x->created_at != y->created_at ? x->created_at > y->created_at
                                          : x->id > y->id;
  });
  event_page result;
  result.page = q.page;
  result.page_size = q.page_size;
  result.total_items = hits.size();
  auto first = (static_cast<uint64_t>(q.page) - 1) * q.page_size;
  for (auto k = first; k < first + q.page_size && k < hits.size(); ++k)
    result.items.push_back(*hits[k]);
  return result;
}

std::vector<std::string> ids(const event_page& p) {
  std::vector<std::string> result;
  for (const auto& ev : p.items)
    result.push_back(ev.id);
  return result;
}

attempt_recorded failed_attempt(const std::string& event, endpoint_id ep,
                                unix_millis at) {
  attempt_recorded rec;
  rec.tenant_id = tid;
  rec.endpoint = ep;
  rec.attempt = attempt_info{event, 1, at, 500, 7, {}, "no"};
  rec.outcome = delivery_status::failed;
  rec.reason = "exhausted";
  return rec;
}

} // namespace

TEST(event_history, pages_match_a_scan_through_accepts_and_prunes) {
  indexed x;
  x.apply(endpoint_created{tid, make_endpoint(1)});
  std::mt19937 rng{17};
  const std::vector<std::string> types{"a.x", "b.y", "c.z"};
  for (int i = 0; i < 300; ++i) {
    // Several events per millisecond, and times not always increasing.
    auto at = 1'000'000 + static_cast<unix_millis>(rng() % 120);
    event_accepted rec{
      tid, "evt_" + std::to_string(i), types[rng() % 3], {}, at, {1}, 10};
    x.apply(rec);
  }
  // Prune a third of them (their delivery ended first).
  history_pruned pruned{tid, 0, {}};
  for (int i = 0; i < 300; i += 3) {
    auto id = "evt_" + std::to_string(i);
    x.apply(failed_attempt(id, 1, 2'000'000 + i));
    pruned.event_ids.push_back(id);
  }
  x.apply(pruned);
  ASSERT_EQ(x.index.size(), 200u);
  for (int round = 0; round < 500; ++round) {
    event_query q;
    q.page = 1 + static_cast<uint32_t>(rng() % 12);
    q.page_size = 1 + static_cast<uint32_t>(rng() % 30);
    if (rng() % 2)
      q.event_type = rng() % 4 == 0 ? "none" : types[rng() % 3];
    if (rng() % 2)
      q.created_from = 1'000'000 + static_cast<unix_millis>(rng() % 130) - 5;
    if (rng() % 2)
      q.created_to = 1'000'000 + static_cast<unix_millis>(rng() % 130) - 5;
    auto got = x.index.list(x.st, q);
    auto want = scan(x.st, q);
    ASSERT_EQ(ids(got), ids(want)) << "round " << round;
    ASSERT_EQ(got.total_items, want.total_items) << "round " << round;
  }
}

TEST(event_history, failed_deliveries_by_failure_time_until_requeued) {
  indexed x;
  x.apply(endpoint_created{tid, make_endpoint(1)});
  x.apply(endpoint_created{tid, make_endpoint(2)});
  for (int i = 0; i < 4; ++i)
    x.apply(event_accepted{
      tid, "evt_" + std::to_string(i), "a.x", {}, 100 + i, {1, 2}, 1});
  // Failed for good at 1007 (at + latency) ...; one delivered; one expired.
  x.apply(failed_attempt("evt_0", 1, 1000));
  x.apply(failed_attempt("evt_1", 1, 2000));
  x.apply(failed_attempt("evt_2", 1, 3000));
  auto ok = failed_attempt("evt_3", 1, 500);
  ok.outcome = delivery_status::delivered;
  ok.reason.clear();
  x.apply(ok);
  x.apply(delivery_expired{tid, "evt_3", 2, 4000});
  EXPECT_EQ(x.index.failed_since(1, 0, 10),
            (std::vector<std::string>{"evt_0", "evt_1", "evt_2"}));
  EXPECT_EQ(x.index.failed_since(1, 2007, 10),
            (std::vector<std::string>{"evt_1", "evt_2"}));
  EXPECT_EQ(x.index.failed_since(1, 2008, 10),
            std::vector<std::string>{"evt_2"});
  EXPECT_EQ(x.index.failed_since(1, 0, 2),
            (std::vector<std::string>{"evt_0", "evt_1"}));
  EXPECT_EQ(x.index.failed_since(2, 4000, 10),
            std::vector<std::string>{"evt_3"});
  // A re-queued delivery leaves the index; a late outcome of an attempt
  // under way does not put it back while it is pending.
  x.apply(delivery_rescheduled{tid, "evt_1", 1, 5000});
  EXPECT_EQ(x.index.failed_since(1, 0, 10),
            (std::vector<std::string>{"evt_0", "evt_2"}));
  // The same index as a rebuild from the state.
  event_history rebuilt;
  rebuilt.rebuild(x.st);
  for (endpoint_id ep : {1, 2})
    EXPECT_EQ(rebuilt.failed_since(ep, 0, 10), x.index.failed_since(ep, 0, 10));
  // A deleted endpoint's failed deliveries (cancelled or not) go with it.
  x.apply(endpoint_deleted{tid, 1, 0});
  EXPECT_TRUE(x.index.failed_since(1, 0, 10).empty());
  EXPECT_EQ(x.index.failed_since(2, 0, 10), std::vector<std::string>{"evt_3"});
}

TEST(event_history, attempts_of_an_event_newest_first_over_endpoints) {
  indexed x;
  x.apply(endpoint_created{tid, make_endpoint(1)});
  x.apply(endpoint_created{tid, make_endpoint(2)});
  x.apply(event_accepted{tid, "evt_a", "a.x", {}, 100, {1, 2}, 1});
  x.apply(event_accepted{tid, "evt_b", "a.x", {}, 100, {1}, 1});
  auto pending = failed_attempt("evt_a", 1, 1000);
  pending.outcome = delivery_status::pending;
  pending.reason.clear();
  pending.next_attempt_at = 1500;
  x.apply(pending);
  x.apply(failed_attempt("evt_b", 1, 1100));
  auto second = failed_attempt("evt_a", 1, 2000);
  second.attempt.attempt = 2;
  x.apply(second);
  x.apply(failed_attempt("evt_a", 2, 1200));
  auto page = attempts_of_event(x.st, x.st.events.at("evt_a"), 1, 10);
  ASSERT_EQ(page.total_items, 3u);
  ASSERT_EQ(page.items.size(), 3u);
  EXPECT_EQ(page.items[0].endpoint, 1u);
  EXPECT_EQ(page.items[0].attempt.attempt, 2u);
  EXPECT_EQ(page.items[1].endpoint, 2u);
  EXPECT_EQ(page.items[2].attempt.at, 1000);
  page = attempts_of_event(x.st, x.st.events.at("evt_a"), 2, 2);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].attempt.at, 1000);
}
