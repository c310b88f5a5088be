// Planned moves, the data side: the records of an import and a move-out and
// their recovery (pure, over the in-memory store), and the directory's
// `local_tenants` steps through the real actors of two nodes (each its own
// in-memory store, WAL writer and readers).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/common/crypto.hpp"
#include "actors/delivery/delivery_engine.hpp"
#include "actors/directory/directory_actor.hpp"
#include "actors/directory/recovery.hpp"
#include "actors/directory/transfer.hpp"
#include "actors/tenant/tenant_state.hpp"
#include "persistence/payload_reader.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
#include "persistence/storage.hpp"
#include "persistence/wal_reader.hpp"
#include "persistence/wal_writer.hpp"
#include "webhook_ingress/error.hpp"

namespace {

using namespace wi;
using namespace std::chrono_literals;

// -- records and recovery -----------------------------------------------------

endpoint make_endpoint(endpoint_id id, std::string url) {
  return endpoint{id,
                  std::move(url),
                  "secret-secret",
                  {"a.b"},
                  {},
                  endpoint_status::active,
                  100,
                  100};
}

uint64_t put(persistence::memory_storage& store, std::vector<record> recs) {
  std::vector<std::string> bytes;
  for (const auto& r : recs)
    bytes.push_back(persistence::encode(r));
  auto seq = store.append(bytes);
  EXPECT_TRUE(seq) << text_of(seq.error());
  return seq ? *seq : 0;
}

tenant_entry entry_of(const std::string& id, std::string name) {
  tenant_entry e;
  e.id = id;
  e.name = std::move(name);
  e.token_hash = std::string(32, 'h');
  e.created_at = 100;
  return e;
}

/// A state with the endpoints `urls` (ids 1..n).
tenant_state state_with(const std::string& id,
                        const std::vector<std::string>& urls) {
  auto st = empty_tenant(id);
  endpoint_id n = 0;
  for (const auto& url : urls)
    EXPECT_FALSE(wi::apply(st, endpoint_created{id, make_endpoint(++n, url)}));
  return st;
}

/// The two records of an import, as one append.
std::vector<record> import_of(const tenant_state& st, std::string name,
                              uint64_t epoch) {
  return {
    tenant_imported{st.tenant_id, entry_of(st.tenant_id, name), epoch},
    tenant_state_imported{st.tenant_id, persistence::encode_snapshot(st)}};
}

TEST(transfer_recovery, an_import_replaces_an_earlier_life_and_its_snapshot) {
  // created -> endpoints -> (snapshot) -> moved out -> imported again ->
  // more records. The old snapshot survived (its deletion is not synced)
  // and covers less than the import: the import wins, and the old life's
  // endpoints are gone.
  persistence::memory_storage store;
  put(store, {tenant_created{"tA", "first", std::string(32, 'h'), 100}});
  put(store, {endpoint_created{"tA", make_endpoint(1, "https://old/1")}});
  auto last_old =
    put(store, {endpoint_created{"tA", make_endpoint(2, "https://old/2")}});
  ASSERT_FALSE(
    store.put_snapshot("tA", last_old,
                       persistence::encode_snapshot(state_with(
                         "tA", {"https://old/1", "https://old/2"}))));
  put(store, {tenant_moved_out{"tA", 200}});
  auto imported = state_with("tA", {"https://new/1"});
  auto first = put(store, import_of(imported, "second", 9));
  put(store, {endpoint_created{"tA", make_endpoint(2, "https://new/2")}});

  auto lazy = load_node(store);
  ASSERT_TRUE(lazy) << text_of(lazy.error());
  ASSERT_EQ(lazy->stored.count("tA"), 1u);
  EXPECT_TRUE(lazy->stored.at("tA").snapshot.empty())
    << "the stale snapshot must not be the base";
  EXPECT_EQ(lazy->logs.at("tA").uncovered,
            (std::vector<uint64_t>{first + 1, first + 2}));

  auto st = recover(store);
  ASSERT_TRUE(st) << text_of(st.error());
  auto expected = imported;
  ASSERT_FALSE(wi::apply(
    expected, endpoint_created{"tA", make_endpoint(2, "https://new/2")}));
  EXPECT_EQ(st->tenants.at("tA"), expected);
  auto entry = st->directory.tenants.at("tA");
  EXPECT_EQ(entry.name, "second");
  EXPECT_EQ(entry.epoch, 9u);
  EXPECT_FALSE(entry.purged);
}

TEST(transfer_recovery, a_move_out_leaves_nothing_and_no_tombstone) {
  // Before: a tenant record of a tenant the registry no longer has failed
  // the start ("record of unknown tenant") once a registry snapshot covered
  // the move-out while the tenant's older records were still in the WAL.
  persistence::memory_storage store;
  put(store, {tenant_created{"tA", "a", std::string(32, 'h'), 100}});
  auto ep = put(store, {endpoint_created{"tA", make_endpoint(1, "https://x")}});
  ASSERT_FALSE(store.put_snapshot(
    "tA", ep, persistence::encode_snapshot(state_with("tA", {"https://x"}))));
  auto gone = put(store, {tenant_moved_out{"tA", 200}});
  {
    auto st = recover(store);
    ASSERT_TRUE(st) << text_of(st.error());
    EXPECT_EQ(st->directory.tenants.count("tA"), 0u) << "no tombstone";
    EXPECT_EQ(st->tenants.count("tA"), 0u);
    EXPECT_EQ(st->logs.count("tA"), 0u);
  }
  ASSERT_FALSE(store.put_snapshot(
    directory_owner, gone, persistence::encode_snapshot(directory_state{})));
  auto st = recover(store);
  ASSERT_TRUE(st) << text_of(st.error());
  EXPECT_EQ(st->directory.tenants.count("tA"), 0u);
  EXPECT_EQ(st->tenants.count("tA"), 0u);
  EXPECT_EQ(st->stored.count("tA"), 0u);
  EXPECT_EQ(st->logs.count("tA"), 0u);
}

TEST(transfer_recovery, old_records_before_a_covered_reimport_do_not_count) {
  // The registry snapshot covers the move-out and the import again; the
  // first life's records are still in the WAL before them.
  persistence::memory_storage store;
  put(store, {tenant_created{"tA", "a", std::string(32, 'h'), 100}});
  put(store, {endpoint_created{"tA", make_endpoint(1, "https://old")}});
  put(store, {tenant_moved_out{"tA", 200}});
  auto imported = state_with("tA", {"https://new/1", "https://new/2"});
  auto first = put(store, import_of(imported, "b", 3));
  directory_state reg;
  auto e = entry_of("tA", "b");
  e.epoch = 3;
  reg.tenants.emplace("tA", e);
  ASSERT_FALSE(store.put_snapshot(directory_owner, first,
                                  persistence::encode_snapshot(reg)));
  auto st = recover(store);
  ASSERT_TRUE(st) << text_of(st.error());
  EXPECT_EQ(st->tenants.at("tA"), imported);
  EXPECT_EQ(st->directory.tenants.at("tA"), e);
}

TEST(transfer_recovery, a_second_import_replaces_an_uncommitted_first) {
  persistence::memory_storage store;
  put(store, import_of(state_with("tA", {"https://one"}), "a", 1));
  auto second = state_with("tA", {"https://two/1", "https://two/2"});
  put(store, import_of(second, "b", 2));
  auto st = recover(store);
  ASSERT_TRUE(st) << text_of(st.error());
  EXPECT_EQ(st->tenants.at("tA"), second);
  EXPECT_EQ(st->directory.tenants.at("tA").epoch, 2u);
}

TEST(transfer_recovery, node_apply_agrees_with_recovery) {
  persistence::memory_storage store;
  node_state live;
  std::vector<std::vector<record>> batches{
    {tenant_created{"tA", "a", std::string(32, 'h'), 100}},
    {endpoint_created{"tA", make_endpoint(1, "https://old")}},
    {tenant_moved_out{"tA", 200}},
    import_of(state_with("tA", {"https://new"}), "b", 4),
    {endpoint_created{"tA", make_endpoint(2, "https://new/2")}}};
  for (const auto& batch : batches) {
    put(store, batch);
    for (const auto& rec : batch)
      ASSERT_FALSE(wi::apply(live, rec)) << kind_of(rec);
  }
  auto st = recover(store);
  ASSERT_TRUE(st) << text_of(st.error());
  EXPECT_EQ(st->directory, live.directory);
  EXPECT_EQ(st->tenants, live.tenants);
}

TEST(transfer_recovery, imports_of_foreign_or_broken_state_do_not_apply) {
  directory_state reg;
  auto foreign = entry_of("tB", "x");
  EXPECT_EQ(code_of(wi::apply(reg, tenant_imported{"tA", foreign, 1})),
            errc::corrupt_data);
  EXPECT_EQ(code_of(wi::apply(reg, tenant_moved_out{"tA", 1})),
            errc::corrupt_data);
  auto st = empty_tenant("tA");
  EXPECT_EQ(code_of(wi::apply(st, tenant_state_imported{"tA", "garbage"})),
            errc::corrupt_data);
  EXPECT_EQ(code_of(wi::apply(
              st, tenant_state_imported{"tA", persistence::encode_snapshot(
                                                empty_tenant("tB"))})),
            errc::corrupt_data);
}

// -- the directory's steps, two nodes -----------------------------------------

template <class T>
T get(std::future<T>& f) {
  if (f.wait_for(10s) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within 10 s";
    return T{};
  }
  return f.get();
}

/// Sends `xs` and a `reply_fn<T>` to `a` and waits for the answer.
template <class T, class Actor, class... Ts>
caf::expected<T> ask_actor(const Actor& a, Ts... xs) {
  auto p = std::make_shared<std::promise<caf::expected<T>>>();
  auto f = p->get_future();
  caf::anon_send(a, xs..., reply_fn<T>{[p](caf::expected<T> x) {
                   p->set_value(std::move(x));
                 }});
  if (f.wait_for(10s) != std::future_status::ready)
    return make_error(errc::internal, "no answer within 10 s");
  return f.get();
}

/// One node: store, WAL writer, readers, directory and routing table.
struct test_node {
  std::shared_ptr<persistence::memory_storage> store =
    std::make_shared<persistence::memory_storage>();
  std::shared_ptr<tenant_table> table = std::make_shared<tenant_table>();
  wal_writer_actor wal;
  wal_reader_actor reader;
  payload_reader_actor payloads;
  directory_actor dir;
  /// Start as the node does: tenants in their stored form (`load_node`),
  /// decoded by their actors; else decoded first (`recover`).
  bool lazy = false;

