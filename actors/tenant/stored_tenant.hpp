#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "webhook_ingress/state.hpp"

namespace wi {

/// A recovered tenant still in its stored form: the bytes of its snapshot,
/// as recovery read (and format-checked) them, and, once read back, the
/// bytes of its WAL records past the snapshot. Restart-to-ready reads and
/// checks every record but keeps only its sequence number (in the tenant's
/// `owner_log::uncovered`) and builds no endpoint maps; the tenant's actor
/// reads its records back and decodes everything (`materialise`) when it
/// starts. Owned by recovery, then by the directory, then handed to the
/// tenant's actor.
struct stored_tenant {
  /// The bytes of its snapshot; empty when it has none (its state starts
  /// empty).
  std::string snapshot;
  /// Its WAL records past the snapshot, in the order of its
  /// `owner_log::uncovered`, packed (`persistence::pack_record`), once read
  /// back (the directory's warm-up reads many tenants' records in one
  /// pass); empty until then.
  std::string records;
  /// Whether the tenant may have pending deliveries: its snapshot has some,
  /// or a delivery record follows it. Such tenants are started at once so
  /// their deliveries resume; a false positive only starts one early.
  bool may_have_pending = false;

  friend bool operator==(const stored_tenant&, const stored_tenant&) = default;
};

/// Whether `x`, whose WAL records past its snapshot are `seqs`, still
/// needs them read back before `materialise`.
[[nodiscard]] inline bool needs_records(const stored_tenant& x,
                                        const std::vector<uint64_t>& seqs) {
  return x.records.empty() && !seqs.empty();
}

/// Decodes the state of tenant `tenant_id`: its snapshot (else an empty
/// state), then its WAL records `x.records`, whose sequence numbers are
/// `seqs` (one per record), each applied with `apply(tenant_state&,
/// record&&)`, the function live mutation uses. Fails with
/// `errc::corrupt_data` naming the snapshot or the WAL record that does not
/// decode or apply, and with `errc::internal` if `x.records` does not hold
/// one packed record per sequence number. Costs what
/// replaying the records cost before recovery became lazy (see "first
/// request of a stored tenant" in docs/benchmarks.md).
[[nodiscard]] caf::expected<tenant_state>
materialise(const std::string& tenant_id, const stored_tenant& x,
            const std::vector<uint64_t>& seqs);

} // namespace wi
