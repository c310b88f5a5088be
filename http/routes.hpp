#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace wi::http {

/// The HTTP methods the router distinguishes; anything else is `other`.
enum class http_method { get, post, put, del, patch, head, options, other };

/// Parses a request method. Methods are case-sensitive (RFC 7231): `"GET"`
/// is `get`, `"get"` is `other`.
[[nodiscard]] http_method parse_method(std::string_view x) noexcept;

/// Returns the method's wire name, e.g. `"DELETE"` for `del`, `"OTHER"` for
/// `other`.
[[nodiscard]] std::string_view to_string(http_method x) noexcept;

/// Identifies one handler of the service.
enum class route_id {
  healthz,
  readyz,
  admin_create_tenant,
  admin_list_tenants,
  admin_node,
  admin_cluster,
  admin_drain_node,
  admin_get_tenant,
  admin_deactivate_tenant,
  admin_rotate_token,
  admin_get_endpoint,
  admin_snapshot,
  admin_patch_tenant,
  admin_move_tenant,
  admin_unpin_tenant,
  create_endpoint,
  list_endpoints,
  get_endpoint,
  disable_endpoint,
  enable_endpoint,
  get_statistics,
  list_attempts,
  resend_event,
  publish_event,
  get_event,
  openapi,
  metrics,
  // Endpoint lifecycle (issue 17).
  update_endpoint,
  delete_endpoint,
  rotate_secret,
  get_secret,
  // The admin dashboard's routes (issue 18).
  admin_list_endpoints,
  admin_disable_endpoint,
  admin_enable_endpoint,
  admin_resend_event,
  // Batch ingestion (issue 19).
  publish_batch,
  // Event history and recover (issue 17).
  list_events,
  event_attempts,
  recover_endpoint,
};

/// One entry of the routing table.
struct route_info {
  /// The method this route answers.
  http_method method;
  /// The path template, e.g. `"/v1/webhook/endpoints/{id}"`; static storage.
  std::string_view path_template;
  /// The handler.
  route_id id;
};

/// Returns the routing table. Two methods on one path are two entries
/// (`/statistics` answers both PUT and GET with `get_statistics`). The
/// vector is immutable and lives until the program ends; thread-safe.
[[nodiscard]] const std::vector<route_info>& all_routes();

/// The result of routing a request.
struct route_match {
  /// The handler.
  route_id id;
  /// The matched template; static storage.
  std::string_view path_template;
  /// The raw `{id}` path segment (not decoded, not validated: see
  /// `parse_endpoint_id`), empty if the template has none. Points into the
  /// `path` given to `match_route`.
  std::string_view id_param;
  /// The raw second parameter segment (`{event_id}`), empty if none.
  std::string_view sub_param;
};

/// Routes a request. `path` is the request target without the query string,
/// not percent-decoded. Segments are split on '/'; an empty segment (a
/// trailing slash, `//`, or the bare `/`) matches nothing. Literal segments
/// win over `{id}`: `/v1/webhook/endpoints/list` is only the list route.
/// Fails with `errc::route_not_found` if no template matches the path and
/// with `errc::method_not_allowed` if one matches but not for `method` (see
/// `allowed_methods` for the `Allow` header). No allocation on success;
/// thread-safe.
[[nodiscard]] caf::expected<route_match> match_route(http_method method,
                                                     std::string_view path);

/// Returns the methods that `path` answers, e.g. `"GET, PUT"`, in the order
/// GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS; an empty string if no
/// template matches `path`. For the `Allow` header of a 405 response.
[[nodiscard]] std::string allowed_methods(std::string_view path);

/// Returns the OpenAPI 3.0.3 document (JSON) of every route in `all_routes()`:
/// docs/openapi.json, embedded at build time (see CMakeLists.txt). Static
/// storage; served by `GET /openapi.json`.
[[nodiscard]] std::string_view openapi_document() noexcept;

} // namespace wi::http
