#!/bin/sh
# Runs the protoc-gen-cplugin named by $CPLUGIN_TEST_PLUGIN under valgrind, so
# that protoc can use this script as the plugin: any leak or memory error
# makes the plugin, hence protoc, fail.
exec valgrind --quiet --leak-check=full --show-leak-kinds=all \
  --errors-for-leak-kinds=all --error-exitcode=1 "${CPLUGIN_TEST_PLUGIN:?}"
