// Status codes, status messages and library error codes.
#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "cplugin/errors.h"
#include "cplugin/status.h"
#include "cplugin/version.h"
}

TEST(Status, EveryCodeHasItsCanonicalName) {
  const char *expected[CP_STATUS_CODE_COUNT] = {"OK",
                                                "CANCELLED",
                                                "UNKNOWN",
                                                "INVALID_ARGUMENT",
                                                "DEADLINE_EXCEEDED",
                                                "NOT_FOUND",
                                                "ALREADY_EXISTS",
                                                "PERMISSION_DENIED",
                                                "RESOURCE_EXHAUSTED",
                                                "FAILED_PRECONDITION",
                                                "ABORTED",
                                                "OUT_OF_RANGE",
                                                "UNIMPLEMENTED",
                                                "INTERNAL",
                                                "UNAVAILABLE",
                                                "DATA_LOSS",
                                                "UNAUTHENTICATED"};
  for (int i = 0; i < CP_STATUS_CODE_COUNT; i++) {
    EXPECT_STREQ(expected[i], cp_status_code_name((cp_status_code)i)) << i;
  }
  EXPECT_EQ(16, CP_STATUS_UNAUTHENTICATED);
  EXPECT_STREQ("UNKNOWN_CODE", cp_status_code_name((cp_status_code)17));
  EXPECT_STREQ("UNKNOWN_CODE", cp_status_code_name((cp_status_code)-1));
}

TEST(Status, SetFormatsAndReturnsTheCode) {
  cp_status st;
  EXPECT_EQ(CP_STATUS_NOT_FOUND,
            cp_status_set(&st, CP_STATUS_NOT_FOUND, "no key %s (%d)", "a", 3));
  EXPECT_EQ(CP_STATUS_NOT_FOUND, st.code);
  EXPECT_STREQ("no key a (3)", st.message);
  cp_status_clear(&st);
  EXPECT_EQ(CP_STATUS_OK, st.code);
  EXPECT_STREQ("", st.message);
  cp_status_set(&st, CP_STATUS_INTERNAL, nullptr);
  EXPECT_STREQ("", st.message);
}

TEST(Status, LongMessagesAreTruncatedNotOverflowed) {
  std::string big(5000, 'm');
  cp_status st;
  cp_status_set(&st, CP_STATUS_INTERNAL, "%s", big.c_str());
  EXPECT_EQ(static_cast<size_t>(CP_STATUS_MESSAGE_MAX - 1),
            std::string(st.message).size());
}

TEST(Errors, EveryCodeHasANameAndMessage) {
  EXPECT_STREQ("success", cp_strerror(0));
  EXPECT_STREQ("CP_OK", cp_err_name(0));
#define CHECK_CODE(name, value, msg)             \
  EXPECT_STREQ(msg, cp_strerror(value));         \
  EXPECT_STREQ("CP_" #name, cp_err_name(value)); \
  EXPECT_LT(value, 0);
  CP_ERRNO_MAP(CHECK_CODE)
#undef CHECK_CODE
  EXPECT_STREQ("unknown error", cp_strerror(-9999));
  EXPECT_STREQ("CP_E?", cp_err_name(12345));
}

TEST(Version, MatchesTheHeader) {
  EXPECT_STREQ(CP_VERSION_STRING, cp_version());
}
