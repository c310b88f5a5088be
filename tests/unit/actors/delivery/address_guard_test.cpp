// SSRF guard: address classification tables for IPv4, IPv6 and mapped forms.

#include <gtest/gtest.h>

#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "actors/delivery/address_guard.hpp"

namespace {

using namespace wi;
using ac = address_class;

struct row {
  std::string_view address;
  address_class expected;
};

void check(std::initializer_list<row> rows) {
  for (auto [address, expected] : rows) {
    auto got = classify(address);
    ASSERT_TRUE(got) << address;
    EXPECT_EQ(to_string(*got), to_string(expected)) << address;
  }
}

TEST(address_guard, ipv4_table) {
  check({
    {"8.8.8.8", ac::public_unicast},
    {"1.1.1.1", ac::public_unicast},
    {"93.184.216.34", ac::public_unicast},
    {"0.0.0.0", ac::unspecified},
    {"0.1.2.3", ac::reserved},
    {"10.0.0.1", ac::private_use},
    {"10.255.255.255", ac::private_use},
    {"100.63.255.255", ac::public_unicast},
    {"100.64.0.1", ac::shared_cgnat},
    {"100.127.255.255", ac::shared_cgnat},
    {"100.128.0.0", ac::public_unicast},
    {"127.0.0.1", ac::loopback},
    {"127.255.0.9", ac::loopback},
    {"169.254.169.254", ac::link_local},
    {"172.15.255.255", ac::public_unicast},
    {"172.16.0.1", ac::private_use},
    {"172.31.255.255", ac::private_use},
    {"172.32.0.0", ac::public_unicast},
    {"192.0.0.8", ac::reserved},
    {"192.0.2.1", ac::reserved},
    {"192.88.99.1", ac::reserved},
    {"192.168.1.1", ac::private_use},
    {"192.169.0.1", ac::public_unicast},
    {"198.18.0.1", ac::reserved},
    {"198.19.255.255", ac::reserved},
    {"198.20.0.0", ac::public_unicast},
    {"198.51.100.7", ac::reserved},
    {"203.0.113.9", ac::reserved},
    {"224.0.0.1", ac::multicast},
    {"239.255.255.250", ac::multicast},
    {"240.0.0.1", ac::reserved},
    {"255.255.255.255", ac::reserved},
  });
}

TEST(address_guard, ipv6_table) {
  check({
    {"2606:4700:4700::1111", ac::public_unicast},
    {"2001:4860:4860::8888", ac::public_unicast},
    {"::", ac::unspecified},
    {"::1", ac::loopback},
    {"::2", ac::reserved},
    {"::8.8.8.8", ac::reserved}, // IPv4-compatible, deprecated
    {"100::1", ac::reserved},
    {"2001:db8::1", ac::reserved},
    {"2001::1", ac::reserved}, // TEREDO
    {"2001:10::1", ac::reserved},
    {"3fff::1", ac::reserved},
    {"fc00::1", ac::private_use},
    {"fd12:3456::1", ac::private_use},
    {"fe80::1", ac::link_local},
    {"febf::1", ac::link_local},
    {"fec0::1", ac::reserved},
    {"ff02::1", ac::multicast},
    {"4000::1", ac::reserved}, // outside 2000::/3
  });
}

TEST(address_guard, embedded_ipv4) {
  check({
    // IPv4-mapped
    {"::ffff:127.0.0.1", ac::loopback},
    {"::ffff:10.1.2.3", ac::private_use},
    {"::ffff:169.254.169.254", ac::link_local},
    {"::ffff:8.8.8.8", ac::public_unicast},
    {"::ffff:0.0.0.0", ac::unspecified},
    {"::ffff:7f00:1", ac::loopback},
    // NAT64 well-known prefix
    {"64:ff9b::192.168.0.1", ac::private_use},
    {"64:ff9b::127.0.0.1", ac::loopback},
    {"64:ff9b::8.8.8.8", ac::public_unicast},
    {"64:ff9b:1::8.8.8.8", ac::reserved},
    // 6to4
    {"2002:c0a8:0101::1", ac::private_use},
    {"2002:7f00:1::1", ac::loopback},
    {"2002:0808:0808::1", ac::public_unicast},
  });
}

TEST(address_guard, socket_addresses) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  ASSERT_EQ(inet_pton(AF_INET, "127.0.0.1", &in.sin_addr), 1);
  EXPECT_EQ(classify(reinterpret_cast<sockaddr*>(&in), sizeof(in)),
            ac::loopback);
  ASSERT_EQ(inet_pton(AF_INET, "8.8.4.4", &in.sin_addr), 1);
  EXPECT_EQ(classify(reinterpret_cast<sockaddr*>(&in), sizeof(in)),
            ac::public_unicast);
  // Too short for its family.
  EXPECT_EQ(classify(reinterpret_cast<sockaddr*>(&in), 4), ac::reserved);
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:192.168.0.10", &in6.sin6_addr), 1);
  EXPECT_EQ(classify(reinterpret_cast<sockaddr*>(&in6), sizeof(in6)),
            ac::private_use);
  ASSERT_EQ(inet_pton(AF_INET6, "2a00:1450::1", &in6.sin6_addr), 1);
  EXPECT_EQ(classify(reinterpret_cast<sockaddr*>(&in6), sizeof(in6)),
            ac::public_unicast);
  sockaddr other{};
  other.sa_family = AF_UNIX;
  EXPECT_EQ(classify(&other, sizeof(other)), ac::reserved);
  EXPECT_EQ(classify(nullptr, 0), ac::reserved);
  EXPECT_FALSE(classify("localhost"));
  EXPECT_FALSE(classify("[::1]"));
  EXPECT_FALSE(classify("fe80::1%eth0"));
}

TEST(address_guard, policy) {
  EXPECT_TRUE(is_allowed(ac::public_unicast, false));
  for (auto x :
       {ac::loopback, ac::private_use, ac::link_local, ac::shared_cgnat,
        ac::multicast, ac::unspecified, ac::reserved})
    EXPECT_FALSE(is_allowed(x, false)) << to_string(x);
  for (auto x : {ac::public_unicast, ac::loopback, ac::private_use,
                 ac::link_local, ac::shared_cgnat, ac::reserved})
    EXPECT_TRUE(is_allowed(x, true)) << to_string(x);
  EXPECT_FALSE(is_allowed(ac::multicast, true));
  EXPECT_FALSE(is_allowed(ac::unspecified, true));
}

} // namespace
