// In-process connections (cp_server_add_connection,
// cp_client_create_from_connection, cp_connection_pair): the KV example's
// four kinds of call over a socketpair, to a server with no listener; the
// peer name; shutdown; descriptor ownership on every error path. Every
// case runs against servers that poll as usual, never poll (non_polling)
// and busy-poll.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "ratelimit/peer_key.h"
// protoc-c names a member of its KVService descriptor `delete`, a C++
// keyword; renaming the token for this file changes no layout.
#define delete delete_
#include "kv_store.h"
#undef delete
}
#include "wait.h"

namespace {

// Open descriptors of this process.
int CountFds() {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d == nullptr) {
    return -1;
  }
  while (struct dirent *e = readdir(d)) {
    n += e->d_name[0] != '.';
  }
  closedir(d);
  return n - 1;  // the directory's own descriptor
}

// Descriptors of this process that are sockets.
int CountSockets() {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d == nullptr) {
    return -1;
  }
  while (struct dirent *e = readdir(d)) {
    char path[64];
    char target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, target, sizeof target - 1);
    n += len > 7 && strncmp(target, "socket:", 7) == 0;
  }
  closedir(d);
  return n;
}

bool IsClosed(int fd) {
  return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

// Descriptors of this process that are listening sockets.
int CountListeningSockets() {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d == nullptr) {
    return -1;
  }
  while (struct dirent *e = readdir(d)) {
    if (e->d_name[0] == '.') {
      continue;
    }
    int fd = atoi(e->d_name);
    int v = 0;
    socklen_t len = sizeof v;
    if (fd != dirfd(d) &&
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v != 0) {
      n++;
    }
  }
  closedir(d);
  return n;
}

// Records the peer of every call; refuses calls whose metadata lacks
// "x-token: ok", so the pair is shown to run the server's interceptors.
struct PeerLog {
  std::mutex mu;
  std::vector<std::string> peers;
};

cp_status_code RecordPeer(cp_call *call, void *user) {
  auto *log = static_cast<PeerLog *>(user);
  {
    std::lock_guard<std::mutex> lock(log->mu);
    log->peers.push_back(cp_call_peer(call));
  }
  cp_str token;
  if (!cp_call_metadata(call, "x-token", &token) ||
      std::string(token.ptr, token.len) != "ok") {
    return cp_call_error(call, CP_STATUS_UNAUTHENTICATED, "no token");
  }
  return CP_STATUS_OK;
}

// How the servers wait on the network: as usual, non_polling (their
// connections are read by the threads of the client calls that wait on
// them), or busy polling for a millisecond after each event.
enum class Polling { kDefault, kNone, kBusy };

static void SetPolling(cp_server_options *so, Polling p) {
  so->non_polling = p == Polling::kNone;
  so->busy_poll_us = p == Polling::kBusy ? 1000 : 0;
}

class ConnectionTest : public ::testing::TestWithParam<Polling> {
 protected:
  // gRPC opens its poller's descriptors (epoll, wake-up eventfd) at the
  // first use in the process and keeps them until exit: use it once here, so
  // that each test's count of open descriptors starts after them.
  static void SetUpTestSuite() {
    cp_server_options so;
    cp_server_options_init(&so);
    so.allow_no_listener = true;
    cp_server *s = nullptr;
    ASSERT_EQ(0, cp_server_create(&s, &so));
    ASSERT_EQ(0, cp_server_start(s));
    cp_client *c = nullptr;
    ASSERT_EQ(0, cp_connection_pair(s, &c, nullptr));
    cp_client_destroy(c);
    cp_server_shutdown(s, 0);
    cp_server_destroy(s);
    // gRPC closes the pair's ends after its last reference goes, which may
    // be on one of its own threads a little later.
    ASSERT_TRUE(cp_test::WaitFor(
        "the warm-up connection closed", [] { return CountSockets() == 0; },
        [] { return std::to_string(CountSockets()) + " sockets"; }));
  }

