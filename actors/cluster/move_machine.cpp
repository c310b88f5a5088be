#include "actors/cluster/move_machine.hpp"

#include <utility>

#include "webhook_ingress/error.hpp"

namespace wi::cluster {

namespace {

using effects = std::vector<move_effect>;
using clock_point = std::chrono::steady_clock::time_point;

template <class... Fs>
struct overload : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overload(Fs...) -> overload<Fs...>;

caf::error move_error(std::string text) {
  return make_error(errc::validation_failed, "to", std::move(text));
}

effects end(move_machine& m, move_state final_state, caf::error err,
            clock_point now) {
  m.state = final_state;
  m.waiting = move_wait::nothing;
  m.retrying = move_wait::nothing;
  m.finished = now;
  return {move_effects::finish{std::move(err)}};
}

/// Nothing is frozen yet: the move ends without touching the tenant.
effects refuse(move_machine& m, std::string why, clock_point now) {
  return end(m, move_state::aborted, move_error(std::move(why)), now);
}

/// The outcome is not known: read the key.
effects resolve(move_machine& m) {
  m.state = move_state::committing;
  m.waiting = move_wait::resolve;
  return {move_effects::read_placement{}};
}

/// The new owner owns the tenant: release the local copy to it.
effects committed(move_machine& m) {
  m.state = move_state::releasing;
  m.waiting = move_wait::release;
  return {move_effects::note_placement{{m.to, m.original.value.epoch + 1}},
          move_effects::release{}};
}

/// This node owns the tenant again, at `epoch`: thaw it and tell the new
/// node to drop its copy.
effects aborted(move_machine& m, uint64_t epoch) {
  m.state = move_state::committing;
  m.waiting = move_wait::thaw;
  if (!m.abort_reason)
    m.abort_reason =
      make_error(errc::tenant_unavailable,
                 "the move of " + m.tenant + " to " + m.to + " did not commit");
  // Thaw last: its continuation may end the move at once.
  return {move_effects::note_placement{{m.from, epoch}},
          move_effects::tell_discard{epoch}, move_effects::thaw{}};
}

effects retry(move_machine& m, move_wait what) {
  m.waiting = move_wait::retry;
  m.retrying = what;
  return {move_effects::retry_after{m.timing.etcd_retry}};
}

} // namespace

std::pair<move_machine, std::vector<move_effect>>
start_move(std::string tenant, std::string from, std::string to,
           move_timing timing, clock_point now) {
  move_machine m;
  m.tenant = std::move(tenant);
  m.from = std::move(from);
  m.to = std::move(to);
  m.timing = timing;
  m.started = now;
  m.state = move_state::freezing;
  m.waiting = move_wait::placement;
  return {std::move(m), {move_effects::read_placement{}}};
}

std::vector<move_effect> step(move_machine& m, const move_event& ev,
                              clock_point now) {
  using namespace move_events;
  auto waits = [&m](move_wait w) { return m.waiting == w; };
  return std::visit(
    overload{
      [&](const placement_read& e) -> effects {
        if (!waits(move_wait::placement))
          return {};
        if (!e.key)
          return refuse(m, "tenant " + m.tenant + " has no placement key", now);
        if (e.key->value.owner != m.from)
          return refuse(m,
                        "tenant " + m.tenant + " is owned by " +
                          e.key->value.owner + ", not by this node (" + m.from +
                          ")",
                        now);
        m.original = *e.key;
        m.waiting = move_wait::freeze;
        return {move_effects::freeze{}};
      },
      [&](const etcd_failed& e) -> effects {
        switch (m.waiting) {
        case move_wait::placement: // nothing frozen: refuse the move
          return end(
            m, move_state::aborted,
            make_error(errc::storage_unavailable, "etcd",
                       "etcd unreachable, moves refused: " + text_of(e.reason)),
            now);
        case move_wait::resolve:
        case move_wait::abort_txn:
          // An abort transaction whose answer was lost may have landed:
          // read the key again rather than send it again.
          return retry(m, move_wait::resolve);
        default:
          return {};
        }
      },
      [&](const retry_due&) -> effects {
        if (!waits(move_wait::retry))
          return {};
        m.retrying = move_wait::nothing;
        return resolve(m);
      },
      [&](const frozen& e) -> effects {
        if (!waits(move_wait::freeze))
          return {};
        m.bytes = e.bytes;
        m.state = move_state::shipping;
        m.waiting = move_wait::answer;
        return {move_effects::ship{m.original.value.epoch,
                                   m.original.mod_revision,
                                   m.timing.answer_timeout}};
      },
      [&](const freeze_failed& e) -> effects {
        if (!waits(move_wait::freeze))
          return {};
        return end(m, move_state::aborted, e.reason, now);
      },
      [&](const answered& e) -> effects {
        if (!waits(move_wait::answer))
          return {};
        if (e.committed)
          return committed(m);
        m.abort_reason = make_error(errc::tenant_unavailable,
                                    "the new owner " + m.to +
                                      " did not take the tenant: " + e.reason);
        return resolve(m);
      },
      [&](const ship_failed& e) -> effects {
        if (!waits(move_wait::answer))
          return {};
        m.abort_reason = e.reason;
        return resolve(m);
      },
      [&](const timed_out&) -> effects {
        if (!waits(move_wait::answer))
          return {};
        m.abort_reason =
          make_error(errc::tenant_unavailable,
                     "the new owner " + m.to + " did not answer within " +
                       std::to_string(m.timing.answer_timeout.count()) + " ms");
        return resolve(m);
      },
      [&](const resolved& e) -> effects {
        if (!waits(move_wait::resolve))
          return {};
        if (e.key && e.key->value.owner == m.to)
          return committed(m);
        if (e.key && e.key->value.owner == m.from) {
          if (e.key->mod_revision == m.original.mod_revision) {
            // Nothing landed yet: fence the new node's commit out.
            m.waiting = move_wait::abort_txn;
            return {move_effects::abort_txn{m.original.mod_revision,
                                            m.original.value.epoch + 1}};
          }
          return aborted(m, e.key->value.epoch); // our abort landed
        }
        // Missing, or a third node: this node owns nothing any more and
        // must not serve; the copy stays frozen until a restart discards
        // it. Never seen without an operator editing etcd.
        return end(
          m, move_state::aborted,
          make_error(errc::internal, "placement",
                     "placement of " + m.tenant + " changed to " +
                       (e.key ? e.key->value.owner : std::string{"nothing"}) +
                       " during its move; the copy here stays "
                       "frozen"),
          now);
      },
      [&](const abort_done& e) -> effects {
        if (!waits(move_wait::abort_txn))
          return {};
        if (e.succeeded)
          return aborted(m, m.original.value.epoch + 1);
        return resolve(m); // the new node's commit landed first
      },
      [&](const released&) -> effects {
        if (!waits(move_wait::release))
          return {};
        // The new owner serves whatever happened to the local copy (a
        // copy left behind is discarded at the next start).
        return end(m, move_state::done, {}, now);
      },
      [&](const thawed&) -> effects {
        if (!waits(move_wait::thaw))
          return {};
        auto reason = m.abort_reason;
        return end(m, move_state::aborted, std::move(reason), now);
      },
    },
    ev);
}

incoming_verdict
decide_incoming(const std::string& self,
                const std::optional<placement_record>& key) noexcept {
  return key && key->value.owner == self ? incoming_verdict::activate
                                         : incoming_verdict::discard;
}

} // namespace wi::cluster
