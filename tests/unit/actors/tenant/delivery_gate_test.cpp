// The rate limit's token bucket and the FIFO gate of deliveries (issue 17,
// items 4 and 5): pure decisions, driven by a fake clock.

#include <gtest/gtest.h>

#include <set>

#include "actors/tenant/delivery_gate.hpp"

using namespace wi;
using namespace std::chrono_literals;

namespace {

/// Counts the attempts a bucket of `rate` allows when asked every `step`
/// for `span`, starting full at t0.
uint64_t allowed_over(uint32_t rate, std::chrono::microseconds step,
                      std::chrono::microseconds span) {
  token_bucket b;
  limit_clock::time_point t0{};
  uint64_t n = 0;
  for (auto t = 0us; t < span; t += step) {
    auto d = take_delivery_token(b, rate, t0 + t);
    b = d.next;
    n += d.allowed ? 1 : 0;
  }
  return n;
}

} // namespace

TEST(delivery_rate, the_burst_is_a_tenth_of_a_second_at_least_one) {
  EXPECT_EQ(delivery_burst(1), 1u);
  EXPECT_EQ(delivery_burst(19), 1u);
  EXPECT_EQ(delivery_burst(20), 2u);
  EXPECT_EQ(delivery_burst(10'000), 1000u);
}

TEST(delivery_rate, holds_the_rate_within_ten_percent_over_a_second) {
  // Asked far more often than the rate allows, over 10 s of fake time: the
  // set rate plus the initial burst.
  for (uint32_t rate : {1u, 5u, 50u, 1000u, 10'000u}) {
    SCOPED_TRACE(rate);
    auto n = allowed_over(rate, 50us, 10s);
    EXPECT_GE(n, uint64_t{rate} * 10);
    EXPECT_LE(n, uint64_t{rate} * 10 + delivery_burst(rate));
  }
}

TEST(delivery_rate, says_how_long_to_wait_and_unlimited_always_goes) {
  token_bucket b;
  limit_clock::time_point t0{};
  auto first = take_delivery_token(b, 4, t0); // burst 1: the only token
  EXPECT_TRUE(first.allowed);
  auto second = take_delivery_token(first.next, 4, t0);
  EXPECT_FALSE(second.allowed);
  EXPECT_EQ(second.wait, 250'000us);
  auto later = take_delivery_token(second.next, 4, t0 + 250ms);
  EXPECT_TRUE(later.allowed);
  auto unlimited = take_delivery_token(b, 0, t0);
  EXPECT_TRUE(unlimited.allowed);
  EXPECT_EQ(unlimited.next, b);
}

TEST(fifo_gate, only_the_oldest_pending_event_of_a_key_goes_one_at_a_time) {
  using o = delivery_ordering;
  EXPECT_EQ(decide_fifo(o::unordered, 9, 1, true), fifo_verdict::attempt);
  EXPECT_EQ(decide_fifo(o::fifo, 2, 1, false), fifo_verdict::not_head);
  EXPECT_EQ(decide_fifo(o::fifo, 1, 1, true), fifo_verdict::key_busy);
  EXPECT_EQ(decide_fifo(o::fifo, 1, 1, false), fifo_verdict::attempt);
  EXPECT_EQ(decide_fifo(o::fifo, 1, std::nullopt, false),
            fifo_verdict::attempt);
}

TEST(fifo_lanes, heads_follow_acceptance_order_and_skip_what_ended) {
  fifo_lanes lanes;
  fifo_lane a{1, "a"};
  fifo_lane b{1, "b"};
  lanes.add(a, 3, "e3");
  lanes.add(a, 1, "e1");
  lanes.add(a, 1, "e1"); // twice: once
  lanes.add(b, 2, "e2");
  std::set<std::string> pending{"e1", "e2", "e3"};
  auto is_pending = [&](const std::string& id) {
    return pending.count(id) > 0;
  };
  EXPECT_EQ(lanes.head(a, is_pending)->second, "e1");
  EXPECT_EQ(lanes.head(b, is_pending)->second, "e2");
  lanes.start(a, "e1");
  EXPECT_TRUE(lanes.busy(a));
  EXPECT_FALSE(lanes.busy(b)); // keys are independent
  EXPECT_FALSE(lanes.finish(a, "e3"));
  EXPECT_TRUE(lanes.finish(a, "e1"));
  EXPECT_FALSE(lanes.busy(a));
  pending.erase("e1"); // delivered
  EXPECT_EQ(lanes.head(a, is_pending)->first, 3u);
  pending.erase("e3");
  EXPECT_FALSE(lanes.head(a, is_pending));
  lanes.drop_endpoint(1);
  EXPECT_FALSE(lanes.head(b, is_pending));
  lanes.add(fifo_lane{2, ""}, 5, "e5");
  EXPECT_EQ(lanes.head(fifo_lane{2, ""}, is_pending), std::nullopt);
}
