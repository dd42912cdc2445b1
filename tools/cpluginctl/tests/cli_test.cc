// Argument parsing of every subcommand: defaults, accepted forms, and every
// rejection (each must be a usage error with a reason).
#include <gtest/gtest.h>

#include <list>
#include <string>
#include <vector>

extern "C" {
#include "cli.h"
}

namespace {

// argv for a subcommand: {name, args...}.
class Argv {
 public:
  Argv(const char *cmd, const std::vector<const char *> &args) {
    strings_.push_back(cmd);
    for (const char *a : args) {
      strings_.push_back(a);
    }
    for (auto &s : strings_) {
      ptrs_.push_back(&s[0]);
    }
    ptrs_.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(ptrs_.size()) - 1; }
  char **argv() { return ptrs_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char *> ptrs_;
};

// The parsed structs point into argv, as they do into main's: keep every
// argv of the test program alive until it exits.
Argv &Keep(const char *cmd, const std::vector<const char *> &args) {
  static std::list<Argv> kept;
  kept.emplace_back(cmd, args);
  return kept.back();
}

int Load(std::vector<const char *> args, ctl_load_args *out,
         std::string *err = nullptr) {
  Argv &a = Keep("load", args);
  char buf[512] = "";
  int rc = ctl_parse_load(a.argc(), a.argv(), out, buf, sizeof buf);
  if (err != nullptr) {
    *err = buf;
  }
  return rc;
}

int Serve(std::vector<const char *> args, ctl_serve_args *out,
          std::string *err = nullptr) {
  Argv &a = Keep("serve", args);
  char buf[512] = "";
  int rc = ctl_parse_serve(a.argc(), a.argv(), out, buf, sizeof buf);
  if (err != nullptr) {
    *err = buf;
  }
  return rc;
}

int Handshake(std::vector<const char *> args, ctl_handshake_args *out) {
  Argv &a = Keep("handshake", args);
  char buf[512] = "";
  return ctl_parse_handshake(a.argc(), a.argv(), out, buf, sizeof buf);
}

int Provider(std::vector<const char *> args, ctl_provider_args *out) {
  Argv &a = Keep("provider", args);
  char buf[512] = "";
  return ctl_parse_provider(a.argc(), a.argv(), out, buf, sizeof buf);
}

TEST(LoopbackTest, AcceptsOnlyLoopback) {
  for (const char *ok : {"127.0.0.1:80", "[::1]:443", "localhost:65535",
                         "unix:/tmp/x.sock", "unix:rel"}) {
    EXPECT_TRUE(ctl_loopback_address(ok, false)) << ok;
  }
  EXPECT_TRUE(ctl_loopback_address("127.0.0.1:0", true));
  for (const char *bad :
       {"127.0.0.1:0", "0.0.0.0:80", "10.0.0.1:80", "[::]:80", "example.com:80",
        "127.0.0.2:80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
        "127.0.0.1:-1", "127.0.0.1:8o", "127.0.0.1:000080", "localhost",
        "unix:", "http://127.0.0.1:80", "", " 127.0.0.1:80"}) {
    EXPECT_FALSE(ctl_loopback_address(bad, false)) << bad;
  }
  EXPECT_FALSE(ctl_loopback_address(nullptr, true));
}

TEST(ServeArgsTest, Defaults) {
  ctl_serve_args a;
  ASSERT_EQ(CTL_PARSE_OK, Serve({}, &a));
  EXPECT_STREQ("127.0.0.1:0", a.listen);
  EXPECT_TRUE(a.chain);
  EXPECT_EQ(CTL_MAX_LIMIT, a.rate);
  EXPECT_EQ(CTL_MAX_LIMIT, a.burst);
  EXPECT_EQ(1000u, a.handshake_rate);
  EXPECT_EQ(1000u, a.handshake_burst);  // the rate
  EXPECT_EQ(0u, a.threads);
  EXPECT_EQ(0u, a.busy_poll_us);
  EXPECT_EQ(0, a.metrics_port);
  EXPECT_EQ(nullptr, a.provider_type);
  EXPECT_EQ(0u, a.max_watchers);  // the host's default
}

TEST(ServeArgsTest, AllOptions) {
  ctl_serve_args a;
  ASSERT_EQ(CTL_PARSE_OK,
            Serve({"--listen", "[::1]:0", "--chain", "off", "--rate=100000000",
                   "--burst", "5", "--threads", "2", "--metrics-port", "off",
                   "--provider-type", "load", "--handshake-rate", "7",
                   "--busy-poll-us", "10000", "--max-watchers", "5064"},
                  &a));
  EXPECT_STREQ("[::1]:0", a.listen);
  EXPECT_FALSE(a.chain);
  EXPECT_EQ(100000000u, a.rate);
  EXPECT_EQ(5u, a.burst);
  EXPECT_EQ(2u, a.threads);
  EXPECT_EQ(-1, a.metrics_port);
  EXPECT_STREQ("load", a.provider_type);
  EXPECT_EQ(7u, a.handshake_rate);
  EXPECT_EQ(10000u, a.busy_poll_us);
  EXPECT_EQ(5064u, a.max_watchers);
}

TEST(ServeArgsTest, BurstDefaultsToTheRate) {
  ctl_serve_args a;
  ASSERT_EQ(CTL_PARSE_OK, Serve({"--rate", "25"}, &a));
  EXPECT_EQ(25u, a.burst);
  ASSERT_EQ(CTL_PARSE_OK, Serve({"--handshake-rate", "10"}, &a));
  EXPECT_EQ(10u, a.handshake_burst);
  ASSERT_EQ(CTL_PARSE_OK,
            Serve({"--handshake-rate", "10", "--handshake-burst", "20"}, &a));
  EXPECT_EQ(10u, a.handshake_rate);
  EXPECT_EQ(20u, a.handshake_burst);
}

TEST(ServeArgsTest, Rejections) {
  std::vector<std::vector<const char *>> bad = {
      {"--listen", "0.0.0.0:0"},
      {"--listen", "192.168.1.1:80"},
      {"--chain", "maybe"},
      {"--rate", "0"},
      {"--rate", "-1"},
      {"--rate", "abc"},
      {"--rate", "1.5"},
      {"--rate", "1000000001"},
      {"--burst", "0"},
      {"--handshake-rate", "0"},
      {"--handshake-burst", "0"},
      {"--tls-cert", "/c.pem"},  // without its key
      {"--tls-key", "/k.pem"},
      {"--tls-cert", "", "--tls-key", "/k.pem"},
      {"--threads", "0"},
      {"--threads", "x"},
      {"--busy-poll-us", "10001"},
      {"--busy-poll-us", "-1"},
      {"--max-watchers", "0"},
      {"--max-watchers", "1000001"},
      {"--metrics-port", "65536"},
      {"--metrics-port", "on"},
      {"--provider-type", "no spaces"},
      {"--provider-type", ""},
      {"--unknown"},
      {"--rate"},
      {"positional"},
      {"-x"},
  };
  for (auto &args : bad) {
    ctl_serve_args a;
    std::string err;
    EXPECT_EQ(CTL_PARSE_USAGE, Serve(args, &a, &err)) << *args.begin();
    EXPECT_FALSE(err.empty());
  }
}

TEST(ServeArgsTest, Help) {
  ctl_serve_args a;
  EXPECT_EQ(CTL_PARSE_HELP, Serve({"--help"}, &a));
  EXPECT_EQ(CTL_PARSE_HELP, Serve({"-h"}, &a));
}

TEST(HandshakeArgsTest, ParsesAndRejects) {
  ctl_handshake_args a;
  ASSERT_EQ(CTL_PARSE_OK, Handshake({"--target", "127.0.0.1:5000"}, &a));
  EXPECT_STREQ("127.0.0.1:5000", a.target);
  EXPECT_STREQ("cpluginctl", a.id);
  ASSERT_EQ(CTL_PARSE_OK,
            Handshake({"--target", "localhost:1", "--id", "compare"}, &a));
  EXPECT_STREQ("compare", a.id);
  EXPECT_EQ(CTL_PARSE_USAGE, Handshake({}, &a));
  EXPECT_EQ(CTL_PARSE_USAGE, Handshake({"--target", "10.1.1.1:80"}, &a));
  EXPECT_EQ(CTL_PARSE_USAGE, Handshake({"--target", "127.0.0.1:0"}, &a));
  EXPECT_EQ(CTL_PARSE_USAGE,
            Handshake({"--target", "127.0.0.1:1", "--id", "a b"}, &a));
  EXPECT_EQ(CTL_PARSE_USAGE,
            Handshake({"--target", "127.0.0.1:1", "--id", "-x"}, &a));
  EXPECT_EQ(CTL_PARSE_USAGE,
            Handshake({"--target", "127.0.0.1:1", "--rate", "5"}, &a));
}

int Middle(std::vector<const char *> args, ctl_middle_args *out,
           std::string *err = nullptr) {
  Argv &a = Keep("middle", args);
  char buf[512] = "";
  int rc = ctl_parse_middle(a.argc(), a.argv(), out, buf, sizeof buf);
  if (err != nullptr) {
    *err = buf;
  }
  return rc;
}

TEST(ProviderArgsTest, ParsesAndRejects) {
  ctl_provider_args a;
  ASSERT_EQ(CTL_PARSE_OK, Provider({"--host", "127.0.0.1:5000"}, &a));
  EXPECT_STREQ("load", a.type);
  EXPECT_STREQ("load-provider", a.id);
  EXPECT_STREQ("127.0.0.1:0", a.listen);
  ASSERT_EQ(CTL_PARSE_OK,
            Provider({"--host", "unix:/tmp/h", "--type", "echo", "--id", "p1",
                      "--listen", "localhost:0", "--threads", "1"},
                     &a));
  EXPECT_STREQ("echo", a.type);
  EXPECT_EQ(0u, a.delay_ms);
  ASSERT_EQ(CTL_PARSE_OK,
            Provider({"--host", "127.0.0.1:1", "--delay-ms", "50"}, &a));
  EXPECT_EQ(50u, a.delay_ms);
  ASSERT_EQ(CTL_PARSE_OK,
            Provider({"--host", "127.0.0.1:1", "--delay-ms", "0"}, &a));
  EXPECT_EQ(0u, a.delay_ms);
  EXPECT_EQ(CTL_PARSE_USAGE,
            Provider({"--host", "127.0.0.1:1", "--delay-ms", "60001"}, &a));
  EXPECT_EQ(CTL_PARSE_USAGE,
            Provider({"--host", "127.0.0.1:1", "--delay-ms", "-1"}, &a));
  EXPECT_EQ(CTL_PARSE_USAGE, Provider({}, &a));
  EXPECT_EQ(CTL_PARSE_USAGE, Provider({"--host", "8.8.8.8:53"}, &a));
  EXPECT_EQ(CTL_PARSE_USAGE,
            Provider({"--host", "127.0.0.1:1", "--listen", "0.0.0.0:0"}, &a));
  EXPECT_EQ(CTL_PARSE_USAGE,
            Provider({"--host", "127.0.0.1:1", "--type", "a/b"}, &a));
  EXPECT_EQ(CTL_PARSE_USAGE,
            Provider({"--host", "127.0.0.1:1", "--threads", "0"}, &a));
}

TEST(MiddleArgsTest, Defaults) {
  ctl_middle_args a;
  ASSERT_EQ(CTL_PARSE_OK, Middle({"--host", "127.0.0.1:5000"}, &a));
  EXPECT_STREQ("fanout", a.type);
  EXPECT_STREQ("delayed", a.calls);
  EXPECT_STREQ("load-middle", a.id);
  EXPECT_STREQ("127.0.0.1:0", a.listen);
  EXPECT_EQ(2u, a.threads);
  EXPECT_EQ(CTL_MIDDLE_DEFERRED, a.style);
  EXPECT_EQ(16u, a.pool_threads);
}

TEST(MiddleArgsTest, EveryStyle) {
  ctl_middle_args a;
  for (auto st : {CTL_MIDDLE_DEFERRED, CTL_MIDDLE_POOL, CTL_MIDDLE_BLOCKING}) {
    ASSERT_EQ(CTL_PARSE_OK, Middle({"--host", "127.0.0.1:1", "--style",
                                    ctl_middle_style_name(st)},
                                   &a));
    EXPECT_EQ(st, a.style);
  }
  ASSERT_EQ(CTL_PARSE_OK,
            Middle({"--host", "127.0.0.1:1", "--style", "pool",
                    "--pool-threads", "1024", "--threads", "1", "--type", "m",
                    "--calls", "p", "--id", "mid", "--listen", "unix:/tmp/m"},
                   &a));
  EXPECT_EQ(1024u, a.pool_threads);
  EXPECT_EQ(1u, a.threads);
  EXPECT_STREQ("m", a.type);
  EXPECT_STREQ("p", a.calls);
  EXPECT_STREQ("mid", a.id);
}

TEST(MiddleArgsTest, Rejections) {
  std::vector<std::vector<const char *>> bad = {
      {},  // no host
      {"--host", "8.8.8.8:53"},
      {"--host", "127.0.0.1:1", "--style", "async"},
      {"--host", "127.0.0.1:1", "--pool-threads", "4"},  // not pool
      {"--host", "127.0.0.1:1", "--style", "deferred", "--pool-threads", "4"},
      {"--host", "127.0.0.1:1", "--style", "pool", "--pool-threads", "0"},
      {"--host", "127.0.0.1:1", "--style", "pool", "--pool-threads", "1025"},
      {"--host", "127.0.0.1:1", "--threads", "0"},
      {"--host", "127.0.0.1:1", "--type", "x", "--calls", "x"},  // itself
      {"--host", "127.0.0.1:1", "--calls", "a/b"},
      {"--host", "127.0.0.1:1", "--listen", "0.0.0.0:0"},
      {"--host", "127.0.0.1:1", "--bogus", "1"},
  };
  for (auto &args : bad) {
    ctl_middle_args a;
    std::string err;
    std::string joined;
    for (const char *s : args) {
      joined += std::string(s) + " ";
    }
    EXPECT_EQ(CTL_PARSE_USAGE, Middle(args, &a, &err)) << joined;
    EXPECT_FALSE(err.empty()) << joined;
  }
}

TEST(LoadArgsTest, Fanout) {
  ctl_load_args a;
  ASSERT_EQ(CTL_PARSE_OK, Load({"--preset", "fanout"}, &a));
  EXPECT_EQ(CTL_PRESET_FANOUT, a.preset);
  EXPECT_FALSE(a.has_middle);
  EXPECT_FALSE(a.has_concurrency);
  EXPECT_FALSE(a.has_timeout);
  ASSERT_EQ(CTL_PARSE_OK, Load({"--preset", "fanout", "--middle", "pool",
                                "--pool-threads", "32", "--middle-threads", "4",
                                "--delay-ms", "20", "--concurrency", "64",
                                "--duration", "2", "--timeout-ms", "5000"},
                               &a));
  EXPECT_TRUE(a.has_middle);
  EXPECT_EQ(CTL_MIDDLE_POOL, a.middle);
  EXPECT_EQ(32u, a.pool_threads);
  EXPECT_EQ(4u, a.middle_threads);
  EXPECT_EQ(20u, a.delay_ms);
  EXPECT_EQ(64u, a.concurrency);
  EXPECT_TRUE(a.has_timeout);
  ASSERT_EQ(CTL_PARSE_OK,
            Load({"--preset", "fanout", "--middle", "blocking"}, &a));
  EXPECT_EQ(CTL_MIDDLE_BLOCKING, a.middle);
}

TEST(LoadArgsTest, Defaults) {
  ctl_load_args a;
  ASSERT_EQ(CTL_PARSE_OK, Load({"--preset", "steady"}, &a));
  EXPECT_EQ(CTL_PRESET_STEADY, a.preset);
  EXPECT_EQ(nullptr, a.target);
  EXPECT_FALSE(a.has_rate);
  EXPECT_TRUE(a.chain);
  EXPECT_EQ(5000000u, a.max_requests);
  EXPECT_EQ(10000u, a.max_inflight);
  EXPECT_EQ(32u, a.payload_bytes);
  EXPECT_EQ(10000u, a.timeout_ms);
  EXPECT_EQ(nullptr, a.json_path);
}

TEST(LoadArgsTest, EveryPresetByName) {
  ctl_load_args a;
  for (auto p :
       {CTL_PRESET_STEADY, CTL_PRESET_BURST, CTL_PRESET_RATELIMIT,
        CTL_PRESET_ROUTED, CTL_PRESET_FANOUT, CTL_PRESET_BIDI,
        CTL_PRESET_HANDSHAKE_FLOOD, CTL_PRESET_BURST_TLS, CTL_PRESET_FLEET}) {
    ASSERT_EQ(CTL_PARSE_OK, Load({"--preset", ctl_preset_name(p)}, &a));
    EXPECT_EQ(p, a.preset);
  }
  EXPECT_STREQ("custom", ctl_preset_name(CTL_PRESET_NONE));
}

TEST(LoadArgsTest, CustomRuns) {
  ctl_load_args a;
  ASSERT_EQ(CTL_PARSE_OK,
            Load({"--rate", "2.5", "--plugins", "3", "--duration", "0.5",
                  "--target", "127.0.0.1:9", "--json", "/tmp/x.json"},
                 &a));
  EXPECT_TRUE(a.has_rate);
  EXPECT_DOUBLE_EQ(2.5, a.rate);
  EXPECT_EQ(3u, a.plugins);
  EXPECT_DOUBLE_EQ(0.5, a.duration_s);
  EXPECT_STREQ("/tmp/x.json", a.json_path);
  ASSERT_EQ(CTL_PARSE_OK, Load({"--concurrency", "8"}, &a));
  EXPECT_EQ(8u, a.concurrency);
  ASSERT_EQ(CTL_PARSE_OK, Load({"--requests", "50", "--chain", "off"}, &a));
  EXPECT_EQ(50u, a.requests);
  EXPECT_FALSE(a.chain);
  ASSERT_EQ(CTL_PARSE_OK, Load({"--preset", "routed", "--target", "127.0.0.1:1",
                                "--provider", "127.0.0.1:2"},
                               &a));
  ASSERT_EQ(
      CTL_PARSE_OK,
      Load({"--preset", "bidi", "--streams", "2", "--duration", "2"}, &a));
  EXPECT_EQ(CTL_PRESET_BIDI, a.preset);
  EXPECT_TRUE(a.has_streams);
  EXPECT_EQ(2u, a.streams);
  ASSERT_EQ(CTL_PARSE_OK,
            Load({"--preset", "bidi", "--streams", "64", "--target",
                  "127.0.0.1:1", "--provider", "127.0.0.1:2"},
                 &a));
  ASSERT_EQ(CTL_PARSE_OK,
            Load({"--preset", "fleet", "--plugins", "10000", "--ramp", "0.5",
                  "--duration", "2", "--rate", "20"},
                 &a));
  EXPECT_EQ(CTL_PRESET_FLEET, a.preset);
  EXPECT_TRUE(a.has_ramp);
  EXPECT_DOUBLE_EQ(0.5, a.ramp_s);
  EXPECT_EQ(10000u, a.plugins);
  ASSERT_EQ(
      CTL_PARSE_OK,
      Load({"--preset", "burst", "--rate", "500", "--duration", "3",
            "--serve-threads", "2", "--payload", "0", "--timeout-ms", "60000",
            "--max-inflight", "1000000", "--max-requests", "100000000"},
           &a));
}

TEST(LoadArgsTest, Rejections) {
  std::vector<std::vector<const char *>> bad = {
      {},                                      // no mode, no preset
      {"--rate", "10", "--concurrency", "2"},  // two modes
      {"--rate", "10", "--requests", "2"},
      {"--requests", "10", "--duration", "5"},
      {"--preset", "nope"},
      {"--preset", "steady", "--concurrency", "4"},
      {"--preset", "burst", "--requests", "4"},
      {"--preset", "ratelimit", "--rate", "4"},
      {"--preset", "ratelimit", "--duration", "4"},
      {"--preset", "handshake-flood", "--rate", "4"},
      {"--preset", "burst-tls", "--target", "127.0.0.1:9"},
      {"--preset", "fleet", "--concurrency", "4"},
      {"--preset", "fleet", "--requests", "4"},
      {"--preset", "fleet", "--ramp", "0"},
      {"--preset", "fleet", "--ramp", "601"},
      {"--preset", "fleet", "--ramp", "soon"},
      {"--preset", "steady", "--ramp", "5"},
      {"--rate", "0"},
      {"--rate", "-5"},
      {"--rate", "fast"},
      {"--rate", "1e3"},
      {"--rate", "1000001"},
      {"--rate", ".5"},
      {"--rate", "5."},
      {"--rate", ""},
      {"--concurrency", "0"},
      {"--requests", "0"},
      {"--rate", "1", "--plugins", "0"},
      {"--rate", "1", "--plugins", "10001"},
      {"--rate", "1", "--duration", "0"},
      {"--rate", "1", "--duration", "601"},
      {"--rate", "1", "--duration", "-1"},
      {"--rate", "1", "--max-inflight", "0"},
      {"--rate", "1", "--max-requests", "0"},
      {"--rate", "1", "--timeout-ms", "0"},
      {"--rate", "1", "--timeout-ms", "60001"},
      {"--rate", "1", "--payload", "1048577"},
      {"--rate", "1", "--serve-threads", "0"},
      {"--rate", "1", "--json", ""},
      {"--rate", "1", "--chain", "yes"},
      {"--rate", "1", "--target", "0.0.0.0:80"},
      {"--rate", "1", "--target", "192.168.0.1:80"},
      {"--rate", "1", "--target", "127.0.0.1:0"},
      {"--rate", "1", "--target", "127.0.0.1:1", "--chain", "off"},
      {"--rate", "1", "--target", "127.0.0.1:1", "--serve-threads", "2"},
      {"--rate", "1", "--provider", "127.0.0.1:2"},
      {"--preset", "routed", "--provider", "127.0.0.1:2"},
      {"--preset", "routed", "--target", "127.0.0.1:1"},
      {"--preset", "routed", "--target", "127.0.0.1:1", "--provider",
       "10.0.0.1:2"},
      {"--concurrency", "20", "--max-inflight", "10"},
      {"--requests", "20", "--max-inflight", "10"},
      {"--preset", "fanout", "--rate", "100"},  // closed loop only
      {"--preset", "fanout", "--requests", "10"},
      {"--preset", "fanout", "--target", "127.0.0.1:1"},
      {"--preset", "fanout", "--middle", "async"},
      {"--preset", "fanout", "--pool-threads", "8"},  // needs --middle pool
      {"--preset", "fanout", "--middle", "deferred", "--pool-threads", "8"},
      {"--preset", "fanout", "--middle", "pool", "--pool-threads", "0"},
      {"--preset", "fanout", "--middle-threads", "0"},
      {"--preset", "fanout", "--delay-ms", "0"},
      {"--preset", "fanout", "--delay-ms", "60001"},
      {"--preset", "fanout", "--concurrency", "20000"},  // > max-inflight
      {"--preset", "routed", "--middle", "pool"},        // fanout options only
      {"--preset", "bidi", "--streams", "0"},
      {"--preset", "bidi", "--streams", "65"},
      {"--preset", "bidi", "--rate", "100"},  // ping-pong, no schedule
      {"--preset", "bidi", "--concurrency", "4"},
      {"--preset", "bidi", "--requests", "4"},
      {"--preset", "bidi", "--plugins", "4"},           // one plugin per stream
      {"--preset", "bidi", "--target", "127.0.0.1:1"},  // needs --provider
      {"--preset", "bidi", "--delay-ms", "5"},
      {"--preset", "routed", "--streams", "2"},  // bidi only
      {"--rate", "1", "--streams", "2"},
      {"--concurrency", "2", "--delay-ms", "50"},
      {"--preset", "steady", "--middle-threads", "2"},
      {"--rate", "1", "--bogus", "1"},
      {"--rate", "1", "stray"},
      {"--rate"},
  };
  for (auto &args : bad) {
    ctl_load_args a;
    std::string err;
    std::string joined;
    for (const char *s : args) {
      joined += std::string(s) + " ";
    }
    EXPECT_EQ(CTL_PARSE_USAGE, Load(args, &a, &err)) << joined;
    EXPECT_FALSE(err.empty()) << joined;
  }
}

TEST(LoadArgsTest, Help) {
  ctl_load_args a;
  EXPECT_EQ(CTL_PARSE_HELP, Load({"--rate", "1", "--help"}, &a));
}

TEST(UsageTest, EverySubcommandHasUsage) {
  for (const char *cmd : {"serve", "handshake", "provider", "middle", "load"}) {
    std::string u = ctl_usage(cmd);
    EXPECT_NE(std::string::npos, u.find(std::string("cpluginctl ") + cmd))
        << cmd;
  }
  EXPECT_NE(std::string::npos, std::string(ctl_usage(nullptr)).find("load"));
}

}  // namespace
