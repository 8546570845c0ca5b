// Packing: a package directory with a wasmer.toml (Wasmer's authoring
// format) → a WEBC v3 container. Above the resolver because a package states
// versions, requirements and paths that a mount resolves later: it checks
// them by the resolver's rules (resolver/semver.h, resolver/assemble.h), and
// writes through webc/writer.h.
#pragma once

#include <string>

#include "webc/base/result.h"

namespace webcfs::pack {

// Reads DIR/wasmer.toml and writes a v3 container to `out_path` atomically.
// Errors name wasmer.toml with line:column where toml++ provides them.
Result<void> PackDirectory(const std::string& dir, const std::string& out_path);

}  // namespace webcfs::pack
