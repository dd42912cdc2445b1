// One registry across two host replicas (cp_host with cp_host_options.etcd)
// through a real etcd on loopback (runtime/src/replica/registrations.h):
// an identity revoked at either replica takes its registrations away at
// both; removals made while a replica was cut off from etcd reach it when
// it lists again; a replica restarted lists what the others registered.
// (Registered at one, watched, discovered and routed at another, with
// real processes: tests/interop/py_replica_registry_test.py.)
#include <gtest/gtest.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memory>
#include <string>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugin/replicas.h"
#include "etcd_server.h"
#include "registry/registry_replica.h"
}
#include "tcp_relay.h"
#include "wait.h"

namespace {

using cp_test::Relay;
using cp_test::WaitFor;

const char kSecret[] = "the replica registry test's secret";

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// A host replica reaching etcd through a relay of its own.
struct Replica {
  std::unique_ptr<Relay> relay;
  cp_host *host = nullptr;

  void Start(int etcd_port) {
    relay = std::make_unique<Relay>(etcd_port);
    std::string target = relay->Target();
    cp_etcd_options etcd;
    cp_etcd_options_init(&etcd);
    etcd.endpoints = target.c_str();
    etcd.prefix = "/cplugin/registry-test/";
    etcd.secret = kSecret;
    etcd.secret_len = strlen(kSecret);
    etcd.call_timeout_ms = 1000;
    cp_host_options o;
    cp_host_options_init(&o);
    o.listen = "127.0.0.1:0";
    o.metrics_address = nullptr;
    o.etcd = &etcd;
    ASSERT_EQ(0, cp_host_create(&host, &o));
    // Sharing starts with the host: its etcd client's I/O runs on the
    // server's threads.
    ASSERT_EQ(0, cp_host_start(host, nullptr, nullptr));
  }

  void Stop() {
    cp_host_destroy(host);
    host = nullptr;
    relay.reset();
  }

  cp_registry *Registry() { return cp_host_registry(host); }
  cp_token_store *Tokens() { return cp_host_tokens(host); }

  std::string Issue(const char *self_id) {
    char id[CP_RUNTIME_ID_MAX + 1] = "";
    char token[CP_TOKEN_LEN + 1];
    EXPECT_EQ(0, cp_token_store_issue(Tokens(), self_id, id, sizeof id, token));
    return id;
  }

  std::string Register(const std::string &owner, const char *type) {
    cp_metadata md[] = {{"base_url", "127.0.0.1:9"}};
    cp_registry_service svc = {type, "1.0.0", "/echo.v1.Echo/", md, 1};
    char id[CP_REGISTRY_ID_LEN + 1] = "";
    EXPECT_EQ(
        0, cp_registry_register_as_host(Registry(), owner.c_str(), &svc, id));
    return id;
  }

  // The provider of `type` here, or "" for none.
  std::string Provider(const char *type) {
    auto ep = std::make_unique<cp_registry_endpoint>();
    return cp_registry_resolve(Registry(), type, nullptr, ep.get()) == 0
               ? ep->provider_id
               : "";
  }

  bool Knows(const std::string &runtime_id) {
    char principal[CP_PRINCIPAL_MAX + 1];
    return cp_token_store_principal(Tokens(), runtime_id.c_str(), principal) ==
           0;
  }

  cp_replica_stats Stats() {
    cp_replica_stats st;
    EXPECT_EQ(0, cp_host_replica_stats(host, &st));
    return st;
  }
};

class ReplicaRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(0, test_etcd_start_fresh(&etcd_, "cplugin-replica-reg"))
        << "etcd (etcd-server) did not start; see tools/install-deps.sh";
    a_.Start(etcd_.client_port);
    b_.Start(etcd_.client_port);
  }
  void TearDown() override {
    a_.Stop();
    b_.Stop();
    test_etcd_remove(&etcd_);
  }

  ::testing::AssertionResult WaitProvider(Replica &r, const char *type,
                                          const std::string &want,
                                          const char *what) {
    return WaitFor(
        what, [&] { return r.Provider(type) == want; },
        [&] { return "'" + r.Provider(type) + "'"; });
  }

  test_etcd etcd_{};
  Replica a_, b_;
};

