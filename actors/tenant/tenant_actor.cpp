#include "actors/tenant/tenant_actor.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include <spdlog/spdlog.h>

#include "actors/common/clock.hpp"
#include "actors/common/crypto.hpp"
#include "actors/common/metrics.hpp"
#include "actors/common/text.hpp"
#include "actors/delivery/signing.hpp"
#include "actors/tenant/admin_views.hpp"
#include "actors/tenant/tenant_commit.hpp"
#include "actors/tenant/tenant_core.hpp"
#include "persistence/payload_reader.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
#include "webhook_ingress/error.hpp"

namespace wi {

namespace {

using self_ptr = tenant_actor::stateful_pointer<tenant_actor_state>;
using std::chrono::milliseconds;
using namespace tenant_shell;

caf::error endpoint_not_found(endpoint_id id) {
  return make_error(errc::not_found, "id",
                    "endpoint " + std::to_string(id) + " not found");
}

caf::error event_not_found(const std::string& id) {
  return make_error(errc::not_found, "event_id", "event " + id + " not found");
}

// -- deliveries ---------------------------------------------------------------

/// The FIFO lane of (event, endpoint), or nothing when either is gone.
std::optional<fifo_lane> lane_of(const tenant_state& st,
                                 const std::string& event_id, endpoint_id ep) {
  auto ev = st.events.find(event_id);
  if (ev == st.events.end())
    return std::nullopt;
  return fifo_lane{ep, ev->second.ordering_key};
}

/// Notes a pending delivery to a FIFO endpoint in its lane (see
/// `fifo_lanes`): every pending delivery passes here when it is scheduled,
/// so a lane knows its earlier events before a later one falls due.
void track(self_ptr self, const std::string& event_id, endpoint_id ep_id) {
  auto& st = self->state;
  auto ep = st.data.endpoints.find(ep_id);
  auto ev = st.data.events.find(event_id);
  if (ep == st.data.endpoints.end() || ev == st.data.events.end() ||
      ep->second.ordering != delivery_ordering::fifo)
    return;
  st.lanes.add({ep_id, ev->second.ordering_key}, ev->second.seq, event_id);
}

/// Arranges for the attempt of (event, endpoint) to start at `at`.
void schedule(self_ptr self, const std::string& event_id, endpoint_id ep,
              unix_millis at) {
  if (!self->state.delivery)
    return;
  track(self, event_id, ep);
  auto delay = at - now_millis(self);
  if (delay <= 0) // due now: no need for the clock's timer thread
    self->send(self, due_atom::value, event_id, ep);
  else
    self->delayed_send(self, milliseconds{delay}, due_atom::value, event_id,
                       ep);
}

/// Schedules every pending delivery (to `only` if given) at its due time.
void schedule_pending(self_ptr self, std::optional<endpoint_id> only = {}) {
  for (const auto& [id, ev] : self->state.data.events)
    for (const auto& d : ev.deliveries)
      if (d.status == delivery_status::pending &&
          (!only || d.endpoint == *only))
        schedule(self, id, d.endpoint, d.next_attempt_at);
}

/// The request body: the Standard Webhooks envelope around the payload.
std::string delivery_body(const event_state& ev, const std::string& payload) {
  auto secs = ev.created_at / 1000;
  // RFC 3339 in UTC, whole seconds (as everywhere in the API).
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string body = R"({"id":")";
  body += ev.id;
  body += R"(","type":")";
  body += ev.type;
  body += R"(","timestamp":")";
  body += ts;
  body += R"(","data":)";
  body += payload;
  body += '}';
  return body;
}

/// Builds the job for one attempt with request body `body` (see
/// `delivery_body`) and hands it to the delivery engine.
void submit(self_ptr self, const event_state& ev, const endpoint& ep,
            uint32_t attempt, std::string body) {
  auto& st = self->state;
  const auto& cfg = *st.delivery;
  delivery_job job;
  job.job_id = st.next_job++;
  job.url = ep.url;
  job.body = std::move(body);
  auto timestamp = clock_of(self).now_seconds();
  job.headers = {
    {std::string{delivery_header::content_type}, "application/json"},
    {std::string{delivery_header::user_agent},
     std::string{"webhook-ingress/"} + WI_VERSION},
    {std::string{delivery_header::webhook_id}, ev.id},
    {std::string{delivery_header::webhook_timestamp},
     std::to_string(timestamp)},
    {std::string{delivery_header::webhook_signature},
     // Both signatures during a secret rotation's grace (issue 17).
     signature_header(ep, ev.id, timestamp, job.body, now_millis(self))},
  };
  for (const auto& h : ep.headers)
    job.headers.push_back(h);
  job.endpoint_key = st.data.tenant_id + "/" + std::to_string(ep.id);
  job.connect_timeout = cfg.connect_timeout;
  job.total_timeout = cfg.total_timeout;
  auto me = caf::actor_cast<tenant_actor>(self);
  auto started = now_millis(self);
  cfg.engine->submit(std::move(job), [me, event_id = ev.id, ep_id = ep.id,
                                      attempt,
                                      started](delivery_outcome outcome) {
    // On the engine's thread: hand the outcome back, never block here.
    caf::anon_send(me, attempted_atom::value, event_id, ep_id, attempt, started,
                   std::move(outcome));
  });
}

void on_due(self_ptr self, const std::string& event_id, endpoint_id ep_id);

const delivery_state* pending_delivery(const tenant_state& st,
                                       const std::string& event_id,
                                       endpoint_id ep_id);

/// The oldest pending delivery of a FIFO lane (its event id), if any.
std::optional<std::string> lane_head(self_ptr self, const fifo_lane& lane) {
  const auto& data = self->state.data;
  auto head = self->state.lanes.head(lane, [&](const std::string& event_id) {
    return pending_delivery(data, event_id, lane.first) != nullptr;
  });
  if (!head)
    return std::nullopt;
  return std::move(head->second);
}

/// A delivery of `lane` ended or stopped waiting: its next one (the lane's
/// head) gets its turn when it is due. When the head is still `ended` (it
/// stays pending), whoever ended its attempt schedules it again (a retry,
/// a back-off after an overload or a failed write).
void kick_lane(self_ptr self, const fifo_lane& lane,
               const std::string& ended = {}) {
  if (auto head = lane_head(self, lane); head && *head != ended) {
    const auto* d = pending_delivery(self->state.data, *head, lane.first);
    schedule(self, *head, lane.first, d->next_attempt_at);
  }
}

/// Ends the attempt of (event, endpoint) under way, and starts waiting ones
/// while there is room.
void release(self_ptr self, const std::string& event_id, endpoint_id ep_id) {
  auto& st = self->state;
  st.in_flight.erase({event_id, ep_id});
  if (auto lane = lane_of(st.data, event_id, ep_id);
      lane && st.lanes.finish(*lane, event_id))
    kick_lane(self, *lane, event_id); // FIFO: the key's next event may go
  while (!st.waiting.empty() &&
         st.in_flight.size() < st.delivery->max_attempts_under_way) {
    auto next = std::move(st.waiting.front());
    st.waiting.pop_front();
    on_due(self, next.first, next.second); // checks whether still due
  }
}

