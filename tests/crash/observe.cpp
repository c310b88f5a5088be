#include "crash/observe.hpp"

#include <chrono>
#include <functional>
#include <string_view>

#include <boost/json/serialize.hpp>

#include "support/api.hpp"
#include "support/http_client.hpp"

namespace json = boost::json;

namespace wi_crash {

namespace {

/// Endpoints per list page: the largest page the API allows.
constexpr int page_size = 100;

/// A short description of an answer for problem reports.
std::string brief(const wi_e2e::http_response& r) {
  auto body = r.body.size() > 300 ? r.body.substr(0, 300) + "..." : r.body;
  return r.method + " " + r.path + " -> " + std::to_string(r.status) + " " +
         body;
}

/// `data` of a success envelope if it is of the wanted kind, else null.
const json::value* data_of(const wi_e2e::http_response& r) {
  if (!r.is_json || !r.json.is_object())
    return nullptr;
  const auto& obj = r.json.get_object();
  const auto* ok = obj.if_contains("success");
  if (ok == nullptr || !ok->is_bool() || !ok->get_bool())
    return nullptr;
  return obj.if_contains("data");
}

/// `obj[key]` as an integer, or -1.
int64_t int_at(const json::object& obj, std::string_view key) {
  if (const auto* v = obj.if_contains(key); v != nullptr && v->is_int64())
    return v->get_int64();
  return -1;
}

/// Reads every list page of one tenant into `view`.
void read_endpoints(wi_e2e::http_session& session, const std::string& token,
                    observation::tenant_view& view,
                    std::vector<std::string>& problems) {
  auto auth = wi_e2e::bearer(token);
  int64_t total = -1;
  for (int64_t page = 1;; ++page) {
    auto path = std::string{wi_e2e::endpoints_path} +
                "/list?pageSize=" + std::to_string(page_size) +
                "&page=" + std::to_string(page);
    auto r = session.request("GET", path, auth);
    if (page == 1)
      view.list_status = r.status;
    if (r.status == 204) {
      if (page == 1 || page > (total + page_size - 1) / page_size)
        break;
      problems.push_back("list page " + std::to_string(page) +
                         " is empty, but total_items is " +
                         std::to_string(total));
      break;
    }
    const auto* data = data_of(r);
    const auto* pagination = r.is_json && r.json.is_object()
                               ? r.json.get_object().if_contains("pagination")
                               : nullptr;
    if (r.status != 200 || data == nullptr || !data->is_array() ||
        pagination == nullptr || !pagination->is_object()) {
      if (page > 1 || r.status == 200)
        problems.push_back("malformed list answer: " + brief(r));
      break;
    }
    const auto& pg = pagination->get_object();
    if (page == 1)
      total = int_at(pg, "total_items");
    else if (int_at(pg, "total_items") != total)
      problems.push_back("total_items changed between pages: " + brief(r));
    for (const auto& item : data->get_array()) {
      if (!item.is_object()) {
        problems.push_back("list item is not an object: " + brief(r));
        return;
      }
      view.items.push_back(item.get_object());
    }
    const auto* next = pg.if_contains("has_next");
    bool has_next = next != nullptr && next->is_bool() && next->get_bool();
    if (!has_next || data->get_array().empty())
      break;
  }
  if (view.list_status == 200 &&
      static_cast<int64_t>(view.items.size()) != total)
    problems.push_back("list pages hold " + std::to_string(view.items.size()) +
                       " endpoints, total_items says " + std::to_string(total));
  auto next = static_cast<int64_t>(view.items.size()) + 1;
  view.next_status =
    session.request("GET", wi_e2e::endpoint_path(next), auth).status;
  // The single-endpoint route must agree with the list for one item: every
  // field of the item, with the same value (GET may show more fields).
  if (view.items.empty())
    return;
  const auto& item =
    view.items[std::hash<std::string>{}(token) % view.items.size()];
  const auto* id = item.if_contains("identifier");
  if (id == nullptr || !id->is_int64())
    return; // the check reports malformed identifiers
  auto one =
    session.request("GET", wi_e2e::endpoint_path(id->get_int64()), auth);
  const auto* data = data_of(one);
  const auto* got = data != nullptr ? data->if_object() : nullptr;
  bool same = one.status == 200 && got != nullptr;
  for (const auto& [key, value] : item) {
    if (!same)
      break;
    const auto* x = got->if_contains(key);
    same = x != nullptr && *x == value;
  }
  if (!same)
    problems.push_back("GET of one endpoint disagrees with the list item " +
                       json::serialize(item) + ": " + brief(one));
}

} // namespace

observation
observe(const std::string& base_url, const std::string& admin_token,
        const std::vector<std::pair<std::string, std::string>>& tokens,
        const std::vector<std::pair<std::string, std::string>>& events,
        const std::vector<repeat_request>& repeats,
        const std::vector<std::string>& token_probes) {
  observation result;
  wi_e2e::http_session session{base_url, std::chrono::seconds{10}};
  // The tenant list is paged: read pages of 100 until an empty one (204).
  for (int page = 1;; ++page) {
    auto r = session.request(
      "GET", "/admin/v1/tenants?pageSize=100&page=" + std::to_string(page),
      wi_e2e::bearer(admin_token));
    if (r.status == 204)
      break;
    const auto* data = data_of(r);
    if (r.status != 200 || data == nullptr || !data->is_array() ||
        data->get_array().empty()) {
      result.problems.push_back("malformed tenant list: " + brief(r));
      break;
    }
    for (const auto& row : data->get_array()) {
      const auto* obj = row.if_object();
      const auto* id = obj ? obj->if_contains("id") : nullptr;
      const auto* name = obj ? obj->if_contains("name") : nullptr;
      const auto* created = obj ? obj->if_contains("created_at") : nullptr;
      const auto* active = obj ? obj->if_contains("active") : nullptr;
      if (!id || !id->is_string() || !name || !name->is_string() || !created ||
          !created->is_string() || !active || !active->is_bool()) {
        result.problems.push_back("malformed tenant row: " +
                                  json::serialize(row));
        continue;
      }
      result.tenants.push_back(
        {std::string{id->get_string()}, std::string{name->get_string()},
         std::string{created->get_string()}, active->get_bool()});
    }
  }
  for (const auto& [tenant_id, token] : tokens)
    read_endpoints(session, token, result.views[tenant_id], result.problems);
  for (const auto& token : token_probes)
    result.token_status[token] =
      session
        .request("GET",
                 std::string{wi_e2e::endpoints_path} + "/list?pageSize=1",
                 wi_e2e::bearer(token))
        .status;
  // The answer of a call as an event view.
  auto view_of = [](const wi_e2e::http_response& r) {
    observation::event_view view;
    view.status = r.status;
    const auto* data = data_of(r);
    if (data != nullptr && data->is_object())
      view.data = data->get_object();
    return view;
  };
  auto lookups = events;
  for (const auto& x : repeats) {
    auto r = session.request("POST", "/v1/webhook/events",
                             wi_e2e::bearer(x.token), x.body);
    auto view = view_of(r);
    if (const auto* id = view.data.if_contains("id");
        id != nullptr && id->is_string())
      lookups.emplace_back(x.token, std::string{id->get_string()});
    result.repeats[x.idempotency_key] = std::move(view);
  }
  for (const auto& [token, id] : lookups) {
    if (result.events.count(id) != 0)
      continue;
    result.events[id] = view_of(session.request(
      "GET", "/v1/webhook/events/" + id, wi_e2e::bearer(token)));
  }
  return result;
}

} // namespace wi_crash
