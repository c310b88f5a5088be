// The log formatters: text (spdlog's default pattern) and json (one object
// per line with logfmt fields lifted into members).

#include "config.hpp"

#include <sstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

namespace json = boost::json;

namespace {

/// Logs `text` at `level` through a fresh logger with the given format and
/// returns what it wrote.
std::string log_line(std::string_view format, spdlog::level::level_enum level,
                     std::string_view text) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger{"test", sink};
  auto formatter = wi::make_log_formatter(format);
  EXPECT_NE(formatter, nullptr);
  logger.set_formatter(std::move(formatter));
  logger.set_level(spdlog::level::trace);
  logger.log(level, "{}", text);
  return out.str();
}

json::object json_line(spdlog::level::level_enum level, std::string_view text) {
  auto line = log_line("json", level, text);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
  boost::system::error_code ec;
  auto value = json::parse(line, ec);
  EXPECT_FALSE(ec) << line;
  if (ec || !value.is_object())
    return {};
  return value.as_object();
}

/// The string member `key` of `obj`, or a marker when absent or no string.
std::string str(const json::object& obj, std::string_view key) {
  auto* v = obj.if_contains(key);
  if (v == nullptr || !v->is_string())
    return "<no string " + std::string{key} + ">";
  return std::string{v->as_string()};
}

} // namespace

TEST(log_format, json_has_time_level_and_msg) {
  auto obj = json_line(spdlog::level::warn,
                       "tenant t1 endpoint 3 disabled by the circuit breaker "
                       "(gone)");
  EXPECT_EQ(str(obj, "level"), "warn");
  EXPECT_EQ(str(obj, "msg"),
            "tenant t1 endpoint 3 disabled by the circuit breaker (gone)");
  auto time = obj.at("time").as_string();
  // 2026-01-02T03:04:05.678Z
  ASSERT_EQ(time.size(), 24u) << time;
  EXPECT_EQ(time[10], 'T');
  EXPECT_EQ(time[19], '.');
  EXPECT_EQ(time[23], 'Z');
  EXPECT_EQ(obj.size(), 3u);
  EXPECT_EQ(str(json_line(spdlog::level::err, "x"), "level"), "error");
  EXPECT_EQ(str(json_line(spdlog::level::info, "x"), "level"), "info");
}

TEST(log_format, json_lifts_trailing_logfmt_pairs_into_fields) {
  auto obj = json_line(spdlog::level::info,
                       "request method=GET route=/v1/webhook/endpoints/{id} "
                       "status=200 latency_ms=0.412 request_id=\"0123\"");
  EXPECT_EQ(str(obj, "msg"), "request");
  EXPECT_EQ(str(obj, "method"), "GET");
  EXPECT_EQ(str(obj, "route"), "/v1/webhook/endpoints/{id}");
  EXPECT_EQ(obj.at("status"), 200);
  EXPECT_DOUBLE_EQ(obj.at("latency_ms").as_double(), 0.412);
  // Quoted values stay strings even when they look like numbers.
  EXPECT_EQ(str(obj, "request_id"), "0123");
  auto spaced = json_line(spdlog::level::info, "x note=\"a \\\"b\\\" c\"");
  EXPECT_EQ(str(spaced, "msg"), "x");
  EXPECT_EQ(str(spaced, "note"), "a \"b\" c");
}

TEST(log_format, json_keeps_text_that_is_not_a_trailing_pair) {
  for (std::string_view text :
       {"a=b in the middle of text", "only=pair", "ends with = sign",
        "ready; -d '{\"name\":\"acme\"}' http://127.0.0.1:8080/admin",
        "weird Key=1", "reserved msg=1", "unbalanced \"quote"}) {
    SCOPED_TRACE(text);
    auto obj = json_line(spdlog::level::info, text);
    EXPECT_EQ(str(obj, "msg"), text);
    EXPECT_EQ(obj.size(), 3u);
  }
  auto obj = json_line(spdlog::level::info, "listening address=http://h:1");
  EXPECT_EQ(str(obj, "msg"), "listening");
  EXPECT_EQ(str(obj, "address"), "http://h:1");
  auto zero = json_line(spdlog::level::info, "x code=007");
  EXPECT_EQ(str(zero, "code"), "007"); // not a JSON number
}

TEST(log_format, json_escapes_control_characters_and_bad_utf8) {
  auto obj = json_line(spdlog::level::info,
                       std::string{"line\nbreak\t\"q\" \\ \x01 \xff \xc3\xa9"});
  EXPECT_EQ(str(obj, "msg"),
            std::string{"line\nbreak\t\"q\" \\ \x01 \xef\xbf\xbd \xc3\xa9"});
}

TEST(log_format, text_is_spdlogs_default_pattern) {
  auto line = log_line("text", spdlog::level::info, "hello k=v");
  EXPECT_NE(line.find("[test] [info] hello k=v"), std::string::npos) << line;
  EXPECT_EQ(wi::make_log_formatter("xml"), nullptr);
}
