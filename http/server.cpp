#include "http/server.hpp"

#include <algorithm>
#include <atomic>
#include <climits>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <caf/send.hpp>
#include <restinio/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/cluster/placement.hpp"
#include "actors/cluster/routing.hpp"
#include "actors/common/crypto.hpp"
#include "actors/common/metrics.hpp"
#include "actors/common/text.hpp"
#include "http/admin_codec.hpp"
#include "http/envelope.hpp"
#include "http/error_mapping.hpp"
#include "http/json_codec.hpp"
#include "http/limits_codec.hpp"
#include "http/routes.hpp"
#include "http/time_format.hpp"
#include "http/ui_assets.hpp"
#include "http/validation.hpp"
#include "webhook_ingress/error.hpp"

namespace wi::http {

namespace {

using request_handle = restinio::request_handle_t;
using handling_status = restinio::request_handling_status_t;

/// Longest request target (path and query as sent) answered normally;
/// longer ones get 414 in the envelope.
constexpr size_t max_uri_bytes = 8192;

/// The HTTP parser's limit on the request line and headers together, above
/// which the connection is closed without an answer. Its built-in 80 KiB
/// could close the connection for URIs that deserve a 414 (the fields are
/// bounded on their own, see `max_header_fields`).
constexpr uint32_t max_request_head_bytes = 1u << 20;

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 204:
    return "No Content";
  case 304:
    return "Not Modified";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 413:
    return "Payload Too Large";
  case 414:
    return "URI Too Long";
  case 422:
    return "Unprocessable Entity";
  case 429:
    return "Too Many Requests";
  case 503:
    return "Service Unavailable";
  default:
    return "Internal Server Error";
  }
}

restinio::http_status_line_t status_line(int status) {
  return restinio::http_status_line_t{
    restinio::http_status_code_t{static_cast<std::uint16_t>(status)},
    std::string{reason_phrase(status)}};
}

/// Returns the path template of the route `req` goes to, e.g.
/// `/v1/webhook/endpoints/{id}`: of the route for its method, else of one
/// for another method (a 405), else `unmatched` (a 404). Never a raw path,
/// so ids stay out of the access log. Static storage.
std::string_view route_template_of(std::string_view method_name,
                                   std::string_view path) {
  if (is_ui_path(path)) // the admin dashboard (issue 18)
    return "/admin/ui/";
  auto method = parse_method(method_name);
  if (auto route = match_route(method, path))
    return route->path_template;
  for (auto other : {http_method::get, http_method::post, http_method::put,
                     http_method::del, http_method::patch})
    if (auto route = match_route(other, path))
      return route->path_template;
  return "unmatched";
}

/// Cluster mode: a request another node forwarded here, and where its answer
/// goes.
struct forwarded_source {
  cluster::forwarded_request req;
  /// Views into `req.target`.
  std::string_view path;
  std::string_view query;
  std::function<void(cluster::forwarded_response)> reply;
};

/// Cluster mode: what etcd said of a tenant's placement key, read for a
/// request (`control::lookup_placement`) before it is dispatched again.
struct looked_up_placement {
  std::string tenant;
  /// Nothing: the tenant has no placement key.
  std::optional<cluster::placement> value;
};

std::string_view view_of(restinio::string_view_t x) noexcept {
  return {x.data(), x.size()};
}

/// What an answer needs besides its content: where it goes and its id.
/// Every response is written by one of the `write` functions, which also
/// write the request's access-log line. A request comes from a RESTinio
/// connection (`req`) or, in cluster mode, from a peer that forwarded it
/// (`fwd`); the handlers read it through the accessors only, so both run
/// the same path.
struct exchange {
  /// Null for a forwarded request.
  request_handle req;
  /// Set for a forwarded request.
  std::shared_ptr<forwarded_source> fwd;
  std::string request_id;
  /// The route template for the access log (see `route_template_of`).
  std::string_view route;
  /// When the request was handed to us, for the latency in the access log.
  std::chrono::steady_clock::time_point started;
  /// Cluster mode: set once etcd was asked where the tenant lives.
  std::shared_ptr<const looked_up_placement> looked_up = nullptr;

  response_meta meta() const {
    return response_meta{request_id, now_rfc3339()};
  }

  std::string_view method() const {
    return fwd ? std::string_view{fwd->req.method}
               : std::string_view{req->header().method().c_str()};
  }

  std::string_view path() const {
    return fwd ? fwd->path : view_of(req->header().path());
  }

  std::string_view query() const {
    return fwd ? fwd->query : view_of(req->header().query());
  }

  /// The request target as received (path and query).
  std::string_view target() const {
    return fwd ? std::string_view{fwd->req.target}
               : view_of(req->header().request_target());
  }

  std::string_view body() const {
    return fwd ? std::string_view{fwd->req.body}
               : std::string_view{req->body()};
  }

  /// The value of the request header `name`, if present.
  std::optional<std::string_view> header(std::string_view name) const {
    if (fwd) {
      if (auto* value = cluster::find_header(fwd->req.headers, name))
        return std::string_view{*value};
      return std::nullopt;
    }
    auto field = req->header().try_get_field(
      restinio::string_view_t{name.data(), name.size()});
    if (!field)
      return std::nullopt;
    return std::string_view{field->data(), field->size()};
  }

  /// Logs one line at info per response: method, route template, status,
  /// latency and request id as logfmt fields. Never the raw path, headers
  /// (so no Authorization), query or body.
  void log_access(int status) const {
    auto latency = std::chrono::duration<double, std::milli>(
      std::chrono::steady_clock::now() - started);
    auto method = this->method();
    spdlog::info("request method={} route={} status={} latency_ms={:.3f} "
                 "request_id=\"{}\"{}",
                 method, route, status, latency.count(), request_id,
                 fwd ? " forwarded=true" : "");
    // A request is counted once, where the client sent it: the owner that
    // answered a forward counts it in the forward metrics of the sender.
    if (!fwd)
      node_metrics().on_request(method, route, status, latency.count() / 1000);
  }

  /// Writes an answer (JSON unless `content_type` says otherwise); `allow`
  /// and `retry_after` add those headers when not empty.
  void write(int status, std::string body, std::string_view allow = {},
             std::string_view retry_after = {},
             std::string_view content_type = "application/json") const {
    if (fwd) {
      cluster::forwarded_response resp{
        static_cast<uint16_t>(status),
        {{"Content-Type", std::string{content_type}},
         {"X-Request-Id", request_id}},
        std::move(body)};
      if (!allow.empty())
        resp.headers.emplace_back("Allow", allow);
      if (!retry_after.empty())
        resp.headers.emplace_back("Retry-After", retry_after);
      log_access(status);
      fwd->reply(std::move(resp));
      return;
    }
    auto resp = req->create_response(status_line(status));
    resp.append_header(restinio::http_field::content_type,
                       std::string{content_type});
    resp.append_header("X-Request-Id", request_id);
    if (!allow.empty())
      resp.append_header(restinio::http_field::allow, std::string{allow});
    if (!retry_after.empty())
      resp.append_header(restinio::http_field::retry_after,
                         std::string{retry_after});
    resp.set_body(std::move(body));
    // Counted and logged before the answer leaves: a client that got it
    // finds it in the next scrape.
    log_access(status);
    resp.done();
  }

  void write_data(int status, boost::json::value data) const {
    write(status, success_body(std::move(data), meta()));
  }

  void write_no_content() const {
    log_access(204); // before the answer leaves, as in `write`
    if (fwd) {
      fwd->reply(
        cluster::forwarded_response{204, {{"X-Request-Id", request_id}}, {}});
      return;
    }
    req->create_response(status_line(204))
      .append_header("X-Request-Id", request_id)
      .done();
  }

  void write_error(const caf::error& err, std::string_view allow = {}) const {
    // An error may say when to try again (per-tenant limits); a tenant over
    // its pending-delivery cap may publish again once some deliveries ended;
    // a node over its in-flight or body-memory budget frees up within a
    // second or so; a tenant whose owner node is unreachable may be back (or
    // moved) soon.
    std::string retry_after;
    auto code = code_of(err);
    if (auto seconds = retry_after_of(err))
      retry_after = std::to_string(*seconds);
    else if (code == errc::too_many_pending)
      retry_after = "5";
    else if (code == errc::overloaded || code == errc::tenant_unavailable)
      retry_after = "1";
    write(map_error(err).status, error_body(err, meta()), allow, retry_after);
  }

  /// Cluster mode: writes the owner node's answer to a forwarded request
  /// unchanged (status, body, and the headers a client reads).
  /// A forwarded request relayed on (a move its sender had not seen)
  /// hands the answer back to its sender as is.
  void write_relayed(const cluster::forwarded_response& answer) const {
    if (fwd) {
      log_access(answer.status);
      fwd->reply(answer);
      return;
    }
    auto resp = req->create_response(status_line(answer.status));
    for (const auto& name : cluster::answer_header_names())
      if (auto* value = cluster::find_header(answer.headers, name))
        resp.append_header(name, *value);
    if (answer.status != 204)
      resp.set_body(answer.body);
    log_access(answer.status);
    resp.done();
  }
};

/// Returns the credentials of an `Authorization: Bearer <token>` header.
std::optional<std::string_view>
bearer_token(std::optional<std::string_view> field) {
  if (!field)
    return std::nullopt;
  std::string_view value = *field;
  constexpr std::string_view scheme = "bearer ";
  if (value.size() <= scheme.size())
    return std::nullopt;
  if (!istarts_with(value, scheme))
    return std::nullopt;
  value.remove_prefix(scheme.size());
  while (!value.empty() && value.front() == ' ')
    value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ')
    value.remove_suffix(1);
  if (value.empty())
    return std::nullopt;
  return value;
}

std::optional<std::string_view>
bearer_token(const restinio::http_request_header_t& header) {
  auto field = header.try_get_field(restinio::http_field::authorization);
  if (!field)
    return bearer_token(std::optional<std::string_view>{});
  return bearer_token(std::string_view{field->data(), field->size()});
}

std::optional<std::string_view> bearer_token(const request_handle& req) {
  return bearer_token(req->header());
}

std::optional<std::string_view> bearer_token(const exchange& ex) {
  return bearer_token(ex.header("Authorization"));
}

