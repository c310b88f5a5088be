#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

namespace wi_crash {

/// The fields an endpoint create sends; once acknowledged, exactly these
/// must survive every crash.
struct endpoint_spec {
  std::string url;
  std::string secret;
  std::vector<std::string> event_types;
  std::map<std::string, std::string> headers;
};

/// The `POST /v1/webhook/endpoints` body for `spec`.
boost::json::object to_json(const endpoint_spec& spec);

/// A random valid spec whose url is unique for each `serial` (unknown creates
/// are recognised by their url after a restart).
endpoint_spec random_spec(std::mt19937_64& rng, uint64_t serial);

/// Where `ep` (an endpoint as the server shows it) differs from `spec` in
/// url, secret, event_types or headers; empty if it does not.
std::string spec_mismatch(const endpoint_spec& spec,
                          const boost::json::object& ep);

/// What is known about a mutation the harness sent.
enum class fate {
  /// Sent, no answer yet.
  pending,
  /// Acknowledged with 201/204: must survive every later crash.
  acked,
  /// No answer (the kill cut it off): may or may not have happened. The next
  /// check resolves it to `present` or `absent`.
  unknown,
  /// Was unknown and is in the recovered state: now as durable as `acked`.
  present,
  /// Was unknown and is not in the recovered state: must never appear.
  absent,
};

/// A tenant create the harness sent.
struct tenant_entry {
  std::string name;
  /// Set when acknowledged, or when an unknown create is found.
  std::string id;
  /// Only an acknowledged create shows the token; an acknowledged rotation
  /// replaces it (the one before stays valid for the 7-day grace the
  /// harness asks for).
  std::string token;
  /// Acknowledged token rotations.
  int rotations = 0;
  /// A rotation is in flight, or one was already sent since the last check:
  /// at most one per round, so a request planned with the token before it
  /// still finds that token within its grace.
  bool rotating = false;
  bool rotated_this_round = false;
  /// An unanswered rotation may have made the token the harness holds the
  /// previous one: a further rotation would end it, so none is sent.
  bool rotation_frozen = false;
  std::string created_at;
  fate state = fate::pending;
};

/// An endpoint create the harness sent, and the status changes sent to it.
struct endpoint_entry {
  /// Index into the tenants.
  size_t tenant = 0;
  /// Set when acknowledged, or when an unknown create is found.
  int64_t id = 0;
  endpoint_spec spec;
  /// From the acknowledgement, or from the first observation.
  std::string create_timestamp;
  fate state = fate::pending;
  /// Unix seconds when the create was sent (bounds an unknown create's
  /// timestamp).
  int64_t sent_at = 0;
  /// The status as of the last acknowledged change, or as last observed
  /// after a restart (the recovered state is durable): `active` at creation.
  std::string baseline = "active";
  /// Status changes sent after `baseline` that got no answer, in order.
  std::vector<std::string> unknown_after;
  /// Whether any status change was sent (else `last_modified` must equal
  /// `create_timestamp`).
  bool changed = false;
  /// A status change is in flight: no other one is sent, so the acknowledged
  /// changes of one endpoint are totally ordered.
  bool busy = false;
};

/// An event publish the harness sent (`POST /v1/webhook/events`, with an
/// idempotency key unique to it).
struct event_entry {
  /// Index into the tenants.
  size_t tenant = 0;
  std::string event_type;
  std::string idempotency_key;
  /// From the 202 receipt.
  std::string id;
  std::string created_at;
  /// Endpoints the receipt says the event fans out to: the event must keep
  /// exactly that many deliveries.
  uint64_t endpoints = 0;
  /// Only `acked` events are checked: an unanswered publish cannot be looked
  /// up (its id is unknown) and may or may not have happened.
  fate state = fate::pending;
};

/// One mutation a client thread sends next.
struct planned_op {
  enum kind_t {
    create_tenant,
    create_endpoint,
    set_status,
    publish,
    rotate_token
  };
  kind_t kind = create_tenant;
  /// Tenant index (`create_tenant`, `rotate_token`), event index (`publish`)
  /// or endpoint index (the others).
  size_t index = 0;
  /// The tenant's token (endpoint operations, publishes); the tenant id
  /// (`rotate_token`).
  std::string token;
  /// The endpoint identifier (`set_status`).
  int64_t id = 0;
  /// `active` (PUT /enable) or `inactive` (PUT /disable) for `set_status`.
  std::string status;
  /// The JSON body of a create or a publish.
  std::string body;
};

/// Counters of the whole run.
struct history_stats {
  /// Mutations answered 201/204.
  uint64_t acked = 0;
  /// Mutations that got no answer.
  uint64_t unknown = 0;
  /// Unanswered creates that the recovered state shows.
  uint64_t found = 0;
  /// Tenants and endpoints known to exist (acknowledged or found).
  uint64_t tenants = 0;
  uint64_t endpoints = 0;
  /// Events acknowledged.
  uint64_t events = 0;
  /// Token rotations acknowledged.
  uint64_t rotations = 0;
};

/// The server state as the harness read it after a restart.
struct observation {
  /// One row of `GET /admin/v1/tenants`.
  struct tenant_row {
    std::string id;
    std::string name;
    std::string created_at;
    bool active = false;
  };
  /// What one tenant's token shows.
  struct tenant_view {
    /// Status of the first list request with the token (200 or 204 when the
    /// token works).
    long list_status = 0;
    /// Every endpoint of every list page, in order.
    std::vector<boost::json::object> items;
    /// Status of `GET /v1/webhook/endpoints/<items.size() + 1>`.
    long next_status = 0;
  };
  /// `GET /v1/webhook/events/<id>` of one acknowledged event.
  struct event_view {
    long status = 0;
    /// `data` of a 200.
    boost::json::object data;
  };
  std::vector<tenant_row> tenants;
  /// By tenant id, for every tenant whose token the harness holds.
  std::map<std::string, tenant_view> views;
  /// By event id, for every event in `history::event_lookups()`.
  std::map<std::string, event_view> events;
  /// Malformed answers met while reading (pagination, envelopes).
  std::vector<std::string> problems;
};

/// The outcome of one check.
struct check_result {
  /// Acknowledged (or previously observed) state that is missing or differs.
  std::vector<std::string> lost;
  /// Every other inconsistency: phantoms, gaps, reused identifiers,
  /// statuses no history explains, malformed answers.
  std::vector<std::string> violations;

