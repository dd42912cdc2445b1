// The anonymous read gate on its own: admission by slot and by peer, arrival
// order, the stall reaper and opening at shutdown, with fake reads.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

extern "C" {
#include "core/clock.h"
}
#include "cplugin/errors.h"
#include "transport/read_gate.h"
#include "wait.h"

namespace {

struct FakeRead {
  cp_read_gate_entry entry{};
  std::string name;
};

FakeRead *Of(cp_read_gate_entry *e) {
  return reinterpret_cast<FakeRead *>(reinterpret_cast<char *>(e) -
                                      offsetof(FakeRead, entry));
}

std::mutex g_mu;
std::vector<std::string> g_started;
std::vector<std::string> g_cancelled;

void Start(cp_read_gate_entry *e) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_started.push_back(Of(e)->name);
}

void Cancel(cp_read_gate_entry *e) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_cancelled.push_back(Of(e)->name);
}

const cp_read_gate_ops kOps = {Start, Cancel};

std::string Join(const std::vector<std::string> &v) {
  std::string out;
  for (const std::string &s : v) {
    out += (out.empty() ? "" : ",") + s;
  }
  return out;
}

class ReadGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::lock_guard<std::mutex> lock(g_mu);
    g_started.clear();
    g_cancelled.clear();
  }
  void TearDown() override { cpi_read_gate_free(gate_); }

  void Make(size_t total, size_t per_peer, int64_t stall_ms) {
    cp_anonymous_read_limits l = {};
    l.total = total;
    l.per_peer = per_peer;
    l.stall_ms = stall_ms;
    gate_ = cpi_read_gate_new(&l, &kOps);
    ASSERT_NE(nullptr, gate_);
  }

  FakeRead *Read(const std::string &name, const char *peer) {
    reads_.emplace_back(new FakeRead);
    FakeRead *r = reads_.back().get();
    r->name = name;
    r->entry.peer = peer;
    return r;
  }

  static std::string Started() {
    std::lock_guard<std::mutex> lock(g_mu);
    return Join(g_started);
  }
  static std::string Cancelled() {
    std::lock_guard<std::mutex> lock(g_mu);
    return Join(g_cancelled);
  }

  cp_read_gate *gate_ = nullptr;
  std::vector<std::unique_ptr<FakeRead>> reads_;
};

TEST_F(ReadGateTest, OnePeerReadsOneAtATimeInArrivalOrder) {
  Make(4, 1, 60000);
  FakeRead *a = Read("a", "ipv4:10.0.0.1:1000");
  FakeRead *b = Read("b", "ipv4:10.0.0.1:1001");
  FakeRead *c = Read("c", "ipv4:10.0.0.1:1002");
  cpi_read_gate_enter(gate_, &a->entry);
  cpi_read_gate_enter(gate_, &b->entry);
  cpi_read_gate_enter(gate_, &c->entry);
  EXPECT_EQ("a", Started());  // the same address on other ports waits
  cpi_read_gate_leave(gate_, &a->entry);
  EXPECT_EQ("a,b", Started());
  cpi_read_gate_leave(gate_, &b->entry);
  EXPECT_EQ("a,b,c", Started());
  cpi_read_gate_leave(gate_, &c->entry);
}

TEST_F(ReadGateTest, AWaitingPeerDoesNotHoldUpOthers) {
  Make(2, 1, 60000);
  FakeRead *a1 = Read("a1", "ipv4:10.0.0.1:1");
  FakeRead *a2 = Read("a2", "ipv4:10.0.0.1:2");
  FakeRead *b1 = Read("b1", "ipv4:10.0.0.2:1");
  FakeRead *c1 = Read("c1", "ipv4:10.0.0.3:1");
  cpi_read_gate_enter(gate_, &a1->entry);
  cpi_read_gate_enter(gate_, &a2->entry);  // waits for a1
  cpi_read_gate_enter(gate_, &b1->entry);  // another address: a free slot
  EXPECT_EQ("a1,b1", Started());
  cpi_read_gate_enter(gate_, &c1->entry);  // every slot is taken
  EXPECT_EQ("a1,b1", Started());
  // b1's slot goes to c1, the first waiter that fits; a2 still waits for
  // its address's slot.
  cpi_read_gate_leave(gate_, &b1->entry);
  EXPECT_EQ("a1,b1,c1", Started());
  cpi_read_gate_leave(gate_, &a1->entry);
  EXPECT_EQ("a1,b1,c1,a2", Started());
  cpi_read_gate_leave(gate_, &c1->entry);
  cpi_read_gate_leave(gate_, &a2->entry);
}

