/* cplugin-host: a generic cplugin host, configured by flags (README.md). */
#include "host_run.h"

int main(int argc, char **argv) {
  return cplugin_host_main("cplugin-host", argc, argv);
}
