// Tests of the harness itself: the checker flags every kind of lost or
// invented state, and accepts every outcome an unanswered request allows.

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/array.hpp>
#include <gtest/gtest.h>

#include "crash/history.hpp"
#include "crash/options.hpp"
#include "support/receiver.hpp"

using wi_crash::check_result;
using wi_crash::history;
using wi_crash::observation;
using wi_crash::planned_op;
namespace json = boost::json;

namespace {

/// 2026-01-01T00:00:00Z.
constexpr int64_t t0 = 1767225600;
constexpr const char* t0_text = "2026-01-01T00:00:00Z";

/// One acknowledged tenant `T1`; endpoints are created, changed and observed
/// through the history's own interface.
class checker : public ::testing::Test {
 protected:
  void SetUp() override {
    auto op = h.plan(rng, t0, planned_op::create_tenant);
    h.ack_tenant(op, "T1", "wi_T1_token", t0_text);
  }

  /// An endpoint create, acknowledged with `id`.
  size_t acked_create(int64_t id) {
    auto op = h.plan(rng, t0, planned_op::create_endpoint);
    h.ack_endpoint(op, id, t0_text, shown(op.index, "active"));
    return op.index;
  }

  /// An endpoint create that got no answer.
  size_t unanswered_create() {
    auto op = h.plan(rng, t0, planned_op::create_endpoint);
    h.unanswered(op);
    return op.index;
  }

  /// A status change of endpoint `index`, acknowledged or not.
  void change(size_t index, const std::string& status, bool acked) {
    planned_op op;
    // The random pick may choose another endpoint or a create: retry.
    for (;;) {
      op = h.plan(rng, t0, planned_op::set_status);
      if (op.kind == planned_op::set_status && op.index == index)
        break;
      if (op.kind == planned_op::create_endpoint) {
        h.unanswered(op); // absent from every observation below
        continue;
      }
      // Another endpoint: leave it unchanged by acknowledging its own status.
      op.status = h.endpoints()[op.index].baseline;
      h.ack_status(op);
    }
    op.status = status;
    if (acked)
      h.ack_status(op);
    else
      h.unanswered(op);
  }

  /// Endpoint `index` as the server would show it, with `status`.
  json::object shown(size_t index, const std::string& status) const {
    const auto& e = h.endpoints()[index];
    auto result = wi_crash::to_json(e.spec);
    if (!result.contains("headers"))
      result["headers"] = json::object{};
    result["identifier"] = e.id;
    result["status"] = status;
    result["create_timestamp"] = t0_text;
    result["last_modified"] = t0_text;
    return result;
  }

  /// An observation of `T1` with these endpoints.
  observation with(std::vector<json::object> items) const {
    observation obs;
    obs.tenants.push_back({"T1", h.tenants()[0].name, t0_text, true});
    auto& view = obs.views["T1"];
    view.list_status = items.empty() ? 204 : 200;
    view.next_status = 404;
    view.items = std::move(items);
    return obs;
  }

  check_result check(const observation& obs) {
    return h.check(obs, t0 + 5, wi_crash::check_after::restart);
  }

  history h;
  std::mt19937_64 rng{7};
};

} // namespace

TEST_F(checker, accepts_exactly_the_acknowledged_state) {
  auto a = acked_create(1);
  auto b = acked_create(2);
  change(b, "inactive", true);
  auto result = check(with({shown(a, "active"), shown(b, "inactive")}));
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(result.violations)
                           << ::testing::PrintToString(result.lost);
}

TEST_F(checker, flags_a_missing_acknowledged_endpoint) {
  auto a = acked_create(1);
  acked_create(2);
  auto result = check(with({shown(a, "active")}));
  EXPECT_EQ(result.lost.size(), 1u);
}

TEST_F(checker, flags_a_changed_field) {
  auto a = acked_create(1);
  auto ep = shown(a, "active");
  ep["secret"] = "another-secret";
  EXPECT_EQ(check(with({ep})).lost.size(), 1u);
}

