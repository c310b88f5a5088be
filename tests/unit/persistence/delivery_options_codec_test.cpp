// The WAL records and snapshot fields of endpoint rate limits and FIFO
// ordering (issue 17, items 4 and 5): record tags 22-24, tenant snapshot
// kind 8, and kind 7 read with its events numbered.

#include <gtest/gtest.h>

#include "persistence/binary_format.hpp"
#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"
#include "webhook_ingress/error.hpp"

using namespace wi;
using wi::persistence::decode;
using wi::persistence::encode;

namespace {

endpoint_created created_with(uint32_t rate, delivery_ordering ordering) {
  endpoint_created x;
  x.tenant_id = "tA";
  x.ep.id = 4;
  x.ep.url = "https://example.com/";
  x.ep.secret = "secret-secret";
  x.ep.event_types = {"*"};
  x.ep.rate_limit = rate;
  x.ep.ordering = ordering;
  return x;
}

std::vector<record> samples() {
  std::vector<record> result;
  result.push_back(created_with(1, delivery_ordering::unordered));
  result.push_back(created_with(0, delivery_ordering::fifo));
  auto described = created_with(10'000, delivery_ordering::fifo);
  described.ep.description = "d";
  described.ep.previous_secret = "older-secret";
  described.ep.previous_expires_at = 5;
  result.push_back(described);
  for (unsigned mask = 1; mask < 4; ++mask) {
    endpoint_patch p;
    if (mask & 1)
      p.rate_limit = mask == 3 ? 0u : 77u; // 0: cleared
    if (mask & 2)
      p.ordering = delivery_ordering::fifo;
    result.push_back(endpoint_updated{"tA", mask, -7, p});
    p.url = "https://example.com/x";
    p.description = "";
    result.push_back(endpoint_updated{"tA", mask, 1, std::move(p)});
  }
  endpoint_patch unordered;
  unordered.ordering = delivery_ordering::unordered;
  result.push_back(endpoint_updated{"tA", 9, 0, unordered});
  event_accepted keyed{"tA", "evt_k", "a.b", "", 5, {1, 2}, 0};
  keyed.ordering_key = "customer-\xC3\xA9";
  result.push_back(keyed);
  keyed.payload_bytes = 12;
  keyed.idempotency_key = "idem";
  result.push_back(keyed);
  return result;
}

void expect_corrupt(std::string_view bytes, const std::string& what) {
  auto res = decode(bytes);
  ASSERT_FALSE(res) << what << ": decoded although invalid";
  EXPECT_EQ(code_of(res.error()), errc::corrupt_data) << what;
}

} // namespace

TEST(delivery_options_codec, round_trips_every_record) {
  for (const auto& x : samples()) {
    SCOPED_TRACE(std::string{kind_of(x)});
    auto bytes = encode(x);
    auto res = decode(bytes);
    ASSERT_TRUE(res) << text_of(res.error());
    EXPECT_EQ(*res, x);
    // Decoding over a record of the same type leaves nothing behind.
    record reused = x;
    std::visit(
      [](auto& r) {
        using type = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<type, endpoint_created>) {
          r.ep.rate_limit = 5;
          r.ep.ordering = delivery_ordering::fifo;
        } else if constexpr (std::is_same_v<type, endpoint_updated>) {
          r.change.rate_limit = 5;
          r.change.ordering = delivery_ordering::fifo;
        } else if constexpr (std::is_same_v<type, event_accepted>) {
          r.ordering_key = "stale";
        }
      },
      reused);
    ASSERT_FALSE(persistence::decode_into(bytes, reused));
    EXPECT_EQ(reused, x);
    for (size_t n = 0; n < bytes.size(); ++n)
      expect_corrupt(bytes.substr(0, n), "truncated to " + std::to_string(n));
    expect_corrupt(bytes + "x", "trailing byte");
  }
}

TEST(delivery_options_codec, writes_the_new_tags_only_when_needed) {
  auto tag = [](const record& x) { return encode(x).at(1); };
  EXPECT_EQ(tag(created_with(0, delivery_ordering::unordered)), '\x02');
  EXPECT_EQ(tag(created_with(1, delivery_ordering::unordered)), '\x16');
  EXPECT_EQ(tag(created_with(0, delivery_ordering::fifo)), '\x16');
  endpoint_patch p;
  p.description = "x";
  EXPECT_EQ(tag(endpoint_updated{"t", 1, 0, p}), '\x13');
  p.rate_limit = 0;
  EXPECT_EQ(tag(endpoint_updated{"t", 1, 0, p}), '\x17');
  event_accepted ev{"t", "e", "a", "", 0, {}, 0};
  EXPECT_EQ(tag(ev), '\x04');
  ev.payload_bytes = 3;
  EXPECT_EQ(tag(ev), '\x0e');
  ev.ordering_key = "k";
  EXPECT_EQ(tag(ev), '\x18');
}

