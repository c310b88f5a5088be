#pragma once

// The old owner's side of a planned move of one tenant, as a pure state
// machine: `step(machine, event, now)` changes the machine and returns the
// effects the driver (actors/cluster/mover.hpp) runs. No I/O, no clock of its
// own, no threads: the driver feeds it the outcome of each effect.
//
// The protocol (docs/cluster.md, "Moves"):
//   read the placement key (value + mod_revision; this node must own it)
//   -> freeze -> ship (export, epoch, mod_revision) to the new owner, which
//   imports durably and itself commits the owner change in etcd, guarded by
//   that mod_revision -> its answer "committed": release; anything else (a
//   refusal, a failed send, no answer in time): resolve through etcd. Read
//   the key: owner == new node -> committed (release); unchanged -> an abort
//   transaction (owner = this node, epoch + 1, guarded by the same
//   mod_revision) so that a late commit by the new node can never land;
//   whichever transaction landed decides. After an abort: thaw, and tell the
//   new node to discard its copy. While etcd cannot be reached the tenant
//   stays frozen and the resolution is retried: a move never guesses.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <caf/error.hpp>

#include "webhook_ingress/cluster.hpp"

namespace wi::cluster {

/// A placement key as read from etcd: its value and its `mod_revision` (the
/// guard of the transaction that changes it).
struct placement_record {
  placement value;
  int64_t mod_revision = 0;
};

/// Settings of the machine.
struct move_timing {
  /// Longest wait for the new owner's answer to the offer (import +
  /// commit) before the outcome is resolved through etcd. Default 10 s.
  std::chrono::milliseconds answer_timeout{10'000};
  /// Pause before a failed etcd call is tried again. Default 500 ms.
  std::chrono::milliseconds etcd_retry{500};
};

// -- events: what happened ---------------------------------------------------

namespace move_events {

/// The placement key as read at the start (nothing: the key is missing).
struct placement_read {
  std::optional<placement_record> key;
};
/// An etcd call the machine asked for failed (unreachable, timeout).
struct etcd_failed {
  caf::error reason;
};
/// The tenant is frozen and exported (`bytes` of state).
struct frozen {
  uint64_t bytes = 0;
};
struct freeze_failed {
  caf::error reason;
};
/// The new owner's answer to the offer: whether its commit took.
struct answered {
  bool committed = false;
  std::string reason;
};
/// The offer could not be sent or its answer was lost.
struct ship_failed {
  caf::error reason;
};
/// The answer timer armed with the offer expired.
struct timed_out {};
/// The placement key as read while resolving (nothing: missing).
struct resolved {
  std::optional<placement_record> key;
};
/// The abort transaction ran: whether its guard held.
struct abort_done {
  bool succeeded = false;
};
/// `release_to` finished.
struct released {
  caf::error err;
};
/// `thaw` finished.
struct thawed {
  caf::error err;
};
/// A retry pause ended.
struct retry_due {};

} // namespace move_events

using move_event = std::variant<
  move_events::placement_read, move_events::etcd_failed, move_events::frozen,
  move_events::freeze_failed, move_events::answered, move_events::ship_failed,
  move_events::timed_out, move_events::resolved, move_events::abort_done,
  move_events::released, move_events::thawed, move_events::retry_due>;

// -- effects: what the driver does next
// ----------------------------------------

namespace move_effects {

/// Read the placement key (value + mod_revision) from etcd.
struct read_placement {};
/// `local_tenants::freeze`.
struct freeze {};
/// Send the export to the new owner with these guard values, and arm the
/// answer timer.
struct ship {
  uint64_t epoch = 0;
  int64_t mod_revision = 0;
  std::chrono::milliseconds timeout{0};
};
/// Record in this node's placement cache that `owner` owns the tenant at
/// `epoch` (without waiting for the watch).
struct note_placement {
  placement value;
};
/// `local_tenants::release_to(tenant, to)`.
struct release {};
/// The abort transaction: owner = this node, `epoch`, guarded by
/// `mod_revision`.
struct abort_txn {
  int64_t mod_revision = 0;
  uint64_t epoch = 0;
};
/// `local_tenants::thaw`.
struct thaw {};
/// Tell the new owner to discard its copy (best effort, no answer needed).
struct tell_discard {
  uint64_t epoch = 0;
};
/// Feed `retry_due` after `delay`.
struct retry_after {
  std::chrono::milliseconds delay{0};
};
/// The move is over: `err` is empty on success (the new owner serves), else
/// why it aborted (this node serves on) or why it was given up.
struct finish {
  caf::error err;
};

} // namespace move_effects

using move_effect =
  std::variant<move_effects::read_placement, move_effects::freeze,
               move_effects::ship, move_effects::note_placement,
               move_effects::release, move_effects::abort_txn,
               move_effects::thaw, move_effects::tell_discard,
               move_effects::retry_after, move_effects::finish>;

/// What the machine waits for; with `move_state` it says which events
/// count (any other event is stale and ignored).
enum class move_wait {
  placement,
  freeze,
  answer,
  resolve,
  abort_txn,
  release,
  thaw,
  retry,
  nothing,
};

/// One move on the old owner.
struct move_machine {
  std::string tenant;
  /// This node.
  std::string from;
  /// The new owner.
  std::string to;
  move_timing timing;
  move_state state = move_state::freezing;
  move_wait waiting = move_wait::placement;
  /// What the retry pause re-runs (`placement`, `resolve` or `abort_txn`).
  move_wait retrying = move_wait::nothing;
  /// The key as read at the start: the guard of both transactions.
  placement_record original;
  /// Bytes of state shipped.
  uint64_t bytes = 0;
  /// Why the move aborts, once known.
  caf::error abort_reason;
  std::chrono::steady_clock::time_point started{};
  std::chrono::steady_clock::time_point finished{};

  /// Whether the move is over (`done` or `aborted`).
  [[nodiscard]] bool over() const noexcept {
    return state == move_state::done || state == move_state::aborted;
  }
};

/// A new machine for moving `tenant` from `from` (this node) to `to`, and
/// its first effects (read the placement key).
[[nodiscard]] std::pair<move_machine, std::vector<move_effect>>
start_move(std::string tenant, std::string from, std::string to,
           move_timing timing, std::chrono::steady_clock::time_point now);

/// Applies `ev` to `m` and returns the effects to run, in order. Events the
/// machine does not wait for in its state (a late answer after a timeout, a
/// second timeout) change nothing and return no effect.
[[nodiscard]] std::vector<move_effect>
step(move_machine& m, const move_event& ev,
     std::chrono::steady_clock::time_point now);

// -- the new owner's decision
// ---------------------------------------------------

/// What the new owner does with its imported copy.
enum class incoming_verdict {
  /// The key names this node: activate and answer "committed".
  activate,
  /// The key names another node (or is gone): discard the copy and answer
  /// "not committed".
  discard,
};

/// The new owner's decision once its commit transaction failed (its guard
/// did not hold) or its outcome is unknown and the key could be read again:
/// only the key says whether this node became the owner (the same commit
/// may have landed before an answer was lost).
[[nodiscard]] incoming_verdict
decide_incoming(const std::string& self,
                const std::optional<placement_record>& key) noexcept;

} // namespace wi::cluster
