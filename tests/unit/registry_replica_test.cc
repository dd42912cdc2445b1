// The registry's hooks for host replicas (registry/registry_replica.h) and
// the sealed registration values they share through etcd
// (replica/registration_value.h), without etcd: what the replicator hears
// and does not hear, and what adopting and dropping another replica's
// registrations do.
#include <gtest/gtest.h>
#include <string.h>

#include <string>
#include <utility>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
#include "crypto/seal.h"
#include "registry/registry_replica.h"
#include "replica/registration_value.h"
}

namespace {

struct Heard {
  bool added;
  uint64_t id;
  std::string owner, type, version, path;
  std::vector<std::pair<std::string, std::string>> md;
};

void Record(bool added, const cpi_reg_record *rec, void *user) {
  Heard h{added, rec->id, rec->owner, "", "", "", {}};
  if (added) {
    h.type = rec->svc.type;
    h.version = rec->svc.version;
    h.path = rec->svc.endpoint_path;
    for (size_t i = 0; i < rec->svc.metadata_count; i++) {
      h.md.emplace_back(rec->svc.metadata[i].key, rec->svc.metadata[i].value);
    }
  }
  static_cast<std::vector<Heard> *>(user)->push_back(h);
}

std::string IdText(uint64_t id) {
  char text[CP_REGISTRY_ID_LEN + 1];
  snprintf(text, sizeof text, "reg-%016llx",
           static_cast<unsigned long long>(id));
  return text;
}

uint64_t IdOf(const std::string &text) {
  return strtoull(text.c_str() + 4, nullptr, 16);
}

class RegistryReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cp_registry_options o;
    cp_registry_options_init(&o);
    o.max_registrations_per_runtime = 3;
    ASSERT_EQ(0, cp_registry_create(&reg_, &o));
    cpi_registry_set_replicator(reg_, Record, &heard_);
  }
  void TearDown() override {
    cpi_registry_set_replicator(reg_, nullptr, nullptr);
    cp_registry_destroy(reg_);
  }

  cp_registry_service Svc(const char *type, const char *base_url) {
    md_[0] = {"zone", "a"};
    md_[1] = {"base_url", base_url};
    return {type, "1.2.0", "/echo.v1.Echo/", md_, 2};
  }

  std::string Resolve(const char *type, std::string *provider = nullptr) {
    cp_registry_endpoint ep;
    if (cp_registry_resolve(reg_, type, nullptr, &ep) != 0) {
      return "";
    }
    if (provider != nullptr) {
      *provider = ep.provider_id;
    }
    return ep.registration_id;
  }

  cp_registry *reg_ = nullptr;
  std::vector<Heard> heard_;
  cp_metadata md_[2];
};

TEST_F(RegistryReplicaTest, HearsAdditionsAndRemovalsInOrder) {
  cp_registry_service svc = Svc("echo", "127.0.0.1:7001");
  char id[CP_REGISTRY_ID_LEN + 1];
  ASSERT_EQ(0, cp_registry_register_as_host(reg_, "rt-1", &svc, id));
  // An idempotent repeat is no change.
  ASSERT_EQ(0, cp_registry_register_as_host(reg_, "rt-1", &svc, id));
  ASSERT_EQ(1u, heard_.size());
  EXPECT_TRUE(heard_[0].added);
  EXPECT_EQ(IdOf(id), heard_[0].id);
  EXPECT_EQ("rt-1", heard_[0].owner);
  EXPECT_EQ("echo", heard_[0].type);
  EXPECT_EQ("1.2.0", heard_[0].version);
  EXPECT_EQ("/echo.v1.Echo/", heard_[0].path);
  std::vector<std::pair<std::string, std::string>> md = {
      {"zone", "a"}, {"base_url", "127.0.0.1:7001"}};
  EXPECT_EQ(md, heard_[0].md);

  ASSERT_EQ(0, cp_registry_unregister_as_host(reg_, id));
  ASSERT_EQ(2u, heard_.size());
  EXPECT_FALSE(heard_[1].added);
  EXPECT_EQ(IdOf(id), heard_[1].id);
  EXPECT_EQ("rt-1", heard_[1].owner);

  // A whole runtime removed: each of its registrations.
  cp_registry_service other = Svc("other", "127.0.0.1:7002");
  ASSERT_EQ(0, cp_registry_register_as_host(reg_, "rt-2", &svc, nullptr));
  ASSERT_EQ(0, cp_registry_register_as_host(reg_, "rt-2", &other, nullptr));
  ASSERT_EQ(0, cp_registry_remove_runtime(reg_, "rt-2"));
  ASSERT_EQ(6u, heard_.size());
  EXPECT_FALSE(heard_[4].added);
  EXPECT_FALSE(heard_[5].added);
}

