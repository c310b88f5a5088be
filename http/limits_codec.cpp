#include "http/limits_codec.hpp"

#include <string>

#include "http/validation.hpp"
#include "webhook_ingress/error.hpp"

namespace wi::http {

namespace json = boost::json;

namespace {

std::string field_name(std::string_view name) {
  return "limits." + std::string{name};
}

std::string known_limits() {
  std::string out;
  for (auto name : limit_names)
    out += (out.empty() ? "" : ", ") + std::string{name};
  return out;
}

} // namespace

caf::expected<limits_patch> parse_limits_patch(std::string_view body) {
  auto obj = parse_object(body);
  if (!obj)
    return std::move(obj.error());
  const json::value* limits = obj->if_contains("limits");
  if (limits == nullptr)
    return make_error(errc::validation_failed, "limits", "limits is required");
  if (!limits->is_object())
    return make_error(errc::invalid_parameter, "limits",
                      "limits must be an object");
  const auto& given = limits->get_object();
  // Types first (400), then rules (422), as everywhere in the API.
  for (auto name : limit_names) {
    const json::value* v = given.if_contains(name);
    if (v != nullptr && !v->is_null() && !v->is_int64() && !v->is_uint64())
      return make_error(errc::invalid_parameter, field_name(name),
                        field_name(name) + " must be an integer or null");
  }
  for (const auto& member : given) {
    std::string_view key{member.key().data(), member.key().size()};
    bool known = false;
    for (auto name : limit_names)
      known = known || name == key;
    if (!known)
      return make_error(errc::validation_failed, field_name(key),
                        field_name(key) + " is not a limit; the limits are " +
                          known_limits());
  }
  limits_patch result;
  for (size_t i = 0; i < limit_names.size(); ++i) {
    auto name = limit_names[i];
    const json::value* v = given.if_contains(name);
    auto& change = result.changes[i];
    if (v == nullptr)
      continue;
    if (v->is_null()) {
      change.op = limit_op::reset;
      continue;
    }
    auto range = limit_ranges[i];
    auto in_range =
      v->is_uint64()
        ? v->get_uint64() >= range.min && v->get_uint64() <= range.max
        : v->get_int64() >= 0 &&
            static_cast<uint64_t>(v->get_int64()) >= range.min &&
            static_cast<uint64_t>(v->get_int64()) <= range.max;
    if (!in_range)
      return make_error(errc::validation_failed, field_name(name),
                        field_name(name) + " must be an integer from " +
                          std::to_string(range.min) + " to " +
                          std::to_string(range.max) +
                          (range.min == 0 ? " (0: no limit)" : "") +
                          ", or null for the node default");
    change.op = limit_op::set;
    change.value =
      v->is_uint64() ? v->get_uint64() : static_cast<uint64_t>(v->get_int64());
  }
  return result;
}

void add_limits_json(json::object& out, const tenant_summary& x) {
  out["limits"] = json::object{
    {"max_endpoints", x.limits.max_endpoints},
    {"max_stored_bytes", x.limits.max_stored_bytes},
    {"publish_rate", x.limits.publish_rate},
    {"publish_burst", x.limits.publish_burst},
  };
  json::object overrides;
  for (size_t i = 0; i < limit_names.size(); ++i)
    if (const auto& v = x.overrides.values[i])
      overrides[limit_names[i]] = *v;
  out["limit_overrides"] = std::move(overrides);
  json::object usage{
    {"endpoints", x.usage.endpoints},
    {"stored_bytes", x.usage.stored_bytes},
  };
  if (x.usage.publish_tokens)
    usage["publish_tokens"] = *x.usage.publish_tokens;
  out["usage"] = std::move(usage);
}

} // namespace wi::http
