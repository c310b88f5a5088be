#include "http/validation.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "actors/common/text.hpp"
#include "actors/delivery/retry_policy.hpp"
#include "actors/delivery/signing.hpp"
#include "http/time_format.hpp"
#include "webhook_ingress/delivery.hpp"

namespace wi::http {

namespace {

namespace json = boost::json;

using limits = endpoint_limits;

caf::error fail(errc code, std::string field, std::string text) {
  return wi::make_error(code, std::move(field), std::move(text));
}

/// 422 for the field `key` that a body of `what` does not have, naming it
/// as sent; the key `""` is named `""` (an error's field is never empty).
caf::error unknown_field(std::string_view key, std::string_view what) {
  auto name = key.empty() ? std::string{"\"\""} : std::string{key};
  auto text = name + " is not a field of " + std::string{what};
  return fail(errc::validation_failed, std::move(name), std::move(text));
}

bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::string_view view(const json::string& x) noexcept {
  return {x.data(), x.size()};
}

// -- JSON parsing -------------------------------------------------------------

/// A `basic_parser` handler that only records the keys of the top-level
/// member `headers` when that is an object, in input order and including
/// exact duplicates (which `json::object` would silently merge).
struct header_key_scanner {
  static constexpr size_t max_object_size = std::numeric_limits<size_t>::max();
  static constexpr size_t max_array_size = std::numeric_limits<size_t>::max();
  static constexpr size_t max_key_size = std::numeric_limits<size_t>::max();
  static constexpr size_t max_string_size = std::numeric_limits<size_t>::max();

  size_t depth = 0;
  bool last_top_key_is_headers = false;
  bool in_headers = false;
  std::string key;
  std::vector<std::string> keys;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    if (++depth == 2 && last_top_key_is_headers) {
      in_headers = true;
      keys.clear(); // a later "headers" member replaces an earlier one
    }
    return true;
  }
  bool on_object_end(size_t, json::error_code&) {
    if (depth-- == 2)
      in_headers = false;
    return true;
  }
  bool on_array_begin(json::error_code&) {
    ++depth;
    return true;
  }
  bool on_array_end(size_t, json::error_code&) {
    --depth;
    return true;
  }
  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    key.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, size_t, json::error_code&) {
    key.append(s.data(), s.size());
    if (depth == 1)
      last_top_key_is_headers = key == "headers";
    else if (depth == 2 && in_headers)
      keys.push_back(key);
    key.clear();
    return true;
  }
  bool on_string_part(json::string_view, size_t, json::error_code&) {
    return true;
  }
  bool on_string(json::string_view, size_t, json::error_code&) { return true; }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(uint64_t, json::string_view, json::error_code&) {
    return true;
  }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

/// Returns the raw keys of the top-level `headers` object of `body`, which
/// is known to be valid JSON.
std::vector<std::string> raw_header_keys(std::string_view body) {
  json::basic_parser<header_key_scanner> parser{json::parse_options{}};
  json::error_code ec;
  parser.write_some(false, body.data(), body.size(), ec);
  return std::move(parser.handler().keys);
}

} // namespace

caf::expected<json::object> parse_object(std::string_view body) {
  if (body.empty())
    return fail(errc::invalid_json, "body",
                "body must be a JSON object but is empty");
  json::error_code ec;
  auto val = json::parse(json::string_view{body.data(), body.size()}, ec);
  if (ec)
    return fail(errc::invalid_json, "body",
                "body must be a JSON object but is not valid JSON");
  if (!val.is_object())
    return fail(errc::invalid_json, "body",
                "body must be a JSON object but is another JSON value");
  return std::move(val.as_object());
}

namespace {

// -- field rules --------------------------------------------------------------

/// Returns the first problem of `url`, or nullopt.
std::optional<std::string> url_problem(std::string_view url) {
  if (url.empty())
    return "url must not be empty";
  if (count_code_points(url) > limits::max_url)
    return "url must be at most " + std::to_string(limits::max_url) +
           " characters";
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F)
      return "url must not contain whitespace or control characters";
    if (u >= 0x80)
      return "url must contain only ASCII characters";
    if (std::string_view{"\"<>\\^`{|}"}.find(c) != std::string_view::npos)
      return "url must not contain the character '" + std::string(1, c) + "'";
  }
  std::string_view rest;
  if (istarts_with(url, "http://"))
    rest = url.substr(7);
  else if (istarts_with(url, "https://"))
    rest = url.substr(8);
  else
    return "url must be an absolute http:// or https:// URL";
  if (url.find('#') != std::string_view::npos)
    return "url must not contain a fragment";
  auto authority = rest.substr(0, rest.find_first_of("/?"));
  if (authority.find('@') != std::string_view::npos)
    return "url must not contain user information";
  std::string_view host;
  std::string_view after_host;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return "url must have a valid host";
    host = authority.substr(0, close + 1);
    after_host = authority.substr(close + 1);
    auto inner = host.substr(1, host.size() - 2);
    if (inner.size() < 2)
      return "url must have a valid host";
    for (char c : inner)
      if (!is_hex(c) && c != ':' && c != '.')
        return "url must have a valid host";
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    after_host = colon == std::string_view::npos ? std::string_view{}
                                                 : authority.substr(colon);
    for (char c : host)
      if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.' && c != '_' &&
          c != '~')
        return "url must have a valid host";
  }
  if (host.empty())
    return "url must have a host";
  if (!after_host.empty()) {
    if (after_host.front() != ':')
      return "url must have a valid host";
    auto port = after_host.substr(1);
    uint32_t value = 0;
    if (port.empty())
      return "url port must be between 1 and 65535";
    for (char c : port) {
      if (!is_digit(c))
        return "url port must be between 1 and 65535";
      value = value * 10 + static_cast<uint32_t>(c - '0');
      if (value > 65535)
        return "url port must be between 1 and 65535";
    }
    if (value == 0)
      return "url port must be between 1 and 65535";
  }
  return std::nullopt;
}

