#include "http/admin_codec.hpp"

#include <boost/json/array.hpp>

#include "http/json_codec.hpp"
#include "http/limits_codec.hpp"
#include "http/time_format.hpp"

namespace wi::http {

namespace json = boost::json;

json::object to_json(const wi::tenant_summary& x, unix_seconds now) {
  auto result = to_json(x.info);
  result["loaded"] = x.loaded;
  result["endpoints"] = json::object{
    {"active", x.endpoints.active},
    {"disabled", x.endpoints.disabled},
    {"inactive", x.endpoints.inactive},
    {"total", x.endpoints.active + x.endpoints.disabled + x.endpoints.inactive},
  };
  result["events"] = x.events;
  result["pending_deliveries"] = x.pending_deliveries;
  result["attempts"] = json::object{{"total", x.attempts_total},
                                    {"successful", x.attempts_successful}};
  result["mailbox_depth"] = x.mailbox_depth;
  if (x.deactivated_at != 0)
    result["deactivated_at"] = format_rfc3339(x.deactivated_at);
  if (x.last_mutation_at != 0)
    result["last_mutation_at"] = format_rfc3339(x.last_mutation_at / 1000);
  if (x.previous_token_valid_until > now)
    result["previous_token_valid_until"] =
      format_rfc3339(x.previous_token_valid_until);
  add_limits_json(result, x); // per-tenant limits (issue 13)
  return result;
}

json::object to_json(const wi::endpoint_internal& x) {
  auto result = to_json(x.stats);
  if (auto* ep = result.if_contains("endpoint"); ep && ep->is_object())
    ep->get_object()["secret"] = redacted;
  json::array attempts;
  for (const auto& a : x.recent_attempts)
    attempts.push_back(to_json(a));
  result["recent_attempts"] = std::move(attempts);
  return result;
}

json::object to_json(const wi::issued_token& x) {
  json::object result;
  result["tenant_id"] = x.tenant_id;
  result["token"] = x.token;
  result["issued_at"] = format_rfc3339(x.issued_at);
  result["previous_token_valid_until"] = format_rfc3339(x.previous_valid_until);
  return result;
}

json::object node_json(const wi::node_identity& id, const wi::node_status& x,
                       unix_millis now) {
  json::object result;
  result["version"] = id.version;
  result["build"] = id.build;
  result["node_id"] = id.node_id;
  result["data_dir"] = id.data_dir;
  result["started_at"] = format_rfc3339(id.started_at / 1000);
  result["uptime_seconds"] = (now - id.started_at) / 1000;
  result["wal"] = json::object{
    {"last_sequence", x.wal.last_sequence},
    {"first_sequence", x.wal.first_sequence},
    {"last_snapshot_sequence", x.wal.last_snapshot_sequence},
    {"pending", x.wal.pending},
  };
  result["tenants"] = json::object{
    {"registered", x.tenants},
    {"active", x.tenants_active},
    {"loaded", x.tenants_loaded},
  };
  result["actors_alive"] = x.actors_alive;
  result["deliveries"] = json::object{
    {"in_flight", x.deliveries_in_flight},
    {"queued", x.deliveries_queued},
  };
  return result;
}

} // namespace wi::http
