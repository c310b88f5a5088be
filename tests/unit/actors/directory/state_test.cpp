// Pure state functions: apply, list, replay through recovery (eager, and
// lazy: load_node keeps tenants stored, materialise decodes one).

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "actors/directory/directory_state.hpp"
#include "actors/directory/recovery.hpp"
#include "actors/tenant/stored_tenant.hpp"
#include "actors/tenant/tenant_state.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
#include "persistence/storage.hpp"
#include "persistence/wal_reader.hpp"
#include "webhook_ingress/error.hpp"

namespace {

using namespace wi;

endpoint make_endpoint(endpoint_id id, unix_seconds at) {
  return endpoint{id,
                  "https://example.com/" + std::to_string(id),
                  "secret-" + std::to_string(id),
                  {"user.created"},
                  {{"X-Id", std::to_string(id)}},
                  endpoint_status::active,
                  at,
                  at};
}

tenant_state tenant_with(const std::string& tid, int n) {
  auto st = empty_tenant(tid);
  for (int i = 1; i <= n; ++i) {
    auto id = static_cast<endpoint_id>(i);
    EXPECT_FALSE(
      wi::apply(st, endpoint_created{tid, make_endpoint(id, 1000 + i)}));
  }
  return st;
}

TEST(tenant_apply, created_then_status_changed) {
  auto st = empty_tenant("t1");
  ASSERT_FALSE(wi::apply(st, endpoint_created{"t1", make_endpoint(1, 10)}));
  ASSERT_FALSE(wi::apply(
    st, endpoint_status_changed{"t1", 1, endpoint_status::inactive, 20}));
  ASSERT_EQ(st.last_id, 1u);
  ASSERT_EQ(st.endpoints.size(), 1u);
  EXPECT_EQ(st.endpoints.at(1).status, endpoint_status::inactive);
  EXPECT_EQ(st.endpoints.at(1).created_at, 10);
  EXPECT_EQ(st.endpoints.at(1).last_modified, 20);
}

TEST(tenant_apply, rejects_records_that_cannot_follow) {
  auto st = tenant_with("t1", 2);
  auto before = st;
  // Identifier not above the last one.
  EXPECT_EQ(code_of(wi::apply(st, endpoint_created{"t1", make_endpoint(2, 5)})),
            errc::corrupt_data);
  // Unknown endpoint.
  EXPECT_EQ(
    code_of(wi::apply(
      st, endpoint_status_changed{"t1", 9, endpoint_status::active, 5})),
    errc::corrupt_data);
  // Another tenant's record.
  EXPECT_EQ(code_of(wi::apply(st, endpoint_created{"t2", make_endpoint(3, 5)})),
            errc::corrupt_data);
  // A directory-level record.
  EXPECT_EQ(code_of(wi::apply(st, tenant_created{"t1", "n", "h", 1})),
            errc::corrupt_data);
  EXPECT_EQ(st, before);
}

TEST(tenant_list, pages_in_identifier_order) {
  auto st = tenant_with("t1", 7);
  list_query q;
  q.page_size = 3;
  q.page = 3;
  auto page = list_endpoints(st, q);
  EXPECT_EQ(page.total_items, 7u);
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].id, 7u);
  q.page = 1;
  page = list_endpoints(st, q);
  ASSERT_EQ(page.items.size(), 3u);
  EXPECT_EQ(page.items[0].id, 1u);
  EXPECT_EQ(page.items[2].id, 3u);
  q.page = 4;
  page = list_endpoints(st, q);
  EXPECT_TRUE(page.items.empty());
  EXPECT_EQ(page.total_items, 7u);
}

TEST(tenant_list, date_bounds_are_inclusive_in_milliseconds) {
  auto st = tenant_with("t1", 5); // created_at 1001..1005
  list_query q;
  q.created_from = 1002 * 1000;
  q.created_to = 1004 * 1000;
  auto page = list_endpoints(st, q);
  ASSERT_EQ(page.total_items, 3u);
  EXPECT_EQ(page.items.front().id, 2u);
  EXPECT_EQ(page.items.back().id, 4u);
  q.created_from = 1002 * 1000 + 1; // excludes 1002 exactly
  page = list_endpoints(st, q);
  EXPECT_EQ(page.total_items, 2u);
}