TEST_F(checker, flags_a_changed_create_timestamp) {
  auto a = acked_create(1);
  auto ep = shown(a, "active");
  ep["create_timestamp"] = "2026-01-01T00:00:01Z";
  EXPECT_FALSE(check(with({ep})).lost.empty());
}

TEST_F(checker, status_must_be_the_last_acknowledged_one) {
  auto a = acked_create(1);
  change(a, "inactive", true);
  EXPECT_EQ(check(with({shown(a, "active")})).lost.size(), 1u);
}

TEST_F(checker, unanswered_change_allows_both_statuses_then_sticks) {
  auto a = acked_create(1);
  auto b = acked_create(2);
  change(a, "inactive", true);
  change(a, "active", false);
  change(b, "inactive", false);
  auto first = check(with({shown(a, "inactive"), shown(b, "inactive")}));
  EXPECT_TRUE(first.ok()) << ::testing::PrintToString(first.lost);
  // What recovery showed is durable: it may not flip back by itself.
  auto second = check(with({shown(a, "active"), shown(b, "active")}));
  EXPECT_EQ(second.lost.size(), 2u);
}

TEST_F(checker, unanswered_create_may_exist_with_the_sent_fields) {
  auto a = acked_create(1);
  auto u = unanswered_create();
  check(with({shown(a, "active")})); // not there: absent
  auto v = unanswered_create();
  const auto& e = h.endpoints()[v];
  auto ep = shown(v, "active");
  ep["identifier"] = 2;
  auto result = check(with({shown(a, "active"), ep}));
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(result.violations);
  EXPECT_EQ(e.id, 2);
  EXPECT_EQ(h.endpoints()[u].state, wi_crash::fate::absent);
  EXPECT_EQ(e.state, wi_crash::fate::present);
  // Once found, it is as durable as an acknowledged one.
  EXPECT_EQ(check(with({shown(a, "active")})).lost.size(), 1u);
}

TEST_F(checker, unanswered_create_with_other_fields_is_a_violation) {
  auto u = unanswered_create();
  auto ep = shown(u, "active");
  ep["identifier"] = 1;
  ep["event_types"] = json::array{"other.type"};
  EXPECT_EQ(check(with({ep})).violations.size(), 1u);
}

TEST_F(checker, absent_create_must_not_reappear) {
  auto u = unanswered_create();
  EXPECT_TRUE(check(with({})).ok());
  auto ep = shown(u, "active");
  ep["identifier"] = 1;
  EXPECT_EQ(check(with({ep})).violations.size(), 1u);
}

TEST_F(checker, flags_a_gap_in_identifiers) {
  auto a = acked_create(1);
  auto b = acked_create(3); // as if identifier 2 had been skipped
  auto result = check(with({shown(a, "active"), shown(b, "active")}));
  EXPECT_FALSE(result.violations.empty());
}

TEST_F(checker, flags_a_reused_identifier) {
  acked_create(1);
  auto b = acked_create(1);
  auto result = check(with({shown(b, "active")}));
  EXPECT_FALSE(result.ok());
}

TEST_F(checker, flags_a_lost_tenant_and_a_dead_token) {
  auto obs = with({});
  obs.tenants.clear();
  obs.views["T1"].list_status = 401;
  auto result = check(obs);
  EXPECT_EQ(result.lost.size(), 2u);
}

TEST_F(checker, flags_a_phantom_tenant) {
  auto obs = with({});
  obs.tenants.push_back({"T9", "nobody", t0_text, true});
  EXPECT_EQ(check(obs).violations.size(), 1u);
}