  void SetUp() override {
    fds_before_ = CountFds();
    kv_store_limits limits;
    kv_store_limits_init(&limits);
    store_ = kv_store_create(&limits);
    ASSERT_NE(nullptr, store_);
    cp_server_options so;
    cp_server_options_init(&so);
    so.allow_no_listener = true;
    SetPolling(&so, GetParam());
    ASSERT_EQ(0, cp_server_create(&server_, &so));
    cp_kv__v1__kvservice__handlers h;
    kv_store_handlers(&h);
    ASSERT_EQ(0, cp_kv__v1__kvservice__register(server_, &h, store_));
    ASSERT_EQ(0, cp_server_add_interceptor(server_, CP_PHASE_APPLICATION,
                                           RecordPeer, &peers_));
    ASSERT_EQ(0, cp_server_start(server_));
    ASSERT_EQ(0, cp_connection_pair(server_, &client_, nullptr));
    cp_call_options_init(&opts_);
    opts_.timeout_ms = 30000;  // a hang guard
    opts_.metadata = token_;
    opts_.metadata_count = 1;
  }

  void TearDown() override {
    cp_client_destroy(client_);
    if (server_ != nullptr) {
      cp_server_shutdown(server_, 1000);
      cp_server_destroy(server_);
    }
    kv_store_destroy(store_);
    // gRPC closes the connection's descriptors as it lets go of them.
    EXPECT_TRUE(cp_test::WaitFor(
        "every descriptor of the test closed",
        [&] { return CountFds() == fds_before_; },
        [&] {
          return std::to_string(CountFds()) + " open, " +
                 std::to_string(fds_before_) + " before";
        }));
  }

  static Kv__V1__PutRequest Pair(const char *key, const char *value) {
    Kv__V1__PutRequest p = KV__V1__PUT_REQUEST__INIT;
    p.key = const_cast<char *>(key);
    p.value.data = reinterpret_cast<uint8_t *>(const_cast<char *>(value));
    p.value.len = strlen(value);
    return p;
  }

  // A listener-less server of the KV store; idle_ms > 0 sets its idle
  // limit.
  void StartKvServer(cp_server **out, int64_t idle_ms) {
    cp_server_options so;
    cp_server_options_init(&so);
    so.allow_no_listener = true;
    SetPolling(&so, GetParam());
    if (idle_ms > 0) {
      so.max_connection_idle_ms = idle_ms;
    }
    ASSERT_EQ(0, cp_server_create(out, &so));
    cp_kv__v1__kvservice__handlers h;
    kv_store_handlers(&h);
    ASSERT_EQ(0, cp_kv__v1__kvservice__register(*out, &h, store_));
    ASSERT_EQ(0, cp_server_start(*out));
  }

  int Put(cp_client *c, const char *key, const char *value, cp_status *st) {
    Kv__V1__PutRequest p = Pair(key, value);
    Kv__V1__PutResponse *resp = nullptr;
    int rc = cp_kv__v1__kvservice__put__call(c, &p, &resp, &opts_, st);
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return rc;
  }

  std::string Get(cp_client *c, const char *key) {
    Kv__V1__GetRequest req = KV__V1__GET_REQUEST__INIT;
    req.key = const_cast<char *>(key);
    Kv__V1__GetResponse *resp = nullptr;
    cp_status st;
    if (cp_kv__v1__kvservice__get__call(c, &req, &resp, &opts_, &st) != 0) {
      return std::string("<") + cp_status_code_name(st.code) + ">";
    }
    std::string v =
        resp->found ? std::string(reinterpret_cast<char *>(resp->value.data),
                                  resp->value.len)
                    : "<none>";
    protobuf_c_message_free_unpacked(&resp->base, nullptr);
    return v;
  }

  // A watch event as "TYPE key[=value]", or "end CODE".
  static std::string Event(int rc, Kv__V1__WatchEvent *ev,
                           const cp_status &st) {
    if (rc != 0) {
      return std::string("end ") + cp_status_code_name(st.code);
    }
    std::string out = ev->type == KV__V1__EVENT_TYPE__EVENT_TYPE_PUT ? "PUT "
                      : ev->type == KV__V1__EVENT_TYPE__EVENT_TYPE_DELETE
                          ? "DELETE "
                          : "MARK ";
    out += ev->key;
    if (ev->value.len > 0) {
      out += "=" + std::string(reinterpret_cast<char *>(ev->value.data),
                               ev->value.len);
    }
    protobuf_c_message_free_unpacked(&ev->base, nullptr);
    return out;
  }

