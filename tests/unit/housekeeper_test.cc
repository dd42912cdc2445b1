// The process's housekeeping threads (core/housekeeper.h): timers run in due
// order on their clock, a manual clock drives them without sleeps, cancel
// waits for a callback in progress and beats a re-arm, and every user of one
// clock shares one thread, joined by the last release.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "core/housekeeper.h"
#include "cplugin/clock.h"
#include "cplugin/errors.h"
#include "cplugin/tokens.h"
}
#include "wait.h"

namespace {

constexpr int64_t kMs = 1000000;

// A record of which timers ran, in order.
struct Log {
  std::mutex mu;
  std::vector<std::string> ran;

  void Add(const std::string &name) {
    std::lock_guard<std::mutex> lock(mu);
    ran.push_back(name);
  }
  std::vector<std::string> Get() {
    std::lock_guard<std::mutex> lock(mu);
    return ran;
  }
  std::string Describe() {
    std::string out;
    for (const std::string &s : Get()) {
      out += s + " ";
    }
    return out.empty() ? "nothing ran" : out;
  }
};

struct Named {
  Log *log;
  std::string name;
  cpi_timer timer;
};

void RecordRun(void *user) {
  auto *n = static_cast<Named *>(user);
  n->log->Add(n->name);
}

class HousekeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_manual_clock_init(&clock_, 1000 * kMs);
    baseline_ = cpi_housekeeper_threads();
    ASSERT_EQ(0, cpi_housekeeper_acquire(&clock_.clock, &hk_));
  }
  void TearDown() override {
    cpi_housekeeper_release(hk_);
    EXPECT_EQ(baseline_, cpi_housekeeper_threads());
  }

  // Waits until `n` callbacks ran (the test then checks which).
  bool WaitForRuns(size_t n) {
    return cp_test::WaitFor(
        "the due timers", [&] { return log_.Get().size() >= n; },
        [&] { return log_.Describe(); });
  }

  cp_manual_clock clock_;
  size_t baseline_ = 0;
  cpi_housekeeper *hk_ = nullptr;
  Log log_;
};

TEST_F(HousekeeperTest, TimersRunInDueOrderAsTheManualClockMoves) {
  Named a{&log_, "a", {}};
  Named b{&log_, "b", {}};
  Named c{&log_, "c", {}};
  for (Named *n : {&a, &b, &c}) {
    cpi_timer_init(&n->timer, hk_, RecordRun, n);
  }
  ASSERT_EQ(0, cpi_timer_arm(&a.timer, 30 * kMs));
  ASSERT_EQ(0, cpi_timer_arm(&b.timer, 10 * kMs));
  ASSERT_EQ(0, cpi_timer_arm(&c.timer, 20 * kMs));
  // An armed timer keeps the earlier due time: a stays at 30 ms.
  ASSERT_EQ(0, cpi_timer_arm(&a.timer, 500 * kMs));

  cp_manual_clock_advance(&clock_, 15 * kMs);
  ASSERT_TRUE(WaitForRuns(1));
  EXPECT_EQ((std::vector<std::string>{"b"}), log_.Get());
  cp_manual_clock_advance(&clock_, 20 * kMs);
  ASSERT_TRUE(WaitForRuns(3));
  EXPECT_EQ((std::vector<std::string>{"b", "c", "a"}), log_.Get());
  for (Named *n : {&a, &b, &c}) {
    cpi_timer_cancel(&n->timer);
  }
}

TEST_F(HousekeeperTest, ACancelledTimerDoesNotRun) {
  Named a{&log_, "a", {}};
  Named b{&log_, "b", {}};
  cpi_timer_init(&a.timer, hk_, RecordRun, &a);
  cpi_timer_init(&b.timer, hk_, RecordRun, &b);
  ASSERT_EQ(0, cpi_timer_arm(&a.timer, 10 * kMs));
  ASSERT_EQ(0, cpi_timer_arm(&b.timer, 20 * kMs));
  cpi_timer_cancel(&a.timer);
  cpi_timer_cancel(&a.timer);  // idempotent
  cp_manual_clock_advance(&clock_, 30 * kMs);
  // b is due after a: once b ran, a would have run before it.
  ASSERT_TRUE(WaitForRuns(1));
  EXPECT_EQ((std::vector<std::string>{"b"}), log_.Get());
  cpi_timer_cancel(&b.timer);
}

// A periodic timer: re-arms itself from its callback. Held, its callback
// waits for a canceller to call cpi_timer_cancel, then watches for a while
// whether that cancel returns while the callback still runs (it must not).
struct Periodic {
  cpi_timer timer;
  std::atomic<int> runs{0};
  std::atomic<bool> inside{false};
  std::atomic<bool> calling{false};   // the canceller is about to cancel
  std::atomic<bool> returned{false};  // its cancel returned
  bool returned_while_inside = false;
  bool hold = false;
};

void PeriodicRun(void *user) {
  auto *p = static_cast<Periodic *>(user);
  p->runs++;
  if (p->hold) {
    p->inside = true;
    while (!p->calling) {
      std::this_thread::yield();
    }
    // A cancel that does not wait returns within this window on any
    // machine; one that waits cannot return before the callback ends.
    auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    while (!p->returned && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
    }
    p->returned_while_inside = p->returned;
  }
  ASSERT_EQ(0, cpi_timer_arm(&p->timer, 10 * kMs));
}

