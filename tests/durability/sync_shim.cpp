// An LD_PRELOAD shim for tests/durability: it watches the WAL files of one
// data directory and the HTTP answers of the process, and logs, for every
// answer, how many bytes written to a WAL file were not yet synced when the
// answer went out. A service that acknowledges only synced writes logs 0 on
// every answer; with RocksDB's `WriteOptions::sync = false` the bytes of
// the acknowledged batch are still unsynced when its answer is sent.
//
// Environment: WI_SHIM_DIR (the data directory; WAL files are its `*.log`
// files) and WI_SHIM_LOG (the file the lines are appended to):
//   W <fd> <bytes>            write of <bytes> to a WAL file
//   S <fd> <synced bytes>     fsync/fdatasync of a WAL file
//   R <status> <dirty bytes>  an HTTP answer, and the unsynced WAL bytes then
// Written in C style on purpose: it runs inside every I/O call of the server,
// before and after static constructors, and must not allocate.

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int max_fds = 65536;

// Unsynced bytes per WAL descriptor, plus bytes of WAL descriptors closed
// unsynced (never durable from then on).
uint64_t dirty[max_fds];
uint64_t orphaned = 0;
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

using write_fn = ssize_t (*)(int, const void*, size_t);
using pwrite_fn = ssize_t (*)(int, const void*, size_t, off_t);
using writev_fn = ssize_t (*)(int, const struct iovec*, int);
using pwritev_fn = ssize_t (*)(int, const struct iovec*, int, off_t);
using sync_fn = int (*)(int);
using close_fn = int (*)(int);
using send_fn = ssize_t (*)(int, const void*, size_t, int);
using sendto_fn = ssize_t (*)(int, const void*, size_t, int,
                              const struct sockaddr*, socklen_t);
using sendmsg_fn = ssize_t (*)(int, const struct msghdr*, int);

/// The log file, opened on first use (-1: logging off).
int log_fd() {
  static int fd = [] {
    const char* path = std::getenv("WI_SHIM_LOG");
    if (path == nullptr)
      return -1;
    return ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  }();
  return fd;
}

void log_line(const char* fmt, ...) {
  int fd = log_fd();
  if (fd < 0)
    return;
  char buf[128];
  va_list args;
  va_start(args, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  static auto w = real<write_fn>("write");
  if (n > 0)
    w(fd, buf, static_cast<size_t>(n)); // one O_APPEND write: atomic
}

/// Whether `fd` is a `*.log` file directly in WI_SHIM_DIR.
bool is_wal(int fd) {
  static const char* dir = std::getenv("WI_SHIM_DIR");
  if (dir == nullptr || fd < 0 || fd >= max_fds || fd == log_fd())
    return false;
  char link[64];
  char path[PATH_MAX];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  auto n = ::readlink(link, path, sizeof path - 1);
  if (n <= 0)
    return false;
  path[n] = '\0';
  auto dir_len = std::strlen(dir);
  return std::strncmp(path, dir, dir_len) == 0 && path[dir_len] == '/' &&
         std::strchr(path + dir_len + 1, '/') == nullptr && n > 4 &&
         std::strcmp(path + n - 4, ".log") == 0;
}

void wrote(int fd, ssize_t n) {
  if (n <= 0 || !is_wal(fd))
    return;
  pthread_mutex_lock(&lock);
  dirty[fd] += static_cast<uint64_t>(n);
  pthread_mutex_unlock(&lock);
  log_line("W %d %zd\n", fd, n);
}

void synced(int fd, int rc) {
  if (rc != 0 || !is_wal(fd))
    return;
  pthread_mutex_lock(&lock);
  auto n = dirty[fd];
  dirty[fd] = 0;
  pthread_mutex_unlock(&lock);
  log_line("S %d %llu\n", fd, static_cast<unsigned long long>(n));
}

/// Logs an answer if `data` starts an HTTP response on a socket.
void answering(int fd, const void* data, size_t size) {
  if (size < 12 || std::memcmp(data, "HTTP/1.", 7) != 0)
    return;
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
    return;
  const char* p = static_cast<const char*>(data);
  int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  pthread_mutex_lock(&lock);
  uint64_t total = orphaned;
  for (auto d : dirty)
    total += d;
  pthread_mutex_unlock(&lock);
  log_line("R %d %llu\n", status, static_cast<unsigned long long>(total));
}

} // namespace

extern "C" {

ssize_t write(int fd, const void* buf, size_t n) {
  static auto f = real<write_fn>("write");
  answering(fd, buf, n);
  auto rc = f(fd, buf, n);
  wrote(fd, rc);
  return rc;
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  static auto f = real<pwrite_fn>("pwrite");
  auto rc = f(fd, buf, n, off);
  wrote(fd, rc);
  return rc;
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  static auto f = real<pwrite_fn>("pwrite64");
  auto rc = f(fd, buf, n, off);
  wrote(fd, rc);
  return rc;
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  static auto f = real<writev_fn>("writev");
  if (count > 0)
    answering(fd, iov[0].iov_base, iov[0].iov_len);
  auto rc = f(fd, iov, count);
  wrote(fd, rc);
  return rc;
}

ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t off) {
  static auto f = real<pwritev_fn>("pwritev");
  auto rc = f(fd, iov, count, off);
  wrote(fd, rc);
  return rc;
}

int fsync(int fd) {
  static auto f = real<sync_fn>("fsync");
  auto rc = f(fd);
  synced(fd, rc);
  return rc;
}

int fdatasync(int fd) {
  static auto f = real<sync_fn>("fdatasync");
  auto rc = f(fd);
  synced(fd, rc);
  return rc;
}

int close(int fd) {
  static auto f = real<close_fn>("close");
  if (fd >= 0 && fd < max_fds) {
    pthread_mutex_lock(&lock);
    orphaned += dirty[fd];
    dirty[fd] = 0;
    pthread_mutex_unlock(&lock);
  }
  return f(fd);
}

ssize_t send(int fd, const void* buf, size_t n, int flags) {
  static auto f = real<send_fn>("send");
  answering(fd, buf, n);
  return f(fd, buf, n, flags);
}

ssize_t sendto(int fd, const void* buf, size_t n, int flags,
               const struct sockaddr* to, socklen_t len) {
  static auto f = real<sendto_fn>("sendto");
  answering(fd, buf, n);
  return f(fd, buf, n, flags, to, len);
}

ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) {
  static auto f = real<sendmsg_fn>("sendmsg");
  if (msg != nullptr && msg->msg_iovlen > 0)
    answering(fd, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len);
  return f(fd, msg, flags);
}

} // extern "C"
