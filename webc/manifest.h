// Manifest: the typed view of a container's CBOR manifest (docs/webc-format.md §6).
//
// Decoded once at Container::Open; immutable afterwards. Free-form parts
// (annotations, bindings, wapm) are kept as JSON text so that no JSON library
// leaks into this header.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "webc/base/result.h"

namespace webcfs::webc {

struct Manifest;

// One `use` entry: alias → registry specifier string or an embedded manifest.
struct Dependency {
  std::string alias;
  std::optional<std::string> specifier;      // set when the value is a string
  std::shared_ptr<const Manifest> embedded;  // set when the value is a manifest
};

struct AtomInfo {
  std::string name;
  std::string kind;       // e.g. "https://webc.org/kind/wasm"; may be empty
  std::string signature;  // "sha256:<base64>" or empty
};

// Which atom implements a command: the `atom` annotation, or the legacy
// `wasi.atom`/`emscripten.atom` string "[dependency:]atom" converted into one.
struct AtomRef {
  std::string name;
  std::optional<std::string> dependency;  // a `use` alias
};

struct Command {
  std::string name;
  std::string runner;
  std::optional<AtomRef> atom;
  std::vector<std::string> main_args;   // from main-args / mainArgs / main_args
  std::string annotations_json = "{}";  // raw annotation map as JSON ("{}" when absent)
  bool annotations_empty = true;        // true when the annotation map is absent or {}
};

// One `package.fs` entry (docs/webc-format.md §7).
struct FsMapping {
  std::optional<std::string> from;  // `use` alias; nullopt = this package
  std::string volume_name;
  std::optional<std::string> original_path;  // `original_path` or `host_path` (v2)
  std::string mount_path;
};

struct Manifest {
  // From package.wapm; nullopt when absent (e.g. `"wapm": {}`).
  std::optional<std::string> package_name;
  std::optional<std::string> package_version;
  std::string wapm_json = "null";  // the whole wapm annotation as JSON, "null" if absent

  std::vector<Dependency> uses;   // manifest order
  std::vector<AtomInfo> atoms;    // manifest order
  std::vector<Command> commands;  // manifest order
  std::optional<std::string> entrypoint;
  std::vector<FsMapping> fs;  // manifest order; empty when absent
  bool has_fs = false;        // true when package.fs is present (even if empty)
  std::string bindings_json = "[]";
  std::string json;  // the whole manifest as JSON (key order as stored)

  const Command* FindCommand(std::string_view name) const;
  const AtomInfo* FindAtom(std::string_view name) const;
  const Dependency* FindUse(std::string_view alias) const;
};

// Limits applied while decoding untrusted CBOR.
struct ManifestLimits {
  uint32_t max_depth = 64;        // nesting of maps/arrays
  uint64_t max_bytes = 64 << 20;  // manifest section size
};

// Decodes a CBOR manifest. Unknown keys and nulls are tolerated; wrong types
// of known keys are errors naming the key path ("commands.py.runner: ...").
Result<Manifest> DecodeManifest(std::span<const std::byte> cbor, const ManifestLimits& limits = {});

// Encodes a manifest given as JSON text to CBOR (used by the writer).
Result<std::vector<std::byte>> EncodeManifestJson(const std::string& json);

}  // namespace webcfs::webc
