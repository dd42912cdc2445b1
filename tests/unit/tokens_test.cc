// The runtime identity token store: formats, validation, expiry (with an
// injected clock), sweep, cap, revoke, refresh, listeners, and concurrent
// validation while writers change the table.
#include <gtest/gtest.h>
#include <sys/random.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "core/siphash.h"
#include "cplugin/errors.h"
#include "cplugin/tokens.h"
#include "tokens/token_store_testing.h"
}
#include "wait.h"

namespace {

constexpr int64_t kSecond = 1000000000LL;

struct Event {
  std::string id;
  cp_token_event kind;
};

void Record(const char *runtime_id, cp_token_event ev, void *user) {
  static_cast<std::vector<Event> *>(user)->push_back({runtime_id, ev});
}

class TokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_manual_clock_init(&clock_, 1000 * kSecond);
    cp_token_store_options_init(&opts_);
    opts_.clock = &clock_.clock;
    opts_.sweep_interval_ms = 0;  // the tests sweep by hand
  }
  void TearDown() override { cp_token_store_destroy(store_); }

  void Create() {
    ASSERT_EQ(0, cp_token_store_create(&store_, &opts_));
    ASSERT_EQ(0, cp_token_store_subscribe(store_, Record, &events_));
  }

  struct Identity {
    std::string id, token;
  };

  Identity Issue(const char *self_id = "KV-Plugin") {
    char id[CP_RUNTIME_ID_MAX + 1];
    char token[CP_TOKEN_LEN + 1];
    EXPECT_EQ(0, cp_token_store_issue(store_, self_id, id, sizeof id, token));
    return {id, token};
  }

  bool Valid(const Identity &i) { return Valid(i.id, i.token); }
  bool Valid(const std::string &id, const std::string &token) {
    return cp_token_store_validate(store_, id.data(), id.size(), token.data(),
                                   token.size());
  }

  cp_manual_clock clock_;
  cp_token_store_options opts_;
  cp_token_store *store_ = nullptr;
  std::vector<Event> events_;
};

TEST_F(TokenStoreTest, IssuedIdentityHasTheDocumentedFormats) {
  Create();
  Identity a = Issue("KV-Plugin");
  // Runtime ID: lower-cased self_id, '-', 16 lower-case hex digits.
  ASSERT_EQ(std::string("kv-plugin-").size() + 16, a.id.size());
  EXPECT_EQ(0u, a.id.find("kv-plugin-"));
  for (char c : a.id.substr(10)) {
    EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << a.id;
  }
  // Token: 44 chars of the URL-safe base64 alphabet, one '=' of padding.
  ASSERT_EQ(44u, a.token.size());
  EXPECT_EQ('=', a.token[43]);
  for (size_t i = 0; i < 43; i++) {
    char c = a.token[i];
    EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')
        << a.token;
  }
  EXPECT_TRUE(Valid(a));
  EXPECT_EQ(1u, cp_token_store_count(store_));
}

TEST_F(TokenStoreTest, EveryIssueIsDistinct) {
  Create();
  std::set<std::string> ids, tokens;
  for (int i = 0; i < 2000; i++) {
    Identity x = Issue("same");
    ids.insert(x.id);
    tokens.insert(x.token);
  }
  EXPECT_EQ(2000u, ids.size());
  EXPECT_EQ(2000u, tokens.size());
  EXPECT_EQ(2000u, cp_token_store_count(store_));
}

