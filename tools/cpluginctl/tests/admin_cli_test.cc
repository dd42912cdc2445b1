// Argument parsing of the admin commands (admin_cli.h): each command's
// shape, defaults, the key from the environment, and every rejection.
#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "admin_cli.h"
#include "cli.h"
}

namespace {

const char kKey[] = "0123456789abcdef-key";

struct Parsed {
  int rc;
  ctl_admin_args a;
  std::string err;
};

// Parses {args...}; the strings live in `keep` for the struct's pointers.
Parsed Parse(std::vector<std::string> &keep, const char *env_key = nullptr) {
  std::vector<char *> argv;
  for (auto &s : keep) {
    argv.push_back(&s[0]);
  }
  argv.push_back(nullptr);
  Parsed p;
  char err[256] = "";
  p.rc = ctl_parse_admin(static_cast<int>(keep.size()), argv.data(), env_key,
                         &p.a, err, sizeof err);
  p.err = err;
  return p;
}

TEST(AdminCli, StatusDefaults) {
  std::vector<std::string> v = {"status", "--host", "127.0.0.1:80", "--api-key",
                                kKey};
  Parsed p = Parse(v);
  ASSERT_EQ(CTL_PARSE_OK, p.rc) << p.err;
  EXPECT_EQ(CTL_ADMIN_STATUS, p.a.cmd);
  EXPECT_STREQ("127.0.0.1:80", p.a.host);
  EXPECT_STREQ(kKey, p.a.api_key);
  EXPECT_EQ(CTL_ADMIN_READ_TIMEOUT_MS, p.a.timeout_ms);
}

TEST(AdminCli, KeyFromEnvironmentUnlessGiven) {
  std::vector<std::string> v = {"status", "--host=unix:/tmp/h.sock"};
  Parsed p = Parse(v, "env-key-0123456789");
  ASSERT_EQ(CTL_PARSE_OK, p.rc) << p.err;
  EXPECT_STREQ("env-key-0123456789", p.a.api_key);
  std::vector<std::string> w = {"status", "--host=unix:/tmp/h.sock",
                                "--api-key", kKey};
  p = Parse(w, "env-key-0123456789");
  ASSERT_EQ(CTL_PARSE_OK, p.rc) << p.err;
  EXPECT_STREQ(kKey, p.a.api_key);
  std::vector<std::string> x = {"status", "--host=unix:/tmp/h.sock"};
  p = Parse(x, "");
  EXPECT_EQ(CTL_PARSE_USAGE, p.rc);
  EXPECT_NE(std::string::npos, p.err.find("--api-key"));
}

TEST(AdminCli, PluginCommands) {
  const struct {
    const char *word;
    ctl_admin_cmd cmd;
  } cases[] = {{"add", CTL_ADMIN_PLUGIN_ADD},
               {"remove", CTL_ADMIN_PLUGIN_REMOVE},
               {"replace", CTL_ADMIN_PLUGIN_REPLACE},
               {"restart", CTL_ADMIN_PLUGIN_RESTART}};
  for (const auto &c : cases) {
    std::vector<std::string> v = {"plugins", c.word,        "storage",
                                  "--host",  "localhost:9", "--api-key",
                                  kKey};
    Parsed p = Parse(v);
    ASSERT_EQ(CTL_PARSE_OK, p.rc) << c.word << ": " << p.err;
    EXPECT_EQ(c.cmd, p.a.cmd);
    EXPECT_STREQ("storage", p.a.name);
    EXPECT_EQ(nullptr, p.a.path);
    EXPECT_EQ(CTL_ADMIN_CHANGE_TIMEOUT_MS, p.a.timeout_ms);
  }
  std::vector<std::string> v = {
      "plugins", "replace",   "--path", "/bin/new",     "--host", "[::1]:9",
      "storage", "--api-key", kKey,     "--timeout-ms", "5000"};
  Parsed p = Parse(v);
  ASSERT_EQ(CTL_PARSE_OK, p.rc) << p.err;
  EXPECT_STREQ("/bin/new", p.a.path);
  EXPECT_STREQ("storage", p.a.name);
  EXPECT_EQ(5000u, p.a.timeout_ms);
}

// add --entry FILE: a plugin the manifest does not list.
TEST(AdminCli, AddWithAnEntry) {
  std::vector<std::string> v = {
      "plugins", "add",          "audit",     "--entry", "/tmp/audit.json",
      "--host",  "127.0.0.1:80", "--api-key", kKey};
  Parsed p = Parse(v);
  ASSERT_EQ(CTL_PARSE_OK, p.rc) << p.err;
  EXPECT_EQ(CTL_ADMIN_PLUGIN_ADD, p.a.cmd);
  EXPECT_STREQ("audit", p.a.name);
  EXPECT_STREQ("/tmp/audit.json", p.a.entry);
  EXPECT_EQ(nullptr, p.a.path);
  EXPECT_EQ(CTL_ADMIN_CHANGE_TIMEOUT_MS, p.a.timeout_ms);
  std::vector<std::string> w = {"plugins",      "add",       "audit", "--host",
                                "127.0.0.1:80", "--api-key", kKey};
  p = Parse(w);
  ASSERT_EQ(CTL_PARSE_OK, p.rc) << p.err;
  EXPECT_EQ(nullptr, p.a.entry);
}

TEST(AdminCli, RegistryAndWatch) {
  std::vector<std::string> v = {"registry",    "list",      "--host",
                                "127.0.0.1:9", "--api-key", kKey};
  Parsed p = Parse(v);
  ASSERT_EQ(CTL_PARSE_OK, p.rc) << p.err;
  EXPECT_EQ(CTL_ADMIN_REGISTRY_LIST, p.a.cmd);
  EXPECT_EQ(nullptr, p.a.type);
  std::vector<std::string> w = {"registry",    "list",      "storage", "--host",
                                "127.0.0.1:9", "--api-key", kKey};
  p = Parse(w);
  ASSERT_EQ(CTL_PARSE_OK, p.rc) << p.err;
  EXPECT_STREQ("storage", p.a.type);
  std::vector<std::string> x = {"watch",  "logger",      "--count",   "3",
                                "--host", "127.0.0.1:9", "--api-key", kKey};
  p = Parse(x);
  ASSERT_EQ(CTL_PARSE_OK, p.rc) << p.err;
  EXPECT_EQ(CTL_ADMIN_WATCH, p.a.cmd);
  EXPECT_STREQ("logger", p.a.type);
  EXPECT_EQ(3u, p.a.count);
  EXPECT_EQ(0u, p.a.timeout_ms);  // a watch has no deadline by default
}

TEST(AdminCli, Limits) {
  std::vector<std::string> v = {"limits", "--host", "127.0.0.1:9", "--api-key",
                                kKey};
  Parsed p = Parse(v);
  ASSERT_EQ(CTL_PARSE_OK, p.rc) << p.err;
  EXPECT_EQ(CTL_ADMIN_LIMITS, p.a.cmd);
  EXPECT_EQ(CTL_ADMIN_READ_TIMEOUT_MS, p.a.timeout_ms);
  EXPECT_NE(nullptr, ctl_admin_usage("limits"));
}

TEST(AdminCli, Help) {
  std::vector<std::string> v = {"plugins", "--help"};
  EXPECT_EQ(CTL_PARSE_HELP, Parse(v).rc);
  std::vector<std::string> w = {"status", "-h"};
  EXPECT_EQ(CTL_PARSE_HELP, Parse(w).rc);
  EXPECT_NE(nullptr, ctl_admin_usage("watch"));
  EXPECT_EQ(nullptr, ctl_admin_usage("load"));
}

TEST(AdminCli, Rejections) {
  const std::vector<std::vector<std::string>> bad = {
      {"status", "--api-key", kKey},                           // no host
      {"status", "--host", "10.0.0.1:80", "--api-key", kKey},  // not loopback
      {"status", "--host", "127.0.0.1:80", "--api-key", kKey, "extra"},
      {"status", "--host", "127.0.0.1:80", "--api-key", kKey, "--path", "x"},
      {"status", "--host", "127.0.0.1:80", "--api-key", ""},
      {"status", "--host", "127.0.0.1:80", "--api-key", kKey, "--timeout-ms",
       "0"},
      {"status", "--host"},
      {"plugins", "--host", "127.0.0.1:80", "--api-key", kKey},
      {"plugins", "start", "x", "--host", "127.0.0.1:80", "--api-key", kKey},
      {"plugins", "remove", "--host", "127.0.0.1:80", "--api-key", kKey},
      {"plugins", "remove", "a", "b", "--host", "127.0.0.1:80", "--api-key",
       kKey},
      {"plugins", "remove", "a", "--path", "/x", "--host", "127.0.0.1:80",
       "--api-key", kKey},
      {"plugins", "restart", "a b", "--host", "127.0.0.1:80", "--api-key",
       kKey},
      {"plugins", "add", "a", "--entry", "/e.json", "--path", "/x", "--host",
       "127.0.0.1:80", "--api-key", kKey},
      {"plugins", "add", "a", "--entry", "", "--host", "127.0.0.1:80",
       "--api-key", kKey},
      {"plugins", "replace", "a", "--entry", "/e.json", "--host",
       "127.0.0.1:80", "--api-key", kKey},
      {"registry", "show", "--host", "127.0.0.1:80", "--api-key", kKey},
      {"registry", "list", "a", "b", "--host", "127.0.0.1:80", "--api-key",
       kKey},
      {"watch", "--host", "127.0.0.1:80", "--api-key", kKey},
      {"limits", "extra", "--host", "127.0.0.1:80", "--api-key", kKey},
      {"limits", "--count", "1", "--host", "127.0.0.1:80", "--api-key", kKey},
      {"watch", "t", "--count", "0", "--host", "127.0.0.1:80", "--api-key",
       kKey},
      {"watch", "t", "--count", "x", "--host", "127.0.0.1:80", "--api-key",
       kKey},
  };
  for (auto v : bad) {
    Parsed p = Parse(v);
    std::string joined;
    for (auto &s : v) {
      joined += s + " ";
    }
    EXPECT_EQ(CTL_PARSE_USAGE, p.rc) << joined;
    EXPECT_FALSE(p.err.empty()) << joined;
  }
}

}  // namespace
