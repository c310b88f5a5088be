#include "http/ui_assets.hpp"

#include <algorithm>

#include "webhook_ingress/error.hpp"

namespace wi::http {

namespace {

constexpr std::string_view ui_root = "/admin/ui";

/// Whether the `If-None-Match` list holds `etag` (or is `*`).
bool matches_etag(std::string_view list, std::string_view etag) noexcept {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    if (item.starts_with("W/"))
      item.remove_prefix(2);
    if (item == "*" || item == etag)
      return true;
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

} // namespace

size_t ui_assets_total_bytes() noexcept {
  size_t total = 0;
  for (const auto& x : ui_assets())
    total += x.body.size();
  return total;
}

bool is_ui_path(std::string_view path) noexcept {
  return path == ui_root ||
         (path.starts_with(ui_root) && path.size() > ui_root.size() &&
          path[ui_root.size()] == '/');
}

caf::expected<ui_answer>
answer_ui(http_method method, std::string_view path,
          std::optional<std::string_view> if_none_match) {
  auto not_found = [] {
    return make_error(errc::route_not_found, "path",
                      "no dashboard file has this path");
  };
  if (!is_ui_path(path))
    return not_found();
  if (method != http_method::get)
    return make_error(errc::method_not_allowed, "method",
                      "the dashboard answers GET only");
  if (path == ui_root)
    return ui_answer{308, nullptr, "/admin/ui/"};
  auto name = path.substr(ui_root.size() + 1);
  if (name.empty())
    name = "index.html";
  auto assets = ui_assets();
  auto it = std::find_if(assets.begin(), assets.end(),
                         [name](const ui_asset& x) { return x.name == name; });
  if (it == assets.end())
    return not_found();
  if (if_none_match && matches_etag(*if_none_match, it->etag))
    return ui_answer{304, &*it, {}};
  return ui_answer{200, &*it, {}};
}

} // namespace wi::http