TEST(delivery_options_codec, refuses_second_encodings_and_bad_values) {
  // Tag 22 without an option set would be a second encoding of tag 18.
  auto plain = created_with(1, delivery_ordering::unordered);
  auto bytes = encode(plain);
  auto rate_at = bytes.size() - 5;
  auto zero = bytes;
  zero.replace(rate_at, 4, std::string(4, '\0'));
  expect_corrupt(zero, "tag 22 without options");
  auto too_fast = bytes;
  too_fast.replace(rate_at, 4, std::string("\x11\x27\0\0", 4)); // 10001
  expect_corrupt(too_fast, "rate 10001");
  auto bad_ordering = bytes;
  bad_ordering.back() = '\x02';
  expect_corrupt(bad_ordering, "ordering 2");
  // Tag 23 without bit 4 or 5, or with a value for an unset option.
  endpoint_patch p;
  p.rate_limit = 9;
  auto update = encode(endpoint_updated{"t", 1, 0, p});
  size_t mask = 2 + 5 + 8 + 8;
  ASSERT_EQ(update[mask], '\x10');
  auto no_bit = update;
  no_bit[mask] = '\0';
  expect_corrupt(no_bit, "tag 23 without option bits");
  auto stray = update;
  stray.back() = '\x01'; // an ordering without bit 5
  expect_corrupt(stray, "ordering value without its bit");
  auto high = update;
  high[mask] = '\x50';
  expect_corrupt(high, "field bit 6");
  // Tag 24 with an empty key would be a second encoding of tag 4 or 14.
  event_accepted ev{"t", "e", "a", "", 0, {}, 0};
  ev.ordering_key = "k";
  auto keyed = encode(ev);
  keyed.replace(keyed.size() - 5, 5, std::string(4, '\0'));
  expect_corrupt(keyed, "tag 24 with an empty key");
}

TEST(delivery_options_codec, snapshots_keep_options_keys_and_sequence) {
  auto st = empty_tenant("tA");
  st.last_id = 2;
  auto ep = created_with(250, delivery_ordering::fifo).ep;
  ep.id = 2;
  st.endpoints.emplace(2, ep);
  event_state ev{"evt_1", "a", "", 10, {}, 3};
  ev.ordering_key = "k1";
  ev.seq = 7;
  ev.deliveries.push_back({2, delivery_status::pending, 0, 10, ""});
  st.events.emplace(ev.id, ev);
  st.last_event_seq = 7;
  st.stored_bytes = 3;
  auto bytes = persistence::encode_snapshot(st);
  EXPECT_EQ(bytes[1], '\x08');
  auto back = persistence::decode_tenant_snapshot(bytes);
  ASSERT_TRUE(back) << text_of(back.error());
  EXPECT_EQ(*back, st);
  // A sequence number above the last one, or two events with one number,
  // is corrupt.
  auto high = st;
  high.last_event_seq = 6;
  EXPECT_FALSE(
    persistence::decode_tenant_snapshot(persistence::encode_snapshot(high)));
  auto twice = st;
  ev.id = "evt_2";
  twice.events.emplace(ev.id, ev);
  EXPECT_FALSE(
    persistence::decode_tenant_snapshot(persistence::encode_snapshot(twice)));
}

TEST(delivery_options_codec, reads_kind_7_and_numbers_its_events) {
  // Kind 7: endpoints without options, events without key and sequence.
  persistence::detail::writer w;
  w.u8(1);
  w.u8(7);
  w.str("tOld");
  w.u64(1);
  w.count(1); // one endpoint
  w.u64(1);
  w.str("https://example.com/");
  w.str("secret-secret");
  w.strings({"*"});
  w.headers({});
  w.status(endpoint_status::active);
  w.i64(1);
  w.i64(1);
  w.str("");
  w.str("");
  w.i64(0);
  // Three events: by id a, b, c; by time c (5), then a and b (both 9).
  w.count(3);
  for (auto [id, at] : {std::pair{"evt_a", 9}, {"evt_b", 9}, {"evt_c", 5}}) {
    w.str(id);
    w.str("x");
    w.str("");
    w.i64(at);
    w.u64(0);
    w.count(0);
  }
  w.count(0); // idempotency keys
  w.count(0); // activity
  w.u64(0);   // pending
  for (int i = 0; i < 4; ++i) {
    w.u8(0);
    w.u64(0);
  }
  auto back = persistence::decode_tenant_snapshot(std::move(w).take());
  ASSERT_TRUE(back) << text_of(back.error());
  EXPECT_EQ(back->endpoints.at(1).rate_limit, 0u);
  EXPECT_EQ(back->endpoints.at(1).ordering, delivery_ordering::unordered);
  EXPECT_EQ(back->events.at("evt_c").seq, 1u);
  EXPECT_EQ(back->events.at("evt_a").seq, 2u);
  EXPECT_EQ(back->events.at("evt_b").seq, 3u);
  EXPECT_EQ(back->last_event_seq, 3u);
  EXPECT_EQ(back->events.at("evt_a").ordering_key, "");
}
