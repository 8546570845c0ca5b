#include "daemon/status_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "webc/base/sha256.h"

namespace webcfs::daemon {

namespace {

using Json = nlohmann::json;

// What /proc/PID/stat says about a process: its name, state and start time.
struct ProcStat {
  std::string comm;
  char state = '?';
  uint64_t start_ticks = 0;
};

std::optional<ProcStat> ReadProcStat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // "pid (comm) state f4 ... f22": comm may hold spaces and parentheses.
  const size_t open = line.find('(');
  const size_t close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  ProcStat st;
  st.comm = line.substr(open + 1, close - open - 1);
  std::istringstream fields(line.substr(close + 1));
  std::string field;
  for (int n = 3; n <= 22 && fields >> field; ++n) {
    if (n == 3) st.state = field[0];
    if (n == 22) st.start_ticks = std::strtoull(field.c_str(), nullptr, 10);
  }
  if (st.start_ticks == 0) return std::nullopt;
  return st;
}

// The process `s` names still runs: same start time (or, in a file without
// one, a process called webcfs), and not a zombie.
bool DaemonAlive(const DaemonStatus& s) {
  if (s.pid <= 0) return false;
  const auto st = ReadProcStat(static_cast<pid_t>(s.pid));
  if (!st || st->state == 'Z' || st->state == 'X') return false;
  return s.start_ticks != 0 ? st->start_ticks == s.start_ticks : st->comm == "webcfs";
}

Error StaleStatus(const DaemonStatus& s, const std::string& path) {
  return Error::NotFound(s.mountpoint + ": no webcfs daemon serves it (stale status file of pid " +
                         std::to_string(s.pid) + " removed: " + path + ")");
}

}  // namespace

std::string RuntimeDir() {
  if (const char* dir = std::getenv("WEBCFS_RUNTIME_DIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  if (geteuid() == 0) return "/run/webcfs";
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/webcfs";
  }
  return "/tmp/webcfs-" + std::to_string(geteuid());
}

Result<void> EnsureRuntimeDir() {
  const std::string dir = RuntimeDir();
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Error::Io(dir, errno);
  return Ok();
}

std::string NormalizeMountpoint(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(path, ec);
  if (ec) p = path;
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::string StatusFilePath(const std::string& mountpoint) {
  // A hash keeps any mountpoint within NAME_MAX and free of odd characters.
  const std::string normalized = NormalizeMountpoint(mountpoint);
  webc::Sha256 h;
  h.Update(std::string_view(normalized));
  return RuntimeDir() + "/" + webc::ToHex(h.Finish()).substr(0, 32) + ".json";
}

Result<void> WriteStatus(const DaemonStatus& s) {
  WEBCFS_RETURN_IF_ERROR(EnsureRuntimeDir());
  Json j = {{"pid", s.pid},
            {"mountpoint", s.mountpoint},
            {"spec", s.spec},
            {"package", s.package},
            {"packages", s.packages},
            {"generation", s.generation},
            {"started", s.started},
            {"start_ticks", s.start_ticks},
            {"reloads", s.reloads},
            {"last_reload_error", s.last_reload_error ? Json(*s.last_reload_error) : Json()},
            {"updated_ms", s.updated_ms},
            {"counters",
             {{"lookups", s.lookups},
              {"reads", s.reads},
              {"bytes_read", s.bytes_read},
              {"errors", s.errors},
              {"bytes_fetched", s.bytes_fetched},
              {"files_verified", s.files_verified},
              {"fetch_errors", s.fetch_errors}}},
            {"log", s.log}};
  const std::string path = StatusFilePath(s.mountpoint);
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
    if (!out) return Error::Io(tmp + ": cannot write the status file");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Error::Io(path, errno);
  return Ok();
}

Result<DaemonStatus> ReadStatus(const std::string& mountpoint) {
  const std::string path = StatusFilePath(mountpoint);
  std::ifstream in(path);
  if (!in) {
    return Error::NotFound(NormalizeMountpoint(mountpoint) +
                           ": no webcfs daemon serves it (no status file " + path + ")");
  }
  std::ostringstream text;
  text << in.rdbuf();
  DaemonStatus s;
  try {
    const Json j = Json::parse(text.str());
    s.pid = j.at("pid").get<int64_t>();
    s.mountpoint = j.at("mountpoint").get<std::string>();
    s.spec = j.at("spec").get<std::string>();
    s.package = j.at("package").get<std::string>();
    s.packages = j.at("packages").get<std::vector<std::string>>();
    s.generation = j.at("generation").get<uint32_t>();
    s.started = j.at("started").get<int64_t>();
    s.reloads = j.at("reloads").get<uint64_t>();
    s.start_ticks = j.value("start_ticks", uint64_t{0});
    if (!j.at("last_reload_error").is_null()) {
      s.last_reload_error = j.at("last_reload_error").get<std::string>();
    }
    // Absent in files written by daemons older than the counters.
    s.updated_ms = j.value("updated_ms", int64_t{0});
    const Json counters = j.value("counters", Json::object());
    s.lookups = counters.value("lookups", uint64_t{0});
    s.reads = counters.value("reads", uint64_t{0});
    s.bytes_read = counters.value("bytes_read", uint64_t{0});
    s.errors = counters.value("errors", uint64_t{0});
    s.bytes_fetched = counters.value("bytes_fetched", uint64_t{0});
    s.files_verified = counters.value("files_verified", uint64_t{0});
    s.fetch_errors = counters.value("fetch_errors", uint64_t{0});
    s.log = j.value("log", std::string());
  } catch (const Json::exception& e) {
    return Error::Corrupt(path + ": " + e.what());
  }
  if (!DaemonAlive(s)) {
    std::remove(path.c_str());
    return StaleStatus(s, path);
  }
  return s;
}

std::optional<uint64_t> ProcessStartTicks(pid_t pid) {
  const auto st = ReadProcStat(pid);
  if (!st || st->state == 'Z' || st->state == 'X') return std::nullopt;
  return st->start_ticks;
}

Result<void> SignalDaemon(const DaemonStatus& s, int sig) {
  const std::string path = StatusFilePath(s.mountpoint);
  // Without pidfds (old kernel, seccomp), check and kill() leave a short race.
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(s.pid), 0));
  if (!DaemonAlive(s)) {
    if (pidfd >= 0) close(pidfd);
    std::remove(path.c_str());
    return StaleStatus(s, path);
  }
  const int rc = pidfd >= 0
                     ? static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0))
                     : kill(static_cast<pid_t>(s.pid), sig);
  const int err = errno;
  if (pidfd >= 0) close(pidfd);
  if (rc != 0 && err == ESRCH) {
    std::remove(path.c_str());
    return StaleStatus(s, path);
  }
  if (rc != 0) {
    return Error::Io(s.mountpoint + ": signal " + std::to_string(sig) + " to the daemon (pid " +
                         std::to_string(s.pid) + ")",
                     err);
  }
  return Ok();
}

void RemoveStatus(const std::string& mountpoint) {
  std::remove(StatusFilePath(mountpoint).c_str());
}

}  // namespace webcfs::daemon
