// The tenant's endpoint index by event type (issue 19): after every kind of
// change `apply` makes, and after a snapshot round trip or an import (a
// planned move), publish lookups equal a full scan of the endpoints.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "actors/tenant/tenant_state.hpp"
#include "persistence/snapshot_codec.hpp"
#include "webhook_ingress/endpoint_index.hpp"

namespace {

using namespace wi;

/// The event types the operations draw from; publishes also ask for one no
/// endpoint lists and for `*` itself.
const std::vector<std::string> types{"a.b", "a.c", "user.created", "*"};
const std::vector<std::string> lookups{"a.b", "a.c", "user.created", "*",
                                       "never.listed"};

/// What a publish of `type` went to before the index: every endpoint that
/// `matches`, ascending.
std::vector<endpoint_id> full_scan(const tenant_state& st,
                                   std::string_view type) {
  std::vector<endpoint_id> result;
  for (const auto& [id, ep] : st.endpoints)
    if (matches(ep, type))
      result.push_back(id);
  return result;
}

/// Checks the index of `st` against a full scan; `what` names the step.
void expect_consistent(const tenant_state& st, const std::string& what) {
  EXPECT_EQ(st.subscribers.by_type(),
            endpoint_index::of(st.endpoints).by_type())
    << what;
  for (const auto& type : lookups)
    EXPECT_EQ(matching_endpoints(st, type), full_scan(st, type))
      << what << ", event type " << type;
}

endpoint make_endpoint(endpoint_id id, std::vector<std::string> subscribed) {
  return endpoint{id,
                  "https://example.com/" + std::to_string(id),
                  "secret-" + std::to_string(id),
                  std::move(subscribed),
                  {},
                  endpoint_status::active,
                  1000,
                  1000};
}

TEST(endpoint_index, lists_types_and_wildcard_without_repeats) {
  auto st = empty_tenant("t1");
  ASSERT_FALSE(
    wi::apply(st, endpoint_created{"t1", make_endpoint(1, {"a.b"})}));
  ASSERT_FALSE(wi::apply(
    st, endpoint_created{"t1", make_endpoint(2, {"*", "a.b", "a.b"})}));
  ASSERT_FALSE(
    wi::apply(st, endpoint_created{"t1", make_endpoint(3, {"a.c"})}));
  EXPECT_EQ(matching_endpoints(st, "a.b"), (std::vector<endpoint_id>{1, 2}));
  EXPECT_EQ(matching_endpoints(st, "a.c"), (std::vector<endpoint_id>{2, 3}));
  EXPECT_EQ(matching_endpoints(st, "x.y"), (std::vector<endpoint_id>{2}));
  EXPECT_EQ(matching_endpoints(st, "*"), (std::vector<endpoint_id>{2}));
  // Disabled by the tenant: not listed; tripped breaker: still listed.
  ASSERT_FALSE(wi::apply(
    st, endpoint_status_changed{"t1", 2, endpoint_status::inactive, 1001}));
  ASSERT_FALSE(wi::apply(st, breaker_changed{"t1", 1, endpoint_status::disabled,
                                             "gone", 1001000, 1061000, 60000}));
  EXPECT_EQ(matching_endpoints(st, "a.b"), (std::vector<endpoint_id>{1}));
  EXPECT_EQ(matching_endpoints(st, "x.y"), std::vector<endpoint_id>{});
  // No type keeps an empty list.
  ASSERT_FALSE(wi::apply(st, endpoint_deleted{"t1", 3, 1002}));
  EXPECT_EQ(st.subscribers.by_type().count("a.c"), 0u);
  expect_consistent(st, "end");
}

/// Random sequences of every change `apply` makes to endpoints, with
/// publishes, snapshot round trips and imports in between; after each step
/// the index equals a full scan, and replaying the records from scratch
/// gives the same index.
TEST(endpoint_index, equals_a_full_scan_after_random_changes) {
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    std::mt19937 rng{seed};
    auto pick = [&rng](size_t n) {
      return std::uniform_int_distribution<size_t>{0, n - 1}(rng);
    };
    auto some_types = [&] {
      std::vector<std::string> result;
      auto n = 1 + pick(3);
      for (size_t i = 0; i < n; ++i)
        result.push_back(types[pick(types.size())]); // repeats allowed
      return result;
    };
    auto st = empty_tenant("t1");
    std::vector<record> log;
    endpoint_id next = 1;
    int64_t at = 1000;
    uint32_t events = 0;
    for (int step = 0; step < 300; ++step) {
      ++at;
      // An existing endpoint (ids of deleted ones too: races with a
      // delete must change nothing).
      auto some_id = [&] { return 1 + pick(next == 1 ? 1 : next - 1); };
      std::optional<record> rec;
      auto what = pick(9);
      switch (what) {
      case 0:
      case 1:
        rec = endpoint_created{"t1", make_endpoint(next++, some_types())};
        break;
      case 2: {
        auto status =
          pick(2) == 0 ? endpoint_status::inactive : endpoint_status::active;
        rec = endpoint_status_changed{"t1", some_id(), status, at};
        break;
      }
      case 3: {
        auto status =
          pick(2) == 0 ? endpoint_status::disabled : endpoint_status::active;
        rec = breaker_changed{
          "t1",      some_id(),         status, "consecutive_failures",
          at * 1000, at * 1000 + 60000, 60000};
        break;
      }
      case 4: {
        endpoint_patch patch;
        patch.event_types = some_types();
        if (pick(2) == 0)
          patch.description = "changed";
        rec = endpoint_updated{"t1", some_id(), at, patch};
        break;
      }
      case 5:
        rec = endpoint_deleted{"t1", some_id(), at};
        break;
      case 6: {
        const auto& type = lookups[pick(lookups.size())];
        rec =
          event_accepted{"t1",      "evt_" + std::to_string(++events), type, {},
                         at * 1000, matching_endpoints(st, type)};
        break;
      }
      case 7: { // a snapshot, and recovery from it
        auto decoded =
          persistence::decode_tenant_snapshot(persistence::encode_snapshot(st));
        ASSERT_TRUE(decoded) << "seed " << seed << " step " << step;
        expect_consistent(*decoded, "decoded snapshot");
        st = std::move(*decoded);
        break;
      }
      default: // a planned move: the state arrives whole
        rec = tenant_state_imported{"t1", persistence::encode_snapshot(st)};
        break;
      }
      if (next == 1 && rec && !std::holds_alternative<endpoint_created>(*rec))
        continue; // nothing to change yet
      if (rec) {
        // Records about endpoints never created are corrupt and change
        // nothing: those are not part of the sequence.
        if (wi::apply(st, *rec))
          continue;
        log.push_back(*rec);
      }
      expect_consistent(st, "seed " + std::to_string(seed) + " step " +
                              std::to_string(step) + " op " +
                              std::to_string(what));
      if (HasFailure())
        return;
    }
    auto replayed = empty_tenant("t1");
    for (const auto& rec : log)
      ASSERT_FALSE(wi::apply(replayed, rec));
    EXPECT_EQ(replayed.subscribers.by_type(), st.subscribers.by_type())
      << "seed " << seed;
    EXPECT_EQ(replayed, st) << "seed " << seed;
  }
}

} // namespace
