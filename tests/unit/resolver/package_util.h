// Helpers of the resolver tests: options for a test directory, resolving
// that fails the test on error, and the shared test helpers of tests/common
// (the package builder, host files, temporary directories) in this suite's
// namespace.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "resolver/resolution.h"
#include "tests/common/host.h"
#include "tests/common/package_builder.h"
#include "tests/common/paths.h"

namespace webcfs::resolver::testing {

using webcfs::testing::FixturePath;
using webcfs::testing::kWasiRunner;
using webcfs::testing::PackageBuilder;
using webcfs::testing::ReadHostFile;
using webcfs::testing::TempDir;
using webcfs::testing::WasmBytes;
using webcfs::testing::WriteHostFile;

// Options for a test's temp dir: registry <tmp>/registry, cache <tmp>/cache.
ResolveOptions TestOptions(const std::filesystem::path& tmp);
// Resolve() that fails the test on error (and then returns an empty Resolution).
Resolution MustResolve(const std::string& spec, const ResolveOptions& options);
// The package ids of a resolution, in precedence order.
std::vector<std::string> PackageIds(const Resolution& r);

}  // namespace webcfs::resolver::testing
