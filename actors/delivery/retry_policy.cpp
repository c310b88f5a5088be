#include "actors/delivery/retry_policy.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <random>

#include "webhook_ingress/error.hpp"

namespace wi {

using std::chrono::milliseconds;

namespace {

constexpr std::string_view blanks = " \t";

std::string_view trim(std::string_view x) noexcept {
  auto first = x.find_first_not_of(blanks);
  if (first == std::string_view::npos)
    return {};
  auto last = x.find_last_not_of(blanks);
  return x.substr(first, last - first + 1);
}

bool all_digits(std::string_view x) noexcept {
  return !x.empty() && std::all_of(x.begin(), x.end(),
                                   [](char c) { return c >= '0' && c <= '9'; });
}

/// Parses a non-empty run of decimal digits that fits in `T`.
template <class T>
std::optional<T> parse_number(std::string_view x) noexcept {
  if (!all_digits(x))
    return std::nullopt;
  T result{};
  auto [ptr, ec] = std::from_chars(x.data(), x.data() + x.size(), result);
  if (ec != std::errc{} || ptr != x.data() + x.size())
    return std::nullopt;
  return result;
}

caf::error schedule_error(size_t index, std::string_view item,
                          std::string_view why) {
  std::string text = "item ";
  text += std::to_string(index + 1);
  text += " ('";
  text += item;
  text += "') of the retry schedule: ";
  text += why;
  return make_error(errc::validation_failed, "retry_schedule", text);
}

// -- HTTP-date (RFC 9110, section 5.6.7) --------------------------------------

std::vector<std::string_view> split_blanks(std::string_view x) {
  std::vector<std::string_view> out;
  while (true) {
    x = trim(x);
    if (x.empty())
      return out;
    auto end = x.find_first_of(blanks);
    out.push_back(x.substr(0, end));
    if (end == std::string_view::npos)
      return out;
    x.remove_prefix(end);
  }
}

std::optional<unsigned> parse_month(std::string_view x) noexcept {
  static constexpr std::array<std::string_view, 12> names = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == x)
      return static_cast<unsigned>(i + 1);
  return std::nullopt;
}

bool is_day_name(std::string_view x) noexcept {
  return !x.empty() && std::all_of(x.begin(), x.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  });
}

/// Parses `HH:MM:SS` into seconds since midnight.
std::optional<std::chrono::seconds> parse_time_of_day(std::string_view x) {
  if (x.size() != 8 || x[2] != ':' || x[5] != ':')
    return std::nullopt;
  auto h = parse_number<int>(x.substr(0, 2));
  auto m = parse_number<int>(x.substr(3, 2));
  auto s = parse_number<int>(x.substr(6, 2));
  if (!h || !m || !s || *h > 23 || *m > 59 || *s > 60)
    return std::nullopt;
  return std::chrono::hours{*h} + std::chrono::minutes{*m} +
         std::chrono::seconds{std::min(*s, 59)};
}

std::optional<std::chrono::sys_seconds>
make_date(int year, unsigned month, unsigned day, std::string_view time) {
  std::chrono::year_month_day ymd{
    std::chrono::year{year}, std::chrono::month{month}, std::chrono::day{day}};
  auto tod = parse_time_of_day(time);
  if (!ymd.ok() || !tod)
    return std::nullopt;
  return std::chrono::sys_days{ymd} + *tod;
}

std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view x) {
  auto t = split_blanks(x);
  if (t.size() == 6 && t[0].size() == 4 && t[0].back() == ',' &&
      t[5] == "GMT") {
    // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    auto day = parse_number<unsigned>(t[1]);
    auto month = parse_month(t[2]);
    auto year = parse_number<int>(t[3]);
    if (t[1].size() != 2 || t[3].size() != 4 || !day || !month || !year)
      return std::nullopt;
    return make_date(*year, *month, *day, t[4]);
  }
  if (t.size() == 4 && t[0].back() == ',' && t[3] == "GMT") {
    // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    auto d = t[1];
    if (!is_day_name(t[0].substr(0, t[0].size() - 1)) || d.size() != 9 ||
        d[2] != '-' || d[6] != '-')
      return std::nullopt;
    auto day = parse_number<unsigned>(d.substr(0, 2));
    auto month = parse_month(d.substr(3, 3));
    auto yy = parse_number<int>(d.substr(7, 2));
    if (!day || !month || !yy)
      return std::nullopt;
    // Two-digit years: 70-99 are 19xx, the rest 20xx.
    return make_date(*yy >= 70 ? 1900 + *yy : 2000 + *yy, *month, *day, t[2]);
  }
  if (t.size() == 5 && t[0].size() == 3 && is_day_name(t[0])) {
    // asctime: Sun Nov  6 08:49:37 1994
    auto month = parse_month(t[1]);
    auto day = parse_number<unsigned>(t[2]);
    auto year = parse_number<int>(t[4]);
    if (t[2].size() > 2 || t[4].size() != 4 || !day || !month || !year)
      return std::nullopt;
    return make_date(*year, *month, *day, t[3]);
  }
  return std::nullopt;
}

} // namespace

