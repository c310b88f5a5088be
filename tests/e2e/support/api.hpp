#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "support/http_client.hpp"

namespace wi_e2e {

/// A tenant as `POST /admin/v1/tenants` returned it.
struct tenant {
  std::string id;
  std::string name;
  std::string token;
  /// The whole `data` object of the 201 answer.
  boost::json::object data;
};

/// The collection route, `/v1/webhook/endpoints`.
inline constexpr std::string_view endpoints_path = "/v1/webhook/endpoints";

/// `/v1/webhook/endpoints/<id><suffix>`, e.g. suffix `"/disable"`.
std::string endpoint_path(std::string_view id, std::string_view suffix = "");
std::string endpoint_path(int64_t id, std::string_view suffix = "");

/// `POST /admin/v1/tenants`; throws (with the exchange) unless 201.
tenant create_tenant(const http_client& client, std::string_view admin_token,
                     std::string_view name);

/// A create request as a JSON object.
boost::json::object endpoint_request(
  std::string_view url = "https://example.com/hook",
  std::string_view secret = "s3cr3t-value",
  const std::vector<std::string>& event_types = {"user.created"});

/// `POST /v1/webhook/endpoints` with `body`; throws unless 201. Returns
/// `data`.
boost::json::object
create_endpoint(const http_client& client, std::string_view token,
                const boost::json::object& body = endpoint_request());

/// `GET /v1/webhook/endpoints/<id>`; throws unless 200. Returns `data`.
boost::json::object get_endpoint(const http_client& client,
                                 std::string_view token, int64_t id);

/// A random lower-case hex string of `n` characters.
std::string random_hex(size_t n);

} // namespace wi_e2e
