// The move coordinator (actors/cluster/mover.hpp) with fakes: two
// coordinators ("a" old owner, "b" new owner) over a fake etcd (placement
// keys with mod revisions), fake local data, a manual runner with a fake
// clock, and offers handed straight from one to the other (or lost).

#include "actors/cluster/mover.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "webhook_ingress/error.hpp"

namespace {

using namespace std::chrono_literals;
using namespace wi::cluster;
using clock_point = std::chrono::steady_clock::time_point;

/// Runs posted work when told, at a fake time.
class manual_runner : public move_runner {
 public:
  void post(std::function<void()> fn) override {
    post_after(0ms, std::move(fn));
  }

  void post_after(std::chrono::milliseconds delay,
                  std::function<void()> fn) override {
    std::lock_guard guard{mtx_};
    due_.emplace(now_ + delay, std::move(fn));
  }

  clock_point now() const {
    std::lock_guard guard{mtx_};
    return now_;
  }

  /// Runs everything due now (and what that posts, if due).
  void run() {
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard guard{mtx_};
        auto i = due_.begin();
        if (i == due_.end() || i->first > now_)
          return;
        fn = std::move(i->second);
        due_.erase(i);
      }
      fn();
    }
  }

  void advance(std::chrono::milliseconds d) {
    {
      std::lock_guard guard{mtx_};
      now_ += d;
    }
    run();
  }

 private:
  mutable std::mutex mtx_;
  clock_point now_{std::chrono::seconds{100}};
  std::multimap<clock_point, std::function<void()>> due_;
};

/// Placement keys with etcd's revision rules.
struct fake_etcd {
  std::mutex mtx;
  std::map<std::string, placement_record> keys;
  int64_t revision = 10;
  bool down = false;

  void put(const std::string& t, placement p) {
    std::lock_guard guard{mtx};
    keys[t] = {std::move(p), ++revision};
  }

  std::optional<placement_record> get(const std::string& t) {
    std::lock_guard guard{mtx};
    auto i = keys.find(t);
    if (i == keys.end())
      return std::nullopt;
    return i->second;
  }

  move_store store() {
    move_store s;
    s.read = [this](const std::string& t)
      -> caf::expected<std::optional<placement_record>> {
      std::lock_guard guard{mtx};
      if (down)
        return wi::make_error(wi::errc::storage_unavailable, "etcd", "down");
      auto i = keys.find(t);
      if (i == keys.end())
        return std::optional<placement_record>{};
      return std::optional<placement_record>{i->second};
    };
    s.swap = [this](const std::string& t, int64_t expected,
                    const std::string& owner,
                    uint64_t epoch) -> caf::expected<bool> {
      std::lock_guard guard{mtx};
      if (down)
        return wi::make_error(wi::errc::storage_unavailable, "etcd", "down");
      auto i = keys.find(t);
      if (i == keys.end() || i->second.mod_revision != expected)
        return false;
      i->second = {{owner, epoch}, ++revision};
      return true;
    };
    return s;
  }
};

/// A node's view: members a and b (active) and c (joining); placements
/// from the node's own cache.
class fake_view : public control {
 public:
  explicit fake_view(std::string self) : self_(std::move(self)) {}
  bool ready() const override { return ready_; }
  std::map<std::string, size_t> tenants_by_node() const override { return {}; }
  void tenant_created(std::string) override {}
  void claim_created(std::string,
                     std::function<void(caf::expected<placement>)>) override {}
  bool may_acknowledge() const override { return true; }
  std::atomic<bool> ready_{true};
  std::string self() const override { return self_; }
  std::optional<placement> placement_of(std::string_view t) const override {
    std::lock_guard guard{mtx_};
    auto i = cache_.find(std::string{t});
    if (i == cache_.end())
      return std::nullopt;
    return i->second;
  }
  std::optional<member> member_of(std::string_view id) const override {
    for (auto m : members())
      if (m.id == id)
        return m;
    return std::nullopt;
  }
  std::vector<member> members() const override {
    return {{"a", "127.0.0.1:1", "peer-a", node_state::active},
            {"b", "127.0.0.1:2", "peer-b", node_state::active},
            {"c", "127.0.0.1:3", "peer-c", node_state::joining}};
  }
  void note(const std::string& t, const placement& p) {
    std::lock_guard guard{mtx_};
    cache_[t] = p;
  }