TEST_F(ReadGateTest, PerPeerSlotsAndTheKeyFunction) {
  cp_anonymous_read_limits l = {};
  l.total = 3;
  l.per_peer = 2;
  l.stall_ms = 60000;
  // Every peer is one: the key function decides what counts together.
  l.peer_key = [](const char *, char out[CP_SERVER_PEER_KEY_MAX], void *) {
    snprintf(out, CP_SERVER_PEER_KEY_MAX, "everyone");
  };
  gate_ = cpi_read_gate_new(&l, &kOps);
  ASSERT_NE(nullptr, gate_);
  FakeRead *x = Read("x", "ipv4:10.0.0.1:1");
  FakeRead *y = Read("y", "ipv6:[::1]:2");
  FakeRead *z = Read("z", "unix:/tmp/s");
  cpi_read_gate_enter(gate_, &x->entry);
  cpi_read_gate_enter(gate_, &y->entry);
  cpi_read_gate_enter(gate_, &z->entry);
  EXPECT_EQ("x,y", Started());
  cpi_read_gate_leave(gate_, &y->entry);
  EXPECT_EQ("x,y,z", Started());
  cpi_read_gate_leave(gate_, &x->entry);
  cpi_read_gate_leave(gate_, &z->entry);
}

TEST_F(ReadGateTest, AStalledReadIsCancelledOnlyWhileOthersWait) {
  Make(1, 1, 20);
  FakeRead *slow = Read("slow", "ipv4:10.0.0.1:1");
  FakeRead *next = Read("next", "ipv4:10.0.0.2:1");
  int64_t since = cpi_clock_monotonic_ns();
  cpi_read_gate_enter(gate_, &slow->entry);
  // Past its stall time with nobody waiting, the read is left alone.
  ASSERT_TRUE(cp_test::WaitFor("the stall time to pass", [&] {
    return cpi_clock_monotonic_ns() - since > 40 * 1000000LL;
  }));
  EXPECT_EQ("", Cancelled());
  cpi_read_gate_enter(gate_, &next->entry);
  ASSERT_TRUE(cp_test::WaitFor(
      "the stalled read to be cancelled", [&] { return Cancelled() == "slow"; },
      [&] { return Cancelled(); }));
  EXPECT_EQ("slow", Started());
  // The cancelled read completes and leaves; the waiter is read.
  cpi_read_gate_leave(gate_, &slow->entry);
  EXPECT_EQ("slow,next", Started());
  cpi_read_gate_leave(gate_, &next->entry);
  EXPECT_EQ("slow", Cancelled());  // cancelled once
}

TEST_F(ReadGateTest, OpeningStartsEveryWaiterAndAdmitsAllAfter) {
  Make(1, 1, 60000);
  FakeRead *a = Read("a", "ipv4:10.0.0.1:1");
  FakeRead *b = Read("b", "ipv4:10.0.0.1:2");
  FakeRead *c = Read("c", "ipv4:10.0.0.1:3");
  FakeRead *d = Read("d", "ipv4:10.0.0.1:4");
  cpi_read_gate_enter(gate_, &a->entry);
  cpi_read_gate_enter(gate_, &b->entry);
  cpi_read_gate_enter(gate_, &c->entry);
  EXPECT_EQ("a", Started());
  cpi_read_gate_open(gate_);
  EXPECT_EQ("a,b,c", Started());
  cpi_read_gate_enter(gate_, &d->entry);
  EXPECT_EQ("a,b,c,d", Started());
  // Leaving is harmless for every kind of entry.
  cpi_read_gate_leave(gate_, &b->entry);
  cpi_read_gate_leave(gate_, &d->entry);
  cpi_read_gate_leave(gate_, &a->entry);
  cpi_read_gate_leave(gate_, &c->entry);
  EXPECT_EQ("a,b,c,d", Started());
}

TEST(ReadGateLimits, ServerChecksTheLimits) {
  cp_server *s = nullptr;
  ASSERT_EQ(0, cp_server_create(&s, nullptr));
  cp_anonymous_read_limits l = {};
  l.total = 4;
  l.per_peer = 1;
  l.stall_ms = 1000;
  EXPECT_EQ(0, cp_server_limit_anonymous_reads(s, &l));
  cp_anonymous_read_limits bad = l;
  bad.total = 0;
  EXPECT_EQ(CP_EINVAL, cp_server_limit_anonymous_reads(s, &bad));
  bad = l;
  bad.per_peer = 5;
  EXPECT_EQ(CP_EINVAL, cp_server_limit_anonymous_reads(s, &bad));
  bad = l;
  bad.per_peer = 0;
  EXPECT_EQ(CP_EINVAL, cp_server_limit_anonymous_reads(s, &bad));
  bad = l;
  bad.stall_ms = 0;
  EXPECT_EQ(CP_EINVAL, cp_server_limit_anonymous_reads(s, &bad));
  EXPECT_EQ(CP_EINVAL, cp_server_limit_anonymous_reads(s, nullptr));
  EXPECT_EQ(CP_EINVAL, cp_server_limit_anonymous_reads(nullptr, &l));
  cp_server_destroy(s);

  cp_server_options o;
  cp_server_options_init(&o);
  o.stream_window_bytes = 100;
  EXPECT_EQ(CP_EINVAL, cp_server_create(&s, &o));
  o.stream_window_bytes = 16 * 1024;
  ASSERT_EQ(0, cp_server_create(&s, &o));
  cp_server_destroy(s);
}

}  // namespace