TEST_F(HousekeeperTest, CancelWaitsForTheCallbackAndBeatsItsReArm) {
  Periodic p;
  p.hold = true;
  cpi_timer_init(&p.timer, hk_, PeriodicRun, &p);
  ASSERT_EQ(0, cpi_timer_arm(&p.timer, 10 * kMs));
  cp_manual_clock_advance(&clock_, 10 * kMs);
  ASSERT_TRUE(cp_test::WaitFor(
      "the callback to start", [&] { return p.inside.load(); },
      [&] { return std::to_string(p.runs) + " run(s)"; }));
  std::thread canceller([&] {
    p.calling = true;
    cpi_timer_cancel(&p.timer);
    p.returned = true;
  });
  canceller.join();
  EXPECT_FALSE(p.returned_while_inside);
  // The callback's re-arm did not survive the cancel: however far the
  // clock moves, it does not run again.
  cp_manual_clock_advance(&clock_, 1000 * kMs);
  Named probe{&log_, "probe", {}};
  cpi_timer_init(&probe.timer, hk_, RecordRun, &probe);
  ASSERT_EQ(0, cpi_timer_arm(&probe.timer, 0));
  ASSERT_TRUE(WaitForRuns(1));
  EXPECT_EQ(1, p.runs.load());
}

void CancelSelf(void *user) {
  auto *n = static_cast<Named *>(user);
  ASSERT_EQ(0, cpi_timer_arm(&n->timer, 0));
  cpi_timer_cancel(&n->timer);  // from its own callback: no wait
  n->log->Add(n->name);
}

TEST_F(HousekeeperTest, ACallbackMayCancelItsOwnTimer) {
  Named self{&log_, "self", {}};
  Named after{&log_, "after", {}};
  cpi_timer_init(&self.timer, hk_, CancelSelf, &self);
  cpi_timer_init(&after.timer, hk_, RecordRun, &after);
  ASSERT_EQ(0, cpi_timer_arm(&self.timer, 0));
  ASSERT_EQ(0, cpi_timer_arm(&after.timer, 5 * kMs));
  cp_manual_clock_advance(&clock_, 5 * kMs);
  ASSERT_TRUE(WaitForRuns(2));
  EXPECT_EQ((std::vector<std::string>{"self", "after"}), log_.Get());
}

TEST(HousekeeperSharing, OneThreadPerClockJoinedByTheLastRelease) {
  size_t baseline = cpi_housekeeper_threads();
  cpi_housekeeper *a = nullptr;
  cpi_housekeeper *b = nullptr;
  cpi_housekeeper *c = nullptr;
  ASSERT_EQ(0, cpi_housekeeper_acquire(nullptr, &a));
  ASSERT_EQ(0, cpi_housekeeper_acquire(cp_clock_system(), &b));
  EXPECT_EQ(a, b);  // the system clock by either name
  cp_manual_clock manual;
  cp_manual_clock_init(&manual, 0);
  ASSERT_EQ(0, cpi_housekeeper_acquire(&manual.clock, &c));
  EXPECT_NE(a, c);
  EXPECT_EQ(baseline + 2, cpi_housekeeper_threads());

  // The system clock's timers run in real time.
  Log log;
  Named n{&log, "system", {}};
  cpi_timer_init(&n.timer, a, RecordRun, &n);
  ASSERT_EQ(0, cpi_timer_arm(&n.timer, 1 * kMs));
  ASSERT_TRUE(cp_test::WaitFor(
      "a system-clock timer", [&] { return log.Get().size() == 1; },
      [&] { return log.Describe(); }));

  cpi_housekeeper_release(a);
  EXPECT_EQ(baseline + 2, cpi_housekeeper_threads());
  cpi_housekeeper_release(b);
  cpi_housekeeper_release(c);
  EXPECT_EQ(baseline, cpi_housekeeper_threads());
}

// The token store's background sweep runs on the housekeeper of its clock:
// moving the manual clock past the interval sweeps, with no thread of the
// store's own.
TEST(HousekeeperSharing, StoresOnOneClockShareItsThread) {
  size_t baseline = cpi_housekeeper_threads();
  cp_manual_clock manual;
  cp_manual_clock_init(&manual, 1000 * kMs);
  cp_token_store_options o;
  cp_token_store_options_init(&o);
  o.clock = &manual.clock;
  o.ttl_ms = 1000;
  o.sweep_interval_ms = 60000;
  cp_token_store *s1 = nullptr;
  cp_token_store *s2 = nullptr;
  ASSERT_EQ(0, cp_token_store_create(&s1, &o));
  ASSERT_EQ(0, cp_token_store_create(&s2, &o));
  EXPECT_EQ(baseline + 1, cpi_housekeeper_threads());
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_issue(s1, "a", id, sizeof id, token));
  ASSERT_EQ(0, cp_token_store_issue(s2, "b", id, sizeof id, token));
  // Expired but not yet swept: the sweep is a minute away.
  cp_manual_clock_advance(&manual, 2000 * kMs);
  EXPECT_EQ(1u, cp_token_store_count(s1));
  cp_manual_clock_advance(&manual, 60000 * kMs);
  ASSERT_TRUE(cp_test::WaitFor(
      "both stores' sweeps",
      [&] { return cp_token_store_count(s1) + cp_token_store_count(s2) == 0; },
      [&] {
        return std::to_string(cp_token_store_count(s1)) + " and " +
               std::to_string(cp_token_store_count(s2)) + " live";
      }));
  cp_token_store_destroy(s1);
  EXPECT_EQ(baseline + 1, cpi_housekeeper_threads());
  cp_token_store_destroy(s2);
  EXPECT_EQ(baseline, cpi_housekeeper_threads());
}

}  // namespace
