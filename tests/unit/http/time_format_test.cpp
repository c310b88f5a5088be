#include "http/time_format.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

using namespace wi::http;

namespace {

constexpr int64_t day = 86400;

// 2024-01-01T00:00:00Z
constexpr int64_t y2024 = 1704067200;

int64_t ms(int64_t seconds) {
  return seconds * 1000;
}

} // namespace

TEST(format_rfc3339, known_values) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(y2024), "2024-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(y2024 + day), "2024-01-02T00:00:00Z");
  EXPECT_EQ(format_rfc3339(951782400), "2000-02-29T00:00:00Z");
  EXPECT_EQ(format_rfc3339(1709164800), "2024-02-29T00:00:00Z");
  EXPECT_EQ(format_rfc3339(1709251199), "2024-02-29T23:59:59Z");
  EXPECT_EQ(format_rfc3339(4107542400), "2100-03-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(1234567890), "2009-02-13T23:31:30Z");
  EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(format_rfc3339(-day), "1969-12-31T00:00:00Z");
  EXPECT_EQ(format_rfc3339(253402300799), "9999-12-31T23:59:59Z");
  EXPECT_EQ(format_rfc3339(-62167219200), "0000-01-01T00:00:00Z");
}

TEST(format_rfc3339, clamps_to_four_digit_years) {
  EXPECT_EQ(format_rfc3339(253402300800), "9999-12-31T23:59:59Z");
  EXPECT_EQ(format_rfc3339(INT64_MAX), "9999-12-31T23:59:59Z");
  EXPECT_EQ(format_rfc3339(-62167219201), "0000-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(INT64_MIN), "0000-01-01T00:00:00Z");
}

TEST(parse_rfc3339, valid_inputs) {
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339("2024-01-01T00:00:00Z"), ms(y2024));
  EXPECT_EQ(parse_rfc3339("2024-01-01t00:00:00z"), ms(y2024));
  EXPECT_EQ(parse_rfc3339("2024-01-01T00:00:00.5Z"), ms(y2024) + 500);
  EXPECT_EQ(parse_rfc3339("2024-01-01T00:00:00.123Z"), ms(y2024) + 123);
  // Truncated, not rounded.
  EXPECT_EQ(parse_rfc3339("2024-01-01T00:00:00.1239Z"), ms(y2024) + 123);
  EXPECT_EQ(parse_rfc3339("2024-01-01T00:00:00.999999999Z"), ms(y2024) + 999);
  EXPECT_EQ(parse_rfc3339("2024-01-01T00:00:00.000000000000000000001Z"),
            ms(y2024));
  EXPECT_EQ(parse_rfc3339("2009-02-13T23:31:30Z"), ms(1234567890));
  EXPECT_EQ(parse_rfc3339("1969-12-31T23:59:59Z"), -1000);
  EXPECT_EQ(parse_rfc3339("1969-12-31T23:59:59.250Z"), -750);
  EXPECT_EQ(parse_rfc3339("0000-01-01T00:00:00Z"), ms(-62167219200));
  EXPECT_EQ(parse_rfc3339("9999-12-31T23:59:59Z"), ms(253402300799));
}

TEST(parse_rfc3339, offsets) {
  EXPECT_EQ(parse_rfc3339("2024-01-01T02:00:00+02:00"), ms(y2024));
  EXPECT_EQ(parse_rfc3339("2023-12-31T21:30:00-02:30"), ms(y2024));
  EXPECT_EQ(parse_rfc3339("2024-01-01T00:00:00+00:00"), ms(y2024));
  EXPECT_EQ(parse_rfc3339("2024-01-01T00:00:00-00:00"), ms(y2024));
  EXPECT_EQ(parse_rfc3339("2024-01-01T23:59:00+23:59"), ms(y2024));
  EXPECT_EQ(parse_rfc3339("2024-01-01T05:45:00.750+05:45"), ms(y2024) + 750);
}