/// How query strings are decoded. RFC 3986 lets a query carry
/// `pchar / "/" / "?"` unencoded, so `:` `@` `/` `?` and the sub-delims
/// arrive raw from curl, browsers and most client libraries (RFC 3339 dates
/// in particular); RESTinio's default traits refuse them. `&` and `;`
/// separate pairs, the first `=` splits a pair, `%XX` must be valid UTF-8,
/// and `+` decodes to a space as in form encoding (date parameters read it
/// back as `+`, see `parse_list_query`).
struct rfc3986_query_traits {
  static bool ordinary_char(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') ||
           std::string_view{"-._~:@/?!$'()*,="}.find(c) !=
             std::string_view::npos;
  }
  static restinio::string_view_t::size_type
  find_next_separator(restinio::string_view_t where,
                      restinio::string_view_t::size_type from) noexcept {
    return where.find_first_of("&;", from);
  }
};

caf::error unauthorized() {
  return make_error(errc::unauthorized, "Authorization",
                    "Authorization must carry a valid bearer token");
}

std::string request_id_of(std::optional<std::string_view> field) {
  if (field && valid_request_id(*field))
    return std::string{*field};
  return make_request_id();
}

/// Whether `id` is an `/admin/v1/...` route (admin token only).
bool is_admin_route(route_id id) noexcept {
  switch (id) {
  case route_id::admin_create_tenant:
  case route_id::admin_list_tenants:
  case route_id::admin_node:
  case route_id::admin_cluster:
  case route_id::admin_get_tenant:
  case route_id::admin_deactivate_tenant:
  case route_id::admin_rotate_token:
  case route_id::admin_get_endpoint:
  case route_id::admin_snapshot:
  case route_id::admin_patch_tenant: // per-tenant limits (issue 13)
  case route_id::admin_drain_node:
  case route_id::admin_move_tenant: // planned moves (issue 15)
  case route_id::admin_unpin_tenant:
  case route_id::admin_list_endpoints: // the dashboard's (issue 18)
  case route_id::admin_disable_endpoint:
  case route_id::admin_enable_endpoint:
  case route_id::admin_resend_event:
    return true;
  default:
    return false;
  }
}

/// The `data` of a batch publish's answer (issue 19): one result per event
/// of `items` (the parsed batch) in order; a refused one with its error,
/// an accepted one (or a repeat of an idempotency key) with the next of
/// `receipts` (the tenant's answers to the valid events, in order). Each
/// result has the `status` a single publish of the event would have got.
boost::json::object
batch_json(const std::vector<caf::expected<new_event>>& items,
           const batch_receipts& receipts) {
  boost::json::array results;
  results.reserve(items.size());
  size_t accepted = 0;
  auto next = receipts.begin();
  auto refused = [&](const caf::error& err) {
    boost::json::object x;
    x["status"] = map_error(err).status;
    x["error"] = error_json(err);
    results.emplace_back(std::move(x));
  };
  for (const auto& item : items) {
    if (!item) {
      refused(item.error());
      continue;
    }
    if (next == receipts.end()) { // cannot happen: one answer per event
      refused(wi::make_error(errc::internal, "no answer for this event"));
      continue;
    }
    const auto& r = *next++;
    if (!r) {
      refused(r.error());
      continue;
    }
    boost::json::object x;
    x["status"] = 202;
    x["data"] = to_json(*r);
    results.emplace_back(std::move(x));
    ++accepted;
  }
  boost::json::object data;
  data["accepted"] = accepted;
  data["refused"] = items.size() - accepted;
  data["results"] = std::move(results);
  return data;
}

/// Whether `id` changes a tenant (the self-fencing refuses these while the
/// node may not acknowledge; reads go on).
bool is_mutation(route_id id) noexcept {
  switch (id) {
  case route_id::admin_create_tenant:
  case route_id::admin_deactivate_tenant:
  case route_id::admin_rotate_token:
  case route_id::admin_patch_tenant:
  case route_id::create_endpoint:
  case route_id::disable_endpoint:
  case route_id::enable_endpoint:
  case route_id::resend_event:
  case route_id::publish_event:
  case route_id::publish_batch:   // issue 19
  case route_id::update_endpoint: // endpoint lifecycle (issue 17)
  case route_id::delete_endpoint:
  case route_id::rotate_secret:
  case route_id::admin_disable_endpoint: // the dashboard's (issue 18)
  case route_id::admin_enable_endpoint:
  case route_id::admin_resend_event:
  case route_id::admin_move_tenant: // a move and a pin change write too
  case route_id::admin_unpin_tenant:
  case route_id::recover_endpoint:
    return true;
  default:
    return false;
  }
}

/// Limits of a request head (RESTinio's are unlimited by default): past
/// them the connection is closed without an answer.
/// RESTinio closes the connection past this URL length; up to it, a target
/// over `max_uri_bytes` is answered 414.
constexpr size_t max_url_bytes = 64 * 1024;
constexpr size_t max_field_name_bytes = 1024;
constexpr size_t max_field_value_bytes = 16 * 1024;
constexpr size_t max_header_fields = 100;

caf::error payload_too_large(size_t max_body_bytes) {
  return make_error(errc::payload_too_large, "body",
                    "body must be at most " + std::to_string(max_body_bytes) +
                      " bytes");
}

/// The memory that request bodies being received may hold, shared by every
/// connection: a request takes its declared `Content-Length` (a chunked one
/// the body limit, the most it can reach) once its headers passed, and gives
/// it back when its body is complete or its connection closes. Thread-safe.
class body_budget {
 public:
  explicit body_budget(uint64_t limit) : limit_(limit) {
    // nop
  }

  /// Takes `n` bytes; returns the ticket that gives them back when its last
  /// copy goes, or null when the budget cannot cover them now.
  std::shared_ptr<void> take(uint64_t n) {
    auto used = used_.load(std::memory_order_relaxed);
    do {
      if (n > limit_ - used)
        return nullptr;
    } while (
      !used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
    node_metrics().add_receiving_body_bytes(static_cast<int64_t>(n));
    return {this, [n](body_budget* self) {
              self->used_.fetch_sub(n, std::memory_order_relaxed);
              node_metrics().add_receiving_body_bytes(-static_cast<int64_t>(n));
            }};
  }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
};

/// RESTinio's IP-blocker and connection-state listener in one: counts open
/// connections and closes new ones at once beyond `max_connections`
/// (counted as refused, reason "limit"); hears from the patched acceptor
/// (third_party/restinio-patch) about connections shed while descriptors
/// ran out (reason "descriptors"). Thread-safe: called from every I/O
/// thread.
class connection_gate {
 public:
  explicit connection_gate(size_t max_connections)
    : max_connections_(max_connections) {
    // nop
  }

  /// Allows a new connection while fewer than the cap are open.
  restinio::ip_blocker::inspection_result_t
  inspect(const restinio::ip_blocker::incoming_info_t&) noexcept {
    if (open_.load(std::memory_order_relaxed) >= max_connections_) {
      node_metrics().on_connections_refused("limit", 1);
      return restinio::ip_blocker::inspection_result_t::deny;
    }
    return restinio::ip_blocker::inspection_result_t::allow;
  }

  /// Counts accepted and closed connections (by id: a closed notice for a
  /// connection already closed changes nothing).
  void state_changed(const restinio::connection_state::notice_t& notice) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (restinio::holds_alternative<restinio::connection_state::accepted_t>(
          notice.cause()))
      ids_.insert(notice.connection_id());
    else if (restinio::holds_alternative<restinio::connection_state::closed_t>(
               notice.cause()))
      ids_.erase(notice.connection_id());
    open_.store(ids_.size(), std::memory_order_relaxed);
    node_metrics().set_http_connections(ids_.size());
  }

  /// Called by the patched acceptor: `n` pending connections were accepted
  /// and closed at once because the process ran out of descriptors.
  void connections_shed(size_t n) noexcept {
    node_metrics().on_connections_refused("descriptors", n);
  }

 private:
  const size_t max_connections_;
  std::atomic<size_t> open_{0};
  std::mutex mtx_;
  std::unordered_set<restinio::connection_id_t> ids_;
};

/// Why a request with a body is answered from its headers alone (see
/// `server::impl::inspect_headers`). `too_large` is the patched parser's
/// code (restinio::impl::wi_body_too_large).
enum class early_code : int {
  read_body = 0,
  no_route = 1,
  not_ready,
  draining,
  overloaded,
  unauthorized,
  forbidden,
  body_memory,
  too_large = restinio::impl::wi_body_too_large,
};

} // namespace

struct server::impl {
  /// What RESTinio calls: requests (`operator()`), and, through the patched
  /// connection (third_party/restinio-patch), the headers of a request with
  /// a body before the body is read (`on_headers`) and the answer to one
  /// refused then (`on_early_answer`).
  struct request_gate {
    impl* self;

    handling_status operator()(request_handle req) const {
      return self->handle(std::move(req));
    }

    int on_headers(const restinio::http_request_header_t& header,
                   std::uint64_t content_length,
                   std::shared_ptr<void>& body_ticket) const {
      return static_cast<int>(
        self->inspect_headers(header, content_length, body_ticket));
    }

    handling_status on_early_answer(request_handle req, int code) const {
      return self->answer_early(std::move(req), static_cast<early_code>(code));
    }
  };

  struct traits : restinio::default_traits_t {
    using request_handler_t = request_gate;
    using ip_blocker_t = connection_gate;
    using connection_state_listener_t = connection_gate;
  };

  explicit impl(server_config config)
    : cfg(std::move(config)), budget(cfg.max_body_memory_bytes),
      gate(std::make_shared<connection_gate>(cfg.max_connections)) {
    // nop
  }

  server_config cfg;
  /// Declared before `running`: connections hold tickets of it until they
  /// are destroyed with the server.
  body_budget budget;
  std::shared_ptr<connection_gate> gate;
  /// Set (release) after `be` is written; handlers read it (acquire) first.
  std::atomic<bool> ready{false};
  backend be;
  std::atomic<size_t> in_flight{0};
  /// Set by `drain`: refuse new work.
  std::atomic<bool> draining{false};
  std::atomic<uint16_t> bound_port{0};
  restinio::running_server_handle_t<traits> running;
  bool stopped = false;

  /// Builds the continuation an actor calls with its answer. Counts the
  /// request as in flight until then.
  template <class T, class Format>
  reply_fn<T> reply_with(exchange ex, Format format) {
    in_flight.fetch_add(1, std::memory_order_relaxed);
    auto request_id = ex.request_id;
    return {std::move(request_id),
            [this, ex = std::move(ex),
             format = std::move(format)](caf::expected<T> result) {
              in_flight.fetch_sub(1, std::memory_order_relaxed);
              if (!result)
                ex.write_error(result.error());
              else if constexpr (std::is_same_v<T, no_content>)
                format(ex,
                       no_content{}); // expected<unit_t> has no value access
              else
                format(ex, *result);
            }};
  }