  void start(caf::actor_system& sys, std::shared_ptr<delivery_engine> engine) {
    auto node = lazy ? load_node(*store) : recover(*store);
    ASSERT_TRUE(node) << text_of(node.error());
    std::unordered_map<std::string, std::vector<uint64_t>> uncovered;
    for (const auto& [owner, log] : node->logs)
      if (!log.uncovered.empty())
        uncovered.emplace(owner, log.uncovered);
    wal = persistence::spawn_wal_writer(sys, store, {}, std::move(uncovered));
    reader = persistence::spawn_wal_reader(sys, store);
    payloads = persistence::spawn_payload_reader(sys, store);
    auto delivery = std::make_shared<delivery_settings>();
    delivery->engine = std::move(engine);
    delivery->payloads = payloads;
    table = std::make_shared<tenant_table>();
    dir = spawn_directory(sys, std::move(*node), wal, table, 10'000, delivery,
                          reader);
  }

  void stop(caf::actor_system& sys) {
    caf::scoped_actor self{sys};
    for (auto a :
         {caf::actor_cast<caf::actor>(dir), caf::actor_cast<caf::actor>(wal),
          caf::actor_cast<caf::actor>(reader),
          caf::actor_cast<caf::actor>(payloads)}) {
      self->send_exit(a, caf::exit_reason::user_shutdown);
      self->wait_for(a);
    }
    // The system waits for its detached actors' handles to go.
    dir = nullptr;
    wal = nullptr;
    reader = nullptr;
    payloads = nullptr;
  }