TEST(tenant_list, huge_page_numbers_do_not_overflow) {
  auto st = tenant_with("t1", 2);
  list_query q;
  q.page = 4'000'000'000u;
  q.page_size = 100;
  auto page = list_endpoints(st, q);
  EXPECT_TRUE(page.items.empty());
  EXPECT_EQ(page.total_items, 2u);
}

TEST(statistics, are_zero_without_attempts) {
  auto st = tenant_with("t1", 4);
  const auto& ep = st.endpoints.at(4);
  auto stats = statistics_of(st, ep);
  EXPECT_EQ(stats.ep, ep);
  EXPECT_EQ(stats.total_attempts, 0u);
  EXPECT_EQ(stats.success_rate, 0.0);
  EXPECT_EQ(stats.p95_response_time_ms, 0.0);
  EXPECT_FALSE(stats.last_success_at.has_value());
  EXPECT_EQ(stats.pending_events, 0u);
}

attempt_recorded attempt(const std::string& ev, endpoint_id ep, uint32_t n,
                         uint16_t code, uint32_t latency,
                         delivery_status outcome, unix_millis at) {
  attempt_recorded rec;
  rec.tenant_id = "t1";
  rec.endpoint = ep;
  rec.attempt = attempt_info{ev, n, at, code, latency, "", "body"};
  rec.outcome = outcome;
  rec.next_attempt_at = outcome == delivery_status::pending ? at + 100 : 0;
  rec.reason = outcome == delivery_status::failed ? "exhausted" : "";
  return rec;
}

TEST(deliveries, accepted_events_count_as_pending_until_they_end) {
  auto st = tenant_with("t1", 2);
  ASSERT_FALSE(wi::apply(
    st, event_accepted{"t1", "evt_a", "user.created", "key", 5000, {1, 2}}));
  EXPECT_EQ(st.pending, 2u);
  EXPECT_EQ(st.idempotency.at("key"), "evt_a");
  EXPECT_EQ(statistics_of(st, st.endpoints.at(1)).pending_events, 1u);
  // Endpoint 1: fails once (retry), then succeeds.
  ASSERT_FALSE(wi::apply(
    st, attempt("evt_a", 1, 1, 500, 30, delivery_status::pending, 6000)));
  ASSERT_FALSE(wi::apply(
    st, attempt("evt_a", 1, 2, 204, 10, delivery_status::delivered, 7000)));
  // Endpoint 2: gives up after one attempt without an answer.
  auto gone = attempt("evt_a", 2, 1, 0, 15000, delivery_status::failed, 6500);
  gone.attempt.error = "timeout";
  ASSERT_FALSE(wi::apply(st, gone));
  EXPECT_EQ(st.pending, 0u);
  auto s1 = statistics_of(st, st.endpoints.at(1));
  EXPECT_EQ(s1.total_attempts, 2u);
  EXPECT_EQ(s1.successful_attempts, 1u);
  EXPECT_EQ(s1.failed_attempts, 1u);
  EXPECT_DOUBLE_EQ(s1.success_rate, 50.0);
  EXPECT_DOUBLE_EQ(s1.average_response_time_ms, 20.0);
  EXPECT_EQ(s1.last_success_at, std::optional<unix_millis>{7000});
  EXPECT_EQ(s1.last_failure_at, std::optional<unix_millis>{6000});
  EXPECT_EQ(s1.pending_events, 0u);
  const auto& ev = st.events.at("evt_a");
  EXPECT_EQ(ev.deliveries[0].status, delivery_status::delivered);
  EXPECT_EQ(ev.deliveries[0].attempts, 2u);
  EXPECT_EQ(ev.deliveries[1].status, delivery_status::failed);
  EXPECT_EQ(ev.deliveries[1].reason, "exhausted");
  // An attempt that was under way when its delivery ended counts in the
  // statistics but leaves the delivery as it ended (the WAL may hold such a
  // record; replay must accept it).
  ASSERT_FALSE(wi::apply(
    st, attempt("evt_a", 2, 2, 200, 10, delivery_status::delivered, 8000)));
  EXPECT_EQ(ev.deliveries[1].status, delivery_status::failed);
  EXPECT_EQ(ev.deliveries[1].attempts, 1u);
  EXPECT_EQ(st.pending, 0u);
  EXPECT_EQ(statistics_of(st, st.endpoints.at(2)).successful_attempts, 1u);
  // An attempt for an event nobody accepted is corrupt.
  EXPECT_EQ(code_of(wi::apply(st, attempt("evt_zz", 1, 1, 200, 1,
                                          delivery_status::delivered, 9000))),
            errc::corrupt_data);
}

