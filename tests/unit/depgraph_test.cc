// The plugin dependency graph (platform/depgraph.h). Upstream's 18
// internal/depgraph tests are ported first, same scenarios and
// expectations; where upstream's behaviour is a defect the test checks the
// fix and says so. Then what upstream lacks: cycles named, duplicate ids
// refused, min_version honoured, bounded input, and a 500-plugin chain
// (nothing recurses).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/errors.h"
#include "platform/depgraph.h"
}

namespace {

using Strings = std::vector<std::string>;

struct Svc {
  const char *type;
  const char *version;
};

struct Dep {
  const char *type;
  bool required;
  const char *min_version = nullptr;
};

constexpr bool kRequired = true;
constexpr bool kOptional = false;

Strings ToStrings(const depgraph_list &list) {
  Strings out;
  for (size_t i = 0; i < list.count; i++) {
    out.emplace_back(list.items[i]);
  }
  return out;
}

struct Impact {
  std::string target;
  Strings services;
  Strings affected;
  Strings optional;
};

class DepGraph : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(0, cpi_depgraph_create(&g_)); }
  void TearDown() override { cpi_depgraph_destroy(g_); }

  int Add(const char *id, const std::vector<Svc> &provides,
          const std::vector<Dep> &requires = {}) {
    std::vector<depgraph_service> p;
    for (const Svc &s : provides) {
      p.push_back({s.type, s.version});
    }
    std::vector<depgraph_dependency> r;
    for (const Dep &d : requires) {
      r.push_back({d.type, d.min_version, d.required, false});
    }
    depgraph_node node = {id, p.data(), p.size(), r.data(), r.size()};
    char msg[256];
    int rc = cpi_depgraph_add(g_, &node, msg, sizeof msg);
    last_msg_ = msg;
    return rc;
  }

  // The startup order; on failure, empty, with rc and message kept.
  Strings Order() {
    depgraph_list list;
    char msg[256];
    last_rc_ = cpi_depgraph_startup_order(g_, &list, msg, sizeof msg);
    last_msg_ = msg;
    Strings out = ToStrings(list);
    cpi_depgraph_list_free(&list);
    return out;
  }

  Impact ImpactOf(const char *id) {
    depgraph_impact raw;
    EXPECT_EQ(0, cpi_depgraph_impact_of(g_, id, &raw));
    Impact out;
    out.target = raw.target != nullptr ? raw.target : "";
    out.services = ToStrings(raw.affected_services);
    out.affected = ToStrings(raw.affected_plugins);
    out.optional = ToStrings(raw.optional_impact);
    cpi_depgraph_impact_free(&raw);
    return out;
  }

  Strings Providers(const char *type) {
    depgraph_list list;
    EXPECT_EQ(0, cpi_depgraph_providers(g_, type, &list));
    Strings out = ToStrings(list);
    cpi_depgraph_list_free(&list);
    return out;
  }

  depgraph *g_ = nullptr;
  int last_rc_ = 0;
  std::string last_msg_;
};

// --- upstream's depgraph_test.go ----------------------------------------

TEST_F(DepGraph, AddAndGetNode) {
  ASSERT_EQ(0, Add("logger-abc", {{"logger", "1.0.0"}}));
  const depgraph_node *n = cpi_depgraph_find(g_, "logger-abc");
  ASSERT_NE(nullptr, n);
  EXPECT_STREQ("logger-abc", n->id);
  ASSERT_EQ(1u, n->provides_count);
  EXPECT_STREQ("logger", n->provides[0].type);
  EXPECT_STREQ("1.0.0", n->provides[0].version);
  EXPECT_EQ(0u, n->requires_count);
  EXPECT_EQ(nullptr, cpi_depgraph_find(g_, "logger"));
}

TEST_F(DepGraph, SimpleStartupOrder) {
  ASSERT_EQ(0, Add("logger-abc", {{"logger", "1.0.0"}}));
  ASSERT_EQ(0, Add("cache-def", {{"cache", "1.0.0"}}, {{"logger", kRequired}}));
  ASSERT_EQ(0, Add("app-ghi", {{"app", "1.0.0"}}, {{"cache", kRequired}}));
  EXPECT_EQ((Strings{"logger-abc", "cache-def", "app-ghi"}), Order());
  EXPECT_EQ(0, last_rc_);
}

TEST_F(DepGraph, MultipleIndependentPlugins) {
  ASSERT_EQ(0, Add("logger-a", {{"logger", "1.0.0"}}));
  ASSERT_EQ(0, Add("metrics-b", {{"metrics", "1.0.0"}}));
  ASSERT_EQ(0, Add("cache-c", {{"cache", "1.0.0"}}));
  EXPECT_EQ((Strings{"cache-c", "logger-a", "metrics-b"}), Order());
}

