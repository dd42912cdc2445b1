/* Semantic Versioning 2.0.0 precedence (internal).
 *
 * Versions are "MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]". Precedence compares
 * the three numbers numerically (of any length: "10.0.0" > "9.0.0"), then
 * the pre-release: a version without one ranks above one with it; otherwise
 * the dot-separated identifiers are compared left to right, numeric ones
 * numerically, others as ASCII, numeric below alphanumeric, and a shorter
 * list below a longer one with the same prefix. Build metadata is ignored.
 * (1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-alpha.beta < 1.0.0-beta <
 * 1.0.0-beta.2 < 1.0.0-beta.11 < 1.0.0-rc.1 < 1.0.0.)
 *
 * Nothing is allocated; thread-safe. */
#ifndef CPLUGIN_CORE_SEMVER_H
#define CPLUGIN_CORE_SEMVER_H

#include <stdbool.h>

/* True when `v` has the shape above: numbers are one or more digits,
 * identifiers are one or more of [0-9A-Za-z-]. (Leading zeros are
 * tolerated, as upstream's registration pattern does; they compare by
 * value.) */
bool cpi_semver_valid(const char *v);

/* <0, 0 or >0 as a has lower, equal or higher precedence than b. Both must
 * be valid (cpi_semver_valid); an invalid one compares below every valid
 * one, and two invalid ones compare equal, so the order stays total. */
int cpi_semver_compare(const char *a, const char *b);

#endif /* CPLUGIN_CORE_SEMVER_H */