TEST(deliveries, percentiles_come_from_the_latency_histogram) {
  auto st = tenant_with("t1", 1);
  std::vector<endpoint_id> one{1};
  for (uint32_t i = 1; i <= 100; ++i) {
    auto id = "evt_" + std::to_string(i);
    ASSERT_FALSE(wi::apply(st, event_accepted{"t1", id, "x", "", i, one}));
    ASSERT_FALSE(
      wi::apply(st, attempt(id, 1, 1, 200, i, delivery_status::delivered, i)));
  }
  auto stats = statistics_of(st, st.endpoints.at(1));
  // Buckets are 5% wide: the reported value is within 5% above the truth.
  EXPECT_GE(stats.p50_response_time_ms, 50.0);
  EXPECT_LE(stats.p50_response_time_ms, 52.5);
  EXPECT_GE(stats.p95_response_time_ms, 95.0);
  EXPECT_LE(stats.p95_response_time_ms, 99.75);
  // The attempt log keeps the newest 100, newest first.
  auto page = attempts_of(st, 1, 1, 10);
  EXPECT_EQ(page.total_items, 100u);
  ASSERT_EQ(page.items.size(), 10u);
  EXPECT_EQ(page.items.front().event_id, "evt_100");
  EXPECT_EQ(attempts_of(st, 1, 10, 10).items.back().event_id, "evt_1");
  EXPECT_TRUE(attempts_of(st, 1, 11, 10).items.empty());
}

TEST(deliveries, matching_skips_inactive_endpoints_and_honours_star) {
  auto st = tenant_with("t1", 3);
  endpoint_patch star;
  star.event_types = std::vector<std::string>{"*"};
  ASSERT_FALSE(wi::apply(st, endpoint_updated{"t1", 2, 2000, star}));
  ASSERT_FALSE(wi::apply(
    st, endpoint_status_changed{"t1", 3, endpoint_status::inactive, 2000}));
  EXPECT_EQ(matching_endpoints(st, "user.created"),
            (std::vector<endpoint_id>{1, 2}));
  EXPECT_EQ(matching_endpoints(st, "other"), (std::vector<endpoint_id>{2}));
}

TEST(deliveries, resend_makes_an_ended_delivery_pending_again) {
  auto st = tenant_with("t1", 2);
  ASSERT_FALSE(
    wi::apply(st, event_accepted{"t1", "evt_a", "user.created", "", 1, {1}}));
  // A resend of a pending delivery (two resends racing) changes nothing.
  ASSERT_FALSE(wi::apply(st, delivery_rescheduled{"t1", "evt_a", 1, 9}));
  EXPECT_EQ(st.pending, 1u);
  ASSERT_FALSE(wi::apply(
    st, attempt("evt_a", 1, 1, 200, 5, delivery_status::delivered, 2)));
  ASSERT_FALSE(wi::apply(st, delivery_rescheduled{"t1", "evt_a", 1, 9}));
  EXPECT_EQ(st.pending, 1u);
  EXPECT_EQ(st.events.at("evt_a").deliveries[0].attempts, 0u);
  // An endpoint the event never went to gets a new delivery.
  ASSERT_FALSE(wi::apply(st, delivery_rescheduled{"t1", "evt_a", 2, 9}));
  EXPECT_EQ(st.events.at("evt_a").deliveries.size(), 2u);
  EXPECT_EQ(st.pending, 2u);
}

