#include "http/validation.hpp"
#include "webhook_ingress/delivery.hpp"

#include <gtest/gtest.h>

#include <string>

#include <boost/json.hpp>

#include "webhook_ingress/error.hpp"

using namespace wi::http;
using wi::errc;
namespace json = boost::json;

namespace {

/// Checks that `x` failed with `code`, that the error names `field` and that
/// its text mentions the field.
template <class T>
testing::AssertionResult fails_with(const caf::expected<T>& x, errc code,
                                    const std::string& field) {
  if (x)
    return testing::AssertionFailure() << "expected an error, got a value";
  const auto& err = x.error();
  if (wi::code_of(err) != code)
    return testing::AssertionFailure()
           << "code " << wi::to_string(wi::code_of(err)) << " instead of "
           << wi::to_string(code) << " (" << wi::text_of(err) << ")";
  if (wi::field_of(err) != field)
    return testing::AssertionFailure()
           << "field '" << wi::field_of(err) << "' instead of '" << field
           << "' (" << wi::text_of(err) << ")";
  if (wi::text_of(err).find(field) == std::string::npos)
    return testing::AssertionFailure()
           << "text '" << wi::text_of(err) << "' does not name " << field;
  return testing::AssertionSuccess();
}

json::object valid_object() {
  return json::object{
    {"url", "https://example.com/webhook"},
    {"secret", "mysecret"},
    {"event_types", json::array{"user.created", "user.updated"}},
  };
}

template <class T>
std::string with(std::string_view key, T&& val) {
  auto obj = valid_object();
  obj[key] = json::value_from(std::forward<T>(val));
  return json::serialize(obj);
}

std::string without(std::string_view key) {
  auto obj = valid_object();
  obj.erase(key);
  return json::serialize(obj);
}

std::string with_headers(json::object headers) {
  return with("headers", std::move(headers));
}

/// A header object as raw JSON text (allows exact duplicate keys).
std::string with_raw_headers(std::string_view raw) {
  auto body = json::serialize(valid_object());
  body.pop_back();
  body += ",\"headers\":";
  body += raw;
  body += '}';
  return body;
}

std::string repeat(std::string_view x, size_t n) {
  std::string result;
  for (size_t i = 0; i < n; ++i)
    result += x;
  return result;
}

/// A URL of exactly `n` characters.
std::string url_of_size(size_t n) {
  std::string base = "https://example.com/";
  return base + std::string(n - base.size(), 'a');
}

} // namespace

// -- body ---------------------------------------------------------------------

TEST(parse_create_endpoint, accepts_valid_body) {
  auto res = parse_create_endpoint(json::serialize(valid_object()));
  ASSERT_TRUE(res) << wi::text_of(res.error());
  EXPECT_EQ(res->url, "https://example.com/webhook");
  EXPECT_EQ(res->secret, "mysecret");
  EXPECT_EQ(res->event_types,
            (std::vector<std::string>{"user.created", "user.updated"}));
  EXPECT_TRUE(res->headers.empty());
}

TEST(parse_create_endpoint, rejects_bad_json) {
  for (auto body :
       {"", " ", "{", "nope", "{\"url\":}", "{\"a\":1,}", "[]", "[1]",
        "\"str\"", "42", "null", "true", "{} {}", "{}x", "{\"a\":\"\xff\"}"}) {
    EXPECT_TRUE(
      fails_with(parse_create_endpoint(body), errc::invalid_json, "body"))
      << body;
  }
}

TEST(parse_create_endpoint, empty_object_misses_url) {
  EXPECT_TRUE(
    fails_with(parse_create_endpoint("{}"), errc::validation_failed, "url"));
}

TEST(parse_create_endpoint, missing_required_fields) {
  EXPECT_TRUE(fails_with(parse_create_endpoint(without("url")),
                         errc::validation_failed, "url"));
  EXPECT_TRUE(fails_with(parse_create_endpoint(without("secret")),
                         errc::validation_failed, "secret"));
  EXPECT_TRUE(fails_with(parse_create_endpoint(without("event_types")),
                         errc::validation_failed, "event_types"));
}

TEST(parse_create_endpoint, wrong_types) {
  EXPECT_TRUE(fails_with(parse_create_endpoint(with("url", 5)),
                         errc::invalid_parameter, "url"));
  EXPECT_TRUE(fails_with(parse_create_endpoint(with("url", nullptr)),
                         errc::invalid_parameter, "url"));
  EXPECT_TRUE(fails_with(parse_create_endpoint(with("secret", true)),
                         errc::invalid_parameter, "secret"));
  EXPECT_TRUE(fails_with(parse_create_endpoint(with("secret", json::array{})),
                         errc::invalid_parameter, "secret"));
  EXPECT_TRUE(fails_with(parse_create_endpoint(with("event_types", "user.x")),
                         errc::invalid_parameter, "event_types"));
  EXPECT_TRUE(
    fails_with(parse_create_endpoint(with("event_types", json::object{})),
               errc::invalid_parameter, "event_types"));
  EXPECT_TRUE(fails_with(parse_create_endpoint(with("headers", "x")),
                         errc::invalid_parameter, "headers"));
  EXPECT_TRUE(fails_with(parse_create_endpoint(with("headers", json::array{})),
                         errc::invalid_parameter, "headers"));
  EXPECT_TRUE(fails_with(parse_create_endpoint(with("headers", nullptr)),
                         errc::invalid_parameter, "headers"));
}

