#include "support/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace wi_e2e {

namespace {

std::vector<std::string>
child_environment(const std::map<std::string, std::string>& extra_env) {
  std::vector<std::string> result;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry = *e;
    if (entry.starts_with("WEBHOOK_INGRESS_"))
      continue;
    auto eq = entry.find('=');
    if (eq != std::string::npos && extra_env.count(entry.substr(0, eq)) > 0)
      continue;
    result.push_back(std::move(entry));
  }
  for (const auto& [name, value] : extra_env)
    result.push_back(name + "=" + value);
  return result;
}

std::vector<char*> to_c_array(std::vector<std::string>& xs) {
  std::vector<char*> result;
  result.reserve(xs.size() + 1);
  for (auto& x : xs)
    result.push_back(x.data());
  result.push_back(nullptr);
  return result;
}

} // namespace

child_process::child_process(
  const std::vector<std::string>& argv,
  const std::map<std::string, std::string>& extra_env) {
  if (argv.empty())
    throw std::runtime_error("child_process: empty argv");
  // Prepare everything before fork: only async-signal-safe calls after it.
  std::vector<std::string> args = argv;
  std::vector<std::string> env = child_environment(extra_env);
  auto c_args = to_c_array(args);
  auto c_env = to_c_array(env);
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe2 failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    throw std::runtime_error("pipe2 failed");
  }
  int dev_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]})
      close(fd);
    if (dev_null >= 0)
      close(dev_null);
    throw std::runtime_error(std::string{"fork failed: "} + strerror(errno));
  }
  if (pid_ == 0) {
    // Child: never outlive the test, start with a clean signal state.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(126);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    if (dev_null >= 0)
      dup2(dev_null, STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    execve(c_args[0], c_args.data(), c_env.data());
    static constexpr char msg[] = "child_process: execve failed\n";
    [[maybe_unused]] auto n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (dev_null >= 0)
    close(dev_null);
  reader_ = std::thread{
    [this, out = out_pipe[0], err = err_pipe[0]] { read_loop(out, err); }};
}

child_process::~child_process() {
  if (!status_)
    kill_and_reap();
  {
    std::lock_guard guard{mtx_};
    stop_reader_ = true;
  }
  if (reader_.joinable())
    reader_.join();
}

void child_process::read_loop(int out_fd, int err_fd) {
  char buf[4096];
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  for (;;) {
    {
      std::lock_guard guard{mtx_};
      if ((out_eof_ && err_eof_) || stop_reader_)
        break;
    }
    int rc = poll(fds, 2, 50);
    if (rc < 0 && errno != EINTR)
      break;
    if (rc <= 0)
      continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0)
        continue;
      auto n = read(fds[i].fd, buf, sizeof(buf));
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      std::lock_guard guard{mtx_};
      if (n <= 0) {
        (i == 0 ? out_eof_ : err_eof_) = true;
        close(fds[i].fd);
        fds[i].fd = -1;
      } else {
        (i == 0 ? out_ : err_).append(buf, static_cast<size_t>(n));
      }
      cv_.notify_all();
    }
  }
  for (auto& fd : fds)
    if (fd.fd >= 0)
      close(fd.fd);
  std::lock_guard guard{mtx_};
  out_eof_ = true;
  err_eof_ = true;
  cv_.notify_all();
}

void child_process::send_signal(int sig) {
  if (!status_ && pid_ > 0)
    kill(pid_, sig);
}

bool child_process::wait_for_stdout(
  const std::function<bool(const std::string&)>& pred,
  std::chrono::milliseconds timeout) {
  std::unique_lock guard{mtx_};
  cv_.wait_for(guard, timeout, [&] { return pred(out_) || out_eof_; });
  return pred(out_);
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds timeout) {
  if (status_)
    return status_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t rc = waitpid(pid_, &status, WNOHANG);
    if (rc == pid_) {
      status_ = status;
      return status_;
    }
    if (rc < 0 && errno != EINTR) {
      status_ = -1;
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
}

int child_process::kill_and_reap() {
  if (status_)
    return *status_;
  kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    // retry
  }
  status_ = status;
  return status;
}

std::string child_process::stdout_text() const {
  std::lock_guard guard{mtx_};
  return out_;
}

std::string child_process::stderr_text() const {
  std::lock_guard guard{mtx_};
  return err_;
}

void child_process::drain(std::chrono::milliseconds timeout) {
  std::unique_lock guard{mtx_};
  cv_.wait_for(guard, timeout, [&] { return out_eof_ && err_eof_; });
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status))
    return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

bool run_result::exited() const {
  return !timed_out && WIFEXITED(status);
}

int run_result::exit_code() const {
  return exited() ? WEXITSTATUS(status) : -1;
}

run_result run_to_exit(const std::vector<std::string>& argv,
                       std::chrono::milliseconds timeout,
                       const std::map<std::string, std::string>& extra_env) {
  run_result result;
  child_process child{argv, extra_env};
  if (auto status = child.wait_exit(timeout)) {
    result.status = *status;
  } else {
    result.timed_out = true;
    result.status = child.kill_and_reap();
  }
  child.drain(std::chrono::seconds{2});
  result.out = child.stdout_text();
  result.err = child.stderr_text();
  return result;
}

} // namespace wi_e2e
