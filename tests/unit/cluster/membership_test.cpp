#include "actors/cluster/membership.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "actors/cluster/placement.hpp"
#include "support/etcd_process.hpp"
#include "support/eventually.hpp"
#include "webhook_ingress/error.hpp"

using namespace wi::cluster;
using namespace std::chrono_literals;
using wi_cluster_test::eventually;

namespace {

/// A clock that runs with the real one plus an offset tests move.
struct fake_clock {
  std::atomic<int64_t> offset_ms{0};
  steady_clock_fn fn() {
    return [this] {
      return std::chrono::steady_clock::now() +
             std::chrono::milliseconds{offset_ms.load()};
    };
  }
};

class membership_test : public ::testing::Test {
 protected:
  void SetUp() override {
    etcd_ = std::make_unique<wi_cluster_test::etcd_process>();
  }

  membership_config config(const std::string& id) {
    membership_config cfg;
    cfg.etcd.endpoints = {etcd_->client_url()};
    cfg.etcd.timeout = 1s;
    cfg.etcd.connect_timeout = 500ms;
    cfg.node_id = id;
    cfg.http = "127.0.0.1:1" + std::to_string(id.size());
    cfg.peer = "127.0.0.1:2" + std::to_string(id.size());
    cfg.lease_ttl = 2s;
    return cfg;
  }

  std::unique_ptr<membership> started(membership_config cfg) {
    auto m = std::make_unique<membership>(std::move(cfg));
    EXPECT_FALSE(m->connect());
    auto err = m->join();
    EXPECT_FALSE(err) << wi::text_of(err);
    return m;
  }

  std::unique_ptr<wi_cluster_test::etcd_process> etcd_;
};

} // namespace

TEST_F(membership_test, members_see_each_other_and_their_states) {
  auto a = started(config("node_a"));
  auto b = started(config("node_bb"));
  ASSERT_FALSE(a->set_state(node_state::active));
  ASSERT_TRUE(eventually(
    [&] {
      auto m = b->member_of("node_a");
      return m && m->state == node_state::active && a->member_of("node_bb");
    },
    3s));
  auto list = a->members();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "node_a");
  EXPECT_EQ(list[0].http, "127.0.0.1:16");
  EXPECT_EQ(list[0].peer, "127.0.0.1:26");
  EXPECT_EQ(list[1].id, "node_bb");
  EXPECT_EQ(list[1].state, node_state::joining);
  EXPECT_EQ(a->self(), "node_a");
  EXPECT_TRUE(eventually([&] { return a->ready() && b->ready(); }, 3s));
  EXPECT_TRUE(a->may_acknowledge());
  // A peer listener bound after the join (port 0) rewrites the key.
  ASSERT_FALSE(a->set_addresses("127.0.0.1:16", "127.0.0.1:7000"));
  EXPECT_TRUE(eventually(
    [&] {
      auto m = b->member_of("node_a");
      return m && m->peer == "127.0.0.1:7000" && m->state == node_state::active;
    },
    2s));
  // leave() revokes the lease: the key goes at once, not a TTL later.
  b->leave();
  EXPECT_TRUE(eventually([&] { return !a->member_of("node_bb"); }, 1s));
}

TEST_F(membership_test, a_duplicate_live_id_is_refused) {
  auto a = started(config("node_a"));
  membership dup{config("node_a")};
  ASSERT_FALSE(dup.connect());
  auto t0 = std::chrono::steady_clock::now();
  auto err = dup.join();
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(err);
  EXPECT_NE(wi::text_of(err).find("node id node_a is already a live member"),
            std::string::npos)
    << wi::text_of(err);
  // It waited out one TTL (the holder might have been its own dead self).
  EXPECT_GE(took, 2s);
  EXPECT_LT(took, 5s);
  // The holder is untouched.
  EXPECT_TRUE(a->member_of("node_a"));
}

TEST_F(membership_test, a_killed_nodes_key_expires_and_a_restart_takes_it) {
  auto a = started(config("node_a"));
  auto watcher = started(config("node_w"));
  ASSERT_TRUE(
    eventually([&] { return watcher->member_of("node_a").has_value(); }, 2s));
  // Like kill -9: threads gone, lease neither renewed nor revoked.
  a.reset();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return !watcher->member_of("node_a"); }, 5s));
  auto took = std::chrono::steady_clock::now() - t0;
  std::cout
    << "member key of a dead node (TTL 2 s) gone after "
    << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
    << " ms\n";
  EXPECT_LT(took, 3s); // TTL + 1 s
  auto again = started(config("node_a"));
  EXPECT_TRUE(
    eventually([&] { return watcher->member_of("node_a").has_value(); }, 2s));
}