/// Arms the timer of an endpoint's rate limit, `wait` from now.
void arm_throttle(self_ptr self, endpoint_id ep_id, endpoint_throttle& t,
                  std::chrono::microseconds wait) {
  if (t.armed)
    return;
  t.armed = true;
  auto ms = std::max<int64_t>((wait.count() + 999) / 1000, 1);
  self->delayed_send(self, milliseconds{ms}, throttle_atom::value, ep_id);
}

/// The endpoint's rate limit (issue 17): takes a token for the attempt of
/// (event, endpoint) and returns true, or queues the delivery behind those
/// already waiting for a token and returns false. Waiting is not an
/// attempt: no record, no breaker, no retry budget.
bool admit_rate(self_ptr self, const std::string& event_id, endpoint_id ep_id,
                const endpoint& ep) {
  auto& st = self->state;
  if (ep.rate_limit == 0)
    return true;
  auto& t = st.throttles[ep_id];
  if (t.queue.empty()) {
    auto d =
      take_delivery_token(t.bucket, ep.rate_limit, clock_of(self).steady_now());
    t.bucket = d.next;
    if (d.allowed)
      return true;
    arm_throttle(self, ep_id, t, d.wait);
  }
  if (t.queued.insert(event_id).second)
    t.queue.emplace_back(event_id, ep_id);
  return false;
}

/// Hands the attempt of (event, endpoint), both of which must exist, to the
/// engine, with the body from the cache or else after reading the payload;
/// `probe` marks the breaker's probe of a disabled endpoint (neither held
/// back by the cap nor by the rate limit); `token` says that the rate
/// limit's token was taken already.
void start_attempt(self_ptr self, const std::string& event_id,
                   endpoint_id ep_id, uint32_t attempt, bool probe,
                   bool token = false) {
  auto& st = self->state;
  if (!probe && st.in_flight.size() >= st.delivery->max_attempts_under_way) {
    st.waiting.emplace_back(event_id, ep_id);
    return;
  }
  if (st.in_flight.count({event_id, ep_id}) > 0)
    return; // an attempt is already under way
  const auto& ep = st.data.endpoints.at(ep_id);
  if (!probe && !token && !admit_rate(self, event_id, ep_id, ep))
    return; // waits for a token
  st.in_flight.insert({event_id, ep_id});
  if (ep.ordering == delivery_ordering::fifo)
    st.lanes.start({ep_id, st.data.events.at(event_id).ordering_key}, event_id);
  if (probe)
    st.probing.insert(ep_id);
  if (const auto* body = st.bodies.find(event_id)) {
    submit(self, st.data.events.at(event_id), st.data.endpoints.at(ep_id),
           attempt, *body);
    return;
  }
  self
    ->request(st.delivery->payloads, caf::infinite, get_atom::value,
              persistence::payload_key(st.data.tenant_id, event_id))
    .then(
      [self, event_id, ep_id, attempt](std::string& payload) {
        auto& s = self->state;
        auto e = s.data.events.find(event_id);
        auto p = s.data.endpoints.find(ep_id);
        if (e == s.data.events.end() || p == s.data.endpoints.end()) {
          s.probing.erase(ep_id);
          release(self, event_id, ep_id);
          return;
        }
        submit(self, e->second, p->second, attempt,
               delivery_body(e->second, payload));
      },
      [self, event_id, ep_id](caf::error&) {
        // The store cannot be read right now: try again shortly.
        self->state.probing.erase(ep_id);
        release(self, event_id, ep_id);
        self->delayed_send(self, std::chrono::seconds{1}, due_atom::value,
                           event_id, ep_id);
      });
}

/// Returns the pending delivery of (event, endpoint), or null.
const delivery_state* pending_delivery(const tenant_state& st,
                                       const std::string& event_id,
                                       endpoint_id ep_id) {
  auto ev = st.events.find(event_id);
  if (ev == st.events.end())
    return nullptr;
  for (const auto& d : ev->second.deliveries)
    if (d.endpoint == ep_id && d.status == delivery_status::pending)
      return &d;
  return nullptr;
}

void expire(self_ptr self, const std::string& event_id, endpoint_id ep_id);

/// Drops the cached body of an event none of whose deliveries is pending.
void forget_body_if_done(self_ptr self, const std::string& event_id) {
  auto& st = self->state;
  if (st.bodies.find(event_id) == nullptr)
    return;
  auto ev = st.data.events.find(event_id);
  if (ev == st.data.events.end() ||
      std::none_of(ev->second.deliveries.begin(), ev->second.deliveries.end(),
                   [](const delivery_state& d) {
                     return d.status == delivery_status::pending;
                   }))
    st.bodies.erase(event_id);
}

/// Returns the number of the attempt of (event, endpoint) when it may start
/// now: pending, due, within the retention window (else it expires), to an
/// active endpoint, and its turn on a FIFO endpoint. Nothing otherwise.
std::optional<uint32_t>
ready_attempt(self_ptr self, const std::string& event_id, endpoint_id ep_id) {
  auto& st = self->state;
  if (st.paused)
    return std::nullopt; // the tenant was deactivated
  auto ep = st.data.endpoints.find(ep_id);
  const auto* d = pending_delivery(st.data, event_id, ep_id);
  if (d == nullptr || ep == st.data.endpoints.end())
    return std::nullopt;
  auto now = now_millis(self);
  if (d->next_attempt_at > now + 5)
    return std::nullopt; // a timer of an earlier schedule (e.g. a resend)
  const auto& ev = st.data.events.at(event_id);
  if (ev.created_at + st.delivery->retention.count() < now) {
    expire(self, event_id, ep_id);
    return std::nullopt;
  }
  // An inactive endpoint gets nothing (`enable` schedules its queue again);
  // a disabled one gets only the breaker's probes.
  if (ep->second.status != endpoint_status::active)
    return std::nullopt;
  if (ep->second.ordering == delivery_ordering::fifo) {
    // FIFO (issue 17): the key's oldest pending event, one at a time. A
    // later event waits here; the end of its predecessor reschedules it.
    track(self, event_id, ep_id);
    fifo_lane lane{ep_id, ev.ordering_key};
    auto head = lane_head(self, lane);
    std::optional<uint64_t> head_seq;
    if (head)
      head_seq = st.data.events.at(*head).seq;
    if (decide_fifo(ep->second.ordering, ev.seq, head_seq,
                    st.lanes.busy(lane)) != fifo_verdict::attempt)
      return std::nullopt;
  }
  return d->attempts + 1;
}

