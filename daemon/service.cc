#include "daemon/service.h"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "daemon/catalog_mount.h"
#include "daemon/logging.h"
#include "daemon/notify.h"
#include "fuse/mountpoint.h"

namespace webcfs::daemon {

namespace {

// Wakes the main thread out of fuse_session_loop_mt (its sem_wait returns
// EINTR, sees the exit flag and cancels the workers). Never blocked.
constexpr int kWakeSignal = SIGUSR2;
// Sent by the main thread to the supervisor when the session loop ended on
// its own (the filesystem was unmounted from outside). A real-time signal
// nobody sends by hand (SIGRTMIN is not a constant, hence a function).
int LoopEndedSignal() { return SIGRTMIN + 2; }
// `webcfs status` asks for fresh counters in the status file with SIGUSR1.
constexpr int kStatusSignal = SIGUSR1;

// The signals the supervisor waits for; blocked in every other thread.
sigset_t SupervisedSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, kStatusSignal, LoopEndedSignal()}) sigaddset(&set, s);
  return set;
}

void OnWake(int) {}

// statfs(2) goes to the daemon every time (the kernel does not cache it): a
// success proves the session loop answers requests.
int ProbeMount(const std::string& mountpoint) {
  struct statvfs st;
  if (statvfs(mountpoint.c_str(), &st) == 0) return 0;
  return errno;
}

// Pings the systemd watchdog while the FUSE loop answers.
class Watchdog {
 public:
  Watchdog(std::string mountpoint, std::chrono::microseconds interval)
      : mountpoint_(std::move(mountpoint)), period_(interval / 2) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Watchdog() { Stop(); }

  // Returns once the thread has finished its current probe: the mount is then
  // no longer used by us and can be unmounted without EBUSY.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      // A hung loop blocks here: no more pings, systemd's watchdog fires.
      const int err = ProbeMount(mountpoint_);
      if (err == 0) {
        notify::Watchdog();
      } else {
        spdlog::error("watchdog: statfs {}: {}; not pinging", mountpoint_, std::strerror(err));
      }
      lock.lock();
      cv_.wait_for(lock, period_, [this] { return stop_; });
    }
  }

  const std::string mountpoint_;
  const std::chrono::microseconds period_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

class Supervisor {
 public:
  Supervisor(fuse::Server& server, const ServiceHooks& hooks, pthread_t main_thread)
      : server_(server), hooks_(hooks), main_thread_(main_thread) {}

