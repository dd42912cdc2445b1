// The etcd mirror (runtime/src/etcd/mirror.h) against a real etcd on
// loopback: listing in pages, following puts and deletes, and listing again
// after its connection was cut (while keys changed and etcd compacted) and
// after etcd was killed and restarted. The mirror reaches etcd through a
// relay the test can cut; the test writes to etcd directly.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "cplugin/client.h"
#include "cplugin/errors.h"
#include "etcd/etcdserverpb/rpc.cplugin.h"
#include "etcd/mirror.h"
#include "etcd_server.h"
#include "process.h"
}
#include "wait.h"

namespace {

const std::string kPrefix = "/cplugin/test/";

ProtobufCBinaryData Bytes(const std::string &s) {
  ProtobufCBinaryData b;
  b.len = s.size();
  b.data = reinterpret_cast<uint8_t *>(const_cast<char *>(s.data()));
  return b;
}

std::string Str(const ProtobufCBinaryData *b) {
  return std::string(reinterpret_cast<const char *>(b->data), b->len);
}

// A TCP relay on a loopback port to `target_port`. Cut() closes every
// relayed connection and turns new ones away until Restore(); Freeze()
// stops relaying without closing anything (a network that drops packets)
// until Thaw().
class Relay {
 public:
  explicit Relay(int target_port) : target_port_(target_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = Loopback(0);
    socklen_t len = sizeof a;
    bind(listen_fd_, reinterpret_cast<sockaddr *>(&a), sizeof a);
    listen(listen_fd_, 16);
    fcntl(listen_fd_, F_SETFL, O_NONBLOCK);  // poll can report a gone peer
    getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&a), &len);
    port_ = ntohs(a.sin_port);
    pipe(wake_);
    thread_ = std::thread([this] { Run(); });
  }

  ~Relay() {
    stop_ = true;
    Wake();
    thread_.join();
    CloseAll();
    close(listen_fd_);
    close(wake_[0]);
    close(wake_[1]);
  }

  std::string Target() const { return "127.0.0.1:" + std::to_string(port_); }
  void Cut() {
    cut_ = true;
    Wake();
  }
  void Restore() { cut_ = false; }
  // Returns once nothing is relayed any more.
  void Freeze() {
    frozen_ = true;
    Wake();
    while (!frozen_seen_) {
      usleep(1000);
    }
  }
  void Thaw() {
    frozen_ = false;
    frozen_seen_ = false;
    Wake();
  }

 private:
  static sockaddr_in Loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    return a;
  }

  void Wake() { (void)!write(wake_[1], "x", 1); }

  void CloseAll() {
    for (auto &p : pairs_) {
      close(p.first);
      close(p.second);
    }
    pairs_.clear();
  }

  void Accept() {
    int c = accept(listen_fd_, nullptr, nullptr);
    if (c < 0) {
      return;
    }
    int u = cut_ ? -1 : socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = Loopback(target_port_);
    if (u < 0 || connect(u, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
      close(c);
      if (u >= 0) {
        close(u);
      }
      return;
    }
    pairs_.push_back({c, u});
  }

  // Copies what `from` has to `to`; false when either side is done.
  static bool Pump(int from, int to) {
    char buf[16384];
    ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0) {
      return false;
    }
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(to, buf + off, static_cast<size_t>(n - off));
      if (w <= 0) {
        return false;
      }
      off += w;
    }
    return true;
  }

  void Run() {
    while (!stop_) {
      if (cut_) {
        CloseAll();
      }
      if (frozen_) {
        frozen_seen_ = true;
        pollfd wake = {wake_[0], POLLIN, 0};
        if (poll(&wake, 1, 100) > 0) {
          char drain[64];
          (void)!read(wake_[0], drain, sizeof drain);
        }
        continue;
      }
      std::vector<pollfd> fds = {{wake_[0], POLLIN, 0},
                                 {listen_fd_, POLLIN, 0}};
      for (auto &p : pairs_) {
        fds.push_back({p.first, POLLIN, 0});
        fds.push_back({p.second, POLLIN, 0});
      }
      if (poll(fds.data(), fds.size(), 100) <= 0) {
        continue;
      }
      if (fds[0].revents != 0) {
        char drain[64];
        (void)!read(wake_[0], drain, sizeof drain);
      }
      std::vector<std::pair<int, int>> alive;
      for (size_t i = 0; i < pairs_.size(); i++) {
        auto p = pairs_[i];
        bool ok = true;
        if (fds[2 * i + 2].revents != 0) {
          ok = Pump(p.first, p.second);
        }
        if (ok && fds[2 * i + 3].revents != 0) {
          ok = Pump(p.second, p.first);
        }
        if (ok) {
          alive.push_back(p);
        } else {
          close(p.first);
          close(p.second);
        }
      }
      pairs_.swap(alive);
      if (fds[1].revents != 0) {  // after the pairs fds[] was built from
        Accept();
      }
    }
  }

  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<bool> cut_{false};
  std::atomic<bool> frozen_{false};
  std::atomic<bool> frozen_seen_{false};
  std::vector<std::pair<int, int>> pairs_;
  std::thread thread_;
};

