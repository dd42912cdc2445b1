/* Runtime tokens as a peer sends them: the base64url and hex decoders, and
 * a real token store validating arbitrary (runtime ID, token) pairs. */
#include <stdbool.h>

#include "cplugin/tokens.h"
#include "fuzz_input.h"
#include "tokens/token_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cp_token_store *store;
static char live_id[CP_RUNTIME_ID_MAX + 1];
static char live_token[CP_TOKEN_LEN + 1];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (store == NULL) {
    cp_token_store_options o;
    cp_token_store_options_init(&o);
    o.sweep_interval_ms = 0;
    if (cp_token_store_create(&store, &o) != 0 ||
        cp_token_store_issue(store, "fuzz", live_id, sizeof live_id,
                             live_token) != 0) {
      abort();
    }
  }
  char *id = NULL;
  char *token = NULL;
  fuzz_split(data, size, &id, &token);
  uint64_t words[4];
  uint64_t key;
  if (strlen(token) == CP_TOKEN_LEN) {
    (void)cpi_token_decode44(token, words);
  }
  if (strlen(id) >= 16) {
    (void)cpi_token_decode_hex16(id + strlen(id) - 16, &key);
  }
  /* Validation must not read past the lengths it is given. */
  size_t id_len = strlen(id);
  size_t token_len = strlen(token);
  char *id_exact = fuzz_exact(id, id_len);
  char *token_exact = fuzz_exact(token, token_len);
  bool ok =
      cp_token_store_validate(store, id_exact, id_len, token_exact, token_len);
  /* Only the one issued pair may validate. */
  if (ok && (strcmp(id, live_id) != 0 || strcmp(token, live_token) != 0)) {
    abort();
  }
  free(id_exact);
  free(token_exact);
  free(id);
  free(token);
  return 0;
}