jitter_source default_jitter() {
  return [] {
    thread_local std::mt19937_64 engine{std::random_device{}()};
    return std::uniform_real_distribution<double>{0.0, 1.0}(engine);
  };
}

std::vector<milliseconds> default_retry_schedule() {
  using namespace std::chrono_literals;
  return {5s, 5min, 30min, 2h, 5h, 10h, 10h};
}

caf::expected<std::vector<milliseconds>>
parse_retry_schedule(std::string_view text) {
  if (trim(text).empty())
    return make_error(errc::validation_failed, "retry_schedule",
                      "the retry schedule is empty");
  std::vector<milliseconds> out;
  for (size_t index = 0;; ++index) {
    auto comma = text.find(',');
    auto item = trim(text.substr(0, comma));
    auto digits_end = item.find_first_not_of("0123456789");
    if (digits_end == std::string_view::npos)
      digits_end = item.size();
    auto digits = item.substr(0, digits_end);
    auto unit = item.substr(digits_end);
    int64_t unit_ms = 0;
    if (unit == "ms")
      unit_ms = 1;
    else if (unit == "s")
      unit_ms = 1000;
    else if (unit == "m")
      unit_ms = 60'000;
    else if (unit == "h")
      unit_ms = 3'600'000;
    if (digits.empty())
      return schedule_error(index, item, "expected a number and a unit");
    if (unit_ms == 0)
      return schedule_error(index, item,
                            "unknown or missing unit (use ms, s, m or h)");
    auto value = parse_number<int64_t>(digits);
    if (!value || *value > max_schedule_item.count() / unit_ms)
      return schedule_error(index, item, "longer than 7 days");
    if (*value == 0)
      return schedule_error(index, item, "must be positive");
    out.emplace_back(*value * unit_ms);
    if (comma == std::string_view::npos)
      return out;
    text.remove_prefix(comma + 1);
  }
}

std::optional<milliseconds>
parse_retry_after(std::string_view value,
                  std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (all_digits(value)) {
    constexpr auto max_s = max_schedule_item.count() / 1000;
    // More than 12 digits is beyond any cap; avoid overflowing.
    auto s = value.size() > 12 ? std::optional<int64_t>{max_s}
                               : parse_number<int64_t>(value);
    if (!s)
      return std::nullopt;
    return milliseconds{std::min(*s, max_s) * 1000};
  }
  auto date = parse_http_date(value);
  if (!date)
    return std::nullopt;
  auto diff = std::chrono::duration_cast<milliseconds>(*date - now);
  return std::clamp(diff, milliseconds{0}, max_schedule_item);
}

std::optional<milliseconds>
retry_after_of(const delivery_outcome& outcome,
               std::chrono::system_clock::time_point now) {
  if ((outcome.status != 429 && outcome.status != 503) || !outcome.retry_after)
    return std::nullopt;
  return parse_retry_after(*outcome.retry_after, now);
}

retry_policy::retry_policy(std::vector<milliseconds> schedule,
                           double jitter_ratio)
  : schedule_(std::move(schedule)),
    jitter_ratio_(
      std::isnan(jitter_ratio) ? 0.0 : std::clamp(jitter_ratio, 0.0, 1.0)) {
  // nop
}

std::optional<milliseconds>
retry_policy::next_delay(uint32_t attempt,
                         std::optional<milliseconds> retry_after,
                         const jitter_source& jitter) const {
  size_t index = attempt == 0 ? 0 : attempt - 1;
  if (index >= schedule_.size())
    return std::nullopt;
  auto u = jitter ? jitter() : 0.5;
  u = std::isnan(u) ? 0.5 : std::clamp(u, 0.0, 1.0);
  auto factor = 1.0 - jitter_ratio_ + 2.0 * jitter_ratio_ * u;
  auto base = static_cast<double>(schedule_[index].count());
  milliseconds delay{std::llround(base * factor)};
  if (retry_after) {
    auto extended = std::min({*retry_after, 2 * delay, max_retry_after});
    delay = std::max(delay, extended);
  }
  return delay;
}

} // namespace wi