TEST_F(DepGraph, DiamondDependency) {
  ASSERT_EQ(0, Add("metrics-a", {{"metrics", "1.0.0"}}));
  ASSERT_EQ(0,
            Add("logger-b", {{"logger", "1.0.0"}}, {{"metrics", kRequired}}));
  ASSERT_EQ(0, Add("cache-c", {{"cache", "1.0.0"}}, {{"metrics", kRequired}}));
  ASSERT_EQ(0, Add("app-d", {{"app", "1.0.0"}},
                   {{"logger", kRequired}, {"cache", kRequired}}));
  // Upstream accepts the middle two in either order; the tie-break makes
  // it exact.
  EXPECT_EQ((Strings{"metrics-a", "cache-c", "logger-b", "app-d"}), Order());
}

TEST_F(DepGraph, CycleDetection) {
  ASSERT_EQ(0, Add("a", {{"svc-a", "1.0.0"}}, {{"svc-c", kRequired}}));
  ASSERT_EQ(0, Add("b", {{"svc-b", "1.0.0"}}, {{"svc-a", kRequired}}));
  ASSERT_EQ(0, Add("c", {{"svc-c", "1.0.0"}}, {{"svc-b", kRequired}}));
  EXPECT_TRUE(Order().empty());
  EXPECT_EQ(CP_ESTATE, last_rc_);
  // Fixed: upstream says "dependency cycle detected (processed 0 of 3
  // plugins)"; this names the cycle (a needs c's service, c needs b's, b
  // needs a's).
  EXPECT_EQ("dependency cycle: a -> c -> b -> a", last_msg_);
}

TEST_F(DepGraph, MissingDependency) {
  ASSERT_EQ(
      0, Add("app-xyz", {{"app", "1.0.0"}}, {{"missing-service", kRequired}}));
  EXPECT_TRUE(Order().empty());
  EXPECT_EQ(CP_ENOTFOUND, last_rc_);
  EXPECT_EQ(
      "plugin \"app-xyz\" requires service \"missing-service\" but no "
      "provider exists",
      last_msg_);
}

TEST_F(DepGraph, OptionalDependencyIgnored) {
  ASSERT_EQ(0, Add("app-xyz", {{"app", "1.0.0"}}, {{"cache", kOptional}}));
  EXPECT_EQ((Strings{"app-xyz"}), Order());
  EXPECT_EQ(0, last_rc_);
}

TEST_F(DepGraph, GetImpact_NoProviderAlternatives) {
  ASSERT_EQ(0, Add("logger-abc", {{"logger", "1.0.0"}}));
  ASSERT_EQ(0, Add("cache-def", {{"cache", "1.0.0"}}, {{"logger", kRequired}}));
  ASSERT_EQ(0, Add("app-ghi", {}, {{"cache", kRequired}}));
  Impact i = ImpactOf("logger-abc");
  EXPECT_EQ("logger-abc", i.target);
  EXPECT_EQ((Strings{"logger"}), i.services);
  EXPECT_EQ((Strings{"app-ghi", "cache-def"}), i.affected);
  EXPECT_TRUE(i.optional.empty());
}

TEST_F(DepGraph, GetImpact_WithAlternativeProvider) {
  ASSERT_EQ(0, Add("logger-a", {{"logger", "1.0.0"}}));
  ASSERT_EQ(0, Add("logger-b", {{"logger", "1.0.0"}}));
  ASSERT_EQ(0, Add("cache-c", {{"cache", "1.0.0"}}, {{"logger", kRequired}}));
  Impact i = ImpactOf("logger-a");
  EXPECT_TRUE(i.affected.empty());
  EXPECT_EQ((Strings{"cache-c"}), i.optional);
}

TEST_F(DepGraph, GetImpact_RemovingLastProvider) {
  ASSERT_EQ(0, Add("logger-a", {{"logger", "1.0.0"}}));
  ASSERT_EQ(0, Add("logger-b", {{"logger", "1.0.0"}}));
  ASSERT_EQ(0, Add("cache-c", {}, {{"logger", kRequired}}));
  ASSERT_EQ(0, cpi_depgraph_remove(g_, "logger-a"));
  Impact i = ImpactOf("logger-b");
  EXPECT_EQ((Strings{"cache-c"}), i.affected);
  EXPECT_TRUE(i.optional.empty());
}

TEST_F(DepGraph, GetImpact_OptionalDependency) {
  ASSERT_EQ(0, Add("logger-abc", {{"logger", "1.0.0"}}));
  ASSERT_EQ(0, Add("cache-def", {{"cache", "1.0.0"}}, {{"logger", kOptional}}));
  Impact i = ImpactOf("logger-abc");
  EXPECT_TRUE(i.affected.empty());
  EXPECT_EQ((Strings{"cache-def"}), i.optional);
}

