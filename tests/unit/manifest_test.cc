// The plugin manifest parser (platform/manifest.h): every field of a valid
// manifest, the defaults, relative paths, and one clear error per kind of
// bad input, naming the line and column or the JSON path.
#include <gtest/gtest.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/errors.h"
#include "platform/manifest.h"
#include "process.h"
}

#ifndef URLSHORTENER_MANIFEST
#define URLSHORTENER_MANIFEST "examples/urlshortener/manifest.json"
#endif

namespace {

// A manifest with `plugins` as its plugin list.
std::string Doc(const std::string &plugins) {
  return "{\"version\": 1, \"plugins\": [" + plugins + "]}";
}

// Parses `json` (base directory /base) and expects it refused with an error
// that contains `want`.
void ExpectRefused(const std::string &json, const std::string &want) {
  manifest *m = reinterpret_cast<manifest *>(1);
  char err[512] = "";
  int rc =
      cpi_manifest_parse_string(json.c_str(), "/base", &m, err, sizeof err);
  EXPECT_EQ(CP_EINVAL, rc) << json;
  EXPECT_EQ(nullptr, m);
  EXPECT_NE(std::string::npos, std::string(err).find(want))
      << "error: " << err << "\nwanted: " << want;
  cpi_manifest_free(m);
}

// A plugin entry with one extra member: {"name": "p", "path": "/p", extra}.
std::string With(const std::string &extra) {
  return Doc("{\"name\": \"p\", \"path\": \"/p\", " + extra + "}");
}

std::string Repeat(const std::string &item, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; i++) {
    s += (i > 0 ? "," : "") + item;
  }
  return s;
}

// A private directory with files in it, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cplugin-manifest-XXXXXX";
    char *d = mkdtemp(tmpl);
    EXPECT_NE(nullptr, d);
    char real[PATH_MAX];
    EXPECT_NE(nullptr, realpath(tmpl, real));
    dir_ = real;
  }
  ~TempDir() {
    for (const std::string &f : files_) {
      unlink(f.c_str());
    }
    rmdir(dir_.c_str());
  }
  std::string Write(const std::string &name, const std::string &text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    files_.push_back(path);
    return path;
  }
  const std::string &dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::string> files_;
};

const char kFull[] = R"({
  "version": 1,
  "plugins": [
    { "name": "storage", "path": "/opt/plugins/storage",
      "args": ["--flag", ""],
      "env": {"allow": ["LANG", "TZ"], "set": {"STORAGE_DIR": "/var/lib/x", "B": ""}},
      "transport": "tcp",
      "ready_timeout_ms": 7000,
      "restart": {"policy": "always", "max_restarts": 3, "window_ms": 30000,
                  "backoff_initial_ms": 50, "backoff_max_ms": 2000},
      "provides": [{"type": "storage", "version": "1.2.0-rc.1+b7",
                    "path": "/storage.v1.Storage/"},
                   {"type": "blob", "version": "2.0.0"}],
      "requires": [{"type": "kv.v1.KV", "min_version": "1.0.0",
                    "required_for_startup": true, "watch_for_changes": true},
                   {"type": "logger"}] },
    { "name": "logger", "in_process": "logger-impl",
      "restart": {"policy": "never"} }
  ]
})";

