#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

/// Standard Webhooks signatures (`webhook-signature: v1,<base64>`). Every
/// function is thread-safe, pure and never blocks. `sign` and `verify` throw
/// `std::runtime_error` only if OpenSSL cannot provide HMAC-SHA256 at all.
namespace wi {

/// Prefix of secrets whose rest is the base64-encoded HMAC key.
inline constexpr std::string_view webhook_secret_prefix = "whsec_";

/// Returns the standard base64 encoding of `data`, with padding.
[[nodiscard]] std::string base64_encode(std::string_view data);

/// Decodes standard base64 (padding optional, no whitespace); `nullopt` for
/// anything else.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

/// Returns the HMAC key of `secret`: the base64-decoded rest of a secret that
/// starts with `whsec_`; the secret's own bytes when it has no such prefix
/// or the rest is not valid base64.
[[nodiscard]] std::string signing_key(std::string_view secret);

/// Returns the `webhook-signature` value for one message:
/// `v1,` + base64(HMAC-SHA256(signing_key(secret), "<id>.<timestamp>.<body>")).
/// `timestamp` is in seconds since the Unix epoch (the `webhook-timestamp`
/// header).
[[nodiscard]] std::string sign(std::string_view secret, std::string_view msg_id,
                               int64_t timestamp, std::string_view body);

/// Checks a received `webhook-signature` header: true if any of its
/// space-separated `v1,<base64>` entries matches `sign(...)` (compared in
/// constant time). Entries of other versions are ignored. Does not check the
/// timestamp's age; receivers should also reject stale timestamps.
[[nodiscard]] bool verify(std::string_view secret, std::string_view msg_id,
                          int64_t timestamp, std::string_view body,
                          std::string_view signature_header);

} // namespace wi