  /// Runs `f(actor)` with the tenant's actor: at once when it runs, else
  /// after the directory spawned it.
  template <class F>
  void with_tenant(const tenant_table::lookup_result& found,
                   std::string tenant_id, const exchange& ex, F f) {
    if (found.outcome == tenant_table::verdict::running) {
      f(found.actor);
      return;
    }
    tenant_continuation cont = [ex, f = std::move(f)](tenant_actor actor) {
      if (!actor)
        ex.write_error(unauthorized());
      else
        f(std::move(actor));
    };
    caf::anon_send(be.directory, spawn_atom::value, std::move(tenant_id),
                   std::move(cont));
  }

  bool admin_authorized(const request_handle& req) const {
    auto token = bearer_token(req);
    return token && crypto::constant_time_equal(crypto::sha256(*token),
                                                cfg.admin_token_hash);
  }

  /// Decides from the headers of a request with a body (`content_length`
  /// ULLONG_MAX when chunked) whether to read the body: refuses what
  /// `dispatch` would refuse without looking at the body (no route, not
  /// ready, shutting down, overloaded, bad token), then takes the body's
  /// share of the memory budget into `ticket`. Runs on an I/O thread.
  early_code inspect_headers(const restinio::http_request_header_t& header,
                             std::uint64_t content_length,
                             std::shared_ptr<void>& ticket) {
    std::string_view path{header.path().data(), header.path().size()};
    auto route = match_route(parse_method(header.method().c_str()), path);
    if (!route)
      return early_code::no_route;
    switch (route->id) {
    case route_id::healthz:
    case route_id::readyz:
    case route_id::openapi:
      break;
    default:
      if (!ready.load(std::memory_order_acquire))
        return early_code::not_ready;
      if (draining.load(std::memory_order_acquire))
        return early_code::draining;
      if (in_flight.load(std::memory_order_relaxed) >= cfg.max_in_flight)
        return early_code::overloaded;
      if (auto err = auth_error_of(header, route->id))
        return code_of(err) == errc::forbidden ? early_code::forbidden
                                               : early_code::unauthorized;
    }
    ticket = budget.take(content_length == ULLONG_MAX ? cfg.max_body_bytes
                                                      : content_length);
    return ticket ? early_code::read_body : early_code::body_memory;
  }

  /// The authentication `dispatch` asks of a route: the admin token on
  /// admin routes (and `/metrics` unless public), a known tenant token on
  /// tenant routes.
  caf::error auth_error_of(const restinio::http_request_header_t& header,
                           route_id id) const {
    switch (id) {
    case route_id::healthz:
    case route_id::readyz:
    case route_id::openapi:
      return {};
    case route_id::metrics:
      return cfg.metrics_public ? caf::error{} : admin_auth_error(header);
    default: {
      auto token = bearer_token(header);
      auto tenant_id = token ? crypto::tenant_of_token(*token) : std::nullopt;
      // Cluster mode: the owner of a tenant placed elsewhere judges its
      // token (`dispatch` forwards the request there).
      if (tenant_id && judged_elsewhere(*tenant_id))
        return {};
      if (is_admin_route(id))
        return admin_auth_error(header);
      if (!tenant_id ||
          be.tenants->lookup(*tenant_id, crypto::sha256(*token)).outcome ==
            tenant_table::verdict::unauthorized)
        return unauthorized();
      return {};
    }
    }
  }

  /// Answers a request refused by `inspect_headers` (or by the parser's
  /// body limit) from its headers; the connection closes after the answer.
  handling_status answer_early(request_handle handle, early_code code) {
    auto started = std::chrono::steady_clock::now();
    auto ex = exchange_of(std::move(handle), started);
    const auto& req = ex.req;
    std::string_view path{req->header().path().data(),
                          req->header().path().size()};
    auto route =
      match_route(parse_method(req->header().method().c_str()), path);
    if (!route) { // the route decides first, as in `dispatch`
      ex.write_error(route.error(), allowed_methods(path));
      return restinio::request_accepted();
    }
    switch (code) {
    case early_code::too_large:
      ex.write_error(payload_too_large(cfg.max_body_bytes));
      break;
    case early_code::not_ready:
      ex.write_error(not_ready());
      break;
    case early_code::draining:
      ex.write_error(
        make_error(errc::not_ready, "the server is shutting down"));
      break;
    case early_code::overloaded:
      ex.write_error(make_error(errc::overloaded,
                                "too many requests in flight; retry later"));
      break;
    case early_code::body_memory:
      ex.write_error(make_error(errc::overloaded,
                                "too many request bodies being received; "
                                "retry later"));
      break;
    case early_code::forbidden:
    case early_code::unauthorized: {
      auto err = auth_error_of(req->header(), route->id);
      ex.write_error(err ? err : unauthorized());
      break;
    }
    default:
      ex.write_error(make_error(errc::internal, "unexpected early answer"));
      break;
    }
    return restinio::request_accepted();
  }

  /// The exchange of a request from a RESTinio connection.
  static exchange exchange_of(request_handle req,
                              std::chrono::steady_clock::time_point started) {
    exchange ex{std::move(req), nullptr, {}, {}, started};
    ex.request_id = request_id_of(ex.header("X-Request-Id"));
    ex.route = route_template_of(ex.method(), ex.path());
    return ex;
  }

  /// Cluster mode: where a request for `tenant` goes (see
  /// `cluster::decide_route`), from the cached placement map, this node's
  /// directory, the rendezvous owner among the active members and, once
  /// etcd was asked (`looked_up`), what it said. `forwarded_epoch`: the
  /// epoch the sender of a forwarded request knew.
  cluster::route_decision route_of(std::string_view tenant,
                                   std::optional<uint64_t> forwarded_epoch,
                                   const looked_up_placement* looked_up) const {
    cluster::route_facts f;
    f.self = be.cluster->self();
    f.cached = be.cluster->placement_of(tenant);
    f.forwarded_epoch = forwarded_epoch;
    if (looked_up && looked_up->tenant == tenant) {
      f.looked_up = true;
      if (looked_up->value &&
          (!f.cached || looked_up->value->epoch > f.cached->epoch))
        f.cached = looked_up->value;
    }
    if (f.cached)
      return cluster::decide_route(f);
    f.held = be.tenants->holds(tenant);
    if (f.held || f.looked_up)
      return cluster::decide_route(f);
    f.looked_up = be.cluster->known_missing(tenant);
    if (!forwarded_epoch)
      f.rendezvous = cluster::rendezvous_owner(
        tenant, cluster::placement_candidates(be.cluster->members()));
    return cluster::decide_route(f);
  }

  /// Cluster mode, a direct request (its headers only): whether another
  /// node judges `tenant`'s token (the owner elsewhere, or etcd must be
  /// asked first: `dispatch` does, once the body is in).
  bool judged_elsewhere(std::string_view tenant) const {
    if (!be.cluster)
      return false;
    auto action = route_of(tenant, std::nullopt, nullptr).action;
    return action == cluster::route_action::forward ||
           action == cluster::route_action::look_up;
  }

  handling_status handle(request_handle req) {
    auto started = std::chrono::steady_clock::now();
    exchange ex{req, nullptr, {}, {}, started};
    ex.request_id = request_id_of(ex.header("X-Request-Id"));
    ex.route = route_template_of(ex.method(), ex.path());
    run(ex);
    return restinio::request_accepted();
  }

  void serve_forwarded(cluster::forwarded_request fr,
                       std::function<void(cluster::forwarded_response)> reply) {
    auto started = std::chrono::steady_clock::now();
    auto src = std::make_shared<forwarded_source>();
    src->req = std::move(fr);
    src->reply = std::move(reply);
    std::string_view target = src->req.target;
    auto mark = target.find('?');
    src->path = target.substr(0, mark);
    if (mark != std::string_view::npos)
      src->query = target.substr(mark + 1);
    exchange ex{nullptr, std::move(src), {}, {}, started};
    ex.request_id = request_id_of(ex.header("X-Request-Id"));
    ex.route = route_template_of(ex.method(), ex.path());
    run(ex);
  }

  void run(const exchange& ex) {
    try {
      dispatch(ex);
    } catch (const std::exception& e) {
      ex.write_error(make_error(errc::internal, e.what()));
    }
  }

  // -- cluster mode: the forward step ----------------------------------------

  static caf::error tenant_unavailable(std::string text) {
    return make_error(errc::tenant_unavailable, std::move(text));
  }

  /// Cluster mode: when the tenant's placement names another node, hands the
  /// request to that node (its answer is written unchanged). A forwarded
  /// one goes on only if this node knows a newer epoch than the sender did
  /// (a move the sender has not seen yet), else 503 TENANT_UNAVAILABLE:
  /// epochs grow with each hop, so placements that disagree never make a
  /// loop. A forwarded request whose sender knew a newer epoch than this
  /// node does while this node is the owner here also gets 503 (this node
  /// may have lost the tenant: fencing). A tenant that neither the cached
  /// map nor this node knows, whose rendezvous owner is this node (or whose
  /// sender went by rendezvous), has its placement key read from etcd
  /// first (`look_up`): the request is then forwarded to the owner the key
  /// names, or judged here (401/404) when there is none. Returns whether
  /// it took the request; false: serve it here.
  bool forward_if_elsewhere(const exchange& ex, std::string_view tenant) {
    if (!be.cluster)
      return false;
    auto fwd_epoch =
      ex.fwd ? std::optional<uint64_t>{ex.fwd->req.epoch} : std::nullopt;
    auto d = route_of(tenant, fwd_epoch, ex.looked_up.get());
    switch (d.action) {
    case cluster::route_action::serve_here:
      return false;
    case cluster::route_action::forward:
      forward_to_node(ex, d.node, make_forwarded(ex, tenant, d.epoch));
      return true;
    case cluster::route_action::look_up:
      look_up_then_dispatch(ex, tenant);
      return true;
    case cluster::route_action::refuse_newer_epoch:
      node_metrics().on_forward("newer_epoch", 0);
      ex.write_error(tenant_unavailable(
        "the tenant moved; this node's placement map is behind, retry later"));
      return true;
    case cluster::route_action::refuse_not_owner:
      node_metrics().on_forward("not_owner", 0);
      ex.write_error(
        tenant_unavailable("the tenant is moving between nodes; retry later"));
      return true;
    }
    return false;
  }

