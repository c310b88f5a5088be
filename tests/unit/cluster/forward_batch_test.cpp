// The peer layer's pure pieces: cutting queues into bounded batches and the
// timeout sweep's decision, with a fake clock.

#include "actors/cluster/forward_batch.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace {

using ranges = std::vector<std::pair<size_t, size_t>>;
using wi::cluster::batch_limits;
using wi::cluster::batch_ranges;

TEST(forward_batch, a_queue_within_the_limits_is_one_batch) {
  EXPECT_EQ(batch_ranges({10, 20, 30}, batch_limits{64, 1000}),
            (ranges{{0, 3}}));
  EXPECT_EQ(batch_ranges({}, batch_limits{64, 1000}), ranges{});
}

TEST(forward_batch, batches_end_at_the_item_count) {
  EXPECT_EQ(batch_ranges({1, 1, 1, 1, 1, 1, 1}, batch_limits{3, 1000}),
            (ranges{{0, 3}, {3, 6}, {6, 7}}));
  // A limit of 0 items means 1: never an empty batch nor an endless loop.
  EXPECT_EQ(batch_ranges({1, 1}, batch_limits{0, 1000}),
            (ranges{{0, 1}, {1, 2}}));
}

TEST(forward_batch, batches_end_after_the_item_that_reaches_the_bytes) {
  // 40 + 60 reaches 100: the batch ends there; a single item over the
  // limit travels alone.
  EXPECT_EQ(batch_ranges({40, 60, 10, 500, 5, 5}, batch_limits{64, 100}),
            (ranges{{0, 2}, {2, 4}, {4, 6}}));
  EXPECT_EQ(batch_ranges({500}, batch_limits{64, 100}), (ranges{{0, 1}}));
}

struct fake_entry {
  std::chrono::steady_clock::time_point deadline;
};

TEST(forward_batch, the_sweep_takes_each_entry_at_its_own_deadline) {
  using namespace std::chrono_literals;
  std::chrono::steady_clock::time_point t0{}; // the fake clock's origin
  std::unordered_map<uint64_t, fake_entry> entries{
    {7, {t0 + 10s}},   // a forward with the forwarder's 10 s timeout
    {3, {t0 + 300ms}}, // a move offer with a timeout of its own
    {9, {t0 + 60s}},   // a move offer longer than the forward timeout
    {5, {t0 + 10s}}};
  using ids = std::vector<uint64_t>;
  EXPECT_EQ(wi::cluster::expired_ids(entries, t0), ids{});
  EXPECT_EQ(wi::cluster::expired_ids(entries, t0 + 299ms), ids{});
  EXPECT_EQ(wi::cluster::expired_ids(entries, t0 + 300ms), ids{3});
  entries.erase(3);
  EXPECT_EQ(wi::cluster::expired_ids(entries, t0 + 10s), (ids{5, 7}));
  entries.erase(5);
  entries.erase(7);
  // The long offer is not ended at the forward timeout, only at its own.
  EXPECT_EQ(wi::cluster::expired_ids(entries, t0 + 59s), ids{});
  EXPECT_EQ(wi::cluster::expired_ids(entries, t0 + 61s), ids{9});
}

} // namespace