  std::vector<std::string> Peers() {
    std::lock_guard<std::mutex> lock(peers_.mu);
    return peers_.peers;
  }

  int fds_before_ = 0;
  kv_store *store_ = nullptr;
  cp_server *server_ = nullptr;
  cp_client *client_ = nullptr;
  cp_call_options opts_;
  cp_metadata token_[1] = {{"x-token", "ok"}};
  PeerLog peers_;
};

TEST_P(ConnectionTest, ServerWithoutListenerHasNoListeningSocket) {
  EXPECT_EQ(0, CountListeningSockets());
  // The probe sees a listening socket when there is one.
  int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(lfd, 0);
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;  // autobind: an abstract name of its own
  EXPECT_EQ(0,
            bind(lfd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa_family_t)));
  EXPECT_EQ(0, listen(lfd, 1));
  EXPECT_EQ(1, CountListeningSockets());
  close(lfd);
  cp_status st;
  ASSERT_EQ(0, Put(client_, "a", "1", &st)) << st.message;
  EXPECT_EQ("1", Get(client_, "a"));
  EXPECT_EQ(0, CountListeningSockets());
}

TEST_P(ConnectionTest, ServerStillRefusesToStartWithoutListenerByDefault) {
  cp_server *s = nullptr;
  ASSERT_EQ(0, cp_server_create(&s, nullptr));
  EXPECT_EQ(CP_ESTATE, cp_server_start(s));
  cp_server_destroy(s);
}

TEST_P(ConnectionTest, UnaryCallsRunThroughTheInterceptors) {
  cp_status st;
  ASSERT_EQ(0, Put(client_, "k", "v", &st)) << st.message;
  EXPECT_EQ("v", Get(client_, "k"));
  opts_.metadata_count = 0;
  EXPECT_EQ("<UNAUTHENTICATED>", Get(client_, "k"));
}

TEST_P(ConnectionTest, PeerNamesTheConnection) {
  cp_client *second = nullptr;
  ASSERT_EQ(0, cp_connection_pair(server_, &second, nullptr));
  EXPECT_EQ("<none>", Get(client_, "x"));
  EXPECT_EQ("<none>", Get(second, "x"));
  EXPECT_EQ("<none>", Get(client_, "x"));
  cp_client_destroy(second);
  std::vector<std::string> peers = Peers();
  ASSERT_EQ(3u, peers.size());
  EXPECT_EQ(0u, peers[0].rfind("inproc:", 0)) << peers[0];
  EXPECT_EQ(0u, peers[1].rfind("inproc:", 0)) << peers[1];
  EXPECT_NE(peers[0], peers[1]);  // one peer key per connection
  EXPECT_EQ(peers[0], peers[2]);
  // Per-address limits count it as an address of its own.
  char key[64];
  EXPECT_EQ(static_cast<int>(peers[0].size()),
            cp_rate_peer_address(peers[0].c_str(), 64, key, sizeof key));
  EXPECT_EQ(peers[0], key);
  char peer_key[CP_PEER_KEY_MAX];
  cpi_peer_key(peers[1].c_str(), peer_key);
  EXPECT_EQ(peers[1], peer_key);
}

