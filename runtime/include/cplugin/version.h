/* cplugin — library version. */
#ifndef CPLUGIN_VERSION_H
#define CPLUGIN_VERSION_H

#include "cplugin/export.h"

#define CP_VERSION_MAJOR 0
#define CP_VERSION_MINOR 1
#define CP_VERSION_PATCH 0
#define CP_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* Returns CP_VERSION_STRING of the library actually linked. */
CP_API const char *cp_version(void);

#ifdef __cplusplus
}
#endif

#endif /* CPLUGIN_VERSION_H */