/// Starts the attempt of (event, endpoint) if it is still due.
void on_due(self_ptr self, const std::string& event_id, endpoint_id ep_id) {
  if (auto attempt = ready_attempt(self, event_id, ep_id))
    start_attempt(self, event_id, ep_id, *attempt, false);
}

/// An endpoint's rate limit has a token again: starts the deliveries that
/// waited for one, oldest first, while tokens last. Deliveries no longer
/// ready leave the queue without a token (they come back when due).
void on_throttle(self_ptr self, endpoint_id ep_id) {
  auto& st = self->state;
  auto i = st.throttles.find(ep_id);
  if (i == st.throttles.end())
    return;
  auto& t = i->second;
  t.armed = false;
  auto ep = st.data.endpoints.find(ep_id);
  while (!t.queue.empty()) {
    auto event_id = t.queue.front().first;
    auto attempt = ep == st.data.endpoints.end()
                     ? std::nullopt
                     : ready_attempt(self, event_id, ep_id);
    if (attempt) {
      auto d = take_delivery_token(t.bucket, ep->second.rate_limit,
                                   clock_of(self).steady_now());
      t.bucket = d.next;
      if (!d.allowed) {
        arm_throttle(self, ep_id, t, d.wait);
        return;
      }
    }
    t.queue.pop_front();
    t.queued.erase(event_id);
    if (attempt)
      start_attempt(self, event_id, ep_id, *attempt, false, true);
  }
  // Nothing waits. The bucket stays (a fresh one would start full and let a
  // burst through at every lull) unless the endpoint went or is unlimited.
  if (ep == st.data.endpoints.end() || ep->second.rate_limit == 0)
    st.throttles.erase(i);
}

void publish(self_ptr self, new_event req, std::optional<endpoint_id> exclude,
             reply_fn<event_receipt> reply);

/// Publishes an operator notice (`endpoint.disabled`, `endpoint.recovered`,
/// `message.attempt.exhausted`) to the tenant's own endpoints that
/// subscribe to it, never to the endpoint it is about.
void notify(self_ptr self, std::string type, endpoint_id ep_id,
            const std::string& reason, const std::string& event_id = {},
            uint32_t attempts = 0) {
  std::string payload = R"({"endpoint_id":)" + std::to_string(ep_id) +
                        R"(,"reason":")" + reason + '"';
  if (!event_id.empty())
    payload += R"(,"event_id":")" + event_id + R"(","attempts":)" +
               std::to_string(attempts);
  payload += '}';
  publish(self, new_event{std::move(type), std::move(payload), {}}, ep_id,
          [](caf::expected<event_receipt>) {});
}

/// Writes breaker transition `t` of `ep_id`, then runs `then()`.
template <class Then>
void change_breaker(self_ptr self, endpoint_id ep_id, breaker_transition t,
                    Then then) {
  auto& st = self->state;
  st.breaker_busy.insert(ep_id);
  commit(
    self,
    breaker_record(st.data.tenant_id, ep_id, std::move(t), now_millis(self)),
    {}, {},
    [self, ep_id, then] {
      self->state.breaker_busy.erase(ep_id);
      then();
    },
    [self, ep_id](caf::error) { self->state.breaker_busy.erase(ep_id); });
}

/// Arms the probe timer of a disabled endpoint.
void schedule_probe(self_ptr self, endpoint_id ep_id) {
  const auto& a = self->state.data.activity;
  auto i = a.find(ep_id);
  if (i == a.end())
    return;
  auto delay = std::max<unix_millis>(
    i->second.breaker.next_probe_at - now_millis(self), 0);
  self->delayed_send(self, milliseconds{delay}, probe_atom::value, ep_id);
}

/// The breaker's decision after an attempt was recorded.
void after_attempt(self_ptr self, endpoint_id ep_id, outcome_kind kind,
                   bool probe) {
  auto& st = self->state;
  auto ep = st.data.endpoints.find(ep_id);
  if (ep == st.data.endpoints.end() || st.breaker_busy.count(ep_id) > 0)
    return;
  const auto& cfg = *st.delivery;
  auto t = decide_breaker(
    ep->second.status, st.data.activity[ep_id].breaker, kind, probe,
    {cfg.breaker_failures, cfg.breaker_cooldown, cfg.breaker_max_cooldown});
  if (!t)
    return;
  const auto& tid = st.data.tenant_id;
  if (t->trip) {
    auto reason = t->reason;
    change_breaker(self, ep_id, std::move(*t), [self, ep_id, reason, tid] {
      spdlog::warn("tenant {} endpoint {} disabled by the circuit breaker ({})",
                   tid, ep_id, reason);
      schedule_probe(self, ep_id);
      notify(self, "endpoint.disabled", ep_id, reason);
    });
  } else if (t->status == endpoint_status::active) {
    change_breaker(self, ep_id, std::move(*t), [self, ep_id, tid] {
      spdlog::warn("tenant {} endpoint {} recovered after a successful probe",
                   tid, ep_id);
      schedule_pending(self, ep_id);
      notify(self, "endpoint.recovered", ep_id, "probe");
    });
  } else {
    change_breaker(self, ep_id, std::move(*t),
                   [self, ep_id] { schedule_probe(self, ep_id); });
  }
}

/// The cool-down of a disabled endpoint ended: probe with its oldest pending
/// delivery.
void on_probe(self_ptr self, endpoint_id ep_id) {
  if (self->state.paused)
    return; // the tenant was deactivated
  auto& st = self->state;
  auto ep = st.data.endpoints.find(ep_id);
  if (ep == st.data.endpoints.end() ||
      ep->second.status != endpoint_status::disabled ||
      st.probing.count(ep_id) > 0 || st.breaker_busy.count(ep_id) > 0)
    return;
  const auto& b = st.data.activity[ep_id].breaker;
  auto now = now_millis(self);
  if (!probe_is_due(b.next_probe_at, now))
    return; // a timer of an earlier cool-down
  // Deliveries past the retention window are dropped, not probed with.
  auto choice = choose_probe(st.data, ep_id, now, st.delivery->retention);
  for (const auto& id : choice.expired)
    expire(self, id, ep_id);
  if (choice.event_id.empty()) {
    // Nothing queued to probe with: look again after another cool-down.
    self->delayed_send(self, milliseconds{b.cooldown_ms}, probe_atom::value,
                       ep_id);
    return;
  }
  start_attempt(self, choice.event_id, ep_id, choice.attempt, true);
}

/// Drops a delivery that outlived the retention window.
void expire(self_ptr self, const std::string& event_id, endpoint_id ep_id) {
  auto& st = self->state;
  if (!st.expiring.insert({event_id, ep_id}).second)
    return; // already on its way to the WAL
  commit(
    self,
    delivery_expired{st.data.tenant_id, event_id, ep_id, now_millis(self)}, {},
    {},
    [self, event_id, ep_id] {
      self->state.expiring.erase({event_id, ep_id});
      if (auto lane = lane_of(self->state.data, event_id, ep_id))
        kick_lane(self, *lane); // FIFO: failed for good, the next may go
      forget_body_if_done(self, event_id);
      notify(self, "message.attempt.exhausted", ep_id, "expired", event_id, 0);
    },
    [self, event_id, ep_id](caf::error) {
      self->state.expiring.erase({event_id, ep_id});
    });
}