bool is_event_type_char(char c) noexcept {
  return is_alpha(c) || is_digit(c) || c == '.' || c == '_' || c == ':' ||
         c == '-';
}

/// Returns whether a header value contains CR, LF, NUL, another C0 control
/// character other than HTAB, or DEL.
bool bad_header_value(std::string_view x) noexcept {
  for (char c : x) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7F)
      return true;
  }
  return false;
}

std::string element_name(std::string_view array, size_t index) {
  std::string result{array};
  result += '[';
  result += std::to_string(index);
  result += ']';
  return result;
}

std::string header_field(std::string_view name) {
  std::string result = "headers.";
  result += name;
  return result;
}

/// Parses an optionally negative decimal integer without '+' or whitespace.
std::optional<int64_t> parse_int64(std::string_view x) noexcept {
  int64_t result = 0;
  auto* first = x.data();
  auto* last = x.data() + x.size();
  auto [ptr, ec] = std::from_chars(first, last, result);
  if (x.empty() || ec != std::errc{} || ptr != last)
    return std::nullopt;
  return result;
}

} // namespace

// -- public helpers -----------------------------------------------------------

size_t count_code_points(std::string_view x) noexcept {
  size_t result = 0;
  for (char c : x)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80)
      ++result;
  return result;
}

bool has_control_chars(std::string_view x) noexcept {
  for (size_t i = 0; i < x.size(); ++i) {
    auto u = static_cast<unsigned char>(x[i]);
    if (u < 0x20 || u == 0x7F)
      return true;
    // C1 controls U+0080-U+009F are encoded as C2 80 - C2 9F.
    if (u == 0xC2 && i + 1 < x.size()) {
      auto next = static_cast<unsigned char>(x[i + 1]);
      if (next >= 0x80 && next <= 0x9F)
        return true;
    }
  }
  return false;
}

bool is_http_token(std::string_view x) noexcept {
  if (x.empty())
    return false;
  for (char c : x)
    if (!is_alpha(c) && !is_digit(c) &&
        std::string_view{"!#$%&'*+-.^_`|~"}.find(c) == std::string_view::npos)
      return false;
  return true;
}

bool is_reserved_header(std::string_view name) noexcept {
  for (auto x : reserved_header_names)
    if (iequals(name, x))
      return true;
  return false;
}

// -- create and update endpoint ----------------------------------------------

