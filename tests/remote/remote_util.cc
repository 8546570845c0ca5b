#include "tests/remote/remote_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "resolver/cache.h"
#include "resolver/http.h"
#include "resolver/index_file.h"
#include "resolver/registry.h"
#include "tests/integration/mount_util.h"
#include "tests/unit/resolver/package_util.h"
#include "webc/container.h"

extern char** environ;

namespace webcfs::testing {
namespace {

std::string RegistryDoubleScript() {
  return std::string(WEBCFS_REMOTE_TEST_DIR) + "/wasmer_registry.py";
}

Server Started(std::unique_ptr<ChildProcess> process, int port) {
  EXPECT_TRUE(WaitForPort(port)) << "nothing listens on 127.0.0.1:" << port;
  return Server{std::move(process), port};
}

// A server that writes its port to the file given by --port-file; `stem`.port
// and `stem`.log are its files.
Server StartWithPortFile(std::vector<std::string> argv, const std::string& stem) {
  const std::string port_file = stem + ".port";
  std::filesystem::remove(port_file);
  argv.insert(argv.end(), {"--port-file", port_file});
  auto process = std::make_unique<ChildProcess>(argv, stem + ".log");
  int port = 0;
  for (int i = 0; i < 500 && port == 0; ++i) {
    if (std::filesystem::exists(port_file)) port = std::stoi(ReadHostFile(port_file));
    if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(port, 0) << ReadHostFile(stem + ".log");
  return Started(std::move(process), port);
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int rc = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    ADD_FAILURE() << "cannot start " << argv[0] << ": " << std::strerror(rc);
  }
}

void ChildProcess::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

bool WaitForPort(int port, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

Server StartRegistryDouble(const std::string& root, const std::string& catalog,
                           const std::vector<std::string>& args, const std::string& work_dir) {
  std::vector<std::string> argv = {"python3", RegistryDoubleScript(), "--root", root};
  if (!catalog.empty()) argv.insert(argv.end(), {"--catalog", catalog});
  argv.insert(argv.end(), args.begin(), args.end());
  return StartWithPortFile(argv, work_dir + "/registry");
}

Server StartRangeServer(const std::string& root, const std::vector<std::string>& args,
                        const std::string& work_dir) {
  const int port = FreePort();
  std::vector<std::string> argv = {
      "python3", std::string(WEBCFS_REMOTE_TEST_DIR) + "/range_server.py",
      "--root",  root,
      "--port",  std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  return Started(std::make_unique<ChildProcess>(argv, work_dir + "/range-server.log"), port);
}

Server StartNginx(const std::string& root, const std::string& work_dir) {
  const int port = FreePort();
  const std::string conf = work_dir + "/nginx.conf";
  std::filesystem::create_directories(work_dir + "/nginx-tmp");
  // As root, nginx's workers would switch to an account that cannot read the
  // test's private temp directories.
  std::ofstream(conf) << (::geteuid() == 0 ? "user root;\n" : "") << "pid " << work_dir
                      << "/nginx.pid;\n"
                      << "error_log " << work_dir << "/nginx-error.log;\n"
                      << "worker_processes 1;\n"
                      << "events { worker_connections 64; }\n"
                      << "http {\n"
                      << "  access_log " << work_dir << "/nginx-access.log;\n"
                      << "  client_body_temp_path " << work_dir << "/nginx-tmp;\n"
                      << "  proxy_temp_path " << work_dir << "/nginx-tmp;\n"
                      << "  fastcgi_temp_path " << work_dir << "/nginx-tmp;\n"
                      << "  uwsgi_temp_path " << work_dir << "/nginx-tmp;\n"
                      << "  scgi_temp_path " << work_dir << "/nginx-tmp;\n"
                      << "  server {\n"
                      << "    listen 127.0.0.1:" << port << ";\n"
                      << "    root " << root << ";\n"
                      << "  }\n"
                      << "}\n";
  std::string nginx = std::filesystem::exists("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
  auto process = std::make_unique<ChildProcess>(
      std::vector<std::string>{nginx, "-p", work_dir, "-c", conf, "-g", "daemon off;"},
      work_dir + "/nginx.log");
  return Started(std::move(process), port);
}

Server StartPythonHttpServer(const std::string& root, const std::string& work_dir) {
  const int port = FreePort();
  auto process = std::make_unique<ChildProcess>(
      std::vector<std::string>{"python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                               root, std::to_string(port)},
      work_dir + "/http-server.log");
  return Started(std::move(process), port);
}

Server StartDockerRegistry(const std::string& work_dir, const std::string& extra_config) {
  std::filesystem::create_directories(work_dir);
  const int port = FreePort();
  const std::string config = work_dir + "/docker-registry.yml";
  std::ofstream(config) << "version: 0.1\n"
                        << "log:\n  level: warn\n"
                        << "storage:\n  filesystem:\n    rootdirectory: " << work_dir
                        << "/registry-data\n"
                        << "  delete:\n    enabled: true\n"
                        << "http:\n  addr: 127.0.0.1:" << port << "\n"
                        << extra_config;
  auto process = std::make_unique<ChildProcess>(
      std::vector<std::string>{"/usr/bin/docker-registry", "serve", config},
      work_dir + "/docker-registry.log");
  return Started(std::move(process), port);
}

TokenServer StartTokenServer(const std::string& work_dir, const std::string& users) {
  std::filesystem::create_directories(work_dir);
  TokenServer t;
  t.cert = work_dir + "/token-cert.pem";
  const std::string key = work_dir + "/token-key.pem";
  CommandResult made =
      RunCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                  "-out", t.cert, "-days", "2", "-subj", "/CN=webcfs-test-token"});
  EXPECT_EQ(made.exit_code, 0) << made.err;
  t.server =
      StartWithPortFile({"python3", std::string(WEBCFS_REMOTE_TEST_DIR) + "/token_server.py",
                         "--key", key, "--cert", t.cert, "--issuer", t.issuer, "--users", users},
                        work_dir + "/token");
  return t;
}

std::string TokenServer::RegistryConfig() const {
  return "auth:\n  token:\n    realm: " + server.Url("/token") + "\n    service: " + service +
         "\n    issuer: " + issuer + "\n    rootcertbundle: " + cert + "\n";
}

std::string HtpasswdConfig(const std::string& work_dir, const std::string& user,
                           const std::string& password) {
  std::filesystem::create_directories(work_dir);
  const std::string file = work_dir + "/htpasswd";
  CommandResult made = RunCommand({"htpasswd", "-B", "-b", "-c", file, user, password});
  EXPECT_EQ(made.exit_code, 0) << made.err;
  return "auth:\n  htpasswd:\n    realm: webcfs-test\n    path: " + file + "\n";
}

Server StartOciFaultProxy(const std::string& upstream, const std::string& work_dir) {
  std::filesystem::create_directories(work_dir);
  return StartWithPortFile({"python3", std::string(WEBCFS_REMOTE_TEST_DIR) + "/oci_fault_proxy.py",
                            "--upstream", upstream},
                           work_dir + "/fault-proxy");
}

void SetFault(const Server& proxy, const std::string& mode, const std::string& match) {
  auto http = resolver::HttpClient::Create({});
  ASSERT_TRUE(http);
  auto set = (*http)->GetString(proxy.Url("/_fault?mode=" + mode + "&match=" + match), 1 << 10);
  ASSERT_TRUE(set) << set.error().message();
}

void ExpectMountFails(const std::string& spec, const std::vector<std::string>& args,
                      const std::vector<std::string>& parts) {
  Mount m(spec, args);
  EXPECT_EQ(m.result().exit_code, 1) << m.result().err;
  for (const std::string& part : parts) {
    EXPECT_NE(m.result().err.find(part), std::string::npos) << m.result().err;
  }
  EXPECT_EQ(std::count(m.result().err.begin(), m.result().err.end(), '\n'), 1)
      << "one line: " << m.result().err;
  EXPECT_FALSE(IsMounted(m.path()));
}

nlohmann::json Stats(const Server& server) {
  auto http = resolver::HttpClient::Create({});
  if (!http) return nullptr;
  auto body = (*http)->GetString(server.Url("/_stats"), 1 << 20);
  if (!body) {
    ADD_FAILURE() << body.error().message();
    return nullptr;
  }
  return nlohmann::json::parse(*body);
}

void WriteFixtureTree(const std::string& dir) {
  using resolver::testing::FixturePath;
  using resolver::testing::PackageBuilder;
  std::filesystem::create_directories(dir);
  const std::pair<const char*, const char*> fixtures[] = {
      {"wasmer-test-files__integration__webc__bash-1.0.16-f097441a-a80b-4e0d-87d7-684918ef4bb6"
       ".webc",
       "sharrattj--bash@1.0.16.webc"},
      {"wasmer-test-files__integration__webc__dash-1.0.18-f0d13233-bcda-4cf1-9a23-3460bffaae2a"
       ".webc",
       "sharrattj--dash@1.0.18.webc"},
      {"wasmer-test-files__integration__webc__wasmer-tests--volume-static-webserver@0.1.0.webc",
       "wasmer-tests--volume-static-webserver@0.1.0.webc"},
  };
  for (const auto& [from, to] : fixtures) {
    std::filesystem::copy_file(FixturePath(from), std::filesystem::path(dir) / to,
                               std::filesystem::copy_options::overwrite_existing);
  }
  // Stand-ins for dependencies the fixtures do not include, under their real
  // names and versions: legacy commands without annotations, like the originals.
  PackageBuilder coreutils("sharrattj/coreutils", "1.0.16");
  coreutils.Atom("coreutils");
  for (const char* cmd : {"ls", "cat"}) {
    coreutils.RawCommand(cmd, {{"runner", "https://webc.org/runner/wasi@unstable_"},
                               {"annotations", nlohmann::ordered_json::object()}});
  }
  coreutils.WriteTo(dir);
  PackageBuilder("wasmer/static-web-server", "1.2.0").Atom("webserver").WriteTo(dir);
}

void WriteCatalog(const std::string& dir, const std::string& catalog_path) {
  nlohmann::json packages = nlohmann::json::object();
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string path = entry.path().string();
    if (!path.ends_with(".webc")) continue;
    auto c = webc::Container::OpenFile(path);
    ASSERT_TRUE(c) << c.error().message();
    const webc::Manifest& m = (*c)->manifest();
    // An unnamed container is listed under its file's name, as a registry names it.
    auto named = resolver::ParseRegistryFileName(entry.path().filename().string());
    std::string name = m.package_name ? *m.package_name : named ? named->first : "";
    std::string version = m.package_version ? *m.package_version
                          : named           ? named->second.ToString()
                                            : "";
    if (name.empty() || version.empty()) continue;
    auto hex = resolver::HashContainerFile(path);
    ASSERT_TRUE(hex) << hex.error().message();
    packages[name].push_back({{"version", version},
                              {"file", entry.path().filename().string()},
                              {"sha256", *hex},
                              {"manifest", m.json}});
  }
  // Renamed into place: a registry double serving the old catalog reads it whole.
  std::ofstream(catalog_path + ".tmp") << nlohmann::json{{"packages", packages}}.dump(1);
  std::filesystem::rename(catalog_path + ".tmp", catalog_path);
}

void FixtureTreeTest::SetUp() {
  WriteFixtureTree(packages_);
  WriteCatalog(packages_, catalog_);
  std::filesystem::create_directories(cache_);
}

void FixtureTreeTest::WriteIndex() const {
  std::vector<std::string> skipped;
  auto text = resolver::BuildIndexFile(packages_, &skipped);
  ASSERT_TRUE(text) << text.error().message();
  std::ofstream(packages_ + "/index.json") << *text;
}

}  // namespace webcfs::testing
