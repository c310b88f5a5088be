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

/// A random valid spec whose url is `target_base` (the loopback receiver,
/// `http://127.0.0.1:<port>`) followed by a path unique for each `serial`
/// (unknown creates are recognised by their url after a restart, deliveries
/// by their path).
endpoint_spec random_spec(std::mt19937_64& rng, uint64_t serial,
                          std::string_view target_base);

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
  /// The token before `token` after an acknowledged rotation: valid within
  /// its grace (7 days). Empty before the first rotation.
  std::string previous_token;
  /// The token before `previous_token`: the server keeps one previous token
  /// only, so this one must be refused (401). Empty before the second
  /// rotation.
  std::string expired_token;
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
  /// The url without the receiver's base: where its deliveries arrive.
  std::string path;
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
  /// An unanswered publish is resolved by sending it again with the same
  /// key (what a client does): a duplicate answer makes it `present`, a fresh
  /// one means the first never happened and the repeat is `acked`.
  fate state = fate::pending;
  /// Unique to the publish, in its payload: a delivery names its publish.
  uint64_t serial = 0;
  /// The publish body (sent again for the idempotency check).
  std::string body;
  /// The payload exactly as written in `body`: deliveries carry it byte for
  /// byte as `data`.
  std::string payload;
  /// The endpoint identifiers of its deliveries, as `GET` showed them.
  std::vector<int64_t> fan_out;
  /// Whether `fan_out` was read.
  bool fan_out_known = false;
  /// Deliveries the receiver got, by endpoint index.
  std::map<size_t, uint64_t> received;
  /// How many times it was sent again with its key and checked.
  uint64_t repeated = 0;
  /// The endpoints whose delivery the last `GET` showed as `delivered`
  /// (checked against the receiver once its requests are in).
  std::vector<int64_t> server_delivered;
};

/// One request the loopback receiver got: a delivery attempt.
struct delivery_seen {
  std::string method;
  /// The request path: an endpoint's url without the receiver's base.
  std::string path;
  /// The `webhook-id`, `webhook-timestamp` and `webhook-signature` headers
  /// (empty when absent).
  std::string webhook_id;
  std::string timestamp;
  std::string signature;
  std::string body;
  /// Unix seconds when it arrived.
  int64_t received_at = 0;
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
  /// Unanswered publishes whose repeat with the same key found the event.
  uint64_t events_found = 0;
  /// Publishes sent again with their key and answered as duplicates.
  uint64_t idempotent_repeats = 0;
  /// Earlier tokens checked within their grace, and tokens checked refused.
  uint64_t old_tokens_checked = 0;
  /// Requests the receiver got, those that repeated an (event, endpoint)
  /// already received, and the (event, endpoint) pairs received.
  uint64_t deliveries = 0;
  uint64_t repeated_deliveries = 0;
  uint64_t delivered_pairs = 0;
};

/// What a check follows.
enum class check_after {
  /// A round of load and a kill: it must have acknowledged something.
  round,
  /// A restart with no load before it (a clean shutdown, or a test).
  restart,
};

/// A publish sent again with its idempotency key.
struct repeat_request {
  /// The tenant's current token.
  std::string token;
  std::string idempotency_key;
  std::string body;
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
  /// `GET /v1/webhook/events/<id>` of one acknowledged event, or the answer
  /// to a publish sent again.
  struct event_view {
    long status = 0;
    /// `data` of a 200 or 202.
    boost::json::object data;
  };
  std::vector<tenant_row> tenants;
  /// By tenant id, for every tenant whose token the harness holds.
  std::map<std::string, tenant_view> views;
  /// By event id, for every event in `history::event_lookups()` and every
  /// event id a repeat answered.
  std::map<std::string, event_view> events;
  /// By idempotency key, for every publish in `history::repeats()`.
  std::map<std::string, event_view> repeats;
  /// By token, for every token in `history::token_probes()`: the status of
  /// a list request with it.
  std::map<std::string, long> token_status;
  /// Requests the receiver got since the last observation (read after
  /// everything else, so that every delivery the server showed as
  /// `delivered` is among them).
  std::vector<delivery_seen> deliveries;
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
  /// Endpoint urls start with `target_base`, the receiver's
  /// `http://127.0.0.1:<port>`.
  explicit history(std::string target_base = "http://127.0.0.1:9")
    : target_base_(std::move(target_base)) {}

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

