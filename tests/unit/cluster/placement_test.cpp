#include "actors/cluster/placement.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

using namespace wi::cluster;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> tenant_ids(size_t n) {
  std::vector<std::string> result;
  for (size_t i = 0; i < n; ++i)
    result.push_back("t" + std::to_string(i * 7919 + 13));
  return result;
}

std::vector<std::string> owners(const std::vector<std::string>& tenants,
                                const std::vector<std::string>& nodes) {
  std::vector<std::string> result;
  for (const auto& t : tenants)
    result.push_back(*rendezvous_owner(t, nodes));
  return result;
}

} // namespace

TEST(placement, rendezvous_is_deterministic_and_independent_of_order) {
  std::vector<std::string> nodes{"node_a", "node_b", "node_c"};
  std::vector<std::string> reversed{"node_c", "node_b", "node_a"};
  for (const auto& t : tenant_ids(1000))
    EXPECT_EQ(rendezvous_owner(t, nodes), rendezvous_owner(t, reversed)) << t;
  // Fixed across builds and platforms: these values are part of the
  // cluster's contract (every node must compute the same owner).
  EXPECT_EQ(rendezvous_score("tenant", "node"),
            rendezvous_score("tenant", "node"));
  EXPECT_NE(rendezvous_score("tenant", "node_a"),
            rendezvous_score("tenant", "node_b"));
}

TEST(placement, no_candidate_no_owner) {
  EXPECT_FALSE(rendezvous_owner("t1", {}).has_value());
  EXPECT_EQ(rendezvous_owner("t1", {"only"}), "only");
}

TEST(placement, spreads_tenants_evenly) {
  std::vector<std::string> nodes{"n1", "n2", "n3", "n4"};
  std::map<std::string, size_t> count;
  for (const auto& o : owners(tenant_ids(10000), nodes))
    ++count[o];
  ASSERT_EQ(count.size(), 4u);
  for (const auto& [node, n] : count) {
    EXPECT_GT(n, 2300u) << node;
    EXPECT_LT(n, 2700u) << node;
  }
}

TEST(placement, a_join_moves_about_one_in_n_and_only_to_the_new_node) {
  auto tenants = tenant_ids(10000);
  auto before = owners(tenants, {"n1", "n2", "n3"});
  auto after = owners(tenants, {"n1", "n2", "n3", "n4"});
  size_t moved = 0;
  for (size_t i = 0; i < tenants.size(); ++i)
    if (before[i] != after[i]) {
      ++moved;
      EXPECT_EQ(after[i], "n4") << tenants[i];
    }
  // 1/4 of 10 000 = 2 500, within a few percent.
  EXPECT_GT(moved, 2300u);
  EXPECT_LT(moved, 2700u);
}

TEST(placement, a_removal_moves_only_the_removed_nodes_tenants) {
  auto tenants = tenant_ids(10000);
  auto before = owners(tenants, {"n1", "n2", "n3", "n4"});
  auto after = owners(tenants, {"n1", "n2", "n4"});
  size_t moved = 0;
  for (size_t i = 0; i < tenants.size(); ++i) {
    if (before[i] == "n3") {
      EXPECT_NE(after[i], "n3");
      ++moved;
    } else {
      EXPECT_EQ(after[i], before[i]) << tenants[i];
    }
  }
  EXPECT_GT(moved, 2300u);
  EXPECT_LT(moved, 2700u);
}

TEST(placement, candidates_are_the_active_members) {
  std::vector<member> members{{"a", "h:1", "p:1", node_state::active},
                              {"b", "h:2", "p:2", node_state::joining},
                              {"c", "h:3", "p:3", node_state::draining},
                              {"d", "h:4", "p:4", node_state::drained},
                              {"e", "h:5", "p:5", node_state::active}};
  EXPECT_EQ(placement_candidates(members),
            (std::vector<std::string>{"a", "e"}));
}

TEST(placement, counts_by_owner) {
  std::map<std::string, placement, std::less<>> map{
    {"t1", {"a", 1}}, {"t2", {"b", 3}}, {"t3", {"a", 2}}};
  EXPECT_EQ(count_by_owner(map),
            (std::map<std::string, size_t>{{"a", 2}, {"b", 1}}));
}

TEST(placement, self_fencing_by_renewal_age) {
  std::chrono::steady_clock::time_point t0{std::chrono::seconds{100}};
  EXPECT_FALSE(may_acknowledge(t0, std::nullopt, 2s, 500ms));
  EXPECT_TRUE(may_acknowledge(t0, t0, 2s, 500ms));
  EXPECT_TRUE(may_acknowledge(t0 + 1499ms, t0, 2s, 500ms));
  EXPECT_FALSE(may_acknowledge(t0 + 1500ms, t0, 2s, 500ms));
  EXPECT_FALSE(may_acknowledge(t0 + 10s, t0, 2s, 500ms));
}

TEST(placement, member_and_placement_values_round_trip) {
  member m{"node_x", "127.0.0.1:8080", "127.0.0.1:9000", node_state::draining};
  auto text = encode_member(m);
  EXPECT_EQ(text, R"({"id":"node_x","http":"127.0.0.1:8080",)"
                  R"("peer":"127.0.0.1:9000","state":"draining"})");
  auto back = decode_member(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, m.id);
  EXPECT_EQ(back->http, m.http);
  EXPECT_EQ(back->peer, m.peer);
  EXPECT_EQ(back->state, m.state);
  EXPECT_FALSE(decode_member(R"({"id":"x","http":"h","peer":"p"})"));
  EXPECT_FALSE(
    decode_member(R"({"id":"x","http":"h","peer":"p","state":"up"})"));
  EXPECT_FALSE(decode_member("not json"));

  EXPECT_EQ(encode_placement({"node_x", 7}), R"({"owner":"node_x","epoch":7})");
  auto p = decode_placement(R"({"owner":"node_x","epoch":7})");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->owner, "node_x");
  EXPECT_EQ(p->epoch, 7u);
  EXPECT_FALSE(decode_placement(R"({"owner":"node_x"})"));
  EXPECT_FALSE(decode_placement(R"({"owner":"","epoch":1})"));
  EXPECT_FALSE(decode_placement(R"({"owner":"a","epoch":-1})"));
  // Pins (issue 15): written only when set; values without one read as
  // unpinned, as before pins existed.
  EXPECT_FALSE(p->pinned);
  placement pin{"node_x", 7};
  pin.pinned = true;
  EXPECT_EQ(encode_placement(pin),
            R"({"owner":"node_x","epoch":7,"pinned":true})");
  auto pinned =
    decode_placement(R"({"owner":"node_x","epoch":7,"pinned":true})");
  ASSERT_TRUE(pinned);
  EXPECT_TRUE(pinned->pinned);
  EXPECT_EQ(pinned->epoch, 7u);
  EXPECT_FALSE(
    decode_placement(R"({"owner":"node_x","epoch":7,"pinned":false})")->pinned);
  EXPECT_FALSE(decode_placement(R"({"owner":"node_x","epoch":7,"pinned":1})"));
}

TEST(placement, key_prefixes) {
  EXPECT_EQ(members_prefix("/wi"), "/wi/members/");
  EXPECT_EQ(tenants_prefix("/wi"), "/wi/tenants/");
}