 private:
  std::string self_;
  mutable std::mutex mtx_;
  std::map<std::string, placement> cache_;
};

/// A node's local data: which tenants it holds and in which condition.
struct fake_local {
  std::mutex mtx;
  /// tenant -> "serving", "frozen", "imported", or absent.
  std::map<std::string, std::string> held;
  std::vector<std::string> calls;
  bool fail_import = false;

  void record(std::string what) {
    std::lock_guard guard{mtx};
    calls.push_back(std::move(what));
  }
  void set(const std::string& t, std::string how) {
    std::lock_guard guard{mtx};
    if (how.empty())
      held.erase(t);
    else
      held[t] = std::move(how);
  }
  std::string of(const std::string& t) {
    std::lock_guard guard{mtx};
    auto i = held.find(t);
    return i == held.end() ? "" : i->second;
  }

  wi::local_tenants api() {
    wi::local_tenants x;
    x.freeze = [this](std::string t,
                      std::function<void(caf::expected<wi::tenant_export>)> k) {
      record("freeze " + t);
      if (of(t) != "serving") {
        k(wi::make_error(wi::errc::not_found, "tenant", "not held"));
        return;
      }
      set(t, "frozen");
      wi::tenant_export e;
      e.tenant_id = t;
      e.registry = "reg";
      e.snapshot = std::string(100, 's');
      k(std::move(e));
    };
    x.thaw = [this](std::string t, std::function<void(caf::error)> k) {
      record("thaw " + t);
      set(t, "serving");
      k({});
    };
    x.release_to = [this](std::string t, std::string to,
                          std::function<void(caf::error)> k) {
      record("release " + t + " " + to);
      set(t, "");
      k({});
    };
    x.import = [this](wi::tenant_export e, uint64_t epoch,
                      std::function<void(caf::error)> k) {
      record("import " + e.tenant_id + " " + std::to_string(epoch));
      if (fail_import) {
        k(wi::make_error(wi::errc::storage_unavailable, "disk full"));
        return;
      }
      set(e.tenant_id, "imported");
      k({});
    };
    x.activate = [this](std::string t, uint64_t epoch,
                        std::function<void(caf::error)> k) {
      record("activate " + t + " " + std::to_string(epoch));
      set(t, "serving");
      k({});
    };
    x.discard = [this](std::string t, std::function<void(caf::error)> k) {
      record("discard " + t);
      set(t, "");
      k({});
    };
    return x;
  }
};

/// How the fake network treats offers to "b".
enum class network { deliver, lose_offer, lose_answer };

class mover_test : public ::testing::Test {
 protected:
  void SetUp() override {
    runner_ = std::make_shared<manual_runner>();
    view_a_ = std::make_shared<fake_view>("a");
    view_b_ = std::make_shared<fake_view>("b");
    b_ = make("b", view_b_, local_b_);
    a_ = make("a", view_a_, local_a_);
  }

  std::unique_ptr<move_coordinator> make(const std::string& self,
                                         std::shared_ptr<fake_view> v,
                                         fake_local& local,
                                         std::string journal = {}) {
    mover_deps d;
    d.local = local.api();
    d.store = etcd_.store();
    d.cluster = v;
    d.note_placement = [v](const std::string& t, const placement& p) {
      v->note(t, p);
    };
    d.ship = [this](std::string peer, move_offer offer, move_done done) {
      ASSERT_EQ(peer, "peer-b");
      if (net_ == network::lose_offer)
        return; // never arrives; the timer fires
      b_->accept(std::move(offer), [this, done](move_reply reply) {
        if (net_ != network::lose_answer)
          done.fn(std::move(reply));
      });
    };
    d.tell_discard = [this](std::string peer, std::string t, uint64_t epoch) {
      discards_.push_back(peer + " " + t + " " + std::to_string(epoch));
      b_->discard_copy(t, epoch);
    };
    d.runner = runner_;
    mover_config cfg;
    cfg.timing = {5s, 500ms};
    cfg.clock = [r = runner_] { return r->now(); };
    cfg.journal_path = std::move(journal);
    (void)self;
    return std::make_unique<move_coordinator>(cfg, std::move(d));
  }

  /// Tenant `t` owned by "a" at epoch 3, held there and in both caches.
  void own(const std::string& t) {
    etcd_.put(t, {"a", 3});
    view_a_->note(t, {"a", 3});
    view_b_->note(t, {"a", 3});
    local_a_.set(t, "serving");
  }

