// Unix-socket callers are counted per user (SO_PEERCRED), not per socket:
// the peer key, the per-address identity cap and the rate policy's per-peer
// buckets. TCP callers keep their address keys. Callers of another user
// come through a relay process that connected as that user (uid_relay.h).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "cplugintest/v1/echo.cplugin.h"
#include "echo_service.h"
#include "handshake_call.h"
#include "process.h"
#include "ratelimit/peer_key.h"
#include "transport/peer_cred.h"
#include "uid_relay.h"
}

namespace {

constexpr uid_t kNobody = 65534;  // nobody / nogroup on Debian

std::string Key(const std::string &peer) {
  char key[CP_PEER_KEY_MAX];
  cpi_peer_key(peer.c_str(), key);
  return key;
}

TEST(PeerCred, DescriptorPeerOfAUnixSocketIsItsUser) {
  int sv[2];
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  std::string peer = "fd:" + std::to_string(sv[0]);
  uid_t uid = 12345;
  ASSERT_TRUE(cpi_peer_unix_uid(peer.c_str(), &uid));
  EXPECT_EQ(geteuid(), uid);
  EXPECT_EQ("uid:" + std::to_string(geteuid()), Key(peer));
  char small[5];
  EXPECT_EQ(CP_EINVAL,
            cpi_peer_key_bits(peer.c_str(), 64, small, sizeof small));
  close(sv[0]);
  close(sv[1]);
  // The descriptor is gone: no user, and the shared "unknown" key.
  EXPECT_FALSE(cpi_peer_unix_uid(peer.c_str(), &uid));
  EXPECT_EQ("?", Key(peer));
}

TEST(PeerCred, OtherPeersKeepTheirAddressKeys) {
  int tcp = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(tcp, 0);
  uid_t uid = 0;
  std::string tcp_peer = "fd:" + std::to_string(tcp);
  EXPECT_FALSE(cpi_peer_unix_uid(tcp_peer.c_str(), &uid));
  EXPECT_EQ("?", Key(tcp_peer));
  close(tcp);
  for (const char *peer :
       {"", "fd:", "fd:x", "fd:-1", "fd:1x", "fd: 1", "fd:99999999999999999999",
        "FD:0", "unix:/tmp/s", "ipv4:127.0.0.1:5"}) {
    EXPECT_FALSE(cpi_peer_unix_uid(peer, &uid)) << peer;
  }
  EXPECT_FALSE(cpi_peer_unix_uid(nullptr, &uid));
  EXPECT_EQ("10.0.0.7", Key("ipv4:10.0.0.7:5000"));
  EXPECT_EQ("2001:db8::", Key("ipv6:[2001:db8::1]:5"));
  // What gRPC's own Unix listeners (TLS) report is kept as it is.
  EXPECT_EQ("unix:", Key("unix:"));
  EXPECT_EQ("unix:/tmp/s", Key("unix:/tmp/s"));
  EXPECT_EQ("?", Key("junk"));
}

// Records the key and peer of every call it sees.
struct Seen {
  std::mutex mu;
  std::vector<std::string> keys;
  std::vector<std::string> peers;
};

cp_status_code RecordKey(cp_call *call, void *user) {
  auto *seen = static_cast<Seen *>(user);
  std::string peer = cp_call_peer(call);
  std::lock_guard<std::mutex> lock(seen->mu);
  seen->keys.push_back(Key(peer));
  seen->peers.push_back(peer);
  return CP_STATUS_OK;
}

// A server with a Unix socket every user may connect to and a TCP loopback
// listener, and clients of it as root (this process) or as other users.
class UnixPeers : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "connecting as another user needs root";
    }
    ASSERT_EQ(0, test_socket_path("peercred.sock", path_, sizeof path_));
    ASSERT_EQ(0, cp_server_create(&server_, nullptr));
  }

  void TearDown() override {
    for (cp_client *c : clients_) {
      cp_client_destroy(c);
    }
    for (test_uid_relay &r : relays_) {
      test_uid_relay_stop(&r);
    }
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 1000);
      cp_server_destroy(server_);
    }
    cp_rate_policy_destroy(policy_);
    cp_handshake_service_destroy(handshake_);
    cp_token_store_destroy(tokens_);
    echo_stats_destroy(echo_);
    if (path_[0] != '\0') {
      test_socket_path_remove(path_);
    }
  }

  void Start() {
    ASSERT_EQ(0, cp_server_listen(server_, UnixTarget().c_str(), nullptr));
    ASSERT_EQ(0, test_socket_share(path_));
    ASSERT_EQ(0, cp_server_listen(server_, "127.0.0.1:0", &port_));
    ASSERT_EQ(0, cp_server_start(server_));
  }

  std::string UnixTarget() const { return std::string("unix:") + path_; }

  // A client with a connection of its own.
  cp_client *Client(const std::string &target) {
    cp_client_options o;
    cp_client_options_init(&o);
    o.dedicated_connection = true;
    cp_client *c = nullptr;
    EXPECT_EQ(0, cp_client_create(&c, target.c_str(), &o)) << target;
    clients_.push_back(c);
    return c;
  }

  cp_client *Tcp() { return Client("127.0.0.1:" + std::to_string(port_)); }

  // A client whose connection to the Unix socket a process running as
  // `uid` made; nullptr (and a failure) if no such process can be started.
  cp_client *ClientAs(uid_t uid) {
    test_uid_relay r;
    char why[256] = "";
    if (test_uid_relay_start(&r, path_, uid, uid, why, sizeof why) != 0) {
      ADD_FAILURE() << "relay as uid " << uid << ": " << why;
      return nullptr;
    }
    relays_.push_back(r);
    return Client(std::string("unix:") + r.path);
  }

  // Calls Echo on `c`; returns the key the server counted the call under.
  std::string EchoKey(cp_client *c) {
    Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
    req.text = const_cast<char *>("who");
    Cplugintest__V1__EchoResponse *resp = nullptr;
    cp_status st;
    if (c == nullptr ||
        cp_cplugintest__v1__echo_service__echo__call(c, &req, &resp, nullptr,
                                                     &st) != 0 ||
        st.code != CP_STATUS_OK) {
      return "(call failed)";
    }
    protobuf_c_message_free_unpacked(&resp->base, nullptr);
    std::lock_guard<std::mutex> lock(seen_.mu);
    return seen_.keys.back();
  }

  std::string LastPeer() {
    std::lock_guard<std::mutex> lock(seen_.mu);
    return seen_.peers.back();
  }

  void ServeEcho() {
    echo_ = echo_stats_create();
    ASSERT_EQ(0, echo_service_register(server_, echo_));
  }

  cp_status_code Handshake(cp_client *c) {
    if (c == nullptr) {
      return CP_STATUS_UNKNOWN;
    }
    return test_handshake(c, "p", nullptr, 0, nullptr, 0).code;
  }

  char path_[108] = "";
  int port_ = 0;
  cp_server *server_ = nullptr;
  echo_stats *echo_ = nullptr;
  Seen seen_;
  cp_token_store *tokens_ = nullptr;
  cp_handshake_service *handshake_ = nullptr;
  cp_rate_policy *policy_ = nullptr;
  std::vector<cp_client *> clients_;
  std::vector<test_uid_relay> relays_;
};

