#include "resolver/specifier.h"

#include <gtest/gtest.h>

namespace webcfs::resolver {
namespace {

const std::string kHex = "a6a32da63aa9af7cd58045f0d111c24c659e74716974b75bf3c8587411497ec7";

TEST(SpecifierTest, Url) {
  auto s = ParseSpecifier("https://registry.example/ns/pkg@1.0.0");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, Specifier::Kind::kUrl);
  EXPECT_EQ(s->url, "https://registry.example/ns/pkg@1.0.0");
}

TEST(SpecifierTest, Paths) {
  for (const char* p : {"./app.webc", "/abs/app.webc.zst", "../x.webc", ".hidden"}) {
    auto s = ParseSpecifier(p);
    ASSERT_TRUE(s.ok()) << p;
    EXPECT_EQ(s->kind, Specifier::Kind::kPath) << p;
    EXPECT_EQ(s->path, p);
  }
}

TEST(SpecifierTest, Hash) {
  auto s = ParseSpecifier("sha256:" + kHex);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, Specifier::Kind::kHash);
  EXPECT_EQ(s->sha256_hex, kHex);
  std::string upper = kHex;
  for (char& c : upper) c = static_cast<char>(toupper(c));
  auto u = ParseSpecifier("sha256:" + upper);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->sha256_hex, kHex) << "normalized to lowercase";

  auto short_hash = ParseSpecifier("sha256:abcd");
  ASSERT_FALSE(short_hash.ok());
  EXPECT_NE(short_hash.error().message().find("expected 64 hex digits, got 4"), std::string::npos);
  auto bad = ParseSpecifier("sha256:" + std::string(63, 'a') + "g");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("not a hex digit: 'g'"), std::string::npos);
}

TEST(SpecifierTest, RegistryForms) {
  auto plain = ParseSpecifier("sharrattj/coreutils");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->kind, Specifier::Kind::kRegistry);
  EXPECT_EQ(plain->full_name, "sharrattj/coreutils");
  EXPECT_TRUE(plain->requirement.is_any());
  EXPECT_TRUE(plain->registry.empty());

  auto bare = ParseSpecifier("sharrattj/coreutils@1.0.16");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->requirement.text(), "1.0.16");
  ASSERT_EQ(bare->requirement.comparators().size(), 1u);
  EXPECT_EQ(bare->requirement.comparators()[0].op, Comparator::Op::kCaret);

  auto pinned = ParseSpecifier("wasmer/python@=3.12.0");
  ASSERT_TRUE(pinned.ok());
  EXPECT_EQ(pinned->requirement.comparators()[0].op, Comparator::Op::kExact);

  auto latest = ParseSpecifier("Michael-F-Bryan/staticserver@latest");
  ASSERT_TRUE(latest.ok());
  EXPECT_TRUE(latest->requirement.is_any());

  auto empty = ParseSpecifier("ns/pkg@");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->requirement.is_any());

  auto reg = ParseSpecifier("wasmer:ns/my_pkg.v2@>=1.0, <2");
  ASSERT_TRUE(reg.ok());
  EXPECT_EQ(reg->registry, "wasmer");
  EXPECT_EQ(reg->full_name, "ns/my_pkg.v2");
  EXPECT_EQ(reg->requirement.comparators().size(), 2u);
}

TEST(SpecifierTest, RejectsMalformedWithClearErrors) {
  struct Case {
    const char* text;
    const char* needle;
  } cases[] = {
      {"", "empty package specifier"},
      {"coreutils", "expected namespace/name"},
      {"/", "local"},  // a path, parsed fine: handled below
      {"ns/", "name is empty"},
      {"ns/a b", "contains ' '"},
      {"ns/a/b", "contains '/'"},
      {"ns/..", "'..' is not allowed"},
      {"ns/pkg@1.2.x.4", "more than three version parts"},
      {"ns/pkg@^", "operator without a version"},
      {"re g:ns/pkg", "registry 're g'"},
  };
  for (const auto& c : cases) {
    auto s = ParseSpecifier(c.text);
    if (std::string(c.text) == "/") {
      ASSERT_TRUE(s.ok());
      EXPECT_EQ(s->kind, Specifier::Kind::kPath);
      continue;
    }
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_EQ(s.error().code(), Error::Code::kInvalidArgument) << c.text;
    EXPECT_NE(s.error().message().find(c.needle), std::string::npos)
        << c.text << " -> " << s.error().message();
  }
  auto nul = ParseSpecifier(std::string("ns/a\0b", 6));
  ASSERT_FALSE(nul.ok());
  EXPECT_NE(nul.error().message().find("NUL"), std::string::npos);
}

TEST(SpecifierTest, Ids) {
  auto v = Version::Parse("1.2.3-rc.1");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(NamedId("ns/pkg", *v), "ns/pkg@1.2.3-rc.1");
  EXPECT_EQ(HashId(kHex), "sha256:" + kHex);
}

}  // namespace
}  // namespace webcfs::resolver