TEST_F(DepGraph, GetImpact_MultipleServicesFromOnePlugin) {
  ASSERT_EQ(0,
            Add("multi-plugin", {{"metrics", "1.0.0"}, {"logger", "1.0.0"}}));
  ASSERT_EQ(0, Add("plugin-a", {}, {{"logger", kRequired}}));
  ASSERT_EQ(0, Add("plugin-b", {}, {{"metrics", kRequired}}));
  Impact i = ImpactOf("multi-plugin");
  EXPECT_EQ((Strings{"logger", "metrics"}), i.services);  // sorted
  EXPECT_EQ((Strings{"plugin-a", "plugin-b"}), i.affected);
}

TEST_F(DepGraph, TransitiveDependencies) {
  ASSERT_EQ(0, Add("metrics", {{"metrics", "1.0.0"}}));
  ASSERT_EQ(0, Add("logger", {{"logger", "1.0.0"}}, {{"metrics", kRequired}}));
  ASSERT_EQ(0, Add("cache", {{"cache", "1.0.0"}}, {{"logger", kRequired}}));
  ASSERT_EQ(0, Add("app", {}, {{"cache", kRequired}}));
  EXPECT_EQ((Strings{"app", "cache", "logger"}), ImpactOf("metrics").affected);
}

TEST_F(DepGraph, Remove) {
  ASSERT_EQ(0, Add("logger-abc", {{"logger", "1.0.0"}}));
  EXPECT_TRUE(cpi_depgraph_has_service(g_, "logger"));
  EXPECT_EQ(0, cpi_depgraph_remove(g_, "logger-abc"));
  EXPECT_FALSE(cpi_depgraph_has_service(g_, "logger"));
  EXPECT_EQ(nullptr, cpi_depgraph_find(g_, "logger-abc"));
  EXPECT_EQ(0u, cpi_depgraph_count(g_));
  // Upstream ignores an unknown id; the caller learns it here.
  EXPECT_EQ(CP_ENOTFOUND, cpi_depgraph_remove(g_, "logger-abc"));
}

TEST_F(DepGraph, GetProviders) {
  ASSERT_EQ(0, Add("logger-b", {{"logger", "2.0.0"}}));
  ASSERT_EQ(0, Add("logger-a", {{"logger", "1.0.0"}}));
  EXPECT_EQ((Strings{"logger-a", "logger-b"}), Providers("logger"));
  EXPECT_TRUE(Providers("cache").empty());
}

TEST_F(DepGraph, HasService) {
  EXPECT_FALSE(cpi_depgraph_has_service(g_, "logger"));
  ASSERT_EQ(0, Add("logger-abc", {{"logger", "1.0.0"}}));
  EXPECT_TRUE(cpi_depgraph_has_service(g_, "logger"));
  EXPECT_FALSE(cpi_depgraph_has_service(g_, "nonexistent"));
}

TEST_F(DepGraph, ComplexTopology) {
  ASSERT_EQ(0, Add("metrics", {{"metrics", "1.0.0"}}));
  ASSERT_EQ(0,
            Add("logger-a", {{"logger", "1.0.0"}}, {{"metrics", kRequired}}));
  ASSERT_EQ(0,
            Add("logger-b", {{"logger", "1.0.0"}}, {{"metrics", kRequired}}));
  ASSERT_EQ(0, Add("cache", {{"cache", "1.0.0"}}, {{"logger", kRequired}}));
  ASSERT_EQ(0, Add("db", {{"db", "1.0.0"}}, {{"logger", kRequired}}));
  ASSERT_EQ(0, Add("app", {{"app", "1.0.0"}},
                   {{"cache", kRequired}, {"db", kRequired}}));
  Strings order = Order();
  ASSERT_EQ(6u, order.size()) << last_msg_;
  auto pos = [&](const char *id) {
    return std::find(order.begin(), order.end(), id) - order.begin();
  };
  EXPECT_EQ(0, pos("metrics"));
  EXPECT_EQ(5, pos("app"));
  EXPECT_GT(pos("logger-a"), pos("metrics"));
  EXPECT_GT(pos("logger-b"), pos("metrics"));
  // Upstream's check is "after at least one logger"; a requirer waits for
  // every provider (upstream's algorithm does too), so after both.
  EXPECT_GT(pos("cache"), std::max(pos("logger-a"), pos("logger-b")));
  EXPECT_GT(pos("db"), std::max(pos("logger-a"), pos("logger-b")));
  EXPECT_EQ((Strings{"metrics", "logger-a", "logger-b", "cache", "db", "app"}),
            order);
}