TEST_F(RegistryReplicaTest, InProcessPluginsAreNotReplicated) {
  cp_registry_service svc = Svc("echo", "inproc:echo");
  char id[CP_REGISTRY_ID_LEN + 1];
  ASSERT_EQ(0, cp_registry_register_as_host(reg_, "launch-echo", &svc, id));
  ASSERT_EQ(0, cp_registry_unregister_as_host(reg_, id));
  EXPECT_TRUE(heard_.empty());
}

TEST_F(RegistryReplicaTest, AdoptedUnderItsIdWithoutAnEcho) {
  cp_registry_service svc = Svc("echo", "127.0.0.1:7001");
  char why[160] = "";
  const uint64_t id = 0x1234abcd5678ef90ULL;
  ASSERT_EQ(0, cpi_registry_adopt(reg_, id, "rt-far", &svc, why, sizeof why));
  std::string provider;
  EXPECT_EQ(IdText(id), Resolve("echo", &provider));
  EXPECT_EQ("rt-far", provider);
  // Again (an echo, a listing): left as it is.
  ASSERT_EQ(0, cpi_registry_adopt(reg_, id, "rt-far", &svc, why, sizeof why));
  cp_registry_stats st;
  cp_registry_get_stats(reg_, &st);
  EXPECT_EQ(1u, st.registrations);
  EXPECT_TRUE(heard_.empty());

  // Its owner's repeat here finds it: the same ID, still no change.
  char again[CP_REGISTRY_ID_LEN + 1];
  ASSERT_EQ(0, cp_registry_register_as_host(reg_, "rt-far", &svc, again));
  EXPECT_EQ(IdText(id), again);
  EXPECT_TRUE(heard_.empty());

  // Dropped as another replica removed it: quietly.
  EXPECT_EQ(0, cpi_registry_drop(reg_, id));
  EXPECT_EQ(CP_ENOTFOUND, cpi_registry_drop(reg_, id));
  EXPECT_EQ("", Resolve("echo"));
  EXPECT_TRUE(heard_.empty());

  // Removed here for a caller (unregistered, its runtime removed): that is
  // news for the others.
  ASSERT_EQ(0, cpi_registry_adopt(reg_, id, "rt-far", &svc, why, sizeof why));
  ASSERT_EQ(0, cp_registry_unregister_as_host(reg_, IdText(id).c_str()));
  ASSERT_EQ(1u, heard_.size());
  EXPECT_FALSE(heard_[0].added);
  EXPECT_EQ(id, heard_[0].id);
}

TEST_F(RegistryReplicaTest, AdoptValidatesAndCounts) {
  char why[160] = "";
  cp_registry_service bad = Svc("not a type!", "127.0.0.1:7001");
  EXPECT_EQ(CP_EINVAL,
            cpi_registry_adopt(reg_, 1, "rt", &bad, why, sizeof why));
  EXPECT_NE(std::string(), why);
  cp_registry_service inproc = Svc("echo", "inproc:echo");
  EXPECT_EQ(CP_EINVAL,
            cpi_registry_adopt(reg_, 2, "rt", &inproc, why, sizeof why));
  cp_registry_service svc = Svc("echo", "127.0.0.1:7001");
  EXPECT_EQ(CP_EINVAL, cpi_registry_adopt(reg_, 3, "", &svc, why, sizeof why));
  // The per-runtime cap (3 here) holds for adopted ones too.
  const char *types[] = {"t1", "t2", "t3", "t4"};
  for (int i = 0; i < 4; i++) {
    cp_registry_service s = Svc(types[i], "127.0.0.1:7001");
    EXPECT_EQ(i < 3 ? 0 : CP_ELIMIT,
              cpi_registry_adopt(reg_, 10 + i, "rt", &s, why, sizeof why))
        << i;
  }
  EXPECT_TRUE(heard_.empty());
}

// Each replica judges liveness for itself: a provider gone from here may
// still be reachable from another replica, so its removal stays here.
TEST(RegistryReplicaLiveness, GoneProvidersLeaveQuietly) {
  cp_manual_clock clock;
  cp_manual_clock_init(&clock, 1000000000);
  cp_registry_options o;
  cp_registry_options_init(&o);
  o.clock = &clock.clock;
  o.lease_interval_ms = 1000;
  o.lease_misses = 1;
  o.gone_grace_ms = 1000;
  cp_registry *reg = nullptr;
  ASSERT_EQ(0, cp_registry_create(&reg, &o));
  std::vector<Heard> heard;
  cpi_registry_set_replicator(reg, Record, &heard);
  cp_metadata md[] = {{"base_url", "127.0.0.1:7001"}};
  cp_registry_service svc = {"echo", "1.0.0", "/echo.v1.Echo/", md, 1};
  ASSERT_EQ(0, cp_registry_register_as_host(reg, "rt", &svc, nullptr));
  ASSERT_EQ(0, cp_registry_report_health(reg, "rt", CP_PLUGIN_HEALTH_HEALTHY,
                                         "", nullptr, 0));
  cp_manual_clock_advance(&clock, 1500000000LL);
  ASSERT_EQ(0, cp_registry_check_liveness(reg));  // gone
  cp_manual_clock_advance(&clock, 1500000000LL);
  ASSERT_EQ(0, cp_registry_check_liveness(reg));  // removed
  cp_registry_stats st;
  cp_registry_get_stats(reg, &st);
  EXPECT_EQ(0u, st.registrations);
  EXPECT_EQ(1u, st.liveness_gone_total);
  ASSERT_EQ(1u, heard.size());
  EXPECT_TRUE(heard[0].added);
  cpi_registry_set_replicator(reg, nullptr, nullptr);
  cp_registry_destroy(reg);
}

