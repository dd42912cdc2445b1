/* Completion-queue tags (internal): every operation posted to a queue carries
 * a cp_tag whose callback runs on the thread that dequeues it. */
#ifndef CPLUGIN_TRANSPORT_TAG_H
#define CPLUGIN_TRANSPORT_TAG_H

#include <stdbool.h>

typedef struct cp_tag cp_tag;
struct cp_tag {
  void (*on_done)(cp_tag *tag, bool ok);
};

#endif /* CPLUGIN_TRANSPORT_TAG_H */