TEST_F(DepGraph, GetImpact_EmptyGraph) {
  Impact i = ImpactOf("nonexistent");
  EXPECT_EQ("nonexistent", i.target);
  EXPECT_TRUE(i.services.empty());
  EXPECT_TRUE(i.affected.empty());
  EXPECT_TRUE(i.optional.empty());
}

// --- cycles, named ------------------------------------------------------

TEST_F(DepGraph, TwoNodeCycleNamed) {
  ASSERT_EQ(0, Add("x", {{"svc-x", "1.0.0"}}, {{"svc-y", kRequired}}));
  ASSERT_EQ(0, Add("y", {{"svc-y", "1.0.0"}}, {{"svc-x", kRequired}}));
  EXPECT_TRUE(Order().empty());
  EXPECT_EQ(CP_ESTATE, last_rc_);
  EXPECT_EQ("dependency cycle: x -> y -> x", last_msg_);
}

TEST_F(DepGraph, ThreeNodeCycleNamedWithoutBystanders) {
  // "aa" waits on the cycle and "root" is fine: neither is in the name,
  // and the name starts at the cycle's smallest id whatever the walk's
  // entry point.
  ASSERT_EQ(0, Add("root", {{"base", "1.0.0"}}));
  ASSERT_EQ(0, Add("aa", {}, {{"svc-c", kRequired}, {"base", kRequired}}));
  ASSERT_EQ(0, Add("c", {{"svc-c", "1.0.0"}}, {{"svc-b", kRequired}}));
  ASSERT_EQ(0, Add("b", {{"svc-b", "1.0.0"}}, {{"svc-d", kRequired}}));
  ASSERT_EQ(0, Add("d", {{"svc-d", "1.0.0"}}, {{"svc-c", kRequired}}));
  EXPECT_TRUE(Order().empty());
  EXPECT_EQ(CP_ESTATE, last_rc_);
  EXPECT_EQ("dependency cycle: b -> d -> c -> b", last_msg_);
}

TEST_F(DepGraph, SelfDependencyIsACycle) {
  ASSERT_EQ(0, Add("solo", {{"echo", "1.0.0"}}, {{"echo", kRequired}}));
  EXPECT_TRUE(Order().empty());
  EXPECT_EQ(CP_ESTATE, last_rc_);
  EXPECT_EQ("dependency cycle: solo -> solo", last_msg_);
}

TEST_F(DepGraph, OptionalSelfDependencyIsNoCycle) {
  ASSERT_EQ(0, Add("solo", {{"echo", "1.0.0"}}, {{"echo", kOptional}}));
  EXPECT_EQ((Strings{"solo"}), Order());
}

TEST_F(DepGraph, OptionalEdgesNeverMakeACycle) {
  ASSERT_EQ(0, Add("x", {{"svc-x", "1.0.0"}}, {{"svc-y", kRequired}}));
  ASSERT_EQ(0, Add("y", {{"svc-y", "1.0.0"}}, {{"svc-x", kOptional}}));
  EXPECT_EQ((Strings{"y", "x"}), Order());
}

// --- add and remove -----------------------------------------------------

TEST_F(DepGraph, DuplicateIdRefused) {
  ASSERT_EQ(0, Add("logger-a", {{"logger", "1.0.0"}}));
  // Upstream would index the plugin twice; refused, graph unchanged.
  EXPECT_EQ(CP_EEXIST, Add("logger-a", {{"metrics", "1.0.0"}}));
  EXPECT_EQ("plugin \"logger-a\" is already in the graph", last_msg_);
  EXPECT_EQ(1u, cpi_depgraph_count(g_));
  EXPECT_FALSE(cpi_depgraph_has_service(g_, "metrics"));
  EXPECT_EQ((Strings{"logger-a"}), Providers("logger"));
}

TEST_F(DepGraph, DeclarationIsCopied) {
  std::string id = "logger-a";
  std::string type = "logger";
  std::string version = "1.2.3";
  std::string dep = "metrics";
  depgraph_service svc = {type.c_str(), version.c_str()};
  depgraph_dependency req = {dep.c_str(), nullptr, false, true};
  depgraph_node node = {id.c_str(), &svc, 1, &req, 1};
  ASSERT_EQ(0, cpi_depgraph_add(g_, &node, nullptr, 0));
  std::fill(id.begin(), id.end(), 'z');
  std::fill(type.begin(), type.end(), 'z');
  std::fill(version.begin(), version.end(), '9');
  std::fill(dep.begin(), dep.end(), 'z');
  const depgraph_node *n = cpi_depgraph_find(g_, "logger-a");
  ASSERT_NE(nullptr, n);
  EXPECT_STREQ("logger", n->provides[0].type);
  EXPECT_STREQ("1.2.3", n->provides[0].version);
  ASSERT_EQ(1u, n->requires_count);
  EXPECT_STREQ("metrics", n->requires[0].type);
  EXPECT_EQ(nullptr, n->requires[0].min_version);
  EXPECT_FALSE(n->requires[0].required_for_startup);
  EXPECT_TRUE(n->requires[0].watch_for_changes);
}

