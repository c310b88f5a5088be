#include "actors/cluster/routing.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "webhook_ingress/error.hpp"

using namespace wi::cluster;
using namespace std::chrono_literals;

namespace {

route_facts direct(std::optional<placement> cached, bool held,
                   std::optional<std::string> rendezvous) {
  route_facts f;
  f.self = "a";
  f.cached = std::move(cached);
  f.held = held;
  f.rendezvous = std::move(rendezvous);
  return f;
}

route_facts forwarded(uint64_t epoch, std::optional<placement> cached,
                      bool held) {
  route_facts f;
  f.self = "a";
  f.cached = std::move(cached);
  f.held = held;
  f.forwarded_epoch = epoch;
  return f;
}

const route_decision serve{route_action::serve_here, {}, 0};
const route_decision look_up{route_action::look_up, {}, 0};

route_decision forward(std::string node, uint64_t epoch) {
  return {route_action::forward, std::move(node), epoch};
}

} // namespace

// -- decide_route -------------------------------------------------------------

TEST(decide_route, a_cached_placement_decides_a_direct_request) {
  EXPECT_EQ(decide_route(direct(placement{"a", 3}, false, "b")), serve);
  EXPECT_EQ(decide_route(direct(placement{"b", 3}, true, "a")),
            forward("b", 3));
}

TEST(decide_route, an_uncached_tenant_held_here_is_served_here) {
  EXPECT_EQ(decide_route(direct(std::nullopt, true, "b")), serve);
  EXPECT_EQ(decide_route(direct(std::nullopt, true, "a")), serve);
}

TEST(decide_route, an_unknown_tenant_goes_to_its_rendezvous_owner_elsewhere) {
  EXPECT_EQ(decide_route(direct(std::nullopt, false, "b")), forward("b", 0));
}

// The race of issue 15's CI flake: the tenant exists on another node, this
// node's watch has not shown it yet, and the rendezvous owner is this node
// (or no member is active): only etcd knows, so it is asked.
TEST(decide_route,
     an_unknown_tenant_whose_rendezvous_owner_is_here_is_looked_up) {
  EXPECT_EQ(decide_route(direct(std::nullopt, false, "a")), look_up);
  EXPECT_EQ(decide_route(direct(std::nullopt, false, std::nullopt)), look_up);
}

TEST(decide_route, once_looked_up_or_known_missing_the_tenant_is_judged_here) {
  auto f = direct(std::nullopt, false, "a");
  f.looked_up = true;
  EXPECT_EQ(decide_route(f), serve);
  // What etcd said comes in as the cached placement.
  f.cached = placement{"c", 2};
  EXPECT_EQ(decide_route(f), forward("c", 2));
  f.cached = placement{"a", 2};
  EXPECT_EQ(decide_route(f), serve);
}

TEST(decide_route, a_forwarded_request_is_refused_when_its_sender_knew_newer) {
  EXPECT_EQ(decide_route(forwarded(4, placement{"a", 3}, true)).action,
            route_action::refuse_newer_epoch);
  EXPECT_EQ(decide_route(forwarded(3, placement{"a", 3}, true)), serve);
}

TEST(decide_route, a_forwarded_request_goes_on_only_to_a_newer_epoch) {
  EXPECT_EQ(decide_route(forwarded(2, placement{"c", 3}, false)),
            forward("c", 3));
  EXPECT_EQ(decide_route(forwarded(3, placement{"c", 3}, false)).action,
            route_action::refuse_not_owner);
  EXPECT_EQ(decide_route(forwarded(0, placement{"c", 1}, false)),
            forward("c", 1));
}

TEST(decide_route,
     an_uncached_forwarded_request_is_looked_up_only_after_a_guess) {
  // The sender went by rendezvous (epoch 0): the owner may be a third node.
  EXPECT_EQ(decide_route(forwarded(0, std::nullopt, false)), look_up);
  // The sender knew a placement naming this node: judged here.
  EXPECT_EQ(decide_route(forwarded(2, std::nullopt, false)), serve);
  EXPECT_EQ(decide_route(forwarded(0, std::nullopt, true)), serve);
  auto f = forwarded(0, std::nullopt, false);
  f.looked_up = true;
  EXPECT_EQ(decide_route(f), serve);
}

// -- placement_lookups --------------------------------------------------------

namespace {

using clock_point = placement_lookups::clock_point;

struct recorder {
  std::vector<placement_lookups::result> got;
  placement_lookups::waiter waiter() {
    return [this](placement_lookups::result r) { got.push_back(std::move(r)); };
  }
  /// `book.begin(tenant)` with a waiter that records here.
  lookup_start begin(placement_lookups& book, const std::string& tenant,
                     clock_point now) {
    auto w = waiter();
    return book.begin(tenant, w, now);
  }
};

void call_all(std::vector<placement_lookups::waiter> ws,
              const placement_lookups::result& r) {
  for (auto& w : ws)
    w(r);
}

} // namespace