TEST(ManifestTest, EveryFieldOfAFullManifest) {
  manifest *m = nullptr;
  char err[256] = "";
  ASSERT_EQ(0, cpi_manifest_parse_string(kFull, "/base", &m, err, sizeof err))
      << err;
  EXPECT_EQ(1, m->version);
  ASSERT_EQ(2u, m->plugins_count);

  const manifest_plugin &s = m->plugins[0];
  EXPECT_STREQ("storage", s.name);
  EXPECT_STREQ("/opt/plugins/storage", s.path);
  EXPECT_EQ(nullptr, s.in_process);
  ASSERT_EQ(2u, s.args_count);
  EXPECT_STREQ("--flag", s.args[0]);
  EXPECT_STREQ("", s.args[1]);
  ASSERT_EQ(2u, s.env_allow_count);
  EXPECT_STREQ("LANG", s.env_allow[0]);
  EXPECT_STREQ("TZ", s.env_allow[1]);
  ASSERT_EQ(2u, s.env_set_count);  // file order
  EXPECT_STREQ("STORAGE_DIR", s.env_set[0].name);
  EXPECT_STREQ("/var/lib/x", s.env_set[0].value);
  EXPECT_STREQ("B", s.env_set[1].name);
  EXPECT_STREQ("", s.env_set[1].value);
  EXPECT_EQ(MANIFEST_TRANSPORT_TCP, s.transport);
  EXPECT_EQ(7000, s.ready_timeout_ms);
  EXPECT_EQ(MANIFEST_RESTART_ALWAYS, s.restart.policy);
  EXPECT_EQ(3u, s.restart.max_restarts);
  EXPECT_EQ(30000, s.restart.window_ms);
  EXPECT_EQ(50, s.restart.backoff_initial_ms);
  EXPECT_EQ(2000, s.restart.backoff_max_ms);
  ASSERT_EQ(2u, s.provides_count);
  EXPECT_STREQ("storage", s.provides[0].type);
  EXPECT_STREQ("1.2.0-rc.1+b7", s.provides[0].version);
  EXPECT_STREQ("/storage.v1.Storage/", s.provides[0].path);
  EXPECT_STREQ("blob", s.provides[1].type);
  EXPECT_STREQ("2.0.0", s.provides[1].version);
  EXPECT_EQ(nullptr, s.provides[1].path);
  ASSERT_EQ(2u, s.requires_count);
  EXPECT_STREQ("kv.v1.KV", s.requires[0].type);
  EXPECT_STREQ("1.0.0", s.requires[0].min_version);
  EXPECT_TRUE(s.requires[0].required_for_startup);
  EXPECT_TRUE(s.requires[0].watch_for_changes);
  EXPECT_STREQ("logger", s.requires[1].type);
  EXPECT_EQ(nullptr, s.requires[1].min_version);
  EXPECT_FALSE(s.requires[1].required_for_startup);
  EXPECT_FALSE(s.requires[1].watch_for_changes);

  const manifest_plugin &l = m->plugins[1];
  EXPECT_STREQ("logger", l.name);
  EXPECT_EQ(nullptr, l.path);
  EXPECT_STREQ("logger-impl", l.in_process);
  EXPECT_EQ(MANIFEST_RESTART_NEVER, l.restart.policy);
  // The rest of an explicit restart object keeps its defaults.
  EXPECT_EQ(5u, l.restart.max_restarts);

  EXPECT_EQ(&m->plugins[1], cpi_manifest_find(m, "logger"));
  EXPECT_EQ(nullptr, cpi_manifest_find(m, "log"));
  cpi_manifest_free(m);
}

TEST(ManifestTest, DefaultsApplied) {
  manifest *m = nullptr;
  char err[256] = "";
  ASSERT_EQ(0, cpi_manifest_parse_string(
                   Doc(R"({"name": "p", "path": "/bin/p"})").c_str(), nullptr,
                   &m, err, sizeof err))
      << err;
  const manifest_plugin &p = m->plugins[0];
  EXPECT_EQ(0u, p.args_count);
  EXPECT_EQ(0u, p.env_allow_count);
  EXPECT_EQ(0u, p.env_set_count);
  EXPECT_EQ(MANIFEST_TRANSPORT_UNIX, p.transport);
  EXPECT_EQ(5000, p.ready_timeout_ms);
  EXPECT_EQ(MANIFEST_RESTART_ON_FAILURE, p.restart.policy);
  EXPECT_EQ(5u, p.restart.max_restarts);
  EXPECT_EQ(60000, p.restart.window_ms);
  EXPECT_EQ(100, p.restart.backoff_initial_ms);
  EXPECT_EQ(10000, p.restart.backoff_max_ms);
  EXPECT_EQ(0u, p.provides_count);
  EXPECT_EQ(0u, p.requires_count);
  cpi_manifest_free(m);

  // No plugins at all is a valid manifest (they can be added at run time).
  ASSERT_EQ(0, cpi_manifest_parse_string(Doc("").c_str(), nullptr, &m, err,
                                         sizeof err))
      << err;
  EXPECT_EQ(0u, m->plugins_count);
  cpi_manifest_free(m);
}

