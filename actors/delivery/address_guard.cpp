#include "actors/delivery/address_guard.hpp"

#include <cstring>
#include <string>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>

namespace wi {

namespace {

using v4 = std::array<uint8_t, 4>;
using v6 = std::array<uint8_t, 16>;

/// Returns whether the first `bits` bits of `addr` equal those of `prefix`.
template <size_t N>
bool in_prefix(const std::array<uint8_t, N>& addr,
               const std::array<uint8_t, N>& prefix, size_t bits) noexcept {
  size_t i = 0;
  for (; bits >= 8; bits -= 8, ++i)
    if (addr[i] != prefix[i])
      return false;
  if (bits == 0)
    return true;
  auto mask = static_cast<uint8_t>(0xFF << (8 - bits));
  return (addr[i] & mask) == (prefix[i] & mask);
}

v4 embedded_v4(const v6& addr, size_t offset) noexcept {
  return {addr[offset], addr[offset + 1], addr[offset + 2], addr[offset + 3]};
}

struct v4_range {
  v4 prefix;
  size_t bits;
  address_class cls;
};

struct v6_range {
  v6 prefix;
  size_t bits;
  address_class cls;
};

// Checked in order: the first match wins.
constexpr v4_range v4_ranges[] = {
  {{0, 0, 0, 0}, 32, address_class::unspecified},
  {{0, 0, 0, 0}, 8, address_class::reserved},
  {{10, 0, 0, 0}, 8, address_class::private_use},
  {{100, 64, 0, 0}, 10, address_class::shared_cgnat},
  {{127, 0, 0, 0}, 8, address_class::loopback},
  {{169, 254, 0, 0}, 16, address_class::link_local},
  {{172, 16, 0, 0}, 12, address_class::private_use},
  {{192, 0, 0, 0}, 24, address_class::reserved},
  {{192, 0, 2, 0}, 24, address_class::reserved},
  {{192, 88, 99, 0}, 24, address_class::reserved},
  {{192, 168, 0, 0}, 16, address_class::private_use},
  {{198, 18, 0, 0}, 15, address_class::reserved},
  {{198, 51, 100, 0}, 24, address_class::reserved},
  {{203, 0, 113, 0}, 24, address_class::reserved},
  {{224, 0, 0, 0}, 4, address_class::multicast},
  {{240, 0, 0, 0}, 4, address_class::reserved}, // incl. 255.255.255.255
};

// Checked in order after the special cases in classify_v6.
constexpr v6_range v6_ranges[] = {
  {{}, 128, address_class::unspecified},
  {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
   128,
   address_class::loopback},
  {{0x20, 0x01, 0x0d, 0xb8}, 32, address_class::reserved},
  {{0x20, 0x01}, 23, address_class::reserved},
  {{0x3f, 0xff}, 20, address_class::reserved},
  {{0xfc}, 7, address_class::private_use},
  {{0xfe, 0x80}, 10, address_class::link_local},
  {{0xfe, 0xc0}, 10, address_class::reserved},
  {{0xff}, 8, address_class::multicast},
};

/// The class of an IPv4 address embedded in an IPv6 one.
address_class embedded_class(const v4& addr) noexcept {
  return classify_v4(addr);
}

curl_socket_t open_guarded_socket(void* clientp, curlsocktype purpose,
                                  curl_sockaddr* address) {
  auto& guard = *static_cast<connect_guard*>(clientp);
  if (purpose == CURLSOCKTYPE_IPCXN) {
    auto cls = classify(&address->addr, address->addrlen);
    if (!is_allowed(cls, guard.allow_private_targets)) {
      guard.refused = true;
      guard.refused_class = cls;
      return CURL_SOCKET_BAD;
    }
  }
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC,
                  address->protocol);
}

} // namespace

std::string_view to_string(address_class x) noexcept {
  switch (x) {
  case address_class::public_unicast:
    return "public_unicast";
  case address_class::loopback:
    return "loopback";
  case address_class::private_use:
    return "private_use";
  case address_class::link_local:
    return "link_local";
  case address_class::shared_cgnat:
    return "shared_cgnat";
  case address_class::multicast:
    return "multicast";
  case address_class::unspecified:
    return "unspecified";
  case address_class::reserved:
    return "reserved";
  }
  return "unknown";
}

address_class classify_v4(const std::array<uint8_t, 4>& addr) noexcept {
  for (const auto& r : v4_ranges)
    if (in_prefix(addr, r.prefix, r.bits))
      return r.cls;
  return address_class::public_unicast;
}

address_class classify_v6(const std::array<uint8_t, 16>& addr) noexcept {
  constexpr v6 mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  constexpr v6 nat64{0, 0x64, 0xff, 0x9b};
  constexpr v6 six_to_four{0x20, 0x02};
  if (in_prefix(addr, mapped, 96) || in_prefix(addr, nat64, 96))
    return embedded_class(embedded_v4(addr, 12));
  if (in_prefix(addr, six_to_four, 16))
    return embedded_class(embedded_v4(addr, 2));
  for (const auto& r : v6_ranges)
    if (in_prefix(addr, r.prefix, r.bits))
      return r.cls;
  // Only 2000::/3 is allocated for global unicast; the rest (::/96
  // IPv4-compatible, 100::/64 discard-only, 64:ff9b:1::/48, ...) is not a
  // delivery target.
  constexpr v6 global{0x20};
  if (in_prefix(addr, global, 3))
    return address_class::public_unicast;
  return address_class::reserved;
}

address_class classify(const sockaddr* addr, socklen_t len) noexcept {
  if (addr == nullptr)
    return address_class::reserved;
  if (addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    sockaddr_in in{};
    std::memcpy(&in, addr, sizeof(in));
    v4 bytes{};
    std::memcpy(bytes.data(), &in.sin_addr, bytes.size());
    return classify_v4(bytes);
  }
  if (addr->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, addr, sizeof(in6));
    v6 bytes{};
    std::memcpy(bytes.data(), &in6.sin6_addr, bytes.size());
    return classify_v6(bytes);
  }
  return address_class::reserved;
}

std::optional<address_class> classify(std::string_view text) noexcept {
  char buf[INET6_ADDRSTRLEN + 1] = {};
  if (text.size() >= sizeof(buf))
    return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  v4 a4{};
  if (::inet_pton(AF_INET, buf, a4.data()) == 1)
    return classify_v4(a4);
  v6 a6{};
  if (::inet_pton(AF_INET6, buf, a6.data()) == 1)
    return classify_v6(a6);
  return std::nullopt;
}

bool is_allowed(address_class x, bool allow_private_targets) noexcept {
  if (x == address_class::public_unicast)
    return true;
  return allow_private_targets && x != address_class::multicast &&
         x != address_class::unspecified;
}

bool install_connect_guard(void* curl_easy, connect_guard& guard) noexcept {
  auto* easy = static_cast<CURL*>(curl_easy);
  curl_opensocket_callback fn = open_guarded_socket;
  return curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, fn) == CURLE_OK &&
         curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, &guard) == CURLE_OK;
}

} // namespace wi