  /// Reads `tenant`'s placement key from etcd (on the membership's threads)
  /// and dispatches `ex` again with the answer; the request counts as in
  /// flight meanwhile. A refused or failed read: 503 TENANT_UNAVAILABLE
  /// with Retry-After.
  void look_up_then_dispatch(const exchange& ex, std::string_view tenant) {
    in_flight.fetch_add(1, std::memory_order_relaxed);
    be.cluster->lookup_placement(
      std::string{tenant},
      [this, ex, t = std::string{tenant}](
        caf::expected<std::optional<cluster::placement>> got) mutable {
        in_flight.fetch_sub(1, std::memory_order_relaxed);
        if (!got) {
          ex.write_error(got.error());
          return;
        }
        auto again = ex;
        again.looked_up = std::make_shared<const looked_up_placement>(
          looked_up_placement{std::move(t), std::move(*got)});
        run(again);
      });
  }

  /// Hands `fr` (a direct request) to the member `node_id` and writes its
  /// answer unchanged; 503 TENANT_UNAVAILABLE when it is not a member or
  /// does not answer.
  void forward_to_node(const exchange& ex, const std::string& node_id,
                       cluster::forwarded_request fr) {
    auto owner = be.cluster ? be.cluster->member_of(node_id) : std::nullopt;
    if (!owner || owner->peer.empty() || !be.forward) {
      node_metrics().on_forward("no_owner", 0);
      ex.write_error(tenant_unavailable(
        "the node that owns this tenant is not reachable; retry later"));
      return;
    }
    forward(owner->peer, std::move(fr),
            [ex](caf::expected<cluster::forwarded_response> answer) {
              if (answer)
                ex.write_relayed(*answer);
              else
                ex.write_error(answer.error());
            });
  }

  /// Self-fencing (cluster mode): answers a mutation of a tenant served
  /// here with 503 TENANT_UNAVAILABLE while this node may not acknowledge
  /// writes (its lease was not renewed in time); reads go on. Returns
  /// whether it answered.
  bool fenced(const exchange& ex, route_id id) const {
    if (!be.cluster || !is_mutation(id) || be.cluster->may_acknowledge())
      return false;
    ex.write_error(tenant_unavailable(
      "this node could not renew its cluster lease in time and acknowledges "
      "no writes until it has; retry later"));
    return true;
  }

  /// Hands `ex` to the node `node` (the new owner of a tenant that moved
  /// away) and writes its answer unchanged; see `forward_to_node`.
  void relay(const exchange& ex, const std::string& node,
             std::string_view tenant, uint64_t epoch) {
    forward_to_node(ex, node, make_forwarded(ex, tenant, epoch));
  }

  /// Planned moves: a request for a tenant frozen here (`moving`) waits,
  /// parked in the routing table (at most `tenant_table::max_parked` per
  /// tenant, at most its park timeout, then 503 TENANT_UNAVAILABLE with
  /// Retry-After), on no thread; when the move ends it is dispatched again:
  /// served here after a thaw, sent to the new owner after a release. A
  /// request for a tenant that just moved away (`moved`, before this node's
  /// placement cache knows) goes to the new owner, which judges the token.
  /// Direct and forwarded requests alike. Returns whether it took `ex`.
  bool follow_move(const exchange& ex, const tenant_table::lookup_result& found,
                   std::string_view tenant) {
    using verdict = tenant_table::verdict;
    if (found.outcome == verdict::moved) {
      auto place = be.cluster ? be.cluster->placement_of(tenant) : std::nullopt;
      relay(ex, found.node, tenant, place ? place->epoch : 0);
      return true;
    }
    if (found.outcome != verdict::moving)
      return false;
    auto parked = be.tenants->park(tenant, [this, ex](bool expired) {
      if (expired)
        ex.write_error(tenant_unavailable(
          "the tenant is moving between nodes; retry later"));
      else
        run(ex);
    });
    if (parked == tenant_table::park_result::full)
      ex.write_error(tenant_unavailable(
        "too many requests wait for the tenant's move; retry later"));
    else if (parked == tenant_table::park_result::not_moving)
      run(ex); // the move ended meanwhile
    return true;
  }

  /// What a forward of `ex` carries.
  static cluster::forwarded_request
  make_forwarded(const exchange& ex, std::string_view tenant, uint64_t epoch) {
    cluster::forwarded_request fr;
    fr.method = ex.method();
    fr.target = ex.path();
    if (!ex.query().empty()) {
      fr.target += '?';
      fr.target += ex.query();
    }
    for (const auto& name : cluster::forwarded_header_names()) {
      if (name == "X-Request-Id") // the id this node answers with
        fr.headers.emplace_back(name, ex.request_id);
      else if (auto value = ex.header(name))
        fr.headers.emplace_back(name, *value);
    }
    fr.body = ex.body();
    fr.tenant = tenant;
    fr.epoch = epoch;
    return fr;
  }

  /// Sends `fr` to the peer at `peer` and calls `done` with the answer; the
  /// request counts as in flight until then.
  void forward(
    std::string peer, cluster::forwarded_request fr,
    std::function<void(caf::expected<cluster::forwarded_response>)> done) {
    in_flight.fetch_add(1, std::memory_order_relaxed);
    be.forward(std::move(peer), std::move(fr),
               cluster::forward_done{
                 [this, done = std::move(done)](
                   caf::expected<cluster::forwarded_response> answer) {
                   in_flight.fetch_sub(1, std::memory_order_relaxed);
                   done(std::move(answer));
                 }});
  }

  void dispatch(const exchange& ex) {
    if (ex.target().size() > max_uri_bytes) {
      ex.write_error(make_error(errc::uri_too_long, "uri",
                                "uri (the request target, path and query) "
                                "must be at most " +
                                  std::to_string(max_uri_bytes) + " bytes"));
      return;
    }
    auto path = ex.path();
    if (is_ui_path(path)) { // the admin dashboard (issue 18)
      serve_ui(ex);
      return;
    }
    auto method = parse_method(ex.method());
    auto route = match_route(method, path);
    if (!route) {
      ex.write_error(route.error(), allowed_methods(path));
      return;
    }
    if (ex.body().size() > cfg.max_body_bytes) {
      ex.write_error(payload_too_large(cfg.max_body_bytes));
      return;
    }
    switch (route->id) {
    case route_id::healthz:
      ex.write_data(200, boost::json::object{{"status", "ok"}});
      return;
    case route_id::readyz:
      if (ready.load(std::memory_order_acquire) && cluster_ready())
        ex.write_data(200, boost::json::object{{"status", "ready"}});
      else if (ready.load(std::memory_order_acquire))
        ex.write_error(make_error(errc::not_ready,
                                  "cluster mode: etcd is not reachable or "
                                  "the lease was not renewed in time"));
      else
        ex.write_error(not_ready());
      return;
    case route_id::openapi: // the document as is, without the envelope
      ex.write(200, std::string{openapi_document()});
      return;
    default:
      break;
    }
    if (!ready.load(std::memory_order_acquire)) {
      ex.write_error(not_ready());
      return;
    }
    if (draining.load(std::memory_order_acquire)) {
      ex.write_error(
        make_error(errc::not_ready, "the server is shutting down"));
      return;
    }
    if (in_flight.load(std::memory_order_relaxed) >= cfg.max_in_flight) {
      ex.write_error(make_error(errc::overloaded,
                                "too many requests in flight; retry later"));
      return;
    }
    switch (route->id) {
    case route_id::metrics:
      serve_metrics(ex);
      return;
    default:
      if (is_admin_route(route->id))
        dispatch_admin(ex, *route);
      else
        dispatch_tenant(ex, *route);
      return;
    }
  }

  // -- cluster mode (be.cluster; null on a single node) -----------------------

  bool cluster_ready() const { return !be.cluster || be.cluster->ready(); }

  /// The tenant's owner node: the placement map's, else this node (it
  /// holds the tenant; a claim may still be on its way to etcd).
  std::string owner_of(const std::string& tenant_id) const {
    if (!be.cluster)
      return cfg.node.node_id;
    auto p = be.cluster->placement_of(tenant_id);
    return p ? p->owner : be.cluster->self();
  }

  /// `GET /admin/v1/cluster`; a single node shows itself alone.
  boost::json::object cluster_json() const {
    boost::json::array members;
    boost::json::object by_node;
    std::string self = cfg.node.node_id;
    if (be.cluster) {
      self = be.cluster->self();
      for (const auto& m : be.cluster->members())
        members.push_back(
          boost::json::object{{"id", m.id},
                              {"http", m.http},
                              {"peer", m.peer},
                              {"state", cluster::to_string(m.state)}});
      for (const auto& [node, n] : be.cluster->tenants_by_node())
        by_node[node] = n;
    } else {
      members.push_back(boost::json::object{
        {"id", self},
        {"http", cfg.host + ":" + std::to_string(bound_port.load())},
        {"peer", ""},
        {"state", "active"}});
    }
    boost::json::array under_way;
    uint64_t done = 0;
    if (be.mover) {
      for (const auto& m : be.mover->under_way())
        under_way.push_back(move_json(m));
      done = be.mover->moves_done();
    }
    return {{"node", self},
            {"cluster_mode", be.cluster != nullptr},
            {"members", std::move(members)},
            {"tenants_by_node", std::move(by_node)},
            {"moves", boost::json::object{{"under_way", std::move(under_way)},
                                          {"done", done}}}};
  }

  /// `POST /admin/v1/tenants/{id}/move` with `pin` (default true): sets
  /// the tenant's pin to `pin` in etcd first (so the rebalancer of neither
  /// node undoes the move; the commit carries the pin over), then starts
  /// the move (`start_move`). A move the mover would refuse for `to` (not
  /// an active member, this node) is refused before the pin changes.
  void pin_then_move(const exchange& ex, const std::string& tenant,
                     const std::string& to, bool pin) {
    if (!be.cluster || !be.mover) {
      start_move(ex, tenant, to);
      return;
    }
    auto target = be.cluster->member_of(to);
    if (!target || target->state != cluster::node_state::active ||
        to == be.cluster->self()) {
      start_move(ex, tenant, to); // the mover's refusal, naming `to`
      return;
    }
    in_flight.fetch_add(1, std::memory_order_relaxed);
    be.cluster->set_pinned(
      tenant, pin,
      [this, ex, tenant, to](caf::expected<cluster::placement> placed) {
        in_flight.fetch_sub(1, std::memory_order_relaxed);
        if (!placed)
          ex.write_error(placed.error());
        else
          start_move(ex, tenant, to);
      });
  }