TEST_F(checker, unanswered_tenant_create_may_exist) {
  auto op = h.plan(rng, t0, planned_op::create_tenant);
  h.unanswered(op);
  auto obs = with({});
  obs.tenants.push_back({"T2", h.tenants()[op.index].name, t0_text, true});
  EXPECT_TRUE(check(obs).ok());
  EXPECT_EQ(check(with({})).lost.size(), 1u); // found once: now durable
}

namespace {

/// Events through the history, observed with their deliveries, and the
/// requests a receiver got.
class event_checker : public checker {
 protected:
  /// A publish, acknowledged with a fresh receipt (`duplicate` false unless
  /// asked) counting `endpoints` deliveries, or unanswered. Returns the
  /// event index.
  size_t publish(bool acked, uint64_t endpoints = 0, bool duplicate = false) {
    auto op = h.plan(rng, t0, planned_op::publish);
    EXPECT_EQ(op.kind, planned_op::publish);
    bodies[op.index] = op.body;
    if (!acked) {
      h.unanswered(op);
      return op.index;
    }
    h.ack_event(op, receipt(op.index, "evt_" + std::to_string(op.index),
                            endpoints, duplicate));
    return op.index;
  }

  /// The receipt of event `index` under `id`.
  json::object receipt(size_t index, const std::string& id, uint64_t endpoints,
                       bool duplicate) const {
    return {{"id", id},
            {"event_type", h.events()[index].event_type},
            {"created_at", t0_text},
            {"endpoints", endpoints},
            {"duplicate", duplicate}};
  }

  /// Whether endpoint `e` subscribes to the type of event `event`.
  bool subscribes(size_t e, size_t event) const {
    const auto& types = h.endpoints()[e].spec.event_types;
    const auto& type = h.events()[event].event_type;
    return std::find(types.begin(), types.end(), type) != types.end() ||
           std::find(types.begin(), types.end(), "*") != types.end();
  }

  /// A new acknowledged endpoint that subscribes to event `event` (or, with
  /// `wanted` false, one that does not); those created on the way stay.
  size_t endpoint_for(size_t event, bool wanted = true) {
    for (;;) {
      auto e = acked_create(static_cast<int64_t>(h.endpoints().size() + 1));
      if (subscribes(e, event) == wanted)
        return e;
    }
  }

  /// What the server would show after a restart: every endpoint with its
  /// last acknowledged status; each event of `fan_out` with deliveries to
  /// those endpoints (`pending`, or `delivered` if in `delivered`), its key
  /// answering its receipt as a duplicate.
  observation
  seen(const std::map<size_t, std::vector<size_t>>& fan_out,
       const std::set<std::pair<size_t, size_t>>& delivered = {}) const {
    std::vector<json::object> items;
    for (size_t i = 0; i < h.endpoints().size(); ++i)
      items.push_back(shown(i, h.endpoints()[i].baseline));
    auto obs = with(std::move(items));
    for (const auto& [index, eps] : fan_out) {
      const auto& ev = h.events()[index];
      json::array ds;
      for (auto e : eps)
        ds.push_back(
          json::object{{"endpoint", h.endpoints()[e].id},
                       {"status", delivered.count({index, e}) != 0 ? "delivered"
                                                                   : "pending"},
                       {"attempts", 0}});
      obs.events[ev.id] = {200,
                           json::object{{"id", ev.id},
                                        {"event_type", ev.event_type},
                                        {"idempotency_key", ev.idempotency_key},
                                        {"created_at", ev.created_at},
                                        {"deliveries", std::move(ds)}}};
      obs.repeats[ev.idempotency_key] = {
        202, receipt(index, ev.id, eps.size(), true)};
    }
    return obs;
  }

  /// The payload as the publish body carries it (`"payload": <here> }`).
  std::string payload_of(size_t event) const {
    const auto& body = bodies.at(event);
    auto at = body.find("\"payload\": ") + 11;
    return body.substr(at, body.size() - 2 - at);
  }

