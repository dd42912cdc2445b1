// The plugin side of being launched (runtime/src/launch/announce.h,
// launched.h): the handshake line a plugin prints, read back by the host's
// parser (launch/handshake_line.h), and the process's launched state that
// cp_server_listen consults.
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>

#include <cstring>
#include <string>

extern "C" {
#include "cplugin/errors.h"
#include "cplugin/plugin_runtime.h"
#include "launch/announce.h"
#include "launch/handshake_line.h"
#include "launch/launched.h"
#include "platform/manifest.h"
}

namespace {

proc_endpoint Endpoint(proc_network network, const char *address) {
  proc_endpoint ep;
  memset(&ep, 0, sizeof ep);
  ep.network = network;
  snprintf(ep.address, sizeof ep.address, "%s", address);
  return ep;
}

// Formats ep and parses the line back as the launcher does.
void ExpectRoundTrip(const proc_endpoint &ep, const char *want_line) {
  char line[LAUNCH_ANNOUNCE_LINE_MAX];
  ASSERT_EQ(0, cpi_launch_announce_format(&ep, line, sizeof line));
  EXPECT_STREQ(want_line, line);
  proc_endpoint back;
  char err[128] = "";
  ASSERT_EQ(0, cpi_proc_handshake_line_parse(line, strlen(line), &back, err,
                                             sizeof err))
      << err;
  EXPECT_EQ(ep.network, back.network);
  EXPECT_STREQ(ep.address, back.address);
}

TEST(LaunchAnnounce, UnixRoundTrip) {
  ExpectRoundTrip(Endpoint(PROC_NETWORK_UNIX, "/run/cplugin/kv.sock"),
                  "cplugin|1|unix|/run/cplugin/kv.sock");
}

TEST(LaunchAnnounce, TcpRoundTrip) {
  ExpectRoundTrip(Endpoint(PROC_NETWORK_TCP, "127.0.0.1:43121"),
                  "cplugin|1|tcp|127.0.0.1:43121");
  ExpectRoundTrip(Endpoint(PROC_NETWORK_TCP, "[::1]:1"),
                  "cplugin|1|tcp|[::1]:1");
}

TEST(LaunchAnnounce, RefusesWhatTheLauncherWouldRefuse) {
  char line[LAUNCH_ANNOUNCE_LINE_MAX];
  const proc_endpoint bad[] = {
      Endpoint(PROC_NETWORK_UNIX, "relative.sock"),
      Endpoint(PROC_NETWORK_UNIX, ""),
      Endpoint(PROC_NETWORK_UNIX, "/with space.sock"),
      Endpoint(PROC_NETWORK_TCP, "127.0.0.1:0"),
      Endpoint(PROC_NETWORK_TCP, "127.0.0.1"),
      Endpoint(PROC_NETWORK_TCP, "a|b:1"),
      Endpoint((proc_network)7, "/x.sock"),
  };
  for (const proc_endpoint &ep : bad) {
    strcpy(line, "untouched");
    EXPECT_EQ(CP_EINVAL, cpi_launch_announce_format(&ep, line, sizeof line))
        << ep.address;
    EXPECT_STREQ("", line) << "no half line for " << ep.address;
  }
  std::string long_path = "/" + std::string(107, 'a');  // 108 > sun_path
  proc_endpoint too_long = Endpoint(PROC_NETWORK_UNIX, long_path.c_str());
  EXPECT_EQ(CP_EINVAL,
            cpi_launch_announce_format(&too_long, line, sizeof line));
  EXPECT_EQ(CP_EINVAL, cpi_launch_announce_format(nullptr, line, sizeof line));
  proc_endpoint ok = Endpoint(PROC_NETWORK_UNIX, "/x.sock");
  EXPECT_EQ(CP_EINVAL, cpi_launch_announce_format(&ok, nullptr, 10));
  EXPECT_EQ(CP_ELIMIT, cpi_launch_announce_format(&ok, line, 8));
}

TEST(LaunchAnnounce, WritesOneFlushedLine) {
  FILE *f = tmpfile();
  ASSERT_NE(nullptr, f);
  proc_endpoint ep = Endpoint(PROC_NETWORK_TCP, "127.0.0.1:5");
  ASSERT_EQ(0, cpi_launch_announce(&ep, f));
  rewind(f);
  char buf[128] = "";
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  EXPECT_EQ("cplugin|1|tcp|127.0.0.1:5\n", std::string(buf, n));
  EXPECT_EQ(CP_EINVAL, cpi_launch_announce(&ep, nullptr));
}

TEST(LaunchListen, ChecksTheValue) {
  const char *good[] = {"unix:/tmp/x/p.sock", "127.0.0.1:0", "127.0.0.1:65535",
                        "[::1]:7", "localhost:0"};
  for (const char *v : good) {
    char err[160] = "";
    EXPECT_EQ(0, cpi_launch_listen_check(v, err, sizeof err))
        << v << ": " << err;
  }
  const char *bad[] = {"",           "unix:",           "unix:rel.sock",
                       "unix:/a b",  "0.0.0.0:0",       "10.1.2.3:80",
                       "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                       "127.0.0.1",  "unix-abstract:x"};
  for (const char *v : bad) {
    char err[160] = "";
    EXPECT_EQ(CP_EINVAL, cpi_launch_listen_check(v, err, sizeof err)) << v;
    EXPECT_NE(nullptr, strstr(err, CP_LAUNCH_LISTEN_ENV)) << v << ": " << err;
  }
  EXPECT_EQ(CP_EINVAL, cpi_launch_listen_check(nullptr, nullptr, 0));
}

// The launched state reads the environment: each test sets it and resets
// the state, and leaves CPLUGIN_LISTEN unset behind it.
class LaunchedState : public ::testing::Test {
 protected:
  void SetUp() override { cpi_launch_testing_reset(); }
  void TearDown() override {
    unsetenv(CP_LAUNCH_LISTEN_ENV);
    cpi_launch_testing_reset();
  }
};

TEST_F(LaunchedState, NotLaunchedClaimsNothing) {
  unsetenv(CP_LAUNCH_LISTEN_ENV);
  char addr[300];
  EXPECT_EQ(0, cpi_launch_listen_claim(addr, sizeof addr));
  EXPECT_FALSE(cpi_launch_endpoint(nullptr));
  EXPECT_EQ(0, cpi_launch_announce_once());  // nothing to announce
}

TEST_F(LaunchedState, FirstListenerClaimsTcpAndRecordsTheBoundPort) {
  setenv(CP_LAUNCH_LISTEN_ENV, "127.0.0.1:0", 1);
  char addr[300];
  ASSERT_EQ(1, cpi_launch_listen_claim(addr, sizeof addr));
  EXPECT_STREQ("127.0.0.1:0", addr);
  EXPECT_EQ(0, cpi_launch_listen_claim(addr, sizeof addr)) << "claimed twice";
  EXPECT_FALSE(cpi_launch_endpoint(nullptr)) << "not bound yet";
  EXPECT_EQ(CP_EINVAL, cpi_launch_listen_bound("127.0.0.1:0", 0));
  ASSERT_EQ(0, cpi_launch_listen_bound("127.0.0.1:0", 40123));
  proc_endpoint ep;
  ASSERT_TRUE(cpi_launch_endpoint(&ep));
  EXPECT_EQ(PROC_NETWORK_TCP, ep.network);
  EXPECT_STREQ("127.0.0.1:40123", ep.address);
  char url[300];
  ASSERT_TRUE(cpi_launch_endpoint_url(url, sizeof url));
  EXPECT_STREQ("127.0.0.1:40123", url);
}

TEST_F(LaunchedState, UnixEndpointKeepsThePathAndUrlHasTheScheme) {
  setenv(CP_LAUNCH_LISTEN_ENV, "unix:/tmp/d/p.sock", 1);
  char addr[300];
  ASSERT_EQ(1, cpi_launch_listen_claim(addr, sizeof addr));
  ASSERT_EQ(0, cpi_launch_listen_bound(addr, 0));
  proc_endpoint ep;
  ASSERT_TRUE(cpi_launch_endpoint(&ep));
  EXPECT_EQ(PROC_NETWORK_UNIX, ep.network);
  EXPECT_STREQ("/tmp/d/p.sock", ep.address);
  char url[300];
  ASSERT_TRUE(cpi_launch_endpoint_url(url, sizeof url));
  EXPECT_STREQ("unix:/tmp/d/p.sock", url);
  EXPECT_FALSE(cpi_launch_endpoint_url(url, 5)) << "too small a buffer";
}

TEST_F(LaunchedState, FailedBindGivesTheClaimBack) {
  setenv(CP_LAUNCH_LISTEN_ENV, "127.0.0.1:0", 1);
  char addr[300];
  ASSERT_EQ(1, cpi_launch_listen_claim(addr, sizeof addr));
  cpi_launch_listen_unclaim();
  EXPECT_EQ(1, cpi_launch_listen_claim(addr, sizeof addr));
}

TEST_F(LaunchedState, InvalidValueFailsTheListener) {
  setenv(CP_LAUNCH_LISTEN_ENV, "0.0.0.0:0", 1);
  char addr[300];
  EXPECT_EQ(CP_EINVAL, cpi_launch_listen_claim(addr, sizeof addr));
}

// The manifest reserves the names the runtime reads (one definition).
TEST(LaunchEnv, ManifestReservesTheRuntimeNames) {
  EXPECT_TRUE(cpi_manifest_env_reserved(CP_LAUNCH_LISTEN_ENV));
  EXPECT_TRUE(cpi_manifest_env_reserved(CP_LAUNCH_HOST_URL_ENV));
  EXPECT_TRUE(cpi_manifest_env_reserved(CP_HOST_URL_ENV));
}

}  // namespace
