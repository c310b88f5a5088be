#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "persistence/storage.hpp"
#include "webhook_ingress/error.hpp"

using namespace wi;
using wi::persistence::memory_storage;

namespace {

using wal_entries = std::vector<std::pair<uint64_t, std::string>>;

wal_entries read_all(memory_storage& store, uint64_t from = 0) {
  wal_entries out;
  auto err = store.replay(from, [&](uint64_t seq, std::string_view bytes) {
    out.emplace_back(seq, std::string{bytes});
    return caf::error{};
  });
  EXPECT_FALSE(err) << text_of(err);
  return out;
}

} // namespace

TEST(memory_storage, numbers_records_from_one_per_batch) {
  memory_storage store;
  EXPECT_EQ(store.last_sequence(), 0u);
  auto first = store.append({"a", "b", "c"});
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, 1u);
  auto second = store.append({"d"});
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, 4u);
  EXPECT_EQ(store.last_sequence(), 4u);
  EXPECT_EQ(store.batches(), 2u);
  EXPECT_EQ(read_all(store),
            (wal_entries{{1, "a"}, {2, "b"}, {3, "c"}, {4, "d"}}));
  EXPECT_EQ(read_all(store, 3), (wal_entries{{3, "c"}, {4, "d"}}));
  EXPECT_EQ(read_all(store, 5), wal_entries{});
}

TEST(memory_storage, replay_stops_at_the_first_error) {
  memory_storage store;
  ASSERT_TRUE(store.append({"a", "b", "c"}));
  std::vector<uint64_t> seen;
  auto err = store.replay(0, [&](uint64_t seq, std::string_view) {
    seen.push_back(seq);
    if (seq == 2)
      return make_error(errc::corrupt_data, "wal", "bad record");
    return caf::error{};
  });
  EXPECT_EQ(code_of(err), errc::corrupt_data);
  EXPECT_EQ(text_of(err), "bad record");
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2}));
}

TEST(memory_storage, meta_round_trip) {
  memory_storage store;
  auto absent = store.get_meta("node_id");
  ASSERT_TRUE(absent);
  EXPECT_EQ(*absent, std::nullopt);
  ASSERT_FALSE(store.put_meta("node_id", "n1"));
  ASSERT_FALSE(store.put_meta("node_id", "n2"));
  auto present = store.get_meta("node_id");
  ASSERT_TRUE(present);
  EXPECT_EQ(*present, std::optional<std::string>{"n2"});
}

TEST(memory_storage, fail_writes_fails_appends_and_meta_without_effect) {
  memory_storage store;
  ASSERT_TRUE(store.append({"a"}));
  ASSERT_FALSE(store.put_meta("k", "v1"));
  store.fail_writes(true);
  auto res = store.append({"b", "c"});
  ASSERT_FALSE(res);
  EXPECT_EQ(code_of(res.error()), errc::storage_unavailable);
  EXPECT_EQ(code_of(store.put_meta("k", "v2")), errc::storage_unavailable);
  EXPECT_EQ(store.last_sequence(), 1u);
  EXPECT_EQ(store.batches(), 1u);
  EXPECT_EQ(read_all(store), (wal_entries{{1, "a"}}));
  auto meta = store.get_meta("k"); // reads keep working
  ASSERT_TRUE(meta);
  EXPECT_EQ(*meta, std::optional<std::string>{"v1"});
  store.fail_writes(false);
  auto again = store.append({"d"});
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 2u); // the failed batch did not consume numbers
  EXPECT_EQ(store.batches(), 2u);
  EXPECT_EQ(read_all(store), (wal_entries{{1, "a"}, {2, "d"}}));
}

namespace {

/// Uses the default `storage::read_wal` (a scan with `replay`) over a
/// `memory_storage`.
class scanning_storage : public persistence::storage {
 public:
  memory_storage inner;

  caf::expected<uint64_t>
  append(const std::vector<std::string>& records) override {
    return inner.append(records);
  }
  caf::error replay(
    uint64_t from,
    const std::function<caf::error(uint64_t, std::string_view)>& f) override {
    return inner.replay(from, f);
  }
  uint64_t last_sequence() const override { return inner.last_sequence(); }
  uint64_t first_sequence() const override { return inner.first_sequence(); }
  caf::error truncate_wal(uint64_t below) override {
    return inner.truncate_wal(below);
  }
  caf::error put_snapshot(std::string_view owner, uint64_t covered,
                          std::string_view bytes) override {
    return inner.put_snapshot(owner, covered, bytes);
  }
  caf::error purge_owner(std::string_view owner) override {
    return inner.purge_owner(owner);
  }
  caf::error load_snapshots(
    const std::function<caf::error(std::string_view, uint64_t,
                                   std::string_view)>& f) override {
    return inner.load_snapshots(f);
  }
  caf::expected<std::optional<std::string>>
  get_meta(std::string_view key) override {
    return inner.get_meta(key);
  }
  caf::error put_meta(std::string_view key, std::string_view value) override {
    return inner.put_meta(key, value);
  }
};

/// Checks `read_wal` of a store holding records "a" to "e" (1 to 5) with
/// records below 3 truncated.
void expect_read_wal(persistence::storage& store) {
  auto some = store.read_wal({3, 5});
  ASSERT_TRUE(some) << text_of(some.error());
  EXPECT_EQ(*some, (std::vector<std::string>{"c", "e"}));
  auto none = store.read_wal({});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  for (auto missing : {std::vector<uint64_t>{2, 3}, {4, 6}}) {
    auto out = store.read_wal(missing);
    ASSERT_FALSE(out);
    EXPECT_EQ(code_of(out.error()), errc::corrupt_data);
    EXPECT_NE(text_of(out.error()).find("is missing"), std::string::npos);
  }
}

} // namespace

TEST(memory_storage, read_wal_returns_the_asked_records_in_order) {
  memory_storage store;
  ASSERT_TRUE(store.append({"a", "b", "c", "d", "e"}));
  ASSERT_FALSE(store.truncate_wal(3));
  expect_read_wal(store);
}

TEST(storage, default_read_wal_scans_with_replay) {
  scanning_storage store;
  ASSERT_TRUE(store.append({"a", "b", "c", "d", "e"}));
  ASSERT_FALSE(store.truncate_wal(3));
  expect_read_wal(store);
}
