#include "crash/history.hpp"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "support/receiver.hpp"
#include "support/time_util.hpp"

namespace json = boost::json;

namespace wi_crash {

namespace {

/// `obj[key]` as a string, or nullopt if absent or not a string.
std::optional<std::string> string_at(const json::object& obj,
                                     std::string_view key) {
  if (const auto* v = obj.if_contains(key); v != nullptr && v->is_string())
    return std::string{v->get_string()};
  return std::nullopt;
}

/// `obj["identifier"]` as an integer, or 0 if absent or not an integer.
int64_t identifier_of(const json::object& obj) {
  if (const auto* v = obj.if_contains("identifier")) {
    if (v->is_int64())
      return v->get_int64();
    if (v->is_uint64() && v->get_uint64() <= INT64_MAX)
      return static_cast<int64_t>(v->get_uint64());
  }
  return 0;
}

/// `obj[key]` as a non-negative integer, or nullopt.
std::optional<uint64_t> number_at(const json::object& obj,
                                  std::string_view key) {
  const auto* n = obj.if_contains(key);
  boost::system::error_code ec;
  auto x = n != nullptr ? n->to_number<uint64_t>(ec) : uint64_t{0};
  return n != nullptr && !ec ? std::optional<uint64_t>{x} : std::nullopt;
}

/// `obj["endpoint"]` (a delivery's endpoint) as an integer, or 0.
int64_t identifier_of_endpoint(const json::object& obj) {
  if (const auto* v = obj.if_contains("endpoint")) {
    if (v->is_int64())
      return v->get_int64();
    if (v->is_uint64() && v->get_uint64() <= INT64_MAX)
      return static_cast<int64_t>(v->get_uint64());
  }
  return 0;
}

/// A `webhook-timestamp` (decimal Unix seconds) as a number; nullopt unless
/// 1-12 digits.
std::optional<int64_t> unix_seconds_of_digits(std::string_view x) {
  if (x.empty() || x.size() > 12 ||
      !std::all_of(x.begin(), x.end(),
                   [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  int64_t result = 0;
  for (char c : x)
    result = result * 10 + (c - '0');
  return result;
}

/// A uniformly random index below `n` (`n > 0`).
size_t pick(std::mt19937_64& rng, size_t n) {
  return std::uniform_int_distribution<size_t>{0, n - 1}(rng);
}

/// A random string of `n` characters of `alphabet`.
std::string random_text(std::mt19937_64& rng, std::string_view alphabet,
                        size_t n) {
  std::string result;
  for (size_t i = 0; i < n; ++i)
    result += alphabet[pick(rng, alphabet.size())];
  return result;
}

/// "tenant <name> (<id>)" for messages.
std::string describe(const tenant_entry& t) {
  return "tenant " + t.name + (t.id.empty() ? "" : " (" + t.id + ")");
}

/// "endpoint <id> of tenant <name> (<url>)" for messages.
std::string describe(const endpoint_entry& e, const tenant_entry& t) {
  return "endpoint " + std::to_string(e.id) + " of " + describe(t) + " (" +
         e.spec.url + ")";
}

} // namespace

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::optional<int64_t> unix_seconds(std::string_view rfc3339) {
  if (!wi_e2e::is_rfc3339_utc(rfc3339))
    return std::nullopt;
  return wi_e2e::parse_rfc3339(rfc3339)->seconds;
}

// -- endpoint specs -----------------------------------------------------------

json::object to_json(const endpoint_spec& spec) {
  json::object result;
  result["url"] = spec.url;
  result["secret"] = spec.secret;
  json::array types;
  for (const auto& t : spec.event_types)
    types.emplace_back(t);
  result["event_types"] = std::move(types);
  if (!spec.headers.empty()) {
    json::object headers;
    for (const auto& [name, value] : spec.headers)
      headers[name] = value;
    result["headers"] = std::move(headers);
  }
  return result;
}

endpoint_spec random_spec(std::mt19937_64& rng, uint64_t serial,
                          std::string_view target_base) {
  static constexpr std::string_view alnum =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  // Multi-byte code points too: the secret must round-trip byte for byte.
  static const std::vector<std::string> secret_chars = {
    "a", "Z", "7", "-", "_", "+", "/", "=", " ", "\xc3\xa9", "\xe6\x97\xa5"};
  static const std::vector<std::string> type_pool = {
    "user.created", "user.updated", "order.paid",
    "invoice:sent", "a-b_c.d",      "*"};
  static const std::vector<std::string> header_names = {"X-Team", "X-Trace-Id",
                                                        "X-Crash"};
  endpoint_spec spec;
  // The loopback receiver: every delivery arrives, under a unique path.
  spec.url = std::string{target_base} + "/crash/" + std::to_string(serial) +
             "/" + random_text(rng, alnum, 1 + pick(rng, 12));
  if (pick(rng, 2) == 0) {
    // A whsec_ secret must be base64 the Standard Webhooks libraries decode:
    // 1-7 groups of 4, the last one possibly padded.
    static constexpr std::string_view b64 =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    spec.secret = "whsec_";
    auto groups = 1 + pick(rng, 7);
    for (size_t i = 0; i < groups * 4; ++i)
      spec.secret += b64[pick(rng, b64.size())];
    auto padding = pick(rng, 3);
    spec.secret.replace(spec.secret.size() - padding, padding, padding, '=');
  } else {
    auto secret_len = 8 + pick(rng, 30);
    for (size_t i = 0; i < secret_len; ++i)
      spec.secret += secret_chars[pick(rng, secret_chars.size())];
  }
  auto types = type_pool;
  std::shuffle(types.begin(), types.end(), rng);
  types.resize(1 + pick(rng, 3));
  spec.event_types = std::move(types);
  auto header_count = pick(rng, 3);
  for (size_t i = 0; i < header_count; ++i)
    spec.headers[header_names[pick(rng, header_names.size())]] =
      "v " + random_text(rng, alnum, 1 + pick(rng, 16));
  return spec;
}

std::string spec_mismatch(const endpoint_spec& spec, const json::object& ep) {
  std::string result;
  auto note = [&](std::string what) {
    if (!result.empty())
      result += "; ";
    result += what;
  };
  if (string_at(ep, "url") != spec.url)
    note("url differs");
  if (string_at(ep, "secret") != spec.secret)
    note("secret differs");
  json::array types;
  for (const auto& t : spec.event_types)
    types.emplace_back(t);
  const auto* have_types = ep.if_contains("event_types");
  if (have_types == nullptr || *have_types != json::value(std::move(types)))
    note("event_types differ");
  json::object headers;
  for (const auto& [name, value] : spec.headers)
    headers[name] = value;
  const auto* have_headers = ep.if_contains("headers");
  bool headers_ok = have_headers == nullptr
                      ? spec.headers.empty()
                      : *have_headers == json::value(std::move(headers));
  if (!headers_ok)
    note("headers differ");
  if (!result.empty())
    result += ": sent " + json::serialize(to_json(spec)) + ", server has " +
              json::serialize(ep);
  return result;
}

// -- the history: client side -------------------------------------------------

planned_op history::plan(std::mt19937_64& rng, int64_t now_s,
                         std::optional<planned_op::kind_t> want) {
  std::lock_guard guard{mtx_};
  planned_op op;
  // 0.5% tenant creates, 30% endpoint creates, 20% publishes, 1% token
  // rotations, the rest status changes.
  auto roll = std::uniform_int_distribution<int>{0, 999}(rng);
  if (want)
    roll = *want == planned_op::create_tenant     ? 0
           : *want == planned_op::create_endpoint ? 5
           : *want == planned_op::publish         ? 305
           : *want == planned_op::rotate_token    ? 505
                                                  : 515;
  if (roll >= 505 && roll < 515) {
    std::vector<size_t> candidates;
    for (auto index : usable_tenants_) {
      const auto& t = tenants_[index];
      if (!t.rotating && !t.rotated_this_round && !t.rotation_frozen)
        candidates.push_back(index);
    }
    if (!candidates.empty()) {
      op.kind = planned_op::rotate_token;
      op.index = candidates[pick(rng, candidates.size())];
      auto& t = tenants_[op.index];
      t.rotating = true;
      t.rotated_this_round = true;
      op.token = t.id;
      op.body = R"({"grace_seconds":604800})";
      return op;
    }
    roll = 515; // a status change instead
  }
  if (usable_tenants_.empty() || roll < 5) {
    op.kind = planned_op::create_tenant;
    op.index = tenants_.size();
    tenant_entry t;
    t.name = "crash-" + std::to_string(++serial_);
    json::object body;
    body["name"] = t.name;
    op.body = json::serialize(body);
    tenants_.push_back(std::move(t));
    ids_.emplace_back();
    return op;
  }
  if (roll >= 305 && roll < 505) {
    static const std::vector<std::string> types = {
      "user.created", "order.paid", "invoice:sent", "nobody.listens"};
    op.kind = planned_op::publish;
    op.index = events_.size();
    event_entry ev;
    ev.tenant = usable_tenants_[pick(rng, usable_tenants_.size())];
    ev.event_type = types[pick(rng, types.size())];
    ev.serial = ++serial_;
    ev.idempotency_key = "crash-event-" + std::to_string(ev.serial);
    op.token = tenants_[ev.tenant].token;
    // Written by hand, with blanks inside and numbers a re-printer would
    // change (`1.0`, `1e3`, `-0`): deliveries must carry it byte for byte.
    ev.payload = "{\"serial\": " + std::to_string(ev.serial) + ", \"note\": " +
                 json::serialize(json::string{random_text(rng, "xyz \"", 8)}) +
                 ", \"n\": [1.0, 1e3, -0]}";
    ev.body =
      "{\"event_type\":" + json::serialize(json::string{ev.event_type}) +
      ",\"idempotency_key\":" +
      json::serialize(json::string{ev.idempotency_key}) +
      ",\"payload\": " + ev.payload + " }";
    op.body = ev.body;
    by_serial_.emplace(ev.serial, op.index);
    events_.push_back(std::move(ev));
    return op;
  }
  if (roll >= 515 && !targets_.empty()) {
    // A status change of an idle endpoint: never two in flight on one
    // endpoint, so its acknowledged changes happened in the order sent.
    for (int attempt = 0; attempt < 8; ++attempt) {
      auto index = targets_[pick(rng, targets_.size())];
      auto& e = endpoints_[index];
      if (e.busy)
        continue;
      e.busy = true;
      e.changed = true;
      op.kind = planned_op::set_status;
      op.index = index;
      op.token = tenants_[e.tenant].token;
      op.id = e.id;
      op.status = pick(rng, 2) == 0 ? "active" : "inactive";
      return op;
    }
  }
  op.kind = planned_op::create_endpoint;
  op.index = endpoints_.size();
  endpoint_entry e;
  e.tenant = usable_tenants_[pick(rng, usable_tenants_.size())];
  e.spec = random_spec(rng, ++serial_, target_base_);
  e.path = e.spec.url.substr(target_base_.size());
  e.sent_at = now_s;
  by_path_.emplace(e.path, op.index);
  op.token = tenants_[e.tenant].token;
  op.body = json::serialize(to_json(e.spec));
  endpoints_.push_back(std::move(e));
  return op;
}

void history::ack_tenant(const planned_op& op, std::string id,
                         std::string token, std::string created_at) {
  std::lock_guard guard{mtx_};
  auto& t = tenants_[op.index];
  t.id = std::move(id);
  t.token = std::move(token);
  t.created_at = std::move(created_at);
  t.state = fate::acked;
  usable_tenants_.push_back(op.index);
  ++stats_.acked;
}

void history::ack_endpoint(const planned_op& op, int64_t id,
                           std::string create_timestamp,
                           const json::object& answer) {
  std::lock_guard guard{mtx_};
  auto& e = endpoints_[op.index];
  e.id = id;
  e.create_timestamp = std::move(create_timestamp);
  e.state = fate::acked;
  ++stats_.acked;
  if (auto diff = spec_mismatch(e.spec, answer); !diff.empty())
    reported_.push_back("the 201 of " + describe(e, tenants_[e.tenant]) +
                        " shows other fields: " + diff);
  if (string_at(answer, "status") != "active" ||
      string_at(answer, "last_modified") != e.create_timestamp)
    reported_.push_back(
      "the 201 of " + describe(e, tenants_[e.tenant]) +
      " is not a fresh active endpoint: " + json::serialize(answer));
  auto [i, fresh] = ids_[e.tenant].emplace(id, op.index);
  if (!fresh) {
    reported_.push_back(
      "identifier reused: " + describe(e, tenants_[e.tenant]) +
      " was acknowledged, but the tenant already has it (" +
      endpoints_[i->second].spec.url + ")");
    return; // not a target: its checks would only repeat this
  }
  targets_.push_back(op.index);
}

void history::ack_status(const planned_op& op) {
  std::lock_guard guard{mtx_};
  auto& e = endpoints_[op.index];
  e.baseline = op.status;
  e.unknown_after.clear();
  e.busy = false;
  ++stats_.acked;
}

void history::ack_rotation(const planned_op& op, std::string token) {
  std::lock_guard guard{mtx_};
  auto& t = tenants_[op.index];
  t.expired_token = std::move(t.previous_token);
  t.previous_token = std::move(t.token);
  t.token = std::move(token);
  ++t.rotations;
  t.rotating = false;
  ++stats_.acked;
}

void history::ack_event(const planned_op& op, const json::object& answer) {
  std::lock_guard guard{mtx_};
  auto& ev = events_[op.index];
  ev.id = string_at(answer, "id").value_or("");
  ev.created_at = string_at(answer, "created_at").value_or("");
  const auto* n = answer.if_contains("endpoints");
  boost::system::error_code ec;
  ev.endpoints = n != nullptr ? n->to_number<uint64_t>(ec) : 0;
  bool count_ok = n != nullptr && !ec;
  ev.state = fate::acked;
  ++stats_.acked;
  const auto* duplicate = answer.if_contains("duplicate");
  if (ev.id.empty() || string_at(answer, "event_type") != ev.event_type ||
      !unix_seconds(ev.created_at) || duplicate == nullptr ||
      *duplicate != json::value(false) || !count_ok)
    reported_.push_back("the 202 of publish " + ev.idempotency_key +
                        " is not a fresh receipt of a " + ev.event_type +
                        " event: " + json::serialize(answer));
}

void history::unanswered(const planned_op& op) {
  std::lock_guard guard{mtx_};
  ++stats_.unknown;
  switch (op.kind) {
  case planned_op::create_tenant:
    tenants_[op.index].state = fate::unknown;
    break;
  case planned_op::create_endpoint:
    endpoints_[op.index].state = fate::unknown;
    break;
  case planned_op::set_status: {
    auto& e = endpoints_[op.index];
    e.unknown_after.push_back(op.status);
    e.busy = false;
    break;
  }
  case planned_op::publish:
    events_[op.index].state = fate::unknown;
    break;
  case planned_op::rotate_token:
    tenants_[op.index].rotating = false;
    tenants_[op.index].rotation_frozen = true;
    break;
  }
}

void history::never_sent(const planned_op& op) {
  std::lock_guard guard{mtx_};
  switch (op.kind) {
  case planned_op::create_tenant:
    tenants_[op.index].state = fate::absent;
    break;
  case planned_op::create_endpoint:
    endpoints_[op.index].state = fate::absent;
    break;
  case planned_op::set_status:
    endpoints_[op.index].busy = false;
    break;
  case planned_op::publish:
    events_[op.index].state = fate::absent;
    break;
  case planned_op::rotate_token:
    tenants_[op.index].rotating = false;
    break;
  }
}

void history::report(std::string problem) {
  std::lock_guard guard{mtx_};
  reported_.push_back(std::move(problem));
}

std::vector<std::pair<std::string, std::string>> history::tokens() const {
  std::lock_guard guard{mtx_};
  std::vector<std::pair<std::string, std::string>> result;
  for (auto index : usable_tenants_)
    result.emplace_back(tenants_[index].id, tenants_[index].token);
  return result;
}

std::vector<std::pair<std::string, std::string>>
history::event_lookups() const {
  std::lock_guard guard{mtx_};
  std::vector<std::pair<std::string, std::string>> result;
  for (const auto& ev : events_)
    if (ev.state == fate::acked || ev.state == fate::present)
      result.emplace_back(tenants_[ev.tenant].token, ev.id);
  return result;
}

std::vector<repeat_request> history::repeats(std::mt19937_64& rng,
                                             size_t older) const {
  std::lock_guard guard{mtx_};
  std::vector<repeat_request> result;
  std::vector<size_t> checked_before;
  for (size_t i = 0; i < events_.size(); ++i) {
    const auto& ev = events_[i];
    bool known = ev.state == fate::acked || ev.state == fate::present;
    if (known && ev.repeated > 0)
      checked_before.push_back(i);
    else if (known || ev.state == fate::unknown)
      result.push_back(
        {tenants_[ev.tenant].token, ev.idempotency_key, ev.body});
  }
  if (older < checked_before.size()) {
    std::shuffle(checked_before.begin(), checked_before.end(), rng);
    checked_before.resize(older);
  }
  for (auto i : checked_before)
    result.push_back({tenants_[events_[i].tenant].token,
                      events_[i].idempotency_key, events_[i].body});
  return result;
}

std::vector<std::string> history::token_probes() const {
  std::lock_guard guard{mtx_};
  std::vector<std::string> result;
  for (auto index : usable_tenants_) {
    const auto& t = tenants_[index];
    if (t.rotation_frozen)
      continue;
    for (const auto* x : {&t.previous_token, &t.expired_token})
      if (!x->empty())
        result.push_back(*x);
  }
  return result;
}

std::vector<planned_op> history::plan_enable_all() {
  std::lock_guard guard{mtx_};
  std::vector<planned_op> result;
  for (auto index : targets_) {
    auto& e = endpoints_[index];
    if (e.busy || (e.baseline == "active" && e.unknown_after.empty()))
      continue;
    e.busy = true;
    e.changed = true;
    planned_op op;
    op.kind = planned_op::set_status;
    op.index = index;
    op.token = tenants_[e.tenant].token;
    op.id = e.id;
    op.status = "active";
    result.push_back(std::move(op));
  }
  return result;
}

history_stats history::stats() const {
  std::lock_guard guard{mtx_};
  auto result = stats_;
  for (const auto& t : tenants_)
    if (t.state == fate::acked || t.state == fate::present)
      ++result.tenants;
  for (const auto& e : endpoints_)
    if (e.state == fate::acked || e.state == fate::present)
      ++result.endpoints;
  for (const auto& ev : events_) {
    if (ev.state == fate::acked || ev.state == fate::present)
      ++result.events;
    result.delivered_pairs += ev.received.size();
  }
  for (const auto& t : tenants_)
    result.rotations += static_cast<uint64_t>(t.rotations);
  return result;
}

// -- the history: checks ------------------------------------------------------

check_result history::check(const observation& obs, int64_t now_s,
                            check_after what) {
  std::lock_guard guard{mtx_};
  check_result out;
  out.violations = std::move(reported_);
  reported_.clear();
  for (const auto& p : obs.problems)
    out.violations.push_back(p);
  if (what == check_after::round && stats_.acked == acked_at_check_)
    out.violations.push_back(
      "the round acknowledged nothing: it tested nothing new");
  acked_at_check_ = stats_.acked;
  for (auto& t : tenants_)
    t.rotated_this_round = false;
  check_tenants(obs, out);
  for (size_t i = 0; i < tenants_.size(); ++i) {
    const auto& t = tenants_[i];
    if (t.token.empty())
      continue;
    auto view = obs.views.find(t.id);
    if (view == obs.views.end()) {
      out.violations.push_back("internal: no view of " + describe(t));
      continue;
    }
    check_endpoints(i, view->second, now_s, out);
  }
  check_old_tokens(obs, out);
  check_events(obs, out);
  for (const auto& d : obs.deliveries)
    take_delivery(d);
  for (auto& p : reported_)
    out.violations.push_back(std::move(p));
  reported_.clear();
  // What the server showed as delivered had reached the receiver before it
  // was recorded (the receiver logs a request before answering it).
  for (const auto& ev : events_)
    for (auto id : ev.server_delivered) {
      auto index = endpoint_index(ev.tenant, id);
      if (!index || ev.received.count(*index) == 0)
        out.lost.push_back(
          "event " + ev.id + " of " + describe(tenants_[ev.tenant]) +
          ": the server shows its delivery to endpoint " + std::to_string(id) +
          " as delivered, but the receiver never got it");
    }
  return out;
}

void history::check_old_tokens(const observation& obs, check_result& out) {
  for (auto index : usable_tenants_) {
    const auto& t = tenants_[index];
    if (t.rotation_frozen)
      continue;
    auto status_of = [&](const std::string& token) -> long {
      auto it = obs.token_status.find(token);
      return it == obs.token_status.end() ? -1 : it->second;
    };
    if (!t.previous_token.empty()) {
      ++stats_.old_tokens_checked;
      auto status = status_of(t.previous_token);
      if (status != 200 && status != 204)
        out.lost.push_back("the token of " + describe(t) + " before its " +
                           std::to_string(t.rotations) +
                           "th acknowledged rotation no longer works within "
                           "its 7-day grace: list answered " +
                           std::to_string(status));
    }
    if (!t.expired_token.empty()) {
      ++stats_.old_tokens_checked;
      auto status = status_of(t.expired_token);
      if (status != 401)
        out.violations.push_back(
          "a token of " + describe(t) +
          " two rotations old is still accepted (one previous token is "
          "kept): list answered " +
          std::to_string(status));
    }
  }
}

std::optional<size_t> history::endpoint_index(size_t tenant, int64_t id) const {
  if (tenant >= ids_.size())
    return std::nullopt;
  auto it = ids_[tenant].find(id);
  if (it == ids_[tenant].end())
    return std::nullopt;
  return it->second;
}

void history::take_deliveries(const std::vector<delivery_seen>& ds) {
  std::lock_guard guard{mtx_};
  for (const auto& d : ds)
    take_delivery(d);
}

void history::take_delivery(const delivery_seen& d) {
  ++stats_.deliveries;
  auto what = "delivery " + d.method + " " + d.path + " (webhook-id " +
              d.webhook_id + ")";
  auto ep_at = by_path_.find(d.path);
  if (d.method != "POST" || ep_at == by_path_.end()) {
    reported_.push_back(what + ": not a POST to an endpoint's url");
    return;
  }
  auto& e = endpoints_[ep_at->second];
  const auto& t = tenants_[e.tenant];
  if (e.state != fate::acked && e.state != fate::present) {
    reported_.push_back(what + ": to " + describe(e, t) +
                        ", which does not exist");
    return;
  }
  boost::system::error_code ec;
  auto body = json::parse(d.body, ec);
  const auto* obj = ec ? nullptr : body.if_object();
  const auto* data = obj != nullptr ? obj->if_contains("data") : nullptr;
  const auto* serial = data != nullptr && data->is_object()
                         ? data->get_object().if_contains("serial")
                         : nullptr;
  auto ev_at =
    serial != nullptr && serial->is_uint64()
      ? by_serial_.find(serial->get_uint64())
    : serial != nullptr && serial->is_int64() && serial->get_int64() >= 0
      ? by_serial_.find(static_cast<uint64_t>(serial->get_int64()))
      : by_serial_.end();
  if (ev_at == by_serial_.end()) {
    reported_.push_back(what + ": the body names no publish: " + d.body);
    return;
  }
  auto& ev = events_[ev_at->second];
  if (ev.state != fate::acked && ev.state != fate::present) {
    reported_.push_back(what + ": delivers publish " + ev.idempotency_key +
                        ", which was never stored (or was resolved as lost)");
    return;
  }
  what +=
    " of event " + ev.id + " (" + ev.event_type + ") to " + describe(e, t);
  if (ev.tenant != e.tenant) {
    reported_.push_back(what + ": the event belongs to " +
                        describe(tenants_[ev.tenant]));
    return;
  }
  if (std::find(e.spec.event_types.begin(), e.spec.event_types.end(),
                ev.event_type) == e.spec.event_types.end() &&
      std::find(e.spec.event_types.begin(), e.spec.event_types.end(), "*") ==
        e.spec.event_types.end())
    reported_.push_back(what + ": the endpoint does not subscribe to it");
  if (ev.fan_out_known &&
      std::find(ev.fan_out.begin(), ev.fan_out.end(), e.id) == ev.fan_out.end())
    reported_.push_back(what + ": not among the event's deliveries");
  if (d.webhook_id != ev.id)
    reported_.push_back(what + ": webhook-id is not the event's id");
  auto expected = "{\"id\":\"" + ev.id + "\",\"type\":\"" + ev.event_type +
                  "\",\"timestamp\":\"" + ev.created_at +
                  "\",\"data\":" + ev.payload + "}";
  if (d.body != expected)
    reported_.push_back(what + ": body " + d.body + ", expected " + expected);
  // Standard Webhooks: one of the space-separated signatures verifies, and
  // the timestamp is recent (the reference verifiers allow 5 minutes).
  auto ts = unix_seconds_of_digits(d.timestamp);
  if (!ts || *ts < d.received_at - 300 || *ts > d.received_at + 300)
    reported_.push_back(what + ": webhook-timestamp " + d.timestamp +
                        " is not within 5 minutes of its arrival");
  std::string want;
  try {
    want = wi_e2e::webhook_signature(e.spec.secret, d.webhook_id, d.timestamp,
                                     d.body);
  } catch (const std::exception& x) {
    reported_.push_back(what + ": the secret cannot sign: " + x.what());
  }
  bool verified = false;
  std::string_view sigs = d.signature;
  while (!sigs.empty() && !verified) {
    auto end = std::min(sigs.find(' '), sigs.size());
    verified = !want.empty() && sigs.substr(0, end) == want;
    sigs.remove_prefix(std::min(end + 1, sigs.size()));
  }
  if (!verified)
    reported_.push_back(what + ": webhook-signature " + d.signature +
                        " does not verify with the endpoint's secret");
  if (++ev.received[ep_at->second] > 1)
    ++stats_.repeated_deliveries;
}

std::vector<std::pair<size_t, size_t>>
history::awaited_pairs(bool every) const {
  std::vector<std::pair<size_t, size_t>> result;
  for (size_t i = 0; i < events_.size(); ++i) {
    const auto& ev = events_[i];
    if (ev.state != fate::acked && ev.state != fate::present)
      continue;
    for (auto id : ev.fan_out) {
      auto index = endpoint_index(ev.tenant, id);
      if (!index || ev.received.count(*index) != 0)
        continue;
      const auto& e = endpoints_[*index];
      if (every || (e.baseline == "active" && e.unknown_after.empty()))
        result.emplace_back(i, *index);
    }
  }
  return result;
}

size_t history::awaited(bool every_endpoint) const {
  std::lock_guard guard{mtx_};
  return awaited_pairs(every_endpoint).size();
}

check_result history::check_delivered(bool every_endpoint) {
  std::lock_guard guard{mtx_};
  check_result out;
  out.violations = std::move(reported_);
  reported_.clear();
  for (auto [i, index] : awaited_pairs(every_endpoint)) {
    const auto& ev = events_[i];
    const auto& e = endpoints_[index];
    out.lost.push_back("event " + ev.id + " (" + ev.event_type + ", key " +
                       ev.idempotency_key + ") never reached " +
                       describe(e, tenants_[e.tenant]) + " (status " +
                       e.baseline + ")");
  }
  return out;
}

bool history::check_repeat(event_entry& ev,
                           const observation::event_view& answer,
                           check_result& out) {
  const auto& [r_status, r_data] = answer;
  const auto* dup = r_data.if_contains("duplicate");
  bool duplicate = dup != nullptr && *dup == json::value(true);
  if (ev.state == fate::unknown) {
    // Sent again after no answer: found (a duplicate) or it never
    // happened, and the repeat is a fresh publish.
    auto id = string_at(r_data, "id").value_or("");
    auto created = string_at(r_data, "created_at").value_or("");
    auto count = number_at(r_data, "endpoints");
    if (r_status != 202 || id.empty() || !unix_seconds(created) || !count ||
        string_at(r_data, "event_type") != ev.event_type || dup == nullptr ||
        !dup->is_bool()) {
      out.violations.push_back(
        "unanswered publish " + ev.idempotency_key +
        " sent again got no valid receipt: " + std::to_string(r_status) + " " +
        json::serialize(r_data));
      ev.state = fate::absent;
      return false;
    }
    ev.id = id;
    ev.created_at = created;
    ev.endpoints = *count;
    if (duplicate) {
      ev.state = fate::present;
      ++stats_.events_found;
    } else {
      ev.state = fate::acked;
    }
  } else {
    ++stats_.idempotent_repeats;
    ++ev.repeated;
    if (r_status != 202 || !duplicate || string_at(r_data, "id") != ev.id ||
        string_at(r_data, "event_type") != ev.event_type ||
        string_at(r_data, "created_at") != ev.created_at ||
        number_at(r_data, "endpoints") != ev.endpoints)
      out.lost.push_back(
        "publish " + ev.idempotency_key + " of " +
        describe(tenants_[ev.tenant]) + " sent again with its key answered " +
        std::to_string(r_status) + " " + json::serialize(r_data) +
        ", not the receipt of event " + ev.id + " (created_at " +
        ev.created_at + ", " + std::to_string(ev.endpoints) +
        " endpoints) marked duplicate");
  }
  return true;
}

void history::check_events(const observation& obs, check_result& out) {
  for (auto& ev : events_) {
    if (ev.state == fate::pending)
      out.violations.push_back("internal: publish " + ev.idempotency_key +
                               " still pending");
    if (ev.state != fate::acked && ev.state != fate::present &&
        ev.state != fate::unknown)
      continue;
    auto repeat = obs.repeats.find(ev.idempotency_key);
    if (repeat != obs.repeats.end()) {
      if (!check_repeat(ev, repeat->second, out))
        continue;
    } else if (ev.state == fate::unknown) {
      out.violations.push_back("internal: unanswered publish " +
                               ev.idempotency_key + " was not sent again");
      continue;
    }
    auto what = "event " + ev.id + " (" + ev.event_type + ", key " +
                ev.idempotency_key + ") of " + describe(tenants_[ev.tenant]);
    auto it = obs.events.find(ev.id);
    if (it == obs.events.end()) {
      out.violations.push_back("internal: no view of " + what);
      continue;
    }
    const auto& [status, data] = it->second;
    if (status != 200) {
      out.lost.push_back(what + " is missing after the restart: GET answered " +
                         std::to_string(status));
      continue;
    }
    const auto* deliveries = data.if_contains("deliveries");
    if (string_at(data, "id") != ev.id ||
        string_at(data, "event_type") != ev.event_type ||
        string_at(data, "idempotency_key") != ev.idempotency_key ||
        string_at(data, "created_at") != ev.created_at ||
        deliveries == nullptr || !deliveries->is_array() ||
        deliveries->get_array().size() != ev.endpoints) {
      out.lost.push_back(what +
                         " came back other than acknowledged (created_at " +
                         ev.created_at + ", " + std::to_string(ev.endpoints) +
                         " deliveries): " + json::serialize(data));
      continue;
    }
    // The deliveries: to distinct known endpoints of the tenant, none failed
    // (the receiver answers every request with 200).
    std::vector<int64_t> fan_out;
    ev.server_delivered.clear();
    for (const auto& d : deliveries->get_array()) {
      const auto* obj = d.if_object();
      auto id = obj != nullptr ? identifier_of_endpoint(*obj) : 0;
      auto status_text = obj != nullptr ? string_at(*obj, "status") : "";
      if (!endpoint_index(ev.tenant, id) ||
          std::find(fan_out.begin(), fan_out.end(), id) != fan_out.end() ||
          (status_text != "pending" && status_text != "delivered")) {
        out.violations.push_back(what + ": delivery " + json::serialize(d) +
                                 " is not a pending or delivered one to a "
                                 "known endpoint, listed once");
        continue;
      }
      fan_out.push_back(id);
      if (status_text == "delivered")
        ev.server_delivered.push_back(id);
    }
    std::sort(fan_out.begin(), fan_out.end());
    if (ev.fan_out_known && fan_out != ev.fan_out)
      out.lost.push_back(
        what + ": its deliveries changed endpoints: " + json::serialize(data));
    ev.fan_out = std::move(fan_out);
    ev.fan_out_known = true;
  }
}

void history::check_tenants(const observation& obs, check_result& out) {
  std::map<std::string, const observation::tenant_row*> by_id;
  std::map<std::string, const observation::tenant_row*> by_name;
  for (const auto& row : obs.tenants) {
    if (!by_id.emplace(row.id, &row).second)
      out.violations.push_back("tenant id " + row.id + " listed twice");
    by_name.emplace(row.name, &row);
  }
  std::set<std::string> claimed;
  // Known tenants first: they claim their rows by id.
  for (auto& t : tenants_) {
    if (t.state != fate::acked && t.state != fate::present)
      continue;
    auto row = by_id.find(t.id);
    if (row == by_id.end()) {
      out.lost.push_back(describe(t) + " is missing after the restart");
      continue;
    }
    claimed.insert(t.id);
    const auto& r = *row->second;
    if (r.name != t.name || r.created_at != t.created_at || !r.active)
      out.lost.push_back(describe(t) + " (created_at " + t.created_at +
                         ") came back as name " + r.name + ", created_at " +
                         r.created_at + ", active " +
                         (r.active ? "true" : "false"));
  }
  // Then the unknown creates, by their unique names among unclaimed rows.
  for (auto& t : tenants_) {
    auto row = by_name.find(t.name);
    bool found = row != by_name.end() && claimed.count(row->second->id) == 0;
    if (t.state == fate::pending) {
      out.violations.push_back("internal: " + describe(t) + " still pending");
    } else if (t.state == fate::unknown) {
      if (!found) {
        t.state = fate::absent;
        continue;
      }
      const auto& r = *row->second;
      claimed.insert(r.id);
      t.state = fate::present;
      ++stats_.found;
      t.id = r.id;
      t.created_at = r.created_at;
      if (!r.active || !unix_seconds(r.created_at))
        out.violations.push_back(
          "unanswered " + describe(t) + " came back with active " +
          (r.active ? "true" : "false") + ", created_at " + r.created_at);
    }
  }
  for (const auto& row : obs.tenants)
    if (claimed.count(row.id) == 0)
      out.violations.push_back("phantom tenant " + row.id + " (" + row.name +
                               "): never created, or not found before");
}

void history::check_endpoints(size_t tenant,
                              const observation::tenant_view& view,
                              int64_t now_s, check_result& out) {
  const auto& t = tenants_[tenant];
  if (view.list_status != 200 && view.list_status != 204) {
    out.lost.push_back(
      "the token of " + describe(t) + " (after " + std::to_string(t.rotations) +
      " acknowledged rotations) no longer works: list answered " +
      std::to_string(view.list_status));
    return;
  }
  // Identifiers are exactly 1..n, in order: no gap, no duplicate.
  std::map<int64_t, const json::object*> listed;
  for (size_t i = 0; i < view.items.size(); ++i) {
    auto id = identifier_of(view.items[i]);
    if (id != static_cast<int64_t>(i + 1)) {
      out.violations.push_back(describe(t) + ": identifiers are not 1.." +
                               std::to_string(view.items.size()) +
                               ": position " + std::to_string(i + 1) +
                               " holds " + json::serialize(view.items[i]));
      break;
    }
  }
  for (const auto& item : view.items)
    listed.emplace(identifier_of(item), &item);
  if (view.next_status != 404)
    out.violations.push_back(describe(t) + ": GET of identifier " +
                             std::to_string(view.items.size() + 1) +
                             " (past the list) answered " +
                             std::to_string(view.next_status) + ", not 404");
  std::set<int64_t> claimed;
  auto check_times = [&](const endpoint_entry& e, const json::object& ep) {
    auto modified = string_at(ep, "last_modified").value_or("");
    auto modified_s = unix_seconds(modified);
    auto created_s = unix_seconds(e.create_timestamp);
    if (!modified_s || !created_s || *modified_s < *created_s ||
        *modified_s > now_s + 1 ||
        (!e.changed && modified != e.create_timestamp))
      out.violations.push_back(describe(e, t) + ": last_modified " + modified +
                               " is impossible (create_timestamp " +
                               e.create_timestamp +
                               (e.changed ? "" : ", never changed") + ")");
  };
  // Known endpoints: present, with exactly their fields.
  for (auto& e : endpoints_) {
    if (e.tenant != tenant ||
        (e.state != fate::acked && e.state != fate::present))
      continue;
    auto it = listed.find(e.id);
    if (it == listed.end()) {
      out.lost.push_back(describe(e, t) + " is missing after the restart");
      continue;
    }
    if (!claimed.insert(e.id).second)
      continue; // reported when acknowledged
    const auto& ep = *it->second;
    if (auto diff = spec_mismatch(e.spec, ep); !diff.empty())
      out.lost.push_back(describe(e, t) + ": " + diff);
    auto created = string_at(ep, "create_timestamp").value_or("");
    if (created != e.create_timestamp)
      out.lost.push_back(describe(e, t) + ": create_timestamp " + created +
                         ", acknowledged " + e.create_timestamp);
    auto status = string_at(ep, "status").value_or("");
    bool allowed = status == e.baseline ||
                   std::find(e.unknown_after.begin(), e.unknown_after.end(),
                             status) != e.unknown_after.end();
    if (!allowed) {
      std::string unknown;
      for (const auto& s : e.unknown_after)
        unknown += " " + s;
      out.lost.push_back(
        describe(e, t) + ": status " + status +
        ", but the last acknowledged (or observed) is " + e.baseline +
        (unknown.empty() ? std::string{" and none after it"}
                         : ", unanswered after it:" + unknown));
    } else {
      // What recovery shows is on disk: the baseline of the next check.
      e.baseline = status;
      e.unknown_after.clear();
    }
    check_times(e, ep);
  }
  // Unknown creates: by their unique url among the unclaimed endpoints.
  std::map<std::string, const json::object*> by_url;
  for (const auto& [id, ep] : listed)
    if (claimed.count(id) == 0)
      by_url.emplace(string_at(*ep, "url").value_or(""), ep);
  for (size_t index = 0; index < endpoints_.size(); ++index) {
    auto& e = endpoints_[index];
    if (e.tenant != tenant)
      continue;
    if (e.state == fate::pending) {
      out.violations.push_back("internal: endpoint " + e.spec.url +
                               " still pending");
      continue;
    }
    if (e.state != fate::unknown)
      continue;
    auto it = by_url.find(e.spec.url);
    if (it == by_url.end()) {
      e.state = fate::absent;
      continue;
    }
    const auto& ep = *it->second;
    e.id = identifier_of(ep);
    e.create_timestamp = string_at(ep, "create_timestamp").value_or("");
    e.state = fate::present;
    ++stats_.found;
    claimed.insert(e.id);
    by_url.erase(it);
    if (auto diff = spec_mismatch(e.spec, ep); !diff.empty())
      out.violations.push_back("unanswered " + describe(e, t) +
                               " was stored with other fields: " + diff);
    auto created_s = unix_seconds(e.create_timestamp);
    if (!created_s || *created_s < e.sent_at - 1 || *created_s > now_s + 1)
      out.violations.push_back("unanswered " + describe(e, t) +
                               ": create_timestamp " + e.create_timestamp +
                               " is outside the time it was in flight");
    auto status = string_at(ep, "status").value_or("");
    if (status != "active")
      out.violations.push_back("unanswered " + describe(e, t) +
                               " came back with status " + status +
                               ", but no status change was ever sent to it");
    check_times(e, ep);
    if (ids_[tenant].emplace(e.id, index).second)
      targets_.push_back(index);
  }
  for (const auto& [id, ep] : listed)
    if (claimed.count(id) == 0)
      out.violations.push_back(describe(t) + ": phantom endpoint " +
                               json::serialize(*ep) +
                               ": never created, or not found before");
}

} // namespace wi_crash