TEST(parse_rfc3339, leap_years_and_month_lengths) {
  EXPECT_EQ(parse_rfc3339("2024-02-29T00:00:00Z"), ms(1709164800));
  EXPECT_EQ(parse_rfc3339("2000-02-29T00:00:00Z"), ms(951782400));
  EXPECT_FALSE(parse_rfc3339("2023-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("1900-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2100-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2024-02-30T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339("2024-01-31T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339("2024-03-31T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2024-04-31T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2024-06-31T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2024-09-31T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2024-11-31T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339("2024-12-31T00:00:00Z"));
}

TEST(parse_rfc3339, leap_second_folds_into_next_second) {
  EXPECT_EQ(parse_rfc3339("2016-12-31T23:59:60Z"),
            parse_rfc3339("2017-01-01T00:00:00Z"));
  EXPECT_EQ(parse_rfc3339("2016-12-31T23:59:60.5Z"),
            *parse_rfc3339("2017-01-01T00:00:00Z") + 500);
  EXPECT_FALSE(parse_rfc3339("2016-12-31T23:59:61Z"));
}

TEST(parse_rfc3339, invalid_inputs) {
  for (auto x : {
         "",
         "2024",
         "2024-01-01",
         "2024-01-01T00:00:00",       // no zone
         "2024-01-01 00:00:00Z",      // space separator
         "2024-01-01T00:00Z",         // no seconds
         "2024-1-01T00:00:00Z",       // one-digit month
         "24-01-01T00:00:00Z",        // two-digit year
         "+2024-01-01T00:00:00Z",     // sign
         "2024-00-01T00:00:00Z",      // month 0
         "2024-13-01T00:00:00Z",      // month 13
         "2024-01-00T00:00:00Z",      // day 0
         "2024-01-32T00:00:00Z",      // day 32
         "2024-01-01T24:00:00Z",      // hour 24
         "2024-01-01T00:60:00Z",      // minute 60
         "2024-01-01T00:00:61Z",      // second 61
         "2024-01-01T00:00:00.Z",     // empty fraction
         "2024-01-01T00:00:00,5Z",    // comma fraction
         "2024-01-01T00:00:00ZZ",     // trailing
         "2024-01-01T00:00:00Z ",     // trailing space
         " 2024-01-01T00:00:00Z",     // leading space
         "2024-01-01T00:00:00+0200",  // offset without colon
         "2024-01-01T00:00:00+02",    // short offset
         "2024-01-01T00:00:00+24:00", // offset hour 24
         "2024-01-01T00:00:00+02:60", // offset minute 60
         "2024-01-01T00:00:00+02:00:00",
         "2024-01-01T00:00:00UTC",
         "2024/01/01T00:00:00Z",
         "2024-01-01T00-00-00Z",
         "abcd-ef-ghTij:kl:mnZ",
         "2024-01-01T0a:00:00Z",
         "2024-01-01X00:00:00Z",
       }) {
    EXPECT_FALSE(parse_rfc3339(x)) << x;
  }
  // Embedded NUL.
  EXPECT_FALSE(parse_rfc3339(std::string_view{"2024-01-01T00:00:00Z\0", 21}));
}

TEST(rfc3339, round_trips) {
  for (int64_t s :
       {int64_t{0}, int64_t{-1}, int64_t{1}, y2024, int64_t{951782400},
        int64_t{1709251199}, int64_t{4107542400}, int64_t{253402300799},
        int64_t{-62167219200}, int64_t{-2208988800}}) {
    auto text = format_rfc3339(s);
    EXPECT_EQ(parse_rfc3339(text), ms(s)) << text;
  }
  // Every day over four centuries round-trips, at a varying time of day.
  for (int64_t d = -80000; d < 80000; d += 1) {
    int64_t s = d * day + ((d * 7919) % day + day) % day;
    auto text = format_rfc3339(s);
    ASSERT_EQ(parse_rfc3339(text), ms(s)) << text;
  }
}

TEST(now_rfc3339, is_current_and_parseable) {
  auto before = now_unix_seconds();
  auto text = now_rfc3339();
  auto after = now_unix_seconds();
  ASSERT_EQ(text.size(), 20u);
  auto parsed = parse_rfc3339(text);
  ASSERT_TRUE(parsed);
  EXPECT_GE(*parsed, ms(before));
  EXPECT_LE(*parsed, ms(after));
  auto sys = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  EXPECT_LE(sys - after, 1);
}