TEST_P(ConnectionTest, ServerStreamDeliversEvents) {
  Kv__V1__WatchRequest req = KV__V1__WATCH_REQUEST__INIT;
  req.prefix = const_cast<char *>("w/");
  cp_client_stream *s = nullptr;
  cp_status st;
  ASSERT_EQ(0,
            cp_kv__v1__kvservice__watch__start(client_, &req, &opts_, &s, &st))
      << st.message;
  Kv__V1__WatchEvent *ev = nullptr;
  int rc = cp_kv__v1__kvservice__watch__next(s, &ev, &st);
  EXPECT_EQ(std::string("MARK ") + KV_WATCH_STARTED_KEY, Event(rc, ev, st));
  ASSERT_EQ(0, Put(client_, "w/1", "one", &st));
  ASSERT_EQ(0, Put(client_, "w/2", "two", &st));
  rc = cp_kv__v1__kvservice__watch__next(s, &ev, &st);
  EXPECT_EQ("PUT w/1=one", Event(rc, ev, st));
  rc = cp_kv__v1__kvservice__watch__next(s, &ev, &st);
  EXPECT_EQ("PUT w/2=two", Event(rc, ev, st));
  cp_client_stream_destroy(s);
}

TEST_P(ConnectionTest, ClientStreamStoresEveryPair) {
  cp_client_stream *s = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_kv__v1__kvservice__batch_put__open(client_, &opts_, &s, &st));
  for (int i = 0; i < 200; i++) {
    std::string key = "b" + std::to_string(i);
    Kv__V1__PutRequest p = Pair(key.c_str(), "v");
    ASSERT_EQ(0, cp_kv__v1__kvservice__batch_put__send(s, &p));
  }
  Kv__V1__BatchPutResponse *resp = nullptr;
  ASSERT_EQ(0, cp_kv__v1__kvservice__batch_put__finish(s, &resp, &st))
      << st.message;
  EXPECT_EQ(200, resp->stored);
  protobuf_c_message_free_unpacked(&resp->base, nullptr);
  cp_client_stream_destroy(s);
  EXPECT_EQ("v", Get(client_, "b199"));
}

TEST_P(ConnectionTest, BidiSessionEchoesItsChanges) {
  cp_client_stream *s = nullptr;
  cp_status st;
  ASSERT_EQ(0, cp_kv__v1__kvservice__session__open(client_, &opts_, &s, &st));
  Kv__V1__SessionRequest watch = KV__V1__SESSION_REQUEST__INIT;
  watch.op_case = KV__V1__SESSION_REQUEST__OP_WATCH;
  watch.watch = const_cast<char *>("s/");
  ASSERT_EQ(0, cp_kv__v1__kvservice__session__send(s, &watch));
  Kv__V1__WatchEvent *ev = nullptr;
  int rc = cp_kv__v1__kvservice__session__next(s, &ev, &st);
  EXPECT_EQ(std::string("MARK ") + KV_WATCH_STARTED_KEY, Event(rc, ev, st));
  Kv__V1__PutRequest own = Pair("s/1", "mine");
  Kv__V1__SessionRequest put = KV__V1__SESSION_REQUEST__INIT;
  put.op_case = KV__V1__SESSION_REQUEST__OP_PUT;
  put.put = &own;
  ASSERT_EQ(0, cp_kv__v1__kvservice__session__send(s, &put));
  rc = cp_kv__v1__kvservice__session__next(s, &ev, &st);
  EXPECT_EQ("PUT s/1=mine", Event(rc, ev, st));
  ASSERT_EQ(0, cp_client_stream_close_send(s));
  rc = cp_kv__v1__kvservice__session__next(s, &ev, &st);
  EXPECT_EQ("end OK", Event(rc, ev, st));
  cp_client_stream_destroy(s);
}

TEST_P(ConnectionTest, ManyConcurrentCallsOverOneConnection) {
  constexpr int kThreads = 8;
  constexpr int kCalls = 100;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; i++) {
        std::string key = "c" + std::to_string(t) + "/" + std::to_string(i);
        cp_status st;
        if (Put(client_, key.c_str(), key.c_str(), &st) != 0 ||
            Get(client_, key.c_str()) != key) {
          failures++;
        }
      }
    });
  }
  for (std::thread &th : threads) {
    th.join();
  }
  EXPECT_EQ(0, failures.load());
  EXPECT_EQ(static_cast<size_t>(2 * kThreads * kCalls), Peers().size());
}