namespace {

/// The members of an endpoint body (create or update); null when absent.
struct endpoint_fields {
  const json::value* url = nullptr;
  const json::value* secret = nullptr;
  const json::value* event_types = nullptr;
  const json::value* headers = nullptr;
  const json::value* description = nullptr;
  const json::value* rate_limit = nullptr;
  const json::value* ordering = nullptr;
};

endpoint_fields fields_of(const json::object& obj) {
  return {obj.if_contains("url"),         obj.if_contains("secret"),
          obj.if_contains("event_types"), obj.if_contains("headers"),
          obj.if_contains("description"), obj.if_contains("rate_limit"),
          obj.if_contains("ordering")};
}

/// The type checks (400) of the present fields, in field order. `null` is a
/// wrong type for every field but `description` and `rate_limit`, where it
/// means "none".
caf::error check_field_types(const endpoint_fields& f) {
  if (f.url != nullptr && !f.url->is_string())
    return fail(errc::invalid_parameter, "url", "url must be a string");
  if (f.secret != nullptr && !f.secret->is_string())
    return fail(errc::invalid_parameter, "secret", "secret must be a string");
  if (f.event_types != nullptr) {
    if (!f.event_types->is_array())
      return fail(errc::invalid_parameter, "event_types",
                  "event_types must be an array of strings");
    const auto& arr = f.event_types->get_array();
    for (size_t i = 0; i < arr.size(); ++i) {
      if (!arr[i].is_string()) {
        auto field = element_name("event_types", i);
        auto text = field + " must be a string";
        return fail(errc::invalid_parameter, std::move(field), std::move(text));
      }
    }
  }
  if (f.headers != nullptr) {
    if (!f.headers->is_object())
      return fail(errc::invalid_parameter, "headers",
                  "headers must be an object of strings");
    for (const auto& kv : f.headers->get_object()) {
      if (!kv.value().is_string()) {
        auto field = header_field(view(kv.key()));
        auto text = field + " must be a string";
        return fail(errc::invalid_parameter, std::move(field), std::move(text));
      }
    }
  }
  if (f.description != nullptr && !f.description->is_string() &&
      !f.description->is_null())
    return fail(errc::invalid_parameter, "description",
                "description must be a string or null");
  if (f.rate_limit != nullptr && !f.rate_limit->is_int64() &&
      !f.rate_limit->is_uint64() && !f.rate_limit->is_null())
    return fail(errc::invalid_parameter, "rate_limit",
                "rate_limit must be an integer or null");
  if (f.ordering != nullptr && !f.ordering->is_string())
    return fail(errc::invalid_parameter, "ordering",
                "ordering must be a string");
  return {};
}

caf::error check_url(std::string_view url) {
  if (auto problem = url_problem(url))
    return fail(errc::validation_failed, "url", std::move(*problem));
  return {};
}

caf::error check_secret(std::string_view secret) {
  auto secret_len = count_code_points(secret);
  if (secret_len < limits::min_secret)
    return fail(errc::validation_failed, "secret",
                "secret must be at least " +
                  std::to_string(limits::min_secret) + " characters");
  if (secret_len > limits::max_secret)
    return fail(errc::validation_failed, "secret",
                "secret must be at most " + std::to_string(limits::max_secret) +
                  " characters");
  if (has_control_chars(secret))
    return fail(errc::validation_failed, "secret",
                "secret must not contain control characters");
  if (secret.starts_with(wi::webhook_secret_prefix) &&
      !wi::decode_webhook_secret(
        secret.substr(wi::webhook_secret_prefix.size())))
    return fail(errc::validation_failed, "secret",
                "secret starting with whsec_ must continue with standard "
                "base64 (A-Z, a-z, 0-9, '+', '/', '=' padding only where it "
                "completes the last group) of at least 1 byte, as the "
                "Standard Webhooks libraries decode it");
  return {};
}

caf::expected<std::vector<std::string>>
parse_event_types(const json::array& types) {
  if (types.empty())
    return fail(errc::validation_failed, "event_types",
                "event_types must contain at least 1 element");
  if (types.size() > limits::max_event_types)
    return fail(errc::validation_failed, "event_types",
                "event_types must contain at most " +
                  std::to_string(limits::max_event_types) + " elements");
  std::vector<std::string> result;
  result.reserve(types.size());
  for (size_t i = 0; i < types.size(); ++i) {
    auto type = view(types[i].get_string());
    std::string problem;
    if (type.empty())
      problem = " must not be empty";
    else if (count_code_points(type) > limits::max_event_type)
      problem = " must be at most " + std::to_string(limits::max_event_type) +
                " characters";
    else if (type != "*")
      for (char c : type)
        if (!is_event_type_char(c)) {
          problem = " must be \"*\" or contain only letters, digits, '.', "
                    "'_', ':' and '-'";
          break;
        }
    if (!problem.empty()) {
      auto field = element_name("event_types", i);
      auto text = field + problem;
      return fail(errc::validation_failed, std::move(field), std::move(text));
    }
    if (std::find(result.begin(), result.end(), type) == result.end())
      result.emplace_back(type);
  }
  return result;
}

/// The rules of `headers` (an object of strings, as in `body`, whose raw
/// text is needed to see exact duplicate names).
caf::expected<wi::header_list> parse_headers(const json::object& hdrs,
                                             std::string_view body) {
  wi::header_list result;
  if (hdrs.empty())
    return result;
  // json::object merged exact duplicates: check the names as written.
  auto names = raw_header_keys(body);
  if (names.size() > limits::max_headers)
    return fail(errc::validation_failed, "headers",
                "headers must contain at most " +
                  std::to_string(limits::max_headers) + " entries");
  result.reserve(names.size());
  for (auto& name : names) {
    auto field = header_field(name);
    auto reject = [&](std::string_view problem) {
      auto text = field;
      text += problem;
      return fail(errc::validation_failed, field, std::move(text));
    };
    if (!is_http_token(name))
      return reject(" must have a name that is a valid HTTP token");
    if (name.size() > limits::max_header_name)
      return reject(" must have a name of at most " +
                    std::to_string(limits::max_header_name) + " characters");
    if (is_reserved_header(name))
      return reject(" is set by the service and must not be overridden");
    for (const auto& prev : result)
      if (iequals(prev.first, name))
        return reject(" duplicates another header (names are "
                      "case-insensitive)");
    auto value = view(hdrs.at(name).get_string());
    if (count_code_points(value) > limits::max_header_value)
      return reject(" must have a value of at most " +
                    std::to_string(limits::max_header_value) + " characters");
    if (bad_header_value(value))
      return reject(" must have a value without CR, LF, NUL or other "
                    "control characters");
    result.emplace_back(std::move(name), std::string{value});
  }
  return result;
}

/// The rules of `description` (a string or null; null and "" are none).
caf::expected<std::string> parse_description(const json::value& x) {
  if (x.is_null())
    return std::string{};
  auto text = view(x.get_string());
  if (count_code_points(text) > limits::max_description)
    return fail(errc::validation_failed, "description",
                "description must be at most " +
                  std::to_string(limits::max_description) + " characters");
  if (has_control_chars(text))
    return fail(errc::validation_failed, "description",
                "description must not contain control characters");
  return std::string{text};
}

/// The rules of `rate_limit` (an integer or null; null is unlimited, 0).
caf::expected<uint32_t> parse_rate_limit(const json::value& x) {
  if (x.is_null())
    return uint32_t{0};
  // A JSON integer beyond int64 is a uint64: out of range as well.
  if (!x.is_int64() || x.get_int64() < wi::min_rate_limit ||
      x.get_int64() > wi::max_rate_limit)
    return fail(errc::validation_failed, "rate_limit",
                "rate_limit must be from " +
                  std::to_string(wi::min_rate_limit) + " to " +
                  std::to_string(wi::max_rate_limit) +
                  " deliveries per second, or null for no limit");
  return static_cast<uint32_t>(x.get_int64());
}

/// The rules of `ordering` (a string, already checked).
caf::expected<wi::delivery_ordering> parse_ordering(const json::value& x) {
  if (auto o = wi::parse_delivery_ordering(view(x.get_string())))
    return *o;
  return fail(errc::validation_failed, "ordering",
              "ordering must be \"unordered\" or \"fifo\"");
}

/// The rules of `event_types`, `headers`, `description`, `rate_limit` and
/// `ordering` (in that order, each when present; types already checked)
/// into `out`.
caf::error parse_optional_fields(const endpoint_fields& f,
                                 std::string_view body,
                                 wi::endpoint_patch& out) {
  if (f.event_types != nullptr) {
    auto types = parse_event_types(f.event_types->get_array());
    if (!types)
      return std::move(types.error());
    out.event_types = std::move(*types);
  }
  if (f.headers != nullptr) {
    auto headers = parse_headers(f.headers->get_object(), body);
    if (!headers)
      return std::move(headers.error());
    out.headers = std::move(*headers);
  }
  if (f.description != nullptr) {
    auto description = parse_description(*f.description);
    if (!description)
      return std::move(description.error());
    out.description = std::move(*description);
  }
  if (f.rate_limit != nullptr) {
    auto rate = parse_rate_limit(*f.rate_limit);
    if (!rate)
      return std::move(rate.error());
    out.rate_limit = *rate;
  }
  if (f.ordering != nullptr) {
    auto ordering = parse_ordering(*f.ordering);
    if (!ordering)
      return std::move(ordering.error());
    out.ordering = *ordering;
  }
  return {};
}

} // namespace

