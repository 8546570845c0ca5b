// Writing a file the user asked for (a lockfile, a mirror's index.json).
#pragma once

#include <string>

#include "webc/base/result.h"

namespace webcfs::daemon {

// Writes `text` to `path` atomically (temp file + rename, mode 0644): a
// reader never sees half a file.
Result<void> WriteFileAtomically(const std::string& path, const std::string& text);

}  // namespace webcfs::daemon