  /// `DELETE /admin/v1/tenants/{id}/pin` on the tenant's owner: clears the
  /// pin (the rebalancer may move the tenant to its rendezvous owner
  /// again); 200 with `{tenant, owner, epoch, pinned}`. On a single node
  /// nothing is pinned: 200, `pinned` false.
  void unpin(const exchange& ex, const std::string& tenant) {
    auto answer = [](const exchange& e, const std::string& t,
                     const cluster::placement& p) {
      e.write_data(200, boost::json::object{{"tenant", t},
                                            {"owner", p.owner},
                                            {"epoch", p.epoch},
                                            {"pinned", p.pinned}});
    };
    if (!be.cluster) {
      answer(ex, tenant, cluster::placement{cfg.node.node_id, 0});
      return;
    }
    in_flight.fetch_add(1, std::memory_order_relaxed);
    be.cluster->set_pinned(
      tenant, false,
      [this, ex, tenant, answer](caf::expected<cluster::placement> placed) {
        in_flight.fetch_sub(1, std::memory_order_relaxed);
        if (!placed)
          ex.write_error(placed.error());
        else
          answer(ex, tenant, *placed);
      });
  }

  static boost::json::object move_json(const cluster::move_info& m) {
    return {{"tenant", m.tenant},
            {"from", m.from},
            {"to", m.to},
            {"state", cluster::to_string(m.state)}};
  }

  /// `POST /admin/v1/tenants/{id}/move` on the tenant's owner, once the
  /// tenant is known here: 202 once the mover took the move (it runs on),
  /// else the mover's refusal (422 naming `to` or `tenant`).
  void start_move(const exchange& ex, const std::string& tenant,
                  const std::string& to) {
    if (!be.mover) {
      ex.write_error(make_error(errc::validation_failed, "to",
                                "to names no member: this node is not in "
                                "cluster mode"));
      return;
    }
    // `done` may run before `move` returns (a refusal): whoever comes
    // first answers.
    auto answered = std::make_shared<std::atomic<bool>>(false);
    be.mover->move(tenant, to, [ex, answered](caf::error err) {
      if (err && !answered->exchange(true))
        ex.write_error(err);
    });
    if (answered->exchange(true))
      return;
    cluster::move_info info{tenant, be.cluster->self(), to,
                            cluster::move_state::freezing};
    for (const auto& m : be.mover->under_way())
      if (m.tenant == tenant && m.from == info.from)
        info = m;
    ex.write_data(202, move_json(info));
  }

  static caf::error not_ready() {
    return make_error(errc::not_ready, "recovery has not finished yet");
  }

  /// Admin routes take only the admin token: 401 without a valid token, 403
  /// with a valid tenant token.
  caf::error admin_auth_error(const exchange& ex) const {
    return admin_auth_error_of(bearer_token(ex));
  }

  caf::error
  admin_auth_error(const restinio::http_request_header_t& header) const {
    return admin_auth_error_of(bearer_token(header));
  }

  caf::error admin_auth_error_of(std::optional<std::string_view> token) const {
    if (!token)
      return unauthorized();
    if (crypto::constant_time_equal(crypto::sha256(*token),
                                    cfg.admin_token_hash))
      return {};
    auto tenant_id = crypto::tenant_of_token(*token);
    if (tenant_id &&
        be.tenants->lookup(*tenant_id, crypto::sha256(*token)).outcome !=
          tenant_table::verdict::unauthorized)
      return make_error(errc::forbidden, "Authorization",
                        "admin routes need the admin token, not a tenant "
                        "token");
    return unauthorized();
  }

  /// `GET /metrics`: the Prometheus text format, not the envelope.
  void serve_metrics(const exchange& ex) {
    if (!cfg.metrics_public) {
      if (auto err = admin_auth_error(ex)) {
        ex.write_error(err);
        return;
      }
    }
    auto text = be.metrics_text ? be.metrics_text() : std::string{};
    ex.write(200, std::move(text), {}, {},
             "text/plain; version=0.0.4; charset=utf-8");
  }

  void dispatch_admin(const exchange& ex, const route_match& route) {
    if (auto err = admin_auth_error(ex)) {
      // A tenant token of a tenant owned elsewhere: its owner knows the
      // token and tells 403 from 401.
      auto token = bearer_token(ex);
      auto token_tenant =
        token ? crypto::tenant_of_token(*token) : std::nullopt;
      if (code_of(err) == errc::unauthorized && token_tenant &&
          forward_if_elsewhere(ex, *token_tenant))
        return;
      ex.write_error(err);
      return;
    }
    const auto& dir = be.directory;
    switch (route.id) {
    case route_id::admin_create_tenant: {
      auto name = parse_create_tenant(ex.body());
      if (!name) {
        ex.write_error(name.error());
        return;
      }
      if (be.cluster) {
        create_in_cluster(ex, std::move(*name));
        return;
      }
      caf::anon_send(dir, create_atom::value, std::move(*name),
                     reply_with<tenant_info>(
                       ex, [this](const exchange& e, const tenant_info& t) {
                         auto body = to_json(t);
                         body["owner"] = owner_of(t.id);
                         e.write_data(201, std::move(body));
                       }));
      return;
    }
    case route_id::admin_drain_node:
      drain_node(ex, route.id_param);
      return;
    case route_id::admin_list_tenants: {
      auto query = parse_tenant_query(ex); // `search`: issue 18
      if (!query) {
        ex.write_error(query.error());
        return;
      }
      if (be.cluster && !ex.fwd) {
        list_cluster_tenants(ex, *query);
        return;
      }
      auto q = *query;
      if (ex.fwd && ex.fwd->req.local_only) {
        // A part of a cluster-wide list: every tenant here up to the end of
        // the page asked for, which the asking node merges.
        q = up_to_page(q);
      }
      caf::anon_send(
        dir, list_atom::value, q,
        reply_with<tenant_page>(
          ex, [this](const exchange& e, const tenant_page& page) {
            if (page.items.empty()) {
              e.write_no_content();
              return;
            }
            auto now = now_unix_seconds();
            boost::json::array items;
            for (const auto& t : page.items)
              items.push_back(summary_json(t, now));
            e.write(200, page_body(std::move(items),
                                   pagination_json(page.page, page.page_size,
                                                   page.total_items),
                                   e.meta()));
          }));
      return;
    }
    case route_id::admin_node:
      caf::anon_send(dir, node_atom::value,
                     reply_with<node_status>(
                       ex, [this](const exchange& e, const node_status& x) {
                         auto body = node_json(cfg.node, x, now_unix_millis());
                         add_dashboard_figures(body); // issue 18
                         e.write_data(200, std::move(body));
                       }));
      return;
    case route_id::admin_cluster:
      ex.write_data(200, cluster_json());
      return;
    case route_id::admin_snapshot:
      caf::anon_send(
        dir, snapshot_atom::value,
        reply_with<uint64_t>(ex, [](const exchange& e, uint64_t n) {
          e.write_data(200, boost::json::object{{"snapshots", n}});
        }));
      return;
    default:
      break;
    }
    auto tenant_id = parse_tenant_id(route.id_param);
    if (!tenant_id) {
      ex.write_error(tenant_id.error());
      return;
    }
    if (forward_if_elsewhere(ex, *tenant_id) || fenced(ex, route.id))
      return;
    auto write_summary = [this](const exchange& e, const tenant_summary& t) {
      e.write_data(200, summary_json(t, now_unix_seconds()));
    };
    switch (route.id) {
    case route_id::admin_get_tenant:
      caf::anon_send(dir, get_atom::value, std::move(*tenant_id),
                     reply_with<tenant_summary>(ex, write_summary));
      return;
    case route_id::admin_deactivate_tenant: {
      auto params = parse_query_params(ex);
      auto purge = params ? parse_purge_flag(*params)
                          : caf::expected<bool>{std::move(params.error())};
      if (!purge) {
        ex.write_error(purge.error());
        return;
      }
      caf::anon_send(dir, deactivate_atom::value, std::move(*tenant_id), *purge,
                     reply_with<tenant_summary>(ex, write_summary));
      return;
    }
    case route_id::admin_rotate_token: {
      auto grace = parse_rotate_token(ex.body());
      if (!grace) {
        ex.write_error(grace.error());
        return;
      }
      caf::anon_send(dir, rotate_atom::value, std::move(*tenant_id), *grace,
                     reply_with<issued_token>(
                       ex, [](const exchange& e, const issued_token& t) {
                         e.write_data(201, to_json(t));
                       }));
      return;
    }
    case route_id::admin_move_tenant: { // planned moves (issue 15)
      auto to = parse_move_tenant(ex.body());
      auto pin = to ? parse_move_pin(ex.body())
                    : caf::expected<bool>{std::move(to.error())};
      if (!pin) {
        ex.write_error(pin.error());
        return;
      }
      caf::anon_send(dir, get_atom::value, std::move(*tenant_id),
                     reply_with<tenant_summary>(
                       ex, [this, to = std::move(*to), pin = *pin](
                             const exchange& e, const tenant_summary& t) {
                         pin_then_move(e, t.info.id, to, pin);
                       }));
      return;
    }
    case route_id::admin_unpin_tenant:
      caf::anon_send(dir, get_atom::value, std::move(*tenant_id),
                     reply_with<tenant_summary>(
                       ex, [this](const exchange& e, const tenant_summary& t) {
                         unpin(e, t.info.id);
                       }));
      return;
    case route_id::admin_patch_tenant: { // per-tenant limits (issue 13)
      auto patch = parse_limits_patch(ex.body());
      if (!patch) {
        ex.write_error(patch.error());
        return;
      }
      caf::anon_send(dir, limits_atom::value, std::move(*tenant_id), *patch,
                     reply_with<tenant_summary>(ex, write_summary));
      return;
    }
    case route_id::admin_list_endpoints: // the dashboard's (issue 18)
    case route_id::admin_disable_endpoint:
    case route_id::admin_enable_endpoint:
    case route_id::admin_resend_event:
      dispatch_dashboard(ex, route, std::move(*tenant_id));
      return;
    case route_id::admin_get_endpoint: {
      auto id = parse_endpoint_id(route.sub_param, "eid");
      if (!id) {
        ex.write_error(id.error());
        return;
      }
      caf::anon_send(dir, inspect_atom::value, std::move(*tenant_id), *id,
                     reply_with<endpoint_internal>(
                       ex, [](const exchange& e, const endpoint_internal& x) {
                         e.write_data(200, to_json(x));
                       }));
      return;
    }
    default:
      ex.write_error(make_error(errc::internal, "unhandled admin route"));
      return;
    }
  }