TEST(placement_lookups, reads_of_one_key_coalesce_and_answer_every_waiter) {
  placement_lookups book{4, 1000ms, 16};
  clock_point t0{};
  recorder rx;
  EXPECT_EQ(rx.begin(book, "t1", t0), lookup_start::read);
  EXPECT_EQ(rx.begin(book, "t1", t0), lookup_start::joined);
  EXPECT_EQ(book.in_flight(), 1u);
  placement_lookups::result found = std::optional<placement>{{"b", 2}};
  call_all(book.finish("t1", found, t0), found);
  ASSERT_EQ(rx.got.size(), 2u);
  for (const auto& r : rx.got) {
    ASSERT_TRUE(r && *r);
    EXPECT_EQ((*r)->owner, "b");
    EXPECT_EQ((*r)->epoch, 2u);
  }
  EXPECT_EQ(book.in_flight(), 0u);
  EXPECT_FALSE(book.known_missing("t1", t0)); // found: nothing remembered
}

TEST(placement_lookups, past_the_cap_new_keys_are_refused_joins_are_not) {
  placement_lookups book{2, 1000ms, 16};
  clock_point t0{};
  recorder rx;
  EXPECT_EQ(rx.begin(book, "t1", t0), lookup_start::read);
  EXPECT_EQ(rx.begin(book, "t2", t0), lookup_start::read);
  EXPECT_EQ(rx.begin(book, "t3", t0), lookup_start::full);
  EXPECT_EQ(rx.begin(book, "t2", t0), lookup_start::joined);
  placement_lookups::result none = std::optional<placement>{};
  call_all(book.finish("t1", none, t0), none);
  EXPECT_EQ(rx.begin(book, "t3", t0), lookup_start::read);
}

TEST(placement_lookups, no_key_is_remembered_for_the_ttl_until_placed) {
  placement_lookups book{4, 1000ms, 16};
  clock_point t0{};
  recorder rx;
  ASSERT_EQ(rx.begin(book, "t1", t0), lookup_start::read);
  placement_lookups::result none = std::optional<placement>{};
  call_all(book.finish("t1", none, t0), none);
  EXPECT_TRUE(book.known_missing("t1", t0 + 999ms));
  EXPECT_EQ(rx.begin(book, "t1", t0 + 500ms), lookup_start::known_missing);
  EXPECT_FALSE(book.known_missing("t1", t0 + 1000ms));
  // A placement that appears (watch, claim) ends the entry at once.
  ASSERT_EQ(rx.begin(book, "t2", t0), lookup_start::read);
  call_all(book.finish("t2", none, t0), none);
  book.placed("t2");
  EXPECT_FALSE(book.known_missing("t2", t0));
  // An error is not remembered.
  ASSERT_EQ(rx.begin(book, "t3", t0), lookup_start::read);
  placement_lookups::result failed =
    wi::make_error(wi::errc::tenant_unavailable, "etcd away");
  call_all(book.finish("t3", failed, t0), failed);
  EXPECT_FALSE(book.known_missing("t3", t0));
}

TEST(placement_lookups, the_negative_cache_is_bounded_oldest_first) {
  placement_lookups book{4, 10'000ms, 3};
  clock_point t0{};
  placement_lookups::result none = std::optional<placement>{};
  for (int i = 0; i < 5; ++i) {
    placement_lookups::waiter w = [](placement_lookups::result) {};
    auto id = "t" + std::to_string(i);
    ASSERT_EQ(book.begin(id, w, t0), lookup_start::read);
    call_all(book.finish(id, none, t0), none);
  }
  EXPECT_EQ(book.missing_entries(), 3u);
  EXPECT_FALSE(book.known_missing("t0", t0));
  EXPECT_FALSE(book.known_missing("t1", t0));
  EXPECT_TRUE(book.known_missing("t2", t0));
  EXPECT_TRUE(book.known_missing("t4", t0));
}

TEST(placement_lookups, take_all_hands_back_every_waiter) {
  placement_lookups book{4, 1000ms, 16};
  clock_point t0{};
  recorder rx;
  ASSERT_EQ(rx.begin(book, "t1", t0), lookup_start::read);
  ASSERT_EQ(rx.begin(book, "t1", t0), lookup_start::joined);
  ASSERT_EQ(rx.begin(book, "t2", t0), lookup_start::read);
  EXPECT_EQ(book.take_all().size(), 3u);
  EXPECT_EQ(book.in_flight(), 0u);
}