TEST_F(TokenStoreTest, WrongUnknownAndMalformedCredentialsFail) {
  Create();
  Identity a = Issue();
  Identity b = Issue();
  EXPECT_FALSE(Valid(a.id, b.token));  // another identity's token
  std::string flipped = a.token;
  flipped[0] = flipped[0] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(Valid(a.id, flipped));  // first byte differs
  flipped = a.token;
  flipped[41] = flipped[41] == 'A' ? 'Q' : 'A';
  EXPECT_FALSE(Valid(a.id, flipped));  // last bytes differ
  EXPECT_FALSE(Valid("kv-plugin-0123456789abcdef", a.token));  // unknown id
  // Same suffix, different name: the whole ID must match.
  std::string renamed = "other" + a.id.substr(a.id.find('-', 3));
  EXPECT_FALSE(Valid(renamed, a.token));
  EXPECT_FALSE(Valid(a.id, a.token.substr(0, 43)));  // short
  EXPECT_FALSE(Valid(a.id, a.token + "="));          // long
  EXPECT_FALSE(Valid(a.id, std::string(44, '!')));   // not base64url
  EXPECT_FALSE(Valid("", a.token));
  EXPECT_FALSE(Valid("nosuffix", a.token));
  EXPECT_FALSE(Valid("x-0000000000000000", a.token));  // zero key
  EXPECT_FALSE(Valid("x-0123456789ABCDEF", a.token));  // upper-case hex
  EXPECT_FALSE(cp_token_store_validate(store_, nullptr, 0, "t", 1));
  // Standard base64 characters, padding inside, or a missing final '=' at
  // any position fail.
  for (size_t i = 0; i < 44; i++) {
    for (char bad : {'+', '/', '=', '.', '\0'}) {
      if (i == 43 && bad == '=') {
        continue;
      }
      std::string t = a.token;
      t[i] = bad;
      EXPECT_FALSE(Valid(a.id, t)) << i << " " << bad;
    }
  }
  // Non-canonical: the last character differs only in the two bits under
  // the padding, which a lax decoder would ignore.
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t v = std::string(kAlphabet).find(a.token[42]);
  ASSERT_EQ(0u, v % 4);
  for (size_t low = 1; low < 4; low++) {
    std::string t = a.token;
    t[42] = kAlphabet[v + low];
    EXPECT_FALSE(Valid(a.id, t)) << t;
  }
  EXPECT_TRUE(Valid(a));
}

TEST_F(TokenStoreTest, InvalidSelfIdsAreRejected) {
  Create();
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  const char *bad[] = {"",           "9lives",  "-x",     "has space",
                       "semi;colon", "slash/x", "ünïcode"};
  for (const char *b : bad) {
    EXPECT_EQ(CP_EINVAL, cp_token_store_issue(store_, b, id, sizeof id, token))
        << b;
  }
  std::string longest(CP_SELF_ID_MAX, 'a');
  EXPECT_EQ(
      0, cp_token_store_issue(store_, longest.c_str(), id, sizeof id, token));
  std::string too_long(CP_SELF_ID_MAX + 1, 'a');
  EXPECT_EQ(CP_EINVAL, cp_token_store_issue(store_, too_long.c_str(), id,
                                            sizeof id, token));
  EXPECT_EQ(CP_EINVAL, cp_token_store_issue(store_, "ok", id, 5, token));
  EXPECT_TRUE(cp_self_id_valid("a.b_c-D9"));
}

TEST_F(TokenStoreTest, TokensExpireAfterTheTtl) {
  opts_.ttl_ms = 60 * 1000;
  Create();
  Identity a = Issue();
  cp_manual_clock_advance(&clock_, 59 * kSecond);
  EXPECT_TRUE(Valid(a));
  cp_manual_clock_advance(&clock_, 1 * kSecond);
  EXPECT_FALSE(Valid(a));
  // The failed validation removed it lazily and told the listeners.
  EXPECT_EQ(0u, cp_token_store_count(store_));
  ASSERT_EQ(1u, events_.size());
  EXPECT_EQ(a.id, events_[0].id);
  EXPECT_EQ(CP_TOKEN_EXPIRED, events_[0].kind);
}

TEST_F(TokenStoreTest, SweepRemovesOnlyExpiredIdentities) {
  opts_.ttl_ms = 10 * 1000;
  Create();
  std::vector<Identity> old_ones;
  for (int i = 0; i < 300; i++) {
    old_ones.push_back(Issue("old"));
  }
  cp_manual_clock_advance(&clock_, 5 * kSecond);
  std::vector<Identity> young;
  for (int i = 0; i < 200; i++) {
    young.push_back(Issue("young"));
  }
  cp_manual_clock_advance(&clock_, 5 * kSecond);
  EXPECT_EQ(300u, cp_token_store_sweep(store_));
  EXPECT_EQ(200u, cp_token_store_count(store_));
  EXPECT_EQ(300u, events_.size());
  for (const Identity &y : young) {
    EXPECT_TRUE(Valid(y));
  }
  for (const Identity &o : old_ones) {
    EXPECT_FALSE(Valid(o));
  }
  EXPECT_EQ(0u, cp_token_store_sweep(store_));
}

