// Helpers for the service tests: the shared test helpers of tests/common
// (running programs, host files, repository and build paths) in this suite's
// namespace.
#pragma once

#include "tests/common/host.h"
#include "tests/common/paths.h"

namespace webcfs::service_test {

using webcfs::testing::BuildDir;
using webcfs::testing::CommandResult;
using webcfs::testing::ReadHostFile;
using webcfs::testing::RunCommand;
using webcfs::testing::SourceDir;
using webcfs::testing::WebcfsBinary;
using webcfs::testing::WriteHostFile;

}  // namespace webcfs::service_test