  // Runs on its own thread until the service stops.
  void Run() {
    const std::string& mountpoint = server_.mountpoint();
    if (const int err = ProbeMount(mountpoint); err != 0) {
      const std::string why = mountpoint + ": the mount does not answer: " + std::strerror(err);
      spdlog::error("{}", why);
      notify::Fatal(err, why);
      if (hooks_.on_ready) hooks_.on_ready(false);
      exit_code_ = 1;
      EndSession();
      WaitForLoopEnd();
      return;
    }
    const std::string status = "serving " + Describe();
    notify::Ready(status);
    // First: a background daemon detaches its stdio here, so a successful
    // `mount` prints nothing.
    if (hooks_.on_ready) hooks_.on_ready(true);
    spdlog::info("{} at {}", status, mountpoint);
    std::unique_ptr<Watchdog> watchdog;
    if (auto interval = notify::WatchdogInterval()) {
      spdlog::debug("watchdog: pinging every {} us", interval->count() / 2);
      watchdog = std::make_unique<Watchdog>(mountpoint, *interval);
    }

    const sigset_t set = SupervisedSignals();
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGHUP) {
        Reload();
        continue;
      }
      if (sig == kStatusSignal) {
        if (hooks_.on_status_request) hooks_.on_status_request();
        continue;
      }
      if (sig == LoopEndedSignal()) {
        // Unmounted from outside: nothing left to serve.
        spdlog::info("{} was unmounted; exiting", mountpoint);
        notify::Stopping("unmounted");
        if (watchdog) watchdog->Stop();
        return;
      }
      spdlog::info("{}: unmounting", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      notify::Stopping("unmounting " + mountpoint);
      if (watchdog) watchdog->Stop();  // its probe must not keep the mount busy
      Stop();
      WaitForLoopEnd();
      return;
    }
  }

  int exit_code() const { return exit_code_; }

 private:
  std::string Describe() const {
    if (server_.is_catalog()) return DescribeCatalog(server_);
    return DescribeSnapshot(*server_.current(), server_.generation());
  }

  // A catalog lists its registries again; names of requirements resolve
  // again on their next lookup.
  void ReloadCatalog() {
    spdlog::info("SIGHUP: reloading the catalog");
    notify::Reloading("reloading");
    auto r = server_.ReloadCatalog();
    if (!r) {
      spdlog::error("reload failed, still serving the previous listing: {}", r.error().message());
      notify::Ready("serving " + Describe() + "; last reload failed: " + r.error().message());
      if (hooks_.on_reload) hooks_.on_reload(Result<uint32_t>(std::move(r.error())));
      return;
    }
    spdlog::info("reloaded: serving {}", Describe());
    notify::Ready("serving " + Describe());
    if (hooks_.on_reload) hooks_.on_reload(Result<uint32_t>(uint32_t{0}));
  }

  void Reload() {
    if (server_.is_catalog()) return ReloadCatalog();
    const uint32_t old_generation = server_.generation();
    spdlog::info("SIGHUP: reloading (generation {})", old_generation);
    notify::Reloading("reloading");
    auto next = hooks_.rebuild ? hooks_.rebuild()
                               : Result<std::shared_ptr<const fuse::Snapshot>>(
                                     Error::Unsupported("reload is not supported"));
    if (!next) {
      // Keep serving what we have; say why where an operator looks.
      spdlog::error("reload failed, still serving generation {}: {}", old_generation,
                    next.error().message());
      notify::Ready("serving " + Describe() + "; last reload failed: " + next.error().message());
      if (hooks_.on_reload) hooks_.on_reload(Result<uint32_t>(std::move(next.error())));
      return;
    }
    const uint32_t generation = server_.SwapSnapshot(*next);
    const fuse::Snapshot& s = **next;
    if (!s.resolution().packages.empty()) SetLogPackage(s.resolution().packages[0].id);
    spdlog::info("reloaded: serving {}", DescribeSnapshot(s, generation));
    notify::Ready("serving " + DescribeSnapshot(s, generation));
    if (hooks_.on_reload) hooks_.on_reload(Result<uint32_t>(generation));
  }

  // Unmounts; a busy mount ends the session and is detached lazily.
  void Stop() {
    const std::string& mountpoint = server_.mountpoint();
    if (auto r = fuse::UnmountPath(mountpoint, /*lazy=*/false); r) {
      return;  // the session loop sees the unmount (ENODEV) and returns
    } else {
      spdlog::warn(
          "{} is busy ({}); ending the session and detaching the mount lazily: "
          "processes still using it get errors, the kernel drops it when they leave",
          mountpoint, r.error().message());
    }
    EndSession();
  }

  void EndSession() {
    server_.RequestExit();
    pthread_kill(main_thread_, kWakeSignal);
  }

  // The main thread tells us (LoopEndedSignal()) when Run() has returned.
  void WaitForLoopEnd() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, LoopEndedSignal());
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
  }

  fuse::Server& server_;
  const ServiceHooks& hooks_;
  const pthread_t main_thread_;
  int exit_code_ = 0;
};

}  // namespace

std::string DescribeSnapshot(const fuse::Snapshot& snapshot, uint32_t generation) {
  const auto& packages = snapshot.resolution().packages;
  std::string root = packages.empty() ? "(no package)" : packages[0].id;
  return root + ", generation " + std::to_string(generation) + ", " +
         std::to_string(packages.size()) + (packages.size() == 1 ? " package" : " packages");
}

int RunService(fuse::Server& server, const ServiceHooks& hooks) {
  // Block the service signals before any thread exists: every thread started
  // from here on (supervisor, FUSE workers) inherits the mask, and only the
  // supervisor receives them, via sigwait.
  const sigset_t set = SupervisedSignals();
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &set, &old_mask);
  struct sigaction wake {};
  wake.sa_handler = OnWake;
  sigemptyset(&wake.sa_mask);
  wake.sa_flags = 0;  // no SA_RESTART: the loop's sem_wait must return EINTR
  sigaction(kWakeSignal, &wake, nullptr);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, nullptr);

  Supervisor supervisor(server, hooks, pthread_self());
  std::thread supervisor_thread([&supervisor] { supervisor.Run(); });
  auto run = server.Run();
  pthread_kill(supervisor_thread.native_handle(), LoopEndedSignal());
  supervisor_thread.join();
  server.Unmount();  // lazy (MNT_DETACH) when privileged; no-op when already gone
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);

  if (!run) {
    spdlog::error("{}", run.error().message());
    notify::Fatal(EIO, run.error().message());
    return 1;
  }
  spdlog::info("stopped");
  return supervisor.exit_code();
}

}  // namespace webcfs::daemon