  local_tenants steps() const { return local_tenants_of(dir); }

  template <class T, class... Ts>
  caf::expected<T> ask(Ts... xs) {
    return ask_actor<T>(dir, xs...);
  }

  tenant_actor actor_of(const std::string& tenant_id) {
    std::promise<tenant_actor> p;
    auto f = p.get_future();
    caf::anon_send(
      dir, spawn_atom::value, tenant_id,
      tenant_continuation{[&p](tenant_actor a) { p.set_value(std::move(a)); }});
    return get(f);
  }

  caf::expected<tenant_export> freeze(const std::string& tenant_id) {
    std::promise<caf::expected<tenant_export>> p;
    auto f = p.get_future();
    steps().freeze(tenant_id, [&p](caf::expected<tenant_export> x) {
      p.set_value(std::move(x));
    });
    if (f.wait_for(10s) != std::future_status::ready)
      return make_error(errc::internal, "no answer within 10 s");
    return f.get();
  }

  /// Runs a step with a `caf::error` continuation and returns its answer.
  template <class F>
  caf::error step(F f) {
    std::promise<caf::error> p;
    auto fut = p.get_future();
    f([&p](caf::error err) { p.set_value(std::move(err)); });
    if (fut.wait_for(10s) != std::future_status::ready)
      return make_error(errc::internal, "no answer within 10 s");
    return fut.get();
  }
};

new_endpoint sample(int i) {
  return new_endpoint{
    "https://example.com/" + std::to_string(i), "secret-secret", {"a.b"}, {}};
}

class transfer_test : public ::testing::Test {
 protected:
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<delivery_engine> engine;
  test_node a;
  test_node b;
  std::string token;
  tenant_info tenant;

  void SetUp() override {
    sys = std::make_unique<caf::actor_system>(cfg);
    // An engine that queues nothing answers every job `overloaded` (not an
    // attempt): deliveries stay pending, as if the receivers were slow.
    delivery_engine_config ecfg;
    ecfg.max_queued = 0;
    engine = std::make_shared<delivery_engine>(ecfg);
    a.start(*sys, engine);
    b.start(*sys, engine);
  }

  void TearDown() override {
    a.stop(*sys);
    b.stop(*sys);
    engine->stop();
    sys.reset();
  }

  void restart(test_node& n) {
    n.stop(*sys);
    n.start(*sys, engine);
  }

