#include "http/envelope.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <random>
#include <thread>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "http/error_mapping.hpp"
#include "http/json_codec.hpp"
#include "http/time_format.hpp"
#include "webhook_ingress/error.hpp"

namespace wi::http {

namespace json = boost::json;

namespace {

json::object meta_json(const response_meta& meta) {
  json::object result;
  result.reserve(3);
  result["request_id"] = meta.request_id;
  result["timestamp"] = meta.timestamp;
  result["version"] = api_version;
  return result;
}

std::mt19937_64 make_engine() {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  std::seed_seq seq{rd(),
                    rd(),
                    rd(),
                    rd(),
                    static_cast<unsigned>(counter.fetch_add(1)),
                    static_cast<unsigned>(
                      std::hash<std::thread::id>{}(std::this_thread::get_id())),
                    static_cast<unsigned>(now_unix_seconds())};
  return std::mt19937_64{seq};
}

} // namespace

response_meta make_response_meta(std::string_view incoming) {
  response_meta result;
  if (valid_request_id(incoming))
    result.request_id = incoming;
  else
    result.request_id = make_request_id();
  result.timestamp = now_rfc3339();
  return result;
}

std::string success_body(json::value data, const response_meta& meta) {
  json::object body;
  body.reserve(3);
  body["success"] = true;
  body["data"] = std::move(data);
  body["meta"] = meta_json(meta);
  return json::serialize(body);
}

std::string page_body(const wi::endpoint_page& page,
                      const response_meta& meta) {
  json::array items;
  items.reserve(page.items.size());
  for (const auto& ep : page.items)
    items.emplace_back(to_json(ep));
  return page_body(std::move(items), pagination_json(page), meta);
}

std::string page_body(boost::json::array items, boost::json::object pagination,
                      const response_meta& meta) {
  json::object body;
  body.reserve(4);
  body["success"] = true;
  body["data"] = std::move(items);
  body["pagination"] = std::move(pagination);
  body["meta"] = meta_json(meta);
  return json::serialize(body);
}

json::object error_json(const caf::error& err) {
  json::object error;
  error.reserve(3);
  error["code"] = map_error(err).code;
  error["message"] = wi::text_of(err);
  if (auto field = wi::field_of(err); !field.empty())
    error["field"] = std::move(field);
  if (auto seconds = wi::retry_after_of(err))
    error["retry_after_seconds"] = *seconds; // as in Retry-After
  return error;
}

std::string error_body(const caf::error& err, const response_meta& meta) {
  json::object body;
  body.reserve(4);
  body["success"] = false;
  body["data"] = nullptr;
  body["error"] = error_json(err);
  body["meta"] = meta_json(meta);
  return json::serialize(body);
}

std::string make_request_id() {
  thread_local std::mt19937_64 engine = make_engine();
  static constexpr char digits[] = "0123456789abcdef";
  auto bits = engine();
  std::string result(16, '0');
  for (size_t i = 0; i < 16; ++i) {
    result[15 - i] = digits[bits & 0xF];
    bits >>= 4;
  }
  return result;
}

bool valid_request_id(std::string_view x) noexcept {
  if (x.empty() || x.size() > 128)
    return false;
  for (char c : x)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
          c == '-'))
      return false;
  return true;
}

} // namespace wi::http
