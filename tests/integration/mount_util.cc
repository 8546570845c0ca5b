#include "tests/integration/mount_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "webc/base/sha256.h"

extern char** environ;

namespace webcfs::testing {

Mount::Mount(const std::string& spec, const std::vector<std::string>& args) {
  char templ[] = "/tmp/fuse-it-XXXXXX";
  if (mkdtemp(templ) == nullptr) {
    result_.err = "mkdtemp failed";
    return;
  }
  path_ = templ;
  std::vector<std::string> argv = {WebcfsBinary(), "mount", spec, path_};
  argv.insert(argv.end(), args.begin(), args.end());
  result_ = RunCommand(argv);
  mounted_ = result_.exit_code == 0;
}

pid_t Mount::DaemonPid() const {
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return -1;
  pid_t found = -1;
  while (dirent* d = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(d->d_name, &end, 10);
    if (end == d->d_name || *end != '\0') continue;
    std::string cmdline = ReadHostFile("/proc/" + std::string(d->d_name) + "/cmdline");
    std::vector<std::string> args;
    for (size_t start = 0; start < cmdline.size();) {
      const size_t nul = cmdline.find('\0', start);
      args.push_back(cmdline.substr(start, nul - start));
      start = nul == std::string::npos ? cmdline.size() : nul + 1;
    }
    if (args.size() >= 4 && args[1] == "mount" && args[3] == path_) {
      found = static_cast<pid_t>(pid);
      break;
    }
  }
  closedir(proc);
  return found;
}

Residency PageResidency(const std::string& path, uint64_t begin, uint64_t end) {
  Residency r;
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return r;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return r;
  }
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  end = std::min<uint64_t>(end, static_cast<uint64_t>(st.st_size));
  const uint64_t first = begin / page * page;
  if (end <= first) {
    close(fd);
    return r;
  }
  const size_t length = static_cast<size_t>(end - first);
  void* map = mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(first));
  close(fd);
  if (map == MAP_FAILED) return r;
  std::vector<unsigned char> in_core((length + page - 1) / page);
  if (mincore(map, length, in_core.data()) == 0) {
    r.pages = in_core.size();
    for (unsigned char v : in_core) r.resident += v & 1;
  }
  munmap(map, length);
  return r;
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  // /proc/PID/stat: "PID (COMM) STATE ..."; COMM may hold spaces and parens.
  const std::string stat = ReadHostFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

CommandResult Mount::Unmount() {
  const pid_t daemon = DaemonPid();
  CommandResult r = RunCommand({WebcfsBinary(), "unmount", path_});
  if (r.exit_code != 0) {
    RunCommand({"fusermount3", "-uz", path_});
  }
  mounted_ = false;
  // The daemon exits once the kernel closes the connection.
  for (int i = 0; i < 500 && ProcessAlive(daemon); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return r;
}

Mount::~Mount() {
  if (mounted_) Unmount();
  if (!path_.empty()) rmdir(path_.c_str());
}

namespace {

void Walk(const std::string& root, const std::string& rel, const std::vector<std::string>& skip,
          std::map<std::string, TreeEntry>* out) {
  const std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    names.push_back(name);
  }
  closedir(d);
  for (const std::string& name : names) {
    const std::string child = rel.empty() ? name : rel + "/" + name;
    if (std::find(skip.begin(), skip.end(), child) != skip.end()) continue;
    struct stat st;
    TreeEntry t;
    if (lstat((root + "/" + child).c_str(), &st) != 0) {
      (*out)[child] = t;
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      t.type = 'd';
      (*out)[child] = t;
      Walk(root, child, skip, out);
    } else if (S_ISREG(st.st_mode)) {
      t.type = 'f';
      t.size = static_cast<uint64_t>(st.st_size);
      t.sha256 = Sha256Hex(ReadHostFile(root + "/" + child));
      (*out)[child] = t;
    } else {
      t.type = S_ISLNK(st.st_mode) ? 'l' : '?';
      (*out)[child] = t;
    }
  }
}

}  // namespace

std::map<std::string, TreeEntry> WalkTree(const std::string& root,
                                          const std::vector<std::string>& skip) {
  std::map<std::string, TreeEntry> out;
  Walk(root, "", skip, &out);
  return out;
}

bool IsMounted(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" " + path + " ") != std::string::npos) return true;
  }
  return false;
}

std::string Sha256Hex(std::string_view bytes) { return webc::ToHex(webc::Sha256::Of(bytes)); }

std::string WriteToRegistry(const PackageBuilder& p, const std::string& registry_dir) {
  return WritePackage(p, registry_dir + "/" + RegistryFileName(p));
}

}  // namespace webcfs::testing
