// How the resolver's error messages quote a name, path or version they cite.
#pragma once

#include <string>
#include <string_view>

namespace webcfs::resolver {

// 'text': quoted, so that an empty or space-padded value is still visible.
inline std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace webcfs::resolver
