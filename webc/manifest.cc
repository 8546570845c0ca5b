// DecodeManifest: CBOR → nlohmann::ordered_json → typed Manifest
// (docs/webc-format.md §6, §7). ordered_json keeps the stored key order, which
// is the "manifest order" of commands, uses, atoms and fs mappings.
#include "webc/manifest.h"

#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "webc/cbor_scan_internal.h"
#include "webc/manifest_internal.h"

namespace webcfs::webc {
namespace {

using Json = nlohmann::ordered_json;

// Key spellings of the WASI main arguments across webc eras (§6): kebab-case
// (webc ≥ 6), camelCase (webc 5.0.1), snake_case (the wabt v1 fixture).
constexpr std::string_view kMainArgsKeys[] = {"main-args", "mainArgs", "main_args"};

// Annotations that may carry a legacy "[dependency:]atom" string (§6).
constexpr std::string_view kLegacyAtomAnnotations[] = {"wasi", "emscripten"};

std::string Dump(const Json& j) {
  // Names from a hostile file need not be UTF-8: replace, never throw.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

const char* TypeName(const Json& j) { return j.type_name(); }

Error WrongType(const std::string& path, const char* expected, const Json& got) {
  return Error::Corrupt("manifest: " + path + ": expected " + expected + ", got " + TypeName(got));
}

std::string Join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// The value of `key` in `obj`, or nullptr when absent or null (nulls are
// tolerated everywhere and mean "absent").
const Json* Get(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::optional<std::string>> OptString(const Json& obj, std::string_view key,
                                             const std::string& path) {
  const Json* v = Get(obj, key);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return WrongType(Join(path, key), "a string", *v);
  return std::optional<std::string>(v->get<std::string>());
}

Result<std::string> RequiredString(const Json& obj, std::string_view key, const std::string& path) {
  auto v = OptString(obj, key, path);
  if (!v) return std::move(v).error();
  if (!v->has_value()) return Error::Corrupt("manifest: " + Join(path, key) + ": missing");
  return std::move(**v);
}

// An optional map: nullptr when absent/null, an error when present but not a map.
Result<const Json*> OptObject(const Json& obj, std::string_view key, const std::string& path) {
  const Json* v = Get(obj, key);
  if (v != nullptr && !v->is_object()) return WrongType(Join(path, key), "a map", *v);
  return v;
}

Result<std::vector<std::string>> StringList(const Json& list, const std::string& path) {
  if (!list.is_array()) return WrongType(path, "a list of strings", list);
  std::vector<std::string> out;
  out.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string()) {
      return WrongType(path + "[" + std::to_string(i) + "]", "a string", list[i]);
    }
    out.push_back(list[i].get<std::string>());
  }
  return out;
}

Result<std::optional<AtomRef>> AtomAnnotation(const Json& annotations, const std::string& path) {
  const Json* atom = Get(annotations, "atom");
  if (atom == nullptr) return std::optional<AtomRef>();
  const std::string atom_path = Join(path, "atom");
  if (atom->is_string()) return std::optional<AtomRef>(ParseLegacyAtom(atom->get<std::string>()));
  if (!atom->is_object()) return WrongType(atom_path, "a map", *atom);
  AtomRef ref;
  auto name = RequiredString(*atom, "name", atom_path);
  if (!name) return std::move(name).error();
  ref.name = std::move(*name);
  auto dep = OptString(*atom, "dependency", atom_path);
  if (!dep) return std::move(dep).error();
  ref.dependency = std::move(*dep);
  return std::optional<AtomRef>(std::move(ref));
}

Result<Command> DecodeCommand(std::string name, const Json& value, const std::string& path) {
  Command cmd;
  cmd.name = std::move(name);
  if (value.is_null()) return cmd;
  if (!value.is_object()) return WrongType(path, "a map", value);
  auto runner = OptString(value, "runner", path);
  if (!runner) return std::move(runner).error();
  cmd.runner = runner->value_or("");

  auto annotations = OptObject(value, "annotations", path);
  if (!annotations) return std::move(annotations).error();
  if (*annotations == nullptr) return cmd;  // annotations_json stays "{}"
  const Json& ann = **annotations;
  const std::string ann_path = Join(path, "annotations");
  cmd.annotations_json = Dump(ann);
  cmd.annotations_empty = ann.empty();

  auto atom = AtomAnnotation(ann, ann_path);
  if (!atom) return std::move(atom).error();
  cmd.atom = std::move(*atom);

  for (std::string_view runner_key : kLegacyAtomAnnotations) {
    auto section = OptObject(ann, runner_key, ann_path);
    if (!section) return std::move(section).error();
    if (*section == nullptr) continue;
    const std::string section_path = Join(ann_path, runner_key);
    if (!cmd.atom) {
      auto legacy = OptString(**section, "atom", section_path);
      if (!legacy) return std::move(legacy).error();
      if (legacy->has_value()) cmd.atom = ParseLegacyAtom(**legacy);
    }
    if (cmd.main_args.empty()) {
      for (std::string_view key : kMainArgsKeys) {
        const Json* args = Get(**section, key);
        if (args == nullptr) continue;
        auto list = StringList(*args, Join(section_path, key));
        if (!list) return std::move(list).error();
        cmd.main_args = std::move(*list);
        break;
      }
    }
  }
  return cmd;
}

Result<FsMapping> DecodeFsMapping(const Json& value, const std::string& path) {
  if (!value.is_object()) return WrongType(path, "a map", value);
  FsMapping m;
  auto from = OptString(value, "from", path);
  if (!from) return std::move(from).error();
  m.from = std::move(*from);
  auto volume = RequiredString(value, "volume_name", path);
  if (!volume) return std::move(volume).error();
  m.volume_name = std::move(*volume);
  // webc 5.x spells it original_path, webc ≥ 6 host_path (§7): read both.
  for (std::string_view key : {"original_path", "host_path"}) {
    auto p = OptString(value, key, path);
    if (!p) return std::move(p).error();
    if (p->has_value()) {
      m.original_path = std::move(*p);
      break;
    }
  }
  auto mount = RequiredString(value, "mount_path", path);
  if (!mount) return std::move(mount).error();
  m.mount_path = std::move(*mount);
  return m;
}

Result<Manifest> DecodeJson(const Json& root, const std::string& path);

Result<void> DecodePackage(const Json& root, const std::string& path, Manifest& m) {
  auto package = OptObject(root, "package", path);
  if (!package) return std::move(package).error();
  if (*package == nullptr) return Ok();
  const Json& pkg = **package;
  const std::string pkg_path = Join(path, "package");

  auto wapm = OptObject(pkg, "wapm", pkg_path);
  if (!wapm) return std::move(wapm).error();
  if (*wapm != nullptr) {
    const std::string wapm_path = Join(pkg_path, "wapm");
    m.wapm_json = Dump(**wapm);
    auto name = OptString(**wapm, "name", wapm_path);
    if (!name) return std::move(name).error();
    m.package_name = std::move(*name);
    auto version = OptString(**wapm, "version", wapm_path);
    if (!version) return std::move(version).error();
    m.package_version = std::move(*version);
  }

  if (const Json* fs = Get(pkg, "fs")) {
    const std::string fs_path = Join(pkg_path, "fs");
    if (!fs->is_array()) return WrongType(fs_path, "a list", *fs);
    m.has_fs = true;
    for (size_t i = 0; i < fs->size(); ++i) {
      auto mapping = DecodeFsMapping((*fs)[i], fs_path + "[" + std::to_string(i) + "]");
      if (!mapping) return std::move(mapping).error();
      m.fs.push_back(std::move(*mapping));
    }
  }
  return Ok();
}

Result<Manifest> DecodeJson(const Json& root, const std::string& path) {
  if (!root.is_object()) return WrongType(path.empty() ? "top level" : path, "a map", root);
  Manifest m;
  m.json = Dump(root);

  auto uses = OptObject(root, "use", path);
  if (!uses) return std::move(uses).error();
  if (*uses != nullptr) {
    for (const auto& [alias, value] : (*uses)->items()) {
      const std::string use_path = Join(Join(path, "use"), alias);
      Dependency dep;
      dep.alias = alias;
      if (value.is_string()) {
        dep.specifier = value.get<std::string>();
      } else if (value.is_object()) {
        // A vendored dependency: a whole manifest (nesting is bounded by the CBOR scan).
        auto embedded = DecodeJson(value, use_path);
        if (!embedded) return std::move(embedded).error();
        dep.embedded = std::make_shared<const Manifest>(std::move(*embedded));
      } else if (value.is_null()) {
        continue;
      } else {
        return WrongType(use_path, "a specifier string or a manifest", value);
      }
      m.uses.push_back(std::move(dep));
    }
  }

  WEBCFS_RETURN_IF_ERROR(DecodePackage(root, path, m));

  auto atoms = OptObject(root, "atoms", path);
  if (!atoms) return std::move(atoms).error();
  if (*atoms != nullptr) {
    for (const auto& [name, value] : (*atoms)->items()) {
      const std::string atom_path = Join(Join(path, "atoms"), name);
      if (!value.is_object() && !value.is_null()) return WrongType(atom_path, "a map", value);
      AtomInfo atom;
      atom.name = name;
      auto kind = OptString(value, "kind", atom_path);
      if (!kind) return std::move(kind).error();
      atom.kind = kind->value_or("");
      auto signature = OptString(value, "signature", atom_path);
      if (!signature) return std::move(signature).error();
      atom.signature = signature->value_or("");
      m.atoms.push_back(std::move(atom));
    }
  }

  auto commands = OptObject(root, "commands", path);
  if (!commands) return std::move(commands).error();
  if (*commands != nullptr) {
    for (const auto& [name, value] : (*commands)->items()) {
      auto cmd = DecodeCommand(name, value, Join(Join(path, "commands"), name));
      if (!cmd) return std::move(cmd).error();
      m.commands.push_back(std::move(*cmd));
    }
  }

  if (const Json* bindings = Get(root, "bindings")) m.bindings_json = Dump(*bindings);

  auto entrypoint = OptString(root, "entrypoint", path);
  if (!entrypoint) return std::move(entrypoint).error();
  m.entrypoint = std::move(*entrypoint);
  return m;
}

template <typename T>
const T* FindByName(const std::vector<T>& items, std::string_view name) {
  for (const T& item : items) {
    if (item.name == name) return &item;
  }
  return nullptr;
}

}  // namespace

AtomRef ParseLegacyAtom(std::string_view value) {
  // "[dependency:]atom". Atom names never contain ':' while a dependency alias
  // might (a registry-qualified name), so the last ':' separates them.
  AtomRef ref;
  const size_t colon = value.rfind(':');
  if (colon == std::string_view::npos) {
    ref.name = std::string(value);
  } else {
    ref.dependency = std::string(value.substr(0, colon));
    ref.name = std::string(value.substr(colon + 1));
  }
  return ref;
}

const Command* Manifest::FindCommand(std::string_view name) const {
  return FindByName(commands, name);
}

const AtomInfo* Manifest::FindAtom(std::string_view name) const { return FindByName(atoms, name); }

const Dependency* Manifest::FindUse(std::string_view alias) const {
  for (const Dependency& d : uses) {
    if (d.alias == alias) return &d;
  }
  return nullptr;
}

Result<Manifest> DecodeManifest(std::span<const std::byte> cbor, const ManifestLimits& limits) {
  if (cbor.size() > limits.max_bytes) {
    return Error::ResourceLimit("manifest: " + std::to_string(cbor.size()) +
                                " bytes is larger than the limit of " +
                                std::to_string(limits.max_bytes));
  }
  auto item_length = ScanCborItem(cbor, limits.max_depth);
  if (!item_length) return std::move(item_length).error().With("manifest");
  // Writers pad with zeros at most; anything else after the item is damage.
  for (size_t i = *item_length; i < cbor.size(); ++i) {
    if (cbor[i] != std::byte{0}) {
      return Error::Corrupt("manifest: unexpected data after the CBOR item at byte " +
                            std::to_string(i));
    }
  }
  Json root;
  try {
    const auto* begin = reinterpret_cast<const uint8_t*>(cbor.data());
    // Tags carry no meaning in a manifest: ignore them rather than fail.
    root = Json::from_cbor(begin, begin + *item_length, /*strict=*/true,
                           /*allow_exceptions=*/true, Json::cbor_tag_handler_t::ignore);
  } catch (const std::exception& e) {
    return Error::Corrupt(std::string("manifest: invalid CBOR: ") + e.what());
  }
  return DecodeJson(root, "");
}

}  // namespace webcfs::webc