  /// Cluster mode, `POST /admin/v1/tenants`: the node that receives the
  /// request picks the tenant's id and forwards the create to its rendezvous
  /// owner among the active members (itself included); the owner creates
  /// the tenant under that id and claims its placement key in etcd before
  /// it answers 201, so the token works at once through every node. etcd
  /// away (or this node fenced): 503 TENANT_UNAVAILABLE, nothing created;
  /// a claim etcd refused: the tenant is purged again, 503.
  void create_in_cluster(const exchange& ex, std::string name) {
    std::string id;
    if (ex.fwd && !ex.fwd->req.tenant.empty()) {
      auto given = parse_tenant_id(ex.fwd->req.tenant);
      if (!given) {
        ex.write_error(given.error());
        return;
      }
      id = std::move(*given);
    } else {
      id = crypto::make_tenant_id();
    }
    if (!ex.fwd) {
      auto owner = cluster::rendezvous_owner(
        id, cluster::placement_candidates(be.cluster->members()));
      if (owner && *owner != be.cluster->self()) {
        forward_to_node(ex, *owner, make_forwarded(ex, id, 0));
        return;
      }
    }
    if (fenced(ex, route_id::admin_create_tenant))
      return;
    if (!be.cluster->ready()) {
      ex.write_error(tenant_unavailable(
        "cluster mode: etcd is not reachable, so no tenant can be placed; "
        "nothing was created; retry later"));
      return;
    }
    caf::anon_send(
      be.directory, create_atom::value, std::move(name), std::move(id),
      reply_with<tenant_info>(
        ex, [this](const exchange& e, const tenant_info& t) {
          in_flight.fetch_add(1, std::memory_order_relaxed);
          be.cluster->claim_created(
            t.id, [this, e, t](caf::expected<cluster::placement> placed) {
              in_flight.fetch_sub(1, std::memory_order_relaxed);
              if (placed && placed->owner == be.cluster->self()) {
                auto body = to_json(t);
                body["owner"] = placed->owner;
                e.write_data(201, std::move(body));
                return;
              }
              // Not placed: no tenant that no node answers for. Purge it.
              caf::anon_send(
                be.directory, deactivate_atom::value, t.id, true,
                reply_fn<tenant_summary>{
                  e.request_id, [](const caf::expected<tenant_summary>&) {}});
              e.write_error(tenant_unavailable(
                "cluster mode: etcd did not take the tenant's placement (" +
                (placed ? "placed on " + placed->owner
                        : text_of(placed.error())) +
                "); nothing was created; retry later"));
            });
        }));
  }

  /// `POST /admin/v1/cluster/nodes/{id}/drain`: 202 at once; node `id`
  /// (this one, or the member the request is forwarded to) sets its state
  /// `draining`, moves its tenants away and ends `drained`.
  void drain_node(const exchange& ex, std::string_view id) {
    auto members =
      be.cluster ? be.cluster->members() : std::vector<cluster::member>{};
    auto self = be.cluster ? be.cluster->self() : cfg.node.node_id;
    if (!be.cluster)
      members.push_back({self, {}, {}, cluster::node_state::active});
    auto target = std::find_if(members.begin(), members.end(),
                               [&](const auto& m) { return m.id == id; });
    if (target == members.end()) {
      ex.write_error(make_error(errc::not_found, "id",
                                "no member with id " + std::string{id}));
      return;
    }
    auto leaving = target->state == cluster::node_state::draining ||
                   target->state == cluster::node_state::drained;
    auto others_active =
      std::any_of(members.begin(), members.end(), [&](const auto& m) {
        return m.id != id && m.state == cluster::node_state::active;
      });
    if (!leaving && !others_active) {
      ex.write_error(make_error(
        errc::validation_failed, "id",
        "node " + std::string{id} +
          " is the last active member: its tenants have nowhere to go"));
      return;
    }
    if (id != self) {
      if (ex.fwd) { // never forwarded twice
        ex.write_error(tenant_unavailable(
          "the member list changed under the request; retry later"));
        return;
      }
      forward_to_node(ex, target->id, make_forwarded(ex, {}, 0));
      return;
    }
    if (be.drain)
      be.drain();
    ex.write_data(
      202, boost::json::object{
             {"node", self},
             {"state", leaving
                         ? cluster::to_string(target->state)
                         : cluster::to_string(cluster::node_state::draining)}});
  }

  /// A tenant's admin view with its `owner` node.
  boost::json::object summary_json(const tenant_summary& t,
                                   unix_seconds now) const {
    auto result = to_json(t, now);
    result["owner"] = owner_of(t.info.id);
    auto place =
      be.cluster ? be.cluster->placement_of(t.info.id) : std::nullopt;
    result["pinned"] = place && place->pinned;
    return result;
  }

  /// The query for every item up to the end of `q`'s page (page 1 of a
  /// larger size): one member's part of a cluster-wide list.
  static list_query up_to_page(list_query q) {
    auto size = static_cast<uint64_t>(q.page) * q.page_size;
    q.page_size = static_cast<uint32_t>(
      std::min<uint64_t>(size, std::numeric_limits<uint32_t>::max()));
    q.page = 1;
    return q;
  }

  /// What `list_cluster_tenants` collects: one part per member.
  struct tenant_merge {
    std::mutex mtx;
    size_t waiting = 0;
    boost::json::array items;
    uint64_t total = 0;
    /// Members that did not answer their part.
    std::vector<std::string> missing;
    caf::error local_error;
  };

  /// Cluster mode, `GET /admin/v1/tenants`: asks every member (this one
  /// included) for its tenants up to the end of the page, merges them by id
  /// and answers the page. A member that does not answer within the forward
  /// timeout is left out: the answer then carries `"partial": true` and
  /// `"missing_nodes"` (their ids), and `total_items` counts the members that
  /// answered.
  void list_cluster_tenants(const exchange& ex, const list_query& q) {
    auto merge = std::make_shared<tenant_merge>();
    auto self_id = be.cluster->self();
    std::vector<cluster::member> others;
    for (auto& m : be.cluster->members())
      if (m.id != self_id)
        others.push_back(std::move(m));
    merge->waiting = others.size() + 1;
    in_flight.fetch_add(1, std::memory_order_relaxed);
    auto part_done = [this, ex, merge, q] {
      // Called with `merge->mtx` held; the last part writes the answer.
      if (--merge->waiting == 0)
        write_merged(ex, *merge, q);
    };
    auto local_q = up_to_page(q);
    caf::anon_send(be.directory, list_atom::value, local_q,
                   reply_fn<tenant_page>{
                     ex.request_id,
                     [this, merge, part_done](caf::expected<tenant_page> page) {
                       auto now = now_unix_seconds();
                       std::lock_guard guard{merge->mtx};
                       if (!page) {
                         merge->local_error = std::move(page.error());
                       } else {
                         for (const auto& t : page->items)
                           merge->items.push_back(summary_json(t, now));
                         merge->total += page->total_items;
                       }
                       part_done();
                     }});
    for (const auto& m : others) {
      auto fr = make_forwarded(ex, {}, 0);
      fr.local_only = true;
      forward(m.peer, std::move(fr),
              [merge, part_done,
               id = m.id](caf::expected<cluster::forwarded_response> answer) {
                std::lock_guard guard{merge->mtx};
                if (!add_part(*merge, answer))
                  merge->missing.push_back(id);
                part_done();
              });
    }
  }

  /// Adds a member's part; false if it is no list (an error, a timeout).
  static bool add_part(tenant_merge& merge,
                       const caf::expected<cluster::forwarded_response>& x) {
    if (!x)
      return false;
    if (x->status == 204)
      return true;
    if (x->status != 200)
      return false;
    boost::system::error_code ec;
    auto doc = boost::json::parse(x->body, ec);
    if (ec || !doc.is_object())
      return false;
    const auto& obj = doc.get_object();
    auto* data = obj.if_contains("data");
    auto* pagination = obj.if_contains("pagination");
    if (!data || !data->is_array() || !pagination || !pagination->is_object())
      return false;
    for (const auto& item : data->get_array())
      merge.items.push_back(item);
    if (auto* total = pagination->get_object().if_contains("total_items");
        total && total->is_int64())
      merge.total += static_cast<uint64_t>(total->get_int64());
    return true;
  }

  void write_merged(const exchange& ex, tenant_merge& merge,
                    const list_query& q) {
    in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (merge.local_error) {
      ex.write_error(merge.local_error);
      return;
    }
    auto id_of = [](const boost::json::value& v) -> std::string_view {
      auto* id = v.is_object() ? v.get_object().if_contains("id") : nullptr;
      return id && id->is_string() ? std::string_view{id->get_string()}
                                   : std::string_view{};
    };
    std::sort(
      merge.items.begin(), merge.items.end(),
      [&](const auto& x, const auto& y) { return id_of(x) < id_of(y); });
    auto first = (static_cast<uint64_t>(q.page) - 1) * q.page_size;
    boost::json::array page;
    for (auto i = first; i < merge.items.size() && page.size() < q.page_size;
         ++i)
      page.push_back(merge.items[i]);
    if (page.empty() && merge.missing.empty()) {
      ex.write_no_content();
      return;
    }
    auto body =
      page_body(std::move(page),
                pagination_json(q.page, q.page_size, merge.total), ex.meta());
    if (!merge.missing.empty()) {
      auto doc = boost::json::parse(body).as_object();
      doc["partial"] = true;
      boost::json::array missing;
      for (const auto& id : merge.missing)
        missing.emplace_back(id);
      doc["missing_nodes"] = std::move(missing);
      body = boost::json::serialize(doc);
    }
    ex.write(200, std::move(body));
  }

