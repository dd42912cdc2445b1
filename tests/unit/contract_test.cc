// The wire contract: every service path, streaming kind, message field
// number, field type and enum value of the protos in proto/, as the shared
// wire specification lists them (spec/wire.md, kept beside this repository,
// not in it; docs/wire-notes.md records cplugin's additions), read back
// from the compiled descriptors in gen/.
#include <gtest/gtest.h>
#include <protobuf-c/protobuf-c.h>

#include <set>
#include <string>
#include <vector>

extern "C" {
#include "cplugin/service.h"

// Declared here rather than through the generated headers: protoc-c's
// kv.pb-c.h names a struct member `delete`, which C++ cannot compile.
#define MSG(sym) extern const ProtobufCMessageDescriptor sym;
#define ENUM(sym) extern const ProtobufCEnumDescriptor sym;
#define SVC(sym) extern const cp_service_desc sym;
MSG(connectplugin__v1__handshake_request__descriptor)
MSG(connectplugin__v1__handshake_response__descriptor)
MSG(connectplugin__v1__plugin_info__descriptor)
MSG(connectplugin__v1__capability__descriptor)
MSG(connectplugin__v1__service_declaration__descriptor)
MSG(connectplugin__v1__service_dependency__descriptor)
MSG(connectplugin__v1__request_capability_request__descriptor)
MSG(connectplugin__v1__request_capability_response__descriptor)
MSG(connectplugin__v1__capability_grant__descriptor)
MSG(connectplugin__health__v1__health_check_request__descriptor)
MSG(connectplugin__health__v1__health_check_response__descriptor)
ENUM(connectplugin__health__v1__serving_status__descriptor)
MSG(connectplugin__v1__report_health_request__descriptor)
MSG(connectplugin__v1__report_health_response__descriptor)
MSG(connectplugin__v1__get_health_request__descriptor)
MSG(connectplugin__v1__get_health_response__descriptor)
MSG(connectplugin__v1__shutdown_request__descriptor)
MSG(connectplugin__v1__shutdown_response__descriptor)
ENUM(connectplugin__v1__health_state__descriptor)
MSG(connectplugin__v1__get_plugin_info_request__descriptor)
MSG(connectplugin__v1__get_plugin_info_response__descriptor)
MSG(connectplugin__v1__set_runtime_identity_request__descriptor)
MSG(connectplugin__v1__set_runtime_identity_response__descriptor)
MSG(connectplugin__v1__register_service_request__descriptor)
MSG(connectplugin__v1__register_service_response__descriptor)
MSG(connectplugin__v1__unregister_service_request__descriptor)
MSG(connectplugin__v1__unregister_service_response__descriptor)
MSG(connectplugin__v1__discover_service_request__descriptor)
MSG(connectplugin__v1__discover_service_response__descriptor)
MSG(connectplugin__v1__service_endpoint__descriptor)
MSG(connectplugin__v1__watch_service_request__descriptor)
MSG(connectplugin__v1__watch_service_event__descriptor)
ENUM(connectplugin__v1__service_state__descriptor)
MSG(capability__logger__v1__log_request__descriptor)
MSG(capability__logger__v1__log_response__descriptor)
MSG(kv__v1__get_request__descriptor)
MSG(kv__v1__get_response__descriptor)
MSG(kv__v1__put_request__descriptor)
MSG(kv__v1__put_response__descriptor)
MSG(kv__v1__delete_request__descriptor)
MSG(kv__v1__delete_response__descriptor)
MSG(kv__v1__watch_request__descriptor)
MSG(kv__v1__watch_event__descriptor)
ENUM(kv__v1__event_type__descriptor)
MSG(grpc__health__v1__health_check_request__descriptor)
MSG(grpc__health__v1__health_check_response__descriptor)
SVC(cp_connectplugin__v1__handshake_service__service)
SVC(cp_connectplugin__v1__capability_broker__service)
SVC(cp_connectplugin__health__v1__health_service__service)
SVC(cp_connectplugin__v1__plugin_lifecycle__service)
SVC(cp_connectplugin__v1__plugin_control__service)
SVC(cp_connectplugin__v1__plugin_identity__service)
SVC(cp_connectplugin__v1__service_registry__service)
SVC(cp_capability__logger__v1__logger__service)
SVC(cp_kv__v1__kvservice__service)
SVC(cp_grpc__health__v1__health__service)
#undef MSG
#undef ENUM
#undef SVC
}

