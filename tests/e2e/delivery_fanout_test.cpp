// The webhook engine end to end: fan-out to matching endpoints, the delivered
// request (signature, headers).

#include "support/delivery_fixture.hpp"

using namespace wi_e2e::delivery_fixture;

// -- the test's own signing code ----------------------------------------------

TEST(delivery_support, hmac_sha256_and_base64_match_known_vectors) {
  auto hex = [](std::string_view raw) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
      out += digits[c >> 4];
      out += digits[c & 15];
    }
    return out;
  };
  // FIPS 180-2 and RFC 4231 test case 2.
  EXPECT_EQ(hex(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex(sha256(std::string(1000, 'a'))),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
  EXPECT_EQ(hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  // The Standard Webhooks reference example.
  EXPECT_EQ(webhook_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                              "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                              R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

// -- fan-out ------------------------------------------------------------------

TEST_F(delivery, fan_out_by_type_and_wildcard_only_to_matching_endpoints) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto other = new_tenant();
  auto e1 = add_endpoint(t, rx_.url("/e1"), {"user.created"});
  auto e2 = add_endpoint(t, rx_.url("/e2"), {"*"});
  auto e3 = add_endpoint(t, rx_.url("/e3"), {"order.paid"});
  auto e4 = add_endpoint(t, rx_.url("/e4"), {"user.deleted", "user.created"});
  add_endpoint(other, rx_.url("/other"), {"*"});

  auto created = publish_ok(t, "user.created");
  auto paid = publish_ok(t, "order.paid");
  auto prefix = publish_ok(t, "user.created.v2");
  auto upper = publish_ok(t, "USER.CREATED");
  EXPECT_EQ(as_int(created.at("endpoints")), 3);
  EXPECT_EQ(as_int(paid.at("endpoints")), 2);
  EXPECT_EQ(as_int(prefix.at("endpoints")), 1);
  EXPECT_EQ(as_int(upper.at("endpoints")), 1);
  for (const auto* r : {&created, &paid, &prefix, &upper})
    EXPECT_EQ(r->at("duplicate"), false);

  const std::map<std::string, std::set<int64_t>> expected_targets = {
    {str_at(created, "id"), {e1, e2, e4}},
    {str_at(paid, "id"), {e2, e3}},
    {str_at(prefix, "id"), {e2}},
    {str_at(upper, "id"), {e2}},
  };
  for (const auto& [id, targets] : expected_targets) {
    auto ev = wait_settled(t, id);
    EXPECT_EQ(delivery_endpoints(ev), targets) << json::serialize(ev);
    for (const auto& d : ev.at("deliveries").as_array()) {
      EXPECT_EQ(d.at("status"), "delivered") << json::serialize(ev);
      EXPECT_EQ(as_int(d.at("attempts")), 1) << json::serialize(ev);
    }
  }
  std::this_thread::sleep_for(quiet_period);
  auto ids_at = [&](std::string_view path) {
    std::multiset<std::string> ids;
    for (const auto& r : rx_.requests(path))
      ids.insert(r.header("webhook-id").value_or("?"));
    return ids;
  };
  using ids = std::multiset<std::string>;
  auto all = rx_.requests();
  EXPECT_EQ(ids_at("/e1"), (ids{str_at(created, "id")})) << describe(all);
  EXPECT_EQ(ids_at("/e2"), (ids{str_at(created, "id"), str_at(paid, "id"),
                                str_at(prefix, "id"), str_at(upper, "id")}))
    << describe(all);
  EXPECT_EQ(ids_at("/e3"), (ids{str_at(paid, "id")})) << describe(all);
  EXPECT_EQ(ids_at("/e4"), (ids{str_at(created, "id")})) << describe(all);
  EXPECT_EQ(rx_.count("/other"), 0u) << describe(all);
  EXPECT_EQ(all.size(), 7u) << describe(all);
}

TEST_F(delivery, a_burst_reaches_every_endpoint_once_with_exact_statistics) {
  // Many deliveries at once: their attempt records share WAL appends and
  // their bodies come from the in-memory cache; nothing may be lost,
  // repeated or miscounted on the way.
  start({"--allow-private-targets"});
  auto t = new_tenant();
  constexpr int endpoints = 5;
  constexpr int events = 60;
  std::vector<int64_t> eps;
  for (int i = 0; i < endpoints; ++i)
    eps.push_back(
      add_endpoint(t, rx_.url("/b" + std::to_string(i)), {"burst"}));
  std::multiset<std::string> ids;
  for (int i = 0; i < events; ++i) {
    auto r = publish_ok(t, "burst", R"({"i":)" + std::to_string(i) + "}");
    EXPECT_EQ(as_int(r.at("endpoints")), endpoints);
    ids.insert(str_at(r, "id"));
  }
  for (const auto& id : ids)
    wait_settled(t, id);
  std::this_thread::sleep_for(quiet_period);
  for (int i = 0; i < endpoints; ++i) {
    auto path = "/b" + std::to_string(i);
    std::multiset<std::string> got;
    for (const auto& r : rx_.requests(path)) {
      got.insert(r.header("webhook-id").value_or("?"));
      auto body = json::parse(r.body).as_object();
      EXPECT_EQ(str_at(body, "id"), r.header("webhook-id").value_or("?"));
    }
    EXPECT_EQ(got, ids) << path;
    auto s = stats(t, eps[static_cast<size_t>(i)]);
    EXPECT_EQ(as_int(s.at("total_attempts")), events) << path;
    EXPECT_EQ(as_int(s.at("successful_attempts")), events) << path;
    EXPECT_EQ(as_int(s.at("failed_attempts")), 0) << path;
    EXPECT_EQ(as_int(s.at("pending_events")), 0) << path;
  }
  EXPECT_EQ(rx_.requests().size(), static_cast<size_t>(endpoints * events));
}

TEST_F(delivery, a_tenant_has_at_most_tenant_concurrency_attempts_under_way) {
  // Two attempts at a time for the whole tenant, although each of the
  // three endpoints alone would take eight: due deliveries wait in the
  // actor and are all sent, once each, as slots free up.
  start({"--allow-private-targets", "--tenant-concurrency", "2"});
  auto t = new_tenant();
  constexpr auto delay = 150ms;
  constexpr int events = 4;
  std::vector<std::string> paths = {"/c0", "/c1", "/c2"};
  for (const auto& p : paths) {
    add_endpoint(t, rx_.url(p), {"capped"});
    rx_.set(p, behaviour::always(reply{200, delay, {}, "ok"}));
  }
  std::multiset<std::string> ids;
  for (int i = 0; i < events; ++i)
    ids.insert(str_at(publish_ok(t, "capped"), "id"));
  for (const auto& id : ids)
    wait_settled(t, id);
  std::this_thread::sleep_for(quiet_period);
  for (const auto& p : paths) {
    std::multiset<std::string> got;
    for (const auto& r : rx_.requests(p))
      got.insert(r.header("webhook-id").value_or("?"));
    EXPECT_EQ(got, ids) << p;
  }
  // An attempt holds its slot for at least the receiver's delay, so with
  // two slots no three requests arrive within less than that.
  auto all = rx_.requests();
  ASSERT_EQ(all.size(), paths.size() * events);
  for (const auto& r : all) {
    auto close = std::count_if(all.begin(), all.end(), [&](const auto& x) {
      return x.at <= r.at && r.at - x.at < delay - 10ms;
    });
    EXPECT_LE(close, 2) << describe(all);
  }
}

TEST_F(delivery, event_without_matching_endpoint_is_accepted_with_none) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  auto none = publish_ok(t, "nobody.listens");
  EXPECT_EQ(as_int(none.at("endpoints")), 0);
  add_endpoint(t, rx_.url("/late"), {"nobody.listens"});
  auto ev = get_event(t, str_at(none, "id"));
  EXPECT_EQ(ev.at("deliveries"), json::array{}) << json::serialize(ev);
  EXPECT_EQ(ev.at("event_type"), "nobody.listens");
  EXPECT_EQ(ev.at("created_at"), none.at("created_at"));
  EXPECT_FALSE(ev.contains("idempotency_key")) << json::serialize(ev);
  // An endpoint created later does not receive older events.
  std::this_thread::sleep_for(quiet_period);
  EXPECT_EQ(rx_.count("/late"), 0u);
}

// -- the delivered request ----------------------------------------------------

TEST_F(delivery, signed_body_and_headers_are_exact_for_both_secret_kinds) {
  start({"--allow-private-targets"});
  auto t = new_tenant();
  const auto whsec = "whsec_" + base64_encode(random_bytes(32));
  const std::string plain = "plain-secret-value";
  add_endpoint(t, rx_.url("/sig/a?src=wi&x=1"), {"user.created"}, whsec,
               json::object{{"X-Team", "billing"},
                            {"Authorization", "Bearer downstream-token"}});
  add_endpoint(t, rx_.url("/sig/b"), {"user.created", "scalar"}, plain);

  const std::string payload = R"( {
      "name" : "Zo\u00eb \"Z\" \ud83d\ude80 ü",
      "tags": [ "a", "b" ],
      "nested": {"n": 42, "neg": -7, "ok": true, "none": null},
      "line": "x\ny\tz/<>&",
      "empty": {}, "list": [] } )";
  // `data` is the published value's own text, without the blanks around it.
  const auto as_sent = trimmed(payload);
  auto receipt = publish_ok(t, "user.created", payload);
  ASSERT_EQ(as_int(receipt.at("endpoints")), 2);
  wait_settled(t, str_at(receipt, "id"));

  auto a = rx_.requests("/sig/a");
  auto b = rx_.requests("/sig/b");
  ASSERT_EQ(a.size(), 1u) << describe(rx_.requests());
  ASSERT_EQ(b.size(), 1u) << describe(rx_.requests());
  EXPECT_EQ(a[0].target, "/sig/a?src=wi&x=1");
  expect_delivery(a[0], receipt, whsec, as_sent);
  expect_delivery(b[0], receipt, plain, as_sent);
  // The data member parses back to the published payload.
  EXPECT_EQ(json::parse(a[0].body).at("data"), json::parse(payload));
  // Custom headers only where configured, each once.
  EXPECT_EQ(a[0].header("X-Team"), "billing");
  EXPECT_EQ(a[0].header_count("X-Team"), 1u);
  EXPECT_EQ(a[0].header("Authorization"), "Bearer downstream-token");
  EXPECT_FALSE(b[0].header("X-Team"));
  EXPECT_FALSE(b[0].header("Authorization"));
  // A whsec_ key is the decoded bytes, not the text of the secret.
  EXPECT_NE(a[0].header("webhook-signature"),
            webhook_signature("raw:" + whsec, str_at(receipt, "id"),
                              a[0].header("webhook-timestamp").value_or(""),
                              a[0].body));

  // A large payload arrives byte for byte.
  std::string big = "{\"blob\": \"";
  for (size_t i = 0; i < 300'000; ++i)
    big += static_cast<char>('a' + i % 26);
  big += "\"}";
  auto large = publish_ok(t, "scalar", big);
  wait_settled(t, str_at(large, "id"));
  auto got_big = with_id(rx_.requests("/sig/b"), str_at(large, "id"));
  ASSERT_EQ(got_big.size(), 1u);
  expect_delivery(got_big[0], large, plain, big);

  // Payloads that are not objects are delivered as they are.
  for (std::string_view p : {R"("just text")", "[1, 2, [3]]", "0", "false",
                             "null", "-12345678901"}) {
    SCOPED_TRACE(p);
    auto r = publish_ok(t, "scalar", p);
    wait_settled(t, str_at(r, "id"));
    auto got = with_id(rx_.requests("/sig/b"), str_at(r, "id"));
    ASSERT_EQ(got.size(), 1u);
    expect_delivery(got[0], r, plain, p);
  }
}
