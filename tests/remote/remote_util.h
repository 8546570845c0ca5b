// Servers for the remote-registry tests, each a child process listening on
// 127.0.0.1 and stopped by its PID when the object goes: wasmer_registry.py
// (Wasmer's API and files, with faults), nginx and `python3 -m http.server`
// (static mirrors). Also the fixture tree they serve.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/common/host.h"

namespace webcfs::testing {

// A child process; SIGTERM then SIGKILL by PID on Stop() or destruction.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path);
  ~ChildProcess() { Stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  pid_t pid() const { return pid_; }
  void Stop();

 private:
  pid_t pid_ = -1;
};

// A port nothing listens on right now (bind to port 0, then close).
int FreePort();
// Waits until something accepts connections on 127.0.0.1:port.
bool WaitForPort(int port, int timeout_ms = 10'000);

// A server on 127.0.0.1:port.
struct Server {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
  std::string Url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
};

// wasmer_registry.py over `root` (and `catalog`, if not empty) with extra
// arguments such as {"--fault", "404"}.
Server StartRegistryDouble(const std::string& root, const std::string& catalog,
                           const std::vector<std::string>& args, const std::string& work_dir);
// nginx serving `root`, with its config, pid and logs under `work_dir`.
Server StartNginx(const std::string& root, const std::string& work_dir);
// range_server.py serving `root` (ranges, request accounting at /_stats,
// faults given in `args`: see the script).
Server StartRangeServer(const std::string& root, const std::vector<std::string>& args,
                        const std::string& work_dir);
// `python3 -m http.server` serving `root`.
Server StartPythonHttpServer(const std::string& root, const std::string& work_dir);

// Debian's docker-registry (CNCF distribution) with a generated config:
// filesystem storage under `work_dir`/registry-data, plus `extra_config`
// (top-level YAML sections such as `auth:` or `proxy:`).
Server StartDockerRegistry(const std::string& work_dir, const std::string& extra_config = "");

// token_server.py (a token server for distribution's `auth: token:`) with a
// certificate and key made by openssl under `work_dir`; `users` is
// "user:password,..." (they get push tokens; anonymous requests pull only).
struct TokenServer {
  Server server;
  std::string cert;
  std::string issuer = "webcfs-test-issuer";
  std::string service = "webcfs-test-registry";
  // The `auth:` section of a registry that trusts this server's tokens.
  std::string RegistryConfig() const;
};
TokenServer StartTokenServer(const std::string& work_dir, const std::string& users);

// The `auth:` section of a registry checking an htpasswd file (bcrypt, made
// by htpasswd -B under `work_dir`) with one user.
std::string HtpasswdConfig(const std::string& work_dir, const std::string& user,
                           const std::string& password);

// oci_fault_proxy.py in front of `upstream` (an http:// URL); SetFault
// sets its fault: mode "corrupt", "403", "404", "429" or "503" for request paths
// containing `match` ("none" clears it).
Server StartOciFaultProxy(const std::string& upstream, const std::string& work_dir);
void SetFault(const Server& proxy, const std::string& mode, const std::string& match = "");

// `webcfs mount SPEC ... ARGS` that must fail with exit status 1 and one line
// containing each of `parts`, and leave nothing mounted.
void ExpectMountFails(const std::string& spec, const std::vector<std::string>& args,
                      const std::vector<std::string>& parts);

// GET /_stats of a registry double.
nlohmann::json Stats(const Server& server);

// The fixture tree under its real names in `dir` (ns--name@version.webc):
// sharrattj/bash@1.0.16, sharrattj/dash@1.0.18, the (unnamed)
// volume-static-webserver test package as wasmer-tests/volume-static-webserver@0.1.0,
// and stand-ins for their registry dependencies
// (sharrattj/coreutils@1.0.16, wasmer/static-web-server@1.2.0).
void WriteFixtureTree(const std::string& dir);
// The catalog wasmer_registry.py reads, for every named *.webc in `dir`.
void WriteCatalog(const std::string& dir, const std::string& catalog_path);

// A test over the fixture tree: `packages_` holds it (WriteFixtureTree),
// `catalog_` its catalog, `cache_` is an empty directory; servers keep their
// configuration and logs in `work_`.
class FixtureTreeTest : public ::testing::Test {
 protected:
  void SetUp() override;
  // packages_/index.json, as `webcfs index` writes it (a static mirror's listing).
  void WriteIndex() const;

  TempDir tmp_{"webcfs-remote"};
  TempDir work_{"webcfs-remote-srv"};
  std::string packages_ = tmp_ / "packages";
  std::string catalog_ = tmp_ / "catalog.json";
  std::string cache_ = tmp_ / "cache";
};

}  // namespace webcfs::testing