// --- sealed values ---------------------------------------------------------

class RegistrationValueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(0, cpi_seal_key_derive(&key_, "sixteen+ bytes secret", 21,
                                     "test registrations"));
    ASSERT_EQ(0, cpi_seal_key_derive(&other_, "another secret, as long", 23,
                                     "test registrations"));
    md_[0] = {"base_url", "127.0.0.1:7001"};
    md_[1] = {"zone", ""};
    rec_.id = 42;
    rec_.owner = "rt-1";
    rec_.svc = {"echo", "1.0.0", "/echo.v1.Echo/", md_, 2};
  }

  cpi_seal_key key_, other_;
  cp_metadata md_[2];
  cpi_reg_record rec_{};
  const std::string name_ = "/cplugin/reg/reg-000000000000002a";
};

TEST_F(RegistrationValueTest, RoundTrip) {
  uint8_t *v = nullptr;
  size_t n = 0;
  ASSERT_EQ(0, cpi_registration_value_seal(&key_, name_.data(), name_.size(),
                                           0xfeedULL, &rec_, &v, &n));
  cpi_registration_value *out = nullptr;
  ASSERT_EQ(0, cpi_registration_value_open(&key_, name_.data(), name_.size(), v,
                                           n, &out));
  EXPECT_EQ(0xfeedULL, out->writer);
  EXPECT_STREQ("rt-1", out->owner);
  EXPECT_STREQ("echo", out->svc.type);
  EXPECT_STREQ("1.0.0", out->svc.version);
  EXPECT_STREQ("/echo.v1.Echo/", out->svc.endpoint_path);
  ASSERT_EQ(2u, out->svc.metadata_count);
  EXPECT_STREQ("base_url", out->svc.metadata[0].key);
  EXPECT_STREQ("127.0.0.1:7001", out->svc.metadata[0].value);
  EXPECT_STREQ("zone", out->svc.metadata[1].key);
  EXPECT_STREQ("", out->svc.metadata[1].value);
  free(out);

  rec_.svc.metadata_count = 0;
  free(v);
  ASSERT_EQ(0, cpi_registration_value_seal(&key_, name_.data(), name_.size(), 1,
                                           &rec_, &v, &n));
  ASSERT_EQ(0, cpi_registration_value_open(&key_, name_.data(), name_.size(), v,
                                           n, &out));
  EXPECT_EQ(0u, out->svc.metadata_count);
  free(out);
  free(v);
}

TEST_F(RegistrationValueTest, AnythingElseDoesNotOpen) {
  uint8_t *v = nullptr;
  size_t n = 0;
  ASSERT_EQ(0, cpi_registration_value_seal(&key_, name_.data(), name_.size(), 7,
                                           &rec_, &v, &n));
  cpi_registration_value *out = nullptr;
  EXPECT_EQ(CP_EDECODE, cpi_registration_value_open(&other_, name_.data(),
                                                    name_.size(), v, n, &out));
  std::string moved = "/cplugin/reg/reg-000000000000002b";
  EXPECT_EQ(CP_EDECODE, cpi_registration_value_open(&key_, moved.data(),
                                                    moved.size(), v, n, &out));
  for (size_t cut : {size_t{0}, size_t{1}, n / 2, n - 1}) {
    EXPECT_EQ(CP_EDECODE, cpi_registration_value_open(
                              &key_, name_.data(), name_.size(), v, cut, &out))
        << cut;
  }
  for (size_t i = 0; i < n; i += 7) {
    v[i] ^= 0x20;
    EXPECT_EQ(CP_EDECODE, cpi_registration_value_open(&key_, name_.data(),
                                                      name_.size(), v, n, &out))
        << i;
    v[i] ^= 0x20;
  }
  EXPECT_EQ(nullptr, out);
  free(v);

  // Sealed right but not laid out right: one string short.
  uint8_t plain[] = {1, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'r', 0, 'e', 0, '1', 0};
  uint8_t sealed[sizeof plain + CPI_SEAL_OVERHEAD];
  ASSERT_EQ(0, cpi_seal(&key_, name_.data(), name_.size(), plain, sizeof plain,
                        sealed));
  EXPECT_EQ(CP_EDECODE,
            cpi_registration_value_open(&key_, name_.data(), name_.size(),
                                        sealed, sizeof sealed, &out));
}

}  // namespace