TEST_F(DepGraph, RemovingANodeUpdatesOrderAndImpact) {
  ASSERT_EQ(0, Add("logger-a", {{"logger", "1.0.0"}}));
  ASSERT_EQ(0, Add("logger-b", {{"logger", "1.0.0"}}));
  ASSERT_EQ(0, Add("cache", {{"cache", "1.0.0"}}, {{"logger", kRequired}}));
  ASSERT_EQ(0, Add("app", {}, {{"cache", kRequired}}));
  EXPECT_EQ((Strings{"logger-a", "logger-b", "cache", "app"}), Order());
  Impact before = ImpactOf("logger-a");
  EXPECT_TRUE(before.affected.empty());
  EXPECT_EQ((Strings{"cache"}), before.optional);

  ASSERT_EQ(0, cpi_depgraph_remove(g_, "logger-b"));
  EXPECT_EQ((Strings{"logger-a", "cache", "app"}), Order());
  Impact after = ImpactOf("logger-a");
  EXPECT_EQ((Strings{"app", "cache"}), after.affected);
  EXPECT_TRUE(after.optional.empty());

  ASSERT_EQ(0, cpi_depgraph_remove(g_, "cache"));
  EXPECT_TRUE(Order().empty());
  EXPECT_EQ(CP_ENOTFOUND, last_rc_);
  EXPECT_EQ("plugin \"app\" requires service \"cache\" but no provider exists",
            last_msg_);
  EXPECT_TRUE(ImpactOf("logger-a").affected.empty());
}

TEST_F(DepGraph, OrderDoesNotDependOnInsertionOrder) {
  struct Decl {
    const char *id;
    std::vector<Svc> provides;
    std::vector<Dep>
    requires;
  };
  std::vector<Decl> decls = {
      {"app", {{"app", "1.0.0"}}, {{"cache", kRequired}, {"db", kRequired}}},
      {"cache", {{"cache", "1.0.0"}}, {{"logger", kRequired}}},
      {"db", {{"db", "1.0.0"}}, {{"logger", kRequired}}},
      {"logger-a", {{"logger", "1.0.0"}}, {{"metrics", kRequired}}},
      {"logger-b", {{"logger", "1.0.0"}}, {{"metrics", kOptional}}},
      {"metrics", {{"metrics", "1.0.0"}}, {}},
  };
  const Strings expected = {"logger-b", "metrics", "logger-a",
                            "cache",    "db",      "app"};
  std::vector<size_t> perm = {0, 1, 2, 3, 4, 5};
  int permutations = 0;
  do {
    cpi_depgraph_destroy(g_);
    ASSERT_EQ(0, cpi_depgraph_create(&g_));
    for (size_t i : perm) {
      ASSERT_EQ(0, Add(decls[i].id, decls[i].provides, decls[i].requires));
    }
    ASSERT_EQ(expected, Order()) << "permutation " << permutations;
    permutations++;
  } while (std::next_permutation(perm.begin(), perm.end()));
  EXPECT_EQ(720, permutations);
}

// --- versions -----------------------------------------------------------

TEST_F(DepGraph, MinVersionChoosesProviders) {
  ASSERT_EQ(0, Add("logger-old", {{"logger", "9.0.0"}}));
  ASSERT_EQ(0, Add("cache", {}, {{"logger", kRequired, "10.0.0"}}));
  EXPECT_TRUE(Order().empty());
  EXPECT_EQ(CP_ENOTFOUND, last_rc_);
  EXPECT_EQ(
      "plugin \"cache\" requires service \"logger\" >= 10.0.0 but no "
      "provider has that version",
      last_msg_);

  // Numeric precedence ("10.1.0" > "9.0.0"); cache waits only for the
  // provider that satisfies it, so "logger-old" may start after it.
  ASSERT_EQ(0, Add("logger-new", {{"logger", "10.1.0"}}));
  EXPECT_EQ((Strings{"logger-new", "cache", "logger-old"}), Order());
  Impact old_gone = ImpactOf("logger-old");
  EXPECT_TRUE(old_gone.affected.empty());
  EXPECT_TRUE(old_gone.optional.empty());
  EXPECT_EQ((Strings{"cache"}), ImpactOf("logger-new").affected);
}

