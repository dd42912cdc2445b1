/* The "public header" of the self-test's library. */
int fixture_public_call(void);
int fixture_version(void);
