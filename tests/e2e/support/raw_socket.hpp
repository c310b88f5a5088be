#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace wi_e2e {

/// Connects to 127.0.0.1:`port`, sends `bytes`, optionally half-closes, and
/// reads until the peer closes or `timeout` passes. Returns what was read
/// (possibly empty). For feeding the server malformed HTTP.
std::string
raw_exchange(uint16_t port, std::string_view bytes,
             std::chrono::milliseconds timeout = std::chrono::seconds{3},
             bool shutdown_write = false);

/// Connects, sends `bytes` and closes at once without reading.
void raw_send_and_close(uint16_t port, std::string_view bytes);

} // namespace wi_e2e
