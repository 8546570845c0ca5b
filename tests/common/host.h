// The host as tests use it: run a program and capture what it printed, read
// and write whole files, temporary directories. One implementation for every test binary
// (library webcfs_test_common).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace webcfs::testing {

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed; -1 when it could not run
  std::string out;
  std::string err;
  // stdout then stderr, for checks that do not care which stream said it.
  std::string all() const { return out + err; }
};

// Runs argv (argv[0] searched in PATH) with stdin from /dev/null, capturing
// stdout and stderr through files, so a daemon it leaves behind cannot hold
// the capture open. Extra environment entries ("K=V") are added to the
// current environment.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env = {});

// The whole file, or "" when it cannot be read.
std::string ReadHostFile(const std::string& path);
// Creates or truncates `path` and writes `bytes`.
void WriteHostFile(const std::string& path, std::string_view bytes);

// A fresh directory under $TMPDIR (or /tmp), removed recursively on
// destruction (cache entries inside may be read-only; their directories are
// not).
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "webcfs-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const {
    return std::filesystem::path(path_) / rel;
  }

 private:
  std::string path_;
};

}  // namespace webcfs::testing
