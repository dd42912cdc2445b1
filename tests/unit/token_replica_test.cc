// The token store's side of host replicas (runtime/src/tokens/
// token_replica.h): the replicator hears local issues, refreshes and
// revocations and nothing else; adopted identities validate like issued
// ones; drop tells listeners, forget does not.
#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "cplugin/errors.h"
#include "cplugin/tokens.h"
#include "crypto/crypto.h"
#include "tokens/token_replica.h"
}

namespace {

struct Heard {
  std::vector<std::string> changes;  // "put <id>" / "gone <id>"
  std::vector<cpi_token_record> records;

  static void Fn(cpi_token_change c, const cpi_token_record *r, void *u) {
    auto *h = static_cast<Heard *>(u);
    h->changes.push_back((c == CPI_TOKEN_PUT ? "put " : "gone ") +
                         std::string(r->runtime_id));
    h->records.push_back(*r);
  }
};

struct Events {
  std::vector<std::string> seen;
  static void Fn(const char *id, cp_token_event ev, void *u) {
    static_cast<Events *>(u)->seen.push_back(
        (ev == CP_TOKEN_REVOKED ? "revoked " : "expired ") + std::string(id));
  }
};

std::string Text(const uint8_t token[CPI_TOKEN_BYTES]) {
  char out[CP_TOKEN_LEN + 1];
  cpi_base64url_encode(token, CPI_TOKEN_BYTES, out, sizeof out);
  return out;
}

class TokenReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_token_store_options o;
    cp_token_store_options_init(&o);
    o.max_tokens = 4;
    o.sweep_interval_ms = 0;
    ASSERT_EQ(0, cp_token_store_create(&a_, &o));
    ASSERT_EQ(0, cp_token_store_create(&b_, &o));
    cpi_token_store_set_replicator(a_, Heard::Fn, &heard_);
    ASSERT_EQ(0, cp_token_store_subscribe(b_, Events::Fn, &events_));
  }
  void TearDown() override {
    cp_token_store_destroy(a_);
    cp_token_store_destroy(b_);
  }
  bool Valid(cp_token_store *s, const std::string &id,
             const std::string &token) {
    return cp_token_store_validate(s, id.data(), id.size(), token.data(),
                                   token.size());
  }

  cp_token_store *a_ = nullptr;
  cp_token_store *b_ = nullptr;
  Heard heard_;
  Events events_;
};

TEST_F(TokenReplicaTest, ReplicatorHearsLocalChangesAndAdoptionFollows) {
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_issue_for(a_, "KV", "api-key:ops", id, sizeof id,
                                        token));
  ASSERT_EQ(1u, heard_.records.size());
  cpi_token_record issued = heard_.records[0];
  EXPECT_EQ("put " + std::string(id), heard_.changes[0]);
  EXPECT_EQ(token, Text(issued.token));
  EXPECT_STREQ("api-key:ops", issued.principal);
  EXPECT_EQ(INT64_MIN, issued.prev_expires_ns);
  EXPECT_GT(issued.expires_ns, cpi_token_store_now_ns(a_));

  ASSERT_EQ(0, cpi_token_store_adopt(b_, &issued));
  EXPECT_TRUE(Valid(b_, id, token));
  char principal[CP_PRINCIPAL_MAX + 1];
  ASSERT_EQ(0, cp_token_store_principal(b_, id, principal));
  EXPECT_STREQ("api-key:ops", principal);
  EXPECT_EQ(1u, cp_token_store_count(b_));

  char fresh[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_refresh(a_, id, fresh));
  ASSERT_EQ(2u, heard_.records.size());
  cpi_token_record refreshed = heard_.records[1];
  EXPECT_EQ(fresh, Text(refreshed.token));
  EXPECT_EQ(token, Text(refreshed.prev_token));
  EXPECT_GT(refreshed.prev_expires_ns, cpi_token_store_now_ns(a_));
  ASSERT_EQ(0, cpi_token_store_adopt(b_, &refreshed));
  EXPECT_TRUE(Valid(b_, id, fresh));
  EXPECT_TRUE(Valid(b_, id, token)) << "the previous token, in its overlap";
  EXPECT_EQ(1u, cp_token_store_count(b_)) << "replaced, not added";

  // A record without a previous token clears the entry's.
  cpi_token_record plain = refreshed;
  plain.prev_expires_ns = INT64_MIN;
  ASSERT_EQ(0, cpi_token_store_adopt(b_, &plain));
  EXPECT_FALSE(Valid(b_, id, token));
  EXPECT_TRUE(Valid(b_, id, fresh));

  ASSERT_EQ(0, cp_token_store_revoke(a_, id));
  ASSERT_EQ(3u, heard_.changes.size());
  EXPECT_EQ("gone " + std::string(id), heard_.changes[2]);
  EXPECT_TRUE(events_.seen.empty()) << "adoption tells no listener";
  ASSERT_EQ(0, cpi_token_store_drop(b_, id));
  EXPECT_FALSE(Valid(b_, id, fresh));
  ASSERT_EQ(1u, events_.seen.size());
  EXPECT_EQ("revoked " + std::string(id), events_.seen[0]);
  EXPECT_EQ(CP_ENOTFOUND, cpi_token_store_drop(b_, id));
  for (auto &r : heard_.records) {
    cpi_secure_zero(&r, sizeof r);
  }
}

