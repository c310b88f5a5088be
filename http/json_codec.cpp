#include "http/json_codec.hpp"

#include <cmath>
#include <cstdint>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include "http/time_format.hpp"

namespace wi::http {

namespace {

/// Rounds a statistic to 3 decimals and writes whole values as integers:
/// Boost.JSON prints every double in exponent form (`0E0`, `7E1`), which is
/// valid JSON but needlessly hard to read.
boost::json::value json_number(double x) {
  auto rounded = std::round(x * 1000.0) / 1000.0;
  if (std::abs(rounded) < 1e15 && rounded == std::trunc(rounded))
    return static_cast<int64_t>(rounded);
  return rounded;
}

} // namespace

namespace json = boost::json;

json::object to_json(const wi::endpoint& x) {
  json::object result;
  result.reserve(11);
  result["identifier"] = x.id;
  result["url"] = x.url;
  result["secret"] = x.secret;
  json::array types;
  types.reserve(x.event_types.size());
  for (const auto& type : x.event_types)
    types.emplace_back(type);
  result["event_types"] = std::move(types);
  json::object headers;
  headers.reserve(x.headers.size());
  for (const auto& [name, value] : x.headers)
    headers.emplace(name, value);
  result["headers"] = std::move(headers);
  result["status"] = wi::to_string(x.status);
  result["create_timestamp"] = format_rfc3339(x.created_at);
  result["last_modified"] = format_rfc3339(x.last_modified);
  if (!x.description.empty())
    result["description"] = x.description;
  if (x.rate_limit != 0) // absent when unlimited (issue 17)
    result["rate_limit"] = x.rate_limit;
  result["ordering"] = wi::to_string(x.ordering);
  return result;
}

json::object to_json(const wi::secret_info& x) {
  json::object result;
  result["secret"] = x.secret;
  if (!x.previous.empty())
    result["previous"] = json::object{
      {"secret", x.previous},
      {"expires_at", format_rfc3339(x.previous_expires_at / 1000)}};
  return result;
}

json::object rotation_json(const wi::secret_info& x) {
  json::object result;
  result["secret"] = x.secret;
  result["previous_expires_at"] = format_rfc3339(x.previous_expires_at / 1000);
  return result;
}

json::object to_json(const wi::endpoint_stats& x) {
  json::object result;
  result.reserve(10);
  result["id"] = x.ep.id;
  result["endpoint"] = to_json(x.ep);
  result["total_attempts"] = x.total_attempts;
  result["successful_attempts"] = x.successful_attempts;
  result["failed_attempts"] = x.failed_attempts;
  result["success_rate"] = json_number(x.success_rate);
  result["average_response_time_ms"] = json_number(x.average_response_time_ms);
  result["pending_events"] = x.pending_events;
  add_breaker(result, x.breaker);
  result["p50_response_time_ms"] = json_number(x.p50_response_time_ms);
  result["p95_response_time_ms"] = json_number(x.p95_response_time_ms);
  if (x.last_success_at)
    result["last_success_at"] = format_rfc3339(*x.last_success_at / 1000);
  if (x.last_failure_at)
    result["last_failure_at"] = format_rfc3339(*x.last_failure_at / 1000);
  return result;
}

json::object to_json(const wi::tenant_info& x) {
  json::object result;
  result.reserve(5);
  result["id"] = x.id;
  result["name"] = x.name;
  result["created_at"] = format_rfc3339(x.created_at);
  result["active"] = x.active;
  if (!x.token.empty())
    result["token"] = x.token;
  return result;
}

json::object pagination_json(const wi::endpoint_page& x) {
  return pagination_json(x.page, x.page_size, x.total_items);
}

json::object pagination_json(uint32_t page, uint32_t page_size,
                             uint64_t total_items) {
  uint64_t total_pages = 0;
  if (page_size > 0)
    total_pages = total_items / page_size + (total_items % page_size != 0);
  json::object result;
  result.reserve(6);
  result["page"] = page;
  result["page_size"] = page_size;
  result["total_items"] = total_items;
  result["total_pages"] = total_pages;
  result["has_next"] = page < total_pages;
  result["has_prev"] = page > 1;
  return result;
}

void add_breaker(json::object& out, const wi::breaker_state& b) {
  out["status_reason"] = b.reason;
  out["consecutive_failures"] = b.consecutive_failures;
  if (b.disabled_at != 0)
    out["disabled_at"] = format_rfc3339(b.disabled_at / 1000);
  if (b.next_probe_at != 0)
    out["next_probe_at"] = format_rfc3339(b.next_probe_at / 1000);
}

json::object to_json(const wi::endpoint_view& x) {
  auto result = to_json(x.ep);
  add_breaker(result, x.breaker);
  return result;
}

json::object to_json(const wi::event_receipt& x) {
  json::object result;
  result["id"] = x.id;
  result["event_type"] = x.event_type;
  result["created_at"] = format_rfc3339(x.created_at / 1000);
  result["endpoints"] = x.endpoints;
  result["duplicate"] = x.duplicate;
  return result;
}

json::object to_json(const wi::delivery_state& x) {
  json::object result;
  result["endpoint"] = x.endpoint;
  result["status"] = to_string(x.status);
  result["attempts"] = x.attempts;
  if (x.status == wi::delivery_status::pending)
    result["next_attempt_at"] = format_rfc3339(x.next_attempt_at / 1000);
  if (!x.reason.empty())
    result["reason"] = x.reason;
  return result;
}

json::object to_json(const wi::event_state& x) {
  json::object result;
  result["id"] = x.id;
  result["event_type"] = x.type;
  result["created_at"] = format_rfc3339(x.created_at / 1000);
  if (!x.idempotency_key.empty())
    result["idempotency_key"] = x.idempotency_key;
  if (!x.ordering_key.empty())
    result["ordering_key"] = x.ordering_key;
  json::array deliveries;
  for (const auto& d : x.deliveries)
    deliveries.push_back(to_json(d));
  result["deliveries"] = std::move(deliveries);
  return result;
}

json::object to_json(const wi::attempt_info& x) {
  json::object result;
  result["event_id"] = x.event_id;
  result["attempt"] = x.attempt;
  result["at"] = format_rfc3339(x.at / 1000);
  result["status_code"] = x.status_code;
  result["latency_ms"] = x.latency_ms;
  result["error"] = x.error;
  result["response_excerpt"] = x.response_excerpt;
  return result;
}

} // namespace wi::http
