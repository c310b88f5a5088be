#include "actors/tenant/tenant_commit.hpp"

#include <spdlog/spdlog.h>

#include "actors/common/metrics.hpp"
#include "actors/common/text.hpp"
#include "persistence/snapshot_codec.hpp"
#include "webhook_ingress/error.hpp"

namespace wi::tenant_shell {

const clock& clock_of(self_ptr self) {
  const auto& d = self->state.delivery;
  return *(d && d->clock ? d->clock : wall_clock());
}

unix_millis now_millis(self_ptr self) {
  return clock_of(self).now();
}

caf::delegated<uint64_t> delegate_snapshot(self_ptr self) {
  auto& st = self->state;
  st.log.snapshot_sent();
  return self->delegate(st.wal, snapshot_atom::value, st.data.tenant_id,
                        st.log.last_seq, persistence::encode_snapshot(st.data));
}

void start_snapshot(self_ptr self) {
  auto& st = self->state;
  st.log.snapshot_sent();
  self
    ->request(st.wal, caf::infinite, snapshot_atom::value, st.data.tenant_id,
              st.log.last_seq, persistence::encode_snapshot(st.data))
    .then([](uint64_t) {}, [](caf::error&) {});
}

caf::error apply_durable(self_ptr self, const record& rec, uint64_t seq) {
  auto& st = self->state;
  std::optional<endpoint_status> before;
  if (auto id = status_endpoint_of(rec)) {
    if (auto i = st.data.endpoints.find(*id); i != st.data.endpoints.end())
      before = i->second.status;
  }
  auto pending_before = static_cast<int64_t>(st.data.pending);
  st.history.before(st.data, rec);
  if (auto err = wi::apply(st.data, rec)) {
    st.history.rebuild(st.data); // `before` may have dropped an entry
    return make_error(errc::internal,
                      "durable record did not apply: " + text_of(err));
  }
  st.history.after(st.data, rec);
  node_metrics().on_applied(rec, st.data, before,
                            static_cast<int64_t>(st.data.pending) -
                              pending_before);
  if (st.log.applied(seq))
    start_snapshot(self);
  return {};
}

void log_request(self_ptr self, std::string_view kind,
                 const std::string& request_id, const caf::error* err) {
  const auto& tenant = self->state.data.tenant_id;
  if (err == nullptr)
    spdlog::debug("applied record={} tenant={} seq={} request_id=\"{}\"", kind,
                  tenant, self->state.log.last_seq, request_id);
  else
    spdlog::warn("not applied record={} tenant={} error=\"{}\" "
                 "request_id=\"{}\"",
                 kind, tenant, text_of(*err), request_id);
}

void commit_batched(self_ptr self, record rec, std::function<void()> on_applied,
                    std::function<void(caf::error)> on_error) {
  auto& st = self->state;
  if (st.batch.empty())
    self->send(self, flush_atom::value);
  st.batch.push_back(
    {std::move(rec), std::move(on_applied), std::move(on_error)});
}

frozen_tenant frozen_state(self_ptr self) {
  const auto& st = self->state;
  return frozen_tenant{st.data, st.log.last_seq, st.log.uncovered};
}

void settle_freeze(self_ptr self) {
  auto& st = self->state;
  if (st.freezing && st.commits_under_way == 0 && st.batch.empty()) {
    st.freezing->deliver(frozen_state(self));
    st.freezing.reset();
  }
}

void flush_batch(self_ptr self) {
  auto& st = self->state;
  if (st.batch.empty())
    return;
  auto batch = std::make_shared<std::vector<batched_record>>();
  batch->swap(st.batch);
  wal_append req;
  req.owner = st.data.tenant_id;
  req.records.reserve(batch->size());
  for (const auto& x : *batch)
    req.records.push_back(persistence::encode(x.rec));
  tenant_commit(
    self, std::move(req),
    [self, batch](uint64_t first) {
      for (auto& x : *batch) {
        if (auto err = apply_durable(self, x.rec, first++))
          x.on_error(std::move(err));
        else
          x.on_applied();
      }
    },
    [batch](caf::error err) {
      for (auto& x : *batch)
        x.on_error(err);
    });
}

} // namespace wi::tenant_shell