  /// A tenant on node a: 3 endpoints, 2 events (pending), its limits
  /// changed and its token rotated.
  void populate() {
    auto info = a.ask<tenant_info>(create_atom::value, std::string{"acme"});
    ASSERT_TRUE(info) << text_of(info.error());
    tenant = *info;
    auto actor = a.actor_of(tenant.id);
    for (int i = 1; i <= 3; ++i)
      ASSERT_TRUE(ask_actor<endpoint>(actor, create_atom::value, sample(i)));
    for (int i = 1; i <= 2; ++i) {
      auto r = ask_actor<event_receipt>(
        actor, publish_atom::value,
        new_event{"a.b", R"({"n":)" + std::to_string(i) + "}", ""});
      ASSERT_TRUE(r) << text_of(r.error());
      EXPECT_EQ(r->endpoints, 3u);
    }
    limits_patch patch;
    patch.changes[0] = {limit_op::set, 50};
    ASSERT_TRUE(a.ask<tenant_summary>(limits_atom::value, tenant.id, patch));
    auto rotated =
      a.ask<issued_token>(rotate_atom::value, tenant.id, int64_t{3600});
    ASSERT_TRUE(rotated) << text_of(rotated.error());
    token = rotated->token;
  }
};

void expect_same_summary(const tenant_summary& x, const tenant_summary& y) {
  EXPECT_EQ(x.info.id, y.info.id);
  EXPECT_EQ(x.info.name, y.info.name);
  EXPECT_EQ(x.info.created_at, y.info.created_at);
  EXPECT_EQ(x.info.active, y.info.active);
  EXPECT_EQ(x.previous_token_valid_until, y.previous_token_valid_until);
  EXPECT_EQ(x.endpoints, y.endpoints);
  EXPECT_EQ(x.events, y.events);
  EXPECT_EQ(x.pending_deliveries, y.pending_deliveries);
  EXPECT_EQ(x.last_mutation_at, y.last_mutation_at);
  EXPECT_EQ(x.overrides, y.overrides);
  EXPECT_EQ(x.usage.endpoints, y.usage.endpoints);
  EXPECT_EQ(x.usage.stored_bytes, y.usage.stored_bytes);
}

TEST_F(transfer_test, freeze_exports_the_state_and_the_import_serves_alike) {
  populate();
  // The endpoint lifecycle's fields (issue 17) move along: a description, a
  // rotated secret in its grace, a deleted id (never handed out again).
  {
    auto actor = a.actor_of(tenant.id);
    endpoint_patch described;
    described.description = "billing team";
    ASSERT_TRUE(ask_actor<endpoint_view>(actor, update_atom::value,
                                         endpoint_id{1}, described));
    ASSERT_TRUE(
      ask_actor<secret_info>(actor, rotate_atom::value, endpoint_id{1},
                             secret_rotation{"rotated-secret", 60000}));
    ASSERT_TRUE(ask_actor<endpoint>(actor, create_atom::value, sample(4)));
    ASSERT_TRUE(
      ask_actor<no_content>(actor, delete_atom::value, endpoint_id{4}));
  }
  auto before = a.ask<tenant_summary>(get_atom::value, tenant.id);
  ASSERT_TRUE(before) << text_of(before.error());
  auto page = ask_actor<endpoint_page>(a.actor_of(tenant.id), list_atom::value,
                                       list_query{});
  ASSERT_TRUE(page);

  auto x = a.freeze(tenant.id);
  ASSERT_TRUE(x) << text_of(x.error());
  EXPECT_EQ(a.table->lookup(tenant.id, crypto::sha256(token)).outcome,
            tenant_table::verdict::moving);
  // The export is the state: registry entry (both token hashes), endpoints,
  // events with pending deliveries, limits, payloads.
  auto entry = persistence::decode_entry(x->registry);
  ASSERT_TRUE(entry) << text_of(entry.error());
  EXPECT_EQ(entry->id, tenant.id);
  EXPECT_EQ(entry->name, "acme");
  EXPECT_EQ(entry->token_hash, crypto::sha256(token));
  EXPECT_EQ(entry->previous_token_hash, crypto::sha256(tenant.token));
  auto data = persistence::decode_tenant_snapshot(x->snapshot);
  ASSERT_TRUE(data) << text_of(data.error());
  EXPECT_EQ(data->endpoints.size(), 3u);
  EXPECT_EQ(data->last_id, 4u); // endpoint 4 was deleted
  EXPECT_EQ(data->endpoints.at(1).description, "billing team");
  EXPECT_EQ(data->endpoints.at(1).previous_secret, "secret-secret");
  EXPECT_EQ(data->events.size(), 2u);
  EXPECT_EQ(data->pending, 6u);
  EXPECT_EQ(data->limits.values[0], std::optional<uint64_t>{50});
  ASSERT_EQ(x->payloads.size(), 2u);
  for (const auto& [key, value] : x->payloads) {
    auto stored = a.store->get_payload(key);
    ASSERT_TRUE(stored && *stored);
    EXPECT_EQ(value, **stored);
  }
  EXPECT_GT(x->size_bytes(), x->snapshot.size());

  // New owner: durable but not served until activated; its requests wait
  // (`moving`: parked) rather than get 401, since this node's placement map
  // may name it the owner as soon as the commit is in etcd.
  ASSERT_FALSE(b.step([&](auto done) { b.steps().import(*x, 5, done); }));
  EXPECT_EQ(code_of(b.ask<tenant_summary>(get_atom::value, tenant.id).error()),
            errc::not_found);
  EXPECT_EQ(b.table->lookup(tenant.id, crypto::sha256(token)).outcome,
            tenant_table::verdict::moving);
  EXPECT_EQ(b.table->lookup(tenant.id, crypto::sha256("wrong")).outcome,
            tenant_table::verdict::unauthorized);
  EXPECT_EQ(
    code_of(b.step([&](auto done) { b.steps().activate(tenant.id, 6, done); })),
    errc::validation_failed)
    << "another epoch";
  ASSERT_FALSE(
    b.step([&](auto done) { b.steps().activate(tenant.id, 5, done); }));
  auto after = b.ask<tenant_summary>(get_atom::value, tenant.id);
  ASSERT_TRUE(after) << text_of(after.error());
  expect_same_summary(*after, *before);
  EXPECT_NE(b.table->lookup(tenant.id, crypto::sha256(token)).outcome,
            tenant_table::verdict::unauthorized);
  EXPECT_NE(b.table->lookup(tenant.id, crypto::sha256(tenant.token)).outcome,
            tenant_table::verdict::unauthorized)
    << "the rotated token's grace moved along";
  auto page_b = ask_actor<endpoint_page>(b.actor_of(tenant.id),
                                         list_atom::value, list_query{});
  ASSERT_TRUE(page_b);
  EXPECT_EQ(page_b->items, page->items);
  auto secrets = ask_actor<secret_info>(b.actor_of(tenant.id),
                                        secret_atom::value, endpoint_id{1});
  ASSERT_TRUE(secrets) << text_of(secrets.error());
  EXPECT_EQ(secrets->secret, "rotated-secret");
  EXPECT_EQ(secrets->previous, "secret-secret");
  auto fifth =
    ask_actor<endpoint>(b.actor_of(tenant.id), create_atom::value, sample(5));
  ASSERT_TRUE(fifth) << text_of(fifth.error());
  EXPECT_EQ(fifth->id, 5u) << "the deleted id 4 stays used on the new owner";
  for (const auto& [key, value] : x->payloads) {
    auto stored = b.store->get_payload(key);
    ASSERT_TRUE(stored && *stored);
    EXPECT_EQ(**stored, value);
  }

  // Old owner: released, its copy deleted, later look-ups go to node b.
  ASSERT_FALSE(a.step(
    [&](auto done) { a.steps().release_to(tenant.id, "node-b", done); }));
  auto moved = a.table->lookup(tenant.id, crypto::sha256(token));
  EXPECT_EQ(moved.outcome, tenant_table::verdict::moved);
  EXPECT_EQ(moved.node, "node-b");
  EXPECT_EQ(code_of(a.ask<tenant_summary>(get_atom::value, tenant.id).error()),
            errc::not_found);
  for (const auto& [key, value] : x->payloads) {
    auto stored = a.store->get_payload(key);
    ASSERT_TRUE(stored);
    EXPECT_FALSE(*stored) << "payload " << key << " left behind";
  }
  bool snapshot_left = false;
  ASSERT_FALSE(a.store->load_snapshots(
    [&](std::string_view owner, uint64_t, std::string_view) -> caf::error {
      snapshot_left |= owner == tenant.id;
      return {};
    }));
  EXPECT_FALSE(snapshot_left);
  restart(a);
  EXPECT_EQ(code_of(a.ask<tenant_summary>(get_atom::value, tenant.id).error()),
            errc::not_found);
}

TEST_F(transfer_test, a_freeze_waits_for_the_commits_under_way) {
  // Creates sent just before the freeze are in the actor's mailbox first;
  // their WAL appends are still under way when the freeze is handled.
  // Before: the export would miss the endpoints whose sync had not come
  // back yet, and their 201s would be answered after the state left.
  auto info = a.ask<tenant_info>(create_atom::value, std::string{"acme"});
  ASSERT_TRUE(info);
  auto actor = a.actor_of(info->id);
  std::vector<std::future<caf::expected<endpoint>>> created;
  for (int i = 1; i <= 20; ++i) {
    auto p = std::make_shared<std::promise<caf::expected<endpoint>>>();
    created.push_back(p->get_future());
    caf::anon_send(actor, create_atom::value, sample(i),
                   reply_fn<endpoint>{[p](caf::expected<endpoint> x) {
                     p->set_value(std::move(x));
                   }});
  }
  auto x = a.freeze(info->id);
  ASSERT_TRUE(x) << text_of(x.error());
  auto data = persistence::decode_tenant_snapshot(x->snapshot);
  ASSERT_TRUE(data);
  size_t ok = 0;
  for (auto& f : created) {
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    ok += f.get() ? 1 : 0;
  }
  EXPECT_EQ(ok, 20u);
  EXPECT_EQ(data->endpoints.size(), ok);
}

TEST_F(transfer_test, parked_requests_run_here_after_a_thaw) {
  populate();
  auto old_actor = a.actor_of(tenant.id);
  ASSERT_TRUE(a.freeze(tenant.id));
  std::promise<bool> resumed;
  auto f = resumed.get_future();
  ASSERT_EQ(
    a.table->park(tenant.id,
                  [&resumed](bool expired) { resumed.set_value(expired); }),
    tenant_table::park_result::parked);
  // A request that raced with the freeze reaches the frozen actor: refused.
  auto raced = ask_actor<endpoint>(old_actor, create_atom::value, sample(9));
  ASSERT_FALSE(raced);
  EXPECT_EQ(code_of(raced.error()), errc::tenant_unavailable);
  EXPECT_EQ(f.wait_for(0s), std::future_status::timeout);
  ASSERT_FALSE(a.step([&](auto done) { a.steps().thaw(tenant.id, done); }));
  EXPECT_FALSE(get(f)) << "resumed, not expired";
  EXPECT_NE(a.table->lookup(tenant.id, crypto::sha256(token)).outcome,
            tenant_table::verdict::moving);
  auto ep =
    ask_actor<endpoint>(a.actor_of(tenant.id), create_atom::value, sample(4));
  ASSERT_TRUE(ep) << text_of(ep.error());
  EXPECT_EQ(ep->id, 4u);
  auto summary = a.ask<tenant_summary>(get_atom::value, tenant.id);
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->pending_deliveries, 6u) << "nothing lost by the freeze";
}

