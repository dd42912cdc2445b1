/* Test hooks of the token store (internal). */
#ifndef CPLUGIN_TOKENS_TOKEN_STORE_TESTING_H
#define CPLUGIN_TOKENS_TOKEN_STORE_TESTING_H

#include <stddef.h>

#include "cplugin/tokens.h"

/* Listeners unsubscribed while a notification was walking the list and not
 * yet dropped from it: lets a test see that an unsubscribe has begun. */
size_t cpi_token_store_removed_listeners(cp_token_store *store);

#endif /* CPLUGIN_TOKENS_TOKEN_STORE_TESTING_H */
