#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "webhook_ingress/domain.hpp"

/// Hashing, randomness and the token format. Every function is thread-safe
/// and never blocks (OpenSSL's CSPRNG is seeded at process start).
namespace wi::crypto {

/// Returns the SHA-256 of `data` as 32 raw bytes.
[[nodiscard]] std::string sha256(std::string_view data);

/// Compares in time that depends only on the sizes, never on the contents
/// (sizes of hashes are public).
[[nodiscard]] bool constant_time_equal(std::string_view a,
                                       std::string_view b) noexcept;

/// Returns `n` bytes from a CSPRNG.
[[nodiscard]] std::string random_bytes(size_t n);

/// Returns `n` characters drawn uniformly from `[A-Za-z0-9]` by a CSPRNG.
[[nodiscard]] std::string random_base62(size_t n);

/// Length of a tenant id: 16 base62 characters (95 bits), random and
/// globally unique, so tenants can move between nodes.
inline constexpr size_t tenant_id_length = 16;

/// Length of the secret part of a tenant token: 32 base62 characters
/// (190 bits).
inline constexpr size_t token_secret_length = 32;

/// Returns a fresh random tenant id.
[[nodiscard]] std::string make_tenant_id();

/// Returns a fresh bearer token `wi_<tenant id>_<secret>` for `tenant_id`.
/// The tenant id is readable in the token so that any node can route the
/// request to the tenant's owner, which then checks the hash of the whole
/// token.
[[nodiscard]] std::string make_tenant_token(std::string_view tenant_id);

/// Returns the tenant id inside a well-formed tenant token, or `nullopt` for
/// anything else. Says nothing about whether the token is valid.
[[nodiscard]] std::optional<std::string_view>
tenant_of_token(std::string_view token) noexcept;

/// Returns a fresh admin token `wia_<40 base62 characters>`.
[[nodiscard]] std::string make_admin_token();

/// Returns the current time in whole seconds since the Unix epoch.
[[nodiscard]] unix_seconds now_seconds() noexcept;

} // namespace wi::crypto