TEST_P(ConnectionTest, ServerShutdownFailsCallsUnavailable) {
  // A stream open across the shutdown, and calls after it.
  Kv__V1__WatchRequest req = KV__V1__WATCH_REQUEST__INIT;
  cp_client_stream *s = nullptr;
  cp_status st;
  ASSERT_EQ(0,
            cp_kv__v1__kvservice__watch__start(client_, &req, &opts_, &s, &st));
  Kv__V1__WatchEvent *ev = nullptr;
  int rc = cp_kv__v1__kvservice__watch__next(s, &ev, &st);
  ASSERT_EQ(std::string("MARK ") + KV_WATCH_STARTED_KEY, Event(rc, ev, st));

  ASSERT_EQ(0, cp_server_shutdown(server_, 0));
  rc = cp_kv__v1__kvservice__watch__next(s, &ev, &st);
  std::string end = Event(rc, ev, st);
  EXPECT_EQ("end UNAVAILABLE", end);
  cp_client_stream_destroy(s);

  EXPECT_EQ("<UNAVAILABLE>", Get(client_, "a"));
  EXPECT_EQ(CP_ERPC, Put(client_, "a", "1", &st));
  EXPECT_EQ(CP_STATUS_UNAVAILABLE, st.code) << st.message;
  // Nor does a new connection reach a server that stopped.
  cp_client *late = reinterpret_cast<cp_client *>(1);
  EXPECT_EQ(CP_ESTATE, cp_connection_pair(server_, &late, nullptr));
  EXPECT_EQ(nullptr, late);
  cp_server_destroy(server_);
  server_ = nullptr;
  EXPECT_EQ("<UNAVAILABLE>", Get(client_, "a"));
}

TEST_P(ConnectionTest, GracefulShutdownWithNoCallsFailsLaterCalls) {
  EXPECT_EQ("<none>", Get(client_, "a"));
  ASSERT_EQ(0, cp_server_shutdown(server_, 30000));
  EXPECT_EQ("<UNAVAILABLE>", Get(client_, "a"));
}

// Connections handed over while another thread shuts the server down are
// either served and then shut down, or refused; none is left open.
TEST_P(ConnectionTest, ConnectionsRacingShutdownAreServedOrRefused) {
  std::atomic<bool> stop{false};
  std::atomic<int> served{0};
  std::atomic<int> refused{0};
  std::atomic<int> other{0};
  std::thread adder([&] {
    while (!stop.load()) {
      cp_client *c = nullptr;
      int rc = cp_connection_pair(server_, &c, nullptr);
      if (rc == 0) {
        served++;
        cp_client_destroy(c);
      } else if (rc == CP_ESTATE) {
        refused++;
        return;
      } else {
        other++;
      }
    }
  });
  ASSERT_TRUE(cp_test::WaitFor("a few connections served",
                               [&] { return served.load() >= 20; }));
  ASSERT_EQ(0, cp_server_shutdown(server_, 1000));
  ASSERT_TRUE(cp_test::WaitFor("a connection refused after the shutdown",
                               [&] { return refused.load() == 1; }));
  stop = true;
  adder.join();
  EXPECT_EQ(0, other.load());
}

// The server's connection limits apply to in-process connections too, and
// the client does not reconnect: once the idle limit closed the connection,
// calls fail UNAVAILABLE.
TEST_P(ConnectionTest, IdleLimitEndsTheConnectionForGood) {
  cp_server *idle = nullptr;
  StartKvServer(&idle, 50);
  int sockets = CountSockets();
  cp_client *c = nullptr;
  ASSERT_EQ(0, cp_connection_pair(idle, &c, nullptr));
  EXPECT_EQ(sockets + 2, CountSockets());
  // No call first: whether one fits in the 50 ms would be a timed check.
  EXPECT_TRUE(cp_test::WaitFor(
      "the server closed its end of the idle connection",
      [&] { return CountSockets() < sockets + 2; },
      [&] { return std::to_string(CountSockets()) + " sockets"; }));
  EXPECT_EQ("<UNAVAILABLE>", Get(c, "a"));
  cp_client_destroy(c);
  cp_server_shutdown(idle, 0);
  cp_server_destroy(idle);
}

