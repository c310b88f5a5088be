// Retry schedule: parsing, defaults, jitter bounds, Retry-After, exhaustion.

#include <gtest/gtest.h>

#include "actors/delivery/retry_policy.hpp"
#include "webhook_ingress/error.hpp"

namespace {

using namespace wi;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

jitter_source fixed(double u) {
  return [u] { return u; };
}

TEST(retry_policy, default_schedule) {
  std::vector<milliseconds> expected{5s, 5min, 30min, 2h, 5h, 10h, 10h};
  EXPECT_EQ(default_retry_schedule(), expected);
  retry_policy policy;
  EXPECT_EQ(policy.max_attempts(), 8u);
  // Middle of the jitter range: exactly the schedule.
  for (uint32_t attempt = 1; attempt <= 7; ++attempt)
    EXPECT_EQ(policy.next_delay(attempt, std::nullopt, fixed(0.5)),
              expected[attempt - 1])
      << attempt;
}

TEST(retry_policy, exhausted_after_last_retry) {
  retry_policy policy;
  EXPECT_TRUE(policy.next_delay(7, std::nullopt, fixed(0.5)));
  EXPECT_FALSE(policy.next_delay(8, std::nullopt, fixed(0.5)));
  EXPECT_FALSE(policy.next_delay(100, 1s, fixed(0.5)));
  retry_policy none{{}};
  EXPECT_EQ(none.max_attempts(), 1u);
  EXPECT_FALSE(none.next_delay(1, std::nullopt, fixed(0.5)));
}

TEST(retry_policy, jitter_bounds) {
  retry_policy policy;
  EXPECT_EQ(policy.next_delay(1, std::nullopt, fixed(0.0)), 4s);
  EXPECT_EQ(policy.next_delay(1, std::nullopt, fixed(1.0)), 6s);
  EXPECT_EQ(policy.next_delay(2, std::nullopt, fixed(0.0)), 4min);
  EXPECT_EQ(policy.next_delay(2, std::nullopt, fixed(1.0)), 6min);
  // Out-of-range draws are clamped.
  EXPECT_EQ(policy.next_delay(1, std::nullopt, fixed(-3.0)), 4s);
  EXPECT_EQ(policy.next_delay(1, std::nullopt, fixed(7.0)), 6s);
  // The real source stays within +-20% and actually varies.
  auto jitter = default_jitter();
  milliseconds lo = 1h, hi = 0ms;
  for (int i = 0; i < 1000; ++i) {
    auto d = *policy.next_delay(3, std::nullopt, jitter);
    ASSERT_GE(d, 24min);
    ASSERT_LE(d, 36min);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_LT(lo, 27min);
  EXPECT_GT(hi, 33min);
}

TEST(retry_policy, retry_after_is_clamped) {
  retry_policy policy;
  auto mid = fixed(0.5);
  // Shorter than scheduled: the schedule wins.
  EXPECT_EQ(policy.next_delay(2, 1s, mid), 5min);
  // Within [d, 2d]: honoured.
  EXPECT_EQ(policy.next_delay(2, 7min, mid), 7min);
  // Longer than 2d: 2d.
  EXPECT_EQ(policy.next_delay(2, 1h, mid), 10min);
  // Never beyond 10 h through Retry-After.
  EXPECT_EQ(policy.next_delay(5, 24h, mid), 10h);
  // ... but a Retry-After never shortens a scheduled delay above 10 h.
  EXPECT_EQ(policy.next_delay(6, 24h, fixed(1.0)), 12h);
  // Clamped against the jittered delay.
  EXPECT_EQ(policy.next_delay(1, 100s, fixed(0.0)), 8s);
}

TEST(retry_policy, parse_schedule) {
  auto x = parse_retry_schedule("100ms,200ms,1s,5m,2h");
  ASSERT_TRUE(x) << text_of(x.error());
  std::vector<milliseconds> expected{100ms, 200ms, 1s, 5min, 2h};
  EXPECT_EQ(*x, expected);
  auto y = parse_retry_schedule(" 5s , 10m\t");
  ASSERT_TRUE(y);
  EXPECT_EQ(*y, (std::vector<milliseconds>{5s, 10min}));
  retry_policy policy{*x};
  EXPECT_EQ(policy.next_delay(5, std::nullopt, fixed(0.5)), 2h);
  EXPECT_FALSE(policy.next_delay(6, std::nullopt, fixed(0.5)));
}

TEST(retry_policy, parse_schedule_errors_name_the_item) {
  struct bad {
    std::string_view input;
    std::string_view item;
  };
  for (auto [input, item] :
       {bad{"1s,5x,2h", "item 2 ('5x')"}, bad{"1s,,2h", "item 2 ('')"},
        bad{"10", "item 1 ('10')"}, bad{"ms", "item 1 ('ms')"},
        bad{"1s,0ms", "item 2 ('0ms')"}, bad{"-1s", "item 1 ('-1s')"},
        bad{"1.5s", "item 1 ('1.5s')"}, bad{"169h", "item 1 ('169h')"},
        bad{"99999999999999999999ms", "item 1"}, bad{"1s,", "item 2 ('')"}}) {
    auto x = parse_retry_schedule(input);
    ASSERT_FALSE(x) << input;
    EXPECT_EQ(code_of(x.error()), errc::validation_failed) << input;
    EXPECT_EQ(field_of(x.error()), "retry_schedule");
    EXPECT_NE(text_of(x.error()).find(item), std::string::npos)
      << input << ": " << text_of(x.error());
  }
  auto empty = parse_retry_schedule("  ");
  ASSERT_FALSE(empty);
  EXPECT_EQ(code_of(empty.error()), errc::validation_failed);
  EXPECT_TRUE(parse_retry_schedule("168h"));
}

TEST(retry_policy, parse_retry_after_seconds) {
  EXPECT_EQ(parse_retry_after("120"), 120s);
  EXPECT_EQ(parse_retry_after(" 0 "), 0s);
  EXPECT_EQ(parse_retry_after("99999999999999999999999"), max_schedule_item);
  EXPECT_FALSE(parse_retry_after(""));
  EXPECT_FALSE(parse_retry_after("-5"));
  EXPECT_FALSE(parse_retry_after("1.5"));
  EXPECT_FALSE(parse_retry_after("soon"));
}

TEST(retry_policy, parse_retry_after_dates) {
  using namespace std::chrono;
  // 1994-11-06T08:49:37Z
  sys_seconds date = sys_days{1994y / November / 6} + 8h + 49min + 37s;
  auto now = system_clock::time_point{date - 90s};
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), 90s);
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), 90s);
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", now), 90s);
  // In the past: no wait.
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:48:00 GMT", now), 0s);
  EXPECT_FALSE(parse_retry_after("Sun, 31 Feb 1994 08:49:37 GMT", now));
  EXPECT_FALSE(parse_retry_after("Sun, 06 Nov 1994 25:49:37 GMT", now));
  EXPECT_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:49:37 CET", now));
  EXPECT_FALSE(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now));
}

TEST(retry_policy, retry_after_only_on_429_and_503) {
  delivery_outcome out;
  out.retry_after = "30";
  out.status = 429;
  EXPECT_EQ(retry_after_of(out), 30s);
  out.status = 503;
  EXPECT_EQ(retry_after_of(out), 30s);
  out.status = 500;
  EXPECT_FALSE(retry_after_of(out));
  out.status = 429;
  out.retry_after.reset();
  EXPECT_FALSE(retry_after_of(out));
  out.retry_after = "garbage";
  EXPECT_FALSE(retry_after_of(out));
}

} // namespace
