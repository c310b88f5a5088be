// Snapshots and WAL truncation through the real actors: the directory, tenant
// actors and the WAL writer over the in-memory storage double.

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/common/crypto.hpp"
#include "actors/directory/directory_actor.hpp"
#include "actors/directory/recovery.hpp"
#include "persistence/storage.hpp"
#include "persistence/wal_reader.hpp"
#include "persistence/wal_writer.hpp"
#include "webhook_ingress/error.hpp"

namespace {

using namespace wi;
using namespace std::chrono_literals;

template <class T>
caf::expected<T> await(const std::function<void(reply_fn<T>)>& send) {
  auto p = std::make_shared<std::promise<caf::expected<T>>>();
  auto f = p->get_future();
  send([p](caf::expected<T> x) { p->set_value(std::move(x)); });
  if (f.wait_for(10s) != std::future_status::ready)
    return make_error(errc::internal, "no reply within 10 s");
  return f.get();
}

/// Waits up to 10 s for `pred` to hold.
bool eventually(const std::function<bool()>& pred) {
  for (int i = 0; i < 1000; ++i) {
    if (pred())
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

class snapshot_actor_test : public ::testing::Test {
 protected:
  static constexpr uint64_t snapshot_every = 3;

  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<persistence::memory_storage> store =
    std::make_shared<persistence::memory_storage>();
  wal_writer_actor wal;
  directory_actor dir;
  std::shared_ptr<tenant_table> table = std::make_shared<tenant_table>();

  void SetUp() override {
    sys = std::make_unique<caf::actor_system>(cfg);
    persistence::wal_writer_config wcfg;
    wcfg.max_tail_per_owner = snapshot_every;
    wal = persistence::spawn_wal_writer(*sys, store, wcfg);
    dir = spawn_directory(*sys, node_state{}, wal, table, snapshot_every);
  }

  void TearDown() override {
    caf::anon_send_exit(dir, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(wal, caf::exit_reason::user_shutdown);
    dir = nullptr;
    wal = nullptr;
    sys.reset();
  }

  tenant_info make_tenant(const std::string& name) {
    auto info = await<tenant_info>([&](reply_fn<tenant_info> f) {
      caf::anon_send(dir, create_atom::value, name, f);
    });
    EXPECT_TRUE(info);
    return *info;
  }

  tenant_actor actor_of(const std::string& tenant_id) {
    std::promise<tenant_actor> p;
    caf::anon_send(
      dir, spawn_atom::value, tenant_id,
      tenant_continuation{[&](tenant_actor a) { p.set_value(std::move(a)); }});
    return p.get_future().get();
  }

  endpoint create(const tenant_actor& t, int i) {
    auto ep = await<endpoint>([&](reply_fn<endpoint> f) {
      caf::anon_send(t, create_atom::value,
                     new_endpoint{"https://example.com/" + std::to_string(i),
                                  "secret-secret",
                                  {"a.b"},
                                  {}},
                     f);
    });
    EXPECT_TRUE(ep);
    return *ep;
  }

  /// Stops every actor and waits for it: recovery reads a store nobody
  /// writes, as it does at start-up (a snapshot and a truncation that land
  /// between loading the snapshots and replaying the WAL would otherwise
  /// hide records).
  void quiesce() {
    TearDown();
    SetUp();
  }

  uint64_t shutdown_snapshots() {
    caf::scoped_actor self{*sys};
    uint64_t n = 0;
    self->request(dir, 10s, shutdown_atom::value)
      .receive([&](uint64_t x) { n = x; },
               [&](caf::error& err) { ADD_FAILURE() << text_of(err); });
    return n;
  }
};

TEST_F(snapshot_actor_test, recovery_from_snapshots_equals_the_live_state) {
  auto info = make_tenant("acme");
  auto t = actor_of(info.id);
  std::vector<endpoint> created;
  for (int i = 1; i <= 7; ++i)
    created.push_back(create(t, i));
  ASSERT_TRUE(await<no_content>([&](reply_fn<no_content> f) {
    caf::anon_send(t, status_atom::value, endpoint_id{2},
                   endpoint_status::inactive, f);
  }));
  created[1].status = endpoint_status::inactive;
  // Snapshots every 3 records let the writer drop the WAL behind them.
  EXPECT_TRUE(eventually([&] { return store->first_sequence() > 1; }));
  quiesce();
  auto node = recover(*store);
  ASSERT_TRUE(node) << text_of(node.error());
  const auto& st = node->tenants.at(info.id);
  ASSERT_EQ(st.endpoints.size(), 7u);
  for (const auto& ep : created) {
    EXPECT_EQ(st.endpoints.at(ep.id).status, ep.status);
    EXPECT_EQ(st.endpoints.at(ep.id).url, ep.url);
  }
  EXPECT_EQ(node->directory.tenants.at(info.id).name, "acme");
  // A graceful shutdown of a directory over the recovered state covers
  // everything: recovery then replays nothing.
  caf::anon_send_exit(dir, caf::exit_reason::user_shutdown);
  dir = spawn_directory(*sys, *node, wal, table, snapshot_every);
  EXPECT_GE(shutdown_snapshots(), 1u);
  quiesce();
  auto after = recover(*store);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->tenants, node->tenants);
  for (const auto& [owner, log] : after->logs)
    EXPECT_TRUE(log.uncovered.empty()) << owner;
  EXPECT_EQ(store->first_sequence(), store->last_sequence());
}

TEST_F(snapshot_actor_test, an_idle_owner_does_not_pin_the_wal) {
  auto idle = make_tenant("idle");
  auto busy = make_tenant("busy");
  auto t_idle = actor_of(idle.id);
  auto t_busy = actor_of(busy.id);
  create(t_idle, 1); // one record that nothing else would ever cover
  for (int i = 0; i < 60; ++i)
    create(t_busy, i);
  // The writer asks the directory to snapshot whoever holds the WAL back,
  // so the WAL stays within snapshot_every x owners (+ in-flight slack).
  EXPECT_TRUE(eventually([&] {
    return store->last_sequence() - store->first_sequence() + 1 <=
           snapshot_every * 3 + 3;
  }))
    << "WAL holds " << store->first_sequence() << ".."
    << store->last_sequence();
  quiesce();
  auto node = recover(*store);
  ASSERT_TRUE(node) << text_of(node.error());
  EXPECT_EQ(node->tenants.at(idle.id).endpoints.size(), 1u);
  EXPECT_EQ(node->tenants.at(busy.id).endpoints.size(), 60u);
  EXPECT_EQ(node->directory.tenants.size(), 2u);
}

TEST_F(snapshot_actor_test, dormant_tenants_are_snapshotted_at_shutdown) {
  // Build a store with records, recover it into a fresh directory, and
  // never spawn the tenant: the directory snapshots the dormant state.
  auto info = make_tenant("acme");
  auto t = actor_of(info.id);
  create(t, 1);
  create(t, 2);
  TearDown();
  SetUp();
  auto node = recover(*store);
  ASSERT_TRUE(node);
  EXPECT_FALSE(node->logs.at(info.id).uncovered.empty());
  caf::anon_send_exit(dir, caf::exit_reason::user_shutdown);
  dir = spawn_directory(*sys, std::move(*node), wal, table, 1000);
  EXPECT_EQ(shutdown_snapshots(), 2u); // the tenant and the directory
  auto after = recover(*store);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->tenants.at(info.id).endpoints.size(), 2u);
  EXPECT_TRUE(after->logs.at(info.id).uncovered.empty());
}

TEST_F(snapshot_actor_test, stored_tenants_serve_and_snapshot_after_a_restart) {
  // A directory over a lazily loaded store: the tenant is decoded by its
  // actor on first use, answers with its recovered endpoints, and a stored
  // tenant that was never used is still snapshotted at shutdown.
  auto used = make_tenant("used");
  auto idle = make_tenant("idle");
  create(actor_of(used.id), 1);
  create(actor_of(used.id), 2);
  create(actor_of(idle.id), 1);
  quiesce();
  auto node = load_node(*store);
  ASSERT_TRUE(node) << text_of(node.error());
  EXPECT_EQ(node->stored.size(), 2u);
  caf::anon_send_exit(dir, caf::exit_reason::user_shutdown);
  dir = spawn_directory(*sys, std::move(*node), wal, table, 1000, nullptr,
                        persistence::spawn_wal_reader(*sys, store));
  auto page = await<endpoint_page>([&](reply_fn<endpoint_page> f) {
    caf::anon_send(actor_of(used.id), list_atom::value, list_query{}, f);
  });
  ASSERT_TRUE(page) << text_of(page.error());
  EXPECT_EQ(page->total_items, 2u);
  EXPECT_EQ(shutdown_snapshots(), 3u); // both tenants and the directory
  quiesce();
  auto after = recover(*store);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->tenants.at(used.id).endpoints.size(), 2u);
  EXPECT_EQ(after->tenants.at(idle.id).endpoints.size(), 1u);
  for (const auto& [owner, log] : after->logs)
    EXPECT_TRUE(log.uncovered.empty()) << owner;
}

TEST_F(snapshot_actor_test, warm_up_reads_stored_records_back_in_one_pass) {
  // Three tenants whose records interleave in the WAL, one of them also
  // covered by a snapshot; after a lazy load, warm-up starts all of them
  // with records read in one pass, and each holds exactly its endpoints.
  std::vector<tenant_info> tenants{make_tenant("t1"), make_tenant("t2"),
                                   make_tenant("t3")};
  for (int round = 1; round <= 4; ++round)
    for (size_t i = 0; i < tenants.size(); ++i)
      if (round <= static_cast<int>(i) + 2)
        create(actor_of(tenants[i].id), round);
  quiesce();
  auto node = load_node(*store);
  ASSERT_TRUE(node) << text_of(node.error());
  ASSERT_EQ(node->stored.size(), 3u);
  for (const auto& t : tenants)
    EXPECT_TRUE(node->stored.at(t.id).records.empty());
  caf::anon_send_exit(dir, caf::exit_reason::user_shutdown);
  dir = spawn_directory(*sys, std::move(*node), wal, table, 1000, nullptr,
                        persistence::spawn_wal_reader(*sys, store));
  caf::anon_send(dir, warm_atom::value);
  auto loaded = [&] {
    auto status = await<node_status>([&](reply_fn<node_status> f) {
      caf::anon_send(dir, node_atom::value, f);
    });
    return status ? status->tenants_loaded : 0;
  };
  EXPECT_TRUE(eventually([&] { return loaded() == 3; }));
  for (size_t i = 0; i < tenants.size(); ++i) {
    auto page = await<endpoint_page>([&](reply_fn<endpoint_page> f) {
      caf::anon_send(actor_of(tenants[i].id), list_atom::value, list_query{},
                     f);
    });
    ASSERT_TRUE(page) << text_of(page.error());
    EXPECT_EQ(page->total_items, i + 2) << tenants[i].name;
  }
}

} // namespace