// What the sink saw: the keys and values it holds now.
struct Copy {
  std::mutex mu;
  std::map<std::string, std::string> kv;
  std::set<std::string> stale;  // during a listing: not put again yet
  int listings = 0;

  static void Begin(void *u) {
    auto *c = static_cast<Copy *>(u);
    std::lock_guard<std::mutex> l(c->mu);
    c->stale.clear();
    for (auto &e : c->kv) {
      c->stale.insert(e.first);
    }
  }
  static void Put(const ProtobufCBinaryData *k, const ProtobufCBinaryData *v,
                  void *u) {
    auto *c = static_cast<Copy *>(u);
    std::lock_guard<std::mutex> l(c->mu);
    c->kv[Str(k)] = Str(v);
    c->stale.erase(Str(k));
  }
  static void Remove(const ProtobufCBinaryData *k, void *u) {
    auto *c = static_cast<Copy *>(u);
    std::lock_guard<std::mutex> l(c->mu);
    c->kv.erase(Str(k));
  }
  static void End(int64_t, void *u) {
    auto *c = static_cast<Copy *>(u);
    std::lock_guard<std::mutex> l(c->mu);
    for (auto &k : c->stale) {
      c->kv.erase(k);
    }
    c->stale.clear();
    c->listings++;
  }

  std::string Text() {
    std::lock_guard<std::mutex> l(mu);
    std::string out;
    for (auto &e : kv) {
      out += e.first + "=" + e.second + ";";
    }
    return out;
  }
};

class EtcdMirrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/cplugin-mirror-XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(dir));
    dir_ = dir;
    ASSERT_EQ(0, test_etcd_start(&etcd_, dir))
        << "etcd did not start (is etcd-server installed? "
           "tools/install-deps.sh)";
    ASSERT_EQ(0, cp_client_create(&direct_, etcd_.target, nullptr));
    relay_ = new Relay(etcd_.client_port);
    cp_client_options co;
    cp_client_options_init(&co);
    co.max_reconnect_backoff_ms = 500;  // as mirror.h asks
    ASSERT_EQ(0, cp_client_create(&relayed_, relay_->Target().c_str(), &co));
  }

  void TearDown() override {
    cpi_etcd_mirror_stop(mirror_);
    cp_client_destroy(own_);
    cp_client_destroy(relayed_);
    delete relay_;
    cp_client_destroy(direct_);
    test_etcd_stop(&etcd_, SIGTERM);
    std::string rm = "rm -rf '" + dir_ + "'";
    EXPECT_EQ(0, system(rm.c_str()));
  }

  // The mirror reaches etcd through the relay, or (`direct`) on a client
  // of its own straight to etcd.
  void StartMirror(uint32_t page_keys, bool direct = false) {
    cpi_etcd_mirror_options o;
    cpi_etcd_mirror_options_init(&o);
    o.etcd = direct ? own_ : relayed_;
    o.prefix = kPrefix.c_str();
    o.page_keys = page_keys;
    o.call_timeout_ms = 1000;
    cpi_etcd_sink sink = {Copy::Begin, Copy::Put, Copy::Remove, Copy::End,
                          &copy_};
    ASSERT_EQ(0, cpi_etcd_mirror_start(&mirror_, &o, &sink));
  }

  int64_t Put(const std::string &key, const std::string &value) {
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    req.key = Bytes(key);
    req.value = Bytes(value);
    Etcdserverpb__PutResponse *resp = nullptr;
    cp_status st;
    EXPECT_EQ(
        0, cp_etcdserverpb__kv__put__call(direct_, &req, &resp, nullptr, &st))
        << st.message;
    int64_t rev = resp != nullptr && resp->header != nullptr
                      ? resp->header->revision
                      : -1;
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
    return rev;
  }

  void Delete(const std::string &key) {
    Etcdserverpb__DeleteRangeRequest req =
        ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    req.key = Bytes(key);
    Etcdserverpb__DeleteRangeResponse *resp = nullptr;
    cp_status st;
    EXPECT_EQ(0, cp_etcdserverpb__kv__delete_range__call(direct_, &req, &resp,
                                                         nullptr, &st))
        << st.message;
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
  }

  void Compact(int64_t revision) {
    Etcdserverpb__CompactionRequest req =
        ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    req.revision = revision;
    Etcdserverpb__CompactionResponse *resp = nullptr;
    cp_status st;
    EXPECT_EQ(0, cp_etcdserverpb__kv__compact__call(direct_, &req, &resp,
                                                    nullptr, &st))
        << st.message;
    if (resp != nullptr) {
      protobuf_c_message_free_unpacked(&resp->base, nullptr);
    }
  }

  ::testing::AssertionResult CopyIs(const std::string &want) {
    return cp_test::WaitFor(
        "the mirror to hold " + want, [&] { return copy_.Text() == want; },
        [&] {
          cpi_etcd_mirror_stats st = Stats();
          return copy_.Text() + " (listings " + std::to_string(st.listings) +
                 ", failures " + std::to_string(st.failures) + ", watching " +
                 std::to_string(st.watching) + ")";
        });
  }

  cpi_etcd_mirror_stats Stats() {
    cpi_etcd_mirror_stats s;
    cpi_etcd_mirror_get_stats(mirror_, &s);
    return s;
  }

  std::string dir_;
  test_etcd etcd_{};
  cp_client *direct_ = nullptr;
  cp_client *relayed_ = nullptr;
  cp_client *own_ = nullptr;
  Relay *relay_ = nullptr;
  cpi_etcd_mirror *mirror_ = nullptr;
  Copy copy_;
};

TEST_F(EtcdMirrorTest, ListsInPagesThenFollowsPutsAndDeletes) {
  for (int i = 0; i < 5; i++) {
    Put(kPrefix + "k" + std::to_string(i), "v" + std::to_string(i));
  }
  Put("/cplugin/tesu", "outside the prefix");
  StartMirror(2);  // three pages
  ASSERT_TRUE(
      CopyIs("/cplugin/test/k0=v0;/cplugin/test/k1=v1;/cplugin/test/k2=v2;"
             "/cplugin/test/k3=v3;/cplugin/test/k4=v4;"));
  ASSERT_TRUE(cp_test::WaitFor("the watch", [&] { return Stats().watching; }));
  Delete(kPrefix + "k1");
  Put(kPrefix + "k2", "changed");
  int64_t rev = Put(kPrefix + "k9", "new");
  Put("/cplugin/other", "outside the prefix");
  EXPECT_TRUE(
      CopyIs("/cplugin/test/k0=v0;/cplugin/test/k2=changed;/cplugin/test/k3=v3;"
             "/cplugin/test/k4=v4;/cplugin/test/k9=new;"));
  EXPECT_TRUE(cp_test::WaitFor("the revision",
                               [&] { return Stats().revision == rev; }));
  EXPECT_EQ(3u, Stats().events);
  EXPECT_EQ(1u, Stats().listings);
}