TEST(ManifestTest, RelativePathsResolveAgainstTheManifestDirectory) {
  TempDir dir;
  std::string file =
      dir.Write("m.json", Doc(R"({"name": "a", "path": "./bin/a"},
                       {"name": "b", "path": "b"},
                       {"name": "c", "path": "../c"},
                       {"name": "d", "path": "/usr/bin/d"})"));
  manifest *m = nullptr;
  char err[256] = "";
  ASSERT_EQ(0, cpi_manifest_load_file(file.c_str(), &m, err, sizeof err))
      << err;
  ASSERT_EQ(4u, m->plugins_count);
  EXPECT_EQ(dir.dir() + "/bin/a", m->plugins[0].path);
  EXPECT_EQ(dir.dir() + "/b", m->plugins[1].path);
  EXPECT_EQ(dir.dir() + "/../c", m->plugins[2].path);
  EXPECT_STREQ("/usr/bin/d", m->plugins[3].path);
  cpi_manifest_free(m);

  // From a string: against the given directory, or refused without one.
  ASSERT_EQ(
      0, cpi_manifest_parse_string(Doc(R"({"name": "a", "path": "a"})").c_str(),
                                   "/srv/m/", &m, err, sizeof err))
      << err;
  EXPECT_STREQ("/srv/m/a", m->plugins[0].path);
  cpi_manifest_free(m);
  EXPECT_EQ(CP_EINVAL, cpi_manifest_parse_string(
                           Doc(R"({"name": "a", "path": "a"})").c_str(),
                           nullptr, &m, err, sizeof err));
  EXPECT_STREQ(
      "<string>: plugins[0].path: relative path \"a\" needs the manifest's "
      "directory (none was given)",
      err);
}

TEST(ManifestTest, SyntaxErrorsNameTheFileLineAndColumn) {
  TempDir dir;
  std::string file = dir.Write("bad.json", R"({
  "version": 1,
  "plugins": [
    {"name": "a", "path": "/a"},
    {"name": "b" "path": "/b"}
  ]
})");
  manifest *m = nullptr;
  char err[256] = "";
  EXPECT_EQ(CP_EINVAL,
            cpi_manifest_load_file(file.c_str(), &m, err, sizeof err));
  EXPECT_EQ(nullptr, m);
  // Line 5: jansson's column is the last character of the token it stopped
  // at ("path", columns 18-23, where ',' or '}' belongs).
  EXPECT_EQ(file + ":5:23: syntax error: '}' expected near '\"path\"'",
            std::string(err));

  // A NUL byte in the file.
  std::string nul =
      dir.Write("nul.json", std::string("{\"version\": 1,\0}", 16));
  EXPECT_EQ(CP_EINVAL,
            cpi_manifest_load_file(nul.c_str(), &m, err, sizeof err));
  EXPECT_EQ(nul + ":1:15: syntax error:",
            std::string(err).substr(0, nul.size() + 20));

  // A key twice in one object is a syntax error, not "last one wins".
  ExpectRefused(R"({"version": 1, "version": 1, "plugins": []})",
                "<string>:1:24: syntax error: duplicate object key");
  // Comments are not JSON.
  ExpectRefused("{\"version\": 1, // one\n \"plugins\": []}",
                "<string>:1:16: syntax error:");
  ExpectRefused(With(R"("args": ["a\u0000b"])"), "syntax error: \\u0000");
  ExpectRefused("", "<string>:1:0: syntax error:");
  // Integers past 64 bits never wrap.
  ExpectRefused(With(R"("ready_timeout_ms": 99999999999999999999)"),
                "syntax error: too big integer");
}

TEST(ManifestTest, MissingFileIsNamed) {
  manifest *m = reinterpret_cast<manifest *>(1);
  char err[256] = "";
  EXPECT_EQ(CP_ESYS, cpi_manifest_load_file("/nonexistent/cplugin/m.json", &m,
                                            err, sizeof err));
  EXPECT_EQ(nullptr, m);
  EXPECT_STREQ(
      "/nonexistent/cplugin/m.json: cannot open: No such file or directory",
      err);
}