TEST(history_pruned, removes_ended_events_and_keeps_pending_ones) {
  auto st = tenant_with("t1", 2);
  // evt_a: delivered to 1, failed at 2. evt_b: pending at 1. evt_c: ended,
  // but its key was taken over by evt_d (accepted after the window).
  ASSERT_FALSE(wi::apply(
    st, event_accepted{"t1", "evt_a", "user.created", "ka", 1, {1, 2}}));
  ASSERT_FALSE(wi::apply(
    st, attempt("evt_a", 1, 1, 200, 5, delivery_status::delivered, 2)));
  ASSERT_FALSE(
    wi::apply(st, attempt("evt_a", 2, 1, 500, 7, delivery_status::failed, 2)));
  ASSERT_FALSE(
    wi::apply(st, event_accepted{"t1", "evt_b", "user.created", "kb", 3, {1}}));
  ASSERT_FALSE(
    wi::apply(st, event_accepted{"t1", "evt_c", "user.created", "kc", 4, {1}}));
  ASSERT_FALSE(wi::apply(
    st, attempt("evt_c", 1, 1, 200, 5, delivery_status::delivered, 5)));
  ASSERT_FALSE(
    wi::apply(st, event_accepted{"t1", "evt_d", "user.created", "kc", 6, {}}));
  ASSERT_FALSE(
    wi::apply(st, event_accepted{"t1", "evt_e", "user.created", "", 7, {}}));
  auto activity = st.activity;
  auto pending = st.pending;
  // evt_b is pending: a record that lists it (the state changed since the
  // decision) keeps it. Unknown and repeated ids change nothing.
  ASSERT_FALSE(wi::apply(
    st, history_pruned{
          "t1", 100, {"evt_a", "evt_b", "evt_c", "evt_e", "evt_zz", "evt_a"}}));
  EXPECT_EQ(st.events.count("evt_a"), 0u);
  EXPECT_EQ(st.events.count("evt_c"), 0u);
  EXPECT_EQ(st.events.count("evt_e"), 0u);
  EXPECT_EQ(st.events.count("evt_b"), 1u);
  EXPECT_EQ(st.events.count("evt_d"), 1u);
  EXPECT_EQ(st.idempotency.count("ka"), 0u);
  EXPECT_EQ(st.idempotency.at("kb"), "evt_b");
  EXPECT_EQ(st.idempotency.at("kc"), "evt_d"); // maps to a kept event
  // Statistics, pending counts and the attempt log stay as they were.
  EXPECT_EQ(st.activity, activity);
  EXPECT_EQ(st.pending, pending);
  EXPECT_EQ(attempts_of(st, 1, 1, 10).total_items, 2u);
  // A resent event is pending again: pruning it is a no-op until it ends.
  ASSERT_FALSE(wi::apply(st, delivery_rescheduled{"t1", "evt_d", 1, 8}));
  ASSERT_FALSE(wi::apply(st, history_pruned{"t1", 101, {"evt_d"}}));
  EXPECT_EQ(st.events.count("evt_d"), 1u);
  EXPECT_EQ(st.idempotency.at("kc"), "evt_d");
  // A record of another tenant is corrupt.
  EXPECT_EQ(code_of(wi::apply(st, history_pruned{"t2", 102, {"evt_b"}})),
            errc::corrupt_data);
}

// Pruning through the WAL: recovery (and a snapshot taken after it) yields
// the live state, pruned events absent.
TEST(history_pruned, replay_equals_live_application) {
  persistence::memory_storage store;
  node_state live;
  std::vector<record> recs{
    tenant_created{"t1", "acme", "hash", 1},
    endpoint_created{"t1", make_endpoint(1, 1)},
    event_accepted{"t1", "evt_a", "user.created", "ka", 10, {1}},
    event_accepted{"t1", "evt_b", "user.created", "kb", 11, {1}},
    attempt("evt_a", 1, 1, 200, 5, delivery_status::delivered, 12),
    history_pruned{"t1", 20, {"evt_a", "evt_b"}},
    attempt("evt_b", 1, 1, 200, 5, delivery_status::delivered, 21)};
  for (const auto& rec : recs) {
    ASSERT_FALSE(wi::apply(live, rec));
    auto seq = store.append({persistence::encode(rec)});
    ASSERT_TRUE(seq);
    live.last_sequence = *seq;
  }
  const auto& t1 = live.tenants.at("t1");
  EXPECT_EQ(t1.events.count("evt_a"), 0u);
  EXPECT_EQ(t1.events.count("evt_b"), 1u);
  auto replayed = recover(store);
  ASSERT_TRUE(replayed) << text_of(replayed.error());
  EXPECT_EQ(replayed->tenants, live.tenants);
  auto snap =
    persistence::decode_tenant_snapshot(persistence::encode_snapshot(t1));
  ASSERT_TRUE(snap);
  EXPECT_EQ(*snap, t1);
}

