// Baseline for bench/restart_bench.sh and bench/wal_bound.sh: the cheapest
// way to read what webhook-ingress recovers from. Opens a data directory
// read-only with every column family and iterates `wal` and `snapshot` from
// first to last key, touching every byte of every key and value (a checksum
// the compiler cannot drop), without decoding anything. The ratio "server
// restart-to-ready / raw scan" measured in one run on the same directory is
// the cost recovery adds on top of reading the bytes.
//
// Usage: bench_raw_scan DIR
// Prints one line per column family and a total, e.g.
//   wal records=1001000 bytes=98765432 seconds=0.812
//   snapshot records=0 bytes=0 seconds=0.000
//   total records=1001000 bytes=98765432 open_seconds=0.120 seconds=0.932
// (bytes: keys plus values; seconds of the total include opening the DB).
// Exits 1 with a message on stderr if the directory cannot be read.
// Safe on a directory a server holds open: read-only opens take no lock,
// but then the figures only describe what was on disk at open.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/status.h>

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

/// Records, bytes and a checksum of one column family.
struct scan_result {
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t checksum = 0;
  double seconds = 0;
};

/// FNV-1a over `x`, folded into `h`: cheap, but reads every byte.
uint64_t touch(uint64_t h, const rocksdb::Slice& x) {
  for (size_t i = 0; i < x.size(); ++i) {
    h ^= static_cast<uint8_t>(x[i]);
    h *= 1099511628211u;
  }
  return h;
}

bool scan(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, scan_result& out) {
  auto start = clock_type::now();
  std::unique_ptr<rocksdb::Iterator> it{
    db.NewIterator(rocksdb::ReadOptions{}, cf)};
  uint64_t h = 14695981039346656037u;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto key = it->key();
    auto value = it->value();
    h = touch(touch(h, key), value);
    ++out.records;
    out.bytes += key.size() + value.size();
  }
  out.checksum = h;
  out.seconds = seconds_since(start);
  if (!it->status().ok()) {
    std::fprintf(stderr, "bench_raw_scan: iterating %s: %s\n",
                 cf->GetName().c_str(), it->status().ToString().c_str());
    return false;
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string_view{argv[1]} == "--help") {
    std::fprintf(stderr, "usage: bench_raw_scan DIR\n");
    return argc == 2 ? 0 : 1;
  }
  const std::string dir = argv[1];
  auto start = clock_type::now();
  rocksdb::DBOptions db_opts;
  std::vector<std::string> names;
  if (auto st = rocksdb::DB::ListColumnFamilies(db_opts, dir, &names);
      !st.ok()) {
    std::fprintf(stderr, "bench_raw_scan: %s: %s\n", dir.c_str(),
                 st.ToString().c_str());
    return 1;
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : names)
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions{});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (auto st =
        rocksdb::DB::OpenForReadOnly(db_opts, dir, descriptors, &handles, &raw);
      !st.ok()) {
    std::fprintf(stderr, "bench_raw_scan: opening %s: %s\n", dir.c_str(),
                 st.ToString().c_str());
    return 1;
  }
  std::unique_ptr<rocksdb::DB> db{raw};
  auto open_seconds = seconds_since(start);

  scan_result total;
  uint64_t checksum = 0;
  bool ok = true;
  for (std::string_view want : {"wal", "snapshot"}) {
    rocksdb::ColumnFamilyHandle* cf = nullptr;
    for (auto* h : handles)
      if (h->GetName() == want)
        cf = h;
    if (cf == nullptr) {
      std::fprintf(stderr, "bench_raw_scan: %s has no column family '%.*s'\n",
                   dir.c_str(), static_cast<int>(want.size()), want.data());
      ok = false;
      break;
    }
    scan_result r;
    if (!scan(*db, cf, r)) {
      ok = false;
      break;
    }
    std::printf("%.*s records=%llu bytes=%llu seconds=%.3f\n",
                static_cast<int>(want.size()), want.data(),
                static_cast<unsigned long long>(r.records),
                static_cast<unsigned long long>(r.bytes), r.seconds);
    total.records += r.records;
    total.bytes += r.bytes;
    checksum ^= r.checksum;
  }
  for (auto* h : handles)
    static_cast<void>(db->DestroyColumnFamilyHandle(h));
  db.reset();
  if (!ok)
    return 1;
  std::printf("total records=%llu bytes=%llu open_seconds=%.3f seconds=%.3f "
              "checksum=%016llx\n",
              static_cast<unsigned long long>(total.records),
              static_cast<unsigned long long>(total.bytes), open_seconds,
              seconds_since(start), static_cast<unsigned long long>(checksum));
  return 0;
}