/// How long a delivery waits after the engine refused it as `overloaded`.
constexpr auto overload_backoff = std::chrono::seconds{1};

/// Records an attempt's outcome and decides what comes next. The delivery
/// stays in `in_flight` until its record is applied (or failed), so that no
/// second attempt starts from the state before it.
void on_attempted(self_ptr self, const std::string& event_id, endpoint_id ep_id,
                  uint32_t attempt, unix_millis started,
                  delivery_outcome& outcome) {
  auto& st = self->state;
  if (st.data.endpoints.count(ep_id) == 0) {
    // The endpoint was deleted while the attempt was under way: its
    // statistics and attempt log went with it, nothing is recorded.
    st.probing.erase(ep_id);
    release(self, event_id, ep_id);
    forget_body_if_done(self, event_id);
    return;
  }
  auto kind = classify(outcome);
  if (kind == outcome_kind::shutdown) {
    // Not an attempt: the delivery stays pending for the next start.
    release(self, event_id, ep_id);
    return;
  }
  if (kind == outcome_kind::overloaded) {
    // The engine's queue was full and nothing was sent: not an attempt of
    // the endpoint's (it must not count in its statistics, its retry
    // budget or its breaker). The delivery, or the breaker's probe, is
    // tried again shortly.
    auto probe = st.probing.erase(ep_id) > 0;
    release(self, event_id, ep_id);
    if (probe)
      self->delayed_send(self, overload_backoff, probe_atom::value, ep_id);
    else
      self->delayed_send(self, overload_backoff, due_atom::value, event_id,
                         ep_id);
    return;
  }
  auto rec = record_attempt(st.data.tenant_id, event_id, ep_id, attempt,
                            started, outcome, st.delivery->retries,
                            st.delivery->jitter, now_millis(self));
  auto next = rec.next_attempt_at;
  auto pending = rec.outcome == delivery_status::pending;
  auto exhausted = rec.outcome == delivery_status::failed;
  auto probe = st.probing.erase(ep_id) > 0;
  commit_batched(
    self, std::move(rec),
    [self, event_id, ep_id, next, pending, exhausted, kind, probe, attempt] {
      release(self, event_id, ep_id);
      if (pending)
        schedule(self, event_id, ep_id, next);
      else
        forget_body_if_done(self, event_id);
      if (exhausted)
        notify(self, "message.attempt.exhausted", ep_id, "exhausted", event_id,
               attempt);
      after_attempt(self, ep_id, kind, probe);
    },
    [self, event_id, ep_id](caf::error) {
      // Not recorded: the delivery stays pending as it was durably; send
      // it again later (at-least-once).
      release(self, event_id, ep_id);
      self->delayed_send(self, std::chrono::seconds{1}, due_atom::value,
                         event_id, ep_id);
    });
}

event_receipt receipt_of(const event_state& ev, bool duplicate) {
  return event_receipt{ev.id, ev.type, ev.created_at, ev.deliveries.size(),
                       duplicate};
}

/// A publish admitted, its record on its way to the WAL (see `prepare`).
struct prepared_publish {
  event_accepted rec;
  /// The payload, stored with the record.
  std::string payload;
  /// Answers the caller (and whoever raced with the same key) once the
  /// record applied (the event) or failed (the error).
  std::function<void(const caf::expected<event_state*>&)> answer;
  std::string request_id;
};

/// Decides a publish up to its record: answers `reply` at once (a repeat of
/// an idempotency key in force, a refusal) or joins the publish under way
/// with the same key, and returns nothing; or returns the record to commit,
/// counting its deliveries as `publishing` until `finish_publish`.
std::optional<prepared_publish> prepare(self_ptr self, new_event& req,
                                        std::optional<endpoint_id> exclude,
                                        reply_fn<event_receipt> reply) {
  auto& st = self->state;
  if (!st.delivery) {
    reply(make_error(errc::internal, "deliveries are not configured"));
    return std::nullopt;
  }
  const auto& key = req.idempotency_key;
  auto now = now_millis(self);
  if (const auto* ev =
        idempotent_event(st.data, key, now, st.delivery->idempotency_window)) {
    reply(receipt_of(*ev, true));
    return std::nullopt;
  }
  if (auto i = st.publishing.find(key); i != st.publishing.end()) {
    i->second.push_back(std::move(reply)); // answered with the first
    return std::nullopt;
  }
  auto targets =
    publish_targets(st.data, st.publishing_deliveries, req.event_type, exclude,
                    st.delivery->max_pending);
  if (!targets) {
    reply(targets.error());
    return std::nullopt;
  }
  prepared_publish result{accept_event(st.data.tenant_id,
                                       "evt_" + crypto::random_base62(24), req,
                                       std::move(*targets), now),
                          std::move(req.payload),
                          {},
                          reply.request_id()};
  st.publishing_deliveries += result.rec.endpoints.size();
  if (!key.empty())
    st.publishing[key].push_back(std::move(reply));
  // Answers the caller, and every caller that raced with the same key
  // (those get the same event, marked as a duplicate).
  result.answer = [self, key, reply](const caf::expected<event_state*>& ev) {
    auto receipt = [&](bool dup) -> caf::expected<event_receipt> {
      if (!ev)
        return ev.error();
      return receipt_of(**ev, dup);
    };
    if (key.empty()) {
      reply(receipt(false));
      return;
    }
    auto i = self->state.publishing.find(key);
    if (i == self->state.publishing.end())
      return;
    for (size_t n = 0; n < i->second.size(); ++n)
      i->second[n](receipt(n > 0));
    self->state.publishing.erase(i);
  };
  return result;
}

/// Ends publish `p` whose record `applied` (applied to the state, or the
/// error that kept it out): answers, and starts the event's deliveries.
void finish_publish(self_ptr self, const prepared_publish& p,
                    const caf::error& err) {
  log_request(self, "event_accepted", p.request_id, err ? &err : nullptr);
  auto& s = self->state;
  auto count = p.rec.endpoints.size();
  s.publishing_deliveries -= count;
  if (err) {
    p.answer(err);
    return;
  }
  const auto& event_id = p.rec.event_id;
  auto& ev = s.data.events.at(event_id);
  // Kept for the deliveries' bodies (see `body_cache`); none without any.
  if (count > 0)
    s.bodies.put(event_id, delivery_body(ev, p.payload));
  p.answer(&ev);
  // Every delivery is due now: start them without a message each.
  for (const auto& d : ev.deliveries)
    on_due(self, event_id, d.endpoint);
}