TEST_F(DepGraph, UnversionedProviderDoesNotMeetAMinVersion) {
  ASSERT_EQ(0, Add("logger", {{"logger", nullptr}}));
  ASSERT_EQ(0, Add("any", {}, {{"logger", kRequired, ""}}));
  EXPECT_EQ((Strings{"logger", "any"}), Order());
  ASSERT_EQ(0, Add("picky", {}, {{"logger", kRequired, "1.0.0"}}));
  EXPECT_TRUE(Order().empty());
  EXPECT_EQ(CP_ENOTFOUND, last_rc_);
}

TEST_F(DepGraph, CheckRequiresBeforeAdding) {
  depgraph_dependency req = {"logger", nullptr, true, false};
  depgraph_service svc = {"logger", "1.0.0"};
  depgraph_node cache = {"cache", &svc, 1, &req, 1};
  char msg[128];
  EXPECT_EQ(CP_ENOTFOUND,
            cpi_depgraph_check_requires(g_, &cache, msg, sizeof msg));
  EXPECT_STREQ(
      "plugin \"cache\" requires service \"logger\" but no provider exists",
      msg);
  // Its own service does not count, even once it is in the graph.
  ASSERT_EQ(0, cpi_depgraph_add(g_, &cache, nullptr, 0));
  EXPECT_EQ(CP_ENOTFOUND,
            cpi_depgraph_check_requires(g_, &cache, msg, sizeof msg));
  ASSERT_EQ(0, Add("logger", {{"logger", "1.0.0"}}));
  EXPECT_EQ(0, cpi_depgraph_check_requires(g_, &cache, msg, sizeof msg));
  EXPECT_STREQ("", msg);
}

// --- impact: upstream defects fixed -------------------------------------

TEST_F(DepGraph, ImpactCountsEveryLostProvider) {
  // Upstream judges "logger" by providers other than the one it is
  // visiting, so cache looks safe while both loggers go down with metrics.
  ASSERT_EQ(0, Add("metrics", {{"metrics", "1.0.0"}}));
  ASSERT_EQ(0,
            Add("logger-a", {{"logger", "1.0.0"}}, {{"metrics", kRequired}}));
  ASSERT_EQ(0,
            Add("logger-b", {{"logger", "1.0.0"}}, {{"metrics", kRequired}}));
  ASSERT_EQ(0, Add("cache", {}, {{"logger", kRequired}}));
  Impact i = ImpactOf("metrics");
  EXPECT_EQ((Strings{"cache", "logger-a", "logger-b"}), i.affected);
  EXPECT_TRUE(i.optional.empty());
}

TEST_F(DepGraph, ImpactNeverListsTheTargetAndListsAreDisjoint) {
  // A cycle back to the target (upstream would list "a" as affected by its
  // own removal) and a plugin needing one of the target's services and
  // merely wanting another (upstream lists it in both lists).
  ASSERT_EQ(0, Add("a", {{"svc-a", "1.0.0"}, {"extra", "1.0.0"}},
                   {{"svc-b", kRequired}}));
  ASSERT_EQ(0, Add("b", {{"svc-b", "1.0.0"}}, {{"svc-a", kRequired}}));
  ASSERT_EQ(0, Add("c", {}, {{"svc-a", kRequired}, {"extra", kOptional}}));
  ASSERT_EQ(0, Add("d", {}, {{"extra", kOptional}}));
  Impact i = ImpactOf("a");
  EXPECT_EQ((Strings{"extra", "svc-a"}), i.services);
  EXPECT_EQ((Strings{"b", "c"}), i.affected);
  EXPECT_EQ((Strings{"d"}), i.optional);
}

// --- scale --------------------------------------------------------------

std::string Name(int i) {
  char buf[16];
  snprintf(buf, sizeof buf, "n%03d", i);
  return buf;
}

TEST_F(DepGraph, FiveHundredPluginChain) {
  // n000 <- n001 <- ... <- n499, added last first.
  const int kLength = 500;
  for (int i = kLength - 1; i >= 0; i--) {
    std::string id = Name(i);
    std::string prev = Name(i - 1);
    std::vector<Dep>
    requires;
    if (i > 0) {
      requires.push_back({prev.c_str(), kRequired, nullptr});
    }
    ASSERT_EQ(0, Add(id.c_str(), {{id.c_str(), "1.0.0"}}, requires));
  }
  Strings expected;
  for (int i = 0; i < kLength; i++) {
    expected.push_back(Name(i));
  }
  EXPECT_EQ(expected, Order());

  Impact i = ImpactOf("n000");
  EXPECT_EQ(Strings(expected.begin() + 1, expected.end()), i.affected);
  EXPECT_EQ(Strings(expected.begin() + 251, expected.end()),
            ImpactOf("n250").affected);
}