TEST(ManifestTest, OversizedFileIsRefused) {
  TempDir dir;
  std::string big = Doc("") + std::string(MANIFEST_FILE_MAX, ' ');
  std::string file = dir.Write("big.json", big);
  manifest *m = nullptr;
  char err[256] = "";
  EXPECT_EQ(CP_EINVAL,
            cpi_manifest_load_file(file.c_str(), &m, err, sizeof err));
  EXPECT_EQ(file + ": larger than 1048576 bytes", std::string(err));
  EXPECT_EQ(CP_EINVAL,
            cpi_manifest_parse_string(big.c_str(), "/", &m, err, sizeof err));
  EXPECT_STREQ("<string>: larger than 1048576 bytes", err);
  // Exactly at the limit is fine.
  big.resize(MANIFEST_FILE_MAX);
  ASSERT_EQ(0, cpi_manifest_parse_string(big.c_str(), "/", &m, err, sizeof err))
      << err;
  cpi_manifest_free(m);
}

TEST(ManifestTest, TopLevelErrors) {
  ExpectRefused(R"({"plugins": []})",
                "<string>: version: required (this host reads version 1)");
  ExpectRefused(R"({"version": 2, "plugins": []})",
                "<string>: version: unsupported (this host reads version 1 "
                "only)");
  ExpectRefused(R"({"version": "1", "plugins": []})", "version: unsupported");
  ExpectRefused(R"({"version": 1})", "<string>: plugins: required");
  ExpectRefused(R"({"version": 1, "plugins": {}})",
                "<string>: plugins: must be an array, not an object");
  ExpectRefused(R"([1])", "<string>: must be an object, not an array");
  ExpectRefused(R"({"version": 1, "plugins": [], "plugin": []})",
                "<string>: unknown key \"plugin\"");
  ExpectRefused(Doc("5"),
                "<string>: plugins[0]: must be an object, not an "
                "integer");
}

TEST(ManifestTest, NameErrors) {
  ExpectRefused(Doc(R"({"path": "/p"})"), "plugins[0].name: required");
  ExpectRefused(Doc(R"({"name": "", "path": "/p"})"),
                "plugins[0].name: cannot be empty");
  ExpectRefused(Doc(R"({"name": 5, "path": "/p"})"),
                "plugins[0].name: must be a string, not an integer");
  ExpectRefused(Doc(R"({"name": "9lives", "path": "/p"})"),
                "plugins[0].name: invalid name \"9lives\"");
  ExpectRefused(Doc(R"({"name": "a/b", "path": "/p"})"),
                "plugins[0].name: invalid name \"a/b\"");
  std::string at_max(MANIFEST_NAME_MAX, 'n');
  ExpectRefused(Doc(R"({"name": ")" + at_max + R"(x", "path": "/p"})"),
                "plugins[0].name: invalid name");
  manifest *m = nullptr;
  char err[256] = "";
  EXPECT_EQ(0,
            cpi_manifest_parse_string(
                Doc(R"({"name": ")" + at_max + R"(", "path": "/p"})").c_str(),
                nullptr, &m, err, sizeof err))
      << err;
  cpi_manifest_free(m);
  ExpectRefused(Doc(R"({"name": "a", "path": "/a"}, {"name": "b", "path": "/b"},
                       {"name": "a", "in_process": "x"})"),
                "<string>: plugins[2].name: \"a\" is already the name of "
                "plugins[0]");
}

TEST(ManifestTest, TargetErrors) {
  ExpectRefused(Doc(R"({"name": "p"})"),
                "plugins[0]: needs \"path\" or \"in_process\"");
  ExpectRefused(Doc(R"({"name": "p", "path": ""})"),
                "plugins[0].path: cannot be empty");
  ExpectRefused(Doc(R"({"name": "p", "path": "/p", "in_process": "p"})"),
                "plugins[0]: has both \"path\" and \"in_process\"");
  ExpectRefused(Doc(R"({"name": "p", "path": null})"),
                "plugins[0].path: must be a string, not null");
  ExpectRefused(Doc(R"({"name": "p", "in_process": "no such"})"),
                "plugins[0].in_process: invalid name \"no such\"");
  for (const char *key : {"args", "env", "transport"}) {
    ExpectRefused(Doc(std::string(R"({"name": "p", "in_process": "p", ")") +
                      key + R"(": null})"),
                  std::string("plugins[0].") + key +
                      ": applies only to a plugin with \"path\"");
  }
  std::string long_path(MANIFEST_PATH_MAX, 'x');
  ExpectRefused(Doc(R"({"name": "p", "path": ")" + long_path + R"("})"),
                "plugins[0].path: longer than 4095 bytes once resolved");
  ExpectRefused(Doc(R"({"name": "p", "path": "/)" + long_path + R"("})"),
                "plugins[0].path: longer than 4095 bytes");
}