/// Commits the records of `batch` in one WAL append (records and payloads
/// all or none), then applies and finishes each in order.
void commit_publishes(self_ptr self, std::vector<prepared_publish> batch) {
  if (batch.empty())
    return;
  auto& st = self->state;
  wal_append req;
  req.owner = st.data.tenant_id;
  req.records.reserve(batch.size());
  for (auto& p : batch) {
    req.records.push_back(persistence::encode(p.rec));
    // Moved unless the deliveries' bodies need it (see `finish_publish`).
    req.payloads.emplace_back(
      persistence::payload_key(st.data.tenant_id, p.rec.event_id),
      p.rec.endpoints.empty() ? std::move(p.payload) : p.payload);
  }
  if (batch.size() == 1) { // the single publish's shape
    req.payload_key = std::move(req.payloads.front().first);
    req.payload = std::move(req.payloads.front().second);
    req.payloads.clear();
  }
  auto shared =
    std::make_shared<std::vector<prepared_publish>>(std::move(batch));
  tenant_commit(
    self, std::move(req),
    [self, shared](uint64_t first) {
      for (auto& p : *shared) {
        auto err = apply_durable(self, p.rec, first++);
        finish_publish(self, p, err);
      }
    },
    [self, shared](caf::error err) {
      for (auto& p : *shared)
        finish_publish(self, p, err);
    });
}

void publish(self_ptr self, new_event req, std::optional<endpoint_id> exclude,
             reply_fn<event_receipt> reply) {
  auto p = prepare(self, req, exclude, std::move(reply));
  if (!p)
    return;
  std::vector<prepared_publish> one;
  one.push_back(std::move(*p));
  commit_publishes(self, std::move(one));
}

/// `POST /v1/webhook/events/batch` (issue 19): each event is admitted and
/// decided as a single publish is, in order (an idempotency key repeated
/// within the batch answers with its first event); the accepted ones share
/// one WAL append. `reply` gets every event's answer once the last is in.
void publish_batch(self_ptr self, std::vector<new_event>& events,
                   reply_fn<batch_receipts> reply);

void on_resend(self_ptr self, endpoint_id ep_id, const std::string& event_id,
               reply_fn<delivery_state>& reply) {
  auto& st = self->state;
  if (st.data.endpoints.count(ep_id) == 0) {
    reply(endpoint_not_found(ep_id));
    return;
  }
  auto ev = st.data.events.find(event_id);
  if (ev == st.data.events.end() || st.pruning.count(event_id) > 0) {
    // An event on its way out is as good as gone: a resend recorded after
    // its removal would find no event.
    reply(event_not_found(event_id));
    return;
  }
  for (const auto& d : ev->second.deliveries)
    if (d.endpoint == ep_id && d.status == delivery_status::pending) {
      reply(make_error(errc::validation_failed, "event_id",
                       "event " + event_id +
                         " is still pending for this endpoint"));
      return;
    }
  auto at = now_millis(self);
  commit(
    self, delivery_rescheduled{st.data.tenant_id, event_id, ep_id, at}, {}, {},
    [self, reply, event_id, ep_id, at] {
      log_request(self, "delivery_rescheduled", reply.request_id(), nullptr);
      schedule(self, event_id, ep_id, at);
      for (const auto& d : self->state.data.events.at(event_id).deliveries)
        if (d.endpoint == ep_id)
          reply(d);
    },
    [self, reply](caf::error err) {
      log_request(self, "delivery_rescheduled", reply.request_id(), &err);
      reply(std::move(err));
    });
}

/// Most deliveries one `recover` re-queues; a later call with the same
/// `since` goes on with the rest (docs/api.md).
constexpr size_t max_recovered = 10'000;

/// `POST /v1/webhook/endpoints/{id}/recover` (issue 17): re-queues, like
/// resend, each delivery to `ep_id` that failed for good at or after
/// `since` (the failed-delivery index, oldest first), all in one WAL append
/// (`commit_batched`), and answers how many once they are durable.
/// Deliveries re-queued by a recover under way, and events being pruned,
/// are left alone.
void on_recover(self_ptr self, endpoint_id ep_id, unix_millis since,
                reply_fn<uint64_t>& reply) {
  auto& st = self->state;
  if (st.data.endpoints.count(ep_id) == 0) {
    reply(endpoint_not_found(ep_id));
    return;
  }
  auto ids = st.history.failed_since(
    ep_id, since, max_recovered + st.recovering.size() + st.pruning.size());
  ids.erase(
    std::remove_if(
      ids.begin(), ids.end(),
      [&](const std::string& id) {
        return st.pruning.count(id) > 0 || st.recovering.count({id, ep_id}) > 0;
      }),
    ids.end());
  if (ids.size() > max_recovered)
    ids.resize(max_recovered);
  if (ids.empty()) {
    reply(uint64_t{0});
    return;
  }
  struct progress {
    size_t remaining;
    caf::error err;
    reply_fn<uint64_t> reply;
  };
  auto p = std::make_shared<progress>(progress{ids.size(), {}, reply});
  auto at = now_millis(self);
  auto done = [self, p, n = uint64_t{ids.size()}] {
    if (--p->remaining > 0)
      return;
    log_request(self, "delivery_rescheduled", p->reply.request_id(),
                p->err ? &p->err : nullptr);
    if (p->err)
      p->reply(std::move(p->err));
    else
      p->reply(n);
  };
  for (auto& id : ids) {
    st.recovering.emplace(id, ep_id);
    commit_batched(
      self, delivery_rescheduled{st.data.tenant_id, id, ep_id, at},
      [self, id, ep_id, at, done] {
        self->state.recovering.erase({id, ep_id});
        schedule(self, id, ep_id, at);
        done();
      },
      [self, id, ep_id, p, done](caf::error err) {
        self->state.recovering.erase({id, ep_id});
        p->err = std::move(err);
        done();
      });
  }
}

// -- history pruning ----------------------------------------------------------

/// Arms the timer of the next pruning round.
void schedule_prune(self_ptr self) {
  self->delayed_send(self, self->state.delivery->prune_interval,
                     prune_atom::value);
}