namespace {

// Field kinds as the wire specification writes them.
enum Kind { STR, I32, BOOL, BYTES, MSG_, ENUM_, MAP, RSTR, RMSG };

struct Field {
  const char *name;
  unsigned number;
  Kind kind;
  const char *type_name;  // message or enum type for MSG_/ENUM_/RMSG/MAP
};

struct Message {
  const ProtobufCMessageDescriptor *desc;
  const char *full_name;
  std::vector<Field> fields;
};

void CheckField(const ProtobufCMessageDescriptor *d, const Field &f) {
  const ProtobufCFieldDescriptor *fd =
      protobuf_c_message_descriptor_get_field_by_name(d, f.name);
  ASSERT_NE(nullptr, fd) << d->name << "." << f.name << " missing";
  EXPECT_EQ(f.number, fd->id) << d->name << "." << f.name;
  bool repeated = fd->label == PROTOBUF_C_LABEL_REPEATED;
  switch (f.kind) {
    case STR:
      EXPECT_EQ(PROTOBUF_C_TYPE_STRING, fd->type) << f.name;
      EXPECT_FALSE(repeated) << f.name;
      break;
    case RSTR:
      EXPECT_EQ(PROTOBUF_C_TYPE_STRING, fd->type) << f.name;
      EXPECT_TRUE(repeated) << f.name;
      break;
    case I32:
      EXPECT_EQ(PROTOBUF_C_TYPE_INT32, fd->type) << f.name;
      break;
    case BOOL:
      EXPECT_EQ(PROTOBUF_C_TYPE_BOOL, fd->type) << f.name;
      break;
    case BYTES:
      EXPECT_EQ(PROTOBUF_C_TYPE_BYTES, fd->type) << f.name;
      break;
    case ENUM_:
      ASSERT_EQ(PROTOBUF_C_TYPE_ENUM, fd->type) << f.name;
      EXPECT_STREQ(
          f.type_name,
          static_cast<const ProtobufCEnumDescriptor *>(fd->descriptor)->name);
      break;
    case MSG_:
    case RMSG:
      ASSERT_EQ(PROTOBUF_C_TYPE_MESSAGE, fd->type) << f.name;
      EXPECT_EQ(f.kind == RMSG, repeated) << f.name;
      EXPECT_STREQ(f.type_name, static_cast<const ProtobufCMessageDescriptor *>(
                                    fd->descriptor)
                                    ->name);
      break;
    case MAP: {
      // map<string,string> is a repeated entry message with key=1, value=2.
      ASSERT_EQ(PROTOBUF_C_TYPE_MESSAGE, fd->type) << f.name;
      EXPECT_TRUE(repeated);
      auto *entry =
          static_cast<const ProtobufCMessageDescriptor *>(fd->descriptor);
      const ProtobufCFieldDescriptor *k =
          protobuf_c_message_descriptor_get_field(entry, 1);
      const ProtobufCFieldDescriptor *v =
          protobuf_c_message_descriptor_get_field(entry, 2);
      ASSERT_NE(nullptr, k);
      ASSERT_NE(nullptr, v);
      EXPECT_EQ(PROTOBUF_C_TYPE_STRING, k->type);
      EXPECT_EQ(PROTOBUF_C_TYPE_STRING, v->type);
      break;
    }
  }
}

const char *kInfo = "connectplugin.v1.PluginInfo";
const char *kCap = "connectplugin.v1.Capability";
const char *kDecl = "connectplugin.v1.ServiceDeclaration";
const char *kDep = "connectplugin.v1.ServiceDependency";
const char *kEndpoint = "connectplugin.v1.ServiceEndpoint";

std::vector<Message> Messages() {
  return {
      {&connectplugin__v1__handshake_request__descriptor,
       "connectplugin.v1.HandshakeRequest",
       {{"core_protocol_version", 1, I32, nullptr},
        {"app_protocol_version", 2, I32, nullptr},
        {"magic_cookie_key", 3, STR, nullptr},
        {"magic_cookie_value", 4, STR, nullptr},
        {"requested_plugins", 5, RSTR, nullptr},
        {"client_metadata", 6, MAP, nullptr},
        {"self_id", 10, STR, nullptr},
        {"self_version", 11, STR, nullptr}}},
      {&connectplugin__v1__handshake_response__descriptor,
       "connectplugin.v1.HandshakeResponse",
       {{"core_protocol_version", 1, I32, nullptr},
        {"app_protocol_version", 2, I32, nullptr},
        {"plugins", 3, RMSG, kInfo},
        {"server_metadata", 4, MAP, nullptr},
        {"host_capabilities", 5, RMSG, kCap},
        {"runtime_id", 10, STR, nullptr},
        {"runtime_token", 11, STR, nullptr}}},
      {&connectplugin__v1__plugin_info__descriptor,
       kInfo,
       {{"name", 1, STR, nullptr},
        {"version", 2, STR, nullptr},
        {"service_path", 3, STR, nullptr},
        {"provides", 10, RMSG, kDecl},
        {"requires", 11, RMSG, kDep}}},
      {&connectplugin__v1__capability__descriptor,
       kCap,
       {{"type", 1, STR, nullptr},
        {"version", 2, STR, nullptr},
        {"endpoint", 3, STR, nullptr}}},
      {&connectplugin__v1__service_declaration__descriptor,
       kDecl,
       {{"type", 1, STR, nullptr},
        {"version", 2, STR, nullptr},
        {"path", 3, STR, nullptr}}},
      {&connectplugin__v1__service_dependency__descriptor,
       kDep,
       {{"type", 1, STR, nullptr},
        {"min_version", 2, STR, nullptr},
        {"required_for_startup", 3, BOOL, nullptr},
        {"watch_for_changes", 4, BOOL, nullptr}}},
      {&connectplugin__v1__request_capability_request__descriptor,
       "connectplugin.v1.RequestCapabilityRequest",
       {{"capability_type", 1, STR, nullptr},
        {"min_version", 2, STR, nullptr},
        {"reason", 3, STR, nullptr}}},
      {&connectplugin__v1__request_capability_response__descriptor,
       "connectplugin.v1.RequestCapabilityResponse",
       {{"grant", 1, MSG_, "connectplugin.v1.CapabilityGrant"}}},
      {&connectplugin__v1__capability_grant__descriptor,
       "connectplugin.v1.CapabilityGrant",
       {{"grant_id", 1, STR, nullptr},
        {"endpoint_url", 2, STR, nullptr},
        {"bearer_token", 3, STR, nullptr},
        {"capability_type", 4, STR, nullptr},
        {"version", 5, STR, nullptr}}},
      {&connectplugin__health__v1__health_check_request__descriptor,
       "connectplugin.health.v1.HealthCheckRequest",
       {{"service", 1, STR, nullptr}}},
      {&connectplugin__health__v1__health_check_response__descriptor,
       "connectplugin.health.v1.HealthCheckResponse",
       {{"status", 1, ENUM_, "connectplugin.health.v1.ServingStatus"}}},
      {&connectplugin__v1__report_health_request__descriptor,
       "connectplugin.v1.ReportHealthRequest",
       {{"state", 1, ENUM_, "connectplugin.v1.HealthState"},
        {"reason", 2, STR, nullptr},
        {"unavailable_dependencies", 3, RSTR, nullptr}}},
      {&connectplugin__v1__report_health_response__descriptor,
       "connectplugin.v1.ReportHealthResponse",
       {}},
      {&connectplugin__v1__get_health_request__descriptor,
       "connectplugin.v1.GetHealthRequest",
       {}},
      {&connectplugin__v1__get_health_response__descriptor,
       "connectplugin.v1.GetHealthResponse",
       {{"state", 1, ENUM_, "connectplugin.v1.HealthState"},
        {"reason", 2, STR, nullptr},
        {"unavailable_dependencies", 3, RSTR, nullptr}}},
      {&connectplugin__v1__shutdown_request__descriptor,
       "connectplugin.v1.ShutdownRequest",
       {{"grace_period_seconds", 1, I32, nullptr},
        {"reason", 2, STR, nullptr}}},
      {&connectplugin__v1__shutdown_response__descriptor,
       "connectplugin.v1.ShutdownResponse",
       {{"acknowledged", 1, BOOL, nullptr}}},
      {&connectplugin__v1__get_plugin_info_request__descriptor,
       "connectplugin.v1.GetPluginInfoRequest",
       {}},
      {&connectplugin__v1__get_plugin_info_response__descriptor,
       "connectplugin.v1.GetPluginInfoResponse",
       {{"self_id", 1, STR, nullptr},
        {"self_version", 2, STR, nullptr},
        {"provides", 3, RMSG, kDecl},
        {"requires", 4, RMSG, kDep},
        {"metadata", 5, MAP, nullptr}}},
      {&connectplugin__v1__set_runtime_identity_request__descriptor,
       "connectplugin.v1.SetRuntimeIdentityRequest",
       {{"runtime_id", 1, STR, nullptr},
        {"runtime_token", 2, STR, nullptr},
        {"host_url", 3, STR, nullptr}}},
      {&connectplugin__v1__set_runtime_identity_response__descriptor,
       "connectplugin.v1.SetRuntimeIdentityResponse",
       {{"acknowledged", 1, BOOL, nullptr}}},
      {&connectplugin__v1__register_service_request__descriptor,
       "connectplugin.v1.RegisterServiceRequest",
       {{"service_type", 1, STR, nullptr},
        {"version", 2, STR, nullptr},
        {"endpoint_path", 3, STR, nullptr},
        {"metadata", 4, MAP, nullptr}}},
      {&connectplugin__v1__register_service_response__descriptor,
       "connectplugin.v1.RegisterServiceResponse",
       {{"registration_id", 1, STR, nullptr}}},
      {&connectplugin__v1__unregister_service_request__descriptor,
       "connectplugin.v1.UnregisterServiceRequest",
       {{"registration_id", 1, STR, nullptr}}},
      {&connectplugin__v1__unregister_service_response__descriptor,
       "connectplugin.v1.UnregisterServiceResponse",
       {}},
      {&connectplugin__v1__discover_service_request__descriptor,
       "connectplugin.v1.DiscoverServiceRequest",
       {{"service_type", 1, STR, nullptr}, {"min_version", 2, STR, nullptr}}},
      {&connectplugin__v1__discover_service_response__descriptor,
       "connectplugin.v1.DiscoverServiceResponse",
       {{"endpoint", 1, MSG_, kEndpoint},
        {"single_provider", 2, BOOL, nullptr}}},
      {&connectplugin__v1__service_endpoint__descriptor,
       kEndpoint,
       {{"provider_id", 1, STR, nullptr},
        {"version", 2, STR, nullptr},
        {"endpoint_url", 3, STR, nullptr},
        {"metadata", 4, MAP, nullptr}}},
      {&connectplugin__v1__watch_service_request__descriptor,
       "connectplugin.v1.WatchServiceRequest",
       {{"service_type", 1, STR, nullptr}}},
      {&connectplugin__v1__watch_service_event__descriptor,
       "connectplugin.v1.WatchServiceEvent",
       {{"service_type", 1, STR, nullptr},
        {"state", 2, ENUM_, "connectplugin.v1.ServiceState"},
        {"endpoint", 3, MSG_, kEndpoint}}},
      {&capability__logger__v1__log_request__descriptor,
       "capability.logger.v1.LogRequest",
       {{"level", 1, STR, nullptr},
        {"message", 2, STR, nullptr},
        {"fields", 3, MAP, nullptr}}},
      {&capability__logger__v1__log_response__descriptor,
       "capability.logger.v1.LogResponse",
       {}},
      {&kv__v1__get_request__descriptor,
       "kv.v1.GetRequest",
       {{"key", 1, STR, nullptr}}},
      {&kv__v1__get_response__descriptor,
       "kv.v1.GetResponse",
       {{"value", 1, BYTES, nullptr}, {"found", 2, BOOL, nullptr}}},
      {&kv__v1__put_request__descriptor,
       "kv.v1.PutRequest",
       {{"key", 1, STR, nullptr}, {"value", 2, BYTES, nullptr}}},
      {&kv__v1__put_response__descriptor, "kv.v1.PutResponse", {}},
      {&kv__v1__delete_request__descriptor,
       "kv.v1.DeleteRequest",
       {{"key", 1, STR, nullptr}}},
      {&kv__v1__delete_response__descriptor,
       "kv.v1.DeleteResponse",
       {{"found", 2, BOOL, nullptr}}},
      {&kv__v1__watch_request__descriptor,
       "kv.v1.WatchRequest",
       {{"prefix", 1, STR, nullptr}}},
      {&kv__v1__watch_event__descriptor,
       "kv.v1.WatchEvent",
       {{"type", 1, ENUM_, "kv.v1.EventType"},
        {"key", 2, STR, nullptr},
        {"value", 3, BYTES, nullptr}}},
      {&grpc__health__v1__health_check_request__descriptor,
       "grpc.health.v1.HealthCheckRequest",
       {{"service", 1, STR, nullptr}}},
      {&grpc__health__v1__health_check_response__descriptor,
       "grpc.health.v1.HealthCheckResponse",
       {{"status", 1, ENUM_,
         "grpc.health.v1.HealthCheckResponse.ServingStatus"}}},
  };
}

TEST(Contract, EveryMessageHasExactlyTheContractFields) {
  for (const Message &m : Messages()) {
    SCOPED_TRACE(m.full_name);
    EXPECT_STREQ(m.full_name, m.desc->name);
    EXPECT_EQ(m.fields.size(), m.desc->n_fields)
        << "extra or missing fields in " << m.full_name;
    for (const Field &f : m.fields) {
      CheckField(m.desc, f);
    }
  }
}

struct EnumValue {
  const char *name;
  int value;
};

void CheckEnum(const ProtobufCEnumDescriptor *d, const char *full_name,
               const std::vector<EnumValue> &values) {
  SCOPED_TRACE(full_name);
  EXPECT_STREQ(full_name, d->name);
  EXPECT_EQ(values.size(), d->n_values);
  for (const EnumValue &v : values) {
    const ProtobufCEnumValue *ev =
        protobuf_c_enum_descriptor_get_value_by_name(d, v.name);
    ASSERT_NE(nullptr, ev) << v.name;
    EXPECT_EQ(v.value, ev->value) << v.name;
  }
}

TEST(Contract, EnumValues) {
  CheckEnum(&connectplugin__health__v1__serving_status__descriptor,
            "connectplugin.health.v1.ServingStatus",
            {{"SERVING_STATUS_UNSPECIFIED", 0},
             {"SERVING_STATUS_SERVING", 1},
             {"SERVING_STATUS_NOT_SERVING", 2},
             {"SERVING_STATUS_SERVICE_UNKNOWN", 3}});
  CheckEnum(&connectplugin__v1__health_state__descriptor,
            "connectplugin.v1.HealthState",
            {{"HEALTH_STATE_UNSPECIFIED", 0},
             {"HEALTH_STATE_HEALTHY", 1},
             {"HEALTH_STATE_DEGRADED", 2},
             {"HEALTH_STATE_UNHEALTHY", 3}});
  CheckEnum(&connectplugin__v1__service_state__descriptor,
            "connectplugin.v1.ServiceState",
            {{"SERVICE_STATE_UNSPECIFIED", 0},
             {"SERVICE_STATE_AVAILABLE", 1},
             {"SERVICE_STATE_UNAVAILABLE", 2},
             {"SERVICE_STATE_DEGRADED", 3}});
  CheckEnum(&kv__v1__event_type__descriptor, "kv.v1.EventType",
            {{"EVENT_TYPE_UNSPECIFIED", 0},
             {"EVENT_TYPE_PUT", 1},
             {"EVENT_TYPE_DELETE", 2}});
}

struct Method {
  const char *path;
  cp_method_kind kind;
  const char *request;
  const char *response;
};

void CheckService(const cp_service_desc &svc, const char *full_name,
                  const std::vector<Method> &methods) {
  SCOPED_TRACE(full_name);
  EXPECT_STREQ(full_name, svc.full_name);
  EXPECT_EQ("/" + std::string(full_name) + "/", svc.path);
  ASSERT_EQ(methods.size(), svc.method_count);
  for (const Method &m : methods) {
    const cp_method_desc *d = cp_service_find_method(&svc, m.path);
    ASSERT_NE(nullptr, d) << m.path;
    EXPECT_EQ(m.kind, d->kind) << m.path;
    EXPECT_STREQ(m.request, d->request_type->name) << m.path;
    EXPECT_STREQ(m.response, d->response_type->name) << m.path;
  }
}

TEST(Contract, EveryMethodPathAndKind) {
  CheckService(cp_connectplugin__v1__handshake_service__service,
               "connectplugin.v1.HandshakeService",
               {{"/connectplugin.v1.HandshakeService/Handshake",
                 CP_METHOD_UNARY, "connectplugin.v1.HandshakeRequest",
                 "connectplugin.v1.HandshakeResponse"}});
  CheckService(cp_connectplugin__v1__capability_broker__service,
               "connectplugin.v1.CapabilityBroker",
               {{"/connectplugin.v1.CapabilityBroker/RequestCapability",
                 CP_METHOD_UNARY, "connectplugin.v1.RequestCapabilityRequest",
                 "connectplugin.v1.RequestCapabilityResponse"}});
  CheckService(cp_connectplugin__health__v1__health_service__service,
               "connectplugin.health.v1.HealthService",
               {{"/connectplugin.health.v1.HealthService/Check",
                 CP_METHOD_UNARY, "connectplugin.health.v1.HealthCheckRequest",
                 "connectplugin.health.v1.HealthCheckResponse"},
                {"/connectplugin.health.v1.HealthService/Watch",
                 CP_METHOD_SERVER_STREAMING,
                 "connectplugin.health.v1.HealthCheckRequest",
                 "connectplugin.health.v1.HealthCheckResponse"}});
  CheckService(cp_connectplugin__v1__plugin_lifecycle__service,
               "connectplugin.v1.PluginLifecycle",
               {{"/connectplugin.v1.PluginLifecycle/ReportHealth",
                 CP_METHOD_UNARY, "connectplugin.v1.ReportHealthRequest",
                 "connectplugin.v1.ReportHealthResponse"}});
  CheckService(cp_connectplugin__v1__plugin_control__service,
               "connectplugin.v1.PluginControl",
               {{"/connectplugin.v1.PluginControl/GetHealth", CP_METHOD_UNARY,
                 "connectplugin.v1.GetHealthRequest",
                 "connectplugin.v1.GetHealthResponse"},
                {"/connectplugin.v1.PluginControl/Shutdown", CP_METHOD_UNARY,
                 "connectplugin.v1.ShutdownRequest",
                 "connectplugin.v1.ShutdownResponse"}});
  CheckService(cp_connectplugin__v1__plugin_identity__service,
               "connectplugin.v1.PluginIdentity",
               {{"/connectplugin.v1.PluginIdentity/GetPluginInfo",
                 CP_METHOD_UNARY, "connectplugin.v1.GetPluginInfoRequest",
                 "connectplugin.v1.GetPluginInfoResponse"},
                {"/connectplugin.v1.PluginIdentity/SetRuntimeIdentity",
                 CP_METHOD_UNARY, "connectplugin.v1.SetRuntimeIdentityRequest",
                 "connectplugin.v1.SetRuntimeIdentityResponse"}});
  CheckService(
      cp_connectplugin__v1__service_registry__service,
      "connectplugin.v1.ServiceRegistry",
      {{"/connectplugin.v1.ServiceRegistry/RegisterService", CP_METHOD_UNARY,
        "connectplugin.v1.RegisterServiceRequest",
        "connectplugin.v1.RegisterServiceResponse"},
       {"/connectplugin.v1.ServiceRegistry/UnregisterService", CP_METHOD_UNARY,
        "connectplugin.v1.UnregisterServiceRequest",
        "connectplugin.v1.UnregisterServiceResponse"},
       {"/connectplugin.v1.ServiceRegistry/DiscoverService", CP_METHOD_UNARY,
        "connectplugin.v1.DiscoverServiceRequest",
        "connectplugin.v1.DiscoverServiceResponse"},
       {"/connectplugin.v1.ServiceRegistry/WatchService",
        CP_METHOD_SERVER_STREAMING, "connectplugin.v1.WatchServiceRequest",
        "connectplugin.v1.WatchServiceEvent"}});
  CheckService(cp_capability__logger__v1__logger__service,
               "capability.logger.v1.Logger",
               {{"/capability.logger.v1.Logger/Log", CP_METHOD_UNARY,
                 "capability.logger.v1.LogRequest",
                 "capability.logger.v1.LogResponse"}});
  CheckService(cp_kv__v1__kvservice__service, "kv.v1.KVService",
               {{"/kv.v1.KVService/Get", CP_METHOD_UNARY, "kv.v1.GetRequest",
                 "kv.v1.GetResponse"},
                {"/kv.v1.KVService/Put", CP_METHOD_UNARY, "kv.v1.PutRequest",
                 "kv.v1.PutResponse"},
                {"/kv.v1.KVService/Delete", CP_METHOD_UNARY,
                 "kv.v1.DeleteRequest", "kv.v1.DeleteResponse"},
                {"/kv.v1.KVService/Watch", CP_METHOD_SERVER_STREAMING,
                 "kv.v1.WatchRequest", "kv.v1.WatchEvent"},
                {"/kv.v1.KVService/BatchPut", CP_METHOD_CLIENT_STREAMING,
                 "kv.v1.PutRequest", "kv.v1.BatchPutResponse"},
                {"/kv.v1.KVService/Session", CP_METHOD_BIDI_STREAMING,
                 "kv.v1.SessionRequest", "kv.v1.WatchEvent"}});
  CheckService(cp_grpc__health__v1__health__service, "grpc.health.v1.Health",
               {{"/grpc.health.v1.Health/Check", CP_METHOD_UNARY,
                 "grpc.health.v1.HealthCheckRequest",
                 "grpc.health.v1.HealthCheckResponse"},
                {"/grpc.health.v1.Health/Watch", CP_METHOD_SERVER_STREAMING,
                 "grpc.health.v1.HealthCheckRequest",
                 "grpc.health.v1.HealthCheckResponse"}});
}

}  // namespace
