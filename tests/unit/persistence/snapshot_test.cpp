// Snapshot codec, WAL retention bookkeeping, and snapshot/truncation in both
// storage implementations.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "persistence/binary_format.hpp"
#include "persistence/snapshot_codec.hpp"
#include "persistence/storage.hpp"
#include "persistence/wal_retention.hpp"
#include "webhook_ingress/error.hpp"

namespace {

using namespace wi;
using namespace wi::persistence;

tenant_state sample_tenant() {
  auto st = empty_tenant("tA");
  st.last_id = 7;
  for (endpoint_id id : {2, 5, 7})
    st.endpoints.emplace(
      id,
      endpoint{id,
               "https://example.com/" + std::to_string(id),
               "s\xC3\xA9"
               "cret-" +
                 std::to_string(id),
               {"user.created", "*"},
               {{"X-A", "1"}, {"X-B", ""}},
               id == 5 ? endpoint_status::inactive : endpoint_status::active,
               100 + static_cast<unix_seconds>(id),
               200 + static_cast<unix_seconds>(id)});
  event_state ev{"evt_1", "user.created", "key-1", 1234, {}, 321};
  ev.ordering_key = "customer-\xC3\xA9";
  ev.seq = 4;
  ev.deliveries.push_back({2, delivery_status::pending, 1, 5678, ""});
  ev.deliveries.push_back({5, delivery_status::failed, 7, 0, "exhausted"});
  st.events.emplace(ev.id, ev);
  st.idempotency.emplace("key-1", "evt_1");
  endpoint_activity a;
  a.total = 8;
  a.successful = 1;
  a.failed = 7;
  a.latency_sum_ms = 99;
  a.last_success_at = 1;
  a.last_failure_at = 2;
  a.pending = 1;
  a.latency_buckets = {0, 3, 5};
  a.recent.push_back({"evt_1", 1, 1300, 503, 12, "", "busy"});
  a.recent.push_back({"evt_1", 2, 1400, 0, 15000, "timeout", ""});
  st.activity.emplace(2, a);
  st.pending = 1;
  st.stored_bytes = 321; // the sum of the events' payload_bytes
  st.limits.values[static_cast<size_t>(limit_kind::max_endpoints)] = 5;
  st.limits.values[static_cast<size_t>(limit_kind::publish_rate)] = 0;
  st.last_event_seq = 9; // events 1-3 and 5-9 were pruned
  st.endpoints.at(2).rate_limit = 10'000;
  st.endpoints.at(7).ordering = delivery_ordering::fifo;
  return st;
}

directory_state sample_directory() {
  directory_state st;
  tenant_entry a;
  a.id = "tA";
  a.name = "acme";
  a.token_hash = std::string(32, 'h');
  a.created_at = 10;
  a.previous_token_hash = std::string(32, 'p');
  a.previous_valid_until = 86'410;
  st.tenants.emplace("tA", a);
  tenant_entry b;
  b.id = "tB";
  b.created_at = -5;
  b.active = false;
  b.deactivated_at = 7;
  st.tenants.emplace("tB", b);
  tenant_entry c;
  c.id = "tC";
  c.created_at = 1;
  c.active = false;
  c.deactivated_at = 2;
  c.purged = true;
  st.tenants.emplace("tC", c);
  tenant_entry d; // imported by a planned move
  d.id = "tD";
  d.name = "moved";
  d.token_hash = std::string(32, 'd');
  d.epoch = UINT64_MAX;
  st.tenants.emplace("tD", d);
  return st;
}

TEST(snapshot_codec, tenant_round_trip) {
  auto st = sample_tenant();
  auto back = decode_tenant_snapshot(encode_snapshot(st));
  ASSERT_TRUE(back) << text_of(back.error());
  EXPECT_EQ(*back, st);
  auto empty = empty_tenant("tZ");
  EXPECT_EQ(*decode_tenant_snapshot(encode_snapshot(empty)), empty);
}

TEST(snapshot_codec, reads_tenant_snapshots_written_before_limits) {
  // Kind 1: events without payload_bytes, no limit overrides at the end.
  detail::writer w;
  w.u8(1); // version
  w.u8(1); // kind 1
  w.str("tOld");
  w.u64(0); // last_id
  w.count(0);
  w.count(1); // one event
  w.str("evt_old");
  w.str("user.created");
  w.str("");
  w.i64(42);
  w.count(0); // deliveries
  w.count(0); // idempotency keys
  w.count(0); // activity
  w.u64(0);   // pending
  auto bytes = std::move(w).take();
  auto back = decode_tenant_snapshot(bytes);
  ASSERT_TRUE(back) << text_of(back.error());
  EXPECT_EQ(back->tenant_id, "tOld");
  ASSERT_EQ(back->events.size(), 1u);
  EXPECT_EQ(back->events.at("evt_old").created_at, 42);
  EXPECT_EQ(back->events.at("evt_old").payload_bytes, 0u);
  EXPECT_EQ(back->stored_bytes, 0u);
  EXPECT_EQ(back->limits, limit_overrides{});
  EXPECT_EQ(back->events.at("evt_old").seq, 1u); // numbered (kind < 8)
  EXPECT_EQ(back->last_event_seq, 1u);
  // Written again, it takes the current kind (8) and reads back the same.
  auto again = encode_snapshot(*back);
  EXPECT_EQ(again[1], '\x08');
  EXPECT_EQ(*decode_tenant_snapshot(again), *back);
}

TEST(snapshot_codec, directory_round_trip) {
  auto st = sample_directory();
  auto back = decode_directory_snapshot(encode_snapshot(st));
  ASSERT_TRUE(back) << text_of(back.error());
  EXPECT_EQ(*back, st);
}

TEST(snapshot_codec, reads_directory_snapshots_written_before_rotation) {
  // Kind 2: each tenant ends after `active`.
  persistence::detail::writer w;
  w.u8(1);
  w.u8(2);
  w.count(1);
  w.str("tA");
  w.str("acme");
  w.str(std::string(32, 'h'));
  w.i64(10);
  w.u8(1);
  auto back = decode_directory_snapshot(std::move(w).take());
  ASSERT_TRUE(back) << text_of(back.error());
  tenant_entry expected;
  expected.id = "tA";
  expected.name = "acme";
  expected.token_hash = std::string(32, 'h');
  expected.created_at = 10;
  ASSERT_EQ(back->tenants.size(), 1u);
  EXPECT_EQ(back->tenants.at("tA"), expected);
}

TEST(snapshot_codec, reads_directory_snapshots_written_before_moves) {
  // Kind 3: each tenant ends after `purged`; its epoch reads as 0.
  persistence::detail::writer w;
  w.u8(1);
  w.u8(3);
  w.count(1);
  tenant_entry expected;
  expected.id = "tA";
  expected.name = "acme";
  expected.token_hash = std::string(32, 'h');
  expected.created_at = 10;
  expected.previous_token_hash = std::string(32, 'p');
  expected.previous_valid_until = 99;
  w.entry(expected, false);
  auto back = decode_directory_snapshot(std::move(w).take());
  ASSERT_TRUE(back) << text_of(back.error());
  ASSERT_EQ(back->tenants.size(), 1u);
  EXPECT_EQ(back->tenants.at("tA"), expected);
}

TEST(snapshot_codec, registry_entry_round_trip_and_truncations_fail) {
  for (const auto& [id, entry] : sample_directory().tenants) {
    auto bytes = encode_entry(entry);
    auto back = decode_entry(bytes);
    ASSERT_TRUE(back) << text_of(back.error());
    EXPECT_EQ(*back, entry);
    for (size_t n = 0; n < bytes.size(); ++n)
      EXPECT_FALSE(decode_entry(bytes.substr(0, n))) << id << " cut at " << n;
    EXPECT_FALSE(decode_entry(bytes + 'x')) << id << " with a trailing byte";
  }
  // Not interchangeable with a directory snapshot.
  EXPECT_FALSE(decode_entry(encode_snapshot(sample_directory())));
}

TEST(snapshot_codec, every_truncation_and_trailing_byte_fails) {
  auto bytes = encode_snapshot(sample_tenant());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto x = decode_tenant_snapshot(std::string_view{bytes}.substr(0, n));
    ASSERT_FALSE(x) << "prefix " << n;
    EXPECT_EQ(code_of(x.error()), errc::corrupt_data);
  }
  EXPECT_FALSE(decode_tenant_snapshot(bytes + '\0'));
  auto dir = encode_snapshot(sample_directory());
  for (size_t n = 0; n < dir.size(); ++n)
    ASSERT_FALSE(decode_directory_snapshot(std::string_view{dir}.substr(0, n)));
}

