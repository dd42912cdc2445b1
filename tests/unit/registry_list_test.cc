// cp_registry_list: every registration copied out, by type or all, with
// health and routability as resolve sees them, and nothing after removal.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

extern "C" {
#include "cplugin/cplugin.h"
}

namespace {

struct Row {
  std::string type, provider, id, version, path, base_url;
  cp_plugin_health health;
  bool routable;
  bool operator<(const Row &o) const {
    return std::tie(type, provider, path) <
           std::tie(o.type, o.provider, o.path);
  }
};

void Collect(const cp_registry_listing *item, void *user) {
  const cp_registry_endpoint &e = item->endpoint;
  static_cast<std::vector<Row> *>(user)->push_back(
      {item->service_type, e.provider_id, e.registration_id, e.version,
       e.endpoint_path, e.base_url, e.health, item->routable});
}

class RegistryListTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(0, cp_registry_create(&reg_, nullptr)); }
  void TearDown() override { cp_registry_destroy(reg_); }

  std::string Add(const char *owner, const char *type, const char *path,
                  const char *base_url = nullptr) {
    cp_metadata md = {"base_url", base_url};
    cp_registry_service svc = {type, "1.2.3", path,
                               base_url != nullptr ? &md : nullptr,
                               base_url != nullptr ? 1u : 0u};
    char id[CP_REGISTRY_ID_LEN + 1] = {0};
    EXPECT_EQ(0, cp_registry_register_as_host(reg_, owner, &svc, id));
    return id;
  }

  std::vector<Row> List(const char *type, size_t *count = nullptr) {
    std::vector<Row> rows;
    EXPECT_EQ(0, cp_registry_list(reg_, type, Collect, &rows, count));
    std::sort(rows.begin(), rows.end());
    return rows;
  }

  cp_registry *reg_ = nullptr;
};

const char kA[] = "logger-00000000000000aa";
const char kB[] = "logger-00000000000000bb";
const char kS[] = "storage-00000000000000cc";

TEST_F(RegistryListTest, EmptyRegistryListsNothing) {
  size_t n = 99;
  EXPECT_TRUE(List(nullptr, &n).empty());
  EXPECT_EQ(0u, n);
  EXPECT_TRUE(List("logger").empty());
}

TEST_F(RegistryListTest, ListsEveryRegistrationWithItsFields) {
  std::string a =
      Add(kA, "logger", "/logger.v1.Logger/", "unix:/tmp/logger.sock");
  std::string b = Add(kB, "logger", "/logger.v1.Logger/");
  std::string s = Add(kS, "storage", "/storage.v1.Storage/");
  Add(kS, "storage", "/storage.v2.Storage/");
  size_t n = 0;
  std::vector<Row> all = List(nullptr, &n);
  ASSERT_EQ(4u, all.size());
  EXPECT_EQ(4u, n);
  EXPECT_EQ("logger", all[0].type);
  EXPECT_EQ(kA, all[0].provider);
  EXPECT_EQ(a, all[0].id);
  EXPECT_EQ("1.2.3", all[0].version);
  EXPECT_EQ("/logger.v1.Logger/", all[0].path);
  EXPECT_EQ("unix:/tmp/logger.sock", all[0].base_url);
  EXPECT_EQ(CP_PLUGIN_HEALTH_UNKNOWN, all[0].health);
  EXPECT_TRUE(all[0].routable);
  EXPECT_EQ(b, all[1].id);
  EXPECT_EQ("", all[1].base_url);
  EXPECT_EQ(s, all[2].id);
  EXPECT_EQ("/storage.v2.Storage/", all[3].path);

  std::vector<Row> loggers = List("logger", &n);
  ASSERT_EQ(2u, loggers.size());
  EXPECT_EQ(2u, n);
  EXPECT_EQ(kB, loggers[1].provider);
  EXPECT_TRUE(List("nope").empty());
}

TEST_F(RegistryListTest, ShowsHealthAndRoutability) {
  Add(kA, "logger", "/logger.v1.Logger/");
  Add(kB, "logger", "/logger.v1.Logger/");
  Add(kS, "storage", "/storage.v1.Storage/");
  ASSERT_EQ(0, cp_registry_report_health(reg_, kA, CP_PLUGIN_HEALTH_UNHEALTHY,
                                         "disk", nullptr, 0));
  ASSERT_EQ(0, cp_registry_report_health(reg_, kB, CP_PLUGIN_HEALTH_DEGRADED,
                                         nullptr, nullptr, 0));
  ASSERT_EQ(0, cp_registry_drain_runtime(reg_, kS));
  std::vector<Row> all = List(nullptr);
  ASSERT_EQ(3u, all.size());
  EXPECT_EQ(CP_PLUGIN_HEALTH_UNHEALTHY, all[0].health);
  EXPECT_FALSE(all[0].routable);
  EXPECT_EQ(CP_PLUGIN_HEALTH_DEGRADED, all[1].health);
  EXPECT_TRUE(all[1].routable);
  EXPECT_FALSE(all[2].routable);  // draining
}

TEST_F(RegistryListTest, RemovedRegistrationsAreGone) {
  std::string a = Add(kA, "logger", "/logger.v1.Logger/");
  Add(kB, "logger", "/logger.v1.Logger/");
  Add(kS, "storage", "/storage.v1.Storage/");
  ASSERT_EQ(0, cp_registry_unregister_as_host(reg_, a.c_str()));
  ASSERT_EQ(0, cp_registry_remove_runtime(reg_, kS));
  std::vector<Row> all = List(nullptr);
  ASSERT_EQ(1u, all.size());
  EXPECT_EQ(kB, all[0].provider);
}

TEST_F(RegistryListTest, Arguments) {
  EXPECT_EQ(CP_EINVAL,
            cp_registry_list(nullptr, nullptr, Collect, nullptr, nullptr));
  EXPECT_EQ(CP_EINVAL,
            cp_registry_list(reg_, nullptr, nullptr, nullptr, nullptr));
}

}  // namespace
