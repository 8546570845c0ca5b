// Where tests find what the repository and the build provide: the bundled
// fixtures (tests/fixtures/webc, see its README for provenance), Wasmer's
// reference tool (tests/wasmer-oracle) and the built `webcfs` executable.
// Header-only so that every test binary can include it.
#pragma once

#include <string>

namespace webcfs::testing {

inline std::string SourceDir() { return WEBCFS_SOURCE_DIR; }
inline std::string BuildDir() { return WEBCFS_BINARY_DIR; }

// Containers made by Wasmer (and one synthesized v2 file) with expected.json.
inline std::string FixtureDir() { return SourceDir() + "/tests/fixtures/webc"; }
inline std::string FixturePath(const std::string& name) { return FixtureDir() + "/" + name; }

// Wasmer's own reader and writer under Node (tests/wasmer-oracle/README.md).
inline std::string WasmerOracleDir() { return SourceDir() + "/tests/wasmer-oracle"; }

inline std::string WebcfsBinary() { return BuildDir() + "/daemon/webcfs"; }

}  // namespace webcfs::testing
