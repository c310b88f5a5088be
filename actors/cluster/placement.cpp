#include "actors/cluster/placement.hpp"

#include <boost/json.hpp>

namespace wi::cluster {

namespace json = boost::json;

namespace {

/// FNV-1a, 64 bit.
uint64_t fnv1a(std::string_view x) noexcept {
  uint64_t h = 14695981039346656037ull;
  for (auto c : x) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

/// splitmix64's finalizer: spreads every input bit over the output.
uint64_t mix(uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::optional<std::string> string_at(const json::object& obj,
                                     std::string_view name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->value().is_string())
    return std::nullopt;
  return std::string{it->value().get_string()};
}

std::optional<json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object())
    return std::nullopt;
  return std::move(v.get_object());
}

} // namespace

uint64_t rendezvous_score(std::string_view tenant_id,
                          std::string_view node_id) noexcept {
  return mix(fnv1a(node_id) ^ mix(fnv1a(tenant_id)));
}

std::optional<std::string>
rendezvous_owner(std::string_view tenant_id,
                 const std::vector<std::string>& node_ids) {
  const std::string* best = nullptr;
  uint64_t best_score = 0;
  for (const auto& id : node_ids) {
    auto score = rendezvous_score(tenant_id, id);
    if (best == nullptr || score > best_score ||
        (score == best_score && id < *best)) {
      best = &id;
      best_score = score;
    }
  }
  if (best == nullptr)
    return std::nullopt;
  return *best;
}

std::vector<std::string>
placement_candidates(const std::vector<member>& members) {
  std::vector<std::string> result;
  for (const auto& m : members)
    if (m.state == node_state::active)
      result.push_back(m.id);
  return result;
}

std::map<std::string, size_t> count_by_owner(
  const std::map<std::string, placement, std::less<>>& placements) {
  std::map<std::string, size_t> result;
  for (const auto& [tenant, p] : placements)
    ++result[p.owner];
  return result;
}

bool may_acknowledge(
  std::chrono::steady_clock::time_point now,
  std::optional<std::chrono::steady_clock::time_point> last_renewal,
  std::chrono::milliseconds ttl, std::chrono::milliseconds margin) noexcept {
  if (!last_renewal)
    return false;
  return now - *last_renewal < ttl - margin;
}

std::string members_prefix(std::string_view root) {
  return std::string{root} + "/members/";
}

std::string tenants_prefix(std::string_view root) {
  return std::string{root} + "/tenants/";
}

std::string encode_member(const member& x) {
  return json::serialize(json::object{{"id", x.id},
                                      {"http", x.http},
                                      {"peer", x.peer},
                                      {"state", to_string(x.state)}});
}

std::optional<member> decode_member(std::string_view text) {
  auto obj = parse_object(text);
  if (!obj)
    return std::nullopt;
  auto id = string_at(*obj, "id");
  auto http = string_at(*obj, "http");
  auto peer = string_at(*obj, "peer");
  auto state_name = string_at(*obj, "state");
  if (!id || id->empty() || !http || !peer || !state_name)
    return std::nullopt;
  auto state = parse_node_state(*state_name);
  if (!state)
    return std::nullopt;
  return member{std::move(*id), std::move(*http), std::move(*peer), *state};
}

std::string encode_placement(const placement& x) {
  json::object obj{{"owner", x.owner}, {"epoch", x.epoch}};
  if (!x.backup.empty())
    obj["backup"] = x.backup;
  return json::serialize(obj);
}

std::optional<placement> decode_placement(std::string_view text) {
  auto obj = parse_object(text);
  if (!obj)
    return std::nullopt;
  auto owner = string_at(*obj, "owner");
  auto it = obj->find("epoch");
  if (!owner || owner->empty() || it == obj->end())
    return std::nullopt;
  uint64_t epoch = 0;
  if (it->value().is_uint64())
    epoch = it->value().get_uint64();
  else if (it->value().is_int64() && it->value().get_int64() >= 0)
    epoch = static_cast<uint64_t>(it->value().get_int64());
  else
    return std::nullopt;
  std::string backup;
  if (auto b = obj->find("backup"); b != obj->end()) {
    if (!b->value().is_string())
      return std::nullopt;
    backup = std::string{b->value().get_string()};
  }
  return placement{std::move(*owner), epoch, std::move(backup)};
}

} // namespace wi::cluster
