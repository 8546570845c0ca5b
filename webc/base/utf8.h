// UTF-8 validity, for names and paths that must survive a trip through JSON.
#pragma once

#include <string_view>

namespace webcfs::webc {

// Strict UTF-8: no overlong forms, surrogates or code points past U+10FFFF.
bool IsValidUtf8(std::string_view s);

}  // namespace webcfs::webc