void CountEvents(const char *, cp_token_event, void *user) {
  ++*static_cast<int *>(user);
}

TEST_F(TokenStoreTest, UnsubscribedListenersAreNotCalled) {
  Create();
  int a = 0;
  int b = 0;
  ASSERT_EQ(0, cp_token_store_subscribe(store_, CountEvents, &a));
  ASSERT_EQ(0, cp_token_store_subscribe(store_, CountEvents, &b));
  Identity first = Issue();
  ASSERT_EQ(0, cp_token_store_revoke(store_, first.id.c_str()));
  EXPECT_EQ(1, a);
  EXPECT_EQ(1, b);
  EXPECT_EQ(0, cp_token_store_unsubscribe(store_, CountEvents, &a));
  EXPECT_EQ(CP_ENOTFOUND, cp_token_store_unsubscribe(store_, CountEvents, &a));
  EXPECT_EQ(CP_EINVAL, cp_token_store_unsubscribe(store_, nullptr, &a));
  Identity second = Issue();
  ASSERT_EQ(0, cp_token_store_revoke(store_, second.id.c_str()));
  EXPECT_EQ(1, a);
  EXPECT_EQ(2, b);
}

// No fixed slot count: every one of many listeners hears every event,
// in order of subscription, and removing some leaves the rest.
TEST_F(TokenStoreTest, ManyListenersEachHearEveryEvent) {
  Create();
  constexpr int kListeners = 100;
  std::vector<int> counts(kListeners, 0);
  for (int &c : counts) {
    ASSERT_EQ(0, cp_token_store_subscribe(store_, CountEvents, &c));
  }
  ASSERT_EQ(0, cp_token_store_revoke(store_, Issue().id.c_str()));
  for (int i = 0; i < kListeners; i += 2) {
    ASSERT_EQ(0, cp_token_store_unsubscribe(store_, CountEvents, &counts[i]));
  }
  ASSERT_EQ(0, cp_token_store_revoke(store_, Issue().id.c_str()));
  for (int i = 0; i < kListeners; i++) {
    EXPECT_EQ(i % 2 == 0 ? 1 : 2, counts[i]) << "listener " << i;
  }
}

// The first listener holds a notification open; meanwhile another thread
// removes the second, which that notification has not reached: the
// removal waits for the notification, and the second is never called.
struct HeldListener {
  std::mutex mu;
  std::condition_variable cv;
  bool inside = false;
  bool release = false;
};

void HoldUntilReleased(const char *, cp_token_event, void *user) {
  auto *h = static_cast<HeldListener *>(user);
  std::unique_lock<std::mutex> lock(h->mu);
  h->inside = true;
  h->cv.notify_all();
  h->cv.wait(lock, [&] { return h->release; });
}

TEST_F(TokenStoreTest, ARemovedListenerIsSkippedByARunningNotification) {
  Create();
  HeldListener held;
  int later = 0;
  ASSERT_EQ(0, cp_token_store_subscribe(store_, HoldUntilReleased, &held));
  ASSERT_EQ(0, cp_token_store_subscribe(store_, CountEvents, &later));
  Identity id = Issue();
  std::thread revoker(
      [&] { EXPECT_EQ(0, cp_token_store_revoke(store_, id.id.c_str())); });
  {
    std::unique_lock<std::mutex> lock(held.mu);
    held.cv.wait(lock, [&] { return held.inside; });
  }
  std::atomic<bool> removed{false};
  std::thread remover([&] {
    EXPECT_EQ(0, cp_token_store_unsubscribe(store_, CountEvents, &later));
    removed = true;
  });
  ASSERT_TRUE(cp_test::WaitFor("the removal began", [&] {
    return cpi_token_store_removed_listeners(store_) == 1;
  }));
  EXPECT_FALSE(removed.load()) << "returned while the listener was inside";
  {
    std::lock_guard<std::mutex> lock(held.mu);
    held.release = true;
  }
  held.cv.notify_all();
  revoker.join();
  remover.join();
  EXPECT_TRUE(removed.load());
  EXPECT_EQ(0, later);
  // The list is whole again: a new listener is called once per event.
  int fresh = 0;
  ASSERT_EQ(0, cp_token_store_unsubscribe(store_, HoldUntilReleased, &held));
  ASSERT_EQ(0, cp_token_store_subscribe(store_, CountEvents, &fresh));
  ASSERT_EQ(0, cp_token_store_revoke(store_, Issue().id.c_str()));
  EXPECT_EQ(1, fresh);
  EXPECT_EQ(0, later);
}