caf::expected<wi::new_endpoint> parse_create_endpoint(std::string_view body) {
  auto obj = parse_object(body);
  if (!obj)
    return std::move(obj.error());
  auto f = fields_of(*obj);
  // 1. Types of present fields (400).
  if (auto err = check_field_types(f))
    return err;
  // 2. Required fields (422).
  if (f.url == nullptr)
    return fail(errc::validation_failed, "url", "url is required");
  if (f.secret == nullptr)
    return fail(errc::validation_failed, "secret", "secret is required");
  if (f.event_types == nullptr)
    return fail(errc::validation_failed, "event_types",
                "event_types is required");
  // 3. Rules (422).
  wi::new_endpoint result;
  result.url = view(f.url->get_string());
  if (auto err = check_url(result.url))
    return err;
  result.secret = view(f.secret->get_string());
  if (auto err = check_secret(result.secret))
    return err;
  wi::endpoint_patch rest;
  if (auto err = parse_optional_fields(f, body, rest))
    return err;
  result.event_types = std::move(*rest.event_types); // required, so present
  if (rest.headers)
    result.headers = std::move(*rest.headers);
  if (rest.description)
    result.description = std::move(*rest.description);
  result.rate_limit = rest.rate_limit.value_or(0);
  result.ordering = rest.ordering.value_or(wi::delivery_ordering::unordered);
  return result;
}

caf::expected<wi::endpoint_patch> parse_patch_endpoint(std::string_view body) {
  auto obj = parse_object(body);
  if (!obj)
    return std::move(obj.error());
  auto f = fields_of(*obj);
  // 1. Types of present fields (400).
  if (auto err = check_field_types(f))
    return err;
  // 2. Fields that cannot be patched (422): a typo must not pass silently.
  for (const auto& kv : *obj) {
    std::string_view key{kv.key().data(), kv.key().size()};
    if (key == "secret")
      return fail(errc::validation_failed, "secret",
                  "secret cannot be changed with PATCH: rotate it with POST "
                  "/v1/webhook/endpoints/{id}/secret/rotate");
    if (key != "url" && key != "event_types" && key != "headers" &&
        key != "description" && key != "rate_limit" && key != "ordering")
      return unknown_field(key, "an endpoint that can be changed (url, "
                                "event_types, headers, description, "
                                "rate_limit, ordering)");
  }
  // 3. Rules (422), as for create.
  wi::endpoint_patch result;
  if (f.url != nullptr) {
    result.url = std::string{view(f.url->get_string())};
    if (auto err = check_url(*result.url))
      return err;
  }
  if (auto err = parse_optional_fields(f, body, result))
    return err;
  return result;
}

