#include "actors/cluster/replication_state.hpp"

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "actors/cluster/placement.hpp"
#include "actors/common/clock.hpp"
#include "tests/unit/cluster/tenant_ids.hpp"

using namespace wi::cluster;
using namespace std::chrono_literals;

namespace {

using wi::cluster::testing::tenant_ids;

constexpr auto timeout = std::chrono::milliseconds{1000};

/// The tracker's next step at the clock's time, with the 1 s bounded wait.
replica_step step(const replica_tracker& r, const wi::fake_clock& clk,
                  const std::optional<std::string>& wanted,
                  bool backup_active = true) {
  return r.next(wanted, backup_active, clk.steady_now(), timeout);
}

/// A tracker whose backup `node` was filled and joined the key.
replica_tracker in_sync_with(const std::string& node,
                             const wi::fake_clock& clk) {
  replica_tracker r;
  r.fill_started(node);
  r.on_base_sent(clk.steady_now());
  r.on_base_acked();
  r.joined();
  return r;
}

} // namespace

TEST(replication_state, backup_is_the_next_node_in_rendezvous_order) {
  std::vector<std::string> nodes{"n1", "n2", "n3", "n4"};
  for (const auto& t : tenant_ids(2000)) {
    auto owner = *rendezvous_owner(t, nodes);
    auto backup = choose_backup(t, owner, nodes);
    ASSERT_TRUE(backup.has_value()) << t;
    EXPECT_NE(*backup, owner) << t;
    // The second-highest score: no other non-owner beats it.
    for (const auto& n : nodes) {
      if (n != owner && n != *backup) {
        EXPECT_GT(rendezvous_score(t, *backup), rendezvous_score(t, n)) << t;
      }
    }
    // Losing the owner makes the backup the rendezvous owner: the node that
    // holds the copy is the one placement picks (failover moves nothing).
    std::vector<std::string> rest;
    for (const auto& n : nodes)
      if (n != owner)
        rest.push_back(n);
    EXPECT_EQ(rendezvous_owner(t, rest), backup) << t;
  }
}

TEST(replication_state, no_backup_without_a_second_candidate) {
  EXPECT_FALSE(choose_backup("t1", "n1", {}).has_value());
  EXPECT_FALSE(choose_backup("t1", "n1", {"n1"}).has_value());
  EXPECT_EQ(choose_backup("t1", "n1", {"n1", "n2"}), "n2");
  // An owner that is no candidate itself (draining) still gets the best one.
  EXPECT_EQ(choose_backup("t1", "n9", {"n2"}), "n2");
}

TEST(replication_state, a_join_changes_only_what_the_new_node_wins) {
  std::vector<std::string> three{"n1", "n2", "n3"};
  std::vector<std::string> four{"n1", "n2", "n3", "n4"};
  size_t new_owner = 0;
  size_t new_backup = 0;
  size_t total = 0;
  for (const auto& t : tenant_ids(4000)) {
    auto owner3 = *rendezvous_owner(t, three);
    auto backup3 = choose_backup(t, owner3, three);
    auto owner4 = *rendezvous_owner(t, four);
    auto backup4 = choose_backup(t, owner4, four);
    ++total;
    if (owner4 != owner3) {
      // The tenant moves to the new node, and its old owner, which holds
      // the data, becomes its backup.
      ++new_owner;
      EXPECT_EQ(owner4, "n4") << t;
      EXPECT_EQ(backup4, owner3) << t;
    } else if (backup4 != backup3) {
      ++new_backup;
      EXPECT_EQ(backup4, "n4") << t;
    }
  }
  // The new node is first for about 1/4 of the tenants and second for
  // another 1/4; nothing else changes.
  auto owners = static_cast<double>(new_owner) / static_cast<double>(total);
  auto backups = static_cast<double>(new_backup) / static_cast<double>(total);
  EXPECT_NEAR(owners, 0.25, 0.03);
  EXPECT_NEAR(backups, 0.25, 0.03);
}

TEST(replication_state, placement_key_carries_the_backup_only_when_set) {
  placement one{"n1", 3};
  EXPECT_EQ(encode_placement(one), R"({"owner":"n1","epoch":3})");
  auto back = decode_placement(encode_placement(one));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->owner, "n1");
  EXPECT_EQ(back->epoch, 3u);
  EXPECT_EQ(back->backup, "");

  placement two{"n1", 4, "n2"};
  EXPECT_EQ(encode_placement(two), R"({"owner":"n1","epoch":4,"backup":"n2"})");
  back = decode_placement(encode_placement(two));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->owner, "n1");
  EXPECT_EQ(back->epoch, 4u);
  EXPECT_EQ(back->backup, "n2");

  EXPECT_FALSE(decode_placement(R"({"owner":"n1","epoch":1,"backup":7})"));
}

