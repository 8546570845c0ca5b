#include "daemon/status_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "webc/sha256.h"

namespace webcfs::daemon {

namespace {

using Json = nlohmann::json;

Result<void> EnsureDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Error::Io(dir, errno);
  return Ok();
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
  WEBCFS_RETURN_IF_ERROR(EnsureDir(RuntimeDir()));
  Json j = {{"pid", s.pid},
            {"mountpoint", s.mountpoint},
            {"spec", s.spec},
            {"package", s.package},
            {"packages", s.packages},
            {"generation", s.generation},
            {"started", s.started},
            {"reloads", s.reloads},
            {"last_reload_error", s.last_reload_error ? Json(*s.last_reload_error) : Json()},
            {"updated_ms", s.updated_ms},
            {"counters",
             {{"lookups", s.lookups},
              {"reads", s.reads},
              {"bytes_read", s.bytes_read},
              {"errors", s.errors}}},
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
    s.log = j.value("log", std::string());
  } catch (const Json::exception& e) {
    return Error::Corrupt(path + ": " + e.what());
  }
  if (s.pid <= 0 || (kill(static_cast<pid_t>(s.pid), 0) != 0 && errno == ESRCH)) {
    return Error::NotFound(s.mountpoint + ": the daemon (pid " + std::to_string(s.pid) +
                           ") is gone; stale status file " + path);
  }
  return s;
}

void RemoveStatus(const std::string& mountpoint) {
  std::remove(StatusFilePath(mountpoint).c_str());
}

}  // namespace webcfs::daemon