caf::expected<wi::secret_rotation> parse_rotate_secret(std::string_view body) {
  wi::secret_rotation result;
  result.grace_ms = default_secret_grace_ms;
  if (body.empty())
    return result;
  auto obj = parse_object(body);
  if (!obj)
    return std::move(obj.error());
  const json::value* secret = obj->if_contains("secret");
  const json::value* grace = obj->if_contains("grace");
  // 1. Types (400), 2. unknown fields (422), 3. rules (422).
  if (secret != nullptr && !secret->is_string())
    return fail(errc::invalid_parameter, "secret", "secret must be a string");
  if (grace != nullptr && !grace->is_string())
    return fail(errc::invalid_parameter, "grace",
                "grace must be a string such as \"30s\", \"15m\" or \"24h\"");
  for (const auto& kv : *obj) {
    std::string_view key{kv.key().data(), kv.key().size()};
    if (key != "secret" && key != "grace")
      return unknown_field(key, "a secret rotation (secret, grace)");
  }
  if (secret != nullptr) {
    result.secret = view(secret->get_string());
    if (auto err = check_secret(result.secret))
      return err;
  }
  if (grace != nullptr) {
    auto text = view(grace->get_string());
    auto plain = !text.empty() &&
                 std::all_of(text.begin(), text.end(),
                             [](char c) { return is_digit(c) || is_alpha(c); });
    std::optional<int64_t> ms;
    if (plain)
      if (auto parsed = wi::parse_retry_schedule(text);
          parsed && parsed->size() == 1)
        ms = parsed->front().count();
    if (!ms || *ms < min_secret_grace_ms || *ms > max_secret_grace_ms)
      return fail(errc::validation_failed, "grace",
                  "grace must be one duration such as 30s, 15m or 24h "
                  "(units ms, s, m, h) from 1s to 168h (7 days)");
    result.grace_ms = *ms;
  }
  return result;
}

// -- list query ---------------------------------------------------------------

namespace {

/// Parses an RFC 3339 date-time from a decoded query value. A `+` offset
/// often arrives unencoded and form decoding turned it into a space; no
/// date-time contains a space, so each space is read back as `+`.
std::optional<wi::unix_millis> parse_query_date(std::string x) {
  std::replace(x.begin(), x.end(), ' ', '+');
  return parse_rfc3339(x);
}

} // namespace

caf::expected<wi::list_query> parse_list_query(
  const std::vector<std::pair<std::string, std::string>>& params) {
  const std::string* page = nullptr;
  const std::string* page_size = nullptr;
  const std::string* initial = nullptr;
  const std::string* final_date = nullptr;
  for (const auto& [key, value] : params) {
    const std::string** slot = nullptr;
    if (key == "page")
      slot = &page;
    else if (key == "pageSize")
      slot = &page_size;
    else if (key == "initialDate")
      slot = &initial;
    else if (key == "finalDate")
      slot = &final_date;
    if (slot != nullptr && *slot == nullptr)
      *slot = &value;
  }
  // 1. Types (400), then 2. ranges (422).
  std::optional<int64_t> page_value;
  std::optional<int64_t> page_size_value;
  wi::list_query result;
  if (page != nullptr) {
    page_value = parse_int64(*page);
    if (!page_value)
      return fail(errc::invalid_parameter, "page", "page must be an integer");
  }
  if (page_size != nullptr) {
    page_size_value = parse_int64(*page_size);
    if (!page_size_value)
      return fail(errc::invalid_parameter, "pageSize",
                  "pageSize must be an integer");
  }
  if (initial != nullptr) {
    result.created_from = parse_query_date(*initial);
    if (!result.created_from)
      return fail(errc::invalid_parameter, "initialDate",
                  "initialDate must be an RFC 3339 date-time");
  }
  if (final_date != nullptr) {
    result.created_to = parse_query_date(*final_date);
    if (!result.created_to)
      return fail(errc::invalid_parameter, "finalDate",
                  "finalDate must be an RFC 3339 date-time");
  }
  if (page_value) {
    if (*page_value < 1)
      return fail(errc::validation_failed, "page", "page must be at least 1");
    if (*page_value > std::numeric_limits<uint32_t>::max())
      return fail(errc::validation_failed, "page",
                  "page must be at most 4294967295");
    result.page = static_cast<uint32_t>(*page_value);
  }
  if (page_size_value) {
    if (*page_size_value < 1 ||
        *page_size_value > static_cast<int64_t>(limits::max_page_size))
      return fail(errc::validation_failed, "pageSize",
                  "pageSize must be between 1 and " +
                    std::to_string(limits::max_page_size));
    result.page_size = static_cast<uint32_t>(*page_size_value);
  }
  if (result.created_from && result.created_to &&
      *result.created_from > *result.created_to)
    return fail(errc::validation_failed, "initialDate",
                "initialDate must not be after finalDate");
  return result;
}