TEST_F(TokenStoreTest, BackgroundSweepRuns) {
  opts_.ttl_ms = 1000;
  opts_.sweep_interval_ms = 20;
  Create();
  Issue();
  cp_manual_clock_advance(&clock_, 2 * kSecond);
  ASSERT_TRUE(cp_test::WaitFor(
      "the sweeper thread to remove the expired identity",
      [&] { return cp_token_store_count(store_) == 0; },
      [&] { return std::to_string(cp_token_store_count(store_)) + " live"; }));
  EXPECT_EQ(0u, cp_token_store_count(store_));
}

TEST_F(TokenStoreTest, CapOnLiveTokens) {
  opts_.max_tokens = 50;
  opts_.ttl_ms = 1000;
  Create();
  for (int i = 0; i < 50; i++) {
    Issue();
  }
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  EXPECT_EQ(CP_ELIMIT, cp_token_store_issue(store_, "x", id, sizeof id, token));
  EXPECT_EQ(50u, cp_token_store_count(store_));
  // Once the old ones expire, issuing sweeps them and succeeds.
  cp_manual_clock_advance(&clock_, 2 * kSecond);
  EXPECT_EQ(0, cp_token_store_issue(store_, "x", id, sizeof id, token));
  EXPECT_EQ(1u, cp_token_store_count(store_));
}

TEST_F(TokenStoreTest, RevokeStopsValidationAndNotifies) {
  Create();
  Identity a = Issue();
  Identity b = Issue();
  EXPECT_EQ(0, cp_token_store_revoke(store_, a.id.c_str()));
  EXPECT_FALSE(Valid(a));
  EXPECT_TRUE(Valid(b));
  EXPECT_EQ(CP_ENOTFOUND, cp_token_store_revoke(store_, a.id.c_str()));
  EXPECT_EQ(CP_ENOTFOUND, cp_token_store_revoke(store_, "nope"));
  ASSERT_EQ(1u, events_.size());
  EXPECT_EQ(a.id, events_[0].id);
  EXPECT_EQ(CP_TOKEN_REVOKED, events_[0].kind);
  EXPECT_EQ(1u, cp_token_store_count(store_));
}

TEST_F(TokenStoreTest, RefreshKeepsTheOldTokenForTheOverlap) {
  opts_.ttl_ms = 3600 * 1000;
  opts_.refresh_overlap_ms = 30 * 1000;
  Create();
  Identity a = Issue();
  char fresh[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_refresh(store_, a.id.c_str(), fresh));
  EXPECT_NE(a.token, std::string(fresh));
  EXPECT_TRUE(Valid(a.id, fresh));
  EXPECT_TRUE(Valid(a));  // old token, inside the overlap
  cp_manual_clock_advance(&clock_, 31 * kSecond);
  EXPECT_FALSE(Valid(a));
  EXPECT_TRUE(Valid(a.id, fresh));
  // The new token lives a full TTL from the refresh.
  cp_manual_clock_advance(&clock_, 3500 * kSecond);
  EXPECT_TRUE(Valid(a.id, fresh));
  EXPECT_EQ(CP_ENOTFOUND,
            cp_token_store_refresh(store_, "x-00000000000000aa", fresh));
}

TEST_F(TokenStoreTest, OverlapNeverOutlivesTheOldToken) {
  opts_.ttl_ms = 10 * 1000;
  opts_.refresh_overlap_ms = 60 * 1000;
  Create();
  Identity a = Issue();
  cp_manual_clock_advance(&clock_, 9 * kSecond);
  char fresh[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_refresh(store_, a.id.c_str(), fresh));
  cp_manual_clock_advance(&clock_, 2 * kSecond);
  EXPECT_FALSE(Valid(a));  // the old token's own expiry came first
  EXPECT_TRUE(Valid(a.id, fresh));
}

// A random source that repeats the same suffix for the first draws.
struct ScriptedRandom {
  int calls = 0;
  bool fail = false;
};

