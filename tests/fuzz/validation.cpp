// libFuzzer target: request validation (http/validation.hpp), RFC 3339 time
// parsing (http/time_format.hpp) and routing (http/routes.hpp). The first
// byte picks the function, the rest is its input. Beyond "no crash, no UB":
// every error has a documented code, a text and a field; every accepted body
// obeys the documented limits and validates again, unchanged, when rendered
// back to JSON.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "fuzz_check.hpp"
#include "http/routes.hpp"
#include "http/time_format.hpp"
#include "http/validation.hpp"

using namespace wi;
using namespace wi::http;
using wi::fuzz::check;
using wi::fuzz::check_error;

namespace {

using params = std::vector<std::pair<std::string, std::string>>;

/// `a=1&b=2` -> {{"a", "1"}, {"b", "2"}} (already decoded: the fuzzer may
/// put any byte in a key or value).
params split_query(std::string_view x) {
  params out;
  while (!x.empty()) {
    auto amp = x.find('&');
    auto part = x.substr(0, amp);
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      out.emplace_back(std::string{part}, std::string{});
    else
      out.emplace_back(std::string{part.substr(0, eq)},
                       std::string{part.substr(eq + 1)});
    if (amp == std::string_view::npos)
      break;
    x.remove_prefix(amp + 1);
  }
  return out;
}

bool is_event_type(std::string_view x) {
  if (x == "*")
    return true;
  if (x.empty() || count_code_points(x) > endpoint_limits::max_event_type)
    return false;
  for (unsigned char c : x)
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-'))
      return false;
  return true;
}

std::string render(const new_endpoint& x) {
  boost::json::object obj;
  obj["url"] = x.url;
  obj["secret"] = x.secret;
  boost::json::array types;
  for (const auto& t : x.event_types)
    types.emplace_back(t);
  obj["event_types"] = std::move(types);
  boost::json::object headers;
  for (const auto& [k, v] : x.headers)
    headers[k] = v;
  obj["headers"] = std::move(headers);
  return boost::json::serialize(obj);
}

void fuzz_create_endpoint(std::string_view body) {
  auto res = parse_create_endpoint(body);
  if (!res) {
    check_error(res.error(), {errc::invalid_json, errc::invalid_parameter,
                              errc::validation_failed});
    return;
  }
  const auto& ep = *res;
  auto url_len = count_code_points(ep.url);
  check(url_len >= 1 && url_len <= endpoint_limits::max_url, "url length");
  auto secret_len = count_code_points(ep.secret);
  check(secret_len >= endpoint_limits::min_secret &&
          secret_len <= endpoint_limits::max_secret,
        "secret length");
  check(!has_control_chars(ep.secret), "secret control character");
  check(!ep.event_types.empty() &&
          ep.event_types.size() <= endpoint_limits::max_event_types,
        "event type count");
  for (size_t i = 0; i < ep.event_types.size(); ++i) {
    check(is_event_type(ep.event_types[i]), "event type");
    for (size_t j = 0; j < i; ++j)
      check(ep.event_types[i] != ep.event_types[j], "duplicate event type");
  }
  check(ep.headers.size() <= endpoint_limits::max_headers, "header count");
  for (const auto& [name, value] : ep.headers) {
    check(is_http_token(name), "header name");
    check(name.size() <= endpoint_limits::max_header_name, "header name size");
    check(!is_reserved_header(name), "reserved header");
    check(count_code_points(value) <= endpoint_limits::max_header_value,
          "header value size");
    for (unsigned char c : value)
      check(c != '\r' && c != '\n' && c != '\0', "header value CR/LF/NUL");
  }
  // The accepted endpoint, rendered back, is accepted unchanged.
  auto again = parse_create_endpoint(render(ep));
  check(static_cast<bool>(again), "rendered endpoint rejected");
  check(again->url == ep.url && again->secret == ep.secret &&
          again->event_types == ep.event_types && again->headers == ep.headers,
        "rendered endpoint changed");
}

void fuzz_publish(std::string_view input) {
  // First line: the Idempotency-Key header; the rest: the body.
  auto nl = input.find('\n');
  std::string_view key;
  std::string_view body = input;
  if (nl != std::string_view::npos) {
    key = input.substr(0, nl);
    body = input.substr(nl + 1);
  }
  auto res = parse_publish(body, key);
  if (!res) {
    check_error(res.error(), {errc::invalid_json, errc::invalid_parameter,
                              errc::validation_failed});
    return;
  }
  check(is_event_type(res->event_type) && res->event_type != "*", "event type");
  check(count_code_points(res->idempotency_key) <= max_idempotency_key,
        "idempotency key length");
  if (!key.empty())
    check(res->idempotency_key == key, "the header wins");
  boost::system::error_code ec;
  auto payload = boost::json::parse(res->payload, ec);
  check(!ec, "payload is not JSON");
  // The payload is the client's own text (issue 12): it must appear in
  // the body byte for byte.
  check(!res->payload.empty() &&
          input.find(res->payload) != std::string_view::npos,
        "payload is not the published text");
}

void fuzz_list_query(std::string_view input) {
  auto res = parse_list_query(split_query(input));
  if (!res) {
    check_error(res.error(),
                {errc::invalid_parameter, errc::validation_failed});
    return;
  }
  check(res->page >= 1, "page");
  check(res->page_size >= 1 && res->page_size <= endpoint_limits::max_page_size,
        "page size");
  if (res->created_from && res->created_to)
    check(*res->created_from <= *res->created_to, "date order");
  // The event history's query (issue 17): the same, plus `event_type`.
  // A valid list query fails it only on `event_type`.
  auto events = parse_event_query(split_query(input));
  if (!events)
    check_error(events.error(), {errc::validation_failed});
  else
    check(events->page == res->page && events->page_size == res->page_size &&
            events->event_type.size() <= endpoint_limits::max_event_type,
          "event query");
}

void fuzz_ids(std::string_view input) {
  if (auto id = parse_endpoint_id(input)) {
    check(!input.empty(), "empty id");
    for (char c : input)
      check(c >= '0' && c <= '9', "id digit");
    auto text = std::to_string(*id);
    auto digits =
      input.substr(std::min(input.find_first_not_of('0'), input.size() - 1));
    check(text == digits, "id value");
  } else {
    check_error(id.error(), {errc::invalid_parameter});
  }
  for (auto res : {parse_event_id(input), parse_tenant_id(input)}) {
    if (res)
      check(*res == input && !input.empty() && input.size() <= 64, "path id");
    else
      check_error(res.error(), {errc::invalid_parameter});
  }
}

void fuzz_admin_bodies(std::string_view input) {
  if (auto name = parse_create_tenant(input)) {
    auto n = count_code_points(*name);
    check(n >= 1 && n <= endpoint_limits::max_tenant_name, "tenant name");
    check(!has_control_chars(*name), "tenant name control character");
  } else {
    check_error(name.error(), {errc::invalid_json, errc::invalid_parameter,
                               errc::validation_failed});
  }
  if (auto grace = parse_rotate_token(input))
    check(*grace >= 0 && *grace <= max_grace_seconds, "grace");
  else
    check_error(grace.error(), {errc::invalid_json, errc::invalid_parameter,
                                errc::validation_failed});
  if (auto purge = parse_purge_flag(split_query(input)); !purge)
    check_error(purge.error(), {errc::invalid_parameter});
  // Endpoint lifecycle (issue 17).
  if (auto rot = parse_rotate_secret(input)) {
    check(rot->grace_ms >= min_secret_grace_ms &&
            rot->grace_ms <= max_secret_grace_ms,
          "secret grace");
    check(rot->secret.empty() || !has_control_chars(rot->secret),
          "rotated secret control character");
  } else {
    check_error(rot.error(), {errc::invalid_json, errc::invalid_parameter,
                              errc::validation_failed});
  }
  if (auto since = parse_recover(input); !since) // recover (issue 17)
    check_error(since.error(), {errc::invalid_json, errc::invalid_parameter,
                                errc::validation_failed});
  if (auto patch = parse_patch_endpoint(input)) {
    if (patch->event_types)
      check(!patch->event_types->empty(), "patched event types empty");
    if (patch->description)
      check(count_code_points(*patch->description) <=
              endpoint_limits::max_description,
            "description length");
  } else {
    check_error(patch.error(), {errc::invalid_json, errc::invalid_parameter,
                                errc::validation_failed});
  }
}

constexpr int64_t min_formatted = -62'167'219'200; // 0000-01-01T00:00:00Z
constexpr int64_t max_formatted = 253'402'300'799; // 9999-12-31T23:59:59Z

void fuzz_time(std::string_view input) {
  auto ms = parse_rfc3339(input);
  if (!ms)
    return;
  auto secs = *ms / 1000 - (*ms % 1000 < 0 ? 1 : 0); // floor
  if (secs < min_formatted || secs > max_formatted)
    return;
  auto back = parse_rfc3339(format_rfc3339(secs));
  check(back && *back == secs * 1000, "RFC 3339 round trip");
}

void fuzz_route(std::string_view input) {
  if (input.empty())
    return;
  auto method =
    static_cast<http_method>(static_cast<unsigned char>(input[0]) %
                             (static_cast<int>(http_method::other) + 1));
  auto path = input.substr(1);
  auto res = match_route(method, path);
  if (res) {
    check(res->id_param.empty() ||
            (res->id_param.data() >= path.data() &&
             res->id_param.data() + res->id_param.size() <=
               path.data() + path.size()),
          "id param outside the path");
  } else {
    check_error(res.error(), {errc::route_not_found, errc::method_not_allowed},
                false);
    auto allowed = allowed_methods(path);
    check((code_of(res.error()) == errc::method_not_allowed) ==
            !allowed.empty(),
          "405 without Allow");
  }
  (void)is_http_token(path); // the header helpers on the same bytes
  (void)is_reserved_header(path);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::string_view input{reinterpret_cast<const char*>(data) + 1, size - 1};
  switch (data[0] % 8) {
  case 0:
    fuzz_create_endpoint(input);
    break;
  case 1:
    fuzz_publish(input);
    break;
  case 2:
    fuzz_list_query(input);
    break;
  case 3:
    fuzz_ids(input);
    break;
  case 4:
    fuzz_admin_bodies(input);
    break;
  case 5:
    fuzz_time(input);
    break;
  case 6:
    fuzz_route(input);
    break;
  default:
    // Raw text through both body parsers, as a client would send it.
    fuzz_create_endpoint(input);
    fuzz_publish(input);
    break;
  }
  return 0;
}