TEST_F(UnixPeers, CallersAreKeyedByUserNotBySocket) {
  ServeEcho();
  ASSERT_EQ(0, cp_server_add_interceptor(server_, CP_PHASE_APPLICATION,
                                         RecordKey, &seen_));
  Start();
  EXPECT_EQ("uid:0", EchoKey(Client(UnixTarget())));
  EXPECT_EQ(0u, LastPeer().rfind("fd:", 0)) << LastPeer();
  std::string nobody = "uid:" + std::to_string(kNobody);
  EXPECT_EQ(nobody, EchoKey(ClientAs(kNobody)));
  // Another process of the same user, on a connection of its own: same key.
  EXPECT_EQ(nobody, EchoKey(ClientAs(kNobody)));
  EXPECT_EQ("uid:0", EchoKey(ClientAs(0)));
  // TCP callers are unaffected.
  EXPECT_EQ("127.0.0.1", EchoKey(Tcp()));
  EXPECT_EQ(0u, LastPeer().rfind("ipv4:127.0.0.1:", 0)) << LastPeer();
}

// The server closes a connection's descriptor when the connection ends and
// the kernel hands the number to the next one: keys must follow.
TEST_F(UnixPeers, KeysFollowReusedDescriptors) {
  ServeEcho();
  ASSERT_EQ(0, cp_server_add_interceptor(server_, CP_PHASE_APPLICATION,
                                         RecordKey, &seen_));
  Start();
  std::string nobody = "uid:" + std::to_string(kNobody);
  for (int i = 0; i < 3; i++) {
    cp_client *c = ClientAs(kNobody);
    EXPECT_EQ(nobody, EchoKey(c));
    cp_client_close(c);
    test_uid_relay_stop(&relays_.back());
    c = Client(UnixTarget());
    EXPECT_EQ("uid:0", EchoKey(c));
    cp_client_close(c);
  }
}

