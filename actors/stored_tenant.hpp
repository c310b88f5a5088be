#pragma once

#include <cstdint>
#include <functional>
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
  /// its u64 sequence number and a u32 length (little-endian) followed by
  /// the record's bytes (`add_record`, `for_each_record`).
  std::string records;
  /// Whether the tenant may have pending deliveries: its snapshot has some,
  /// or a delivery record follows it. Such tenants are started at once so
  /// their deliveries resume; a false positive only starts one early.
  bool may_have_pending = false;

  friend bool operator==(const stored_tenant&, const stored_tenant&) = default;
};

/// Bytes that `add_record` stores besides the record's own.
inline constexpr size_t stored_record_head = 12; // u64 sequence, u32 length

/// Appends WAL record `seq` (the next in sequence order) to `x`.
void add_record(stored_tenant& x, uint64_t seq, std::string_view bytes);

/// Calls `f(seq, bytes)` for every record of `x` in order; stops at and
/// returns the first error `f` returns.
[[nodiscard]] caf::error
for_each_record(const stored_tenant& x,
                const std::function<caf::error(uint64_t, std::string_view)>& f);

/// Decodes the state of tenant `tenant_id`: its snapshot (else an empty
/// state), then each stored record applied with `apply(tenant_state&,
/// record&&)`, the function live mutation uses. Fails with
/// `errc::corrupt_data` naming the snapshot or the WAL record that does not
/// decode or apply. Costs what replaying the records cost before recovery
/// became lazy (see "first request of a stored tenant" in
/// docs/benchmarks.md).
[[nodiscard]] caf::expected<tenant_state>
materialise(const std::string& tenant_id, const stored_tenant& x);

} // namespace wi
