#include "http/routes.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "webhook_ingress/error.hpp"

namespace wi::http {

namespace {

/// Longest path (in segments) any route accepts; longer paths never match.
constexpr size_t max_segments = 8;

/// A path split on '/'.
struct split_path {
  std::array<std::string_view, max_segments> segments;
  size_t size = 0;
};

/// Splits an absolute path into segments; nullopt if it is not absolute, has
/// an empty segment or more than `max_segments` segments.
std::optional<split_path> split(std::string_view path) noexcept {
  if (path.empty() || path.front() != '/')
    return std::nullopt;
  split_path result;
  size_t pos = 1;
  for (;;) {
    auto next = path.find('/', pos);
    auto seg =
      path.substr(pos, next == std::string_view::npos ? std::string_view::npos
                                                      : next - pos);
    if (seg.empty() || result.size == max_segments)
      return std::nullopt;
    result.segments[result.size++] = seg;
    if (next == std::string_view::npos)
      return result;
    pos = next + 1;
  }
}

/// A route with its template pre-split.
struct compiled_route {
  route_info info;
  split_path tpl;
  /// Index of the first parameter segment (`{id}`), or `max_segments` if
  /// none.
  size_t param_index = max_segments;
  /// Index of the second parameter segment (e.g. `{event_id}`), or
  /// `max_segments` if none.
  size_t sub_param_index = max_segments;
  /// Specificity: bit (max_segments - 1 - i) is set if segment i is a
  /// parameter. Lower is more specific (literals win from left to right).
  uint32_t rank = 0;
};

/// Whether a template segment is a parameter (`{...}`).
bool is_param(std::string_view segment) noexcept {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

const std::vector<route_info>& routes_table() {
  using m = http_method;
  using r = route_id;
  static const std::vector<route_info> table{
    {m::get, "/healthz", r::healthz},
    {m::get, "/readyz", r::readyz},
    {m::post, "/admin/v1/tenants", r::admin_create_tenant},
    {m::get, "/admin/v1/tenants", r::admin_list_tenants},
    {m::get, "/admin/v1/tenants/{id}", r::admin_get_tenant},
    {m::del, "/admin/v1/tenants/{id}", r::admin_deactivate_tenant},
    {m::patch, "/admin/v1/tenants/{id}", r::admin_patch_tenant},
    {m::post, "/admin/v1/tenants/{id}/tokens", r::admin_rotate_token},
    {m::post, "/admin/v1/tenants/{id}/move", r::admin_move_tenant},
    {m::del, "/admin/v1/tenants/{id}/pin", r::admin_unpin_tenant},
    {m::get, "/admin/v1/tenants/{id}/endpoints/{eid}", r::admin_get_endpoint},
    {m::post, "/admin/v1/snapshot", r::admin_snapshot},
    {m::get, "/admin/v1/node", r::admin_node},
    {m::get, "/admin/v1/cluster", r::admin_cluster},
    {m::post, "/admin/v1/cluster/nodes/{id}/drain", r::admin_drain_node},
    {m::post, "/v1/webhook/endpoints", r::create_endpoint},
    {m::get, "/v1/webhook/endpoints/list", r::list_endpoints},
    {m::get, "/v1/webhook/endpoints/{id}", r::get_endpoint},
    {m::put, "/v1/webhook/endpoints/{id}/disable", r::disable_endpoint},
    {m::put, "/v1/webhook/endpoints/{id}/enable", r::enable_endpoint},
    {m::put, "/v1/webhook/endpoints/{id}/statistics", r::get_statistics},
    {m::get, "/v1/webhook/endpoints/{id}/statistics", r::get_statistics},
    {m::get, "/v1/webhook/endpoints/{id}/attempts", r::list_attempts},
    {m::post, "/v1/webhook/endpoints/{id}/resend/{event_id}", r::resend_event},
    {m::post, "/v1/webhook/events", r::publish_event},
    {m::get, "/v1/webhook/events/{id}", r::get_event},
    {m::get, "/openapi.json", r::openapi},
    {m::get, "/metrics", r::metrics},
    {m::patch, "/v1/webhook/endpoints/{id}", r::update_endpoint},
    {m::del, "/v1/webhook/endpoints/{id}", r::delete_endpoint},
    {m::post, "/v1/webhook/endpoints/{id}/secret/rotate", r::rotate_secret},
    {m::get, "/v1/webhook/endpoints/{id}/secret", r::get_secret},
    // The admin dashboard's routes (issue 18).
    {m::get, "/admin/v1/tenants/{id}/endpoints", r::admin_list_endpoints},
    {m::put, "/admin/v1/tenants/{id}/endpoints/{eid}/disable",
     r::admin_disable_endpoint},
    {m::put, "/admin/v1/tenants/{id}/endpoints/{eid}/enable",
     r::admin_enable_endpoint},
    {m::post, "/admin/v1/tenants/{id}/endpoints/{eid}/resend",
     r::admin_resend_event},
    {m::post, "/v1/webhook/events/batch", r::publish_batch},
    {m::get, "/v1/webhook/events", r::list_events},
    {m::get, "/v1/webhook/events/{id}/attempts", r::event_attempts},
    {m::post, "/v1/webhook/endpoints/{id}/recover", r::recover_endpoint},
  };
  return table;
}

std::vector<compiled_route> compile() {
  std::vector<compiled_route> result;
  for (const auto& info : routes_table()) {
    compiled_route x{info, *split(info.path_template)};
    for (size_t i = 0; i < x.tpl.size; ++i) {
      if (is_param(x.tpl.segments[i])) {
        (x.param_index == max_segments ? x.param_index : x.sub_param_index) = i;
        x.rank |= uint32_t{1} << (max_segments - 1 - i);
      }
    }
    result.push_back(x);
  }
  return result;
}

const std::vector<compiled_route>& compiled() {
  static const std::vector<compiled_route> table = compile();
  return table;
}

bool matches(const compiled_route& x, const split_path& path) noexcept {
  if (x.tpl.size != path.size)
    return false;
  for (size_t i = 0; i < path.size; ++i)
    if (i != x.param_index && i != x.sub_param_index &&
        x.tpl.segments[i] != path.segments[i])
      return false;
  return true;
}

/// Returns the template that wins for `path`, or an empty view.
std::string_view best_template(const split_path& path) noexcept {
  std::string_view best;
  uint32_t best_rank = UINT32_MAX;
  for (const auto& x : compiled()) {
    if (x.rank < best_rank && matches(x, path)) {
      best = x.info.path_template;
      best_rank = x.rank;
    }
  }
  return best;
}

} // namespace

http_method parse_method(std::string_view x) noexcept {
  if (x == "GET")
    return http_method::get;
  if (x == "POST")
    return http_method::post;
  if (x == "PUT")
    return http_method::put;
  if (x == "DELETE")
    return http_method::del;
  if (x == "PATCH")
    return http_method::patch;
  if (x == "HEAD")
    return http_method::head;
  if (x == "OPTIONS")
    return http_method::options;
  return http_method::other;
}

std::string_view to_string(http_method x) noexcept {
  switch (x) {
  case http_method::get:
    return "GET";
  case http_method::post:
    return "POST";
  case http_method::put:
    return "PUT";
  case http_method::del:
    return "DELETE";
  case http_method::patch:
    return "PATCH";
  case http_method::head:
    return "HEAD";
  case http_method::options:
    return "OPTIONS";
  case http_method::other:
    break;
  }
  return "OTHER";
}

const std::vector<route_info>& all_routes() {
  return routes_table();
}

caf::expected<route_match> match_route(http_method method,
                                       std::string_view path) {
  auto segs = split(path);
  if (!segs)
    return wi::make_error(errc::route_not_found, "path",
                          "no route matches the path");
  auto tpl = best_template(*segs);
  if (tpl.empty())
    return wi::make_error(errc::route_not_found, "path",
                          "no route matches the path");
  for (const auto& x : compiled()) {
    if (x.info.path_template == tpl && x.info.method == method) {
      route_match result{x.info.id, x.info.path_template, {}, {}};
      if (x.param_index < segs->size)
        result.id_param = segs->segments[x.param_index];
      if (x.sub_param_index < segs->size)
        result.sub_param = segs->segments[x.sub_param_index];
      return result;
    }
  }
  return wi::make_error(errc::method_not_allowed, "method",
                        "method " + std::string{to_string(method)} +
                          " is not allowed on this path");
}

std::string allowed_methods(std::string_view path) {
  std::string result;
  auto segs = split(path);
  if (!segs)
    return result;
  auto tpl = best_template(*segs);
  if (tpl.empty())
    return result;
  for (auto m :
       {http_method::get, http_method::post, http_method::put, http_method::del,
        http_method::patch, http_method::head, http_method::options}) {
    for (const auto& x : compiled()) {
      if (x.info.path_template == tpl && x.info.method == m) {
        if (!result.empty())
          result += ", ";
        result += to_string(m);
        break;
      }
    }
  }
  return result;
}

} // namespace wi::http