TEST(replication_state, a_fill_joins_once_base_and_every_batch_are_acked) {
  wi::fake_clock clk;
  replica_tracker r;
  std::optional<std::string> wanted{"n2"};
  EXPECT_EQ(step(r, clk, wanted), replica_step::start_fill);
  EXPECT_EQ(step(r, clk, std::nullopt, false), replica_step::none);
  r.fill_started("n2");
  EXPECT_EQ(r.phase, replica_phase::filling);
  EXPECT_EQ(step(r, clk, wanted), replica_step::none);

  r.on_base_sent(clk.steady_now());
  r.on_sent(3, clk.steady_now());
  clk.advance(10);
  r.on_sent(2, clk.steady_now());
  EXPECT_EQ(r.lag(), 5u);
  r.on_base_acked();
  EXPECT_EQ(step(r, clk, wanted), replica_step::none);
  r.on_acked(3);
  EXPECT_EQ(r.lag(), 2u);
  EXPECT_EQ(step(r, clk, wanted), replica_step::none);
  r.on_acked(5);
  EXPECT_EQ(r.lag(), 0u);
  EXPECT_EQ(step(r, clk, wanted), replica_step::join);
  r.joined();
  EXPECT_EQ(r.phase, replica_phase::in_sync);
  EXPECT_EQ(step(r, clk, wanted), replica_step::none);
}

TEST(replication_state, a_fill_of_a_node_not_wanted_or_too_slow_is_abandoned) {
  wi::fake_clock clk;
  replica_tracker r;
  r.fill_started("n2");
  EXPECT_EQ(step(r, clk, std::string{"n3"}), replica_step::abandon_fill);
  EXPECT_EQ(step(r, clk, std::string{"n2"}, false), replica_step::abandon_fill);
  r.on_base_sent(clk.steady_now());
  clk.advance(999);
  EXPECT_EQ(step(r, clk, std::string{"n2"}), replica_step::none);
  clk.advance(1);
  EXPECT_EQ(step(r, clk, std::string{"n2"}), replica_step::abandon_fill);
  r.dropped();
  EXPECT_EQ(r.phase, replica_phase::alone);
  EXPECT_EQ(r.backup, "");
  EXPECT_EQ(r.lag(), 0u);
}

TEST(replication_state, an_in_sync_backup_is_dropped_after_the_bounded_wait) {
  wi::fake_clock clk;
  auto r = in_sync_with("n2", clk);
  ASSERT_EQ(r.phase, replica_phase::in_sync);

  r.on_sent(1, clk.steady_now()); // batch 1 at t0
  clk.advance(400);
  r.on_sent(4, clk.steady_now()); // batch 2 at t0 + 400
  clk.advance(599);
  EXPECT_FALSE(r.overdue(clk.steady_now(), timeout));
  clk.advance(1); // batch 1 is 1000 ms old
  EXPECT_TRUE(r.overdue(clk.steady_now(), timeout));
  r.on_acked(1); // late answer: the oldest is now batch 2, 600 ms old
  EXPECT_FALSE(r.overdue(clk.steady_now(), timeout));
  EXPECT_EQ(step(r, clk, std::string{"n2"}), replica_step::none);
  clk.advance(400);
  EXPECT_EQ(step(r, clk, std::string{"n2"}), replica_step::drop);
  r.drop_started();
  EXPECT_EQ(r.phase, replica_phase::dropping);
  EXPECT_EQ(step(r, clk, std::string{"n2"}), replica_step::none);
  EXPECT_EQ(r.lag(), 4u);
  r.dropped();
  EXPECT_EQ(r.phase, replica_phase::alone);
  // A candidate exists again: fill it (the tenant was under-replicated).
  EXPECT_EQ(step(r, clk, std::string{"n3"}), replica_step::start_fill);
}

TEST(replication_state, an_in_sync_backup_stays_on_a_join_but_not_when_gone) {
  wi::fake_clock clk;
  auto r = in_sync_with("n2", clk);
  // A join made n4 the first candidate: n2 stays (no churn).
  EXPECT_EQ(step(r, clk, std::string{"n4"}), replica_step::none);
  // n2 left the active members (lease expired, draining): dropped at once.
  EXPECT_EQ(step(r, clk, std::string{"n4"}, false), replica_step::drop);
}

TEST(replication_state, stale_or_impossible_acks_change_nothing) {
  wi::fake_clock clk;
  replica_tracker r;
  r.fill_started("n2");
  r.on_sent(2, clk.steady_now());
  r.on_sent(2, clk.steady_now());
  r.on_acked(4);
  r.on_acked(2); // older, arriving late
  EXPECT_EQ(r.acked, 4u);
  r.on_acked(9); // never sent
  EXPECT_EQ(r.acked, 4u);
  EXPECT_TRUE(r.in_flight.empty());
  EXPECT_EQ(to_string(replica_phase::in_sync), "in_sync");
}
