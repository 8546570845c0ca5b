// `webcfs inspect FILE [--json] [--verify]`: what a container holds.
//
// --json prints the schema of one entry of the fixtures' expected.json
// (documented in fixtures/webc/README.md), so the reader can be compared with
// the reference data and with Wasmer's own reader. Only webc/ is used.
#include <cstdio>
#include <exception>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

#include "daemon/cli/subcommands.h"
#include "resolver/resolution.h"
#include "webc/container.h"

namespace webcfs::daemon {
namespace {

using Json = nlohmann::ordered_json;
using webc::Container;
using webc::Entry;
using webc::Volume;

struct InspectArgs {
  std::string file;
  bool json = false;
  bool verify = false;
  uint64_t max_decompressed = webc::OpenOptions().max_decompressed_size;
};

Json Parse(const std::string& text) { return Json::parse(text); }

Json OptionalString(const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); }

// A JSON object built in time linear in its members, in insertion order.
// ordered_json's operator[] and contains() search the keys one by one, which
// is quadratic for a wide directory or a manifest with many atoms.
class ObjectBuilder {
 public:
  // Reserving up front avoids growth, which copies every member: the keys are
  // const, so the vector cannot move them.
  explicit ObjectBuilder(size_t expected = 0) { members().reserve(expected); }

  // A key set again keeps its first position and takes the new value, as
  // operator[] does.
  void Set(const std::string& key, Json value) {
    auto [at, added] = index_.try_emplace(key, members().size());
    if (added) {
      members().emplace_back(key, std::move(value));
    } else {
      (members().begin() + static_cast<std::ptrdiff_t>(at->second))->second = std::move(value);
    }
  }
  // For keys known to be distinct (volume paths): no index is kept.
  void AppendNew(std::string key, Json value) {
    members().emplace_back(std::move(key), std::move(value));
  }
  bool Contains(const std::string& key) const { return index_.contains(key); }
  Json Take() { return std::move(out_); }

 private:
  Json::object_t& members() { return out_.get_ref<Json::object_t&>(); }