  /// The (token, event id) of every acknowledged or found event, for
  /// `observe`.
  std::vector<std::pair<std::string, std::string>> event_lookups() const;

  /// The publishes to send again with their key, for `observe`: every
  /// unanswered one (resolved by the answer), every acknowledged or found one
  /// not sent again yet, and `older` random ones of those sent again before
  /// (all with SIZE_MAX). The answer to an acknowledged or found one must be
  /// its receipt, marked duplicate.
  std::vector<repeat_request> repeats(std::mt19937_64& rng,
                                      size_t older = SIZE_MAX) const;

  /// Earlier tokens to try, for `observe`: the one before the current token
  /// (valid within its grace) and the one before that (refused). None of a
  /// tenant whose rotation went unanswered (the harness cannot tell which
  /// token is current).
  std::vector<std::string> token_probes() const;

  /// Compares `obs` with everything sent so far and resolves every unknown
  /// mutation to what `obs` shows (`now_s`: the current Unix time, bounding
  /// the timestamps of unknown creates), then takes `obs.deliveries` as
  /// `take_deliveries` does. After a round (`what`), no acknowledgement since
  /// the previous check is a violation. The checked state becomes the
  /// baseline of the next check.
  check_result check(const observation& obs, int64_t now_s,
                     check_after what = check_after::round);

  /// Checks requests the receiver got: each is a POST to a known endpoint of
  /// an acknowledged or found event of the same tenant whose type the
  /// endpoint subscribes to, among the event's deliveries, with the event's
  /// id in `webhook-id` and the body (id, type, created_at, the payload byte
  /// for byte) and a Standard Webhooks signature with the endpoint's secret
  /// (timestamp within 5 minutes of arrival). Problems go to the next
  /// `check` or `check_delivered`.
  void take_deliveries(const std::vector<delivery_seen>& ds);

  /// The (event, endpoint) deliveries of acknowledged or found events that
  /// the receiver has not got yet; only those to endpoints last seen active
  /// unless `every_endpoint` (paused deliveries to inactive endpoints are
  /// not sent).
  size_t awaited(bool every_endpoint) const;

  /// The problems `take_deliveries` found since the last check, and every
  /// delivery `awaited(every_endpoint)` still counts, as lost.
  check_result check_delivered(bool every_endpoint);

  /// `PUT /enable` of every known endpoint that may not be active, so that
  /// every paused delivery is sent: answer each with `ack_status` (or
  /// `unanswered`).
  std::vector<planned_op> plan_enable_all();

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

  /// The event part of `check`: every unanswered publish resolved by its
  /// repeat; every acknowledged event is there, as acknowledged, with all
  /// its deliveries, and its key answers its receipt.
  void check_events(const observation& obs, check_result& out);

  /// The answer to publish `ev` sent again: resolves an unknown one (false
  /// if the answer is no receipt: then it is `absent`), compares a known
  /// one's with its receipt.
  bool check_repeat(event_entry& ev, const observation::event_view& answer,
                    check_result& out);

  /// The old-token part of `check`.
  void check_old_tokens(const observation& obs, check_result& out);

  /// `take_deliveries` for one request, with `mtx_` held.
  void take_delivery(const delivery_seen& d);

  /// The endpoint index of `id` of tenant `tenant`, if known.
  std::optional<size_t> endpoint_index(size_t tenant, int64_t id) const;

  /// The awaited deliveries as (event index, endpoint index).
  std::vector<std::pair<size_t, size_t>> awaited_pairs(bool every) const;

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
  /// `stats_.acked` at the last check.
  uint64_t acked_at_check_ = 0;
  /// The receiver's `http://127.0.0.1:<port>`.
  std::string target_base_;
  /// Endpoint index by url path; event index by payload serial.
  std::map<std::string, size_t> by_path_;
  std::map<uint64_t, size_t> by_serial_;
};

/// Seconds since the Unix epoch, now.
int64_t unix_now();

/// An RFC 3339 UTC timestamp as Unix seconds; nullopt if malformed.
std::optional<int64_t> unix_seconds(std::string_view rfc3339);

} // namespace wi_crash
