// Wasmer's own runtime under Node (tests/wasmer-oracle): copied into the build
// tree and `npm install`ed once, under a lock so that parallel test processes
// install it once. Header-only so that every test binary can include it.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "tests/common/paths.h"

namespace webcfs::testing {

// Installs the oracle into <build>/wasmer-oracle. Returns its directory, or ""
// with npm's output in *log (npm could not be reached, no node, ...).
inline std::string InstallWasmerOracle(std::string* log) {
  const std::string into = BuildDir() + "/wasmer-oracle";
  const std::string script =
      "set -e; into='" + into + "'; src='" + WasmerOracleDir() +
      "'; mkdir -p \"$into\"; exec 9>\"$into.lock\"; flock 9; "
      "cp \"$src\"/package.json \"$src\"/*.mjs \"$into\"/; cp -r \"$src\"/wat \"$into\"/; "
      "if [ -f \"$src\"/.npmrc ]; then cp \"$src\"/.npmrc \"$into\"/; fi; "
      "if [ ! -d \"$into\"/node_modules ]; then cd \"$into\" && "
      "npm install --no-audit --no-fund --loglevel=error 2>&1 || "
      "{ rm -rf \"$into\"/node_modules; exit 1; }; fi";
  std::string quoted = "'";
  for (char c : script) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted += "'";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(("/bin/sh -c " + quoted + " 2>&1").c_str(), "r"),
                                             pclose);
  log->clear();
  if (!pipe) return "";
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe.get())) > 0) log->append(buffer, n);
  const int status = pclose(pipe.release());
  return status == 0 ? into : "";
}

}  // namespace webcfs::testing