TEST_F(ReplicaRegistryTest, RevokedAtEitherReplicaTakesItsRegistrations) {
  std::string r1 = a_.Issue("one");
  a_.Register(r1, "echo");
  ASSERT_TRUE(WaitProvider(b_, "echo", r1, "A's registration at B"));
  int64_t start = NowMs();
  ASSERT_EQ(0, cp_token_store_revoke(a_.Tokens(), r1.c_str()));
  ASSERT_TRUE(WaitProvider(b_, "echo", "", "the revoked one gone from B"));
  printf("revoked at A: registration gone from B after %lld ms\n",
         static_cast<long long>(NowMs() - start));

  // Revoked where it was only known through etcd.
  std::string r2 = a_.Issue("two");
  a_.Register(r2, "echo");
  ASSERT_TRUE(WaitProvider(b_, "echo", r2, "the second at B"));
  ASSERT_TRUE(
      WaitFor("B knowing the second identity", [&] { return b_.Knows(r2); }));
  ASSERT_EQ(0, cp_token_store_revoke(b_.Tokens(), r2.c_str()));
  EXPECT_EQ("", b_.Provider("echo"));
  ASSERT_TRUE(WaitProvider(a_, "echo", "", "revoked at B: gone from A"));

  // Revoked where the registry no longer holds its registration (its
  // liveness removed it there, quietly) and the replica that wrote it is
  // gone: the key goes all the same.
  std::string r3 = a_.Issue("three");
  std::string id3 = a_.Register(r3, "echo");
  ASSERT_TRUE(WaitProvider(b_, "echo", r3, "the third at B"));
  ASSERT_TRUE(
      WaitFor("B knowing the third identity", [&] { return b_.Knows(r3); }));
  a_.Stop();
  ASSERT_EQ(0, cpi_registry_drop(b_.Registry(),
                                 strtoull(id3.c_str() + 4, nullptr, 16)));
  EXPECT_EQ(1u, b_.Stats().registrations_known);
  ASSERT_EQ(0, cp_token_store_revoke(b_.Tokens(), r3.c_str()));
  ASSERT_TRUE(WaitFor(
      "the third's key deleted from etcd",
      [&] { return b_.Stats().registrations_known == 0; },
      [&] { return std::to_string(b_.Stats().registrations_known); }));
  a_.Start(etcd_.client_port);
}

TEST_F(ReplicaRegistryTest, RemovalsWhileCutOffArriveWithTheListing) {
  std::string r = a_.Issue("cut");
  std::string old_id = a_.Register(r, "old");
  ASSERT_TRUE(WaitProvider(b_, "old", r, "the first registration at B"));
  b_.relay->Cut();
  ASSERT_EQ(0, cp_registry_unregister_as_host(a_.Registry(), old_id.c_str()));
  a_.Register(r, "new");
  ASSERT_TRUE(WaitFor("A's writes", [&] {
    cp_replica_stats st = a_.Stats();
    return st.registrations_pending == 0 && st.registrations_published >= 3;
  }));
  EXPECT_EQ(r, b_.Provider("old"));  // B has not heard yet
  b_.relay->Restore();
  ASSERT_TRUE(WaitProvider(b_, "new", r, "B listing the new one"));
  ASSERT_TRUE(WaitProvider(b_, "old", "", "B listing the old one away"));
}

TEST_F(ReplicaRegistryTest, ARestartedReplicaListsTheOthers) {
  std::string r = a_.Issue("stays");
  std::string id = a_.Register(r, "echo");
  ASSERT_TRUE(WaitProvider(b_, "echo", r, "A's registration at B"));
  b_.Stop();
  b_.Start(etcd_.client_port);
  ASSERT_TRUE(WaitProvider(b_, "echo", r, "A's registration at the new B"));
  // Under the same ID: its owner's repeat at B finds it, and the owner
  // may remove it there.
  std::string again = b_.Register(r, "echo");
  EXPECT_EQ(id, again);
  ASSERT_EQ(0, cp_registry_unregister_as_host(b_.Registry(), id.c_str()));
  ASSERT_TRUE(WaitProvider(a_, "echo", "", "removed at B: gone from A"));
  // A's own registrations stay through B's restart: B's shutdown removed
  // nothing from etcd.
  std::string kept = a_.Register(r, "kept");
  ASSERT_TRUE(WaitProvider(b_, "kept", r, "the kept one at B"));
  b_.Stop();
  b_.Start(etcd_.client_port);
  ASSERT_TRUE(WaitProvider(b_, "kept", r, "the kept one after B's restart"));
  EXPECT_EQ(r, a_.Provider("kept"));
}

}  // namespace
