// Static discovery with failover across host addresses. Upstream's
// discovery_test.go ported where it applies (a list of endpoints in order,
// an empty list refused, the list copied); its per-service map, metadata,
// weights and Watch have no counterpart: a plugin knows its hosts, not a
// service catalogue. Failover is tested against real servers on loopback
// and an address nobody listens on.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "flaky_service.h"
}
#include "wait.h"

namespace {

std::string DeadAddress(int n = 0) {
  return "unix:/tmp/cplugin-discovery-test-" + std::to_string(getpid()) + "-" +
         std::to_string(n) + ".none";
}

class Discovery : public ::testing::Test {
 protected:
  void TearDown() override {
    cp_static_discovery_destroy(d_);
    for (cp_server *s : servers_) {
      cp_server_shutdown(s, 1000);
      cp_server_destroy(s);
    }
    cp_health_destroy(health_);
    flaky_service_destroy(flaky_);
  }

  // A live server (EchoService, no health service) on 127.0.0.1.
  std::string Live() {
    if (flaky_ == nullptr) {
      flaky_ = flaky_service_create();
    }
    cp_server *s = nullptr;
    int port = 0;
    EXPECT_EQ(0, cp_server_create(&s, nullptr));
    EXPECT_EQ(0, flaky_service_register(s, flaky_));
    EXPECT_EQ(0, cp_server_listen(s, "127.0.0.1:0", &port));
    EXPECT_EQ(0, cp_server_start(s));
    servers_.push_back(s);
    return "127.0.0.1:" + std::to_string(port);
  }

  // A live server whose grpc.health.v1 says NOT_SERVING.
  std::string NotServing() {
    EXPECT_EQ(0, cp_health_create(&health_, nullptr));
    EXPECT_EQ(0, cp_health_set(health_, "", CP_SERVING_STATUS_NOT_SERVING));
    cp_server *s = nullptr;
    int port = 0;
    EXPECT_EQ(0, cp_server_create(&s, nullptr));
    EXPECT_EQ(0, cp_health_register(health_, s));
    EXPECT_EQ(0, cp_server_listen(s, "127.0.0.1:0", &port));
    EXPECT_EQ(0, cp_server_start(s));
    servers_.push_back(s);
    return "127.0.0.1:" + std::to_string(port);
  }

  void Create(const std::vector<std::string> &addresses) {
    std::vector<const char *> p;
    for (const auto &a : addresses) {
      p.push_back(a.c_str());
    }
    ASSERT_EQ(0, cp_static_discovery_create(&d_, p.data(), p.size()));
  }

  cp_static_discovery *d_ = nullptr;
  std::vector<cp_server *> servers_;
  cp_health *health_ = nullptr;
  flaky_service *flaky_ = nullptr;
};

int Echo(cp_client *c, cp_status *st) {
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("hi");
  Cplugintest__V1__EchoResponse *resp = nullptr;
  int rc =
      cp_cplugintest__v1__echo_service__echo__call(c, &req, &resp, nullptr, st);
  if (resp != nullptr) {
    protobuf_c_message_free_unpacked(&resp->base, nullptr);
  }
  return rc;
}

// upstream: TestStaticDiscovery_SingleEndpoint
TEST_F(Discovery, OneAddressIsTheCurrentOne) {
  Create({"127.0.0.1:7000"});
  EXPECT_EQ(1u, cp_static_discovery_count(d_));
  EXPECT_STREQ("127.0.0.1:7000", cp_static_discovery_current(d_));
  // Failing over from the only address comes back to it.
  EXPECT_STREQ("127.0.0.1:7000",
               cp_static_discovery_next(d_, cp_static_discovery_current(d_)));
}

// upstream: TestStaticDiscovery_MultipleEndpoints (order preserved)
TEST_F(Discovery, AddressesKeepTheirOrder) {
  Create({"a:1", "b:2", "c:3"});
  ASSERT_EQ(3u, cp_static_discovery_count(d_));
  EXPECT_STREQ("a:1", cp_static_discovery_address(d_, 0));
  EXPECT_STREQ("b:2", cp_static_discovery_address(d_, 1));
  EXPECT_STREQ("c:3", cp_static_discovery_address(d_, 2));
  EXPECT_EQ(nullptr, cp_static_discovery_address(d_, 3));
  EXPECT_STREQ("a:1", cp_static_discovery_current(d_));
}

// upstream: TestStaticDiscovery_NoEndpointsConfigured
TEST_F(Discovery, AnEmptyListIsRefused) {
  const char *none[] = {nullptr};
  EXPECT_EQ(CP_EINVAL, cp_static_discovery_create(&d_, none, 0));
  EXPECT_EQ(nullptr, d_);
  EXPECT_EQ(CP_EINVAL, cp_static_discovery_create(&d_, nullptr, 1));
  const char *empty[] = {"a:1", ""};
  EXPECT_EQ(CP_EINVAL, cp_static_discovery_create(&d_, empty, 2));
  EXPECT_EQ(CP_EINVAL, cp_static_discovery_create(&d_, none, 1));
  EXPECT_EQ(CP_EINVAL, cp_static_discovery_create(nullptr, empty, 1));
}

// upstream: TestStaticDiscovery_IsolatedCopy
TEST_F(Discovery, TheListIsCopied) {
  char buf[] = "a:1";
  const char *list[] = {buf};
  ASSERT_EQ(0, cp_static_discovery_create(&d_, list, 1));
  buf[0] = 'z';
  EXPECT_STREQ("a:1", cp_static_discovery_current(d_));
}

TEST_F(Discovery, NextMovesOnAndWrapsAround) {
  Create({"a:1", "b:2", "c:3"});
  EXPECT_STREQ("b:2", cp_static_discovery_next(d_, "a:1"));
  EXPECT_STREQ("c:3", cp_static_discovery_next(d_, "b:2"));
  EXPECT_STREQ("a:1", cp_static_discovery_next(d_, "c:3"));
}

// Several calls fail on one address at once: failing over once, not once
// per failed call (which would skip live addresses).
TEST_F(Discovery, ReportsOfOneFailureMoveOnOnce) {
  Create({"a:1", "b:2", "c:3"});
  const char *failed = cp_static_discovery_current(d_);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; i++) {
    threads.emplace_back([&] { cp_static_discovery_next(d_, failed); });
  }
  for (auto &t : threads) {
    t.join();
  }
  EXPECT_STREQ("b:2", cp_static_discovery_current(d_));
  // An address it does not know changes nothing.
  EXPECT_STREQ("b:2", cp_static_discovery_next(d_, "nowhere:9"));
}

