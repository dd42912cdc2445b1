// The etcd mirror (runtime/src/etcd/mirror.h) against a real etcd on
// loopback: listing in pages, following puts and deletes, and listing again
// after its connection was cut (while keys changed and etcd compacted) and
// after etcd was killed and restarted. The mirror reaches etcd through a
// relay the test can cut; the test writes to etcd directly.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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
#include "tcp_relay.h"
#include "wait.h"

namespace {

using cp_test::Relay;

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
                  int64_t, void *u) {
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
    ASSERT_EQ(0, test_etcd_start_fresh(&etcd_, "cplugin-mirror"))
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
    test_etcd_remove(&etcd_);
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
  ASSERT_EQ(0, test_etcd_start(&etcd_, etcd_.dir));
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
  // The prober counts the silence and cancels the watch; the reader then
  // sees the watch end and stops saying it watches: wait for both.
  EXPECT_TRUE(cp_test::WaitFor("the silence noticed and the watch ended", [&] {
    cpi_etcd_mirror_stats st = Stats();
    return st.silences > 0 && !st.watching;
  }));
  EXPECT_EQ("/cplugin/test/a=1;", copy_.Text());  // stale, and says so
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