  void dispatch_tenant(const exchange& ex, const route_match& route) {
    auto token = bearer_token(ex);
    auto tenant_id = token ? crypto::tenant_of_token(*token) : std::nullopt;
    if (!tenant_id) {
      ex.write_error(unauthorized());
      return;
    }
    if (forward_if_elsewhere(ex, *tenant_id))
      return;
    auto found = be.tenants->lookup(*tenant_id, crypto::sha256(*token));
    if (follow_move(ex, found, *tenant_id))
      return;
    if (found.outcome == tenant_table::verdict::unauthorized) {
      ex.write_error(unauthorized());
      return;
    }
    if (fenced(ex, route.id))
      return;
    std::string tid{*tenant_id};
    switch (route.id) {
    case route_id::create_endpoint: {
      auto body = parse_create_endpoint(ex.body());
      if (!body) {
        ex.write_error(body.error());
        return;
      }
      auto reply =
        reply_with<endpoint>(ex, [](const exchange& e, const endpoint& ep) {
          e.write_data(201, to_json(ep));
        });
      with_tenant(found, std::move(tid), ex,
                  [body = std::move(*body), reply](tenant_actor a) {
                    caf::anon_send(a, create_atom::value, body, reply);
                  });
      return;
    }
    case route_id::list_endpoints: {
      auto query = parse_query(ex);
      if (!query) {
        ex.write_error(query.error());
        return;
      }
      auto reply = reply_with<endpoint_page>(ex, write_endpoint_page);
      with_tenant(found, std::move(tid), ex,
                  [q = *query, reply](tenant_actor a) {
                    caf::anon_send(a, list_atom::value, q, reply);
                  });
      return;
    }
    case route_id::publish_event: {
      auto key = ex.header("Idempotency-Key");
      auto ev = parse_publish(ex.body(), key.value_or(std::string_view{}));
      if (!ev) {
        ex.write_error(ev.error());
        return;
      }
      auto reply = reply_with<event_receipt>(
        ex, [](const exchange& e, const event_receipt& r) {
          e.write_data(202, to_json(r));
        });
      with_tenant(found, std::move(tid), ex,
                  [ev = std::move(*ev), reply](tenant_actor a) {
                    caf::anon_send(a, publish_atom::value, ev, reply);
                  });
      return;
    }
    case route_id::publish_batch: { // issue 19
      auto parsed = parse_publish_batch(ex.body());
      if (!parsed) {
        ex.write_error(parsed.error());
        return;
      }
      // The valid events go to the tenant; the answer puts its receipts
      // back between the refused ones, in order.
      auto items = std::make_shared<std::vector<caf::expected<new_event>>>(
        std::move(*parsed));
      std::vector<new_event> valid;
      for (auto& x : *items)
        if (x)
          valid.push_back(std::move(*x));
      if (valid.empty()) {
        ex.write_data(202, batch_json(*items, {}));
        return;
      }
      auto reply = reply_with<batch_receipts>(
        ex, [items](const exchange& e, const batch_receipts& r) {
          e.write_data(202, batch_json(*items, r));
        });
      with_tenant(found, std::move(tid), ex,
                  [valid = std::move(valid), reply](tenant_actor a) {
                    caf::anon_send(a, publish_atom::value, valid, reply);
                  });
      return;
    }
    case route_id::list_events:
    case route_id::event_attempts:
      dispatch_history(ex, route, found, std::move(tid));
      return;
    case route_id::get_event: {
      auto event_id = parse_event_id(route.id_param);
      if (!event_id) {
        ex.write_error(event_id.error());
        return;
      }
      auto reply = reply_with<event_state>(
        ex, [](const exchange& e, const event_state& x) {
          e.write_data(200, to_json(x));
        });
      with_tenant(found, std::move(tid), ex,
                  [event_id = std::move(*event_id), reply](tenant_actor a) {
                    caf::anon_send(a, get_atom::value, event_id, reply);
                  });
      return;
    }
    default:
      break;
    }
    auto id = parse_endpoint_id(route.id_param);
    if (!id) {
      ex.write_error(id.error());
      return;
    }
    switch (route.id) {
    case route_id::get_endpoint: {
      auto reply = reply_with<endpoint_view>(
        ex, [](const exchange& e, const endpoint_view& ep) {
          e.write_data(200, to_json(ep));
        });
      with_tenant(found, std::move(tid), ex, [id = *id, reply](tenant_actor a) {
        caf::anon_send(a, get_atom::value, id, reply);
      });
      return;
    }
    case route_id::disable_endpoint:
    case route_id::enable_endpoint: {
      auto status = route.id == route_id::disable_endpoint
                      ? endpoint_status::inactive
                      : endpoint_status::active;
      auto reply = reply_with<no_content>(ex, write_nothing);
      with_tenant(found, std::move(tid), ex,
                  [id = *id, status, reply](tenant_actor a) {
                    caf::anon_send(a, status_atom::value, id, status, reply);
                  });
      return;
    }
    case route_id::get_statistics: {
      auto reply = reply_with<endpoint_stats>(
        ex, [](const exchange& e, const endpoint_stats& s) {
          e.write_data(200, to_json(s));
        });
      with_tenant(found, std::move(tid), ex, [id = *id, reply](tenant_actor a) {
        caf::anon_send(a, stats_atom::value, id, reply);
      });
      return;
    }
    case route_id::list_attempts: {
      auto query = parse_query(ex);
      if (!query) {
        ex.write_error(query.error());
        return;
      }
      auto reply = page_reply<attempt_page>(
        ex, [](const attempt_info& a) { return to_json(a); });
      with_tenant(found, std::move(tid), ex,
                  [id = *id, q = *query, reply](tenant_actor a) {
                    caf::anon_send(a, attempts_atom::value, id, q.page,
                                   q.page_size, reply);
                  });
      return;
    }
    case route_id::resend_event: {
      auto event_id = parse_event_id(route.sub_param);
      if (!event_id) {
        ex.write_error(event_id.error());
        return;
      }
      auto reply = reply_with<delivery_state>(ex, write_delivery);
      with_tenant(
        found, std::move(tid), ex,
        [id = *id, event_id = std::move(*event_id), reply](tenant_actor a) {
          caf::anon_send(a, resend_atom::value, id, event_id, reply);
        });
      return;
    }
    case route_id::update_endpoint:
    case route_id::delete_endpoint:
    case route_id::rotate_secret:
    case route_id::get_secret:
      dispatch_lifecycle(ex, route.id, found, std::move(tid), *id);
      return;
    case route_id::recover_endpoint: {
      auto since = parse_recover(ex.body());
      if (!since) {
        ex.write_error(since.error());
        return;
      }
      auto reply =
        reply_with<uint64_t>(ex, [](const exchange& e, uint64_t requeued) {
          e.write_data(202, boost::json::object{{"requeued", requeued}});
        });
      with_tenant(found, std::move(tid), ex,
                  [id = *id, since = *since, reply](tenant_actor a) {
                    caf::anon_send(a, recover_atom::value, id, since, reply);
                  });
      return;
    }
    default:
      ex.write_error(make_error(errc::internal, "unhandled route"));
      return;
    }
  }

  static void write_endpoint_page(const exchange& e,
                                  const endpoint_page& page) {
    if (page.items.empty())
      e.write_no_content();
    else
      e.write(200, page_body(page, e.meta()));
  }

  static void write_delivery(const exchange& e, const delivery_state& d) {
    e.write_data(202, to_json(d));
  }

  static void write_nothing(const exchange& e, no_content) {
    e.write_no_content();
  }

  // -- the admin dashboard (issue 18) -----------------------------------------

  /// `GET /admin/ui[/...]`: a file of the dashboard, compiled in (see
  /// http/ui_assets.hpp), with its security and caching headers. No
  /// credentials: the files hold no data; the page asks the admin routes
  /// with the token the user types.
  void serve_ui(const exchange& ex) {
    auto answer = ex.fwd ? caf::expected<ui_answer>{make_error(
                             errc::route_not_found, "path", "not forwarded")}
                         : answer_ui(parse_method(ex.method()), ex.path(),
                                     ex.header("If-None-Match"));
    if (!answer) {
      auto allow = code_of(answer.error()) == errc::method_not_allowed
                     ? std::string_view{"GET"}
                     : std::string_view{};
      ex.write_error(answer.error(), allow);
      return;
    }
    auto resp = ex.req->create_response(status_line(answer->status));
    resp.append_header("X-Request-Id", ex.request_id);
    if (answer->status == 308) {
      resp.append_header(restinio::http_field::location,
                         std::string{answer->location});
    } else {
      const auto& asset = *answer->asset;
      // Revalidated on every load (a new binary may serve new files); the
      // ETag makes that a 304 without a body.
      resp.append_header(restinio::http_field::cache_control, "no-cache");
      resp.append_header(restinio::http_field::etag, std::string{asset.etag});
      resp.append_header("Content-Security-Policy",
                         std::string{ui_content_security_policy});
      resp.append_header("X-Content-Type-Options", "nosniff");
      resp.append_header("Referrer-Policy", "no-referrer");
      resp.append_header("X-Frame-Options", "DENY");
      if (answer->status == 200) {
        resp.append_header(restinio::http_field::content_type,
                           std::string{asset.content_type});
        resp.set_body(std::string{asset.body});
      }
    }
    ex.log_access(answer->status);
    resp.done();
  }

  /// Adds to `GET /admin/v1/node` what the dashboard charts: attempts by
  /// outcome since start (the page derives the rates), pending deliveries
  /// and endpoints by status.
  static void add_dashboard_figures(boost::json::object& body) {
    auto f = node_metrics().figures();
    body["attempts"] = boost::json::object{{"success", f.attempts_success},
                                           {"failure", f.attempts_failure}};
    if (auto* d = body.if_contains("deliveries"); d && d->is_object())
      d->get_object()["pending"] = f.pending;
    body["endpoints"] =
      boost::json::object{{"active", f.endpoints_active},
                          {"disabled", f.endpoints_disabled},
                          {"inactive", f.endpoints_inactive},
                          {"total", f.endpoints_active + f.endpoints_disabled +
                                      f.endpoints_inactive}};
  }