TEST_F(Discovery, ConnectSkipsAddressesThatDoNotAnswer) {
  std::string live = Live();
  Create({DeadAddress(0), DeadAddress(1), live});
  cp_client *c = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_static_discovery_connect(d_, nullptr, 5000, &c, &st))
      << st.message;
  EXPECT_EQ(live, cp_static_discovery_current(d_));
  // A server without the health service answers UNIMPLEMENTED: it is up.
  EXPECT_EQ(0, Echo(c, &st)) << st.message;
  cp_client_destroy(c);
}

TEST_F(Discovery, ConnectSkipsAServerThatIsNotServing) {
  std::string draining = NotServing();
  std::string live = Live();
  Create({draining, live});
  cp_client *c = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_static_discovery_connect(d_, nullptr, 5000, &c, &st))
      << st.message;
  EXPECT_EQ(live, cp_static_discovery_current(d_));
  cp_client_destroy(c);
}

TEST_F(Discovery, ConnectFailsWhenNothingAnswers) {
  Create({DeadAddress(0), DeadAddress(1)});
  cp_client *c = nullptr;
  cp_status st;
  EXPECT_EQ(CP_ERPC, cp_static_discovery_connect(d_, nullptr, 5000, &c, &st));
  EXPECT_EQ(nullptr, c);
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code);
  EXPECT_EQ(0, strncmp("no address answered", st.message, 19)) << st.message;
  EXPECT_EQ(CP_EINVAL, cp_static_discovery_connect(d_, nullptr, 0, &c, &st));
}

// The pattern for plugins: call the current host; on UNAVAILABLE, report it
// and connect again, which starts from the next address.
TEST_F(Discovery, FailsOverWhenTheCurrentHostGoesAway) {
  std::string first = Live();
  std::string second = Live();
  Create({first, second});
  cp_client *c = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_static_discovery_connect(d_, nullptr, 5000, &c, &st));
  EXPECT_EQ(first, cp_static_discovery_current(d_));
  ASSERT_EQ(0, Echo(c, &st));

  cp_server_shutdown(servers_[0], 0);  // the first host goes away
  ASSERT_TRUE(
      cp_test::WaitFor("calls to the stopped host fail with UNAVAILABLE", [&] {
        return Echo(c, &st) == CP_ERPC && st.code == CP_STATUS_UNAVAILABLE;
      }));
  const char *failed = cp_static_discovery_current(d_);
  cp_client_destroy(c);
  EXPECT_EQ(second, cp_static_discovery_next(d_, failed));
  ASSERT_EQ(0, cp_static_discovery_connect(d_, nullptr, 5000, &c, &st))
      << st.message;
  EXPECT_EQ(0, Echo(c, &st)) << st.message;
  cp_client_destroy(c);
}

}  // namespace