/// One pruning round: commits a `history_pruned` record for the events that
/// may go, with the deletes of their payloads in the same synced batch (so
/// no payload outlives its event, and none is deleted for an event the WAL
/// does not say is gone). A full round is followed by the next at once,
/// otherwise by the timer. Only one round is under way at a time.
void on_prune(self_ptr self) {
  auto& st = self->state;
  const auto& cfg = *st.delivery;
  auto now = now_millis(self);
  // Deliveries a recover is re-queueing count as under way: their events
  // stay (with their payloads).
  const auto* busy = &st.in_flight;
  std::set<delivery_key> merged;
  if (!st.recovering.empty()) {
    merged = st.in_flight;
    merged.insert(st.recovering.begin(), st.recovering.end());
    busy = &merged;
  }
  auto choice = choose_prune(
    st.data, *busy, now,
    {cfg.retention, cfg.idempotency_window, cfg.max_pruned_per_round});
  if (choice.event_ids.empty()) {
    schedule_prune(self);
    return;
  }
  auto full = choice.full;
  auto ids = std::move(choice.event_ids);
  std::vector<std::string> keys;
  keys.reserve(ids.size());
  for (const auto& id : ids) {
    keys.push_back(persistence::payload_key(st.data.tenant_id, id));
    st.pruning.insert(id);
  }
  auto count = ids.size();
  record rec = history_pruned{st.data.tenant_id, now, std::move(ids)};
  auto req = wal_append::one(st.data.tenant_id, persistence::encode(rec));
  req.erased_payloads = std::move(keys);
  tenant_commit(
    self, std::move(req),
    [self, rec = std::move(rec), full, count](uint64_t seq) {
      auto& s = self->state;
      s.pruning.clear();
      if (auto err = apply_durable(self, rec, seq)) {
        spdlog::error("tenant={} {}", s.data.tenant_id, text_of(err));
        schedule_prune(self);
        return;
      }
      for (const auto& id : std::get<history_pruned>(rec).event_ids)
        s.bodies.erase(id);
      spdlog::debug("applied record=history_pruned tenant={} seq={} "
                    "events={}",
                    s.data.tenant_id, seq, count);
      if (full)
        self->send(self, prune_atom::value);
      else
        schedule_prune(self);
    },
    [self](caf::error err) {
      self->state.pruning.clear();
      spdlog::warn("not applied record=history_pruned tenant={} error=\"{}\"",
                   self->state.data.tenant_id, text_of(err));
      schedule_prune(self);
    });
}

// -- per-tenant limits (issue 13) ---------------------------------------------
// The decisions are pure functions in `actors/tenant_limits.hpp`; these
// hooks only feed them the actor's state and clock, and commit.

/// The limits in force, or nothing when the actor runs without deliveries
/// (a deactivated tenant, unit tests): nothing is limited then.
std::optional<tenant_limits> limits_of(const tenant_actor_state& st) {
  if (!st.delivery)
    return std::nullopt;
  return resolve(st.data.limits, st.delivery->limits);
}

/// Admits an endpoint create under `max_endpoints`, counting it until it is
/// answered (`reply` is wrapped for that). Answers the error and returns
/// false when the tenant has no room left.
bool admit_create(self_ptr self, reply_fn<endpoint>& reply) {
  auto& st = self->state;
  auto limits = limits_of(st);
  if (!limits)
    return true;
  if (auto err = check_endpoint_quota(*limits, st.data.endpoints.size(),
                                      st.limits.creating)) {
    reply(std::move(err));
    return false;
  }
  ++st.limits.creating;
  reply = reply_fn<endpoint>{reply.request_id(),
                             [self, inner = reply](caf::expected<endpoint> x) {
                               --self->state.limits.creating;
                               inner(std::move(x));
                             }};
  return true;
}

/// Admits a publish from a client (see `admit_publish` in tenant_core.hpp),
/// counting its payload until it is answered (`reply` is wrapped for that).
/// Answers the error and returns false when refused. Operator notices
/// (`notify`) do not come through here: they are never refused, but their
/// bytes count once stored.
bool admit_client_publish(self_ptr self, const new_event& req,
                          reply_fn<event_receipt>& reply) {
  auto& st = self->state;
  auto limits = limits_of(st);
  if (!limits)
    return true;
  const auto& cfg = *st.delivery;
  const auto& clk = clock_of(self);
  auto verdict = admit_publish(
    st.data, st.limits, st.publishing.count(req.idempotency_key) > 0, req,
    {*limits, cfg.max_pending, cfg.idempotency_window, cfg.prune_interval},
    clk.now(), clk.steady_now());
  st.limits.bucket = verdict.bucket;
  if (verdict.refusal) {
    reply(std::move(verdict.refusal));
    return false;
  }
  if (verdict.bytes == 0)
    return true;
  auto bytes = verdict.bytes;
  st.limits.incoming_bytes += bytes;
  reply = reply_fn<event_receipt>{
    reply.request_id(),
    [self, bytes, inner = reply](caf::expected<event_receipt> x) {
      self->state.limits.incoming_bytes -= bytes;
      inner(std::move(x));
    }};
  return true;
}

void publish_batch(self_ptr self, std::vector<new_event>& events,
                   reply_fn<batch_receipts> reply) {
  struct gathering {
    batch_receipts results;
    size_t missing = 0;
    reply_fn<batch_receipts> reply;
  };
  if (events.empty()) {
    reply(batch_receipts{});
    return;
  }
  auto g = std::make_shared<gathering>();
  g->results.resize(events.size(), make_error(errc::internal, "not answered"));
  g->missing = events.size();
  g->reply = std::move(reply);
  std::vector<prepared_publish> batch;
  for (size_t i = 0; i < events.size(); ++i) {
    reply_fn<event_receipt> slot{g->reply.request_id(),
                                 [g, i](caf::expected<event_receipt> x) {
                                   g->results[i] = std::move(x);
                                   if (--g->missing == 0)
                                     g->reply(std::move(g->results));
                                 }};
    if (!admit_client_publish(self, events[i], slot)) // per-tenant limits
      continue;
    if (auto p = prepare(self, events[i], std::nullopt, std::move(slot)))
      batch.push_back(std::move(*p));
  }
  commit_publishes(self, std::move(batch));
}

/// The admin summary of this tenant as its actor sees it.
tenant_summary inspect(self_ptr self) {
  auto& st = self->state;
  auto result = summarize(st.data);
  result.loaded = true;
  // The messages already in the actor's queue. Not `mailbox().size()`: it
  // moves newly arrived messages into the queue this handler runs from,
  // which CAF does only between rounds (UB otherwise: UBSan aborts on a
  // downcast of the queue's sentinel). Messages that arrived during this
  // round are counted by the next inspect.
  result.mailbox_depth = self->mailbox().queue().total_task_size();
  if (auto limits = limits_of(st); limits && limits->publish_rate > 0)
    result.usage.publish_tokens =
      tokens_at(st.limits.bucket, limits->publish_rate, limits->publish_burst,
                clock_of(self).steady_now());
  return result;
}

/// Records an admin change of the limits; answers the summary once applied.
caf::result<tenant_summary> change_limits(self_ptr self,
                                          const limits_patch& patch) {
  auto rp = self->make_response_promise<tenant_summary>();
  tenant_limits_set rec{self->state.data.tenant_id,
                        clock_of(self).now_seconds(), patch};
  commit(
    self, std::move(rec), {}, {},
    [self, rp] {
      log_request(self, "tenant_limits_set", {}, nullptr);
      auto promise = rp;
      promise.deliver(inspect(self));
    },
    [self, rp](caf::error err) {
      log_request(self, "tenant_limits_set", {}, &err);
      auto promise = rp;
      promise.deliver(std::move(err));
    });
  return rp;
}