  bool ok() const noexcept { return lost.empty() && violations.empty(); }
};

/// Everything the harness sent and what it knows about each mutation.
/// Client threads call `plan` and then exactly one of the `ack_*` or
/// `unanswered`; `check` runs while no client thread does. Thread-safe.
class history {
 public:
  /// Picks the next mutation: a tenant create when there is no acknowledged
  /// tenant yet, and otherwise a tenant create now and then, an endpoint
  /// create, a publish, a token rotation (at most one per tenant and round),
  /// or a status change of an idle known endpoint. Marks it pending.
  /// `want` forces the kind where possible (for tests of the checker).
  planned_op plan(std::mt19937_64& rng, int64_t now_s,
                  std::optional<planned_op::kind_t> want = std::nullopt);

  /// A tenant create was answered 201 with this data.
  void ack_tenant(const planned_op& op, std::string id, std::string token,
                  std::string created_at);

  /// An endpoint create was answered 201 with `answer` (its `data`), whose
  /// `identifier` and `create_timestamp` are `id` and `create_timestamp`. An
  /// identifier the tenant already holds, or an answer whose fields differ
  /// from what was sent, is reported as a violation.
  void ack_endpoint(const planned_op& op, int64_t id,
                    std::string create_timestamp,
                    const boost::json::object& answer);

  /// A status change was answered 204.
  void ack_status(const planned_op& op);

  /// A token rotation was answered 201 with this new token.
  void ack_rotation(const planned_op& op, std::string token);

  /// A publish was answered 202 with `answer` (its `data`): `id`,
  /// `event_type`, `created_at`, `endpoints` and `duplicate` (which must be
  /// false: every key is new). Fields other than sent are reported.
  void ack_event(const planned_op& op, const boost::json::object& answer);

  /// `op` got no answer: it may or may not have happened.
  void unanswered(const planned_op& op);

  /// `op` never reached the server (the connection was refused after the
  /// kill): it did not happen, and a create must never appear.
  void never_sent(const planned_op& op);

  /// Records a violation seen by a client thread (an unexpected answer); the
  /// next `check` returns it.
  void report(std::string problem);

  /// The (tenant id, token) of every tenant whose token the harness holds.
  std::vector<std::pair<std::string, std::string>> tokens() const;

  /// The (token, event id) of every acknowledged event, for `observe`.
  std::vector<std::pair<std::string, std::string>> event_lookups() const;

  /// Compares `obs` with everything sent so far and resolves every unknown
  /// mutation to what `obs` shows (`now_s`: the current Unix time, bounding
  /// the timestamps of unknown creates). The checked state becomes the
  /// baseline of the next check.
  check_result check(const observation& obs, int64_t now_s);

  /// The counters so far.
  history_stats stats() const;

  /// The entries, for tests.
  const std::vector<tenant_entry>& tenants() const { return tenants_; }
  const std::vector<endpoint_entry>& endpoints() const { return endpoints_; }
  const std::vector<event_entry>& events() const { return events_; }

 private:
  /// The tenant part of `check`: known tenants listed unchanged, unknown
  /// creates resolved by name, no phantoms.
  void check_tenants(const observation& obs, check_result& out);

  /// The event part of `check`: every acknowledged event is there, as
  /// acknowledged, with all its deliveries.
  void check_events(const observation& obs, check_result& out);

  /// The endpoint part of `check` for the tenant at index `tenant`.
  void check_endpoints(size_t tenant, const observation::tenant_view& view,
                       int64_t now_s, check_result& out);

  /// Guards everything below.
  mutable std::mutex mtx_;
  /// Every tenant create sent, in planning order.
  std::vector<tenant_entry> tenants_;
  /// Every endpoint create sent, in planning order.
  std::vector<endpoint_entry> endpoints_;
  /// Every publish sent, in planning order.
  std::vector<event_entry> events_;
  /// Indices of tenants with a token.
  std::vector<size_t> usable_tenants_;
  /// Indices of endpoints that status changes may target (acked or present).
  std::vector<size_t> targets_;
  /// Per tenant index: identifier -> endpoint index, for acked and present
  /// endpoints.
  std::vector<std::map<int64_t, size_t>> ids_;
  /// Violations reported between checks.
  std::vector<std::string> reported_;
  /// Makes tenant names and endpoint urls unique.
  uint64_t serial_ = 0;
  history_stats stats_;
};

/// Seconds since the Unix epoch, now.
int64_t unix_now();

/// An RFC 3339 UTC timestamp as Unix seconds; nullopt if malformed.
std::optional<int64_t> unix_seconds(std::string_view rfc3339);

} // namespace wi_crash