// A dialing client's dial: a socketpair to `server`, counted; `fail` makes
// the next dials fail with that code.
struct Dialer {
  cp_server *server = nullptr;
  std::atomic<int> dials{0};
  std::atomic<int> fail{0};
  static int Dial(int *fd, void *user) {
    auto *d = static_cast<Dialer *>(user);
    d->dials++;
    int rc = d->fail.load();
    return rc != 0 ? rc : cp_server_socketpair(d->server, fd);
  }
};

// The host of an in-process plugin closes idle links like any other: a
// dialing client notices the closed connection and makes a new one for its
// next call, where a cp_connection_pair client fails for good (above).
TEST_P(ConnectionTest, DialingClientMakesANewConnectionAfterTheIdleLimit) {
  cp_server *idle = nullptr;
  // Each new connection must carry its Put and Get before the limit closes
  // it too; 50 ms was not always enough under valgrind on a loaded machine.
  StartKvServer(&idle, 1000);
  Dialer d;
  d.server = idle;
  int sockets = CountSockets();
  cp_client *c = nullptr;
  ASSERT_EQ(0, cp_client_create_dialing(&c, Dialer::Dial, &d, nullptr));
  EXPECT_EQ(1, d.dials.load());
  // Both ends, and the client's watch on its own.
  EXPECT_EQ(sockets + 3, CountSockets());
  for (int round = 1; round <= 2; round++) {
    EXPECT_TRUE(cp_test::WaitFor(
        "the server closed its end of the idle connection",
        [&] { return CountSockets() < sockets + 3; },
        [&] { return std::to_string(CountSockets()) + " sockets"; }));
    cp_status st;
    ASSERT_EQ(0, Put(c, "k", round == 1 ? "one" : "two", &st))
        << cp_status_code_name(st.code) << " " << st.message;
    EXPECT_EQ(round == 1 ? "one" : "two", Get(c, "k"));
    EXPECT_EQ(round + 1, d.dials.load());
  }
  cp_client_destroy(c);
  cp_server_shutdown(idle, 0);
  cp_server_destroy(idle);
}

// A dial that fails leaves the closed connection (that call fails
// UNAVAILABLE) and the next call dials again.
TEST_P(ConnectionTest, DialingClientRetriesAFailedDialAtTheNextCall) {
  Dialer d;
  d.server = server_;
  cp_client *c = nullptr;
  ASSERT_EQ(0, cp_client_create_dialing(&c, Dialer::Dial, &d, nullptr));
  EXPECT_EQ("<none>", Get(c, "a"));
  // The server ends every connection it has; the fixture makes a new one.
  cp_server_shutdown(server_, 0);
  cp_server_destroy(server_);
  server_ = nullptr;
  StartKvServer(&server_, 0);
  d.server = server_;
  d.fail = CP_ESTATE;
  // Until the old connection is seen closed, calls fail on it undialled.
  EXPECT_TRUE(cp_test::WaitFor("a call dialled and failed", [&] {
    return Get(c, "a") == "<UNAVAILABLE>" && d.dials.load() >= 2;
  }));
  int dials = d.dials.load();
  EXPECT_EQ("<UNAVAILABLE>", Get(c, "a"));
  EXPECT_EQ(dials + 1, d.dials.load());
  d.fail = 0;
  EXPECT_EQ("<none>", Get(c, "a"));
  EXPECT_EQ(dials + 2, d.dials.load());
  EXPECT_EQ("<none>", Get(c, "b"));  // the new connection is kept
  EXPECT_EQ(dials + 2, d.dials.load());
  cp_client_destroy(c);
}