TEST_F(DepGraph, FiveHundredPluginCycleNamedAndTruncated) {
  // n000 requires n499's service, n(i) requires n(i-1)'s: one long cycle.
  const int kLength = 500;
  for (int i = 0; i < kLength; i++) {
    std::string id = Name(i);
    std::string prev = Name((i + kLength - 1) % kLength);
    ASSERT_EQ(0, Add(id.c_str(), {{id.c_str(), "1.0.0"}},
                     {{prev.c_str(), kRequired, nullptr}}));
  }
  std::string expected = "dependency cycle: n000";
  for (int i = kLength - 1; i >= 0; i--) {
    expected += " -> " + Name(i);
  }
  std::vector<char> big(8192);
  depgraph_list list;
  EXPECT_EQ(CP_ESTATE,
            cpi_depgraph_startup_order(g_, &list, big.data(), big.size()));
  EXPECT_EQ(0u, list.count);
  EXPECT_EQ(expected, std::string(big.data()));

  // A short buffer keeps the start and says it was cut.
  char small[40];
  EXPECT_EQ(CP_ESTATE,
            cpi_depgraph_startup_order(g_, &list, small, sizeof small));
  EXPECT_EQ(sizeof small - 1, strlen(small));
  EXPECT_EQ(expected.substr(0, sizeof small - 4) + "...", std::string(small));
  // No buffer at all is fine too.
  EXPECT_EQ(CP_ESTATE, cpi_depgraph_startup_order(g_, &list, nullptr, 0));
}

TEST_F(DepGraph, NodeLimit) {
  for (int i = 0; i < DEPGRAPH_MAX_NODES; i++) {
    std::string id = "p" + std::to_string(i);
    ASSERT_EQ(0, Add(id.c_str(), {}));
  }
  EXPECT_EQ(CP_ELIMIT, Add("one-more", {}));
  EXPECT_EQ(static_cast<size_t>(DEPGRAPH_MAX_NODES), cpi_depgraph_count(g_));
  ASSERT_EQ(0, cpi_depgraph_remove(g_, "p7"));
  EXPECT_EQ(0, Add("one-more", {}));
}

// --- bad input ----------------------------------------------------------

TEST_F(DepGraph, MalformedDeclarationsRefused) {
  const std::string long_id(DEPGRAPH_ID_MAX + 1, 'a');
  const std::string long_type(129, 't');
  struct Case {
    const char *id;
    std::vector<Svc> provides;
    std::vector<Dep>
    requires;
    const char *message;
  };
  const std::vector<Case> cases = {
      {"", {}, {}, "plugin id cannot be empty"},
      {long_id.c_str(), {}, {}, "plugin id too long"},
      {"a->b", {}, {}, "plugin id contains invalid characters"},
      {"9lives", {}, {}, "plugin id contains invalid characters"},
      {"p",
       {{"", "1.0.0"}},
       {},
       "plugin \"p\": provides[0].type cannot be empty"},
      {"p",
       {{long_type.c_str(), nullptr}},
       {},
       "plugin \"p\": provides[0].type too long"},
      {"p",
       {{"a/b", nullptr}},
       {},
       "plugin \"p\": provides[0].type contains invalid characters"},
      {"p",
       {{"x", "1.0"}},
       {},
       "plugin \"p\": provides[0].version must be semantic version (e.g., "
       "1.0.0, 2.1.3-beta)"},
      {"p",
       {{"x", "1.0.0"}, {"x", "2.0.0"}},
       {},
       "plugin \"p\": provides[1].type repeats an earlier service type"},
      {"p",
       {},
       {{"y", kRequired, nullptr}, {"y..z", kOptional, nullptr}},
       "plugin \"p\": requires[1].type contains path traversal characters"},
      {"p",
       {},
       {{"y", kRequired, "v1"}},
       "plugin \"p\": requires[0].min_version must be semantic version (e.g., "
       "1.0.0, 2.1.3-beta)"},
      {"p",
       {},
       {{"y", kRequired, nullptr}, {"y", kOptional, nullptr}},
       "plugin \"p\": requires[1].type repeats an earlier service type"},
  };
  for (const Case &c : cases) {
    EXPECT_EQ(CP_EINVAL, Add(c.id, c.provides, c.requires)) << c.message;
    EXPECT_EQ(c.message, last_msg_);
  }
  EXPECT_EQ(0u, cpi_depgraph_count(g_));
}

