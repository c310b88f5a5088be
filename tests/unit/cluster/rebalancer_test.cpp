#include "actors/cluster/rebalancer.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "actors/cluster/placement.hpp"
#include "webhook_ingress/error.hpp"

using namespace wi::cluster;
using namespace std::chrono_literals;

namespace {

member active(std::string id) {
  return {std::move(id), "127.0.0.1:1", "127.0.0.1:2", node_state::active};
}

std::vector<std::string> tenant_ids(size_t n) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i)
    ids.push_back("tenant-" + std::to_string(i));
  return ids;
}

/// The tenants of `ids` whose rendezvous owner among `nodes` is `node`.
std::vector<std::string> owned_by(const std::string& node,
                                  const std::vector<std::string>& ids,
                                  const std::vector<std::string>& nodes) {
  std::vector<std::string> result;
  for (const auto& t : ids)
    if (rendezvous_owner(t, nodes) == node)
      result.push_back(t);
  return result;
}

cluster_picture picture_of(std::string self, node_state state,
                           std::vector<member> members,
                           std::vector<std::string> owned) {
  cluster_picture p;
  p.self = std::move(self);
  p.self_state = state;
  p.members = std::move(members);
  p.owned = std::move(owned);
  p.in_sync = true;
  p.may_acknowledge = true;
  return p;
}

} // namespace

// -- the planner --------------------------------------------------------------