TEST_F(transfer_test, parked_requests_expire_after_the_park_timeout) {
  populate();
  a.table->set_park_timeout(50ms);
  ASSERT_TRUE(a.freeze(tenant.id));
  std::promise<bool> resumed;
  auto f = resumed.get_future();
  ASSERT_EQ(
    a.table->park(tenant.id,
                  [&resumed](bool expired) { resumed.set_value(expired); }),
    tenant_table::park_result::parked);
  EXPECT_TRUE(get(f)) << "expired";
  EXPECT_EQ(a.table->parked(), 0u);
  ASSERT_FALSE(a.step([&](auto done) { a.steps().thaw(tenant.id, done); }));
}

TEST_F(transfer_test, release_hands_parked_requests_to_the_new_owner) {
  populate();
  ASSERT_TRUE(a.freeze(tenant.id));
  std::vector<std::string> seen; // what each parked request saw on resume
  std::mutex mtx;
  std::promise<void> all;
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(a.table->park(
                tenant.id,
                [&, i](bool expired) {
                  auto r = a.table->lookup(tenant.id, crypto::sha256(token));
                  std::lock_guard guard{mtx};
                  seen.push_back(std::to_string(i) +
                                 (expired ? " expired " : " ") + r.node);
                  if (seen.size() == 3)
                    all.set_value();
                }),
              tenant_table::park_result::parked);
  ASSERT_FALSE(a.step(
    [&](auto done) { a.steps().release_to(tenant.id, "node-b", done); }));
  auto f = all.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(seen,
            (std::vector<std::string>{"0 node-b", "1 node-b", "2 node-b"}));
}