namespace {

/// The rules of an event's type (publish, and the history's filter): 1-128
/// characters of `[A-Za-z0-9._:-]`, else 422 naming `event_type`.
caf::error check_event_type(std::string_view t) {
  if (t.empty() || t.size() > limits::max_event_type)
    return fail(errc::validation_failed, "event_type",
                "event_type must be 1-" +
                  std::to_string(limits::max_event_type) + " characters");
  for (auto c : t)
    if (!is_event_type_char(c))
      return fail(errc::validation_failed, "event_type",
                  "event_type may only contain A-Z, a-z, 0-9, '.', '_', ':' "
                  "and '-'");
  return {};
}

} // namespace

caf::expected<wi::event_query> parse_event_query(
  const std::vector<std::pair<std::string, std::string>>& params) {
  auto common = parse_list_query(params);
  if (!common)
    return std::move(common.error());
  wi::event_query result;
  result.page = common->page;
  result.page_size = common->page_size;
  result.created_from = common->created_from;
  result.created_to = common->created_to;
  for (const auto& [key, value] : params)
    if (key == "event_type") {
      if (auto err = check_event_type(value))
        return err;
      result.event_type = value;
      break; // the first occurrence wins
    }
  return result;
}

caf::expected<wi::unix_millis> parse_recover(std::string_view body) {
  auto obj = parse_object(body);
  if (!obj)
    return std::move(obj.error());
  const json::value* since = obj->if_contains("since");
  // 1. Types (400), 2. unknown fields (422), 3. rules (422).
  if (since != nullptr && !since->is_string())
    return fail(errc::invalid_parameter, "since",
                "since must be an RFC 3339 date-time string");
  for (const auto& kv : *obj) {
    std::string_view key{kv.key().data(), kv.key().size()};
    if (key != "since")
      return unknown_field(key, "a recover request (since)");
  }
  if (since == nullptr)
    return fail(errc::validation_failed, "since", "since is required");
  auto at = parse_rfc3339(view(since->get_string()));
  if (!at)
    return fail(errc::validation_failed, "since",
                "since must be an RFC 3339 date-time such as "
                "2024-01-01T00:00:00Z");
  return *at;
}

// -- endpoint id --------------------------------------------------------------

caf::expected<wi::endpoint_id> parse_endpoint_id(std::string_view x,
                                                 std::string_view field) {
  auto error = [field] {
    return fail(errc::invalid_parameter, std::string{field},
                std::string{field} + " must be a decimal integer between 0 and "
                                     "18446744073709551615");
  };
  if (x.empty())
    return error();
  for (char c : x)
    if (!is_digit(c))
      return error();
  wi::endpoint_id result = 0;
  auto [ptr, ec] = std::from_chars(x.data(), x.data() + x.size(), result);
  if (ec != std::errc{} || ptr != x.data() + x.size())
    return error();
  return result;
}

// -- create tenant ------------------------------------------------------------

caf::expected<std::string> parse_create_tenant(std::string_view body) {
  auto obj = parse_object(body);
  if (!obj)
    return std::move(obj.error());
  const json::value* name = obj->if_contains("name");
  if (name == nullptr)
    return fail(errc::validation_failed, "name", "name is required");
  if (!name->is_string())
    return fail(errc::invalid_parameter, "name", "name must be a string");
  auto result = view(name->get_string());
  if (result.empty())
    return fail(errc::validation_failed, "name", "name must not be empty");
  if (count_code_points(result) > limits::max_tenant_name)
    return fail(errc::validation_failed, "name",
                "name must be at most " +
                  std::to_string(limits::max_tenant_name) + " characters");
  if (has_control_chars(result))
    return fail(errc::validation_failed, "name",
                "name must not contain control characters");
  return std::string{result};
}

caf::expected<std::string> parse_move_tenant(std::string_view body) {
  auto obj = parse_object(body);
  if (!obj)
    return std::move(obj.error());
  const json::value* to = obj->if_contains("to");
  if (to == nullptr)
    return fail(errc::validation_failed, "to", "to (a node id) is required");
  if (!to->is_string())
    return fail(errc::invalid_parameter, "to", "to must be a string");
  auto id = view(to->get_string());
  auto node_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  };
  if (id.empty() || id.size() > 64 ||
      !std::all_of(id.begin(), id.end(), node_char))
    return fail(errc::validation_failed, "to",
                "to must be a node id: 1-64 letters, digits, '_', '-', '.'");
  return std::string{id};
}

caf::expected<bool> parse_move_pin(std::string_view body) {
  auto obj = parse_object(body);
  if (!obj)
    return std::move(obj.error());
  const json::value* pin = obj->if_contains("pin");
  if (pin == nullptr)
    return true;
  if (!pin->is_bool())
    return fail(errc::invalid_parameter, "pin", "pin must be a boolean");
  return pin->get_bool();
}

} // namespace wi::http

