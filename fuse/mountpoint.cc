#include "fuse/mountpoint.h"

#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

namespace webcfs::fuse {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto octal = [&](size_t k) { return s[k] >= '0' && s[k] <= '7'; };
    if (s[i] == '\\' && i + 3 < s.size() && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

Result<std::string> Absolute(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(path, ec);
  if (ec) return Error::Io(path + ": " + ec.message());
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// Whether the directory `path` has an entry besides "." and "..".
Result<bool> HasEntries(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return Error::Io("mountpoint " + path, errno);
  bool found = false;
  while (const dirent* e = readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") {
      found = true;
      break;
    }
  }
  closedir(dir);
  return found;
}

}  // namespace

Result<std::optional<MountEntry>> FindMount(const std::string& path) {
  auto abs = Absolute(path);
  if (!abs) return std::move(abs).error();
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return Error::Io("/proc/self/mountinfo", errno);
  std::optional<MountEntry> found;
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mount-point options [optional...] - fstype source superopts
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    if (f.size() < 7) continue;
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash + 2 >= f.size()) continue;
    if (Unescape(f[4]) != *abs) continue;
    found = MountEntry{Unescape(f[4]), f[dash + 1], Unescape(f[dash + 2])};  // later = on top
  }
  return found;
}

Result<void> CheckMountpoint(const std::string& path, bool allow_nonempty) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOTCONN) {
      return Error::Io(path +
                       ": a dead FUSE mount is still attached (transport endpoint is not "
                       "connected); run `webcfs unmount " +
                       path + "` first");
    }
    if (err == ENOENT) return Error::NotFound("mountpoint " + path + " does not exist");
    return Error::Io("mountpoint " + path, err);
  }
  if (!S_ISDIR(st.st_mode))
    return Error::InvalidArgument("mountpoint " + path + " is not a directory");
  auto mounted = FindMount(path);
  if (!mounted) return std::move(mounted).error();
  if (mounted->has_value()) {
    return Error::Conflict("mountpoint " + path + " is already a mount point (" +
                           (*mounted)->fs_type + " " + (*mounted)->source + ")");
  }
  if (allow_nonempty) return Ok();
  auto has_entries = HasEntries(path);
  if (!has_entries) return std::move(has_entries).error();
  if (*has_entries) {
    return Error::InvalidArgument("mountpoint " + path +
                                  " is not empty; the mount would hide its contents (mount over "
                                  "it anyway with -o nonempty)");
  }
  return Ok();
}

Result<void> UnmountPath(const std::string& path, bool lazy) {
  if (umount2(path.c_str(), lazy ? MNT_DETACH : 0) == 0) return Ok();
  const int err = errno;
  if (err == EBUSY) {
    return Error::Io(path +
                     ": filesystem is busy (files open or a process inside it); use --lazy to "
                     "detach it anyway");
  }
  if (err != EPERM) return Error::Io("unmount " + path, err);
  // Unprivileged: the setuid helper checks that we own the mount.
  const pid_t pid = fork();
  if (pid < 0) return Error::Io("fork", errno);
  if (pid == 0) {
    execlp("fusermount3", "fusermount3", lazy ? "-uz" : "-u", "--", path.c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Error::Io("waitpid fusermount3", errno);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Error::Io("fusermount3 -u " + path + " failed");
  }
  return Ok();
}

}  // namespace webcfs::fuse
