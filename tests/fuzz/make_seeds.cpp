// Writes the binary seed inputs of tests/fuzz/corpus: one encoded WAL record
// of every kind (corpus/record_codec) and a tenant and a directory snapshot
// (corpus/snapshot_codec). Run after a format change:
//   build-fuzz/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "persistence/record_codec.hpp"
#include "persistence/snapshot_codec.hpp"

using namespace wi;

namespace {

void write(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << bytes;
}

endpoint sample_endpoint(endpoint_id id) {
  return endpoint{id,
                  "https://example.com/hooks/" + std::to_string(id),
                  "whsec_0123456789",
                  {"order.created", "*"},
                  {{"X-Team", "payments"}},
                  endpoint_status::active,
                  1704067200,
                  1704067260};
}

/// An endpoint with the fields of issue 17 set.
endpoint described_endpoint(endpoint_id id) {
  auto ep = sample_endpoint(id);
  ep.description = "billing team";
  ep.previous_secret = "older-secret";
  ep.previous_expires_at = 1704153600000;
  return ep;
}

tenant_state sample_tenant();

tenant_entry imported_entry(const std::string& hash) {
  tenant_entry x;
  x.id = "tA";
  x.name = "acme";
  x.token_hash = hash;
  x.created_at = 1704067200;
  return x;
}

std::vector<record> records() {
  auto hash = std::string(32, 'h');
  return {
    tenant_created{"tA", "acme", hash, 1704067200},
    endpoint_created{"tA", sample_endpoint(1)},
    endpoint_status_changed{"tA", 1, endpoint_status::disabled, 1704067300},
    event_accepted{
      "tA", "evt_1", "order.created", "key-1", 1704067200123, {1, 2}},
    attempt_recorded{"tA",
                     1,
                     {"evt_1", 1, 1704067200500, 503, 120, "", "busy"},
                     delivery_status::pending,
                     1704067205000,
                     ""},
    delivery_rescheduled{"tA", "evt_1", 1, 1704067300000},
    breaker_changed{"tA", 1, endpoint_status::disabled, "consecutive_failures",
                    1704067300000, 1704067360000, 60000},
    delivery_expired{"tA", "evt_1", 1, 1704671999000},
    token_issued{"tA", hash, 1704067400, 1704153800},
    tenant_deactivated{"tA", 1704067500}, tenant_purged{"tA", 1704067600},
    history_pruned{"tA", 1704067700000, {"evt_1", "evt_2"}},
    tenant_imported{"tA", imported_entry(hash), 3},
    tenant_state_imported{"tA", persistence::encode_snapshot(sample_tenant())},
    tenant_moved_out{"tA", 1704067800},
    // Endpoint lifecycle (issue 17): tags 18-21.
    endpoint_created{"tA", described_endpoint(2)},
    endpoint_updated{
      "tA", 2, 1704067800,
      endpoint_patch{"https://example.com/v2", std::vector<std::string>{"a.b"},
                     header_list{{"X-V", "2"}}, std::string{"billing"},
                     std::nullopt, std::nullopt}},
    endpoint_deleted{"tA", 2, 1704067900},
    endpoint_secret_rotated{
      "tA", 1, "whsec_AAAAAAAAAAAAAAAAAAAAAQ==", 1704068000000, 1704154400000}};
}

tenant_state sample_tenant() {
  auto st = empty_tenant("tA");
  st.last_id = 3;
  st.endpoints.emplace(1, sample_endpoint(1));
  st.endpoints.emplace(3, described_endpoint(3));
  event_state ev{"evt_1", "order.created", "key-1", 1704067200123, {}};
  ev.deliveries.push_back({1, delivery_status::pending, 1, 1704067205000, ""});
  ev.deliveries.push_back({3, delivery_status::failed, 7, 0, "exhausted"});
  st.events.emplace(ev.id, ev);
  st.idempotency.emplace("key-1", "evt_1");
  endpoint_activity a;
  a.total = 8;
  a.successful = 1;
  a.failed = 7;
  a.latency_sum_ms = 99;
  a.pending = 1;
  a.latency_buckets = {0, 3, 5};
  a.recent.push_back({"evt_1", 1, 1704067200500, 503, 12, "", "busy"});
  st.activity.emplace(1, a);
  st.pending = 1;
  return st;
}

directory_state sample_directory() {
  directory_state st;
  tenant_entry a;
  a.id = "tA";
  a.name = "acme";
  a.token_hash = std::string(32, 'h');
  a.created_at = 1704067200;
  a.previous_token_hash = std::string(32, 'p');
  a.previous_valid_until = 1704153600;
  st.tenants.emplace(a.id, a);
  tenant_entry b;
  b.id = "tB";
  b.created_at = 1704067200;
  b.active = false;
  b.deactivated_at = 1704067300;
  b.purged = true;
  st.tenants.emplace(b.id, b);
  return st;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds CORPUS_DIR\n");
    return 2;
  }
  std::filesystem::path dir{argv[1]};
  auto all = records();
  for (size_t i = 0; i < all.size(); ++i)
    write(dir / "record_codec" / ("seed-" + std::to_string(i)),
          persistence::encode(all[i]));
  write(dir / "snapshot_codec" / "seed-tenant",
        persistence::encode_snapshot(sample_tenant()));
  write(dir / "snapshot_codec" / "seed-empty-tenant",
        persistence::encode_snapshot(empty_tenant("tZ")));
  write(dir / "snapshot_codec" / "seed-directory",
        persistence::encode_snapshot(sample_directory()));
  return 0;
}
