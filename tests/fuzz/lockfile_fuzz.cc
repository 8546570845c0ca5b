// libFuzzer target: the lockfile reader (resolver::ParseLockfile) on raw text.
//
// At start-up two real packages are written to a private temporary directory
// (t/app@1.0.0 using t/lib@^1 from a directory registry, each with a volume, a mapping and a
// command). A package `source` in the input that is a bare file name ("app.webc") is looked up in
// that directory; an input naming any other path is not run, so the fuzzer never reads host files.
// The seed corpus holds the lockfile that `webcfs resolve` writes for these packages, with bare
// file names.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "resolver/resolution.h"
#include "webc/writer.h"

namespace {

using Json = nlohmann::ordered_json;

webcfs::webc::WriteNode File(std::string contents) {
  webcfs::webc::WriteNode n;
  n.contents = std::move(contents);
  n.mtime = 1700000000;
  return n;
}

webcfs::webc::WriteNode Dir(std::map<std::string, webcfs::webc::WriteNode> children) {
  webcfs::webc::WriteNode n;
  n.is_dir = true;
  n.children = std::move(children);
  return n;
}

// The package directory; a plain array so that the exit handler can still
// use it after static strings are destroyed.
char package_dir[] = "/tmp/webcfs-lockfile-fuzz-XXXXXX";

// Writes the two packages once; returns the directory (removed at exit).
const std::string& PackageDir() {
  static const std::string dir = [] {
    if (mkdtemp(package_dir) == nullptr) __builtin_trap();
    std::string d = package_dir;
    webcfs::webc::WriteInput lib;
    lib.manifest_json =
        R"({"package":{"wapm":{"name":"t/lib","version":"1.2.0"},)"
        R"("fs":[{"volume_name":"/lib","mount_path":"/usr/lib"}]},)"
        R"("atoms":{"tool":{"kind":"https://webc.org/kind/wasm","signature":"sha256:x"}},)"
        R"("commands":{"tool":{"runner":"https://webc.org/runner/wasi",)"
        R"("annotations":{"wasi":{"atom":"tool"}}}}})";
    lib.atoms["tool"] = File("\0asm-tool");
    lib.volumes.push_back({"/lib", Dir({{"libc.a", File("lib bytes")}})});
    webcfs::webc::WriteInput app;
    app.manifest_json =
        R"({"use":{"lib":"t/lib@^1"},"package":{"wapm":{"name":"t/app","version":"1.0.0"},)"
        R"("fs":[{"volume_name":"/app","mount_path":"/app"},)"
        R"({"from":"lib","volume_name":"/lib","mount_path":"/opt/lib"}]},)"
        R"("commands":{"run":{"runner":"https://webc.org/runner/wasi",)"
        R"("annotations":{"wasi":{"atom":"lib:tool"}}}},"entrypoint":"run"})";
    app.volumes.push_back({"/app", Dir({{"main.txt", File("app bytes")}, {"etc", Dir({})}})});
    if (!webcfs::webc::WriteV3(lib, d + "/t--lib@1.2.0.webc")) __builtin_trap();
    if (!webcfs::webc::WriteV3(app, d + "/app.webc")) __builtin_trap();
    atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(package_dir, ec);
    });
    if (const char* dump = getenv("WEBCFS_LOCKFILE_FUZZ_DUMP")) {
      // Seed generation: resolve the app and print its lockfile with bare names.
      webcfs::resolver::ResolveOptions options;
      options.registries = {d};
      options.use_cache = false;
      auto r = webcfs::resolver::Resolve(d + "/app.webc", options);
      if (!r) {
        fprintf(stderr, "%s\n", r.error().message().c_str());
        __builtin_trap();
      }
      std::string text = r->ToLockfileJson();
      for (size_t at; (at = text.find(d + "/")) != std::string::npos;) text.erase(at, d.size() + 1);
      FILE* out = fopen(dump, "w");
      fputs(text.c_str(), out);
      fclose(out);
    }
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = PackageDir();
  std::string text(reinterpret_cast<const char*>(data), size);
  // Point bare source names at the package directory; skip inputs naming
  // other paths. Text that is not JSON goes through unchanged.
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_discarded() && doc.is_object() && doc.contains("packages") &&
      doc["packages"].is_array()) {
    for (Json& p : doc["packages"]) {
      if (!p.is_object() || !p.contains("source") || !p["source"].is_string()) continue;
      const std::string source = p["source"].get<std::string>();
      if (source.find('/') != std::string::npos || source == "." || source == "..") return 0;
      p["source"] = dir + "/" + source;
    }
    text = doc.dump();
  }
  webcfs::resolver::ResolveOptions options;
  options.use_cache = false;  // no cache: a missing source is NotFound
  options.load_workers = 1;
  auto r = webcfs::resolver::ParseLockfile(text, "fuzz.lock.json", options);
  if (r) {
    // What loads is consistent: the root first, every index in range, and
    // writing it again gives a lockfile that loads to the same text.
    if (r->packages.empty()) __builtin_trap();
    for (const auto& m : r->mappings) {
      if (m.package >= r->packages.size() || m.volume_package >= r->packages.size()) {
        __builtin_trap();
      }
    }
    const std::string again = r->ToLockfileJson();
    auto reloaded = webcfs::resolver::ParseLockfile(again, "again.lock.json", options);
    if (!reloaded || reloaded->ToLockfileJson() != again) __builtin_trap();
  }
  return 0;
}