  /// A delivery of event `event` to endpoint `e` as the server sends it
  /// (docs/api.md, "What a delivery looks like").
  wi_crash::delivery_seen delivery(size_t event, size_t e) const {
    const auto& ev = h.events()[event];
    const auto& ep = h.endpoints()[e];
    wi_crash::delivery_seen d;
    d.method = "POST";
    d.path = ep.spec.url.substr(std::string{"http://127.0.0.1:9"}.size());
    d.webhook_id = ev.id;
    d.timestamp = std::to_string(t0 + 1);
    d.received_at = t0 + 2;
    d.body = "{\"id\":\"" + ev.id + "\",\"type\":\"" + ev.event_type +
             "\",\"timestamp\":\"" + t0_text +
             "\",\"data\":" + payload_of(event) + "}";
    d.signature =
      wi_e2e::webhook_signature(ep.spec.secret, ev.id, d.timestamp, d.body);
    return d;
  }

  /// The violations `d` alone causes (after everything else was taken).
  std::vector<std::string> violations_of(const wi_crash::delivery_seen& d) {
    h.take_deliveries({d});
    return h.check_delivered(false).violations;
  }

  /// Publish bodies by event index.
  std::map<size_t, std::string> bodies;
};

} // namespace

TEST_F(event_checker, accepts_every_acknowledged_event_as_acknowledged) {
  auto a = publish(true, 2);
  auto x = endpoint_for(a);
  auto y = endpoint_for(a);
  auto b = publish(true, 0);
  publish(false); // unanswered: found by its repeat below
  EXPECT_EQ(h.event_lookups().size(), 2u);
  EXPECT_EQ(h.repeats(rng).size(), 3u);
  auto obs = seen({{a, {x, y}}, {b, {}}});
  const auto& u = h.events()[2];
  obs.repeats[u.idempotency_key] = {202, receipt(2, "evt_u", 0, true)};
  obs.events["evt_u"] = {200,
                         json::object{{"id", "evt_u"},
                                      {"event_type", u.event_type},
                                      {"idempotency_key", u.idempotency_key},
                                      {"created_at", t0_text},
                                      {"deliveries", json::array{}}}};
  auto result = check(obs);
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(result.violations)
                           << ::testing::PrintToString(result.lost);
  EXPECT_EQ(h.stats().events, 3u);
  EXPECT_EQ(h.stats().events_found, 1u);
  EXPECT_EQ(h.stats().idempotent_repeats, 2u);
  EXPECT_EQ(h.events()[2].state, wi_crash::fate::present);
  // Next time: the found one (not yet checked as known), and of the two
  // checked ones as many as asked for.
  EXPECT_EQ(h.repeats(rng, 0).size(), 1u);
  EXPECT_EQ(h.repeats(rng, 1).size(), 2u);
  EXPECT_EQ(h.repeats(rng).size(), 3u);
}

TEST_F(event_checker, flags_a_lost_or_changed_event) {
  auto a = publish(true, 0);
  auto b = publish(true, 1);
  auto e = endpoint_for(b);
  auto c = publish(true, 0);
  auto obs = seen({{a, {}}, {b, {e}}, {c, {}}});
  obs.events[h.events()[a].id] = {404, {}};
  // A fan-out record lost.
  obs.events[h.events()[b].id].data["deliveries"].as_array().pop_back();
  obs.events[h.events()[c].id].data["idempotency_key"] = "another";
  auto result = check(obs);
  EXPECT_EQ(result.lost.size(), 3u) << ::testing::PrintToString(result.lost);
  EXPECT_TRUE(result.violations.empty())
    << ::testing::PrintToString(result.violations);
}

TEST_F(event_checker, flags_a_receipt_that_is_not_fresh) {
  auto a = publish(true, 0, true); // "duplicate": but every key is new
  auto result = check(seen({{a, {}}}));
  EXPECT_EQ(result.violations.size(), 1u);
  EXPECT_TRUE(result.lost.empty());
}

