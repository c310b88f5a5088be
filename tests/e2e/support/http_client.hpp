#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

namespace wi_e2e {

/// Request headers in sending order (name, value).
using header_list = std::vector<std::pair<std::string, std::string>>;

/// One HTTP exchange: what was sent and what came back.
struct http_response {
  // -- request ---------------------------------------------------------------
  std::string method;
  std::string path;
  header_list request_headers;
  std::optional<std::string> request_body;

  // -- response --------------------------------------------------------------
  long status = 0;
  /// Response headers by lower-case name (the last value wins).
  std::map<std::string, std::string> headers;
  std::string body;
  /// The parsed body; null if the body is empty or not JSON.
  boost::json::value json;
  /// Whether `body` parsed as JSON.
  bool is_json = false;
  /// Connections libcurl opened for this exchange (0: reused one).
  long new_connections = 0;

  /// Value of the header `name` (any case), or empty if absent.
  std::string header(std::string_view name) const;
  /// Whether the header `name` (any case) is present.
  bool has_header(std::string_view name) const;
  /// `json.at("data")`; throws with this exchange in the message if absent.
  const boost::json::value& data() const;
  /// `json.at("error")`; throws with this exchange in the message if absent.
  const boost::json::object& error() const;
};

/// Prints the request and the response, for assertion messages.
std::ostream& operator<<(std::ostream& os, const http_response& r);

/// Per-request options.
struct request_options {
  /// Send the body with `Transfer-Encoding: chunked` (no Content-Length),
  /// in chunks of at most 1000 bytes.
  bool chunked = false;
};

/// A blocking libcurl client for one base URL (`http://127.0.0.1:<port>`).
/// Each request uses a fresh easy handle: safe to use from many threads.
/// Transport failures (refused, reset, timeout) throw `std::runtime_error`.
class http_client {
 public:
  explicit http_client(std::string base_url,
                       std::chrono::milliseconds timeout = std::chrono::seconds{
                         10});

  /// Sends `method path` with `headers` and, if given, `body`.
  http_response request(std::string_view method, std::string_view path,
                        const header_list& headers = {},
                        std::optional<std::string> body = std::nullopt,
                        const request_options& opts = {}) const;

  http_response get(std::string_view path,
                    const header_list& headers = {}) const {
    return request("GET", path, headers);
  }

  http_response post(std::string_view path, std::string body,
                     const header_list& headers = {}) const {
    return request("POST", path, headers, std::move(body));
  }

  http_response put(std::string_view path,
                    const header_list& headers = {}) const {
    return request("PUT", path, headers, std::string{});
  }

  const std::string& base_url() const noexcept { return base_url_; }

 private:
  std::string base_url_;
  std::chrono::milliseconds timeout_;
};

/// Like `http_client`, but all requests go through one libcurl handle, so
/// the connection is kept alive and reused between requests (as long as the
/// server keeps it open). Not thread-safe.
class http_session {
 public:
  explicit http_session(
    std::string base_url,
    std::chrono::milliseconds timeout = std::chrono::seconds{10});
  ~http_session();
  http_session(const http_session&) = delete;
  http_session& operator=(const http_session&) = delete;

  http_response request(std::string_view method, std::string_view path,
                        const header_list& headers = {},
                        std::optional<std::string> body = std::nullopt,
                        const request_options& opts = {});

 private:
  std::string base_url_;
  std::chrono::milliseconds timeout_;
  void* handle_ = nullptr; // CURL*
};

/// `{"Authorization", "Bearer " + token}`.
header_list bearer(std::string_view token);

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
std::string url_encode(std::string_view x);

} // namespace wi_e2e