TEST_F(membership_test, placement_claim_once_and_move_fenced_by_revision) {
  auto a = started(config("node_a"));
  auto b = started(config("node_bb"));
  auto first = a->claim("t1", "node_a");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->owner, "node_a");
  EXPECT_EQ(first->epoch, 1u);
  // A second claim finds the first one.
  auto second = b->claim("t1", "node_bb");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->owner, "node_a");
  auto key = a->client().range("/wi/tenants/t1");
  ASSERT_TRUE(key);
  ASSERT_EQ(key->kvs.size(), 1u);
  auto rev = key->kvs[0].mod_revision;
  auto moved = a->move("t1", rev, "node_bb", 2);
  ASSERT_TRUE(moved);
  EXPECT_TRUE(*moved);
  // A stale owner that still believes revision `rev` cannot write.
  auto stale = a->move("t1", rev, "node_a", 3);
  ASSERT_TRUE(stale);
  EXPECT_FALSE(*stale);
  ASSERT_TRUE(eventually(
    [&] {
      auto p = b->placement_of("t1");
      return p && p->owner == "node_bb" && p->epoch == 2;
    },
    2s));
  EXPECT_EQ(a->tenants_by_node(),
            (std::map<std::string, size_t>{{"node_bb", 1}}));
}

namespace {

/// Runs `m.lookup_placement(tenant)` and waits for its answer.
caf::expected<std::optional<placement>> look_up(membership& m,
                                                const std::string& tenant) {
  std::promise<caf::expected<std::optional<placement>>> p;
  auto f = p.get_future();
  m.lookup_placement(tenant, [&p](caf::expected<std::optional<placement>> x) {
    p.set_value(std::move(x));
  });
  if (f.wait_for(5s) != std::future_status::ready)
    return wi::make_error(wi::errc::internal, "no answer within 5 s");
  return f.get();
}

} // namespace

// A node whose cache lags (the test hook keeps other nodes' placements out
// of it) learns a tenant's owner from etcd; a missing key is remembered a
// moment, and a placement the watch brings ends that at once.
TEST_F(membership_test, a_placement_look_up_reads_etcd_and_remembers_none) {
  auto lagging = config("node_a");
  lagging.ignore_foreign_placements = true;
  lagging.missing_ttl = 60s;
  auto a = started(lagging);
  auto b = started(config("node_bb"));
  ASSERT_TRUE(b->claim("t1", "node_bb"));
  ASSERT_TRUE(a->claim("t2", "node_a"));
  ASSERT_TRUE(
    eventually([&] { return b->placement_of("t2").has_value(); }, 2s));
  EXPECT_FALSE(a->placement_of("t1")); // the hook: never cached
  auto got = look_up(*a, "t1");
  ASSERT_TRUE(got) << wi::text_of(got.error());
  ASSERT_TRUE(*got);
  EXPECT_EQ((*got)->owner, "node_bb");
  EXPECT_EQ((*got)->epoch, 1u);
  // No key: nothing, then from memory without a read.
  auto none = look_up(*b, "t9");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  EXPECT_TRUE(b->known_missing("t9"));
  EXPECT_FALSE(b->known_missing("t1"));
  auto again = look_up(*b, "t9");
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  EXPECT_EQ(b->lookups().read, 1u);
  EXPECT_EQ(b->lookups().missing, 1u);
  // The key appears (another node's claim, seen through the watch).
  ASSERT_TRUE(a->claim("t9", "node_a"));
  ASSERT_TRUE(
    eventually([&] { return b->placement_of("t9").has_value(); }, 2s));
  EXPECT_FALSE(b->known_missing("t9"));
  auto found = look_up(*b, "t9");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->owner, "node_a");
  EXPECT_NE(
    b->metrics_text().find(
      "webhook_ingress_cluster_placement_lookups_total{result=\"read\"} 2"),
    std::string::npos)
    << b->metrics_text();
}

TEST_F(membership_test, created_tenants_are_claimed_in_the_background) {
  auto a = started(config("node_a"));
  auto b = started(config("node_bb"));
  a->tenant_created("t1");
  a->tenant_created("t2");
  a->reconcile({"t2", "t3"});
  ASSERT_TRUE(eventually(
    [&] {
      return b->tenants_by_node() ==
             std::map<std::string, size_t>{{"node_a", 3}};
    },
    3s));
  EXPECT_EQ(a->claims_pending(), 0u);
  EXPECT_EQ(b->placement_of("t3")->owner, "node_a");
  EXPECT_EQ(b->placement_of("t3")->epoch, 1u);
}

