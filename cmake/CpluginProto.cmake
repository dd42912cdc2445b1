# CpluginProto.cmake — cplugin_proto_library(): C code for .proto files, built
# into a static library.
#
#   cplugin_proto_library(<target>
#     PROTO_ROOT <dir>                 import root of the .proto files
#     PROTOS <file.proto>...           paths relative to PROTO_ROOT
#     [DEPS <target>...]               cplugin_proto_library targets imported
#     [VERSION <x.y.z>]                plugin version (default 1.0.0)
#     [RUNTIME <target>])              the runtime to link (default below;
#                                      cplugin::cplugin_shared for the
#                                      shared library)
#
# At build time protoc runs protoc-c (--c_out) and protoc-gen-cplugin
# (--cplugin_out) into ${CMAKE_CURRENT_BINARY_DIR}/<target>_gen. <target> is a
# STATIC library of the .pb-c.c files and, for .proto files that declare
# services, the .cplugin.c files; the output directory is its PUBLIC include
# directory, so code includes "kv/v1/kv.cplugin.h". It links protobuf-c and the
# cplugin runtime (the `cplugin` target in the cplugin tree, else
# cplugin::cplugin). DEPS add their PROTO_ROOTs to protoc's import path and
# are linked PUBLIC.
#
# protoc-gen-cplugin is the `protoc-gen-cplugin` target when the project
# defines it (the cplugin tree), else the imported cplugin::protoc-gen-cplugin,
# else the executable found next to this file's install location or on PATH;
# set CPLUGIN_PROTOC_GEN_CPLUGIN to choose one. Which .proto files declare
# services is decided at configure time (protoc decodes their descriptors), and
# editing a listed .proto re-runs the configuration.
include_guard(GLOBAL)

set(_CPLUGIN_PROTO_MODULE_DIR "${CMAKE_CURRENT_LIST_DIR}")

find_program(CPLUGIN_PROTOC NAMES protoc REQUIRED)
find_program(CPLUGIN_PROTOC_GEN_C NAMES protoc-gen-c protoc-c REQUIRED)
find_path(CPLUGIN_DESCRIPTOR_PROTO_DIR google/protobuf/descriptor.proto
          PATHS /usr/include /usr/local/include REQUIRED)

# Sets <out_plugin> to the plugin's path (may be a generator expression) and
# <out_depends> to what the generating command depends on.
function(_cplugin_proto_find_plugin out_plugin out_depends)
  if(TARGET protoc-gen-cplugin)
    set(${out_plugin} "$<TARGET_FILE:protoc-gen-cplugin>" PARENT_SCOPE)
    set(${out_depends} protoc-gen-cplugin PARENT_SCOPE)
    return()
  endif()
  if(TARGET cplugin::protoc-gen-cplugin)
    set(${out_plugin} "$<TARGET_FILE:cplugin::protoc-gen-cplugin>" PARENT_SCOPE)
    set(${out_depends} "$<TARGET_FILE:cplugin::protoc-gen-cplugin>" PARENT_SCOPE)
    return()
  endif()
  # Installed layouts: <prefix>/lib/cmake/cplugin or
  # <prefix>/lib/<multiarch>/cmake/cplugin or <prefix>/share/cplugin/cmake.
  find_program(CPLUGIN_PROTOC_GEN_CPLUGIN NAMES protoc-gen-cplugin
    HINTS "${_CPLUGIN_PROTO_MODULE_DIR}/../../../bin"
          "${_CPLUGIN_PROTO_MODULE_DIR}/../../../../bin")
  if(NOT CPLUGIN_PROTOC_GEN_CPLUGIN)
    message(FATAL_ERROR
      "cplugin_proto_library: protoc-gen-cplugin not found; build it in this "
      "project, install cplugin, or set CPLUGIN_PROTOC_GEN_CPLUGIN")
  endif()
  set(${out_plugin} "${CPLUGIN_PROTOC_GEN_CPLUGIN}" PARENT_SCOPE)
  set(${out_depends} "${CPLUGIN_PROTOC_GEN_CPLUGIN}" PARENT_SCOPE)
endfunction()