// -- endpoint lifecycle (issue 17) --------------------------------------------
// Each handler commits one record whose `apply` (actors/tenant/tenant_state)
// does the change; attempts already handed to the engine carry the settings
// they were built with, every later one reads the endpoint again.

/// The endpoint's current view, or not found when it was deleted while the
/// request's record was on its way to the WAL.
caf::expected<endpoint_view> current_view(self_ptr self, endpoint_id id) {
  const auto& data = self->state.data;
  auto i = data.endpoints.find(id);
  if (i == data.endpoints.end())
    return endpoint_not_found(id);
  return view_of(data, i->second);
}

/// `PATCH /v1/webhook/endpoints/{id}`: answers the updated endpoint as GET
/// does. A patch without fields changes nothing and writes nothing.
void on_update(self_ptr self, endpoint_id id, endpoint_patch& patch,
               reply_fn<endpoint_view>& reply) {
  auto& st = self->state;
  if (st.data.endpoints.count(id) == 0) {
    reply(endpoint_not_found(id));
    return;
  }
  if (patch.empty()) {
    reply(current_view(self, id));
    return;
  }
  auto ordering = patch.ordering;
  auto rate = patch.rate_limit;
  endpoint_updated rec{st.data.tenant_id, id, crypto::now_seconds(),
                       std::move(patch)};
  commit_reply(self, std::move(rec), std::move(reply),
               [self, id, ordering, rate] {
                 auto& s = self->state;
                 if (ordering) {
                   // Every pending delivery is looked at again under the
                   // new ordering (FIFO lanes start from the state).
                   s.lanes.drop_endpoint(id);
                   schedule_pending(self, id);
                 }
                 if (rate && s.throttles.count(id) > 0)
                   self->send(self, throttle_atom::value, id); // new rate
                 return current_view(self, id);
               });
}

/// `DELETE /v1/webhook/endpoints/{id}`: its pending deliveries end as
/// `cancelled`; answers once durable.
void on_delete(self_ptr self, endpoint_id id, reply_fn<no_content>& reply) {
  auto& st = self->state;
  if (st.data.endpoints.count(id) == 0) {
    reply(endpoint_not_found(id));
    return;
  }
  std::vector<std::string> cancelled;
  for (const auto& [event_id, ev] : st.data.events)
    for (const auto& d : ev.deliveries)
      if (d.endpoint == id && d.status == delivery_status::pending)
        cancelled.push_back(event_id);
  endpoint_deleted rec{st.data.tenant_id, id, crypto::now_seconds()};
  commit_reply(self, std::move(rec), std::move(reply),
               [self, cancelled = std::move(cancelled)] {
                 for (const auto& event_id : cancelled)
                   forget_body_if_done(self, event_id);
                 return no_content{};
               });
}

/// `POST /v1/webhook/endpoints/{id}/secret/rotate`: the current secret keeps
/// signing for the grace; answers the new secrets.
void on_rotate(self_ptr self, endpoint_id id, secret_rotation& req,
               reply_fn<secret_info>& reply) {
  auto& st = self->state;
  auto i = st.data.endpoints.find(id);
  if (i == st.data.endpoints.end()) {
    reply(endpoint_not_found(id));
    return;
  }
  auto secret = req.secret.empty() ? generate_secret() : std::move(req.secret);
  if (secret == i->second.secret) {
    reply(make_error(errc::validation_failed, "secret",
                     "secret must differ from the endpoint's current secret"));
    return;
  }
  auto now = now_millis(self);
  endpoint_secret_rotated rec{st.data.tenant_id, id, std::move(secret), now,
                              now + req.grace_ms};
  commit_reply(self, std::move(rec), std::move(reply),
               [self, id, now]() -> caf::expected<secret_info> {
                 const auto& eps = self->state.data.endpoints;
                 auto j = eps.find(id);
                 if (j == eps.end())
                   return endpoint_not_found(id);
                 return secrets_of(j->second, now);
               });
}

/// `GET /v1/webhook/endpoints/{id}/secret`.
void on_secret(self_ptr self, endpoint_id id, reply_fn<secret_info>& reply) {
  const auto& eps = self->state.data.endpoints;
  auto i = eps.find(id);
  if (i == eps.end())
    reply(endpoint_not_found(id));
  else
    reply(secrets_of(i->second, now_millis(self)));
}

} // namespace

tenant_actor_state::~tenant_actor_state() {
  node_metrics().count_tenant(data, -1);
}

void start_tenant(self_ptr self, tenant_state init, const owner_log& log,
                  wal_writer_actor wal, uint64_t snapshot_every,
                  std::shared_ptr<const delivery_settings> delivery) {
  auto& initial = self->state;
  initial.next_id = init.last_id + 1;
  initial.data = std::move(init);
  initial.history.rebuild(initial.data);
  initial.wal = std::move(wal);
  initial.log =
    commit_log::starting_at(log.last_seq, log.uncovered.size(), snapshot_every);
  initial.delivery = std::move(delivery);
  if (initial.delivery)
    initial.bodies.limit(initial.delivery->body_cache_bytes,
                         initial.delivery->body_cache_total,
                         initial.delivery->body_cache_total_bytes);
  schedule_pending(self);
  if (initial.delivery)
    schedule_prune(self);
  if (initial.delivery)
    for (const auto& [id, ep] : initial.data.endpoints)
      if (ep.status == endpoint_status::disabled)
        schedule_probe(self, id);
}

/// While frozen (a planned move), a mutation is refused: answers `reply`
/// and returns true. Only requests that raced with the freeze (sent to the
/// actor before the routing table parked the tenant's requests) get here.
template <class T>
bool refuse_frozen(self_ptr self, const reply_fn<T>& reply) {
  if (!self->state.frozen)
    return false;
  reply(make_error(errc::tenant_unavailable,
                   "the tenant is moving between nodes; retry later"));
  return true;
}

/// A planned move: stop, and answer the state once nothing is under way.
caf::result<frozen_tenant> freeze(self_ptr self) {
  auto& st = self->state;
  st.frozen = true;
  st.paused = true;
  st.waiting.clear();
  st.throttles.clear();
  st.lanes.clear();
  flush_batch(self); // outcomes handled before the freeze are kept
  if (st.commits_under_way == 0)
    return frozen_state(self);
  if (!st.freezing)
    st.freezing = self->make_response_promise<frozen_tenant>();
  return *st.freezing;
}