TEST(directory_apply, registers_tenants_once) {
  directory_state st;
  ASSERT_FALSE(wi::apply(st, tenant_created{"t1", "acme", "hash", 5}));
  EXPECT_EQ(st.tenants.at("t1").name, "acme");
  EXPECT_EQ(code_of(wi::apply(st, tenant_created{"t1", "again", "h", 6})),
            errc::corrupt_data);
  EXPECT_EQ(st.tenants.at("t1").name, "acme");
  auto info = info_of(st.tenants.at("t1"));
  EXPECT_EQ(info.id, "t1");
  EXPECT_TRUE(info.token.empty());
}

// The property the WAL depends on: applying records live and replaying their
// encoded form through recovery yield the same state.
TEST(replay, equals_live_application) {
  std::mt19937 rng{42};
  persistence::memory_storage store;
  node_state live;
  std::vector<std::string> tenants{"tA", "tB", "tC"};
  for (const auto& t : tenants) {
    record rec = tenant_created{t, "name-" + t, "hash-" + t, 100};
    ASSERT_FALSE(wi::apply(live, rec));
    ASSERT_TRUE(store.append({persistence::encode(rec)}));
  }
  for (int i = 0; i < 500; ++i) {
    const auto& t = tenants[rng() % tenants.size()];
    auto& st = live.tenants[t];
    record rec;
    if (st.endpoints.empty() || rng() % 3 == 0) {
      rec = endpoint_created{t, make_endpoint(st.last_id + 1 + rng() % 2,
                                              static_cast<unix_seconds>(i))};
    } else {
      auto id = 1 + rng() % st.last_id;
      if (st.endpoints.count(id) == 0)
        continue;
      rec =
        endpoint_status_changed{t, id, static_cast<endpoint_status>(rng() % 3),
                                static_cast<unix_seconds>(i)};
    }
    ASSERT_FALSE(wi::apply(live, rec));
    auto seq = store.append({persistence::encode(rec)});
    ASSERT_TRUE(seq);
    live.last_sequence = *seq;
  }
  auto replayed = recover(store);
  ASSERT_TRUE(replayed) << text_of(replayed.error());
  EXPECT_EQ(replayed->directory, live.directory);
  EXPECT_EQ(replayed->tenants, live.tenants);
  EXPECT_EQ(replayed->last_sequence, live.last_sequence);
}

TEST(replay, fails_on_a_record_that_does_not_apply) {
  persistence::memory_storage store;
  ASSERT_TRUE(store.append(
    {persistence::encode(endpoint_created{"ghost", make_endpoint(1, 1)})}));
  auto replayed = recover(store);
  ASSERT_FALSE(replayed);
  EXPECT_EQ(code_of(replayed.error()), errc::corrupt_data);
  EXPECT_NE(text_of(replayed.error()).find("WAL record 1"), std::string::npos);
}

TEST(replay, fails_on_undecodable_bytes) {
  persistence::memory_storage store;
  ASSERT_TRUE(store.append({std::string{"\x07garbage"}}));
  auto replayed = recover(store);
  ASSERT_FALSE(replayed);
  EXPECT_EQ(code_of(replayed.error()), errc::corrupt_data);
}

// -- lazy recovery ------------------------------------------------------------

/// Appends `rec` to `store` and applies it to `live`.
void commit(persistence::memory_storage& store, node_state& live,
            const record& rec) {
  ASSERT_FALSE(wi::apply(live, rec));
  auto seq = store.append({persistence::encode(rec)});
  ASSERT_TRUE(seq);
  live.last_sequence = *seq;
}

/// A store of three tenants with endpoints, status changes and an event;
/// tenant tB also has a snapshot in the middle of its records.
void fill(persistence::memory_storage& store, node_state& live) {
  std::mt19937 rng{7};
  std::vector<std::string> tenants{"tA", "tB", "tC"};
  for (const auto& t : tenants)
    commit(store, live, tenant_created{t, "name-" + t, "hash-" + t, 100});
  for (int i = 0; i < 600; ++i) {
    const auto& t = tenants[rng() % tenants.size()];
    auto& st = live.tenants[t];
    if (i == 300) { // tB's snapshot covers its records so far
      auto last = live.last_sequence;
      ASSERT_FALSE(store.put_snapshot(
        "tB", last, persistence::encode_snapshot(live.tenants["tB"])));
    }
    if (st.endpoints.empty() || rng() % 3 == 0) {
      commit(store, live,
             endpoint_created{
               t, make_endpoint(st.last_id + 1, static_cast<unix_seconds>(i))});
    } else {
      auto id = 1 + rng() % st.last_id;
      commit(store, live,
             endpoint_status_changed{t, id,
                                     static_cast<endpoint_status>(rng() % 3),
                                     static_cast<unix_seconds>(i)});
    }
  }
  commit(store, live, event_accepted{"tC", "evt_1", "a.b", "", 5, {1}});
}

