// Baseline for bench/api_bench.sh: a bare RESTinio server that does the same
// HTTP and JSON work as webhook-ingress for two endpoint routes, without
// actors, storage or authentication. The ratio "real / bare" measured in one
// run is the cost of everything the real service adds on top of the framework.
//
// Usage: bench_bare_server [--listen HOST:PORT] [--threads N]
//   --listen   address to bind, default 127.0.0.1:0 (port 0: any free port)
//   --threads  size of the RESTinio I/O thread pool, default 2
// Prints "bare listening on http://HOST:PORT" once bound. Stops on SIGINT.

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include <boost/json.hpp>
#include <restinio/all.hpp>

#include "bench_server_main.hpp"

namespace {

namespace json = boost::json;

/// Returns `t` as RFC 3339 UTC with second precision.
std::string rfc3339(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  auto n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf.data(), n);
}

/// Returns 16 random lowercase hex digits (64 bits), as a request id.
std::string make_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr std::string_view digits = "0123456789abcdef";
  auto x = rng();
  std::string out(16, '0');
  for (auto& c : out) {
    c = digits[x & 0xF];
    x >>= 4;
  }
  return out;
}

/// Wraps `data` in the service's success envelope with a fresh `meta`.
std::string envelope(json::object data, const std::string& request_id) {
  json::object meta;
  meta["request_id"] = request_id;
  meta["timestamp"] = rfc3339(std::time(nullptr));
  meta["version"] = "1.0";
  json::object root;
  root["success"] = true;
  root["data"] = std::move(data);
  root["meta"] = std::move(meta);
  return json::serialize(root);
}

/// An endpoint object shaped like the real service's `data`.
json::object endpoint_json(std::uint64_t id, std::string_view url,
                           std::string_view secret, json::array event_types,
                           json::object headers) {
  auto now = rfc3339(std::time(nullptr));
  json::object ep;
  ep["identifier"] = id;
  ep["url"] = url;
  ep["secret"] = secret;
  ep["event_types"] = std::move(event_types);
  ep["headers"] = std::move(headers);
  ep["status"] = "active";
  ep["create_timestamp"] = now;
  ep["last_modified"] = std::move(now);
  return ep;
}

/// Sends `body` with `status` and the headers the real service sets.
restinio::request_handling_status_t reply(const restinio::request_handle_t& req,
                                          restinio::http_status_line_t status,
                                          const std::string& request_id,
                                          std::string body) {
  return req->create_response(std::move(status))
    .append_header(restinio::http_field::content_type, "application/json")
    .append_header("X-Request-Id", request_id)
    .set_body(std::move(body))
    .done();
}

/// Answers a fixed error envelope (the bare server validates nothing else).
restinio::request_handling_status_t
reply_bad_request(const restinio::request_handle_t& req,
                  const std::string& request_id, std::string_view message) {
  json::object err;
  err["code"] = "INVALID_JSON";
  err["message"] = message;
  json::object root;
  root["success"] = false;
  root["error"] = std::move(err);
  return reply(req, restinio::status_bad_request(), request_id,
               json::serialize(root));
}

/// GET /v1/webhook/endpoints/<anything>: a fixed endpoint.
restinio::request_handling_status_t
get_endpoint(const restinio::request_handle_t& req) {
  auto rid = make_request_id();
  json::array types{"user.created"};
  auto data = endpoint_json(1, "https://example.com/hook", "bench-secret-123",
                            std::move(types), {});
  return reply(req, restinio::status_ok(), rid, envelope(std::move(data), rid));
}

/// POST /v1/webhook/endpoints: parses the body, echoes it as a new endpoint.
restinio::request_handling_status_t
create_endpoint(const restinio::request_handle_t& req) {
  // Identifiers grow across all requests, like one tenant's sequence.
  static std::atomic<std::uint64_t> next_id{1};
  auto rid = make_request_id();
  json::error_code ec;
  auto doc = json::parse(req->body(), ec);
  if (ec || !doc.is_object())
    return reply_bad_request(req, rid, "body is not a JSON object");
  auto& obj = doc.as_object();
  auto* url = obj.if_contains("url");
  auto* secret = obj.if_contains("secret");
  auto* types = obj.if_contains("event_types");
  if (!url || !url->is_string() || !secret || !secret->is_string() || !types ||
      !types->is_array())
    return reply_bad_request(req, rid, "url, secret or event_types missing");
  json::object headers;
  if (auto* h = obj.if_contains("headers"); h && h->is_object())
    headers = h->as_object();
  auto data = endpoint_json(next_id.fetch_add(1, std::memory_order_relaxed),
                            url->as_string(), secret->as_string(),
                            types->as_array(), std::move(headers));
  return reply(req, restinio::status_created(), rid,
               envelope(std::move(data), rid));
}

/// Routes by method and path prefix, as cheaply as the real service does.
restinio::request_handling_status_t handle(restinio::request_handle_t req) {
  constexpr std::string_view collection = "/v1/webhook/endpoints";
  std::string_view path = req->header().path();
  auto method = req->header().method();
  if (method == restinio::http_method_get() &&
      path.size() > collection.size() + 1 && path.starts_with(collection) &&
      path[collection.size()] == '/')
    return get_endpoint(req);
  if (method == restinio::http_method_post() && path == collection)
    return create_endpoint(req);
  return req->create_response(restinio::status_not_found())
    .connection_close()
    .done();
}

} // namespace

int main(int argc, char** argv) {
  return bench::serve(argc, argv, "bare", handle);
}
