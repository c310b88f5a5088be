// Tenant and directory actors over a real actor system, the real (detached)
// WAL writer and the in-memory storage double: what these tests check
// depends on the writer's own thread (group commit, sequence numbers in the
// store, replay of what it wrote, messages arriving while a handler runs), so
// they stay on real threads and wait for answers (blocking is fine on a test
// thread; nothing sleeps). Tenant behaviour that depends on time runs on
// CAF's deterministic coordinator with a fake clock: deterministic_test.cpp.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <set>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/common/crypto.hpp"
#include "actors/directory/directory_actor.hpp"
#include "actors/directory/recovery.hpp"
#include "actors/tenant/tenant_actor.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/storage.hpp"
#include "persistence/wal_writer.hpp"
#include "webhook_ingress/error.hpp"

namespace {

using namespace wi;
using namespace std::chrono_literals;

/// A reply_fn whose answer the test thread can wait for.
template <class T>
struct waiter {
  std::shared_ptr<std::promise<caf::expected<T>>> promise =
    std::make_shared<std::promise<caf::expected<T>>>();
  std::future<caf::expected<T>> future = promise->get_future();

  reply_fn<T> fn() {
    return [p = promise](caf::expected<T> x) { p->set_value(std::move(x)); };
  }

  caf::expected<T> get() {
    if (future.wait_for(10s) != std::future_status::ready)
      return make_error(errc::internal, "no reply within 10 s");
    return future.get();
  }
};

new_endpoint sample(int i) {
  return new_endpoint{"https://example.com/" + std::to_string(i),
                      "secret-secret",
                      {"user.created"},
                      {}};
}

class tenant_actor_test : public ::testing::Test {
 protected:
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<persistence::memory_storage> store =
    std::make_shared<persistence::memory_storage>();
  wal_writer_actor wal;
  tenant_actor tenant;