tenant_actor::behavior_type tenant_behavior(self_ptr self) {
  return {
    [self](create_atom, new_endpoint& req, reply_fn<endpoint>& reply) {
      if (refuse_frozen(self, reply) ||
          !admit_create(self, reply)) // per-tenant limits (issue 13)
        return;
      auto& st = self->state;
      auto now = clock_of(self).now_seconds();
      endpoint ep{st.next_id++,
                  std::move(req.url),
                  std::move(req.secret),
                  std::move(req.event_types),
                  std::move(req.headers),
                  endpoint_status::active,
                  now,
                  now,
                  std::move(req.description),
                  {},
                  0,
                  req.rate_limit,
                  req.ordering};
      auto id = ep.id;
      commit_reply(self, endpoint_created{st.data.tenant_id, std::move(ep)},
                   std::move(reply),
                   [self, id] { return self->state.data.endpoints.at(id); });
    },
    [self](get_atom, endpoint_id id, reply_fn<endpoint_view>& reply) {
      const auto& eps = self->state.data.endpoints;
      if (auto i = eps.find(id); i != eps.end())
        reply(view_of(self->state.data, i->second));
      else
        reply(endpoint_not_found(id));
    },
    [self](probe_atom, endpoint_id id) {
      if (!self->state.frozen)
        on_probe(self, id);
    },
    [self](prune_atom) {
      if (!self->state.frozen)
        on_prune(self);
    },
    [self](inspect_atom) { return inspect(self); },
    [self](inspect_atom, endpoint_id id) {
      return internal_view_of(self->state.data, id);
    },
    [self](deactivate_atom) { self->state.paused = true; },
    [self](flush_atom) { flush_batch(self); },
    [self](status_atom, endpoint_id id, endpoint_status status,
           reply_fn<no_content>& reply) {
      auto& st = self->state;
      if (refuse_frozen(self, reply))
        return;
      if (st.data.endpoints.count(id) == 0) {
        reply(endpoint_not_found(id));
        return;
      }
      endpoint_status_changed rec{st.data.tenant_id, id, status,
                                  clock_of(self).now_seconds()};
      commit_reply(self, std::move(rec), std::move(reply), [self, id, status] {
        if (status == endpoint_status::active)
          schedule_pending(self, id); // resume what waited while inactive
        return no_content{};
      });
    },
    [self](stats_atom, endpoint_id id, reply_fn<endpoint_stats>& reply) {
      const auto& eps = self->state.data.endpoints;
      if (auto i = eps.find(id); i != eps.end())
        reply(statistics_of(self->state.data, i->second));
      else
        reply(endpoint_not_found(id));
    },
    [self](list_atom, const list_query& q, reply_fn<endpoint_page>& reply) {
      reply(list_endpoints(self->state.data, q));
    },
    [self](publish_atom, new_event& req, reply_fn<event_receipt>& reply) {
      if (refuse_frozen(self, reply) ||
          !admit_client_publish(self, req, reply)) // per-tenant limits
        return;
      publish(self, std::move(req), std::nullopt, std::move(reply));
    },
    [self](publish_atom, std::vector<new_event>& events,
           reply_fn<batch_receipts>& reply) {
      if (!refuse_frozen(self, reply))
        publish_batch(self, events, reply);
    },
    [self](get_atom, const std::string& id, reply_fn<event_state>& reply) {
      const auto& evs = self->state.data.events;
      if (auto i = evs.find(id); i != evs.end())
        reply(i->second);
      else
        reply(event_not_found(id));
    },
    [self](attempts_atom, endpoint_id id, uint32_t page, uint32_t page_size,
           reply_fn<attempt_page>& reply) {
      if (self->state.data.endpoints.count(id) == 0)
        reply(endpoint_not_found(id));
      else
        reply(attempts_of(self->state.data, id, page, page_size));
    },
    [self](resend_atom, endpoint_id id, const std::string& event_id,
           reply_fn<delivery_state>& reply) {
      if (!refuse_frozen(self, reply))
        on_resend(self, id, event_id, reply);
    },
    [self](due_atom, const std::string& event_id, endpoint_id id) {
      if (!self->state.frozen)
        on_due(self, event_id, id);
    },
    [self](throttle_atom, endpoint_id id) {
      if (!self->state.frozen)
        on_throttle(self, id);
    },
    [self](attempted_atom, const std::string& event_id, endpoint_id id,
           uint32_t attempt, unix_millis started, delivery_outcome& outcome) {
      // Frozen: the outcome is dropped; the delivery is still pending in the
      // state that moves, and its new owner attempts it again.
      if (!self->state.frozen)
        on_attempted(self, event_id, id, attempt, started, outcome);
    },
    [self](checkpoint_atom) -> caf::result<uint64_t> {
      if (self->state.log.uncovered == 0)
        return uint64_t{0}; // the latest snapshot covers everything
      return delegate_snapshot(self);
    },
    [self](limits_atom,
           const limits_patch& patch) -> caf::result<tenant_summary> {
      if (self->state.frozen)
        return make_error(errc::tenant_unavailable,
                          "the tenant is moving between nodes; retry later");
      return change_limits(self, patch); // per-tenant limits (issue 13)
    },
    // Endpoint lifecycle (issue 17).
    [self](update_atom, endpoint_id id, endpoint_patch& patch,
           reply_fn<endpoint_view>& reply) {
      if (!refuse_frozen(self, reply))
        on_update(self, id, patch, reply);
    },
    [self](delete_atom, endpoint_id id, reply_fn<no_content>& reply) {
      if (!refuse_frozen(self, reply))
        on_delete(self, id, reply);
    },
    [self](rotate_atom, endpoint_id id, secret_rotation& req,
           reply_fn<secret_info>& reply) {
      if (!refuse_frozen(self, reply))
        on_rotate(self, id, req, reply);
    },
    [self](secret_atom, endpoint_id id, reply_fn<secret_info>& reply) {
      on_secret(self, id, reply);
    },
    // Event history and recover (issue 17).
    [self](list_atom, const event_query& q, reply_fn<event_page>& reply) {
      reply(self->state.history.list(self->state.data, q));
    },
    [self](attempts_atom, const std::string& id, uint32_t page,
           uint32_t page_size, reply_fn<event_attempt_page>& reply) {
      const auto& evs = self->state.data.events;
      if (auto i = evs.find(id); i != evs.end())
        reply(attempts_of_event(self->state.data, i->second, page, page_size));
      else
        reply(event_not_found(id));
    },
    [self](recover_atom, endpoint_id id, unix_millis since,
           reply_fn<uint64_t>& reply) {
      if (!refuse_frozen(self, reply))
        on_recover(self, id, since, reply);
    },
    [self](freeze_atom) { return freeze(self); },
  };
}

tenant_actor::behavior_type
tenant_actor_impl(self_ptr self, tenant_state init, owner_log log,
                  wal_writer_actor wal, uint64_t snapshot_every,
                  std::shared_ptr<const delivery_settings> delivery) {
  start_tenant(self, std::move(init), log, std::move(wal), snapshot_every,
               std::move(delivery));
  return tenant_behavior(self);
}

} // namespace wi