TEST(parse_create_endpoint, type_errors_win_over_rule_errors) {
  auto obj = valid_object();
  obj["url"] = "ftp://x";   // 422
  obj["secret"] = 12345678; // 400
  EXPECT_TRUE(fails_with(parse_create_endpoint(json::serialize(obj)),
                         errc::invalid_parameter, "secret"));
  obj = valid_object();
  obj.erase("url");                          // 422
  obj["headers"] = json::object{{"X-A", 1}}; // 400
  EXPECT_TRUE(fails_with(parse_create_endpoint(json::serialize(obj)),
                         errc::invalid_parameter, "headers.X-A"));
}

TEST(parse_create_endpoint, ignores_unknown_fields) {
  auto res = parse_create_endpoint(with("unknown", json::object{{"a", 1}}));
  ASSERT_TRUE(res) << wi::text_of(res.error());
  EXPECT_EQ(res->url, "https://example.com/webhook");
}

// -- url ----------------------------------------------------------------------

TEST(parse_create_endpoint, url_length) {
  auto u77 = url_of_size(77);
  ASSERT_EQ(u77.size(), 77u);
  auto res = parse_create_endpoint(with("url", u77));
  ASSERT_TRUE(res) << wi::text_of(res.error());
  EXPECT_EQ(res->url, u77);
  EXPECT_TRUE(fails_with(parse_create_endpoint(with("url", url_of_size(78))),
                         errc::validation_failed, "url"));
  EXPECT_TRUE(fails_with(parse_create_endpoint(with("url", "")),
                         errc::validation_failed, "url"));
}

TEST(parse_create_endpoint, url_accepted_forms) {
  for (auto url :
       {"http://example.com", "https://example.com/", "HTTPS://EXAMPLE.COM/x",
        "HtTp://a", "http://localhost:1/", "http://localhost:65535/",
        "http://127.0.0.1:8080/hook", "http://[::1]:8080/hook",
        "http://[2001:db8::1]/", "https://a.b-c_d~e.example/p?q=1&r=%20",
        "https://example.com?x=1", "https://example.com:443"}) {
    auto res = parse_create_endpoint(with("url", url));
    EXPECT_TRUE(res) << url << ": " << wi::text_of(res.error());
  }
}

TEST(parse_create_endpoint, url_rejected_forms) {
  for (auto url : {
         "ftp://example.com/",                       // scheme
         "example.com/hook",                         // relative
         "//example.com/hook",                       // scheme-relative
         "http:/example.com",                        // one slash
         "http:example.com",                         // no authority
         "httpx://example.com",                      // other scheme
         "mailto:a@example.com",                     // other scheme
         "http://",                                  // no host
         "https:///path",                            // no host
         "http://:8080/",                            // no host
         "http://?q",                                // no host
         "http://example.com:0/",                    // port 0
         "http://example.com:65536/",                // port too big
         "http://example.com:99999999999999999999/", // port overflow
         "http://example.com:/",                     // empty port
         "http://example.com:8o/",                   // port not numeric
         "http://example.com:-1/",                   // negative port
         "http://user@example.com/",                 // userinfo
         "http://user:pw@example.com/",              // userinfo
         "http://@example.com/",                     // empty userinfo
         "http://example.com/#frag",                 // fragment
         "http://example.com#",                      // empty fragment
         "http://exa mple.com/",                     // space
         "http://example.com/a b",                   // space in path
         " http://example.com/",                     // leading space
         "http://example.com/\t",                    // tab
         "http://example.com/\x01",                  // control
         "http://example.com/\x7f",                  // DEL
         "http://ex\xc3\xa4mple.com/",               // non-ASCII
         "http://example.com/<x>",                   // forbidden character
         "http://example.com/{x}",                   // forbidden character
         "http://exa!mple.com/",                     // bad host character
         "http://[::1/",                             // unclosed IPv6
         "http://[]/",                               // empty IPv6
         "http://[::1]x/",                           // junk after IPv6
         "http://[zz::1]/",                          // bad IPv6
         "http://a:1:2/",                            // two ports
       }) {
    EXPECT_TRUE(fails_with(parse_create_endpoint(with("url", url)),
                           errc::validation_failed, "url"))
      << url;
  }
}

// -- secret -------------------------------------------------------------------

