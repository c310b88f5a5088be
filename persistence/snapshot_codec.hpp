#pragma once

#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "webhook_ingress/state.hpp"

namespace wi::persistence {

/// Encodes a tenant's whole state for the `snapshot` column family: a format
/// version byte, a kind byte, then the fields in the WAL's binary primitives
/// (`persistence/binary_format.hpp`).
[[nodiscard]] std::string encode_snapshot(const tenant_state& x);

/// Encodes the tenant registry for the `snapshot` column family.
[[nodiscard]] std::string encode_snapshot(const directory_state& x);

/// Decodes what `encode_snapshot(tenant_state)` produced; anything else
/// (truncated, trailing bytes, wrong kind or version, endpoints out of
/// identifier order) yields `errc::corrupt_data`.
[[nodiscard]] caf::expected<tenant_state>
decode_tenant_snapshot(std::string_view bytes);

/// What `check_tenant_snapshot` learned about a tenant snapshot.
struct tenant_snapshot_summary {
  std::string tenant_id;
  /// Pending deliveries over all endpoints (`tenant_state::pending`).
  uint64_t pending = 0;
};

/// Checks the format of a tenant snapshot as `decode_tenant_snapshot` does
/// (same code, same errors) without building the state: each element is
/// decoded into a scratch value and dropped. Cheaper than decoding, but does
/// not detect duplicate event ids, which only `decode_tenant_snapshot`
/// rejects.
[[nodiscard]] caf::expected<tenant_snapshot_summary>
check_tenant_snapshot(std::string_view bytes);

/// Encodes one registry entry (its epoch included): what a planned move
/// carries as `tenant_export::registry`.
[[nodiscard]] std::string encode_entry(const tenant_entry& x);

/// Decodes what `encode_entry` produced; anything else is
/// `errc::corrupt_data`.
[[nodiscard]] caf::expected<tenant_entry> decode_entry(std::string_view bytes);

/// Decodes what `encode_snapshot(directory_state)` produced.
[[nodiscard]] caf::expected<directory_state>
decode_directory_snapshot(std::string_view bytes);

} // namespace wi::persistence