int Scripted(void *buf, size_t n, void *ctx) {
  auto *r = static_cast<ScriptedRandom *>(ctx);
  r->calls++;
  if (r->fail) {
    return -1;
  }
  // Token bytes vary; every 8-byte suffix draw is 0x42.. for the first four
  // calls, so the second issue collides with the first.
  unsigned char *p = static_cast<unsigned char *>(buf);
  for (size_t i = 0; i < n; i++) {
    p[i] = static_cast<unsigned char>(r->calls * 31 + i);
  }
  if (r->calls <= 4) {
    memset(p + n - 8, 0x42, 8);
  }
  return 0;
}

TEST_F(TokenStoreTest, SuffixCollisionDrawsAgainAndNeverOverwrites) {
  ScriptedRandom rnd;
  opts_.random = Scripted;
  opts_.random_user = &rnd;
  Create();
  Identity a = Issue("p");
  EXPECT_EQ("p-4242424242424242", a.id);
  Identity b = Issue("p");  // draws 4242.. twice more, then a fresh suffix
  EXPECT_NE(a.id, b.id);
  EXPECT_TRUE(Valid(a));
  EXPECT_TRUE(Valid(b));
  EXPECT_EQ(2u, cp_token_store_count(store_));
}

TEST_F(TokenStoreTest, FailingRandomSourceIsReported) {
  ScriptedRandom rnd;
  rnd.fail = true;
  opts_.random = Scripted;
  opts_.random_user = &rnd;
  Create();
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  EXPECT_EQ(CP_ESYS, cp_token_store_issue(store_, "p", id, sizeof id, token));
  EXPECT_EQ(0u, cp_token_store_count(store_));
}

TEST_F(TokenStoreTest, BadOptionsAreRejected) {
  cp_token_store *s = nullptr;
  cp_token_store_options o;
  cp_token_store_options_init(&o);
  o.ttl_ms = 0;
  EXPECT_EQ(CP_EINVAL, cp_token_store_create(&s, &o));
  cp_token_store_options_init(&o);
  o.max_tokens = 0;
  EXPECT_EQ(CP_EINVAL, cp_token_store_create(&s, &o));
  cp_token_store_options_init(&o);
  o.sweep_interval_ms = -1;
  EXPECT_EQ(CP_EINVAL, cp_token_store_create(&s, &o));
  cp_token_store_options_init(&o);
  o.max_tokens = CP_TOKEN_STORE_MAX_TOKENS + 1;
  EXPECT_EQ(CP_EINVAL, cp_token_store_create(&s, &o));
  EXPECT_EQ(CP_EINVAL, cp_token_store_create(nullptr, nullptr));
  cp_token_store_destroy(nullptr);
}

// Readers validate continuously while writers issue, revoke and grow the
// tables: a valid identity must never fail, a revoked one never pass.
TEST_F(TokenStoreTest, ConcurrentValidationDuringWrites) {
  Create();
  std::vector<Identity> stable;
  for (int i = 0; i < 64; i++) {
    stable.push_back(Issue("stable"));
  }
  Identity revoked = Issue("gone");
  ASSERT_EQ(0, cp_token_store_revoke(store_, revoked.id.c_str()));
  std::atomic<bool> stop{false};
  std::atomic<long> wrong{0};
  std::atomic<long> checks{0};
  std::atomic<int> running{0};  // readers past their first check
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; t++) {
    readers.emplace_back([&, t] {
      size_t i = static_cast<size_t>(t);
      bool counted = false;
      while (!stop.load()) {
        if (!Valid(stable[i % stable.size()])) {
          wrong++;
        }
        if (Valid(revoked)) {
          wrong++;
        }
        checks++;
        i++;
        if (!counted) {
          counted = true;
          running++;
        }
      }
    });
  }
  // The writers start once every reader is checking: otherwise, on a busy
  // machine, the writes could all be over before a reader ran at all.
  EXPECT_TRUE(cp_test::WaitFor(
      "all three readers to be checking", [&] { return running.load() == 3; },
      [&] { return std::to_string(running.load()) + " running"; }));
  // 3000 identities per round make every shard's table grow (rehash in
  // place) several times while the readers run.
  for (int round = 0; round < 4; round++) {
    std::vector<Identity> churn;
    for (int i = 0; i < 3000; i++) {
      churn.push_back(Issue("churn"));
    }
    for (const Identity &c : churn) {
      cp_token_store_revoke(store_, c.id.c_str());
    }
  }
  stop = true;
  for (auto &r : readers) {
    r.join();
  }
  EXPECT_EQ(0, wrong.load());
  EXPECT_GT(checks.load(), 0);
}