TEST(parse_create_endpoint, secret_length_ascii) {
  EXPECT_TRUE(fails_with(parse_create_endpoint(with("secret", "")),
                         errc::validation_failed, "secret"));
  EXPECT_TRUE(fails_with(parse_create_endpoint(with("secret", repeat("s", 7))),
                         errc::validation_failed, "secret"));
  EXPECT_TRUE(parse_create_endpoint(with("secret", repeat("s", 8))));
  auto res = parse_create_endpoint(with("secret", repeat("s", 64)));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->secret, repeat("s", 64));
  EXPECT_TRUE(fails_with(parse_create_endpoint(with("secret", repeat("s", 65))),
                         errc::validation_failed, "secret"));
}

TEST(parse_create_endpoint, secret_length_counts_code_points) {
  // U+00E9 (2 bytes), U+20AC (3 bytes), U+1F600 (4 bytes).
  for (std::string_view ch : {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"}) {
    EXPECT_TRUE(fails_with(parse_create_endpoint(with("secret", repeat(ch, 7))),
                           errc::validation_failed, "secret"))
      << ch;
    auto res8 = parse_create_endpoint(with("secret", repeat(ch, 8)));
    ASSERT_TRUE(res8) << ch << ": " << wi::text_of(res8.error());
    EXPECT_EQ(res8->secret, repeat(ch, 8));
    EXPECT_TRUE(parse_create_endpoint(with("secret", repeat(ch, 64)))) << ch;
    EXPECT_TRUE(
      fails_with(parse_create_endpoint(with("secret", repeat(ch, 65))),
                 errc::validation_failed, "secret"))
      << ch;
  }
  // 7 ASCII + 1 multi-byte = 8 characters.
  EXPECT_TRUE(parse_create_endpoint(with("secret", "abcdefg\xe2\x82\xac")));
}

TEST(parse_create_endpoint, secret_control_characters) {
  for (std::string bad :
       {std::string{"abcdefgh\n"}, std::string{"abc\tdefgh"},
        std::string("abcd\0efgh", 9), std::string{"abcdefgh\x7f"},
        std::string{"abcdefgh\xc2\x85"}}) { // U+0085 (C1)
    EXPECT_TRUE(fails_with(parse_create_endpoint(with("secret", bad)),
                           errc::validation_failed, "secret"));
  }
  EXPECT_TRUE(parse_create_endpoint(with("secret", "with space ok")));
}

// -- event_types --------------------------------------------------------------

TEST(parse_create_endpoint, event_types_empty) {
  EXPECT_TRUE(
    fails_with(parse_create_endpoint(with("event_types", json::array{})),
               errc::validation_failed, "event_types"));
}

TEST(parse_create_endpoint, event_types_non_string_element) {
  EXPECT_TRUE(fails_with(
    parse_create_endpoint(with("event_types", json::array{"a", 1, "b"})),
    errc::invalid_parameter, "event_types[1]"));
  EXPECT_TRUE(
    fails_with(parse_create_endpoint(with("event_types", json::array{nullptr})),
               errc::invalid_parameter, "event_types[0]"));
  EXPECT_TRUE(fails_with(
    parse_create_endpoint(with("event_types", json::array{"a", json::array{}})),
    errc::invalid_parameter, "event_types[1]"));
}

TEST(parse_create_endpoint, event_types_element_rules) {
  EXPECT_TRUE(
    fails_with(parse_create_endpoint(with("event_types", json::array{"a", ""})),
               errc::validation_failed, "event_types[1]"));
  for (auto bad : {"user created", "user/created", "user*", "**", "a,b",
                   "caf\xc3\xa9", "a\nb", "*.created"}) {
    EXPECT_TRUE(fails_with(
      parse_create_endpoint(with("event_types", json::array{"ok", "ok2", bad})),
      errc::validation_failed, "event_types[2]"))
      << bad;
  }
  EXPECT_TRUE(
    parse_create_endpoint(with("event_types", json::array{repeat("a", 128)})));
  EXPECT_TRUE(fails_with(
    parse_create_endpoint(with("event_types", json::array{repeat("a", 129)})),
    errc::validation_failed, "event_types[0]"));
  auto res = parse_create_endpoint(
    with("event_types", json::array{"*", "A.b_c:d-9", "user.created"}));
  ASSERT_TRUE(res) << wi::text_of(res.error());
  EXPECT_EQ(res->event_types,
            (std::vector<std::string>{"*", "A.b_c:d-9", "user.created"}));
}

TEST(parse_create_endpoint, event_types_count_limit) {
  json::array types;
  for (int i = 0; i < 64; ++i)
    types.emplace_back("t" + std::to_string(i));
  auto res = parse_create_endpoint(with("event_types", types));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->event_types.size(), 64u);
  types.emplace_back("t64");
  EXPECT_TRUE(fails_with(parse_create_endpoint(with("event_types", types)),
                         errc::validation_failed, "event_types"));
}

TEST(parse_create_endpoint, event_types_deduplicated_in_order) {
  auto res = parse_create_endpoint(
    with("event_types", json::array{"b", "a", "b", "*", "a", "c", "*"}));
  ASSERT_TRUE(res) << wi::text_of(res.error());
  EXPECT_EQ(res->event_types, (std::vector<std::string>{"b", "a", "*", "c"}));
  // Case matters.
  res = parse_create_endpoint(with("event_types", json::array{"A", "a"}));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->event_types, (std::vector<std::string>{"A", "a"}));
}