namespace wi::http {

// -- events -------------------------------------------------------------------

namespace {

bool is_json_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t skip_space(std::string_view s, size_t i) noexcept {
  while (i < s.size() && is_json_space(s[i]))
    ++i;
  return i;
}

/// Returns the index just past the JSON string that starts at `s[i]`.
size_t skip_string(std::string_view s, size_t i) noexcept {
  for (++i; i < s.size() && s[i] != '"'; ++i)
    if (s[i] == '\\')
      ++i;
  return std::min(i + 1, s.size());
}

/// Returns the index just past the JSON value that starts at `s[i]`.
size_t skip_value(std::string_view s, size_t i) noexcept {
  if (i >= s.size())
    return s.size();
  if (s[i] == '"')
    return skip_string(s, i);
  if (s[i] != '{' && s[i] != '[') { // number, true, false, null
    while (i < s.size() && !is_json_space(s[i]) &&
           std::string_view{",}]"}.find(s[i]) == std::string_view::npos)
      ++i;
    return i;
  }
  size_t depth = 0;
  while (i < s.size()) {
    auto c = s[i];
    if (c == '"') {
      i = skip_string(s, i);
      continue;
    }
    ++i;
    if (c == '{' || c == '[')
      ++depth;
    else if ((c == '}' || c == ']') && --depth == 0)
      return i;
  }
  return i;
}

/// Returns the text of each element of the JSON array `array_text`, as
/// written (without the whitespace around it). `array_text` must be valid
/// JSON.
std::vector<std::string_view> raw_elements(std::string_view array_text) {
  const auto& s = array_text;
  std::vector<std::string_view> result;
  auto i = skip_space(s, 0);
  if (i >= s.size() || s[i] != '[')
    return result;
  i = skip_space(s, i + 1);
  while (i < s.size() && s[i] != ']') {
    auto end = skip_value(s, i);
    result.push_back(s.substr(i, end - i));
    i = skip_space(s, end);
    if (i < s.size() && s[i] == ',')
      i = skip_space(s, i + 1);
  }
  return result;
}

} // namespace

std::optional<std::string_view> raw_member(std::string_view object_text,
                                           std::string_view name) {
  const auto& s = object_text;
  std::optional<std::string_view> found;
  auto i = skip_space(s, 0);
  if (i >= s.size() || s[i] != '{')
    return std::nullopt;
  i = skip_space(s, i + 1);
  while (i < s.size() && s[i] == '"') {
    auto key_end = skip_string(s, i);
    auto raw_key = s.substr(i, key_end - i);
    bool match = false;
    if (raw_key.find('\\') == std::string_view::npos) {
      match = raw_key.substr(1, raw_key.size() - 2) == name;
    } else { // escaped key: let the JSON parser decode it
      json::error_code ec;
      auto key =
        json::parse(json::string_view{raw_key.data(), raw_key.size()}, ec);
      match = !ec && key.is_string() && view(key.get_string()) == name;
    }
    i = skip_space(s, key_end);
    if (i >= s.size() || s[i] != ':')
      return std::nullopt;
    i = skip_space(s, i + 1);
    auto value_end = skip_value(s, i);
    if (match) // the last occurrence wins, as in json::parse
      found = s.substr(i, value_end - i);
    i = skip_space(s, value_end);
    if (i < s.size() && s[i] == ',')
      i = skip_space(s, i + 1);
  }
  return found;
}

caf::expected<wi::new_event> parse_publish(std::string_view body,
                                           std::string_view key_header) {
  auto obj = parse_object(body);
  if (!obj)
    return std::move(obj.error());
  wi::new_event result;
  const json::value* type = obj->if_contains("event_type");
  const json::value* payload = obj->if_contains("payload");
  const json::value* key = obj->if_contains("idempotency_key");
  const json::value* ordering_key = obj->if_contains("ordering_key");
  if (type != nullptr && !type->is_string())
    return fail(errc::invalid_parameter, "event_type",
                "event_type must be a string");
  if (key != nullptr && !key->is_string())
    return fail(errc::invalid_parameter, "idempotency_key",
                "idempotency_key must be a string");
  if (ordering_key != nullptr && !ordering_key->is_string())
    return fail(errc::invalid_parameter, "ordering_key",
                "ordering_key must be a string");
  if (type == nullptr)
    return fail(errc::validation_failed, "event_type",
                "event_type is required");
  if (payload == nullptr)
    return fail(errc::validation_failed, "payload", "payload is required");
  auto t = view(type->get_string());
  if (auto err = check_event_type(t))
    return err;
  result.event_type = std::string{t};
  // The client's own text of the value, not a re-serialization: receivers
  // that hash or compare `data`, or parse numbers as decimals, see exactly
  // what was sent (`1.0` stays `1.0`, `\u00e9` stays escaped). The check
  // guards the scanner: a mismatch would be a bug, and then the parsed
  // value is sent re-serialized rather than anything else.
  auto raw = raw_member(body, "payload");
  json::error_code raw_ec;
  if (raw &&
      json::parse(json::string_view{raw->data(), raw->size()}, raw_ec) ==
        *payload &&
      !raw_ec)
    result.payload = std::string{*raw};
  else
    result.payload = json::serialize(*payload);
  // The header wins over the body field when both are given.
  std::string_view k = key_header;
  if (k.empty() && key != nullptr)
    k = view(key->get_string());
  if (key != nullptr && k.empty())
    return fail(errc::validation_failed, "idempotency_key",
                "idempotency_key must not be empty");
  if (k.size() > max_idempotency_key || has_control_chars(k))
    return fail(errc::validation_failed, "idempotency_key",
                "idempotency_key must be at most " +
                  std::to_string(max_idempotency_key) +
                  " characters without control characters");
  result.idempotency_key = std::string{k};
  if (ordering_key != nullptr) {
    auto o = view(ordering_key->get_string());
    auto n = count_code_points(o);
    if (n < 1 || n > max_ordering_key || has_control_chars(o))
      return fail(errc::validation_failed, "ordering_key",
                  "ordering_key must be 1-" + std::to_string(max_ordering_key) +
                    " characters without control characters");
    result.ordering_key = std::string{o};
  }
  return result;
}

caf::expected<std::vector<caf::expected<wi::new_event>>>
parse_publish_batch(std::string_view body) {
  auto obj = parse_object(body);
  if (!obj)
    return std::move(obj.error());
  const json::value* events = obj->if_contains("events");
  if (events == nullptr)
    return fail(errc::validation_failed, "events", "events is required");
  if (!events->is_array())
    return fail(errc::invalid_parameter, "events",
                "events must be an array of events");
  const auto& arr = events->get_array();
  if (arr.empty())
    return fail(errc::validation_failed, "events",
                "events must contain at least 1 element");
  if (arr.size() > max_batch_events)
    return fail(errc::validation_failed, "events",
                "events must contain at most " +
                  std::to_string(max_batch_events) + " elements");
  // Each event's own text, so that its payload is kept byte for byte as in
  // a single publish (see `parse_publish`); re-serialized if the scanner
  // disagrees with the parser (a bug).
  std::vector<std::string_view> texts;
  if (auto raw = raw_member(body, "events"))
    texts = raw_elements(*raw);
  if (texts.size() != arr.size())
    texts.clear();
  std::vector<caf::expected<wi::new_event>> result;
  result.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    auto name = element_name("events", i);
    if (!arr[i].is_object()) {
      result.emplace_back(make_error(errc::invalid_parameter, name,
                                     name + " must be a JSON object"));
      continue;
    }
    std::string serialized;
    if (texts.empty())
      serialized = json::serialize(arr[i]);
    auto ev = parse_publish(
      texts.empty() ? std::string_view{serialized} : texts[i], {});
    if (!ev) {
      // The field as the client sees it: `events[1].event_type`.
      auto field = name + '.' + field_of(ev.error());
      result.emplace_back(
        make_error(code_of(ev.error()), field, text_of(ev.error())));
      continue;
    }
    result.emplace_back(std::move(*ev));
  }
  return result;
}