TEST_F(event_checker, an_acknowledged_key_must_answer_its_receipt) {
  auto a = publish(true, 0);
  auto b = publish(true, 0);
  auto c = publish(true, 0);
  auto d = publish(true, 0);
  auto obs = seen({{a, {}}, {b, {}}, {c, {}}, {d, {}}});
  // Stored again as a new event; another event; refused; another time.
  obs.repeats[h.events()[a].idempotency_key].data["duplicate"] = false;
  obs.repeats[h.events()[b].idempotency_key].data["id"] = "evt_other";
  obs.repeats[h.events()[c].idempotency_key] = {429, {}};
  obs.repeats[h.events()[d].idempotency_key].data["created_at"] =
    "2026-01-01T00:00:01Z";
  auto result = check(obs);
  EXPECT_EQ(result.lost.size(), 4u) << ::testing::PrintToString(result.lost);
  EXPECT_TRUE(result.violations.empty())
    << ::testing::PrintToString(result.violations);
}

TEST_F(event_checker, an_unanswered_publish_repeated_fresh_was_never_stored) {
  auto u = publish(false);
  auto e = endpoint_for(u);
  auto obs = seen({});
  const auto& ev = h.events()[u];
  obs.repeats[ev.idempotency_key] = {202, receipt(u, "evt_new", 1, false)};
  obs.events["evt_new"] = {
    200,
    json::object{
      {"id", "evt_new"},
      {"event_type", ev.event_type},
      {"idempotency_key", ev.idempotency_key},
      {"created_at", t0_text},
      {"deliveries", json::array{json::object{{"endpoint", h.endpoints()[e].id},
                                              {"status", "pending"}}}}}};
  // Yet the first publish was delivered under its own id: it was stored,
  // and the repeat should have found it.
  auto first = delivery(u, e); // built before the id was known: ""
  first.webhook_id = "evt_first";
  first.body.replace(first.body.find("\"id\":\"\"") + 6, 0, "evt_first");
  first.signature =
    wi_e2e::webhook_signature(h.endpoints()[e].spec.secret, first.webhook_id,
                              first.timestamp, first.body);
  obs.deliveries.push_back(first);
  auto result = check(obs);
  EXPECT_EQ(h.events()[u].state, wi_crash::fate::acked);
  EXPECT_EQ(h.events()[u].id, "evt_new");
  EXPECT_EQ(h.stats().events_found, 0u);
  // Its webhook-id and the id in its body are not the event's.
  EXPECT_EQ(result.violations.size(), 2u)
    << ::testing::PrintToString(result.violations);
  EXPECT_TRUE(result.lost.empty()) << ::testing::PrintToString(result.lost);
}

TEST_F(event_checker, every_delivery_arrives_signed_with_the_event_id) {
  auto a = publish(true, 2);
  auto x = endpoint_for(a);
  auto y = endpoint_for(a);
  auto result = check(seen({{a, {x, y}}}));
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result.violations);
  EXPECT_EQ(h.awaited(false), 2u);
  // One arrives twice (its first answer cut off by a kill): same id.
  auto again = delivery(a, x);
  again.timestamp = std::to_string(t0 + 60);
  again.signature =
    wi_e2e::webhook_signature(h.endpoints()[x].spec.secret, again.webhook_id,
                              again.timestamp, again.body);
  h.take_deliveries({delivery(a, x), again});
  EXPECT_EQ(h.awaited(false), 1u);
  auto missing = h.check_delivered(false);
  EXPECT_TRUE(missing.violations.empty())
    << ::testing::PrintToString(missing.violations);
  EXPECT_EQ(missing.lost.size(), 1u); // y never got it
  h.take_deliveries({delivery(a, y)});
  EXPECT_EQ(h.awaited(true), 0u);
  EXPECT_TRUE(h.check_delivered(true).ok());
  EXPECT_EQ(h.stats().deliveries, 3u);
  EXPECT_EQ(h.stats().repeated_deliveries, 1u);
  EXPECT_EQ(h.stats().delivered_pairs, 2u);
}