// Regression (issue 10): one local user could take every identity the
// per-address cap allows for all local users.
TEST_F(UnixPeers, IdentityCapCountsUnixCallersPerUser) {
  cp_token_store_options to;
  cp_token_store_options_init(&to);
  to.sweep_interval_ms = 0;
  ASSERT_EQ(0, cp_token_store_create(&tokens_, &to));
  cp_handshake_service_options ho;
  cp_handshake_service_options_init(&ho);
  ho.tokens = tokens_;
  ho.max_identities_per_address = 2;
  ASSERT_EQ(0, cp_handshake_service_create(&handshake_, &ho));
  ASSERT_EQ(0, cp_handshake_service_register(handshake_, server_));
  Start();
  cp_client *root = Client(UnixTarget());
  EXPECT_EQ(CP_STATUS_OK, Handshake(root));
  EXPECT_EQ(CP_STATUS_OK, Handshake(root));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Handshake(root));
  // Another root process is the same user: no fresh budget.
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Handshake(ClientAs(0)));
  // Another user has its own.
  cp_client *nobody = ClientAs(kNobody);
  EXPECT_EQ(CP_STATUS_OK, Handshake(nobody));
  EXPECT_EQ(CP_STATUS_OK, Handshake(nobody));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Handshake(nobody));
  EXPECT_EQ(CP_STATUS_RESOURCE_EXHAUSTED, Handshake(ClientAs(kNobody)));
  // TCP callers are unaffected.
  EXPECT_EQ(CP_STATUS_OK, Handshake(Tcp()));
}

TEST_F(UnixPeers, RatePolicyBucketsUnixCallersPerUser) {
  ServeEcho();
  cp_rate_policy_options po;
  cp_rate_policy_options_init(&po);
  po.host_defaults = false;
  ASSERT_EQ(0, cp_rate_policy_create(&policy_, &po));
  ASSERT_EQ(0, cp_rate_policy_set(policy_, "/cplugintest.v1.EchoService/Echo",
                                  cp_rate_limit{0, 1}));  // one call each
  ASSERT_EQ(0, cp_rate_policy_register(policy_, server_));
  ASSERT_EQ(0, cp_server_add_interceptor(server_, CP_PHASE_APPLICATION,
                                         RecordKey, &seen_));
  Start();
  cp_client *root = Client(UnixTarget());
  EXPECT_EQ("uid:0", EchoKey(root));
  EXPECT_EQ("(call failed)", EchoKey(root));
  EXPECT_EQ("(call failed)", EchoKey(ClientAs(0)));
  cp_client *nobody = ClientAs(kNobody);
  EXPECT_EQ("uid:" + std::to_string(kNobody), EchoKey(nobody));
  EXPECT_EQ("(call failed)", EchoKey(nobody));
  EXPECT_EQ("127.0.0.1", EchoKey(Tcp()));
  EXPECT_EQ(
      3u, cp_rate_policy_denials(policy_, "/cplugintest.v1.EchoService/Echo"));
}

// The listener behaves as gRPC's did: a stale socket file is replaced, the
// file is removed at shutdown, and an unstarted server is destroyed cleanly.
TEST(UnixListener, ReplacesAStaleSocketAndRemovesItsFile) {
  char path[108];
  ASSERT_EQ(0, test_socket_path("stale.sock", path, sizeof path));
  int stale = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  ASSERT_EQ(0, bind(stale, reinterpret_cast<sockaddr *>(&sa), sizeof sa));
  close(stale);  // the file stays behind, as after a crash
  std::string target = std::string("unix:") + path;
  cp_server *s = nullptr;
  ASSERT_EQ(0, cp_server_create(&s, nullptr));
  int port = -1;
  ASSERT_EQ(0, cp_server_listen(s, target.c_str(), &port));
  EXPECT_EQ(0, port);
  cp_server_destroy(s);  // never started
  struct stat st;
  EXPECT_NE(0, stat(path, &st)) << "socket file left behind";

  ASSERT_EQ(0, cp_server_create(&s, nullptr));
  std::string too_long = "unix:/" + std::string(200, 'x');
  EXPECT_EQ(CP_EBIND, cp_server_listen(s, too_long.c_str(), nullptr));
  std::string not_a_dir = std::string("unix:") + path + "/no/such/dir/s";
  EXPECT_EQ(CP_EBIND, cp_server_listen(s, not_a_dir.c_str(), nullptr));
  echo_stats *stats = echo_stats_create();
  ASSERT_EQ(0, echo_service_register(s, stats));
  ASSERT_EQ(0, cp_server_listen(s, target.c_str(), nullptr));
  ASSERT_EQ(0, cp_server_start(s));
  cp_client *c = nullptr;
  ASSERT_EQ(0, cp_client_create(&c, target.c_str(), nullptr));
  Cplugintest__V1__EchoRequest req = CPLUGINTEST__V1__ECHO_REQUEST__INIT;
  req.text = const_cast<char *>("hi");
  Cplugintest__V1__EchoResponse *resp = nullptr;
  cp_status st_call;
  ASSERT_EQ(0, cp_cplugintest__v1__echo_service__echo__call(c, &req, &resp,
                                                            nullptr, &st_call));
  EXPECT_STREQ("hi", resp->text);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
  ASSERT_EQ(0, cp_server_shutdown(s, 1000));
  EXPECT_NE(0, stat(path, &st)) << "socket file left behind";
  cp_client_destroy(c);
  cp_server_destroy(s);
  echo_stats_destroy(stats);
  test_socket_path_remove(path);
}

}  // namespace
