// cpi_address_is_local: which gRPC addresses stay on this machine (no
// plaintext warning) and which do not.
#include <gtest/gtest.h>

extern "C" {
#include "transport/address.h"
}

namespace {

TEST(AddressTest, LoopbackAndUnixSocketsAreLocal) {
  const char *local[] = {
      "127.0.0.1:80",
      "127.5.6.7:1",
      "127.255.255.254:9",
      "127.0.0.1",
      "localhost:1",
      "LOCALHOST:1",
      "localhost",
      "[::1]:5",
      "[::1]",
      "::1",
      "[::ffff:127.0.0.1]:7",
      "unix:/tmp/x",
      "unix:///tmp/x",
      "unix:relative.sock",
      "unix-abstract:x",
      "dns:///localhost:5",
      "dns:localhost:5",
      "dns://8.8.8.8/localhost:5",
      "dns:///127.0.0.1:5",
      "dns:///[::1]:5",
      "ipv4:127.0.0.1:5",
      "ipv4:127.0.0.1:5,127.0.0.2:6",
      "ipv6:[::1]:5",
  };
  for (const char *a : local) {
    EXPECT_TRUE(cpi_address_is_local(a)) << a;
  }
}

TEST(AddressTest, EverythingElseIsRemote) {
  const char *remote[] = {
      "0.0.0.0:0",
      "0.0.0.0",
      "[::]:1",
      "[::]",
      ":50051",  // all interfaces
      "10.1.2.3:4",
      "192.168.0.1:443",
      "128.0.0.1:80",
      "126.255.255.255:80",
      "example.com:443",
      "localhost.example.com:443",
      "mylocalhost:1",
      "[::2]:5",
      "[fe80::1]:5",
      "[::ffff:10.0.0.1]:7",
      "[::1:5",  // unterminated bracket
      "[::1]x",  // junk after the bracket
      "dns:///example.com:443",
      "dns://127.0.0.1/example.com:443",  // a local DNS server, remote name
      "dns://127.0.0.1",                  // no name at all
      "ipv4:10.0.0.1:5",
      "ipv4:127.0.0.1:5,10.0.0.1:5",  // one remote entry is enough
      "ipv4:",
      "ipv6:[::]:5",
      "xds:///localhost:5",
      "vsock:2:50051",
      "127.1:80",  // not a dotted quad: not recognised, so warned about
      "",
      "unix",
  };
  for (const char *a : remote) {
    EXPECT_FALSE(cpi_address_is_local(a)) << a;
  }
  EXPECT_FALSE(cpi_address_is_local(nullptr));
}

TEST(AddressTest, OverlongHostsAreRemote) {
  std::string host(300, '1');
  EXPECT_FALSE(cpi_address_is_local((host + ":80").c_str()));
  std::string many = "ipv4:";
  for (int i = 0; i < 100; i++) {
    many += "127.0.0.1:1,";
  }
  many += "127.0.0.1:1";
  EXPECT_TRUE(cpi_address_is_local(many.c_str()));
}

}  // namespace