TEST_F(event_checker, delivered_in_the_server_but_never_received_is_lost) {
  auto a = publish(true, 2);
  auto x = endpoint_for(a);
  auto y = endpoint_for(a);
  auto obs = seen({{a, {x, y}}}, {{a, x}, {a, y}});
  obs.deliveries.push_back(delivery(a, x));
  auto result = check(obs);
  EXPECT_EQ(result.lost.size(), 1u) << ::testing::PrintToString(result.lost);
  EXPECT_TRUE(result.violations.empty())
    << ::testing::PrintToString(result.violations);
}

TEST_F(event_checker, a_failed_or_foreign_delivery_record_is_flagged) {
  auto a = publish(true, 2);
  auto x = endpoint_for(a);
  auto obs = seen({{a, {x}}});
  auto& ds = obs.events[h.events()[a].id].data["deliveries"].as_array();
  ds[0].as_object()["status"] = "failed"; // the receiver never fails
  ds.push_back(json::object{{"endpoint", 99}, {"status", "pending"}});
  auto result = check(obs);
  EXPECT_EQ(result.violations.size(), 2u)
    << ::testing::PrintToString(result.violations);
}

TEST_F(event_checker, deliveries_to_inactive_endpoints_are_awaited_at_the_end) {
  auto a = publish(true, 1);
  auto x = endpoint_for(a);
  change(x, "inactive", true); // after the publish: the delivery pauses
  ASSERT_TRUE(check(seen({{a, {x}}})).ok());
  EXPECT_EQ(h.awaited(false), 0u);
  EXPECT_EQ(h.awaited(true), 1u);
  EXPECT_EQ(h.check_delivered(true).lost.size(), 1u);
  auto ops = h.plan_enable_all();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].id, h.endpoints()[x].id);
  EXPECT_EQ(ops[0].status, "active");
  h.ack_status(ops[0]);
  EXPECT_EQ(h.awaited(false), 1u);
  EXPECT_TRUE(h.plan_enable_all().empty());
}

TEST_F(event_checker, flags_each_kind_of_wrong_delivery) {
  auto a = publish(true, 1);
  auto x = endpoint_for(a);
  auto other = endpoint_for(a, false);
  ASSERT_TRUE(check(seen({{a, {x}}})).ok());
  h.take_deliveries({delivery(a, x)});
  ASSERT_TRUE(h.check_delivered(true).ok());
  auto good = delivery(a, x);
  const auto& secret = h.endpoints()[x].spec.secret;
  auto resign = [&](wi_crash::delivery_seen d) {
    d.signature =
      wi_e2e::webhook_signature(secret, d.webhook_id, d.timestamp, d.body);
    return d;
  };
  {
    auto d = good; // signed with another key
    d.signature = wi_e2e::webhook_signature(secret + "x", d.webhook_id,
                                            d.timestamp, d.body);
    EXPECT_EQ(violations_of(d).size(), 1u) << "wrong signature";
  }
  {
    auto d = good; // a repeat under another id
    d.webhook_id = "evt_another";
    EXPECT_EQ(violations_of(resign(d)).size(), 1u) << "other webhook-id";
  }
  {
    auto d = good; // the payload re-printed: 1.0 became 1
    auto at = d.body.find("1.0");
    ASSERT_NE(at, std::string::npos);
    d.body.replace(at, 3, "1");
    EXPECT_EQ(violations_of(resign(d)).size(), 1u) << "payload changed";
  }
  {
    auto d = good; // an old timestamp: receivers refuse it
    d.timestamp = std::to_string(t0 - 600);
    EXPECT_EQ(violations_of(resign(d)).size(), 1u) << "stale timestamp";
  }
  {
    auto d = good; // to an endpoint that does not subscribe
    d.path = h.endpoints()[other].spec.url.substr(
      std::string{"http://127.0.0.1:9"}.size());
    d.signature = wi_e2e::webhook_signature(h.endpoints()[other].spec.secret,
                                            d.webhook_id, d.timestamp, d.body);
    EXPECT_EQ(violations_of(d).size(), 2u) << "not subscribed, not fanned out";
  }
  {
    auto d = good; // to a url no endpoint has
    d.path = "/crash/unknown";
    EXPECT_EQ(violations_of(d).size(), 1u) << "unknown path";
  }
  {
    auto op = h.plan(rng, t0, planned_op::publish); // never sent
    bodies[op.index] = op.body;
    h.never_sent(op);
    auto d = delivery(op.index, x);
    EXPECT_EQ(violations_of(d).size(), 1u) << "publish never sent";
  }
  EXPECT_TRUE(violations_of(good).empty());
}