TEST_F(TokenReplicaTest, ForgetTellsNobodyAndAdoptNeverEchoes) {
  cpi_token_store_set_replicator(b_, Heard::Fn, &heard_);
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_issue(a_, "kv", id, sizeof id, token));
  cpi_token_record rec = heard_.records[0];
  size_t heard = heard_.changes.size();
  ASSERT_EQ(0, cpi_token_store_adopt(b_, &rec));
  ASSERT_EQ(0, cpi_token_store_forget(b_, id));
  ASSERT_EQ(CP_ENOTFOUND, cpi_token_store_forget(b_, id));
  EXPECT_FALSE(Valid(b_, id, token));
  EXPECT_TRUE(events_.seen.empty());
  EXPECT_EQ(heard, heard_.changes.size()) << "adopt and forget are silent";
  // Cleared: local changes are no longer heard.
  cpi_token_store_set_replicator(a_, nullptr, nullptr);
  ASSERT_EQ(0, cp_token_store_revoke(a_, id));
  EXPECT_EQ(heard, heard_.changes.size());
  cpi_secure_zero(&rec, sizeof rec);
}

TEST_F(TokenReplicaTest, BadRecordsAreRefused) {
  char id[CP_RUNTIME_ID_MAX + 1];
  char token[CP_TOKEN_LEN + 1];
  ASSERT_EQ(0, cp_token_store_issue(a_, "kv", id, sizeof id, token));
  const cpi_token_record good = heard_.records[0];
  cpi_token_record r = good;
  snprintf(r.runtime_id, sizeof r.runtime_id, "no-suffix");
  EXPECT_EQ(CP_EINVAL, cpi_token_store_adopt(b_, &r));
  r = good;
  r.runtime_id[0] = 'K';  // the store only issues lower-case names
  EXPECT_EQ(CP_EINVAL, cpi_token_store_adopt(b_, &r));
  r = good;
  r.runtime_id[0] = '-';
  EXPECT_EQ(CP_EINVAL, cpi_token_store_adopt(b_, &r));
  r = good;
  r.expires_ns = cpi_token_store_now_ns(b_) - 1;
  EXPECT_EQ(CP_EINVAL, cpi_token_store_adopt(b_, &r));
  // Another name on a suffix already held: refused, the holder kept.
  ASSERT_EQ(0, cpi_token_store_adopt(b_, &good));
  r = good;
  std::string other = "xy" + std::string(good.runtime_id + 2);
  snprintf(r.runtime_id, sizeof r.runtime_id, "%s", other.c_str());
  EXPECT_EQ(CP_EINVAL, cpi_token_store_adopt(b_, &r));
  EXPECT_TRUE(Valid(b_, id, token));
  // Full: CP_ELIMIT, and nothing half-inserted.
  for (int i = 0; i < 3; i++) {
    char more_id[CP_RUNTIME_ID_MAX + 1];
    char more_token[CP_TOKEN_LEN + 1];
    ASSERT_EQ(0, cp_token_store_issue(b_, "filler", more_id, sizeof more_id,
                                      more_token));
  }
  ASSERT_EQ(0, cp_token_store_issue(a_, "late", id, sizeof id, token));
  r = heard_.records.back();
  EXPECT_EQ(CP_ELIMIT, cpi_token_store_adopt(b_, &r));
  EXPECT_EQ(4u, cp_token_store_count(b_));
  EXPECT_FALSE(Valid(b_, id, token));
  cpi_secure_zero(&r, sizeof r);
}

}  // namespace