TEST(snapshot_codec, the_check_agrees_with_the_decoder) {
  auto bytes = encode_snapshot(sample_tenant());
  auto summary = check_tenant_snapshot(bytes);
  ASSERT_TRUE(summary) << text_of(summary.error());
  EXPECT_EQ(summary->tenant_id, "tA");
  EXPECT_EQ(summary->pending, 1u);
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto x = check_tenant_snapshot(std::string_view{bytes}.substr(0, n));
    ASSERT_FALSE(x) << "prefix " << n;
    EXPECT_EQ(code_of(x.error()), errc::corrupt_data);
  }
  EXPECT_FALSE(check_tenant_snapshot(bytes + '\0'));
  EXPECT_FALSE(check_tenant_snapshot(encode_snapshot(sample_directory())));
  auto st = sample_tenant();
  st.last_id = 6; // below the endpoint with id 7
  EXPECT_FALSE(check_tenant_snapshot(encode_snapshot(st)));
}

TEST(snapshot_codec, kinds_are_not_interchangeable) {
  EXPECT_EQ(
    code_of(
      decode_directory_snapshot(encode_snapshot(sample_tenant())).error()),
    errc::corrupt_data);
  EXPECT_EQ(
    code_of(
      decode_tenant_snapshot(encode_snapshot(sample_directory())).error()),
    errc::corrupt_data);
}

