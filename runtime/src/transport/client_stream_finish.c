/* The client's end of a client-streaming call: half-close, then the one
 * response and the status, from the stream's own operations. */
#include "cplugin/client.h"
#include "cplugin/errors.h"
#include "transport/client_stream_internal.h"

int cp_client_stream_finish(cp_client_stream *stream, ProtobufCMessage **resp,
                            cp_status *status) {
  if (resp != NULL) {
    *resp = NULL;
  }
  if (stream == NULL || status == NULL) {
    return CP_EINVAL;
  }
  if (stream->async != NULL) {
    /* Its response goes to the callback given when it was opened. */
    cp_status_set(status, CP_STATUS_FAILED_PRECONDITION,
                  "the stream is read by its callback");
    return CP_ESTATE;
  }
  int rc = cp_client_stream_close_send(stream);
  if (rc != 0 && rc != CP_ESTATE && rc != CP_ECLOSED) {
    return rc; /* not a client-streaming stream */
  }
  /* A call that ended already still tells its status through next. */
  ProtobufCMessage *first = NULL;
  rc = cp_client_stream_next(stream, &first, status);
  if (rc != 0) {
    if (rc == CP_EEND) {
      /* gRPC requires exactly one message with OK. */
      cp_status_set(status, CP_STATUS_INTERNAL,
                    "the server ended the call OK without a response");
      return CP_ERPC;
    }
    return rc;
  }
  ProtobufCMessage *extra = NULL;
  rc = cp_client_stream_next(stream, &extra, status);
  if (rc == 0) {
    protobuf_c_message_free_unpacked(extra, NULL);
    protobuf_c_message_free_unpacked(first, NULL);
    cp_client_stream_cancel(stream);
    cp_status_set(status, CP_STATUS_INTERNAL,
                  "the server sent more than one response");
    return CP_ERPC;
  }
  if (rc != CP_EEND) {
    protobuf_c_message_free_unpacked(first, NULL);
    return rc;
  }
  if (resp != NULL) {
    *resp = first;
  } else {
    protobuf_c_message_free_unpacked(first, NULL);
  }
  return 0;
}