// -- headers ------------------------------------------------------------------

TEST(parse_create_endpoint, headers_kept_in_order) {
  auto res = parse_create_endpoint(with_headers(
    {{"X-Zeta", "1"}, {"Authorization", " Bearer token"}, {"x-alpha", ""}}));
  ASSERT_TRUE(res) << wi::text_of(res.error());
  wi::header_list expected{
    {"X-Zeta", "1"}, {"Authorization", " Bearer token"}, {"x-alpha", ""}};
  EXPECT_EQ(res->headers, expected);
  res = parse_create_endpoint(with_headers({}));
  ASSERT_TRUE(res);
  EXPECT_TRUE(res->headers.empty());
}

TEST(parse_create_endpoint, header_value_wrong_type) {
  EXPECT_TRUE(
    fails_with(parse_create_endpoint(with_headers({{"X-A", "1"}, {"X-B", 2}})),
               errc::invalid_parameter, "headers.X-B"));
  EXPECT_TRUE(
    fails_with(parse_create_endpoint(with_headers({{"X-N", nullptr}})),
               errc::invalid_parameter, "headers.X-N"));
  EXPECT_TRUE(fails_with(
    parse_create_endpoint(with_headers({{"X-O", json::object{{"a", "b"}}}})),
    errc::invalid_parameter, "headers.X-O"));
}

TEST(parse_create_endpoint, header_value_rules) {
  for (std::string bad :
       {std::string{"a\r\nX-Injected: 1"}, std::string{"a\rb"},
        std::string{"a\nb"}, std::string("a\0b", 3), std::string{"a\x01"},
        std::string{"a\x7f"}}) {
    EXPECT_TRUE(fails_with(parse_create_endpoint(with_headers({{"X-V", bad}})),
                           errc::validation_failed, "headers.X-V"));
  }
  EXPECT_TRUE(parse_create_endpoint(with_headers({{"X-V", "a\tb \xc3\xa9"}})));
  EXPECT_TRUE(
    parse_create_endpoint(with_headers({{"X-V", std::string(1024, 'v')}})));
  EXPECT_TRUE(
    parse_create_endpoint(with_headers({{"X-V", repeat("\xc3\xa9", 1024)}})));
  EXPECT_TRUE(fails_with(
    parse_create_endpoint(with_headers({{"X-V", std::string(1025, 'v')}})),
    errc::validation_failed, "headers.X-V"));
}

TEST(parse_create_endpoint, header_name_rules) {
  for (auto bad : {"X A", "X:A", "X(A)", "X/A", "X\"A", "X@A", "X\xc3\xa9",
                   "X\nA", "X{A}", "X,A", "X=A"}) {
    EXPECT_TRUE(fails_with(parse_create_endpoint(with_headers({{bad, "1"}})),
                           errc::validation_failed,
                           std::string{"headers."} + bad))
      << bad;
  }
  EXPECT_TRUE(fails_with(parse_create_endpoint(with_headers({{"", "1"}})),
                         errc::validation_failed, "headers."));
  EXPECT_TRUE(
    parse_create_endpoint(with_headers({{"!#$%&'*+-.^_`|~Az09", "1"}})));
  auto n128 = std::string(128, 'n');
  EXPECT_TRUE(parse_create_endpoint(with_headers({{n128, "1"}})));
  auto n129 = std::string(129, 'n');
  EXPECT_TRUE(fails_with(parse_create_endpoint(with_headers({{n129, "1"}})),
                         errc::validation_failed, "headers." + n129));
}

TEST(parse_create_endpoint, reserved_header_names_in_any_case) {
  for (auto name :
       {"content-type", "Content-Type", "CONTENT-TYPE", "content-length",
        "Host", "hOsT", "User-Agent", "webhook-id", "Webhook-Id",
        "WEBHOOK-TIMESTAMP", "webhook-signature", "Transfer-Encoding",
        "connection", "Connection", "svix-id", "Svix-Timestamp",
        "SVIX-SIGNATURE"}) {
    EXPECT_TRUE(fails_with(parse_create_endpoint(with_headers({{name, "v"}})),
                           errc::validation_failed,
                           std::string{"headers."} + name))
      << name;
  }
  EXPECT_TRUE(parse_create_endpoint(with_headers({{"Content-Types", "v"}})));
  EXPECT_TRUE(parse_create_endpoint(with_headers({{"X-Host", "v"}})));
}