// Growth, removal with backward shifts, and re-insertion over many entries.
TEST_F(TokenStoreTest, ManyIdentitiesThroughGrowthAndRemoval) {
  Create();
  std::vector<Identity> all;
  for (int i = 0; i < 20000; i++) {
    all.push_back(Issue("many"));
  }
  EXPECT_EQ(20000u, cp_token_store_count(store_));
  for (size_t i = 0; i < all.size(); i += 2) {
    ASSERT_EQ(0, cp_token_store_revoke(store_, all[i].id.c_str()));
  }
  for (size_t i = 0; i < all.size(); i++) {
    ASSERT_EQ(i % 2 == 1, Valid(all[i])) << i;
  }
  for (int i = 0; i < 10000; i++) {
    all.push_back(Issue("again"));
  }
  for (size_t i = 20000; i < all.size(); i++) {
    ASSERT_TRUE(Valid(all[i])) << i;
  }
  EXPECT_EQ(20000u, cp_token_store_count(store_));
}

// Identities share their interned name: events and lookups still see each
// identity's own runtime ID while others of the same name come and go, and
// a name whose last identity left can be issued again.
TEST_F(TokenStoreTest, IdentitiesOfOneNameShareItSafely) {
  Create();
  std::vector<Identity> kv;
  for (int i = 0; i < 300; i++) {
    kv.push_back(Issue(i % 2 == 0 ? "KV-Plugin" : "kv-plugin"));
  }
  Identity other = Issue("other");
  for (size_t i = 0; i < kv.size(); i++) {
    ASSERT_EQ(0u, kv[i].id.rfind("kv-plugin-", 0)) << kv[i].id;
    if (i % 3 == 0) {
      ASSERT_EQ(0, cp_token_store_revoke(store_, kv[i].id.c_str()));
      ASSERT_EQ(kv[i].id, events_.back().id);
    }
  }
  for (size_t i = 0; i < kv.size(); i++) {
    ASSERT_EQ(i % 3 != 0, Valid(kv[i])) << i;
  }
  for (size_t i = 0; i < kv.size(); i++) {
    if (i % 3 != 0) {
      ASSERT_EQ(0, cp_token_store_revoke(store_, kv[i].id.c_str()));
      ASSERT_EQ(kv[i].id, events_.back().id);
    }
  }
  EXPECT_TRUE(Valid(other));
  EXPECT_EQ(1u, cp_token_store_count(store_));
  Identity again = Issue("kv-plugin");
  EXPECT_TRUE(Valid(again));
  EXPECT_EQ(0u, again.id.rfind("kv-plugin-", 0));
  cp_manual_clock_advance(&clock_, opts_.ttl_ms * 1000000 + 1);
  EXPECT_EQ(2u, cp_token_store_sweep(store_));
  EXPECT_EQ(0u, cp_token_store_count(store_));
  std::vector<std::string> expired;
  for (const Event &e : events_) {
    if (e.kind == CP_TOKEN_EXPIRED) {
      expired.push_back(e.id);
    }
  }
  std::sort(expired.begin(), expired.end());
  std::vector<std::string> want = {again.id, other.id};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(want, expired);
}

