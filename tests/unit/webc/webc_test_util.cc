#include "tests/unit/webc/webc_test_util.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

namespace webcfs::webc::testing {

std::string ExpectedJsonText() { return ReadHostFile(FixtureDir() + "/expected.json"); }

std::vector<std::string> FixtureNames() {
  std::vector<std::string> names;
  // Runs at test registration: never throw; a missing file becomes one failing case.
  auto expected = nlohmann::ordered_json::parse(ExpectedJsonText(), nullptr, false);
  if (!expected.is_object()) return {"expected.json missing under " + FixtureDir()};
  for (const auto& [name, value] : expected.items()) names.push_back(name);
  return names;
}

std::string ReadHostFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::string bytes(static_cast<size_t>(std::max<std::streamoff>(in.tellg(), 0)), '\0');
  in.seekg(0);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

void WriteHostFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

Result<void> WriteOneVolume(const std::string& path, std::map<std::string, WriteNode> top) {
  WriteInput input;
  input.manifest_json = "{}";
  WriteNode root;
  root.is_dir = true;
  root.children = std::move(top);
  input.volumes.push_back({"/v", std::move(root)});
  return WriteV3(input, path);
}

std::map<std::string, WriteNode> WideScatteredTree() {
  std::map<std::string, WriteNode> top;
  for (int d = 0; d < 300; ++d) {
    WriteNode dir;
    dir.is_dir = true;
    for (int f = 0; f < 40; ++f)
      dir.children["file-with-a-long-name-" + std::to_string(f)].contents = "x";
    top["d" + std::to_string(d)] = std::move(dir);
    top["f" + std::to_string(d)].contents = std::to_string(d);
  }
  return top;
}

std::string MakeTempDir(const std::string& tag) {
  std::string pattern = (std::filesystem::temp_directory_path() / ("webcfs-" + tag + "-XXXXXX"));
  char* dir = ::mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr) << "mkdtemp " << pattern;
  return pattern;
}

CommandResult RunCommand(const std::vector<std::string>& argv) {
  CommandResult result;
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) return result;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  // Drain both pipes together so neither child stream can fill and block.
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

}  // namespace webcfs::webc::testing
