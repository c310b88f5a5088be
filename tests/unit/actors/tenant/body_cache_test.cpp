#include "actors/tenant/body_cache.hpp"

#include <atomic>
#include <memory>
#include <string>

#include <gtest/gtest.h>

using wi::body_cache;

TEST(body_cache, finds_what_was_put_until_erased) {
  body_cache cache{100};
  cache.put("e1", "body one");
  cache.put("e2", "two");
  ASSERT_NE(cache.find("e1"), nullptr);
  EXPECT_EQ(*cache.find("e1"), "body one");
  EXPECT_EQ(*cache.find("e2"), "two");
  EXPECT_EQ(cache.find("e3"), nullptr);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.bytes(), 11u);
  cache.erase("e1");
  cache.erase("e1"); // not held any more: nothing happens
  EXPECT_EQ(cache.find("e1"), nullptr);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.bytes(), 3u);
}

TEST(body_cache, drops_the_oldest_bodies_when_full) {
  body_cache cache{10};
  cache.put("e1", "aaaa");
  cache.put("e2", "bbbb");
  cache.put("e3", "cccc"); // 12 bytes would not fit: e1 goes
  EXPECT_EQ(cache.find("e1"), nullptr);
  EXPECT_EQ(*cache.find("e2"), "bbbb");
  EXPECT_EQ(*cache.find("e3"), "cccc");
  EXPECT_EQ(cache.bytes(), 8u);
  cache.erase("e2");
  cache.put("e4", "dddddd"); // fits beside e3 after e2 left
  EXPECT_EQ(*cache.find("e3"), "cccc");
  EXPECT_EQ(*cache.find("e4"), "dddddd");
  EXPECT_EQ(cache.bytes(), 10u);
  cache.put("e5", "eeeeeeeeee"); // needs everything
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(*cache.find("e5"), "eeeeeeeeee");
}

TEST(body_cache, keeps_the_first_body_and_skips_oversized_ones) {
  body_cache cache{10};
  cache.put("e1", "first");
  cache.put("e1", "second");
  EXPECT_EQ(*cache.find("e1"), "first");
  cache.put("big", "01234567890"); // 11 bytes: never fits
  EXPECT_EQ(cache.find("big"), nullptr);
  EXPECT_EQ(*cache.find("e1"), "first");
  EXPECT_EQ(cache.bytes(), 5u);
}

TEST(body_cache, caches_sharing_a_total_never_drop_each_others_bodies) {
  auto total = std::make_shared<std::atomic<size_t>>(0);
  body_cache a;
  body_cache b;
  a.limit(8, total, 10);
  b.limit(8, total, 10);
  a.put("a1", "aaaa");
  a.put("a2", "aaaa");
  EXPECT_EQ(total->load(), 8u);
  b.put("b1", "bbbb"); // 12 > 10, and b holds nothing it could drop
  EXPECT_EQ(b.find("b1"), nullptr);
  EXPECT_EQ(b.bytes(), 0u);
  b.put("b2", "bb"); // exactly 10
  EXPECT_EQ(*b.find("b2"), "bb");
  EXPECT_EQ(total->load(), 10u);
  b.put("b3", "bb"); // b drops its own b2 to stay within the total
  EXPECT_EQ(b.find("b2"), nullptr);
  EXPECT_EQ(*b.find("b3"), "bb");
  EXPECT_EQ(a.size(), 2u);
  a.erase("a1");
  EXPECT_EQ(total->load(), 6u);
  {
    body_cache c;
    c.limit(8, total, 10);
    c.put("c1", "cccc");
    EXPECT_EQ(total->load(), 10u);
  } // c gives its bytes back when it goes
  EXPECT_EQ(total->load(), 6u);
}