TEST_F(transfer_test, restarts_after_import_after_activate_and_after_discard) {
  populate();
  auto x = a.freeze(tenant.id);
  ASSERT_TRUE(x) << text_of(x.error());
  auto expected = persistence::decode_tenant_snapshot(x->snapshot);
  ASSERT_TRUE(expected);

  // Imported, not activated: the copy survives a restart (the start-up
  // reconciliation decides by placement whether to keep it).
  ASSERT_FALSE(b.step([&](auto done) { b.steps().import(*x, 4, done); }));
  restart(b);
  {
    b.stop(*sys);
    auto st = recover(*b.store);
    ASSERT_TRUE(st) << text_of(st.error());
    EXPECT_EQ(st->tenants.at(tenant.id), *expected);
    EXPECT_EQ(st->directory.tenants.at(tenant.id).epoch, 4u);
    b.start(*sys, engine);
  }
  ASSERT_FALSE(
    b.step([&](auto done) { b.steps().activate(tenant.id, 4, done); }));
  auto ep =
    ask_actor<endpoint>(b.actor_of(tenant.id), create_atom::value, sample(7));
  ASSERT_TRUE(ep) << text_of(ep.error());
  EXPECT_EQ(ep->id, 4u) << "identifiers go on from the imported state";
  restart(b);
  auto summary = b.ask<tenant_summary>(get_atom::value, tenant.id);
  ASSERT_TRUE(summary) << text_of(summary.error());
  EXPECT_EQ(summary->endpoints.active, 4u);
  EXPECT_EQ(summary->pending_deliveries, 6u);

  // Discarded: nothing left, not even after a restart; no tombstone.
  ASSERT_FALSE(b.step([&](auto done) { b.steps().discard(tenant.id, done); }));
  EXPECT_EQ(b.table->lookup(tenant.id, crypto::sha256(token)).outcome,
            tenant_table::verdict::unauthorized);
  for (const auto& [key, value] : x->payloads) {
    auto stored = b.store->get_payload(key);
    ASSERT_TRUE(stored);
    EXPECT_FALSE(*stored) << "payload " << key << " left behind";
  }
  restart(b);
  EXPECT_EQ(code_of(b.ask<tenant_summary>(get_atom::value, tenant.id).error()),
            errc::not_found);
  {
    b.stop(*sys);
    auto st = recover(*b.store);
    ASSERT_TRUE(st) << text_of(st.error());
    EXPECT_EQ(st->directory.tenants.count(tenant.id), 0u);
    EXPECT_EQ(st->tenants.count(tenant.id), 0u);
    b.start(*sys, engine);
  }

  // And it may come back: a discarded tenant imports again. Before: the WAL
  // writer refused every append of the discarded (purged) owner.
  ASSERT_FALSE(b.step([&](auto done) { b.steps().import(*x, 6, done); }));
  ASSERT_FALSE(
    b.step([&](auto done) { b.steps().activate(tenant.id, 6, done); }));
  restart(b);
  auto back = b.ask<tenant_summary>(get_atom::value, tenant.id);
  ASSERT_TRUE(back) << text_of(back.error());
  EXPECT_EQ(back->endpoints.active, 3u);
}