// The principal a handshake authenticated stays with its identity, through
// table growth and refresh, and goes with it.
TEST_F(TokenStoreTest, PrincipalsStayWithTheirIdentity) {
  Create();
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_issue_for(store_, "KV", "api-key:kv", id,
                                        sizeof id, token));
  Identity keyed{id, token};
  Identity anonymous = Issue("kv");
  std::vector<Identity> more;
  for (int i = 0; i < 2000; i++) {  // grows every shard at least once
    more.push_back(Issue("filler"));
  }
  char fresh[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_refresh(store_, keyed.id.c_str(), fresh));
  char out[CP_PRINCIPAL_MAX + 1];
  ASSERT_EQ(0, cp_token_store_principal(store_, keyed.id.c_str(), out));
  EXPECT_STREQ("api-key:kv", out);
  ASSERT_EQ(0, cp_token_store_principal(store_, anonymous.id.c_str(), out));
  EXPECT_STREQ("", out);
  // The name part must match exactly, as for revoke.
  std::string suffix = keyed.id.substr(keyed.id.size() - 17);
  EXPECT_EQ(CP_ENOTFOUND,
            cp_token_store_principal(store_, ("kx" + suffix).c_str(), out));
  ASSERT_EQ(0, cp_token_store_revoke(store_, keyed.id.c_str()));
  EXPECT_EQ(CP_ENOTFOUND,
            cp_token_store_principal(store_, keyed.id.c_str(), out));
  EXPECT_EQ(CP_EINVAL, cp_token_store_principal(store_, nullptr, out));

  std::string longest(CP_PRINCIPAL_MAX, 'p');
  EXPECT_EQ(0, cp_token_store_issue_for(store_, "kv", longest.c_str(), id,
                                        sizeof id, token));
  ASSERT_EQ(0, cp_token_store_principal(store_, id, out));
  EXPECT_EQ(longest, out);
  EXPECT_EQ(CP_EINVAL,
            cp_token_store_issue_for(store_, "kv", (longest + "p").c_str(), id,
                                     sizeof id, token));
}

// Only the exact runtime ID names an identity: same suffix, other name.
TEST_F(TokenStoreTest, RevokeAndRefreshNeedTheExactName) {
  Create();
  Identity a = Issue("alpha");
  std::string suffix = a.id.substr(a.id.size() - 17);
  char fresh[CP_TOKEN_LEN + 1];
  EXPECT_EQ(CP_ENOTFOUND,
            cp_token_store_revoke(store_, ("alph" + suffix).c_str()));
  EXPECT_EQ(CP_ENOTFOUND,
            cp_token_store_revoke(store_, ("alphaa" + suffix).c_str()));
  EXPECT_EQ(CP_ENOTFOUND,
            cp_token_store_refresh(store_, ("beta" + suffix).c_str(), fresh));
  EXPECT_TRUE(Valid(a));
  EXPECT_FALSE(Valid("beta" + suffix, a.token));
  EXPECT_EQ(0, cp_token_store_revoke(store_, a.id.c_str()));
}

// The previous-token record of a removed identity is reused by the next
// refresh, and carries nothing over.
TEST_F(TokenStoreTest, PreviousTokenRecordsAreReusedCleanly) {
  Create();
  Identity a = Issue("a");
  char a_new[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_refresh(store_, a.id.c_str(), a_new));
  ASSERT_EQ(0, cp_token_store_revoke(store_, a.id.c_str()));
  EXPECT_FALSE(Valid(a));
  EXPECT_FALSE(Valid(a.id, a_new));
  std::vector<Identity> others;
  for (int i = 0; i < 200; i++) {
    Identity b = Issue("b");
    char b_new[CP_TOKEN_LEN + 1];
    ASSERT_EQ(0, cp_token_store_refresh(store_, b.id.c_str(), b_new));
    EXPECT_TRUE(Valid(b));  // in the overlap
    EXPECT_TRUE(Valid(b.id, b_new));
    EXPECT_FALSE(Valid(b.id, a.token));
    EXPECT_FALSE(Valid(b.id, a_new));
    // A second refresh drops the first token and keeps the second.
    char b_third[CP_TOKEN_LEN + 1];
    ASSERT_EQ(0, cp_token_store_refresh(store_, b.id.c_str(), b_third));
    EXPECT_FALSE(Valid(b));
    EXPECT_TRUE(Valid(b.id, b_new));
    EXPECT_TRUE(Valid(b.id, b_third));
  }
}

// A random source whose first draw of each issue puts the suffix in shard 0
// (low six bits zero); redraws are left random.
int ShardZeroFirst(void *buf, size_t n, void *ctx) {
  (void)ctx;
  if (getrandom(buf, n, 0) != static_cast<ssize_t>(n)) {
    return -1;
  }
  if (n > 8) {  // token + first suffix
    unsigned char *p = static_cast<unsigned char *>(buf);
    p[n - 8] &= 0xC0;  // little-endian: the suffix's low byte
  }
  return 0;
}