caf::expected<std::string> parse_event_id(std::string_view x) {
  auto ok = !x.empty() && x.size() <= 64;
  for (auto c : x)
    ok = ok && (is_alpha(c) || is_digit(c) || c == '_');
  if (!ok)
    return fail(errc::invalid_parameter, "event_id",
                "event_id must be 1-64 characters of A-Z, a-z, 0-9 and '_'");
  return std::string{x};
}

} // namespace wi::http

namespace wi::http {

// -- admin --------------------------------------------------------------------

caf::expected<std::string> parse_resend_request(std::string_view body) {
  auto obj = parse_object(body);
  if (!obj)
    return std::move(obj.error());
  const json::value* id = obj->if_contains("event_id");
  if (id == nullptr)
    return fail(errc::validation_failed, "event_id", "event_id is required");
  if (!id->is_string())
    return fail(errc::invalid_parameter, "event_id",
                "event_id must be a string");
  return parse_event_id(view(id->get_string()));
}

caf::expected<std::string> parse_tenant_id(std::string_view x) {
  bool ok = !x.empty() && x.size() <= 64;
  for (char c : x)
    ok = ok && (is_alpha(c) || is_digit(c));
  if (!ok)
    return fail(errc::invalid_parameter, "id",
                "id must be 1-64 characters of [A-Za-z0-9]");
  return std::string{x};
}

caf::expected<int64_t> parse_rotate_token(std::string_view body) {
  if (body.empty())
    return default_grace_seconds;
  auto obj = parse_object(body);
  if (!obj)
    return std::move(obj.error());
  const json::value* grace = obj->if_contains("grace_seconds");
  if (grace == nullptr)
    return default_grace_seconds;
  if (!grace->is_int64() && !grace->is_uint64())
    return fail(errc::invalid_parameter, "grace_seconds",
                "grace_seconds must be an integer");
  if (grace->is_uint64() || grace->get_int64() > max_grace_seconds)
    return fail(errc::validation_failed, "grace_seconds",
                "grace_seconds must be at most " +
                  std::to_string(max_grace_seconds) + " (7 days)");
  if (grace->get_int64() < 0)
    return fail(errc::validation_failed, "grace_seconds",
                "grace_seconds must not be negative");
  return grace->get_int64();
}

caf::expected<bool> parse_purge_flag(
  const std::vector<std::pair<std::string, std::string>>& params) {
  for (const auto& [key, value] : params) {
    if (key != "purge")
      continue;
    if (value == "true")
      return true;
    if (value == "false")
      return false;
    return fail(errc::invalid_parameter, "purge",
                "purge must be true or false");
  }
  return false;
}

} // namespace wi::http
