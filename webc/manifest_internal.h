// Pieces of the manifest decoder that tests (and the resolver's rules) can use
// directly. Internal to webc/.
#pragma once

#include <string_view>

#include "webc/manifest.h"

namespace webcfs::webc {

// The legacy `wasi.atom` / `emscripten.atom` string "[dependency:]atom" as an
// AtomRef (docs/webc-format.md §6). Splits at the last ':' ("wasmer/static-web-server:webserver"
// → dependency "wasmer/static-web-server", atom "webserver").
AtomRef ParseLegacyAtom(std::string_view value);

}  // namespace webcfs::webc