  /// Starts a move; its result lands in the returned slot.
  std::shared_ptr<std::optional<caf::error>> start(const std::string& t,
                                                   const std::string& to) {
    auto slot = std::make_shared<std::optional<caf::error>>();
    a_->move(t, to, [slot](caf::error err) { *slot = std::move(err); });
    return slot;
  }

  fake_etcd etcd_;
  fake_local local_a_;
  fake_local local_b_;
  std::shared_ptr<manual_runner> runner_;
  std::shared_ptr<fake_view> view_a_;
  std::shared_ptr<fake_view> view_b_;
  network net_ = network::deliver;
  std::vector<std::string> discards_;
  std::unique_ptr<move_coordinator> b_;
  std::unique_ptr<move_coordinator> a_;
};

TEST_F(mover_test, a_move_commits_on_the_new_owner_and_releases_the_old) {
  own("t1");
  auto result = start("t1", "b");
  ASSERT_EQ(a_->under_way().size(), 1u);
  EXPECT_EQ(a_->under_way()[0].state, move_state::freezing);
  runner_->run();
  ASSERT_TRUE(result->has_value());
  EXPECT_FALSE(**result) << wi::text_of(**result);
  auto key = etcd_.get("t1");
  ASSERT_TRUE(key);
  EXPECT_EQ(key->value.owner, "b");
  EXPECT_EQ(key->value.epoch, 4u);
  EXPECT_EQ(local_a_.of("t1"), "");
  EXPECT_EQ(local_b_.of("t1"), "serving");
  EXPECT_EQ(local_b_.calls,
            (std::vector<std::string>{"import t1 4", "activate t1 4"}));
  EXPECT_EQ(local_a_.calls,
            (std::vector<std::string>{"freeze t1", "release t1 b"}));
  // Both caches know at once, without a watch.
  EXPECT_EQ(view_a_->placement_of("t1")->owner, "b");
  EXPECT_EQ(view_b_->placement_of("t1")->owner, "b");
  EXPECT_EQ(view_b_->placement_of("t1")->epoch, 4u);
  EXPECT_EQ(a_->moves_done(), 1u);
  EXPECT_TRUE(a_->under_way().empty());
  EXPECT_TRUE(b_->under_way().empty());
  auto text = a_->metrics_text();
  EXPECT_NE(text.find("webhook_ingress_cluster_moves_total{result=\"done\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("webhook_ingress_cluster_move_bytes_total 103"),
            std::string::npos)
    << text;
}

TEST_F(mover_test, a_lost_answer_is_resolved_through_etcd_as_committed) {
  own("t1");
  net_ = network::lose_answer;
  auto result = start("t1", "b");
  runner_->run();
  EXPECT_FALSE(result->has_value());
  EXPECT_EQ(etcd_.get("t1")->value.owner, "b");
  EXPECT_EQ(local_a_.of("t1"), "frozen"); // waits for the answer
  ASSERT_EQ(a_->under_way().size(), 1u);
  EXPECT_EQ(a_->under_way()[0].state, move_state::shipping);
  runner_->advance(4999ms);
  EXPECT_FALSE(result->has_value());
  runner_->advance(1ms); // the answer timeout: read the key
  ASSERT_TRUE(result->has_value());
  EXPECT_FALSE(**result);
  EXPECT_EQ(local_a_.of("t1"), "");
  EXPECT_EQ(local_b_.of("t1"), "serving");
  EXPECT_TRUE(discards_.empty());
}

TEST_F(mover_test, a_lost_offer_aborts_with_a_fence_and_thaws) {
  own("t1");
  net_ = network::lose_offer;
  auto result = start("t1", "b");
  runner_->run();
  runner_->advance(5s);
  ASSERT_TRUE(result->has_value());
  EXPECT_EQ(wi::code_of(**result), wi::errc::tenant_unavailable);
  EXPECT_NE(wi::text_of(**result).find("did not answer within 5000 ms"),
            std::string::npos)
    << wi::text_of(**result);
  // The abort moved the key on (epoch 4, still a): an offer that arrives
  // late can never commit.
  auto key = etcd_.get("t1");
  EXPECT_EQ(key->value.owner, "a");
  EXPECT_EQ(key->value.epoch, 4u);
  EXPECT_EQ(local_a_.of("t1"), "serving");
  EXPECT_EQ(view_a_->placement_of("t1")->epoch, 4u);
  EXPECT_EQ(discards_, std::vector<std::string>{"peer-b t1 4"});
  EXPECT_EQ(a_->moves_done(), 0u);
  EXPECT_EQ(a_->moves_aborted(), 1u);
  // The late offer: b imports, its commit's guard fails, it discards.
  move_offer late;
  late.from = "a";
  late.state.tenant_id = "t1";
  late.epoch = 3;
  late.mod_revision = 11;
  std::optional<move_reply> reply;
  b_->accept(late, [&](move_reply r) { reply = r; });
  runner_->run();
  ASSERT_TRUE(reply);
  EXPECT_FALSE(reply->committed);
  EXPECT_EQ(local_b_.of("t1"), "");
  EXPECT_EQ(etcd_.get("t1")->value.owner, "a");
}

TEST_F(mover_test, a_failed_import_is_refused_and_the_old_owner_serves_on) {
  own("t1");
  local_b_.fail_import = true;
  auto result = start("t1", "b");
  runner_->run();
  ASSERT_TRUE(result->has_value());
  EXPECT_NE(wi::text_of(**result).find("import failed"), std::string::npos)
    << wi::text_of(**result);
  EXPECT_EQ(local_a_.of("t1"), "serving");
  EXPECT_EQ(etcd_.get("t1")->value.owner, "a");
  EXPECT_EQ(etcd_.get("t1")->value.epoch, 4u);
}

TEST_F(mover_test, etcd_away_keeps_the_tenant_frozen_until_it_is_back) {
  own("t1");
  net_ = network::lose_offer;
  auto result = start("t1", "b");
  runner_->run();
  etcd_.down = true;
  runner_->advance(5s);
  for (int i = 0; i < 4; ++i)
    runner_->advance(500ms);
  EXPECT_FALSE(result->has_value());
  EXPECT_EQ(local_a_.of("t1"), "frozen");
  EXPECT_EQ(a_->under_way()[0].state, move_state::committing);
  etcd_.down = false;
  runner_->advance(500ms);
  ASSERT_TRUE(result->has_value());
  EXPECT_EQ(local_a_.of("t1"), "serving");
  EXPECT_EQ(etcd_.get("t1")->value.epoch, 4u);
}

TEST_F(mover_test, etcd_away_at_the_start_refuses_without_freezing) {
  own("t1");
  view_a_->ready_ = false; // known not ready: refused at once
  auto refused = start("t1", "b");
  ASSERT_TRUE(refused->has_value());
  EXPECT_EQ(wi::code_of(**refused), wi::errc::storage_unavailable);
  view_a_->ready_ = true;
  etcd_.down = true; // not noticed yet: the first read fails
  auto result = start("t1", "b");
  EXPECT_FALSE(result->has_value());
  runner_->run();
  ASSERT_TRUE(result->has_value());
  EXPECT_EQ(wi::code_of(**result), wi::errc::storage_unavailable);
  EXPECT_TRUE(local_a_.calls.empty());
}

TEST_F(mover_test, bad_targets_and_busy_tenants_fail_at_once) {
  own("t1");
  auto code_and_field = [&](const std::string& t, const std::string& to) {
    auto r = start(t, to);
    EXPECT_TRUE(r->has_value());
    return r->has_value() ? wi::text_of(**r) : std::string{};
  };
  EXPECT_NE(code_and_field("t1", "a").find("this node"), std::string::npos);
  EXPECT_NE(code_and_field("t1", "zz").find("no member"), std::string::npos);
  EXPECT_NE(code_and_field("t1", "c").find("joining, not active"),
            std::string::npos);
  EXPECT_NE(code_and_field("t9", "b").find("no placement"), std::string::npos);
  view_a_->note("t8", {"b", 1});
  EXPECT_NE(code_and_field("t8", "b").find("owned by b"), std::string::npos);
  auto first = start("t1", "b");
  EXPECT_FALSE(first->has_value());
  EXPECT_NE(code_and_field("t1", "b").find("already under way"),
            std::string::npos);
  runner_->run();
  EXPECT_TRUE(first->has_value());
}

TEST_F(mover_test, at_most_four_moves_run_at_once_the_rest_wait) {
  net_ = network::lose_answer;
  std::vector<std::shared_ptr<std::optional<caf::error>>> results;
  for (int i = 0; i < 6; ++i) {
    own("t" + std::to_string(i));
    results.push_back(start("t" + std::to_string(i), "b"));
  }
  runner_->run();
  auto moves = a_->under_way();
  ASSERT_EQ(moves.size(), 6u);
  for (size_t i = 0; i < moves.size(); ++i) {
    EXPECT_EQ(moves[i].tenant, "t" + std::to_string(i)); // oldest first
    EXPECT_EQ(moves[i].state,
              i < 4 ? move_state::shipping : move_state::freezing);
  }
  EXPECT_EQ(local_a_.of("t4"), "serving"); // queued: not frozen yet
  runner_->advance(5s); // the first four resolve, the last two start
  EXPECT_EQ(a_->moves_done(), 4u);
  EXPECT_EQ(local_a_.of("t4"), "frozen");
  runner_->advance(5s);
  EXPECT_EQ(a_->moves_done(), 6u);
  for (auto& r : results) {
    ASSERT_TRUE(r->has_value());
    EXPECT_FALSE(**r);
  }
}

TEST_F(mover_test, at_start_stale_copies_go_and_unfinished_moves_are_fenced) {
  auto dir = std::filesystem::temp_directory_path() /
             ("wi-mover-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto journal = (dir / "moves").string();
  // "a" freezes t2 for a move (journaled) and stops before it ends.
  own("t2");
  net_ = network::lose_offer;
  {
    auto a = make("a", view_a_, local_a_, journal);
    a->move("t2", "b", [](caf::error) {});
    runner_->run();
    EXPECT_EQ(local_a_.of("t2"), "frozen");
  }
  {
    std::ifstream in{journal};
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "t2");
  }
  own("t1");
  etcd_.put("t1", {"b", 4}); // moved away while "a" was down
  view_a_->note("t1", {"b", 4});
  own("t3");
  own("t4");
  etcd_.put("t3", {"b", 4}); // the unfinished move's commit landed
  view_a_->note("t3", {"b", 4});
  {
    std::ofstream out{journal};
    out << "t2\nt3\n";
  }
  auto key2 = *etcd_.get("t2");
  auto a = make("a", view_a_, local_a_, journal);
  auto discarded = a->reconcile_at_start({"t1", "t2", "t3", "t4"});
  ASSERT_TRUE(discarded) << wi::text_of(discarded.error());
  EXPECT_EQ(*discarded, 2u);
  EXPECT_EQ(local_a_.of("t1"), "");
  EXPECT_EQ(local_a_.of("t3"), "");
  EXPECT_EQ(local_a_.of("t4"), "serving");
  // t2's key moved on: a commit guarded by the old revision cannot land.
  auto fenced = *etcd_.get("t2");
  EXPECT_EQ(fenced.value.owner, "a");
  EXPECT_EQ(fenced.value.epoch, key2.value.epoch + 1);
  EXPECT_GT(fenced.mod_revision, key2.mod_revision);
  EXPECT_EQ(view_a_->placement_of("t2")->epoch, key2.value.epoch + 1);
  EXPECT_EQ(std::filesystem::file_size(journal), 0u);
  std::filesystem::remove_all(dir);
}

TEST_F(mover_test, at_start_imports_whose_commit_took_are_activated) {
  // "b" imported t1, t2 and t3 and stopped before activating them: t1's
  // commit took (placed on "b"), t2's did not ("a" still owns it), t3 has
  // no key at all. Until this decision the directory serves none of them.
  for (const auto* t : {"t1", "t2", "t3"})
    local_b_.set(t, "imported");
  etcd_.put("t1", {"b", 5});
  view_b_->note("t1", {"b", 5});
  etcd_.put("t2", {"a", 3});
  view_b_->note("t2", {"a", 3});
  auto b = make("b", view_b_, local_b_);
  auto discarded = b->reconcile_at_start({"t1", "t2", "t3"},
                                         {{"t1", 5}, {"t2", 4}, {"t3", 4}});
  ASSERT_TRUE(discarded) << wi::text_of(discarded.error());
  EXPECT_EQ(*discarded, 2u);
  EXPECT_EQ(local_b_.of("t1"), "serving");
  EXPECT_EQ(local_b_.of("t2"), "");
  EXPECT_EQ(local_b_.of("t3"), "");
  std::lock_guard guard{local_b_.mtx};
  EXPECT_EQ(
    std::count(local_b_.calls.begin(), local_b_.calls.end(), "activate t1 5"),
    1);
}

} // namespace