TEST_F(transfer_test, an_import_not_activated_stays_parked_across_restarts) {
  populate(); // 6 pending deliveries
  auto x = a.freeze(tenant.id);
  ASSERT_TRUE(x) << text_of(x.error());
  ASSERT_FALSE(b.step([&](auto done) { b.steps().import(*x, 4, done); }));
  auto loaded = [&] {
    auto status = b.ask<node_status>(node_atom::value);
    EXPECT_TRUE(status) << text_of(status.error());
    return status ? status->tenants_loaded : 99;
  };
  auto verdict = [&] {
    return b.table->lookup(tenant.id, crypto::sha256(token)).outcome;
  };
  // A restart (decoded or stored form) does not start it: no actor, so no
  // delivery from here while the move's outcome is open (it may have been
  // aborted, and the old owner delivers again); its requests wait. Before,
  // the directory started it at once for its pending deliveries.
  for (bool lazy : {false, true}) {
    b.lazy = lazy;
    restart(b);
    EXPECT_EQ(loaded(), 0u) << (lazy ? "stored" : "decoded");
    EXPECT_EQ(verdict(), tenant_table::verdict::moving);
    EXPECT_EQ(
      code_of(b.ask<tenant_summary>(get_atom::value, tenant.id).error()),
      errc::not_found);
    auto st = load_node(*b.store);
    ASSERT_TRUE(st) << text_of(st.error());
    EXPECT_TRUE(st->directory.tenants.at(tenant.id).incoming);
  }
  // The start-up reconcile activates it (its move committed): it serves
  // and its deliveries resume; a parked request goes on.
  std::promise<bool> resumed;
  ASSERT_EQ(
    b.table->park(tenant.id,
                  [&resumed](bool expired) { resumed.set_value(expired); }),
    tenant_table::park_result::parked);
  ASSERT_FALSE(
    b.step([&](auto done) { b.steps().activate(tenant.id, 4, done); }));
  auto f = resumed.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(f.get());
  EXPECT_EQ(loaded(), 1u);
  EXPECT_NE(verdict(), tenant_table::verdict::moving);
  // Durably: a restart finds it served and delivering.
  restart(b);
  EXPECT_EQ(loaded(), 1u);
  EXPECT_NE(verdict(), tenant_table::verdict::moving);
  auto summary = b.ask<tenant_summary>(get_atom::value, tenant.id);
  ASSERT_TRUE(summary) << text_of(summary.error());
  EXPECT_EQ(summary->pending_deliveries, 6u);
  auto st = load_node(*b.store);
  ASSERT_TRUE(st) << text_of(st.error());
  EXPECT_FALSE(st->directory.tenants.at(tenant.id).incoming);
  // Activated once: a second activation with that epoch changes nothing.
  EXPECT_FALSE(
    b.step([&](auto done) { b.steps().activate(tenant.id, 4, done); }));
}

TEST_F(transfer_test, an_import_not_activated_is_discarded_after_a_restart) {
  populate();
  auto x = a.freeze(tenant.id);
  ASSERT_TRUE(x) << text_of(x.error());
  ASSERT_FALSE(b.step([&](auto done) { b.steps().import(*x, 4, done); }));
  b.lazy = true;
  restart(b);
  // The move's commit did not take: the reconcile discards the copy.
  ASSERT_FALSE(b.step([&](auto done) { b.steps().discard(tenant.id, done); }));
  EXPECT_EQ(b.table->lookup(tenant.id, crypto::sha256(token)).outcome,
            tenant_table::verdict::unauthorized);
  restart(b);
  auto st = load_node(*b.store);
  ASSERT_TRUE(st) << text_of(st.error());
  EXPECT_EQ(st->directory.tenants.count(tenant.id), 0u);
  EXPECT_EQ(b.ask<node_status>(node_atom::value)->tenants_loaded, 0u);
}

