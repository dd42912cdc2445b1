/* Waiting in tests for what another thread or process does.
 *
 * A test that asserts on something done after a reply or an event (a post
 * hook's metric, a watch event, a process exit, a file) waits for that
 * condition with a deadline instead of sleeping: on a loaded machine any
 * fixed sleep is eventually too short, and a condition costs no time when it
 * already holds.
 *
 * The deadline is generous (a failing test only pays it when it fails):
 * TEST_WAIT_DEFAULT_MS, or the environment's CPLUGIN_TEST_WAIT_MS. */
#ifndef CPLUGIN_TESTS_WAIT_H
#define CPLUGIN_TESTS_WAIT_H

#ifdef __cplusplus
extern "C" {
#endif

#define TEST_WAIT_DEFAULT_MS 30000

/* The deadline to use for a wait with no better-known bound, in ms. */
int test_wait_ms(void);

/* Calls cond(arg) until it returns nonzero or timeout_ms has passed (a
 * negative timeout_ms means test_wait_ms()). Between tries it naps, starting
 * at 1 ms and doubling up to 20 ms. Returns 1 when the condition held, 0 on
 * timeout (after one last try at the deadline). */
int test_wait_until(int (*cond)(void *arg), void *arg, int timeout_ms);

#ifdef __cplusplus
}

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace cp_test {

/* Waits until `cond()` holds. On timeout the failure names `what` and shows
 * `seen()`, the state the test last observed:
 *
 *   ASSERT_TRUE(cp_test::WaitFor("the post hook counted the call",
 *       [&] { return Count() == 3; },
 *       [&] { return std::to_string(Count()); }));
 */
inline ::testing::AssertionResult WaitFor(
    const std::string &what, const std::function<bool()> &cond,
    const std::function<std::string()> &seen = nullptr, int timeout_ms = -1) {
  auto trampoline = [](void *arg) -> int {
    return (*static_cast<const std::function<bool()> *>(arg))() ? 1 : 0;
  };
  int budget = timeout_ms < 0 ? test_wait_ms() : timeout_ms;
  if (test_wait_until(trampoline, const_cast<std::function<bool()> *>(&cond),
                      budget)) {
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult failure = ::testing::AssertionFailure();
  failure << "timed out after " << budget << " ms waiting for " << what;
  if (seen) {
    failure << "; last seen: " << seen();
  }
  return failure;
}

}  // namespace cp_test
#endif

#endif /* CPLUGIN_TESTS_WAIT_H */
