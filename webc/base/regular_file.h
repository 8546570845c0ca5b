// Opening and reading small regular files, refusing FIFOs and devices
// without blocking on them. Errors name the path.
#pragma once

#include <cstdint>
#include <string>

#include "webc/base/result.h"
#include "webc/base/unique_fd.h"

struct stat;

namespace webcfs::webc {

// Opens `path` read-only (O_CLOEXEC) and refuses anything but a regular file
// ("<path>: is not a regular file (a FIFO)"). The open does not block: a FIFO
// with no writer, or a device, would otherwise hang the caller before its type
// could be checked. With `st`, also the file's fstat. Errors name the path.
Result<UniqueFd> OpenRegularFile(const std::string& path, struct stat* st = nullptr);

// The whole of the regular file `path` (OpenRegularFile), refusing one larger
// than `max_bytes` (kResourceLimit). For small text files: configuration,
// lockfiles, wasmer.toml.
Result<std::string> ReadRegularFile(const std::string& path, uint64_t max_bytes);

}  // namespace webcfs::webc