TEST(parse_create_endpoint, duplicate_header_names) {
  EXPECT_TRUE(fails_with(
    parse_create_endpoint(with_headers({{"X-Dup", "1"}, {"x-dup", "2"}})),
    errc::validation_failed, "headers.x-dup"));
  // Exact duplicates in the JSON text are caught although a JSON object
  // would merge them.
  EXPECT_TRUE(fails_with(
    parse_create_endpoint(with_raw_headers(R"({"X-Dup":"1","X-Dup":"2"})")),
    errc::validation_failed, "headers.X-Dup"));
  EXPECT_TRUE(fails_with(parse_create_endpoint(with_raw_headers(
                           R"({"A":"1","X-Dup":"1","B":"2","X-Dup":"2"})")),
                         errc::validation_failed, "headers.X-Dup"));
  // A later top-level "headers" member replaces an earlier one.
  auto body = json::serialize(valid_object());
  body.pop_back();
  body += R"(,"headers":{"X-A":"1"},"headers":{"X-A":"2","X-B":"3"}})";
  auto res = parse_create_endpoint(body);
  ASSERT_TRUE(res) << wi::text_of(res.error());
  wi::header_list expected{{"X-A", "2"}, {"X-B", "3"}};
  EXPECT_EQ(res->headers, expected);
  // Nested objects named "headers" do not confuse the scanner.
  body = json::serialize(valid_object());
  body.pop_back();
  body +=
    R"(,"extra":{"headers":{"X-A":"1","X-A":"1"}},"headers":{"X-A":"1"}})";
  res = parse_create_endpoint(body);
  ASSERT_TRUE(res) << wi::text_of(res.error());
  EXPECT_EQ(res->headers, (wi::header_list{{"X-A", "1"}}));
}

TEST(parse_create_endpoint, header_count_limit) {
  json::object headers;
  for (int i = 0; i < 32; ++i)
    headers["X-H" + std::to_string(i)] = "v";
  auto res = parse_create_endpoint(with_headers(headers));
  ASSERT_TRUE(res) << wi::text_of(res.error());
  EXPECT_EQ(res->headers.size(), 32u);
  EXPECT_EQ(res->headers.front().first, "X-H0");
  EXPECT_EQ(res->headers.back().first, "X-H31");
  headers["X-H32"] = "v";
  EXPECT_TRUE(fails_with(parse_create_endpoint(with_headers(headers)),
                         errc::validation_failed, "headers"));
}

TEST(parse_create_endpoint, check_order_within_rules) {
  auto obj = valid_object();
  obj["url"] = "ftp://x";
  obj["secret"] = "short";
  EXPECT_TRUE(fails_with(parse_create_endpoint(json::serialize(obj)),
                         errc::validation_failed, "url"));
  obj = valid_object();
  obj["secret"] = "short";
  obj["event_types"] = json::array{};
  EXPECT_TRUE(fails_with(parse_create_endpoint(json::serialize(obj)),
                         errc::validation_failed, "secret"));
}

// -- helpers ------------------------------------------------------------------