TEST(ManifestTest, ArgsErrors) {
  ExpectRefused(With(R"("args": "--flag")"),
                "plugins[0].args: must be an array, not a string");
  ExpectRefused(With(R"("args": ["a", 1])"),
                "plugins[0].args[1]: must be a string, not an integer");
  ExpectRefused(
      With("\"args\": [" + Repeat("\"a\"", MANIFEST_MAX_ARGS + 1) + "]"),
      "plugins[0].args: more than 256 entries");
  ExpectRefused(
      With("\"args\": [\"" + std::string(MANIFEST_STRING_MAX + 1, 'a') + "\"]"),
      "plugins[0].args[0]: longer than 4096 bytes");
}

TEST(ManifestTest, NumberErrors) {
  ExpectRefused(With(R"("ready_timeout_ms": -1)"),
                "plugins[0].ready_timeout_ms: -1 is out of range (1..600000)");
  ExpectRefused(With(R"("ready_timeout_ms": 0)"),
                "plugins[0].ready_timeout_ms: 0 is out of range");
  ExpectRefused(With(R"("ready_timeout_ms": 9223372036854775807)"),
                "9223372036854775807 is out of range (1..600000)");
  ExpectRefused(With(R"("ready_timeout_ms": 5000.0)"),
                "plugins[0].ready_timeout_ms: must be an integer, not a real "
                "number");
  ExpectRefused(With(R"("ready_timeout_ms": "5000")"),
                "plugins[0].ready_timeout_ms: must be an integer, not a "
                "string");
  ExpectRefused(With(R"("restart": {"max_restarts": -1})"),
                "plugins[0].restart.max_restarts: -1 is out of range "
                "(0..1000)");
  ExpectRefused(With(R"("restart": {"window_ms": 0})"),
                "plugins[0].restart.window_ms: 0 is out of range");
  ExpectRefused(With(R"("restart": {"backoff_initial_ms": 500,
                                    "backoff_max_ms": 100})"),
                "plugins[0].restart.backoff_max_ms: 100 is out of range "
                "(500..3600000)");
  ExpectRefused(With(R"("restart": {"backoff_initial_ms": 20000})"),
                "plugins[0].restart: backoff_initial_ms 20000 is above "
                "backoff_max_ms 10000");
}

TEST(ManifestTest, EnumErrors) {
  ExpectRefused(Doc(R"({"name": "a", "path": "/a"},
                       {"name": "b", "path": "/b",
                        "restart": {"policy": "sometimes"}})"),
                "<string>: plugins[1].restart.policy: unknown value "
                "\"sometimes\" (want \"on-failure\", \"always\" or "
                "\"never\")");
  ExpectRefused(With(R"("transport": "udp")"),
                "plugins[0].transport: unknown value \"udp\" (want \"unix\" "
                "or \"tcp\")");
  ExpectRefused(With(R"("restart": "always")"),
                "plugins[0].restart: must be an object, not a string");
}

TEST(ManifestTest, UnknownKeysAreErrors) {
  ExpectRefused(With(R"("restrat": {})"),
                "<string>: plugins[0]: unknown key \"restrat\"");
  ExpectRefused(With(R"("restart": {"polcy": "never"})"),
                "plugins[0].restart: unknown key \"polcy\"");
  ExpectRefused(With(R"("env": {"alow": []})"),
                "plugins[0].env: unknown key \"alow\"");
  ExpectRefused(With(R"("provides": [{"type": "a", "version": "1.0.0",
                                      "vesion": "1"}])"),
                "plugins[0].provides[0]: unknown key \"vesion\"");
  ExpectRefused(With(R"("requires": [{"type": "a", "min_verison": "1.0.0"}])"),
                "plugins[0].requires[0]: unknown key \"min_verison\"");
  // A key that a terminal would interpret is shown escaped.
  ExpectRefused(With(R"("a\n\u001b[2J": 1)"),
                "plugins[0]: unknown key \"a\\u000a\\u001b[2J\"");
}