TEST_F(transfer_test, imports_of_held_or_foreign_tenants_are_refused) {
  populate();
  auto x = a.freeze(tenant.id);
  ASSERT_TRUE(x);
  EXPECT_EQ(code_of(a.step([&](auto done) { a.steps().import(*x, 2, done); })),
            errc::validation_failed)
    << "held here";
  auto bad = *x;
  bad.payloads.emplace_back("other/evt_1", "{}");
  EXPECT_EQ(code_of(b.step([&](auto done) { b.steps().import(bad, 2, done); })),
            errc::validation_failed);
  bad = *x;
  bad.snapshot = "garbage";
  EXPECT_EQ(code_of(b.step([&](auto done) { b.steps().import(bad, 2, done); })),
            errc::corrupt_data);
  EXPECT_EQ(code_of(a.freeze("nobody").error()), errc::not_found);
  // An uncommitted import is replaced by the next one.
  ASSERT_FALSE(b.step([&](auto done) { b.steps().import(*x, 2, done); }));
  ASSERT_FALSE(b.step([&](auto done) { b.steps().import(*x, 3, done); }));
  ASSERT_FALSE(
    b.step([&](auto done) { b.steps().activate(tenant.id, 3, done); }));
}

} // namespace

namespace {

// Not a timed test: run with --gtest_also_run_disabled_tests to measure a
// move's local steps for a tenant with 10k endpoints (docs/benchmarks.md).
TEST_F(transfer_test, DISABLED_measure_a_tenant_with_10k_endpoints) {
  auto info = a.ask<tenant_info>(create_atom::value, std::string{"big"});
  ASSERT_TRUE(info);
  limits_patch room; // the default allows 1000 endpoints
  room.changes[0] = {limit_op::set, 20'000};
  ASSERT_TRUE(a.ask<tenant_summary>(limits_atom::value, info->id, room));
  auto actor = a.actor_of(info->id);
  constexpr int n = 10'000;
  std::vector<std::future<caf::expected<endpoint>>> created;
  for (int i = 1; i <= n; ++i) {
    auto p = std::make_shared<std::promise<caf::expected<endpoint>>>();
    created.push_back(p->get_future());
    caf::anon_send(actor, create_atom::value, sample(i),
                   reply_fn<endpoint>{[p](caf::expected<endpoint> x) {
                     p->set_value(std::move(x));
                   }});
  }
  for (auto& f : created)
    ASSERT_TRUE(f.get());
  using clock = std::chrono::steady_clock;
  auto ms = [](clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  auto t0 = clock::now();
  auto x = a.freeze(info->id);
  auto t1 = clock::now();
  ASSERT_TRUE(x);
  ASSERT_FALSE(b.step([&](auto done) { b.steps().import(*x, 2, done); }));
  auto t2 = clock::now();
  ASSERT_FALSE(
    b.step([&](auto done) { b.steps().activate(info->id, 2, done); }));
  auto t3 = clock::now();
  ASSERT_FALSE(
    a.step([&](auto done) { a.steps().release_to(info->id, "b", done); }));
  auto t4 = clock::now();
  std::printf("10k endpoints: export %zu bytes; freeze %.1f ms, import %.1f "
              "ms, activate %.1f ms, release %.1f ms\n",
              static_cast<size_t>(x->size_bytes()), ms(t1 - t0), ms(t2 - t1),
              ms(t3 - t2), ms(t4 - t3));
}

// Not a timed test: run with --gtest_also_run_disabled_tests to measure how
// long an import of a tenant with 10k and 100k endpoints stalls the
// importing node's directory, which routes every other tenant of the node
// (docs/benchmarks.md, "Import stall").
TEST_F(transfer_test, DISABLED_measure_the_directory_stall_of_an_import) {
  using clock = std::chrono::steady_clock;
  auto ms = [](clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  uint64_t epoch = 1;
  for (int n : {10'000, 100'000}) {
    std::vector<std::string> urls;
    for (int i = 1; i <= n; ++i)
      urls.push_back("https://example.com/hooks/" + std::to_string(i));
    auto id = "big" + std::to_string(n);
    tenant_export x;
    x.tenant_id = id;
    x.registry = persistence::encode_entry(entry_of(id, "big"));
    x.snapshot = persistence::encode_snapshot(state_with(id, urls));
    // The directory answers an unknown tenant's question itself: a probe
    // of its mailbox, every millisecond while the import runs.
    std::atomic<bool> importing{true};
    double worst = 0;
    uint64_t probes = 0;
    std::thread prober{[&] {
      while (importing) {
        auto t0 = clock::now();
        auto r = b.ask<tenant_summary>(get_atom::value, std::string{"nobody"});
        worst = std::max(worst, ms(clock::now() - t0));
        ++probes;
        EXPECT_FALSE(r);
        std::this_thread::sleep_for(1ms);
      }
    }};
    auto t0 = clock::now();
    auto err = b.step([&](auto done) { b.steps().import(x, ++epoch, done); });
    auto took = ms(clock::now() - t0);
    importing = false;
    prober.join();
    ASSERT_FALSE(err) << text_of(err);
    std::printf("%d endpoints: snapshot %zu bytes; import %.1f ms; directory "
                "answered %llu probes meanwhile, slowest %.1f ms\n",
                n, x.snapshot.size(), took,
                static_cast<unsigned long long>(probes), worst);
  }
}

} // namespace