/// Materialises stored tenant `id` of `lazy` with its records read back
/// from `store`, as its actor does.
caf::expected<tenant_state> read_back(persistence::storage& store,
                                      node_state& lazy, const std::string& id) {
  auto& stored = lazy.stored.at(id);
  const auto& seqs = lazy.logs[id].uncovered;
  auto records = persistence::read_packed(store, seqs);
  if (!records)
    return records.error();
  stored.records = std::move(*records);
  return materialise(id, stored, seqs);
}

TEST(lazy_recovery, decodes_nothing_and_materialises_the_eager_state) {
  persistence::memory_storage store;
  node_state live;
  fill(store, live);
  auto lazy = load_node(store);
  ASSERT_TRUE(lazy) << text_of(lazy.error());
  EXPECT_TRUE(lazy->tenants.empty());
  ASSERT_EQ(lazy->stored.size(), 3u);
  EXPECT_EQ(lazy->directory, live.directory);
  EXPECT_EQ(lazy->last_sequence, live.last_sequence);
  EXPECT_FALSE(lazy->stored.at("tB").snapshot.empty());
  EXPECT_TRUE(lazy->stored.at("tA").snapshot.empty());
  auto eager = recover(store);
  ASSERT_TRUE(eager) << text_of(eager.error());
  EXPECT_EQ(eager->tenants, live.tenants);
  EXPECT_EQ(eager->logs, lazy->logs);
  size_t uncovered = 0;
  for (const auto& [owner, log] : lazy->logs) {
    ASSERT_FALSE(log.uncovered.empty()) << owner;
    EXPECT_TRUE(std::is_sorted(log.uncovered.begin(), log.uncovered.end()));
    EXPECT_EQ(log.last_seq, log.uncovered.back()) << owner;
    uncovered += log.uncovered.size();
  }
  // Every record but those of tB that its snapshot covers.
  EXPECT_LT(uncovered, live.last_sequence);
  EXPECT_GT(uncovered, live.last_sequence / 2);
  for (const auto& [id, stored] : lazy->stored) {
    // Only sequence numbers are kept at start, not the records' bytes.
    EXPECT_TRUE(stored.records.empty()) << id;
    // Without its records, a tenant with some cannot be decoded.
    EXPECT_EQ(
      code_of(materialise(id, stored, lazy->logs.at(id).uncovered).error()),
      errc::internal);
  }
  for (const auto& id : {"tA", "tB", "tC"}) {
    auto st = read_back(store, *lazy, id);
    ASSERT_TRUE(st) << id << ": " << text_of(st.error());
    EXPECT_EQ(*st, live.tenants.at(id)) << id;
  }
}

TEST(lazy_recovery, packed_records_round_trip_and_truncation_is_an_error) {
  std::string packed;
  persistence::pack_record(packed, "ab");
  persistence::pack_record(packed, "");
  persistence::pack_record(packed, std::string(300, 'x'));
  std::vector<std::string> seen;
  auto collect = [&](std::string_view r) {
    seen.emplace_back(r);
    return caf::error{};
  };
  ASSERT_FALSE(persistence::for_each_packed(packed, collect));
  EXPECT_EQ(seen, (std::vector<std::string>{"ab", "", std::string(300, 'x')}));
  for (size_t cut = 1; cut < packed.size(); ++cut) {
    auto prefix = std::string_view{packed}.substr(0, cut);
    if (cut == 6 || cut == 10)
      continue; // ends between records: a shorter, valid list
    EXPECT_EQ(code_of(persistence::for_each_packed(
                prefix, [](std::string_view) { return caf::error{}; })),
              errc::internal)
      << cut;
  }
}