TEST(ManifestTest, EnvErrors) {
  ExpectRefused(With(R"("env": {"allow": ["1ABC"]})"),
                "plugins[0].env.allow[0]: invalid variable name \"1ABC\"");
  ExpectRefused(With(R"("env": {"allow": ["A=B"]})"),
                "plugins[0].env.allow[0]: invalid variable name \"A=B\"");
  ExpectRefused(With(R"("env": {"allow": [""]})"),
                "plugins[0].env.allow[0]: invalid variable name \"\"");
  ExpectRefused(With(R"("env": {"set": {"A B": "x"}})"),
                "plugins[0].env.set: invalid variable name \"A B\"");
  ExpectRefused(With("\"env\": {\"allow\": [\"" +
                     std::string(MANIFEST_ENV_NAME_MAX + 1, 'A') + "\"]}"),
                "plugins[0].env.allow[0]: invalid variable name");
  ExpectRefused(With(R"("env": {"allow": [7]})"),
                "plugins[0].env.allow[0]: must be a string, not an integer");
  ExpectRefused(With(R"("env": {"set": {"A": 7}})"),
                "plugins[0].env.set.A: must be a string, not an integer");
  ExpectRefused(With(R"("env": {"set": ["A"]})"),
                "plugins[0].env.set: must be an object of name: value");
  ExpectRefused(With("\"env\": {\"set\": {\"A\": \"" +
                     std::string(MANIFEST_STRING_MAX + 1, 'v') + "\"}}"),
                "plugins[0].env.set.A: longer than 4096 bytes");
  ExpectRefused(With(R"("env": {"allow": ["LANG", "LANG"]})"),
                "plugins[0].env.allow[1]: \"LANG\" appears twice in env");
  ExpectRefused(With(R"("env": {"allow": ["LANG"], "set": {"LANG": "C"}})"),
                "plugins[0].env.set: \"LANG\" appears twice in env");
  ExpectRefused(With("\"env\": {\"allow\": [" +
                     Repeat("\"A\"", MANIFEST_MAX_ENV + 1) + "]}"),
                "plugins[0].env.allow: more than 256 entries");
  std::string set;
  for (int i = 0; i < 100; i++) {
    set += (i > 0 ? ",\"S" : "\"S") + std::to_string(i) + "\": \"\"";
  }
  std::string allow;
  for (int i = 0; i < 157; i++) {
    allow += (i > 0 ? ",\"A" : "\"A") + std::to_string(i) + "\"";
  }
  ExpectRefused(
      With("\"env\": {\"allow\": [" + allow + "], \"set\": {" + set + "}}"),
      "plugins[0].env: more than 256 variables");
}

TEST(ManifestTest, ReservedEnvNamesAreRefused) {
  for (const char *name :
       {"HOST_URL", "CPLUGIN_HOST_URL", "CPLUGIN_LAUNCH_SECRET",
        "CPLUGIN_LISTEN", "CPLUGIN_LAUNCH_ANYTHING"}) {
    EXPECT_TRUE(cpi_manifest_env_reserved(name)) << name;
    std::string q = std::string("\"") + name + "\"";
    ExpectRefused(With("\"env\": {\"allow\": [" + q + "]}"),
                  "plugins[0].env.allow[0]: " + q +
                      " is reserved for the "
                      "host");
    ExpectRefused(With("\"env\": {\"set\": {" + q + ": \"x\"}}"),
                  "plugins[0].env.set: " + q + " is reserved for the host");
  }
  // The runtime's other variables are the user's to pass.
  for (const char *name : {"CPLUGIN_LOG_LEVEL", "CPLUGIN_LOG_FORMAT",
                           "CONNECTPLUGIN_DISABLE_TLS_WARNING", "HOST"}) {
    EXPECT_FALSE(cpi_manifest_env_reserved(name)) << name;
  }
}

