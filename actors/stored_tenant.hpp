#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "webhook_ingress/state.hpp"

namespace wi {

/// A recovered tenant still in its stored form: the bytes of its snapshot
/// and of its WAL records past it, as recovery read (and format-checked)
/// them. Restart-to-ready reads these bytes but builds no endpoint maps;
/// the tenant is decoded (`materialise`) when its actor starts. Owned by
/// recovery, then by the directory, then handed to the tenant's actor.
struct stored_tenant {
  /// The bytes of its snapshot; empty when it has none (its state starts
  /// empty).
  std::string snapshot;
  /// Its WAL records past the snapshot in ascending sequence order, each as
  /// a u32 little-endian length followed by the record's bytes. Their
  /// sequence numbers are the owner's `owner_log::uncovered`.
  std::string records;
  /// Whether the tenant may have pending deliveries: its snapshot has some,
  /// or a delivery record follows it. Such tenants are started at once so
  /// their deliveries resume; a false positive only starts one early.
  bool may_have_pending = false;

  friend bool operator==(const stored_tenant&, const stored_tenant&) = default;
};

/// Appends the bytes of one WAL record (the next in sequence order) to `x`.
void add_record(stored_tenant& x, std::string_view bytes);

/// Decodes the state of tenant `tenant_id`: its snapshot (else an empty
/// state), then each stored record applied with `apply(tenant_state&,
/// record&&)`, the function live mutation uses. `seqs` are the records'
/// sequence numbers (for error messages), one per record. Fails with
/// `errc::corrupt_data` naming the snapshot or the WAL record that does not
/// decode or apply. Costs about what replaying the records did before
/// recovery became lazy (about 1-2 ms per 1000 endpoints).
[[nodiscard]] caf::expected<tenant_state>
materialise(const std::string& tenant_id, const stored_tenant& x,
            std::span<const uint64_t> seqs);

} // namespace wi
