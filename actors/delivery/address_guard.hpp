#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <sys/socket.h>

/// SSRF guard: which resolved addresses a delivery may connect to. The
/// check runs at connect time inside libcurl (after DNS), so a host name
/// that resolves to a public address once and to an internal one later
/// (DNS rebinding) is still refused. Every function is thread-safe.
namespace wi {

/// What kind of address a socket address is.
enum class address_class : uint8_t {
  /// Globally routable unicast: the only class deliveries may reach by
  /// default.
  public_unicast,
  /// 127/8, ::1.
  loopback,
  /// RFC 1918 (10/8, 172.16/12, 192.168/16) and unique local fc00::/7.
  private_use,
  /// 169.254/16, fe80::/10.
  link_local,
  /// Carrier-grade NAT shared space 100.64/10.
  shared_cgnat,
  /// 224/4, ff00::/8.
  multicast,
  /// 0.0.0.0, ::.
  unspecified,
  /// Other special-purpose ranges: 0/8, 240/4 and 255.255.255.255,
  /// 192.0.0/24, 198.18/15, documentation ranges (192.0.2/24,
  /// 198.51.100/24, 203.0.113/24, 2001:db8::/32), 6to4 relay 192.88.99/24,
  /// discard-only 100::/64, the IPv4-compatible ::/96, site-local fec0::/10,
  /// ORCHID and TEREDO ranges inside 2001::/23, and addresses that could not
  /// be parsed.
  reserved,
};

/// Returns the enumerator's name, e.g. `"private_use"`.
[[nodiscard]] std::string_view to_string(address_class x) noexcept;

/// Classifies an IPv4 address given in network byte order.
[[nodiscard]] address_class
classify_v4(const std::array<uint8_t, 4>& addr) noexcept;

/// Classifies an IPv6 address. IPv4-mapped (::ffff:0:0/96) and NAT64
/// (64:ff9b::/96) addresses are classified by their embedded IPv4 address;
/// 6to4 (2002::/16) by the IPv4 address in bits 16-47.
[[nodiscard]] address_class
classify_v6(const std::array<uint8_t, 16>& addr) noexcept;

/// Classifies a socket address of family AF_INET or AF_INET6 of `len` bytes;
/// anything else, or too short, is `reserved`.
[[nodiscard]] address_class classify(const sockaddr* addr,
                                     socklen_t len) noexcept;

/// Classifies a textual IPv4 or IPv6 address (no brackets, no zone);
/// `nullopt` when it is neither.
[[nodiscard]] std::optional<address_class>
classify(std::string_view text) noexcept;

/// Returns whether a delivery may connect to an address of class `x`.
/// By default only `public_unicast` is allowed. With `allow_private_targets`
/// (the `--allow-private-targets` flag, for local use and tests) every class
/// is allowed except `multicast` and `unspecified`.
[[nodiscard]] bool is_allowed(address_class x,
                              bool allow_private_targets) noexcept;

/// Per-transfer state of the connect-time guard. One per transfer: the
/// callback writes to it from the thread that drives the transfer.
struct connect_guard {
  /// Allow private, loopback and other internal targets.
  bool allow_private_targets = false;
  /// Set by the callback when it refused at least one address.
  bool refused = false;
  /// Class of the last refused address.
  address_class refused_class = address_class::public_unicast;
};

/// Installs the guard on a libcurl easy handle (`CURL*`, passed as `void*` to
/// keep curl out of this header): sets `CURLOPT_OPENSOCKETFUNCTION` to a
/// callback that classifies each address libcurl is about to connect to and,
/// for a refused one, records it in `guard` and returns `CURL_SOCKET_BAD`
/// (libcurl then tries the next address or fails with
/// `CURLE_COULDNT_CONNECT`). `guard` must outlive the transfer. Returns
/// false if libcurl rejected the options.
[[nodiscard]] bool install_connect_guard(void* curl_easy,
                                         connect_guard& guard) noexcept;

} // namespace wi