TEST(ManifestTest, ServiceErrors) {
  ExpectRefused(With(R"("provides": [{"version": "1.0.0"}])"),
                "plugins[0].provides[0].type: required");
  ExpectRefused(With(R"("provides": [{"type": "a/b", "version": "1.0.0"}])"),
                "plugins[0].provides[0].type: contains invalid characters");
  ExpectRefused(With(R"("provides": [{"type": "a"}])"),
                "plugins[0].provides[0].version: required");
  ExpectRefused(With(R"("provides": [{"type": "a", "version": "1.0"}])"),
                "plugins[0].provides[0].version: \"1.0\" is not a semantic "
                "version");
  ExpectRefused(With(R"("provides": [{"type": "a", "version": "v1.0.0"}])"),
                "plugins[0].provides[0].version: \"v1.0.0\" is not a semantic "
                "version");
  ExpectRefused(With(R"("provides": [{"type": "a", "version": "1.0.0",
                                      "path": "/connectplugin.v1.X/"}])"),
                "plugins[0].provides[0].path:");
  ExpectRefused(With(R"("provides": [{"type": "a", "version": "1.0.0"},
                                     {"type": "a", "version": "2.0.0"}])"),
                "plugins[0].provides[1].type: \"a\" is listed twice");
  ExpectRefused(With(R"("requires": [{"type": "a", "min_version": "1.0.0-"}])"),
                "plugins[0].requires[0].min_version: \"1.0.0-\" is not a "
                "semantic version");
  ExpectRefused(With(R"("requires": [{"type": "a"}, {"type": "a"}])"),
                "plugins[0].requires[1].type: \"a\" is listed twice");
  ExpectRefused(With(R"("requires": [{"type": "a",
                                      "required_for_startup": "yes"}])"),
                "plugins[0].requires[0].required_for_startup: must be true or "
                "false, not a string");
  ExpectRefused(
      With("\"requires\": [" +
           Repeat("{\"type\": \"a\"}", MANIFEST_MAX_SERVICES + 1) + "]"),
      "plugins[0].requires: more than 64 entries");
  ExpectRefused(With("\"provides\": [{\"type\": \"a\", \"version\": \"1.0.0-" +
                     std::string(64, 'x') + "\"}]"),
                "plugins[0].provides[0].version: \"1.0.0-xxx");
}

TEST(ManifestTest, TooManyPlugins) {
  std::string plugins;
  for (int i = 0; i <= MANIFEST_MAX_PLUGINS; i++) {
    plugins += (i > 0 ? "," : "") + std::string("{\"name\": \"p") +
               std::to_string(i) + "\", \"path\": \"/p\"}";
  }
  ExpectRefused(Doc(plugins), "<string>: plugins: more than 256 entries");
}

TEST(ManifestTest, ErrorBufferIsNeverOverrun) {
  manifest *m = nullptr;
  char err[9];
  memset(err, 'z', sizeof err);
  EXPECT_EQ(CP_EINVAL, cpi_manifest_parse_string(
                           With(R"("restrat": 1)").c_str(), "/", &m, err, 8));
  EXPECT_STREQ("<string", err);
  EXPECT_EQ('z', err[8]);
  EXPECT_EQ(CP_EINVAL, cpi_manifest_parse_string("{", "/", &m, nullptr, 0));
  EXPECT_EQ(CP_ESYS, cpi_manifest_load_file("/nonexistent", &m, nullptr, 0));
  EXPECT_EQ(nullptr, m);
}

TEST(ManifestTest, UrlShortenerManifestParses) {
  const char *path =
      test_program_path("CPLUGIN_URLSHORTENER_MANIFEST", URLSHORTENER_MANIFEST);
  manifest *m = nullptr;
  char err[512] = "";
  ASSERT_EQ(0, cpi_manifest_load_file(path, &m, err, sizeof err)) << err;
  ASSERT_EQ(3u, m->plugins_count);
  const char *names[] = {"logger", "storage", "api"};
  for (size_t i = 0; i < 3; i++) {
    const manifest_plugin &p = m->plugins[i];
    EXPECT_STREQ(names[i], p.name);
    ASSERT_NE(nullptr, p.path);
    EXPECT_EQ('/', p.path[0]) << p.path;
    std::string binary = std::string("/") + names[i] + "-plugin";
    EXPECT_EQ(binary,
              std::string(p.path).substr(strlen(p.path) - binary.size()));
    ASSERT_EQ(1u, p.provides_count);
    EXPECT_STREQ(names[i], p.provides[0].type);
  }
  EXPECT_EQ(0u, m->plugins[0].requires_count);
  ASSERT_EQ(1u, m->plugins[1].requires_count);
  EXPECT_STREQ("logger", m->plugins[1].requires[0].type);
  ASSERT_EQ(1u, m->plugins[2].requires_count);
  EXPECT_STREQ("storage", m->plugins[2].requires[0].type);
  EXPECT_TRUE(m->plugins[2].requires[0].required_for_startup);
  cpi_manifest_free(m);
}

}  // namespace