# Sets <out_var> to those of <protos> (relative names) that declare at least
# one service, by decoding their FileDescriptorSet: in protoc's text output a
# file's own fields are indented by two spaces.
function(_cplugin_proto_with_services out_var target include_flags protos)
  set(set_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_gen.descriptor_set")
  execute_process(
    COMMAND "${CPLUGIN_PROTOC}" ${include_flags}
            "--descriptor_set_out=${set_file}" ${protos}
    RESULT_VARIABLE rc
    ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cplugin_proto_library(${target}): protoc failed:\n${err}")
  endif()
  execute_process(
    COMMAND "${CPLUGIN_PROTOC}" "-I${CPLUGIN_DESCRIPTOR_PROTO_DIR}"
            --decode=google.protobuf.FileDescriptorSet
            google/protobuf/descriptor.proto
    INPUT_FILE "${set_file}"
    OUTPUT_VARIABLE text
    RESULT_VARIABLE rc
    ERROR_VARIABLE err)
  file(REMOVE "${set_file}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR
      "cplugin_proto_library(${target}): cannot decode descriptors:\n${err}")
  endif()
  string(REGEX MATCHALL "\n  (name: \"[^\n]*\"|service {)" items "${text}")
  set(current "")
  set(result "")
  foreach(item IN LISTS items)
    if(item MATCHES "name: \"(.*)\"$")
      set(current "${CMAKE_MATCH_1}")
    elseif(NOT current STREQUAL "")
      list(APPEND result "${current}")
      set(current "")
    endif()
  endforeach()
  set(${out_var} "${result}" PARENT_SCOPE)
endfunction()

function(cplugin_proto_library target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "PROTO_ROOT;VERSION;RUNTIME"
                        "PROTOS;DEPS")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR
      "cplugin_proto_library(${target}): unknown arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_PROTO_ROOT OR NOT arg_PROTOS)
    message(FATAL_ERROR
      "cplugin_proto_library(${target}): PROTO_ROOT and PROTOS are required")
  endif()
  get_filename_component(root "${arg_PROTO_ROOT}" ABSOLUTE
                         BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${target}_gen")

  # Import roots and .proto files of the dependencies, then our own.
  set(roots "${root}")
  set(dep_protos "")
  foreach(dep IN LISTS arg_DEPS)
    if(NOT TARGET ${dep})
      message(FATAL_ERROR "cplugin_proto_library(${target}): DEPS ${dep} is not a target")
    endif()
    get_target_property(dep_roots ${dep} CPLUGIN_PROTO_ROOTS)
    get_target_property(dep_files ${dep} CPLUGIN_PROTO_FILES)
    if(NOT dep_roots)
      message(FATAL_ERROR
        "cplugin_proto_library(${target}): DEPS ${dep} was not made by cplugin_proto_library")
    endif()
    list(APPEND roots ${dep_roots})
    list(APPEND dep_protos ${dep_files})
  endforeach()
  list(REMOVE_DUPLICATES roots)
  set(include_flags "")
  foreach(dir IN LISTS roots)
    list(APPEND include_flags "-I${dir}")
  endforeach()

  set(abs_protos "")
  foreach(proto IN LISTS arg_PROTOS)
    list(APPEND abs_protos "${root}/${proto}")
  endforeach()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${abs_protos})

  _cplugin_proto_with_services(with_services ${target} "${include_flags}"
                               "${arg_PROTOS}")
  set(sources "")
  set(headers "")
  foreach(proto IN LISTS arg_PROTOS)
    string(REGEX REPLACE "\\.proto$" "" stem "${proto}")
    list(APPEND sources "${out}/${stem}.pb-c.c")
    list(APPEND headers "${out}/${stem}.pb-c.h")
    if(proto IN_LIST with_services)
      list(APPEND sources "${out}/${stem}.cplugin.c")
      list(APPEND headers "${out}/${stem}.cplugin.h")
    endif()
  endforeach()

  _cplugin_proto_find_plugin(plugin plugin_depends)
  set(version_flag "")
  if(arg_VERSION)
    set(version_flag "--cplugin_opt=version=${arg_VERSION}")
  endif()
  add_custom_command(
    OUTPUT ${sources} ${headers}
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${out}"
    COMMAND "${CPLUGIN_PROTOC}" ${include_flags}
            "--plugin=protoc-gen-c=${CPLUGIN_PROTOC_GEN_C}" "--c_out=${out}"
            "--plugin=protoc-gen-cplugin=${plugin}" "--cplugin_out=${out}"
            ${version_flag} ${arg_PROTOS}
    DEPENDS ${abs_protos} ${dep_protos} ${plugin_depends}
    COMMENT "cplugin_proto_library(${target}): protoc-c and protoc-gen-cplugin"
    VERBATIM)

  add_library(${target} STATIC ${sources} ${headers})
  target_include_directories(${target} PUBLIC "$<BUILD_INTERFACE:${out}>")
  if(NOT TARGET PkgConfig::PROTOBUF_C)
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(PROTOBUF_C REQUIRED IMPORTED_TARGET libprotobuf-c)
  endif()
  # Decided at generation time, so that the runtime target may be defined
  # after this call.
  if(arg_RUNTIME)
    set(runtime ${arg_RUNTIME})
  else()
    set(runtime "$<IF:$<TARGET_EXISTS:cplugin>,cplugin,cplugin::cplugin>")
  endif()
  target_link_libraries(${target} PUBLIC PkgConfig::PROTOBUF_C ${runtime}
                        ${arg_DEPS})
  set_target_properties(${target} PROPERTIES
    C_STANDARD 11
    C_STANDARD_REQUIRED ON
    CPLUGIN_PROTO_ROOTS "${roots}"
    CPLUGIN_PROTO_FILES "${abs_protos};${dep_protos}")
endfunction()