  Json out_ = Json::object();
  std::unordered_map<std::string, size_t> index_;
};

// `scratch` is the caller's, reused for every file: a fresh buffer per file
// zeroed a MiB for each of a volume's files.
Result<webc::Sha256Digest> FileDigest(const Container& c, const Entry& file,
                                      std::vector<std::byte>& scratch) {
  webc::Sha256 h;
  for (uint64_t off = 0; off < file.size;) {
    auto chunk = c.ReadFile(file, off, scratch.size(), scratch.data());
    if (!chunk) return std::move(chunk).error();
    if (chunk->empty()) return Error::Io("file ended early");
    h.Update(*chunk);
    off += chunk->size();
  }
  return h.Finish();
}

// Every path of the volume → its entry, in walk order. Walked paths are
// distinct: the reader refuses duplicate names in a directory.
Result<Json> VolumeJson(const Container& c, const Volume& volume, std::vector<std::byte>& scratch) {
  ObjectBuilder out(volume.entries().size());
  const bool v3 = c.version() == webc::Version::kV3;
  auto walked =
      webc::WalkVolume(volume, [&](const Entry& e, std::string_view path) -> Result<void> {
        Json entry = Json::object();
        if (e.is_file()) {
          auto digest = FileDigest(c, e, scratch);
          if (!digest) return std::move(digest).error();
          entry["type"] = "file";
          entry["size"] = e.size;
          entry["sha256"] = webc::ToHex(*digest);
        } else {
          entry["type"] = "dir";
        }
        if (v3) entry["mtime"] = e.mtime;
        out.AppendNew(std::string(path), std::move(entry));
        return Ok();
      });
  if (!walked) return std::move(walked).error();
  return out.Take();
}

Result<Json> AtomsJson(const Container& c, std::vector<std::byte>& scratch) {
  const webc::Manifest& m = c.manifest();
  ObjectBuilder out;
  // The first of each name, as Manifest::FindAtom finds it, without its scan.
  std::unordered_map<std::string_view, const webc::AtomInfo*> by_name;
  for (const webc::AtomInfo& info : m.atoms) by_name.try_emplace(info.name, &info);
  auto describe = [&](const std::string& name, Json& atom) {
    auto found = by_name.find(name);
    const webc::AtomInfo* info = found == by_name.end() ? nullptr : found->second;
    atom["kind"] = info != nullptr && !info->kind.empty() ? Json(info->kind) : Json(nullptr);
    atom["signature"] =
        info != nullptr && !info->signature.empty() ? Json(info->signature) : Json(nullptr);
  };
  const Volume& atoms = c.atoms();
  for (const Entry& e : atoms.Children(atoms.root())) {
    if (!e.is_file()) continue;
    auto digest = FileDigest(c, e, scratch);
    if (!digest) return std::move(digest).error();
    Json atom = {{"size", e.size}, {"sha256", webc::ToHex(*digest)}};
    const std::string name(atoms.NameOf(e));
    describe(name, atom);
    out.Set(name, std::move(atom));
  }
  // Atoms the manifest lists but the container lacks are shown, not hidden.
  for (const webc::AtomInfo& info : m.atoms) {
    if (out.Contains(info.name)) continue;
    Json atom = {{"size", nullptr}, {"sha256", nullptr}};
    describe(info.name, atom);
    out.Set(info.name, std::move(atom));
  }
  return out.Take();
}

Result<Json> BuildJson(const Container& c) {
  const webc::Manifest& m = c.manifest();
  Json out = Json::object();
  out["version"] = "00" + std::to_string(static_cast<int>(c.version()));
  out["size"] = c.source().size();
  auto whole = c.WholeFileHash();
  if (!whole) return std::move(whole).error();
  out["sha256"] = webc::ToHex(*whole);
  auto header = c.HeaderDigest();
  if (!header) return std::move(header).error();
  out["header_sha256"] = *header ? Json(webc::ToHex(**header)) : Json(nullptr);
  out["package_name"] = OptionalString(m.package_name);
  out["package_version"] = OptionalString(m.package_version);
  out["wapm"] = Parse(m.wapm_json);

  ObjectBuilder uses;
  for (const webc::Dependency& d : m.uses) {
    uses.Set(d.alias, d.specifier ? Json(*d.specifier) : Parse(d.embedded->json));
  }
  out["uses"] = uses.Take();

  ObjectBuilder commands;
  for (const webc::Command& cmd : m.commands) {
    Json j = Json::object();
    j["runner"] = cmd.runner;
    j["atom"] = cmd.atom ? Json(cmd.atom->name) : Json(nullptr);
    j["dependency"] = cmd.atom ? OptionalString(cmd.atom->dependency) : Json(nullptr);
    j["annotations"] = Parse(cmd.annotations_json);
    commands.Set(cmd.name, std::move(j));
  }
  out["commands"] = commands.Take();
  out["entrypoint"] = OptionalString(m.entrypoint);

  std::vector<std::byte> scratch(size_t{1} << 20);
  auto atoms = AtomsJson(c, scratch);
  if (!atoms) return std::move(atoms).error();
  out["atoms"] = std::move(*atoms);

  ObjectBuilder volumes;
  for (const Volume& v : c.volumes()) {
    auto vj = VolumeJson(c, v, scratch);
    if (!vj) return std::move(vj).error();
    volumes.Set(v.name(), std::move(*vj));
  }
  out["volumes"] = volumes.Take();

  // package.fs exactly as stored: which of original_path / host_path a writer
  // used is part of what inspect shows.
  Json fs = Json::array();
  const Json manifest = Parse(m.json);
  if (auto pkg = manifest.find("package"); pkg != manifest.end() && pkg->is_object()) {
    if (auto f = pkg->find("fs"); f != pkg->end() && f->is_array()) fs = *f;
  }
  out["fs_mappings"] = std::move(fs);
  out["bindings"] = Parse(m.bindings_json);

  if (c.version() == webc::Version::kV1) {
    auto valid = c.CheckV1Checksum();
    if (!valid) return std::move(valid).error();
    out["v1_checksum"] = {{"type", c.v1_checksum().type},
                          {"valid", valid->has_value() ? Json(**valid) : Json(nullptr)},
                          {"signature_len", c.v1_checksum().signature_len}};
  } else {
    out["v1_checksum"] = nullptr;
  }
  out["index_padding"] = c.index_padding() ? Json(*c.index_padding()) : Json(nullptr);
  return out;
}

struct VolumeStats {
  uint64_t files = 0;
  uint64_t dirs = 0;
  uint64_t bytes = 0;
};

VolumeStats StatsOf(const Volume& v) {
  VolumeStats s;
  for (const Entry& e : v.entries().subspan(1)) {
    if (e.is_file()) {
      ++s.files;
      s.bytes += e.size;
    } else {
      ++s.dirs;
    }
  }
  return s;
}

Result<std::string> Summary(const Container& c, bool verified) {
  const webc::Manifest& m = c.manifest();
  auto whole = c.WholeFileHash();
  if (!whole) return std::move(whole).error();
  std::string out;
  auto line = [&](const std::string& key, const std::string& value) {
    out += key;
    out.append(key.size() < 12 ? 12 - key.size() : 1, ' ');
    out += value + "\n";
  };
  line("version:", "v" + std::to_string(static_cast<int>(c.version())));
  line("size:", std::to_string(c.source().size()) + " bytes");
  line("sha256:", webc::ToHex(*whole));
  std::string package = m.package_name.value_or("(unnamed)");
  if (m.package_version) package += "@" + *m.package_version;
  line("package:", package);
  line("entrypoint:", m.entrypoint.value_or("(none)"));
  for (const webc::Dependency& d : m.uses) {
    line("use:", d.alias + " = " + (d.specifier ? *d.specifier : std::string("(embedded)")));
  }
  const Volume& atoms = c.atoms();
  for (const Entry& e : atoms.Children(atoms.root())) {
    if (e.is_file())
      line("atom:", std::string(atoms.NameOf(e)) + " (" + std::to_string(e.size) + " bytes)");
  }
  for (const webc::Command& cmd : m.commands) {
    std::string target = "(no atom named)";
    if (cmd.atom) {
      target = cmd.atom->name;
      if (cmd.atom->dependency) target += " from " + *cmd.atom->dependency;
    }
    line("command:", cmd.name + " -> " + target + " [" + cmd.runner + "]");
  }
  for (const Volume& v : c.volumes()) {
    VolumeStats s = StatsOf(v);
    line("volume:", v.name() + ": " + std::to_string(s.files) + " files, " +
                        std::to_string(s.dirs) + " directories, " + std::to_string(s.bytes) +
                        " bytes");
  }
  for (const webc::FsMapping& f : m.fs) {
    std::string source = f.from ? *f.from + ":" : std::string();
    source += f.volume_name;
    if (f.original_path) source += *f.original_path;
    line("mount:", f.mount_path + " <- " + source);
  }
  if (c.version() == webc::Version::kV1) {
    std::string checksum = c.v1_checksum().type;
    if (c.v1_checksum().valid) checksum += *c.v1_checksum().valid ? " (valid)" : " (INVALID)";
    line("checksum:", checksum);
  }
  if (verified) line("verified:", "all stored checksums match");
  return out;
}

int RunInspect(const InspectArgs& args) {
  auto fail = [&](const Error& e) {
    // One line: the container's own errors already start with the path.
    std::string msg = e.message();
    if (msg.rfind(args.file + ": ", 0) != 0) msg = args.file + ": " + msg;
    std::fprintf(stderr, "webcfs: %s\n", msg.c_str());
    return 1;
  };
  webc::OpenOptions options;
  options.verify = args.verify;
  options.max_decompressed_size = args.max_decompressed;
  auto container = Container::OpenFile(args.file, options);
  if (!container) return fail(container.error());
  // A package whose mappings cannot be served is refused here as by `mount`.
  if (auto mappings = resolver::CheckOwnMappings(**container); !mappings) {
    return fail(mappings.error());
  }
  try {
    if (args.json) {
      auto json = BuildJson(**container);
      if (!json) return fail(json.error());
      std::string text = json->dump(2, ' ', false, Json::error_handler_t::replace);
      std::printf("%s\n", text.c_str());
    } else {
      auto text = Summary(**container, args.verify);
      if (!text) return fail(text.error());
      std::fputs(text->c_str(), stdout);
    }
  } catch (const std::exception& e) {
    return fail(Error::Corrupt(std::string("cannot render: ") + e.what()));
  }
  return 0;
}

}  // namespace

void AddInspectSubcommand(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd =
      app.add_subcommand("inspect", "Show what a WEBC container (.webc, .webc.zst) holds");
  cmd->add_option("FILE", args->file, "container file")->required();
  cmd->add_flag("--json", args->json, "print the fixtures' expected.json schema");
  cmd->add_flag("--verify", args->verify, "check every stored checksum and hash");
  cmd->add_option("--max-decompressed", args->max_decompressed,
                  "refuse a .webc.zst that inflates past this many bytes")
      ->capture_default_str();
  cmd->callback([args, &exit_code] { exit_code = RunInspect(*args); });
}

}  // namespace webcfs::daemon
