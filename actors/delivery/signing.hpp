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

/// Decodes the base64 rest of a `whsec_` secret (the part after the prefix)
/// the way the Standard Webhooks reference libraries do (JavaScript
/// `standardwebhooks`, which `svix` uses; Python; Java; Go), or returns
/// nullopt where one of them would fail or read a different key. Accepted:
/// characters of the standard alphabet (`A-Z a-z 0-9 + /`), then either no
/// padding or exactly the `=` that complete the last group of 4; at least
/// 4 characters in all; not 1 more than a multiple of 4 characters before
/// the padding. Bits left over in the last character are ignored, as those
/// libraries ignore them (`AR==` reads as `AQ==`). Refused: the URL-safe
/// alphabet (`-`, `_`), whitespace, other characters, misplaced or excess
/// `=`, and an empty key.
[[nodiscard]] std::optional<std::string>
decode_webhook_secret(std::string_view rest);

/// Returns the HMAC key of `secret`: `decode_webhook_secret` of the rest of
/// a secret that starts with `whsec_`; the secret's own bytes when it has no
/// such prefix, or (only for endpoints created before the rule was enforced
/// at creation) when the rest does not decode.
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