// Cut off while keys change and etcd compacts its history: the watch
// cannot resume, so the mirror lists again, and what was deleted meanwhile
// is dropped from the copy.
TEST_F(EtcdMirrorTest, ListsAgainAfterACutAndACompaction) {
  Put(kPrefix + "a", "1");
  Put(kPrefix + "b", "1");
  StartMirror(500);
  ASSERT_TRUE(CopyIs("/cplugin/test/a=1;/cplugin/test/b=1;"));
  ASSERT_TRUE(cp_test::WaitFor("the watch", [&] { return Stats().watching; }));
  relay_->Cut();
  ASSERT_TRUE(cp_test::WaitFor("the watch to break",
                               [&] { return !Stats().watching; }));
  Delete(kPrefix + "a");
  Put(kPrefix + "c", "1");
  int64_t rev = 0;
  for (int i = 0; i < 20; i++) {
    rev = Put(kPrefix + "b", std::to_string(i));
  }
  Compact(rev);
  relay_->Restore();
  EXPECT_TRUE(CopyIs("/cplugin/test/b=19;/cplugin/test/c=1;"));
  EXPECT_GE(copy_.listings, 2);
  EXPECT_GE(Stats().failures, 1u);
  // And it follows again.
  ASSERT_TRUE(cp_test::WaitFor("the watch", [&] { return Stats().watching; }));
  Put(kPrefix + "d", "1");
  EXPECT_TRUE(
      CopyIs("/cplugin/test/b=19;/cplugin/test/c=1;/cplugin/test/d=1;"));
}

// Straight to etcd (no relay in between: the restart is etcd's own).
TEST_F(EtcdMirrorTest, FollowsEtcdAcrossAKillAndRestart) {
  Put(kPrefix + "a", "1");
  cp_client_options co;
  cp_client_options_init(&co);
  co.max_reconnect_backoff_ms = 500;
  ASSERT_EQ(0, cp_client_create(&own_, etcd_.target, &co));
  StartMirror(500, true);
  ASSERT_TRUE(CopyIs("/cplugin/test/a=1;"));
  test_etcd_stop(&etcd_, SIGKILL);
  ASSERT_EQ(0, test_etcd_start(&etcd_, dir_.c_str()));
  Put(kPrefix + "b", "2");
  EXPECT_TRUE(CopyIs("/cplugin/test/a=1;/cplugin/test/b=2;"));
}

// A watch that goes silent without breaking (packets dropped, nothing
// closed) is noticed by its unanswered progress requests, cancelled, and
// the prefix listed again once etcd can be reached.
TEST_F(EtcdMirrorTest, ASilentWatchIsCancelledAndTheCopyCaughtUp) {
  Put(kPrefix + "a", "1");
  StartMirror(500);
  ASSERT_TRUE(CopyIs("/cplugin/test/a=1;"));
  ASSERT_TRUE(cp_test::WaitFor("the watch", [&] { return Stats().watching; }));
  relay_->Freeze();
  Delete(kPrefix + "a");
  Put(kPrefix + "b", "2");
  EXPECT_TRUE(cp_test::WaitFor("the silence noticed",
                               [&] { return Stats().silences > 0; }));
  EXPECT_EQ("/cplugin/test/a=1;", copy_.Text());  // stale, and says so:
  EXPECT_FALSE(Stats().watching);
  relay_->Thaw();
  EXPECT_TRUE(CopyIs("/cplugin/test/b=2;"));
}

// Stopping never waits on an etcd that is gone for more than a call's
// timeout, and bad options are refused.
TEST_F(EtcdMirrorTest, StopsWhileEtcdIsGoneAndRefusesBadOptions) {
  StartMirror(500);
  ASSERT_TRUE(cp_test::WaitFor("the watch", [&] { return Stats().watching; }));
  test_etcd_stop(&etcd_, SIGKILL);
  ASSERT_TRUE(
      cp_test::WaitFor("a failure", [&] { return Stats().failures > 0; }));
  cpi_etcd_mirror_stop(mirror_);
  mirror_ = nullptr;

  cpi_etcd_mirror_options o;
  cpi_etcd_sink sink = {Copy::Begin, Copy::Put, Copy::Remove, Copy::End,
                        &copy_};
  cpi_etcd_mirror *m = nullptr;
  for (const char *prefix : {"", "/x\xff"}) {
    cpi_etcd_mirror_options_init(&o);
    o.etcd = direct_;
    o.prefix = prefix;
    EXPECT_EQ(CP_EINVAL, cpi_etcd_mirror_start(&m, &o, &sink)) << prefix;
  }
  cpi_etcd_mirror_options_init(&o);
  o.prefix = "/x/";  // no client
  EXPECT_EQ(CP_EINVAL, cpi_etcd_mirror_start(&m, &o, &sink));
  o.etcd = direct_;
  sink.put = nullptr;
  EXPECT_EQ(CP_EINVAL, cpi_etcd_mirror_start(&m, &o, &sink));
  EXPECT_EQ(nullptr, m);
}

}  // namespace