TEST_F(event_checker, a_delivery_to_another_tenant_is_flagged) {
  auto op = h.plan(rng, t0, planned_op::create_tenant);
  h.ack_tenant(op, "T2", "wi_T2_token", t0_text);
  auto a = publish(true, 0);
  // An endpoint of the other tenant that subscribes to `a`'s type.
  size_t e = 0;
  for (;;) {
    auto ep = h.plan(rng, t0, planned_op::create_endpoint);
    if (h.endpoints()[ep.index].tenant == h.events()[a].tenant ||
        !subscribes(ep.index, a)) {
      h.never_sent(ep);
      continue;
    }
    h.ack_endpoint(ep, 1, t0_text, shown(ep.index, "active"));
    e = ep.index;
    break;
  }
  auto d = delivery(a, e);
  auto found = violations_of(d);
  ASSERT_EQ(found.size(), 1u) << ::testing::PrintToString(found);
  EXPECT_NE(found[0].find("belongs to"), std::string::npos) << found[0];
}

TEST_F(checker, a_round_that_acknowledged_nothing_fails) {
  acked_create(1);
  auto obs = with({shown(0, "active")});
  EXPECT_TRUE(h.check(obs, t0 + 5, wi_crash::check_after::round).ok());
  // Only an unanswered mutation: nothing acknowledged since the last check.
  unanswered_create();
  auto result = h.check(obs, t0 + 5, wi_crash::check_after::round);
  EXPECT_EQ(result.violations.size(), 1u)
    << ::testing::PrintToString(result.violations);
  EXPECT_TRUE(result.lost.empty());
  // A restart without load need not acknowledge anything.
  EXPECT_TRUE(h.check(obs, t0 + 5, wi_crash::check_after::restart).ok());
}

TEST_F(checker, a_rotated_token_must_work_after_the_restart) {
  auto op = h.plan(rng, t0, planned_op::rotate_token);
  ASSERT_EQ(op.kind, planned_op::rotate_token);
  EXPECT_EQ(op.token, "T1"); // the tenant id, for the admin route
  h.ack_rotation(op, "wi_T1_rotated");
  ASSERT_EQ(h.tokens().size(), 1u);
  EXPECT_EQ(h.tokens()[0].second, "wi_T1_rotated");
  // Later operations use the new token.
  auto ep = h.plan(rng, t0, planned_op::create_endpoint);
  EXPECT_EQ(ep.token, "wi_T1_rotated");
  h.never_sent(ep);
  // One rotation per round: the next pick is a status change or a create.
  auto other = h.plan(rng, t0, planned_op::rotate_token);
  EXPECT_NE(other.kind, planned_op::rotate_token);
  h.never_sent(other);
  auto obs = with({});
  obs.views["T1"].list_status = 401; // the rotation was lost
  obs.token_status["wi_T1_token"] = 200;
  auto result = check(obs);
  EXPECT_EQ(result.lost.size(), 1u) << ::testing::PrintToString(result.lost);
  EXPECT_TRUE(result.violations.empty())
    << ::testing::PrintToString(result.violations);
  EXPECT_EQ(h.stats().rotations, 1u);
}