TEST_P(ConnectionTest, DialingClientRefusesBadArguments) {
  Dialer d;
  d.server = server_;
  cp_client *c = reinterpret_cast<cp_client *>(&d);
  EXPECT_EQ(CP_EINVAL, cp_client_create_dialing(&c, nullptr, &d, nullptr));
  EXPECT_EQ(nullptr, c);
  EXPECT_EQ(CP_EINVAL,
            cp_client_create_dialing(nullptr, Dialer::Dial, &d, nullptr));
  cp_tls_client_options tls;
  cp_tls_client_options_init(&tls);
  cp_client_options co;
  cp_client_options_init(&co);
  co.tls = &tls;
  EXPECT_EQ(CP_EINVAL, cp_client_create_dialing(&c, Dialer::Dial, &d, &co));
  EXPECT_EQ(0, d.dials.load());  // options are checked before dialling
  d.fail = CP_ESYS;
  EXPECT_EQ(CP_ESYS, cp_client_create_dialing(&c, Dialer::Dial, &d, nullptr));
  EXPECT_EQ(nullptr, c);
  // A dial handing over something that is not a connected stream socket:
  // refused, and the descriptor closed.
  static int pipe_end = -1;
  auto give_pipe = [](int *fd, void *) -> int {
    int p[2];
    if (pipe(p) != 0) {
      return CP_ESYS;
    }
    close(p[1]);
    *fd = pipe_end = p[0];
    return 0;
  };
  EXPECT_EQ(CP_EINVAL,
            cp_client_create_dialing(&c, give_pipe, nullptr, nullptr));
  EXPECT_TRUE(IsClosed(pipe_end));
  auto give_nothing = [](int *, void *) { return 0; };
  EXPECT_EQ(CP_EINVAL,
            cp_client_create_dialing(&c, give_nothing, nullptr, nullptr));
  int fd = 7;
  EXPECT_EQ(CP_EINVAL, cp_server_socketpair(nullptr, &fd));
  EXPECT_EQ(-1, fd);
  EXPECT_EQ(CP_EINVAL, cp_server_socketpair(server_, nullptr));
}

TEST_P(ConnectionTest, ClientDestroyedFirstLeavesTheServerServing) {
  cp_client_destroy(client_);
  client_ = nullptr;
  ASSERT_EQ(0, cp_connection_pair(server_, &client_, nullptr));
  EXPECT_EQ("<none>", Get(client_, "nothing"));
}

// A plugin process the host starts later must not inherit the connection.
TEST_P(ConnectionTest, DescriptorsAreMadeCloseOnExecAndNonBlocking) {
  int sv[2];
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  ASSERT_EQ(0, fcntl(sv[0], F_GETFD) & FD_CLOEXEC);
  // Checked through a duplicate: the descriptors themselves belong to gRPC
  // once handed over, and the flags O_NONBLOCK lives on are shared with it.
  int probe = dup(sv[1]);
  ASSERT_GE(probe, 0);
  cp_client *c = nullptr;
  ASSERT_EQ(0, cp_server_add_connection(server_, sv[0]));
  ASSERT_EQ(0, cp_client_create_from_connection(&c, sv[1], nullptr));
  EXPECT_NE(0, fcntl(probe, F_GETFL) & O_NONBLOCK);
  close(probe);
  EXPECT_EQ("<none>", Get(c, "a"));
  DIR *d = opendir("/proc/self/fd");
  ASSERT_NE(nullptr, d);
  int sockets = 0;
  while (struct dirent *e = readdir(d)) {
    char path[64];
    char target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len > 7 && strncmp(target, "socket:", 7) == 0) {
      sockets++;
      EXPECT_NE(0, fcntl(atoi(e->d_name), F_GETFD) & FD_CLOEXEC)
          << "descriptor " << e->d_name;
    }
  }
  closedir(d);
  EXPECT_EQ(4, sockets);  // the fixture's pair and this one
  cp_client_destroy(c);
}