TEST(lazy_recovery, reading_back_a_truncated_record_is_corrupt_data) {
  persistence::memory_storage store;
  node_state live;
  fill(store, live);
  auto lazy = load_node(store);
  ASSERT_TRUE(lazy);
  auto first = lazy->logs.at("tA").uncovered.front();
  ASSERT_FALSE(store.truncate_wal(first + 1));
  auto st = read_back(store, *lazy, "tA");
  ASSERT_FALSE(st);
  EXPECT_EQ(code_of(st.error()), errc::corrupt_data);
  EXPECT_NE(text_of(st.error()).find("WAL record " + std::to_string(first)),
            std::string::npos)
    << text_of(st.error());
}

TEST(lazy_recovery, marks_tenants_that_may_have_pending_deliveries) {
  persistence::memory_storage store;
  node_state live;
  fill(store, live);
  auto lazy = load_node(store);
  ASSERT_TRUE(lazy);
  EXPECT_FALSE(lazy->stored.at("tA").may_have_pending);
  EXPECT_FALSE(lazy->stored.at("tB").may_have_pending);
  EXPECT_TRUE(lazy->stored.at("tC").may_have_pending);
}

TEST(lazy_recovery, a_corrupt_record_of_a_dormant_tenant_fails_the_start) {
  persistence::memory_storage store;
  node_state live;
  commit(store, live, tenant_created{"tA", "a", "h", 1});
  commit(store, live, endpoint_created{"tA", make_endpoint(1, 1)});
  auto bytes = persistence::encode(endpoint_created{"tA", make_endpoint(2, 2)});
  bytes.resize(bytes.size() - 3); // a well-formed head, a truncated body
  ASSERT_TRUE(store.append({bytes}));
  auto lazy = load_node(store);
  ASSERT_FALSE(lazy);
  EXPECT_EQ(code_of(lazy.error()), errc::corrupt_data);
  EXPECT_NE(text_of(lazy.error()).find("WAL record 3"), std::string::npos)
    << text_of(lazy.error());
}

TEST(lazy_recovery, a_corrupt_snapshot_of_a_dormant_tenant_fails_the_start) {
  persistence::memory_storage store;
  node_state live;
  commit(store, live, tenant_created{"tA", "a", "h", 1});
  commit(store, live, endpoint_created{"tA", make_endpoint(1, 1)});
  auto bytes = persistence::encode_snapshot(live.tenants.at("tA"));
  bytes.back() = static_cast<char>(bytes.back() ^ 0x5A); // trailing garbage
  bytes += "x";
  ASSERT_FALSE(store.put_snapshot("tA", 2, bytes));
  auto lazy = load_node(store);
  ASSERT_FALSE(lazy);
  EXPECT_EQ(code_of(lazy.error()), errc::corrupt_data);
  EXPECT_NE(text_of(lazy.error()).find("snapshot of tA"), std::string::npos)
    << text_of(lazy.error());
}

TEST(lazy_recovery, a_record_of_an_unregistered_tenant_fails_the_start) {
  persistence::memory_storage store;
  ASSERT_TRUE(store.append(
    {persistence::encode(endpoint_created{"ghost", make_endpoint(1, 1)})}));
  auto lazy = load_node(store);
  ASSERT_FALSE(lazy);
  EXPECT_NE(text_of(lazy.error()).find("WAL record 1"), std::string::npos);
}

TEST(lazy_recovery, a_record_that_does_not_apply_fails_materialisation) {
  persistence::memory_storage store;
  node_state live;
  commit(store, live, tenant_created{"tA", "a", "h", 1});
  commit(store, live, endpoint_created{"tA", make_endpoint(1, 1)});
  // Well-formed, but endpoint 9 does not exist: only applying finds that.
  ASSERT_TRUE(store.append({persistence::encode(
    endpoint_status_changed{"tA", 9, endpoint_status::inactive, 2})}));
  auto lazy = load_node(store);
  ASSERT_TRUE(lazy) << text_of(lazy.error());
  auto st = read_back(store, *lazy, "tA");
  ASSERT_FALSE(st);
  EXPECT_EQ(code_of(st.error()), errc::corrupt_data);
  EXPECT_NE(text_of(st.error()).find("WAL record 3"), std::string::npos)
    << text_of(st.error());
  EXPECT_FALSE(recover(store)); // eager recovery refuses the same store
}

} // namespace