TEST_F(DepGraph, CountsOverTheLimitRefused) {
  std::vector<std::string> names;
  for (int i = 0; i <= DEPGRAPH_MAX_PROVIDES; i++) {
    names.push_back("t" + std::to_string(i));
  }
  std::vector<Svc> provides;
  std::vector<Dep>
  requires;
  for (const std::string &n : names) {
    provides.push_back({n.c_str(), nullptr});
    requires.push_back({n.c_str(), kOptional, nullptr});
  }
  EXPECT_EQ(CP_EINVAL, Add("p", provides, {}));
  EXPECT_EQ("plugin \"p\": provides more than 64 services", last_msg_);
  EXPECT_EQ(CP_EINVAL, Add("p", {}, requires));
  EXPECT_EQ("plugin \"p\": requires more than 64 services", last_msg_);
  provides.pop_back();
  requires.pop_back();
  EXPECT_EQ(0, Add("p", provides, requires));

  // A count with no array behind it.
  depgraph_node hollow = {"q", nullptr, 1, nullptr, 0};
  EXPECT_EQ(CP_EINVAL, cpi_depgraph_add(g_, &hollow, nullptr, 0));
  hollow = {"q", nullptr, 0, nullptr, 1};
  EXPECT_EQ(CP_EINVAL, cpi_depgraph_add(g_, &hollow, nullptr, 0));
  EXPECT_EQ(1u, cpi_depgraph_count(g_));
}

TEST_F(DepGraph, NullArgumentsRefused) {
  depgraph_node node = {"p", nullptr, 0, nullptr, 0};
  depgraph_list list;
  depgraph_impact impact;
  char msg[8];
  EXPECT_EQ(CP_EINVAL, cpi_depgraph_create(nullptr));
  EXPECT_EQ(CP_EINVAL, cpi_depgraph_add(nullptr, &node, msg, sizeof msg));
  EXPECT_EQ(CP_EINVAL, cpi_depgraph_add(g_, nullptr, msg, sizeof msg));
  EXPECT_EQ(CP_EINVAL, cpi_depgraph_remove(g_, nullptr));
  EXPECT_EQ(CP_EINVAL, cpi_depgraph_remove(nullptr, "p"));
  EXPECT_EQ(CP_EINVAL, cpi_depgraph_providers(g_, nullptr, &list));
  EXPECT_EQ(0u, list.count);
  EXPECT_EQ(CP_EINVAL, cpi_depgraph_providers(g_, "x", nullptr));
  EXPECT_EQ(CP_EINVAL,
            cpi_depgraph_startup_order(nullptr, &list, msg, sizeof msg));
  EXPECT_EQ(CP_EINVAL,
            cpi_depgraph_startup_order(g_, nullptr, msg, sizeof msg));
  EXPECT_EQ(CP_EINVAL, cpi_depgraph_impact_of(g_, nullptr, &impact));
  EXPECT_EQ(nullptr, impact.target);
  EXPECT_EQ(CP_EINVAL, cpi_depgraph_impact_of(g_, "p", nullptr));
  const std::string long_id(DEPGRAPH_ID_MAX + 1, 'a');
  EXPECT_EQ(CP_EINVAL, cpi_depgraph_impact_of(g_, long_id.c_str(), &impact));
  EXPECT_EQ(CP_EINVAL,
            cpi_depgraph_check_requires(g_, nullptr, msg, sizeof msg));
  EXPECT_EQ(nullptr, cpi_depgraph_find(g_, nullptr));
  EXPECT_EQ(nullptr, cpi_depgraph_find(nullptr, "p"));
  EXPECT_FALSE(cpi_depgraph_has_service(g_, nullptr));
  EXPECT_EQ(0u, cpi_depgraph_count(nullptr));
  cpi_depgraph_destroy(nullptr);
  cpi_depgraph_list_free(nullptr);
  cpi_depgraph_impact_free(nullptr);
}

TEST_F(DepGraph, ResultsFreedTwiceAreHarmless) {
  ASSERT_EQ(0, Add("logger", {{"logger", "1.0.0"}}));
  ASSERT_EQ(0, Add("cache", {}, {{"logger", kRequired}}));
  depgraph_list list;
  ASSERT_EQ(0, cpi_depgraph_startup_order(g_, &list, nullptr, 0));
  EXPECT_EQ(2u, list.count);
  cpi_depgraph_list_free(&list);
  EXPECT_EQ(nullptr, list.items);
  EXPECT_EQ(0u, list.count);
  cpi_depgraph_list_free(&list);
  depgraph_impact impact;
  ASSERT_EQ(0, cpi_depgraph_impact_of(g_, "logger", &impact));
  cpi_depgraph_impact_free(&impact);
  EXPECT_EQ(nullptr, impact.target);
  cpi_depgraph_impact_free(&impact);
}

TEST_F(DepGraph, EmptyGraphHasAnEmptyOrder) {
  EXPECT_TRUE(Order().empty());
  EXPECT_EQ(0, last_rc_);
}

}  // namespace
