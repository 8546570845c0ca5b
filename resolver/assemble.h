// Assembly: from the packages of a Resolution (in precedence order, with
// their containers and edges) to its mappings, command table and entrypoint
// (docs/architecture.md, Resolution steps 6–8). Internal to resolver/.
#pragma once

#include <string>
#include <string_view>

#include "resolver/resolution.h"
#include "webc/base/result.h"

namespace webcfs::resolver {

// Fills r.mappings; every mapping validated, errors name package and mapping.
// REQUIRES: r.packages in precedence order with containers and dependencies.
Result<void> AssembleMappings(Resolution& r);

// Fills r.commands and r.entrypoint; commands whose atom cannot be found are
// left out with a warning in r.warnings.
void AssembleCommands(Resolution& r);

// "/a//b/./c/" → "/a/b/c". Errors: empty, relative, NUL, '..' above the root,
// a component longer than 255 bytes.
Result<std::string> NormalizeMountPath(std::string_view path);
// As NormalizeMountPath, but a relative path counts from the volume root.
Result<std::string> NormalizeVolumePath(std::string_view path);

}  // namespace webcfs::resolver