namespace {

/// Runs `claim_created` and waits for its answer (the test thread may
/// block).
caf::expected<placement> claim_now(membership& m, const std::string& tenant) {
  std::promise<caf::expected<placement>> done;
  auto fut = done.get_future();
  m.claim_created(tenant, [&done](caf::expected<placement> x) {
    done.set_value(std::move(x));
  });
  if (fut.wait_for(10s) != std::future_status::ready)
    throw std::runtime_error("claim_created did not answer within 10 s");
  return fut.get();
}

} // namespace

TEST_F(membership_test, a_created_tenants_claim_answers_once_ahead_of_others) {
  auto a = started(config("node_a"));
  std::atomic<int> member_changes{0};
  a->on_members_changed([&] { ++member_changes; });
  ASSERT_FALSE(a->set_state(node_state::active));
  EXPECT_EQ(a->state(), node_state::active);
  auto got = claim_now(*a, "c1");
  ASSERT_TRUE(got) << wi::text_of(got.error());
  EXPECT_EQ(got->owner, "node_a");
  EXPECT_EQ(got->epoch, 1u);
  // In the cache when the answer comes: the 201 can show the owner.
  EXPECT_EQ(a->placement_of("c1")->owner, "node_a");
  EXPECT_EQ(a->tenants_of("node_a"), (std::vector<std::string>{"c1"}));
  EXPECT_TRUE(a->tenants_of("node_bb").empty());
  // A member joining pokes the hook.
  auto b = started(config("node_bb"));
  EXPECT_TRUE(eventually([&] { return member_changes.load() > 0; }, 3s));
  EXPECT_TRUE(a->in_sync());
  // etcd away: one attempt, a prompt error, while a background claim keeps
  // waiting for etcd.
  etcd_->stop();
  a->tenant_created("bg");
  auto t0 = std::chrono::steady_clock::now();
  auto refused = claim_now(*a, "c2");
  EXPECT_FALSE(refused);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_FALSE(a->placement_of("c2"));
  EXPECT_EQ(a->claims_pending(), 1u);
  // Once the node leaves, a claim is refused at once.
  b->leave();
  a->leave();
  auto after = claim_now(*a, "c3");
  ASSERT_FALSE(after);
  EXPECT_EQ(wi::code_of(after.error()), wi::errc::tenant_unavailable);
}

TEST_F(membership_test, etcd_lost_then_back_fences_then_recovers) {
  fake_clock clock;
  auto cfg = config("node_a");
  cfg.clock = clock.fn();
  auto a = started(cfg);
  ASSERT_TRUE(eventually([&] { return a->ready(); }, 3s));
  a->tenant_created("t1");
  ASSERT_TRUE(
    eventually([&] { return a->placement_of("t1").has_value(); }, 2s));
  etcd_->stop();
  // The watch breaks at once: not ready, the map ages.
  ASSERT_TRUE(eventually([&] { return !a->ready(); }, 3s));
  // No renewal succeeds: once TTL - margin passed, stop acknowledging.
  clock.offset_ms += 2000;
  EXPECT_FALSE(a->may_acknowledge());
  EXPECT_GE(a->placement_map_age_seconds(), 2.0);
  // The cached placement stays available meanwhile.
  EXPECT_EQ(a->placement_of("t1")->owner, "node_a");
  auto errors = a->etcd_errors();
  EXPECT_TRUE(eventually([&] { return a->etcd_errors() > errors; }, 3s));
  a->tenant_created("t2"); // queued until etcd is back
  etcd_->start();
  ASSERT_TRUE(eventually([&] { return a->ready(); }, 8s));
  EXPECT_TRUE(a->may_acknowledge());
  EXPECT_EQ(a->placement_map_age_seconds(), 0.0);
  EXPECT_TRUE(a->member_of("node_a").has_value());
  EXPECT_TRUE(
    eventually([&] { return a->placement_of("t2").has_value(); }, 3s));
  auto text = a->metrics_text();
  EXPECT_NE(text.find("webhook_ingress_cluster_etcd_up 1\n"), std::string::npos)
    << text;
  EXPECT_NE(text.find("webhook_ingress_cluster_placement_map_age_seconds 0\n"),
            std::string::npos);
}

TEST(membership_unreachable, connect_names_the_url) {
  auto url = "http://127.0.0.1:" + std::to_string(wi_cluster_test::free_port());
  membership_config cfg;
  cfg.etcd.endpoints = {url};
  cfg.node_id = "n";
  membership m{cfg};
  auto err = m.connect();
  ASSERT_TRUE(err);
  EXPECT_NE(wi::text_of(err).find("etcd unreachable at " + url),
            std::string::npos)
    << wi::text_of(err);
}
