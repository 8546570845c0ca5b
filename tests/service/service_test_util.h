// Helpers for the service tests: temporary directories, running commands and
// the installed tree (`cmake --install` into a DESTDIR).
#pragma once

#include <string>
#include <vector>

namespace webcfs::service_test {

struct CommandResult {
  int exit_code = -1;  // -1: did not exit normally
  std::string output;  // stdout and stderr, interleaved
};

// Runs `argv` (no shell) with extra environment entries ("K=V"), waits for it.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env = {});

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& contents);

// Path of the built webcfs executable.
std::string WebcfsBinary();
std::string BinaryDir();
std::string SourceDir();

}  // namespace webcfs::service_test