// Every failure closes the descriptor it was given.
TEST_P(ConnectionTest, ErrorsCloseTheDescriptor) {
  int sv[2];
  // Before start.
  cp_server *idle = nullptr;
  cp_server_options so;
  cp_server_options_init(&so);
  so.allow_no_listener = true;
  ASSERT_EQ(0, cp_server_create(&idle, &so));
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  EXPECT_EQ(CP_ESTATE, cp_server_add_connection(idle, sv[0]));
  EXPECT_TRUE(IsClosed(sv[0]));
  close(sv[1]);
  cp_client *c = nullptr;
  EXPECT_EQ(CP_ESTATE, cp_connection_pair(idle, &c, nullptr));
  EXPECT_EQ(nullptr, c);
  cp_server_destroy(idle);

  // NULL server.
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  EXPECT_EQ(CP_EINVAL, cp_server_add_connection(nullptr, sv[0]));
  EXPECT_TRUE(IsClosed(sv[0]));
  close(sv[1]);

  // Not a connected stream socket: a pipe, a datagram pair, a listening
  // socket, an unconnected one, and no descriptor at all.
  int p[2];
  ASSERT_EQ(0, pipe(p));
  EXPECT_EQ(CP_EINVAL, cp_server_add_connection(server_, p[0]));
  EXPECT_EQ(CP_EINVAL, cp_client_create_from_connection(&c, p[1], nullptr));
  EXPECT_TRUE(IsClosed(p[0]));
  EXPECT_TRUE(IsClosed(p[1]));
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
  EXPECT_EQ(CP_EINVAL, cp_server_add_connection(server_, sv[0]));
  EXPECT_EQ(CP_EINVAL, cp_client_create_from_connection(&c, sv[1], nullptr));
  EXPECT_TRUE(IsClosed(sv[0]));
  EXPECT_TRUE(IsClosed(sv[1]));
  int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(lfd, 0);
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;  // autobind: an abstract name of its own
  ASSERT_EQ(0,
            bind(lfd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa_family_t)));
  ASSERT_EQ(0, listen(lfd, 1));
  EXPECT_EQ(CP_EINVAL, cp_server_add_connection(server_, lfd));
  EXPECT_TRUE(IsClosed(lfd));
  int ufd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(ufd, 0);
  EXPECT_EQ(CP_EINVAL, cp_client_create_from_connection(&c, ufd, nullptr));
  EXPECT_TRUE(IsClosed(ufd));
  EXPECT_EQ(CP_EINVAL, cp_server_add_connection(server_, -1));
  EXPECT_EQ(CP_EINVAL, cp_client_create_from_connection(&c, -1, nullptr));
  EXPECT_EQ(nullptr, c);

  // Bad client options: TLS, a zero message limit, no out pointer.
  cp_tls_client_options tls;
  memset(&tls, 0, sizeof tls);
  cp_client_options co;
  cp_client_options_init(&co);
  co.tls = &tls;
  ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  EXPECT_EQ(CP_EINVAL, cp_client_create_from_connection(&c, sv[0], &co));
  EXPECT_TRUE(IsClosed(sv[0]));
  EXPECT_EQ(CP_EINVAL, cp_client_create_from_connection(nullptr, sv[1], &co));
  EXPECT_TRUE(IsClosed(sv[1]));
  cp_client_options_init(&co);
  co.max_message_bytes = 0;
  EXPECT_EQ(CP_EINVAL, cp_connection_pair(server_, &c, &co));
  EXPECT_EQ(nullptr, c);
  EXPECT_EQ(CP_EINVAL, cp_connection_pair(server_, nullptr, nullptr));
  // TearDown checks that the count is back where it started.
}

}  // namespace

TEST(NonPollingServer, RefusesAListener) {
  cp_server_options so;
  cp_server_options_init(&so);
  so.non_polling = true;
  cp_server *s = nullptr;
  ASSERT_EQ(0, cp_server_create(&s, &so));
  ASSERT_EQ(0, cp_server_listen(s, "127.0.0.1:0", nullptr));
  EXPECT_EQ(CP_ESTATE, cp_server_start(s));
  cp_server_destroy(s);
}

INSTANTIATE_TEST_SUITE_P(Polling, ConnectionTest,
                         ::testing::Values(Polling::kDefault, Polling::kNone,
                                           Polling::kBusy),
                         [](const ::testing::TestParamInfo<Polling> &info) {
                           return info.param == Polling::kNone   ? "NonPolling"
                                  : info.param == Polling::kBusy ? "BusyPolling"
                                                                 : "Polling";
                         });