// When one shard holds its most entries, issuing draws a key that lands in
// another shard instead of failing.
TEST_F(TokenStoreTest, FullShardDrawsAnotherKey) {
  opts_.max_tokens = 6400;  // per shard: 100 + 8 * 10 + 32 = 212
  opts_.random = ShardZeroFirst;
  Create();
  std::vector<Identity> in_zero;
  std::vector<Identity> moved;
  for (int i = 0; i < 400; i++) {
    Identity id = Issue("full");
    uint64_t key = std::stoull(id.id.substr(id.id.size() - 16), nullptr, 16);
    ((key & 63) == 0 ? in_zero : moved).push_back(id);
  }
  EXPECT_EQ(212u, in_zero.size());
  EXPECT_EQ(188u, moved.size());
  for (const Identity &id : in_zero) {
    ASSERT_TRUE(Valid(id));
  }
  for (const Identity &id : moved) {
    ASSERT_TRUE(Valid(id));
  }
}

TEST(SipHash, ReferenceVectors) {
  // Key 00..0f; messages 00..(n-1): the reference implementation's outputs.
  cp_siphash_key key = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
  unsigned char msg[16];
  for (int i = 0; i < 16; i++) {
    msg[i] = static_cast<unsigned char>(i);
  }
  EXPECT_EQ(0x726fdb47dd0e0e31ULL, cpi_siphash(&key, msg, 0));
  EXPECT_EQ(0x74f839c593dc67fdULL, cpi_siphash(&key, msg, 1));
  EXPECT_EQ(0xa129ca6149be45e5ULL, cpi_siphash(&key, msg, 15));
}

}  // namespace

// The operator's view (cplugin_memory_bytes{structure="tokens"} and the
// sweep timestamp): bytes follow the identities, their names and refreshed
// tokens; every sweep is counted and stamped with the wall clock.
TEST_F(TokenStoreTest, StatsCountBytesAndSweeps) {
  opts_.ttl_ms = 10 * 1000;
  Create();
  cp_token_store_stats empty;
  cp_token_store_get_stats(store_, &empty);
  EXPECT_EQ(0u, empty.identities);
  EXPECT_GT(empty.memory_bytes, 0u);  // the tables' first slots
  EXPECT_EQ(0u, empty.sweeps);
  EXPECT_GT(empty.last_sweep_unix_ms, 0);  // the creation stands in

  std::vector<Identity> ids;
  for (int i = 0; i < 4000; i++) {
    ids.push_back(Issue("same-name"));
  }
  cp_token_store_stats one_name;
  cp_token_store_get_stats(store_, &one_name);
  EXPECT_EQ(4000u, one_name.identities);
  // At least a 64-byte slot each, and grown tables.
  EXPECT_GE(one_name.memory_bytes, empty.memory_bytes + 4000 * 64);

  for (int i = 0; i < 1000; i++) {
    Issue(("name-" + std::to_string(i)).c_str());
  }
  cp_token_store_stats names;
  cp_token_store_get_stats(store_, &names);
  // Each new name is interned once: more than its slot alone.
  EXPECT_GT(names.memory_bytes, one_name.memory_bytes + 1000 * 64);

  char token[CP_TOKEN_LEN + 1];
  for (int i = 0; i < 100; i++) {
    ASSERT_EQ(0, cp_token_store_refresh(store_, ids[i].id.c_str(), token));
  }
  cp_token_store_stats refreshed;
  cp_token_store_get_stats(store_, &refreshed);
  EXPECT_GT(refreshed.memory_bytes, names.memory_bytes);  // previous tokens

  const int64_t before = empty.last_sweep_unix_ms;
  cp_manual_clock_advance(&clock_, 11 * kSecond);
  EXPECT_EQ(5000u, cp_token_store_sweep(store_));
  cp_token_store_stats swept;
  cp_token_store_get_stats(store_, &swept);
  EXPECT_EQ(0u, swept.identities);
  EXPECT_EQ(1u, swept.sweeps);
  EXPECT_GE(swept.last_sweep_unix_ms, before);
  cp_token_store_sweep(store_);
  cp_token_store_get_stats(store_, &swept);
  EXPECT_EQ(2u, swept.sweeps);

  cp_token_store_get_stats(nullptr, &swept);  // NULL: zeros
  EXPECT_EQ(0u, swept.memory_bytes);
}