  /// The dashboard's endpoint routes of tenant `tenant_id` with the admin
  /// token: the endpoint list, `disable`, `enable` and `resend` (the
  /// tenant routes' answers). Cluster forwarding and fencing happened in
  /// `dispatch_admin`.
  void dispatch_dashboard(const exchange& ex, const route_match& route,
                          std::string tenant_id) {
    if (route.id == route_id::admin_list_endpoints) {
      auto query = parse_query(ex);
      if (!query) {
        ex.write_error(query.error());
        return;
      }
      // As the tenant's list, with every secret redacted (admin views never
      // show one).
      auto reply = reply_with<endpoint_page>(
        ex, [](const exchange& e, endpoint_page page) {
          for (auto& ep : page.items)
            ep.secret = redacted;
          write_endpoint_page(e, page);
        });
      with_admin_tenant(std::move(tenant_id), reply,
                        [q = *query, reply](tenant_actor a) {
                          caf::anon_send(a, list_atom::value, q, reply);
                        });
      return;
    }
    auto id = parse_endpoint_id(route.sub_param, "eid");
    if (!id) {
      ex.write_error(id.error());
      return;
    }
    if (route.id == route_id::admin_resend_event) {
      auto event_id = parse_resend_request(ex.body());
      if (!event_id) {
        ex.write_error(event_id.error());
        return;
      }
      auto reply = reply_with<delivery_state>(ex, write_delivery);
      with_admin_tenant(
        std::move(tenant_id), reply,
        [id = *id, event_id = std::move(*event_id), reply](tenant_actor a) {
          caf::anon_send(a, resend_atom::value, id, event_id, reply);
        });
      return;
    }
    auto status = route.id == route_id::admin_disable_endpoint
                    ? endpoint_status::inactive
                    : endpoint_status::active;
    auto reply = reply_with<no_content>(ex, write_nothing);
    with_admin_tenant(
      std::move(tenant_id), reply, [id = *id, status, reply](tenant_actor a) {
        caf::anon_send(a, status_atom::value, id, status, reply);
      });
  }

  /// Runs `f` with the actor of tenant `tenant_id` (the directory starts
  /// it if needed), else answers `reply` with 404 on `id` for a tenant this
  /// node does not have, 422 on `id` for a deactivated one.
  template <class T, class F>
  void with_admin_tenant(std::string tenant_id, const reply_fn<T>& reply, F f) {
    if (!be.tenants->holds(tenant_id)) {
      reply(
        make_error(errc::not_found, "id", "no tenant with id " + tenant_id));
      return;
    }
    tenant_continuation cont = [tenant_id, reply,
                                f = std::move(f)](tenant_actor actor) {
      if (actor)
        f(std::move(actor));
      else
        reply(make_error(errc::validation_failed, "id",
                         "tenant with id " + tenant_id + " is deactivated"));
    };
    caf::anon_send(be.directory, spawn_atom::value, std::move(tenant_id),
                   std::move(cont));
  }

  /// The endpoint lifecycle routes (issue 17) of endpoint `id` of tenant
  /// `tid`, authorized (`found`).
  void dispatch_lifecycle(const exchange& ex, route_id route,
                          const tenant_table::lookup_result& found,
                          std::string tid, endpoint_id id) {
    switch (route) {
    case route_id::update_endpoint: {
      auto patch = parse_patch_endpoint(ex.body());
      if (!patch) {
        ex.write_error(patch.error());
        return;
      }
      auto reply = reply_with<endpoint_view>(
        ex, [](const exchange& e, const endpoint_view& ep) {
          e.write_data(200, to_json(ep));
        });
      with_tenant(found, std::move(tid), ex,
                  [id, patch = std::move(*patch), reply](tenant_actor a) {
                    caf::anon_send(a, update_atom::value, id, patch, reply);
                  });
      return;
    }
    case route_id::delete_endpoint: {
      auto reply = reply_with<no_content>(
        ex, [](const exchange& e, no_content) { e.write_no_content(); });
      with_tenant(found, std::move(tid), ex, [id, reply](tenant_actor a) {
        caf::anon_send(a, delete_atom::value, id, reply);
      });
      return;
    }
    case route_id::rotate_secret: {
      auto req = parse_rotate_secret(ex.body());
      if (!req) {
        ex.write_error(req.error());
        return;
      }
      auto reply = reply_with<secret_info>(
        ex, [](const exchange& e, const secret_info& x) {
          e.write_data(200, rotation_json(x));
        });
      with_tenant(found, std::move(tid), ex,
                  [id, req = std::move(*req), reply](tenant_actor a) {
                    caf::anon_send(a, rotate_atom::value, id, req, reply);
                  });
      return;
    }
    default: { // get_secret
      auto reply = reply_with<secret_info>(
        ex, [](const exchange& e, const secret_info& x) {
          e.write_data(200, to_json(x));
        });
      with_tenant(found, std::move(tid), ex, [id, reply](tenant_actor a) {
        caf::anon_send(a, secret_atom::value, id, reply);
      });
      return;
    }
    }
  }

  /// A reply that answers a page (`attempt_page` and its kind): 204 when it
  /// is empty, else 200 with each item turned into JSON by `item_json` and
  /// the pagination.
  template <class Page, class ItemJson>
  reply_fn<Page> page_reply(const exchange& ex, ItemJson item_json) {
    return reply_with<Page>(
      ex, [item_json](const exchange& e, const Page& page) {
        if (page.items.empty()) {
          e.write_no_content();
          return;
        }
        boost::json::array items;
        for (const auto& x : page.items)
          items.push_back(item_json(x));
        e.write(200, page_body(std::move(items),
                               pagination_json(page.page, page.page_size,
                                               page.total_items),
                               e.meta()));
      });
  }

  /// The event history (issue 17): `GET /v1/webhook/events` and
  /// `GET /v1/webhook/events/{id}/attempts` of tenant `tid`, authorized
  /// (`found`).
  void dispatch_history(const exchange& ex, const route_match& route,
                        const tenant_table::lookup_result& found,
                        std::string tid) {
    auto params = parse_query_params(ex);
    if (!params) {
      ex.write_error(params.error());
      return;
    }
    if (route.id == route_id::list_events) {
      auto query = parse_event_query(*params);
      if (!query) {
        ex.write_error(query.error());
        return;
      }
      auto reply = page_reply<event_page>(
        ex, [](const event_state& x) { return to_json(x); });
      with_tenant(found, std::move(tid), ex,
                  [q = std::move(*query), reply](tenant_actor a) {
                    caf::anon_send(a, list_atom::value, q, reply);
                  });
      return;
    }
    auto event_id = parse_event_id(route.id_param);
    if (!event_id) {
      ex.write_error(event_id.error());
      return;
    }
    auto query = parse_list_query(*params);
    if (!query) {
      ex.write_error(query.error());
      return;
    }
    auto reply = page_reply<event_attempt_page>(ex, [](const event_attempt& x) {
      auto item = to_json(x.attempt);
      item["endpoint"] = x.endpoint;
      return item;
    });
    with_tenant(
      found, std::move(tid), ex,
      [event_id = std::move(*event_id), q = *query, reply](tenant_actor a) {
        caf::anon_send(a, attempts_atom::value, event_id, q.page, q.page_size,
                       reply);
      });
  }

  using query_params = std::vector<std::pair<std::string, std::string>>;

  /// Decodes the query string into (key, value) pairs.
  static caf::expected<query_params> parse_query_params(const exchange& ex) {
    auto query = ex.query();
    auto parsed = restinio::try_parse_query<rfc3986_query_traits>(
      restinio::string_view_t{query.data(), query.size()});
    if (!parsed)
      return make_error(errc::invalid_parameter, "query",
                        "query string is not valid URL encoding");
    query_params params;
    for (const auto& [key, value] : *parsed)
      params.emplace_back(std::string(key.data(), key.size()),
                          std::string(value.data(), value.size()));
    return params;
  }

  /// The query of `GET /admin/v1/tenants`: the list query and `search` (at
  /// most 100 bytes, else 422).
  static caf::expected<list_query> parse_tenant_query(const exchange& ex) {
    auto params = parse_query_params(ex);
    if (!params)
      return std::move(params.error());
    auto q = parse_list_query(*params);
    if (!q)
      return q;
    for (const auto& [key, value] : *params) {
      if (key != "search")
        continue;
      if (value.size() > 100)
        return make_error(errc::validation_failed, "search",
                          "search must be at most 100 bytes");
      q->search = value;
      break;
    }
    return q;
  }

  static caf::expected<list_query> parse_query(const exchange& ex) {
    auto params = parse_query_params(ex);
    if (!params)
      return std::move(params.error());
    return parse_list_query(*params);
  }
};

server::server(server_config cfg)
  : impl_(std::make_unique<impl>(std::move(cfg))) {
  // nop
}

server::~server() {
  stop();
}

caf::expected<uint16_t> server::start() {
  auto* self = impl_.get();
  // Process-wide; every server sets the same value.
  http_parser_set_max_header_size(max_request_head_bytes);
  try {
    self->running = restinio::run_async<impl::traits>(
      restinio::own_io_context(),
      restinio::server_settings_t<impl::traits>{}
        .address(self->cfg.host)
        .port(self->cfg.port)
        // The patched parser answers a body past the limit with 413 at once
        // (a Content-Length from the headers, a chunked body where it
        // crosses the limit) without reading further.
        // Request heads past these limits close the connection.
        .incoming_http_msg_limits(restinio::incoming_http_msg_limits_t{}
                                    .max_url_size(max_url_bytes)
                                    .max_field_name_size(max_field_name_bytes)
                                    .max_field_value_size(max_field_value_bytes)
                                    .max_field_count(max_header_fields)
                                    .max_body_size(self->cfg.max_body_bytes))
        .handle_request_timeout(std::chrono::seconds{60})
        .acceptor_post_bind_hook([self](asio::ip::tcp::acceptor& acceptor) {
          self->bound_port.store(acceptor.local_endpoint().port());
        })
        .ip_blocker(self->gate)
        .connection_state_listener(self->gate)
        .request_handler(impl::request_gate{self}),
      self->cfg.threads);
  } catch (const std::exception& e) {
    return make_error(errc::internal, "listen",
                      "cannot listen on " + self->cfg.host + ":" +
                        std::to_string(self->cfg.port) + ": " + e.what());
  }
  return self->bound_port.load();
}

void server::serve_forwarded(
  cluster::forwarded_request req,
  std::function<void(cluster::forwarded_response)> reply) {
  impl_->serve_forwarded(std::move(req), std::move(reply));
}

void server::set_ready(backend b) {
  impl_->be = std::move(b);
  impl_->ready.store(true, std::memory_order_release);
}

void server::drain(std::chrono::steady_clock::time_point deadline) {
  impl_->draining.store(true, std::memory_order_release);
  while (impl_->in_flight.load() > 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
}

void server::stop() {
  if (impl_->running && !impl_->stopped) {
    impl_->stopped = true;
    impl_->running->stop();
    impl_->running->wait();
  }
}

} // namespace wi::http