TEST_F(checker, the_token_before_a_rotation_works_within_its_grace) {
  // Two rotations, one per round.
  for (const auto* token : {"wi_T1_second", "wi_T1_third"}) {
    auto op = h.plan(rng, t0, planned_op::rotate_token);
    ASSERT_EQ(op.kind, planned_op::rotate_token);
    h.ack_rotation(op, token);
    if (std::string{token} == "wi_T1_second") {
      EXPECT_EQ(h.token_probes(), std::vector<std::string>{"wi_T1_token"});
      auto obs = with({});
      obs.token_status["wi_T1_token"] = 401; // its grace cut short
      auto result = check(obs);
      EXPECT_EQ(result.lost.size(), 1u)
        << ::testing::PrintToString(result.lost);
      EXPECT_TRUE(result.violations.empty());
    }
  }
  EXPECT_EQ(h.token_probes(),
            (std::vector<std::string>{"wi_T1_second", "wi_T1_token"}));
  auto obs = with({});
  obs.token_status["wi_T1_second"] = 200;
  obs.token_status["wi_T1_token"] = 401; // one previous token is kept
  EXPECT_TRUE(check(obs).ok());
  obs.token_status["wi_T1_token"] = 204; // two previous tokens accepted
  auto result = check(obs);
  EXPECT_EQ(result.violations.size(), 1u)
    << ::testing::PrintToString(result.violations);
  EXPECT_TRUE(result.lost.empty());
  EXPECT_EQ(h.stats().old_tokens_checked, 5u);
}

TEST_F(checker, an_unanswered_rotation_freezes_the_tenant_token) {
  auto op = h.plan(rng, t0, planned_op::rotate_token);
  ASSERT_EQ(op.kind, planned_op::rotate_token);
  h.unanswered(op);
  EXPECT_EQ(h.tokens()[0].second, "wi_T1_token"); // still valid in its grace
  auto result = check(with({}));
  EXPECT_TRUE(result.ok()) << ::testing::PrintToString(result.violations);
  EXPECT_TRUE(h.token_probes().empty()); // which one is current is unknown
  // Never again: another rotation could end the token the harness holds.
  for (int i = 0; i < 20; ++i) {
    auto next = h.plan(rng, t0, planned_op::rotate_token);
    EXPECT_NE(next.kind, planned_op::rotate_token);
    h.never_sent(next);
  }
}

TEST(crash_options, takes_its_flags_off_the_command_line) {
  std::vector<std::string> args = {"crash_tests", "--rounds", "7",
                                   "--gtest_brief=1", "--seed=42"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int argc = static_cast<int>(args.size());
  auto opts = wi_crash::parse_crash_options(argc, argv.data(), "3");
  EXPECT_EQ(opts.rounds, 7);
  EXPECT_EQ(opts.seed, 42u);
  ASSERT_EQ(argc, 2);
  EXPECT_STREQ(argv[1], "--gtest_brief=1");
  EXPECT_EQ(argv[2], nullptr);
}

TEST(crash_options, environment_and_defaults) {
  std::vector<std::string> args = {"crash_tests"};
  char* argv[] = {args[0].data(), nullptr};
  int argc = 1;
  EXPECT_EQ(wi_crash::parse_crash_options(argc, argv, nullptr).rounds, 20);
  EXPECT_EQ(wi_crash::parse_crash_options(argc, argv, "5").rounds, 5);
  EXPECT_FALSE(wi_crash::parse_crash_options(argc, argv, "").seed);
  EXPECT_THROW(wi_crash::parse_crash_options(argc, argv, "0"),
               std::invalid_argument);
  EXPECT_THROW(wi_crash::parse_crash_options(argc, argv, "x"),
               std::invalid_argument);
}