  void SetUp() override {
    sys = std::make_unique<caf::actor_system>(cfg);
    wal = persistence::spawn_wal_writer(*sys, store);
    tenant = sys->spawn(tenant_actor_impl, empty_tenant("t1"), owner_log{}, wal,
                        uint64_t{10'000}, nullptr);
  }

  void TearDown() override {
    caf::anon_send_exit(tenant, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(wal, caf::exit_reason::user_shutdown);
    // A detached actor's thread ends only when its last handle is gone.
    tenant = nullptr;
    wal = nullptr;
    sys.reset();
  }

  caf::expected<endpoint> create(int i) {
    waiter<endpoint> w;
    caf::anon_send(tenant, create_atom::value, sample(i), w.fn());
    return w.get();
  }

  caf::expected<endpoint> get(endpoint_id id) {
    waiter<endpoint_view> w;
    caf::anon_send(tenant, get_atom::value, id, w.fn());
    auto view = w.get();
    if (!view)
      return view.error();
    return view->ep;
  }

  caf::expected<no_content> set_status(endpoint_id id, endpoint_status s) {
    waiter<no_content> w;
    caf::anon_send(tenant, status_atom::value, id, s, w.fn());
    return w.get();
  }
};

TEST_F(tenant_actor_test, creates_with_sequential_identifiers) {
  for (int i = 1; i <= 3; ++i) {
    auto ep = create(i);
    ASSERT_TRUE(ep) << text_of(ep.error());
    EXPECT_EQ(ep->id, static_cast<endpoint_id>(i));
    EXPECT_EQ(ep->status, endpoint_status::active);
    EXPECT_EQ(ep->url, "https://example.com/" + std::to_string(i));
    EXPECT_EQ(ep->created_at, ep->last_modified);
  }
  EXPECT_EQ(store->last_sequence(), 3u);
}

TEST_F(tenant_actor_test, unknown_ids_are_not_found) {
  auto ep = get(1);
  ASSERT_FALSE(ep);
  EXPECT_EQ(code_of(ep.error()), errc::not_found);
  EXPECT_EQ(field_of(ep.error()), "id");
  auto st = set_status(7, endpoint_status::inactive);
  ASSERT_FALSE(st);
  EXPECT_EQ(code_of(st.error()), errc::not_found);
  EXPECT_EQ(store->last_sequence(), 0u); // nothing written for a 404
}

TEST_F(tenant_actor_test, status_changes_apply_in_order) {
  ASSERT_TRUE(create(1));
  ASSERT_TRUE(set_status(1, endpoint_status::inactive));
  EXPECT_EQ(get(1)->status, endpoint_status::inactive);
  // Many transitions sent back to back land in mailbox order.
  std::vector<waiter<no_content>> ws(20);
  for (size_t i = 0; i < ws.size(); ++i)
    caf::anon_send(tenant, status_atom::value, endpoint_id{1},
                   i % 2 == 0 ? endpoint_status::active
                              : endpoint_status::inactive,
                   ws[i].fn());
  for (auto& w : ws)
    ASSERT_TRUE(w.get());
  EXPECT_EQ(get(1)->status, endpoint_status::inactive); // the 20th
}

TEST_F(tenant_actor_test, failed_write_answers_503_and_applies_nothing) {
  ASSERT_TRUE(create(1));
  store->fail_writes(true);
  auto ep = create(2);
  ASSERT_FALSE(ep);
  EXPECT_EQ(code_of(ep.error()), errc::storage_unavailable);
  auto st = set_status(1, endpoint_status::inactive);
  ASSERT_FALSE(st);
  EXPECT_EQ(code_of(st.error()), errc::storage_unavailable);
  EXPECT_EQ(code_of(get(2).error()), errc::not_found);
  EXPECT_EQ(get(1)->status, endpoint_status::active);
  store->fail_writes(false);
  auto next = create(3);
  ASSERT_TRUE(next);
  EXPECT_GT(next->id, 1u); // identifiers are never reused
}

TEST_F(tenant_actor_test, inspect_while_messages_arrive) {
  // Found by the crash harness under UBSan: the inspect handler read the
  // mailbox depth with `mailbox().size()`, which moves newly arrived
  // messages into the queue the actor is iterating; with its normal queue
  // empty and messages arriving, CAF's header code downcast the queue's
  // sentinel node to a mailbox_element (undefined behaviour, and an abort of
  // the sanitized server). Four threads inspect at once, so messages keep
  // arriving while inspects run.
  ASSERT_TRUE(create(1));
  std::vector<std::thread> threads;
  std::atomic<int> answered{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      caf::scoped_actor self{*sys};
      for (int i = 0; i < 500; ++i)
        self->request(tenant, caf::infinite, inspect_atom::value)
          .receive(
            [&](const tenant_summary& x) {
              if (x.loaded && x.endpoints.active == 1)
                ++answered;
            },
            [](const caf::error&) {});
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(answered.load(), 2000);
}

TEST_F(tenant_actor_test, concurrent_creates_get_distinct_identifiers) {
  std::vector<waiter<endpoint>> ws(200);
  for (size_t i = 0; i < ws.size(); ++i)
    caf::anon_send(tenant, create_atom::value, sample(static_cast<int>(i)),
                   ws[i].fn());
  std::set<endpoint_id> ids;
  for (auto& w : ws) {
    auto ep = w.get();
    ASSERT_TRUE(ep);
    ids.insert(ep->id);
  }
  EXPECT_EQ(ids.size(), 200u);
  EXPECT_EQ(*ids.begin(), 1u);
  EXPECT_EQ(*ids.rbegin(), 200u);
  // Group commit: fewer synced batches than records.
  EXPECT_LT(store->batches(), 200u);
}

TEST_F(tenant_actor_test, replay_rebuilds_what_the_actor_acknowledged) {
  // Recovery needs the tenant's registration record first.
  ASSERT_TRUE(store->append({persistence::encode(
    tenant_created{"t1", "acme", crypto::sha256("tok"), 1})}));
  for (int i = 1; i <= 5; ++i)
    ASSERT_TRUE(create(i));
  ASSERT_TRUE(set_status(2, endpoint_status::inactive));
  ASSERT_TRUE(set_status(4, endpoint_status::disabled));
  auto node = recover(*store);
  ASSERT_TRUE(node) << text_of(node.error());
  const auto& st = node->tenants.at("t1");
  ASSERT_EQ(st.endpoints.size(), 5u);
  for (const auto& [id, ep] : st.endpoints) {
    auto live = get(id);
    ASSERT_TRUE(live);
    EXPECT_EQ(*live, ep);
  }
  EXPECT_EQ(st.last_id, 5u);
}

TEST(directory_actor_test, registers_tenants_and_spawns_on_first_use) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto store = std::make_shared<persistence::memory_storage>();
  auto wal = persistence::spawn_wal_writer(sys, store);
  auto table = std::make_shared<tenant_table>();
  auto dir = spawn_directory(sys, node_state{}, wal, table);

  waiter<tenant_info> created;
  caf::anon_send(dir, create_atom::value, std::string{"acme"}, created.fn());
  auto info = created.get();
  ASSERT_TRUE(info) << text_of(info.error());
  EXPECT_EQ(info->name, "acme");
  auto tid = crypto::tenant_of_token(info->token);
  ASSERT_TRUE(tid);
  EXPECT_EQ(*tid, info->id);

  // The table knows the tenant, checks the token, and has no actor yet.
  auto hash = crypto::sha256(info->token);
  EXPECT_EQ(table->lookup(info->id, hash).outcome,
            tenant_table::verdict::dormant);
  EXPECT_EQ(table->lookup(info->id, crypto::sha256("wrong")).outcome,
            tenant_table::verdict::unauthorized);
  EXPECT_EQ(table->lookup("nobody", hash).outcome,
            tenant_table::verdict::unauthorized);

  std::promise<tenant_actor> spawned;
  caf::anon_send(dir, spawn_atom::value, info->id,
                 tenant_continuation{
                   [&](tenant_actor a) { spawned.set_value(std::move(a)); }});
  auto fut = spawned.get_future();
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  auto actor = fut.get();
  ASSERT_TRUE(actor);
  auto running = table->lookup(info->id, hash);
  EXPECT_EQ(running.outcome, tenant_table::verdict::running);
  EXPECT_EQ(running.actor, actor);

  std::promise<tenant_actor> unknown;
  caf::anon_send(dir, spawn_atom::value, std::string{"nobody"},
                 tenant_continuation{
                   [&](tenant_actor a) { unknown.set_value(std::move(a)); }});
  auto f2 = unknown.get_future();
  ASSERT_EQ(f2.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(f2.get());

  waiter<tenant_page> listed;
  caf::anon_send(dir, list_atom::value, list_query{}, listed.fn());
  auto all = listed.get();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->items.size(), 1u);
  EXPECT_EQ(all->total_items, 1u);
  EXPECT_EQ(all->items.front().info.id, info->id);
  EXPECT_TRUE(all->items.front().info.token.empty());
  EXPECT_TRUE(all->items.front().loaded);

  caf::anon_send_exit(dir, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(wal, caf::exit_reason::user_shutdown);
}

TEST(crypto_test, tokens_round_trip_and_reject_malformed_input) {
  auto tid = crypto::make_tenant_id();
  EXPECT_EQ(tid.size(), crypto::tenant_id_length);
  auto token = crypto::make_tenant_token(tid);
  ASSERT_EQ(crypto::tenant_of_token(token),
            std::optional<std::string_view>{tid});
  EXPECT_FALSE(crypto::tenant_of_token(""));
  EXPECT_FALSE(crypto::tenant_of_token(token.substr(1)));
  EXPECT_FALSE(crypto::tenant_of_token("xx" + token.substr(2)));
  auto bad = token;
  bad[3 + crypto::tenant_id_length] = '-';
  EXPECT_FALSE(crypto::tenant_of_token(bad));
  bad = token;
  bad.back() = '~';
  EXPECT_FALSE(crypto::tenant_of_token(bad));
  EXPECT_NE(crypto::make_tenant_token(tid), token);
  EXPECT_EQ(crypto::sha256("abc").size(), 32u);
  EXPECT_TRUE(crypto::constant_time_equal("abc", "abc"));
  EXPECT_FALSE(crypto::constant_time_equal("abc", "abd"));
  EXPECT_FALSE(crypto::constant_time_equal("abc", "ab"));
}

} // namespace
