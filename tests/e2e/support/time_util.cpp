#include "support/time_util.hpp"

#include <cstdio>

namespace wi_e2e {

namespace {

// Howard Hinnant's days_from_civil / civil_from_days.
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t z, int64_t& y, int64_t& m, int64_t& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = yoe + era * 400 + (m <= 2);
}

bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int64_t days_in_month(int64_t y, int64_t m) {
  static constexpr int64_t days[] = {31, 28, 31, 30, 31, 30,
                                     31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

bool digits(std::string_view x, size_t pos, size_t n, int64_t& out) {
  if (pos + n > x.size())
    return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (x[i] < '0' || x[i] > '9')
      return false;
    out = out * 10 + (x[i] - '0');
  }
  return true;
}

} // namespace

std::optional<time_point> parse_rfc3339(std::string_view x) {
  int64_t y, mo, d, h, mi, s;
  if (!digits(x, 0, 4, y) || x.size() < 20 || x[4] != '-' ||
      !digits(x, 5, 2, mo) || x[7] != '-' || !digits(x, 8, 2, d) ||
      x[10] != 'T' || !digits(x, 11, 2, h) || x[13] != ':' ||
      !digits(x, 14, 2, mi) || x[16] != ':' || !digits(x, 17, 2, s))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
      mi > 59 || s > 60)
    return std::nullopt;
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < x.size() && x[pos] == '.') {
    ++pos;
    size_t start = pos;
    int64_t scale = 100'000'000;
    while (pos < x.size() && x[pos] >= '0' && x[pos] <= '9') {
      nanos += (x[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start)
      return std::nullopt;
  }
  int64_t offset = 0;
  if (pos < x.size() && x[pos] == 'Z') {
    ++pos;
  } else if (pos < x.size() && (x[pos] == '+' || x[pos] == '-')) {
    int64_t oh, om;
    if (!digits(x, pos + 1, 2, oh) || pos + 3 >= x.size() ||
        x[pos + 3] != ':' || !digits(x, pos + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset = (oh * 60 + om) * 60 * (x[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != x.size())
    return std::nullopt;
  return time_point{
    days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset, nanos};
}

bool is_rfc3339_utc(std::string_view x) {
  return parse_rfc3339(x).has_value() && x.ends_with('Z');
}

std::string format_rfc3339(time_point t, int offset_minutes) {
  int64_t local = t.seconds + int64_t{offset_minutes} * 60;
  int64_t days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
  int64_t secs = local - days * 86400;
  int64_t y, m, d;
  civil_from_days(days, y, m, d);
  char buf[160]; // room for any int64 fields: keeps -Wformat-truncation quiet
  if (offset_minutes == 0) {
    std::snprintf(
      buf, sizeof(buf), "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ",
      static_cast<long long>(y), static_cast<long long>(m),
      static_cast<long long>(d), static_cast<long long>(secs / 3600),
      static_cast<long long>(secs / 60 % 60),
      static_cast<long long>(secs % 60));
  } else {
    int abs_off = offset_minutes < 0 ? -offset_minutes : offset_minutes;
    std::snprintf(
      buf, sizeof(buf), "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld%c%02d:%02d",
      static_cast<long long>(y), static_cast<long long>(m),
      static_cast<long long>(d), static_cast<long long>(secs / 3600),
      static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60),
      offset_minutes < 0 ? '-' : '+', abs_off / 60, abs_off % 60);
  }
  return buf;
}

} // namespace wi_e2e