TEST(snapshot_codec, rejects_identifiers_out_of_order_or_above_last_id) {
  auto st = sample_tenant();
  st.last_id = 6; // below the endpoint with id 7
  EXPECT_FALSE(decode_tenant_snapshot(encode_snapshot(st)));
}

TEST(wal_retention, tracks_the_oldest_needed_record) {
  wal_retention r;
  EXPECT_EQ(r.needed_from(10), 10u);
  EXPECT_FALSE(r.oldest_owner());
  r.on_append("a", 1);
  r.on_append("b", 2);
  r.on_append("a", 3);
  r.on_append("b", 4);
  EXPECT_EQ(r.needed_from(5), 1u);
  EXPECT_EQ(r.oldest_owner(), std::optional<std::string>{"a"});
  r.on_snapshot("a", 1); // covers 1 but not 3
  EXPECT_EQ(r.needed_from(5), 2u);
  EXPECT_EQ(r.oldest_owner(), std::optional<std::string>{"b"});
  r.on_snapshot("b", 4);
  EXPECT_EQ(r.needed_from(5), 3u);
  EXPECT_EQ(r.owners(), 1u);
  r.on_snapshot("a", 3);
  EXPECT_EQ(r.needed_from(5), 5u);
  EXPECT_EQ(r.owners(), 0u);
  r.on_snapshot("nobody", 9); // harmless
  r.seed("c", {7, 8});
  EXPECT_EQ(r.needed_from(9), 7u);
  r.on_snapshot("c", 6); // older snapshot covers nothing
  EXPECT_EQ(r.needed_from(9), 7u);
}

/// Runs the same checks against both storage implementations.
void check_snapshots_and_truncation(storage& store) {
  ASSERT_TRUE(store.append({"r1", "r2", "r3", "r4"}));
  EXPECT_EQ(store.first_sequence(), 1u);
  ASSERT_FALSE(store.put_snapshot("tA", 3, "state-a"));
  ASSERT_FALSE(store.put_snapshot("#directory", 2, std::string{"\0x", 2}));
  ASSERT_FALSE(store.put_snapshot("tA", 4, "state-a2")); // replaces
  ASSERT_FALSE(store.truncate_wal(3));
  EXPECT_EQ(store.first_sequence(), 3u);
  std::vector<uint64_t> seqs;
  ASSERT_FALSE(store.replay(1, [&](uint64_t seq, std::string_view) {
    seqs.push_back(seq);
    return caf::error{};
  }));
  EXPECT_EQ(seqs, (std::vector<uint64_t>{3, 4}));
  // The newest record always stays, so sequence numbers keep growing.
  ASSERT_FALSE(store.truncate_wal(100));
  EXPECT_EQ(store.first_sequence(), 4u);
  EXPECT_EQ(store.last_sequence(), 4u);
  std::map<std::string, std::pair<uint64_t, std::string>> snaps;
  ASSERT_FALSE(store.load_snapshots(
    [&](std::string_view owner, uint64_t covered, std::string_view bytes) {
      snaps[std::string{owner}] = {covered, std::string{bytes}};
      return caf::error{};
    }));
  ASSERT_EQ(snaps.size(), 2u);
  EXPECT_EQ(snaps.at("tA"),
            std::make_pair(uint64_t{4}, std::string{"state-a2"}));
  EXPECT_EQ(snaps.at("#directory"),
            std::make_pair(uint64_t{2}, std::string{"\0x", 2}));
}

TEST(memory_storage_snapshots, store_load_and_truncate) {
  memory_storage store;
  check_snapshots_and_truncation(store);
  store.fail_writes(true);
  EXPECT_EQ(code_of(store.put_snapshot("tA", 9, "x")),
            errc::storage_unavailable);
}

TEST(rocksdb_storage_snapshots, store_load_truncate_and_reopen) {
  std::string tmpl = "/tmp/wi-snapshot-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  auto dir = tmpl + "/data";
  {
    auto store = open_rocksdb_storage(dir);
    ASSERT_TRUE(store) << text_of(store.error());
    check_snapshots_and_truncation(**store);
  }
  {
    auto store = open_rocksdb_storage(dir);
    ASSERT_TRUE(store) << text_of(store.error());
    EXPECT_EQ((*store)->first_sequence(), 4u);
    EXPECT_EQ((*store)->last_sequence(), 4u);
    auto next = (*store)->append({"r5"});
    ASSERT_TRUE(next);
    EXPECT_EQ(*next, 5u);
    size_t n = 0;
    ASSERT_FALSE((*store)->load_snapshots(
      [&](std::string_view, uint64_t, std::string_view) {
        ++n;
        return caf::error{};
      }));
    EXPECT_EQ(n, 2u);
  }
  std::filesystem::remove_all(tmpl);
}

} // namespace
