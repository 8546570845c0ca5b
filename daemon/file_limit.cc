#include "daemon/file_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace webcfs::daemon {

namespace {

bool Mentions(const Error& e, int err) {
  return e.sys_errno() == err || e.message().find(std::strerror(err)) != std::string::npos;
}

}  // namespace

void RaiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  (void)setrlimit(RLIMIT_NOFILE, &rl);
}

Error WithFileLimit(Error e) {
  const std::string& m = e.message();
  if (m.find("RLIMIT_NOFILE") != std::string::npos || m.find("fs.file-max") != std::string::npos) {
    return e;  // already said
  }
  if (Mentions(e, EMFILE)) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    return Error(e.code(), m + " (the daemon may open " + std::to_string(rl.rlim_cur) +
                               " files, RLIMIT_NOFILE; raise LimitNOFILE= in the unit, or "
                               "`ulimit -Hn` before `webcfs mount`)");
  }
  if (Mentions(e, ENFILE)) {
    return Error(e.code(), m + " (the system's open-file table is full: fs.file-max)");
  }
  return e;
}

}  // namespace webcfs::daemon
