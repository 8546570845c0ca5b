// Internals shared by the writer's source files (writer.cc, host_tree.cc,
// wasmer_toml.cc) and their tests. Not part of the public interface.
#pragma once

#include <string_view>

#include "webc/base/result.h"

namespace webcfs::webc {

// A volume entry name must be one path component: not empty, not "." or "..",
// no '/' or NUL, at most kMaxNameLength bytes, valid UTF-8 (docs/architecture.md,
// "Safety rules"). The writer refuses what the reader would reject.
Result<void> ValidateEntryName(std::string_view name);

}  // namespace webcfs::webc