TEST(validation_helpers, code_points_and_controls) {
  EXPECT_EQ(count_code_points(""), 0u);
  EXPECT_EQ(count_code_points("abc"), 3u);
  EXPECT_EQ(count_code_points("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), 3u);
  EXPECT_FALSE(has_control_chars("plain text \xc3\xa9"));
  EXPECT_TRUE(has_control_chars("\x1f"));
  EXPECT_TRUE(has_control_chars("\xc2\x9f"));
  EXPECT_FALSE(has_control_chars("\xc2\xa0")); // NBSP is not a control
  EXPECT_TRUE(is_http_token("X-Custom"));
  EXPECT_FALSE(is_http_token(""));
  EXPECT_FALSE(is_http_token("a b"));
  EXPECT_TRUE(is_reserved_header("WEBHOOK-SIGNATURE"));
  EXPECT_FALSE(is_reserved_header("Authorization"));
}

TEST(is_reserved_header, covers_every_header_a_delivery_carries) {
  // The tenant actor builds a delivery's own headers from these names; a
  // custom header of the same name would shadow or duplicate one of them.
  namespace h = wi::delivery_header;
  for (auto name : {h::content_type, h::user_agent, h::webhook_id,
                    h::webhook_timestamp, h::webhook_signature})
    EXPECT_TRUE(is_reserved_header(name)) << name;
  // Svix libraries read these in preference to webhook-*.
  for (auto name : {"svix-id", "svix-timestamp", "svix-signature"})
    EXPECT_TRUE(is_reserved_header(name)) << name;
}

// -- list query ---------------------------------------------------------------

namespace {

using params = std::vector<std::pair<std::string, std::string>>;

} // namespace

TEST(parse_list_query, defaults) {
  auto res = parse_list_query({});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->page, 1u);
  EXPECT_EQ(res->page_size, 10u);
  EXPECT_FALSE(res->created_from);
  EXPECT_FALSE(res->created_to);
  res = parse_list_query(params{{"unknown", "x"}, {"PAGE", "abc"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->page, 1u);
}

TEST(parse_list_query, valid_values) {
  auto res = parse_list_query(params{{"page", "3"},
                                     {"pageSize", "100"},
                                     {"initialDate", "2024-01-01T00:00:00Z"},
                                     {"finalDate", "2024-01-02T00:00:00.5Z"}});
  ASSERT_TRUE(res) << wi::text_of(res.error());
  EXPECT_EQ(res->page, 3u);
  EXPECT_EQ(res->page_size, 100u);
  EXPECT_EQ(res->created_from, 1704067200000);
  EXPECT_EQ(res->created_to, 1704153600500);
  res = parse_list_query(params{{"pageSize", "1"}, {"page", "007"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->page_size, 1u);
  EXPECT_EQ(res->page, 7u);
  res = parse_list_query(params{{"page", "4294967295"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->page, 4294967295u);
  // Equal bounds are fine (both inclusive).
  EXPECT_TRUE(parse_list_query(params{{"initialDate", "2024-01-01T00:00:00Z"},
                                      {"finalDate", "2024-01-01T00:00:00Z"}}));
  // Only one bound.
  res = parse_list_query(params{{"finalDate", "2024-01-01T01:00:00+01:00"}});
  ASSERT_TRUE(res);
  EXPECT_FALSE(res->created_from);
  EXPECT_EQ(res->created_to, 1704067200000);
}

TEST(parse_list_query, first_occurrence_wins) {
  auto res = parse_list_query(params{{"page", "2"}, {"page", "abc"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->page, 2u);
  EXPECT_TRUE(fails_with(parse_list_query(params{{"page", "x"}, {"page", "2"}}),
                         errc::invalid_parameter, "page"));
}

TEST(parse_list_query, page_not_an_integer) {
  for (auto bad : {"", "abc", "1.5", "1e3", "+1", " 1", "1 ", "0x10", "--1",
                   "9223372036854775808", "99999999999999999999999"}) {
    EXPECT_TRUE(fails_with(parse_list_query(params{{"page", bad}}),
                           errc::invalid_parameter, "page"))
      << bad;
  }
}

TEST(parse_list_query, page_out_of_range) {
  for (auto bad : {"0", "-1", "-9223372036854775808", "4294967296"}) {
    EXPECT_TRUE(fails_with(parse_list_query(params{{"page", bad}}),
                           errc::validation_failed, "page"))
      << bad;
  }
}

TEST(parse_list_query, page_size) {
  for (auto bad : {"", "ten", "10.0", "+10", "18446744073709551616"}) {
    EXPECT_TRUE(fails_with(parse_list_query(params{{"pageSize", bad}}),
                           errc::invalid_parameter, "pageSize"))
      << bad;
  }
  for (auto bad : {"0", "-5", "101", "1000000"}) {
    EXPECT_TRUE(fails_with(parse_list_query(params{{"pageSize", bad}}),
                           errc::validation_failed, "pageSize"))
      << bad;
  }
}

TEST(parse_list_query, dates) {
  for (auto bad : {"", "2024-01-01", "yesterday", "2024-02-30T00:00:00Z",
                   "2024-01-01T00:00:00"}) {
    EXPECT_TRUE(fails_with(parse_list_query(params{{"initialDate", bad}}),
                           errc::invalid_parameter, "initialDate"))
      << bad;
    EXPECT_TRUE(fails_with(parse_list_query(params{{"finalDate", bad}}),
                           errc::invalid_parameter, "finalDate"))
      << bad;
  }
  EXPECT_TRUE(
    fails_with(parse_list_query(params{{"initialDate", "2024-01-02T00:00:00Z"},
                                       {"finalDate", "2024-01-01T00:00:00Z"}}),
               errc::validation_failed, "initialDate"));
  // One millisecond is enough.
  EXPECT_TRUE(fails_with(
    parse_list_query(params{{"initialDate", "2024-01-01T00:00:00.001Z"},
                            {"finalDate", "2024-01-01T00:00:00Z"}}),
    errc::validation_failed, "initialDate"));
  // Offsets are compared as instants.
  EXPECT_TRUE(
    parse_list_query(params{{"initialDate", "2024-01-01T05:00:00+05:00"},
                            {"finalDate", "2024-01-01T00:00:00Z"}}));
}

TEST(parse_list_query, a_space_in_a_date_is_a_form_decoded_plus) {
  // `?initialDate=2024-01-01T05:00:00+05:00` sent unencoded decodes to a
  // space where the offset's `+` was.
  auto from_plus =
    parse_list_query(params{{"initialDate", "2024-01-01T05:00:00 05:00"},
                            {"finalDate", "2024-01-01T05:00:00+05:00"}});
  ASSERT_TRUE(from_plus);
  EXPECT_EQ(from_plus->created_from, 1704067200000);
  EXPECT_EQ(from_plus->created_to, 1704067200000);
  // A space anywhere else is still no date-time.
  for (auto bad : {"2024-01-01 00:00:00Z", " 2024-01-01T00:00:00Z",
                   "2024-01-01T00:00:00Z ", "2024-01-01T00:00:00  05:00"})
    EXPECT_TRUE(fails_with(parse_list_query(params{{"initialDate", bad}}),
                           errc::invalid_parameter, "initialDate"))
      << bad;
}

TEST(parse_list_query, type_errors_win_over_range_errors) {
  EXPECT_TRUE(
    fails_with(parse_list_query(params{{"page", "0"}, {"pageSize", "x"}}),
               errc::invalid_parameter, "pageSize"));
  EXPECT_TRUE(fails_with(
    parse_list_query(params{{"pageSize", "0"}, {"finalDate", "never"}}),
    errc::invalid_parameter, "finalDate"));
  EXPECT_TRUE(
    fails_with(parse_list_query(params{{"page", "0"}, {"pageSize", "101"}}),
               errc::validation_failed, "page"));
}

// -- endpoint id --------------------------------------------------------------

TEST(parse_endpoint_id, valid) {
  EXPECT_EQ(parse_endpoint_id("0"), wi::endpoint_id{0});
  EXPECT_EQ(parse_endpoint_id("1"), wi::endpoint_id{1});
  EXPECT_EQ(parse_endpoint_id("12345"), wi::endpoint_id{12345});
  EXPECT_EQ(parse_endpoint_id("0042"), wi::endpoint_id{42});
  EXPECT_EQ(parse_endpoint_id("18446744073709551615"),
            wi::endpoint_id{18446744073709551615ull});
}

TEST(parse_endpoint_id, invalid) {
  for (auto bad :
       {"", "-1", "+1", "abc", "1a", "1.0", " 1", "1 ", "0x1",
        "18446744073709551616", "99999999999999999999999", "%31", "list"}) {
    EXPECT_TRUE(
      fails_with(parse_endpoint_id(bad), errc::invalid_parameter, "id"))
      << bad;
  }
}

// -- create tenant ------------------------------------------------------------

TEST(parse_create_tenant, valid) {
  auto res = parse_create_tenant(R"({"name":"Acme Corp","other":1})");
  ASSERT_TRUE(res);
  EXPECT_EQ(*res, "Acme Corp");
  EXPECT_EQ(parse_create_tenant(
              json::serialize(json::object{{"name", std::string(100, 'n')}})),
            std::string(100, 'n'));
  EXPECT_TRUE(parse_create_tenant(
    json::serialize(json::object{{"name", repeat("\xc3\xa9", 100)}})));
}

TEST(parse_create_tenant, invalid) {
  EXPECT_TRUE(fails_with(parse_create_tenant(""), errc::invalid_json, "body"));
  EXPECT_TRUE(
    fails_with(parse_create_tenant("{name}"), errc::invalid_json, "body"));
  EXPECT_TRUE(
    fails_with(parse_create_tenant("[\"x\"]"), errc::invalid_json, "body"));
  EXPECT_TRUE(
    fails_with(parse_create_tenant("{}"), errc::validation_failed, "name"));
  EXPECT_TRUE(fails_with(parse_create_tenant(R"({"name":5})"),
                         errc::invalid_parameter, "name"));
  EXPECT_TRUE(fails_with(parse_create_tenant(R"({"name":null})"),
                         errc::invalid_parameter, "name"));
  EXPECT_TRUE(fails_with(parse_create_tenant(R"({"name":""})"),
                         errc::validation_failed, "name"));
  EXPECT_TRUE(fails_with(parse_create_tenant(json::serialize(
                           json::object{{"name", std::string(101, 'n')}})),
                         errc::validation_failed, "name"));
  EXPECT_TRUE(fails_with(parse_create_tenant(json::serialize(
                           json::object{{"name", repeat("\xc3\xa9", 101)}})),
                         errc::validation_failed, "name"));
  EXPECT_TRUE(fails_with(parse_create_tenant(R"({"name":"a\nb"})"),
                         errc::validation_failed, "name"));
}

// -- publish: the payload's own bytes ----------------------------------------

namespace {

/// The payload `parse_publish` keeps for `payload_text` inside a body.
std::string kept_payload(const std::string& payload_text) {
  auto ev =
    parse_publish(R"({"event_type":"a.b","payload":)" + payload_text + "}", {});
  EXPECT_TRUE(ev) << payload_text;
  return ev ? ev->payload : std::string{};
}

} // namespace

TEST(parse_publish, keeps_the_payload_text_byte_for_byte) {
  for (std::string x :
       {"1.0", "0.1", "1e3", "1E+03", "-0", "-0.0", "12345678901234567890123",
        "18446744073709551616", "3.141592653589793238462643383279",
        R"("\u00e9\/\"")", R"("é€𝄞")", R"({ "a" : [ 1.50 , 2e-7 ] ,"b":{}})",
        "[\n  1,\t2\r\n]", "true", "null", R"("")", "[]",
        R"({"k":"\ud834\udd1e"})"})
    EXPECT_EQ(kept_payload(x), x);
  // Whitespace around the value is not part of it.
  auto ev = parse_publish("{ \"payload\" :\n  {\"a\": 1.0}  ,\n"
                          " \"event_type\":\"a.b\" }",
                          {});
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->payload, R"({"a": 1.0})");
}

TEST(raw_member, finds_the_member_json_parse_keeps) {
  EXPECT_EQ(raw_member(R"({"payload":1,"payload":2.0})", "payload"), "2.0");
  // Escaped names are compared decoded; look-alike strings are values.
  EXPECT_EQ(
    raw_member(R"({"x":"\"payload\":0","pay\u006coad":[1]})", "payload"),
    "[1]");
  EXPECT_EQ(raw_member(R"({"a":{"payload":1}})", "payload"), std::nullopt);
  EXPECT_EQ(raw_member(R"([1])", "payload"), std::nullopt);
  // Agrees with the parser on which duplicate counts.
  auto obj = boost::json::parse(R"({"payload":1,"payload":2.0})").as_object();
  EXPECT_EQ(obj.at("payload"), boost::json::value(2.0));
}

TEST(parse_move_tenant, valid) {
  EXPECT_EQ(parse_move_tenant(R"({"to":"node-2","x":1})"), "node-2");
  EXPECT_EQ(parse_move_tenant(R"({"to":"a.b_C-9"})"), "a.b_C-9");
  EXPECT_EQ(parse_move_tenant(
              json::serialize(json::object{{"to", std::string(64, 'n')}})),
            std::string(64, 'n'));
}

TEST(parse_move_tenant, invalid) {
  EXPECT_TRUE(fails_with(parse_move_tenant(""), errc::invalid_json, "body"));
  EXPECT_TRUE(fails_with(parse_move_tenant("[1]"), errc::invalid_json, "body"));
  EXPECT_TRUE(
    fails_with(parse_move_tenant("{}"), errc::validation_failed, "to"));
  EXPECT_TRUE(fails_with(parse_move_tenant(R"({"to":7})"),
                         errc::invalid_parameter, "to"));
  EXPECT_TRUE(fails_with(parse_move_tenant(R"({"to":null})"),
                         errc::invalid_parameter, "to"));
  for (const auto* bad : {R"({"to":""})", R"({"to":"a/b"})", R"({"to":"a b"})",
                          R"({"to":"\u00e9"})"})
    EXPECT_TRUE(
      fails_with(parse_move_tenant(bad), errc::validation_failed, "to"))
      << bad;
  EXPECT_TRUE(fails_with(parse_move_tenant(json::serialize(
                           json::object{{"to", std::string(65, 'n')}})),
                         errc::validation_failed, "to"));
}

// -- event history and recover (issue 17) -------------------------------------

TEST(parse_event_query, list_parameters_and_event_type) {
  auto q = parse_event_query({{"page", "2"},
                              {"pageSize", "5"},
                              {"event_type", "user.created"},
                              {"event_type", "ignored"},
                              {"initialDate", "2024-01-01T00:00:00Z"}});
  ASSERT_TRUE(q);
  EXPECT_EQ(q->page, 2u);
  EXPECT_EQ(q->page_size, 5u);
  EXPECT_EQ(q->event_type, "user.created");
  EXPECT_EQ(q->created_from, 1'704'067'200'000);
  EXPECT_FALSE(q->created_to);
  EXPECT_TRUE(parse_event_query({})->event_type.empty());
  // The list query's rules first (types before ranges), then event_type.
  EXPECT_TRUE(
    fails_with(parse_event_query({{"event_type", "a b"}, {"pageSize", "x"}}),
               errc::invalid_parameter, "pageSize"));
  EXPECT_TRUE(
    fails_with(parse_event_query({{"event_type", "a b"}, {"pageSize", "0"}}),
               errc::validation_failed, "pageSize"));
  for (const auto& bad : {std::string{}, std::string{"a/b"}, std::string{"*"},
                          std::string(129, 'a')})
    EXPECT_TRUE(fails_with(parse_event_query({{"event_type", bad}}),
                           errc::validation_failed, "event_type"))
      << bad;
}

TEST(parse_recover, since) {
  auto since = parse_recover(R"({"since":"2024-01-01T01:00:00.250+01:00"})");
  ASSERT_TRUE(since);
  EXPECT_EQ(*since, 1'704'067'200'250);
  EXPECT_TRUE(fails_with(parse_recover(""), errc::invalid_json, "body"));
  EXPECT_TRUE(fails_with(parse_recover("[]"), errc::invalid_json, "body"));
  EXPECT_TRUE(
    fails_with(parse_recover("{}"), errc::validation_failed, "since"));
  EXPECT_TRUE(fails_with(parse_recover(R"({"since":null})"),
                         errc::invalid_parameter, "since"));
  EXPECT_TRUE(fails_with(parse_recover(R"({"since":1})"),
                         errc::invalid_parameter, "since"));
  EXPECT_TRUE(fails_with(parse_recover(R"({"since":"2024-01-01"})"),
                         errc::validation_failed, "since"));
  // Types first, then unknown fields, then rules.
  EXPECT_TRUE(fails_with(parse_recover(R"({"x":1,"since":"nope"})"),
                         errc::validation_failed, "x"));
  EXPECT_TRUE(fails_with(parse_recover(R"({"x":1,"since":2})"),
                         errc::invalid_parameter, "since"));
}
