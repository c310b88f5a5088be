#include "http/time_format.hpp"

#include "actors/common/clock.hpp"

#include <chrono>
#include <cstdint>

namespace wi::http {

namespace {

constexpr int64_t seconds_per_day = 86400;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
constexpr int64_t days_from_civil(int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct civil_date {
  int64_t y;
  unsigned m;
  unsigned d;
};

/// Inverse of `days_from_civil`.
constexpr civil_date civil_from_days(int64_t z) noexcept {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2 ? 1 : 0), m, d};
}

constexpr bool is_leap(int64_t y) noexcept {
  return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

constexpr unsigned days_in_month(int64_t y, unsigned m) noexcept {
  constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);
static_assert(civil_from_days(11017).y == 2000);

constexpr int64_t min_seconds = days_from_civil(0, 1, 1) * seconds_per_day;
constexpr int64_t max_seconds =
  days_from_civil(9999, 12, 31) * seconds_per_day + seconds_per_day - 1;

/// Writes `value` as exactly `width` decimal digits.
void put_digits(char* out, unsigned value, int width) noexcept {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

/// Reads exactly `n` digits at `pos`; -1 if any is not a digit.
int read_digits(std::string_view x, size_t pos, size_t n) noexcept {
  int result = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = x[pos + i];
    if (!is_digit(c))
      return -1;
    result = result * 10 + (c - '0');
  }
  return result;
}

} // namespace

std::string format_rfc3339(wi::unix_seconds x) {
  if (x < min_seconds)
    x = min_seconds;
  else if (x > max_seconds)
    x = max_seconds;
  auto days = x / seconds_per_day;
  auto secs = x % seconds_per_day;
  if (secs < 0) {
    secs += seconds_per_day;
    --days;
  }
  auto date = civil_from_days(days);
  auto tod = static_cast<unsigned>(secs);
  // YYYY-MM-DDTHH:MM:SSZ
  std::string result(20, '\0');
  auto* out = result.data();
  put_digits(out, static_cast<unsigned>(date.y), 4);
  out[4] = '-';
  put_digits(out + 5, date.m, 2);
  out[7] = '-';
  put_digits(out + 8, date.d, 2);
  out[10] = 'T';
  put_digits(out + 11, tod / 3600, 2);
  out[13] = ':';
  put_digits(out + 14, tod / 60 % 60, 2);
  out[16] = ':';
  put_digits(out + 17, tod % 60, 2);
  out[19] = 'Z';
  return result;
}

std::optional<wi::unix_millis> parse_rfc3339(std::string_view x) noexcept {
  // Shortest form: YYYY-MM-DDTHH:MM:SSZ (20 characters).
  if (x.size() < 20)
    return std::nullopt;
  if (x[4] != '-' || x[7] != '-' || (x[10] != 'T' && x[10] != 't') ||
      x[13] != ':' || x[16] != ':')
    return std::nullopt;
  auto year = read_digits(x, 0, 4);
  auto month = read_digits(x, 5, 2);
  auto day = read_digits(x, 8, 2);
  auto hour = read_digits(x, 11, 2);
  auto minute = read_digits(x, 14, 2);
  auto second = read_digits(x, 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 ||
      static_cast<unsigned>(day) >
        days_in_month(year, static_cast<unsigned>(month)) ||
      hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 ||
      second > 60)
    return std::nullopt;
  size_t pos = 19;
  int64_t millis = 0;
  if (x[pos] == '.') {
    ++pos;
    size_t first = pos;
    int64_t scale = 100;
    while (pos < x.size() && is_digit(x[pos])) {
      millis += (x[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == first)
      return std::nullopt;
  }
  if (pos >= x.size())
    return std::nullopt;
  int64_t offset = 0;
  char zone = x[pos];
  if (zone == 'Z' || zone == 'z') {
    ++pos;
  } else if (zone == '+' || zone == '-') {
    if (x.size() - pos != 6 || x[pos + 3] != ':')
      return std::nullopt;
    auto off_hour = read_digits(x, pos + 1, 2);
    auto off_minute = read_digits(x, pos + 4, 2);
    if (off_hour < 0 || off_hour > 23 || off_minute < 0 || off_minute > 59)
      return std::nullopt;
    offset = (off_hour * 60 + off_minute) * int64_t{60};
    if (zone == '-')
      offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != x.size())
    return std::nullopt;
  auto days = days_from_civil(year, static_cast<unsigned>(month),
                              static_cast<unsigned>(day));
  // The local time minus its offset is UTC; a leap second 60 simply adds up
  // to the first second of the next minute.
  auto secs = days * seconds_per_day + hour * int64_t{3600} +
              minute * int64_t{60} + second - offset;
  return secs * 1000 + millis;
}

std::string now_rfc3339() {
  return format_rfc3339(now_unix_seconds());
}

wi::unix_seconds now_unix_seconds() noexcept {
  return wall_clock()->now_seconds();
}

wi::unix_millis now_unix_millis() noexcept {
  return wall_clock()->now();
}

} // namespace wi::http
