// libFuzzer target: the JSON renderings of http/json_codec.hpp and
// http/admin_codec.hpp. The input drives a FuzzedDataProvider that builds
// domain values the way the service can hold them: any valid UTF-8 string
// (validation and Boost.JSON guarantee UTF-8; the store keeps bytes as
// given), any 64-bit timestamp (a decoded snapshot can carry one), counters
// of any size. Each rendering must serialize to JSON that parses back with
// the same strings and numbers, timestamps clamped as documented.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>
#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_check.hpp"
#include "http/admin_codec.hpp"
#include "http/json_codec.hpp"
#include "http/time_format.hpp"

using namespace wi;
using namespace wi::http;
using wi::fuzz::check;
namespace json = boost::json;

namespace {

/// A valid UTF-8 string: ASCII bytes kept, others turned into the code
/// point they and the next byte name (2-, 3- or 4-byte sequences, no
/// surrogates).
std::string utf8(FuzzedDataProvider& in, size_t max = 40) {
  auto raw = in.ConsumeRandomLengthString(max);
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    auto b = static_cast<unsigned char>(raw[i]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      continue;
    }
    uint32_t cp = (b & 0x7Fu) << 8;
    if (i + 1 < raw.size())
      cp |= static_cast<unsigned char>(raw[++i]);
    cp = cp * 17 % 0x110000;
    if (cp < 0x80)
      cp += 0x80;
    if (cp >= 0xD800 && cp <= 0xDFFF)
      cp += 0x800;
    if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    }
    if (cp >= 0x80)
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

constexpr int64_t min_formatted = -62'167'219'200; // 0000-01-01T00:00:00Z
constexpr int64_t max_formatted = 253'402'300'799; // 9999-12-31T23:59:59Z

/// `value` must be `format_rfc3339(seconds)`: RFC 3339 for the clamped time.
void check_time(const json::value& value, int64_t seconds) {
  check(value.is_string(), "time is not a string");
  auto ms = parse_rfc3339(value.get_string());
  check(ms.has_value(), "time is not RFC 3339");
  auto clamped = std::clamp(seconds, min_formatted, max_formatted);
  check(*ms == clamped * 1000, "time has another value");
}

/// Serializes and parses back: the wire form is valid JSON.
json::object wire(const json::object& x) {
  auto text = json::serialize(x);
  boost::system::error_code ec;
  auto back = json::parse(text, ec);
  check(!ec && back.is_object(), "rendering is not a JSON object");
  return back.get_object();
}

endpoint make_endpoint(FuzzedDataProvider& in) {
  endpoint ep;
  ep.id = in.ConsumeIntegral<endpoint_id>();
  ep.url = utf8(in);
  ep.secret = utf8(in);
  auto types = in.ConsumeIntegralInRange<size_t>(0, 4);
  for (size_t i = 0; i < types; ++i)
    ep.event_types.push_back(utf8(in, 10));
  auto headers = in.ConsumeIntegralInRange<size_t>(0, 4);
  for (size_t i = 0; i < headers; ++i)
    ep.headers.emplace_back(utf8(in, 10), utf8(in, 10));
  ep.status =
    in.PickValueInArray({endpoint_status::active, endpoint_status::disabled,
                         endpoint_status::inactive});
  ep.created_at = in.ConsumeIntegral<int64_t>();
  ep.last_modified = in.ConsumeIntegral<int64_t>();
  return ep;
}

void check_endpoint(const json::value& value, const endpoint& ep,
                    bool redacted_secret) {
  check(value.is_object(), "endpoint is not an object");
  const auto& obj = value.get_object();
  check(obj.at("identifier").to_number<uint64_t>() == ep.id, "identifier");
  check(obj.at("url").get_string() == ep.url, "url");
  check(obj.at("secret").get_string() ==
          (redacted_secret ? std::string{redacted} : ep.secret),
        "secret");
  const auto& types = obj.at("event_types").get_array();
  check(types.size() == ep.event_types.size(), "event type count");
  for (size_t i = 0; i < types.size(); ++i)
    check(types[i].get_string() == ep.event_types[i], "event type");
  const auto& headers = obj.at("headers").get_object();
  for (const auto& [name, header_value] : ep.headers) {
    // Names are unique after validation; with repeats the first one wins.
    auto* got = headers.if_contains(name);
    check(got != nullptr, "header missing");
    for (const auto& [n, v] : ep.headers)
      if (n == name) {
        check(got->get_string() == v, "header value");
        break;
      }
    (void)header_value;
  }
  check(obj.at("status").get_string() == to_string(ep.status), "status");
  check_time(obj.at("create_timestamp"), ep.created_at);
  check_time(obj.at("last_modified"), ep.last_modified);
}

breaker_state make_breaker(FuzzedDataProvider& in) {
  breaker_state b;
  b.consecutive_failures = in.ConsumeIntegral<uint32_t>();
  b.reason = utf8(in, 20);
  b.disabled_at = in.ConsumeIntegral<int64_t>();
  b.next_probe_at = in.ConsumeIntegral<int64_t>();
  b.cooldown_ms = in.ConsumeIntegral<uint64_t>();
  return b;
}

attempt_info make_attempt(FuzzedDataProvider& in) {
  attempt_info a;
  a.event_id = utf8(in, 20);
  a.attempt = in.ConsumeIntegral<uint32_t>();
  a.at = in.ConsumeIntegral<int64_t>();
  a.status_code = in.ConsumeIntegral<uint16_t>();
  a.latency_ms = in.ConsumeIntegral<uint32_t>();
  a.error = utf8(in, 20);
  a.response_excerpt = utf8(in);
  return a;
}

void fuzz_endpoint(FuzzedDataProvider& in) {
  auto ep = make_endpoint(in);
  check_endpoint(json::value(wire(to_json(ep))), ep, false);
  endpoint_view view{ep, make_breaker(in)};
  auto obj = wire(to_json(view));
  check_endpoint(json::value(obj), ep, false);
  check(obj.at("status_reason").get_string() == view.breaker.reason,
        "status_reason");
  check(obj.contains("disabled_at") == (view.breaker.disabled_at != 0),
        "disabled_at shown");
}

void fuzz_stats(FuzzedDataProvider& in, bool internal) {
  endpoint_internal x;
  auto& s = x.stats;
  s.ep = make_endpoint(in);
  s.breaker = make_breaker(in);
  s.total_attempts = in.ConsumeIntegral<uint64_t>();
  s.successful_attempts = in.ConsumeIntegral<uint64_t>();
  s.failed_attempts = in.ConsumeIntegral<uint64_t>();
  // Statistics are computed: a percentage and means of 32-bit latencies.
  s.success_rate = in.ConsumeFloatingPointInRange<double>(0, 100);
  s.average_response_time_ms =
    in.ConsumeFloatingPointInRange<double>(0, 4294967295.0);
  s.p50_response_time_ms = in.ConsumeFloatingPointInRange<double>(0, 4e9);
  s.p95_response_time_ms = in.ConsumeFloatingPointInRange<double>(0, 4e9);
  if (in.ConsumeBool())
    s.last_success_at = in.ConsumeIntegral<int64_t>();
  if (in.ConsumeBool())
    s.last_failure_at = in.ConsumeIntegral<int64_t>();
  s.pending_events = in.ConsumeIntegral<uint64_t>();
  auto n = in.ConsumeIntegralInRange<size_t>(0, 3);
  for (size_t i = 0; i < n; ++i)
    x.recent_attempts.push_back(make_attempt(in));
  auto obj = internal ? wire(to_json(x)) : wire(to_json(s));
  check_endpoint(obj.at("endpoint"), s.ep, internal);
  check(obj.at("total_attempts").to_number<uint64_t>() == s.total_attempts,
        "total_attempts");
  check(std::abs(obj.at("success_rate").to_number<double>() - s.success_rate) <=
          0.0005 + 1e-9 * s.success_rate,
        "success_rate");
  if (s.last_success_at)
    check_time(obj.at("last_success_at"),
               *s.last_success_at / 1000); // truncated toward zero
  else
    check(!obj.contains("last_success_at"), "last_success_at unset");
  if (internal)
    check(obj.at("recent_attempts").get_array().size() ==
            x.recent_attempts.size(),
          "recent_attempts");
}

void fuzz_events(FuzzedDataProvider& in) {
  event_state ev;
  ev.id = utf8(in, 20);
  ev.type = utf8(in, 20);
  ev.idempotency_key = utf8(in, 20);
  ev.created_at = in.ConsumeIntegral<int64_t>();
  auto n = in.ConsumeIntegralInRange<size_t>(0, 4);
  for (size_t i = 0; i < n; ++i) {
    delivery_state d;
    d.endpoint = in.ConsumeIntegral<uint64_t>();
    d.status =
      in.PickValueInArray({delivery_status::pending, delivery_status::delivered,
                           delivery_status::failed});
    d.attempts = in.ConsumeIntegral<uint32_t>();
    d.next_attempt_at = in.ConsumeIntegral<int64_t>();
    d.reason = utf8(in, 20);
    ev.deliveries.push_back(d);
  }
  auto obj = wire(to_json(ev));
  check(obj.at("id").get_string() == ev.id, "event id");
  check_time(obj.at("created_at"), ev.created_at / 1000);
  event_receipt r{ev.id, ev.type, ev.created_at, in.ConsumeIntegral<uint64_t>(),
                  in.ConsumeBool()};
  auto receipt = wire(to_json(r));
  check(receipt.at("endpoints").to_number<uint64_t>() == r.endpoints,
        "receipt endpoints");
  check(receipt.at("duplicate").as_bool() == r.duplicate, "duplicate");
  auto a = make_attempt(in);
  auto attempt = wire(to_json(a));
  check_time(attempt.at("at"), a.at / 1000);
}

void fuzz_pagination(FuzzedDataProvider& in) {
  auto page = in.ConsumeIntegral<uint32_t>();
  auto size = in.ConsumeIntegral<uint32_t>();
  auto total = in.ConsumeIntegral<uint64_t>();
  auto obj = wire(pagination_json(page, size, total));
  uint64_t pages = size == 0 ? 0 : total / size + (total % size != 0 ? 1 : 0);
  check(obj.at("total_pages").to_number<uint64_t>() == pages, "total_pages");
  check(obj.at("has_next").as_bool() == (page < pages), "has_next");
  check(obj.at("has_prev").as_bool() == (page > 1), "has_prev");
}

void fuzz_admin(FuzzedDataProvider& in) {
  tenant_summary t;
  t.info.id = utf8(in, 20);
  t.info.name = utf8(in);
  t.info.created_at = in.ConsumeIntegral<int64_t>();
  t.info.active = in.ConsumeBool();
  t.info.token = utf8(in, 20);
  t.deactivated_at = in.ConsumeIntegral<int64_t>();
  t.previous_token_valid_until = in.ConsumeIntegral<int64_t>();
  t.loaded = in.ConsumeBool();
  t.endpoints = {in.ConsumeIntegral<uint64_t>(), in.ConsumeIntegral<uint64_t>(),
                 in.ConsumeIntegral<uint64_t>()};
  t.events = in.ConsumeIntegral<uint64_t>();
  t.last_mutation_at = in.ConsumeIntegral<int64_t>();
  auto now = in.ConsumeIntegral<int64_t>();
  auto obj = wire(to_json(t, now));
  check(obj.at("name").get_string() == t.info.name, "tenant name");
  check(obj.contains("token") == !t.info.token.empty(), "token shown");
  check(obj.contains("previous_token_valid_until") ==
          (t.previous_token_valid_until > now),
        "previous token shown");
  issued_token tok{utf8(in, 20), utf8(in, 40), in.ConsumeIntegral<int64_t>(),
                   in.ConsumeIntegral<int64_t>()};
  auto issued = wire(to_json(tok));
  check(issued.at("token").get_string() == tok.token, "issued token");
  check_time(issued.at("issued_at"), tok.issued_at);
  // The node view: both times are this process's clock readings.
  node_identity id{utf8(in, 10), utf8(in, 30), utf8(in, 20), utf8(in, 30),
                   in.ConsumeIntegralInRange<int64_t>(0, int64_t{1} << 50)};
  node_status st;
  st.wal.last_sequence = in.ConsumeIntegral<uint64_t>();
  st.tenants = in.ConsumeIntegral<uint64_t>();
  auto later =
    id.started_at + in.ConsumeIntegralInRange<int64_t>(0, int64_t{1} << 50);
  auto node = wire(node_json(id, st, later));
  check(node.at("data_dir").get_string() == id.data_dir, "data_dir");
  check(node.at("uptime_seconds").to_number<int64_t>() ==
          (later - id.started_at) / 1000,
        "uptime");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in{data, size};
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
  case 0:
    fuzz_endpoint(in);
    break;
  case 1:
    fuzz_stats(in, false);
    break;
  case 2:
    fuzz_stats(in, true);
    break;
  case 3:
    fuzz_events(in);
    break;
  case 4:
    fuzz_pagination(in);
    break;
  default:
    fuzz_admin(in);
    break;
  }
  return 0;
}