TEST(plan_moves, a_join_from_3_to_4_moves_a_quarter_all_to_the_new_node) {
  auto ids = tenant_ids(10'000);
  std::vector<std::string> before{"a", "b", "c"};
  std::vector<member> after{active("a"), active("b"), active("c"), active("d")};
  size_t planned = 0;
  for (const auto& node : before) {
    auto owned = owned_by(node, ids, before);
    auto plan = plan_moves(picture_of(node, node_state::active, after, owned));
    for (const auto& m : plan) {
      EXPECT_EQ(m.to, "d") << m.tenant;
      EXPECT_EQ(rendezvous_owner(m.tenant, {"a", "b", "c", "d"}), "d");
    }
    // Exactly the tenants the new node wins, no other.
    EXPECT_EQ(plan.size(), owned_by("d", owned, {"a", "b", "c", "d"}).size());
    planned += plan.size();
  }
  EXPECT_NEAR(static_cast<double>(planned) / 10'000, 0.25, 0.02) << planned;
  // The new node owns nothing yet: it plans nothing.
  EXPECT_TRUE(
    plan_moves(picture_of("d", node_state::active, after, {})).empty());
}

TEST(plan_moves, a_drain_moves_every_tenant_to_the_others_by_rendezvous) {
  auto ids = tenant_ids(3'000);
  auto owned = owned_by("a", ids, {"a", "b", "c"});
  ASSERT_GT(owned.size(), 800u);
  std::vector<member> members{active("a"), active("b"), active("c")};
  members[0].state = node_state::draining;
  auto plan = plan_moves(picture_of("a", node_state::draining, members, owned));
  ASSERT_EQ(plan.size(), owned.size());
  size_t to_b = 0;
  for (const auto& m : plan) {
    EXPECT_EQ(m.to, rendezvous_owner(m.tenant, {"b", "c"})) << m.tenant;
    to_b += m.to == "b" ? 1 : 0;
  }
  // Spread over both, about half each.
  EXPECT_NEAR(static_cast<double>(to_b) / static_cast<double>(plan.size()), 0.5,
              0.06);
  // Ordered by tenant id.
  EXPECT_TRUE(std::is_sorted(plan.begin(), plan.end(), [](auto& x, auto& y) {
    return x.tenant < y.tenant;
  }));
  // The member key may still say active: the node's own state decides.
  members[0].state = node_state::active;
  EXPECT_EQ(plan_moves(picture_of("a", node_state::draining, members, owned)),
            plan);
}

// Issue 15: a manual move pins the tenant; a join never moves it back, a
// drain still moves it (to its rendezvous owner among the others).
TEST(plan_moves, a_join_never_moves_a_pinned_tenant_a_drain_does) {
  auto ids = tenant_ids(1'000);
  // "a" owns every tenant; "b" and "c" are active too: without pins about
  // two thirds would move.
  std::vector<member> members{active("a"), active("b"), active("c")};
  auto p = picture_of("a", node_state::active, members, ids);
  auto unpinned = plan_moves(p);
  ASSERT_GT(unpinned.size(), 600u);
  // Pin half of the tenants that would move: exactly the other half moves.
  std::vector<planned_move> expected;
  for (size_t i = 0; i < unpinned.size(); ++i) {
    if (i % 2 == 0)
      p.pinned.push_back(unpinned[i].tenant);
    else
      expected.push_back(unpinned[i]);
  }
  EXPECT_EQ(plan_moves(p), expected);
  // Every tenant pinned: nothing moves.
  p.pinned = ids;
  EXPECT_TRUE(plan_moves(p).empty());
  // Draining: every owned tenant moves, pinned or not.
  p.self_state = node_state::draining;
  auto drain = plan_moves(p);
  ASSERT_EQ(drain.size(), ids.size());
  for (const auto& m : drain)
    EXPECT_EQ(m.to, rendezvous_owner(m.tenant, {"b", "c"})) << m.tenant;
}

TEST(plan_moves, nothing_for_tenants_a_node_does_not_own_or_already_places) {
  auto ids = tenant_ids(1'000);
  std::vector<member> members{active("a"), active("b"), active("c")};
  // Its own tenants are where rendezvous puts them: nothing to do.
  auto owned = owned_by("b", ids, {"a", "b", "c"});
  EXPECT_TRUE(
    plan_moves(picture_of("b", node_state::active, members, owned)).empty());
  // It owns none: nothing, even though others' tenants would move.
  members.push_back(active("d"));
  EXPECT_TRUE(
    plan_moves(picture_of("b", node_state::active, members, {})).empty());
}

TEST(plan_moves, nothing_while_out_of_sync_fenced_joining_or_drained) {
  auto ids = tenant_ids(200);
  std::vector<member> members{active("a"), active("b")};
  auto p = picture_of("a", node_state::draining, members, ids);
  ASSERT_EQ(plan_moves(p).size(), ids.size());
  auto q = p;
  q.in_sync = false;
  EXPECT_TRUE(plan_moves(q).empty());
  q = p;
  q.may_acknowledge = false;
  EXPECT_TRUE(plan_moves(q).empty());
  q = p;
  q.self_state = node_state::joining;
  EXPECT_TRUE(plan_moves(q).empty());
  q = p;
  q.self_state = node_state::drained;
  EXPECT_TRUE(plan_moves(q).empty());
  // Draining with no other active member: nowhere to go.
  q = picture_of("a", node_state::draining, {active("a")}, ids);
  EXPECT_TRUE(plan_moves(q).empty());
  q.members.push_back(active("b"));
  q.members.back().state = node_state::drained;
  EXPECT_TRUE(plan_moves(q).empty());
}

TEST(plan_moves, an_active_node_missing_from_its_member_list_keeps_its_own) {
  // Its member key is on its way: the node still counts itself.
  auto ids = tenant_ids(500);
  auto owned = owned_by("a", ids, {"a", "b"});
  auto plan =
    plan_moves(picture_of("a", node_state::active, {active("b")}, owned));
  EXPECT_TRUE(plan.empty()) << plan.size();
}

// -- the driver ---------------------------------------------------------------

namespace {

/// Records moves; the test ends them.
class fake_mover : public mover {
 public:
  void move(std::string tenant, std::string to,
            std::function<void(caf::error)> done) override {
    std::lock_guard guard{mtx};
    calls.push_back({tenant, to});
    pending[tenant] = std::move(done);
  }

  std::vector<move_info> under_way() const override { return {}; }

  uint64_t moves_done() const override { return 0; }

  /// Ends the move of `tenant` with `err` (nothing: success).
  void finish(const std::string& tenant, caf::error err = {}) {
    std::function<void(caf::error)> done;
    {
      std::lock_guard guard{mtx};
      done = std::move(pending.at(tenant));
      pending.erase(tenant);
    }
    done(std::move(err));
  }

  mutable std::mutex mtx;
  std::vector<planned_move> calls;
  std::map<std::string, std::function<void(caf::error)>> pending;
};

/// The cluster as the test sets it, and a clock it moves.
struct fake_cluster {
  std::mutex mtx;
  cluster_picture pic;
  std::vector<node_state> states_set;
  std::atomic<bool> fail_puts{false};
  std::chrono::steady_clock::time_point now{};

  rebalancer_config config(std::shared_ptr<mover> moves) {
    rebalancer_config cfg;
    cfg.picture = [this] {
      std::lock_guard guard{mtx};
      return pic;
    };
    cfg.set_state = [this](node_state s) -> caf::error {
      if (fail_puts)
        return wi::make_error(wi::errc::storage_unavailable, "etcd away");
      std::lock_guard guard{mtx};
      states_set.push_back(s);
      pic.self_state = s;
      return {};
    };
    cfg.moves = std::move(moves);
    cfg.max_concurrent = 3;
    cfg.clock = [this] {
      std::lock_guard guard{mtx};
      return now;
    };
    return cfg;
  }

  /// The move of `tenant` committed: the placement map no longer gives
  /// it to this node.
  void moved(const std::string& tenant) {
    std::lock_guard guard{mtx};
    std::erase(pic.owned, tenant);
  }

  void advance(std::chrono::milliseconds d) {
    std::lock_guard guard{mtx};
    now += d;
  }
};

} // namespace

TEST(rebalancer, bounded_concurrency_and_never_two_moves_of_one_tenant) {
  fake_cluster c;
  c.pic = picture_of("a", node_state::draining, {active("b")},
                     {"t1", "t2", "t3", "t4", "t5"});
  auto mv = std::make_shared<fake_mover>();
  rebalancer r{c.config(mv)};
  r.run_once();
  r.run_once(); // nothing ended: nothing more starts
  ASSERT_EQ(mv->calls.size(), 3u);
  EXPECT_EQ(mv->calls[0], (planned_move{"t1", "b"}));
  EXPECT_EQ(mv->calls[2], (planned_move{"t3", "b"}));
  EXPECT_EQ(r.under_way(), (std::set<std::string>{"t1", "t2", "t3"}));
  // t2 is done (and gone from the map): t4 starts, not t2 again.
  c.moved("t2");
  mv->finish("t2");
  r.run_once();
  ASSERT_EQ(mv->calls.size(), 4u);
  EXPECT_EQ(mv->calls[3], (planned_move{"t4", "b"}));
  EXPECT_EQ(r.started(), 4u);
}

TEST(rebalancer, an_aborted_move_is_retried_with_growing_backoff) {
  fake_cluster c;
  c.pic = picture_of("a", node_state::draining, {active("b")}, {"t1"});
  auto mv = std::make_shared<fake_mover>();
  rebalancer r{c.config(mv)};
  r.run_once();
  ASSERT_EQ(mv->calls.size(), 1u);
  mv->finish("t1", wi::make_error(wi::errc::tenant_unavailable, "peer gone"));
  EXPECT_EQ(r.aborted(), 1u);
  EXPECT_TRUE(r.under_way().empty());
  r.run_once();
  EXPECT_EQ(mv->calls.size(), 1u); // within the first backoff (500 ms)
  c.advance(499ms);
  r.run_once();
  EXPECT_EQ(mv->calls.size(), 1u);
  c.advance(1ms);
  r.run_once();
  ASSERT_EQ(mv->calls.size(), 2u);
  mv->finish("t1", wi::make_error(wi::errc::tenant_unavailable, "again"));
  c.advance(999ms); // the second wait is 1 s
  r.run_once();
  EXPECT_EQ(mv->calls.size(), 2u);
  c.advance(1ms);
  r.run_once();
  EXPECT_EQ(mv->calls.size(), 3u);
}

TEST(rebalancer, a_drain_sets_draining_moves_everything_then_drained) {
  fake_cluster c;
  c.pic = picture_of("a", node_state::active, {active("a"), active("b")},
                     {"t1", "t2"});
  auto mv = std::make_shared<fake_mover>();
  rebalancer r{c.config(mv)};
  r.drain();
  EXPECT_TRUE(r.draining());
  r.run_once();
  ASSERT_FALSE(c.states_set.empty());
  EXPECT_EQ(c.states_set.back(), node_state::draining);
  EXPECT_EQ(r.under_way(), (std::set<std::string>{"t1", "t2"}));
  EXPECT_EQ(mv->calls.size(), 2u);
  EXPECT_FALSE(r.drained());
  c.moved("t1");
  mv->finish("t1");
  r.run_once();
  EXPECT_FALSE(r.drained()); // t2 still moving
  c.moved("t2");
  mv->finish("t2");
  r.run_once();
  EXPECT_TRUE(r.drained());
  EXPECT_EQ(c.states_set, (std::vector<node_state>{node_state::draining,
                                                   node_state::drained}));
  EXPECT_TRUE(r.wait_drained(std::chrono::steady_clock::now()));
  r.run_once(); // drained stays drained
  EXPECT_EQ(c.states_set.size(), 2u);
}

TEST(rebalancer, a_failed_state_put_is_retried_and_no_move_starts_before) {
  fake_cluster c;
  c.pic = picture_of("a", node_state::active, {active("b")}, {});
  auto mv = std::make_shared<fake_mover>();
  rebalancer r{c.config(mv)};
  c.fail_puts = true;
  r.drain();
  r.run_once();
  EXPECT_TRUE(c.states_set.empty());
  EXPECT_FALSE(r.drained());
  c.fail_puts = false;
  r.run_once(); // owns nothing: draining, then drained in one round
  EXPECT_EQ(c.states_set, (std::vector<node_state>{node_state::draining,
                                                   node_state::drained}));
  EXPECT_TRUE(r.drained());
}

TEST(rebalancer, a_fenced_or_unsynced_node_starts_no_move) {
  fake_cluster c;
  c.pic = picture_of("a", node_state::draining, {active("b")}, {"t1"});
  c.pic.may_acknowledge = false;
  auto mv = std::make_shared<fake_mover>();
  rebalancer r{c.config(mv)};
  r.drain();
  r.run_once();
  EXPECT_TRUE(mv->calls.empty());
  {
    std::lock_guard guard{c.mtx};
    c.pic.may_acknowledge = true;
    c.pic.in_sync = false;
  }
  r.run_once();
  EXPECT_TRUE(mv->calls.empty());
  {
    std::lock_guard guard{c.mtx};
    c.pic.in_sync = true;
  }
  r.run_once();
  EXPECT_EQ(mv->calls.size(), 1u);
}

TEST(rebalancer, without_a_mover_nothing_moves_and_a_drain_waits) {
  fake_cluster c;
  c.pic = picture_of("a", node_state::active, {active("b")}, {"t1"});
  rebalancer r{c.config(nullptr)};
  EXPECT_FALSE(r.can_move());
  r.drain();
  r.run_once();
  r.run_once();
  EXPECT_EQ(c.states_set, (std::vector<node_state>{node_state::draining}));
  EXPECT_FALSE(r.drained());
  EXPECT_EQ(r.started(), 0u);
}

TEST(rebalancer, the_thread_runs_rounds_when_poked_and_a_late_done_is_safe) {
  fake_cluster c;
  c.pic = picture_of("a", node_state::draining, {active("b")}, {"t1"});
  auto mv = std::make_shared<fake_mover>();
  auto cfg = c.config(mv);
  cfg.interval = 10s; // only pokes run rounds (the first runs at once)
  auto r = std::make_unique<rebalancer>(std::move(cfg));
  r->drain();
  r->start();
  // `started` counts before the mover is called: wait for the mover.
  auto asked = [&] {
    std::lock_guard guard{mv->mtx};
    return mv->pending.contains("t1");
  };
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!asked() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(asked());
  ASSERT_EQ(r->started(), 1u);
  c.moved("t1");
  mv->finish("t1"); // pokes: the next round drains
  EXPECT_TRUE(r->wait_drained(std::chrono::steady_clock::now() + 5s));
  // A poker outlives the driver harmlessly.
  auto poke = r->poker();
  r.reset();
  poke();
}
