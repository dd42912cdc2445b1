#!/usr/bin/env node
// A client of the plugins behind a cplugin host, with connect-node's gRPC
// transport (@connectrpc/connect-node): the stand-in for connect-go clients,
// which reach a gRPC-core host only in gRPC mode (connect.WithGRPC()) over
// HTTP/2. It is not a plugin: it joins the host as a caller (a Handshake
// gives it a runtime identity) and every call goes through the host's
// router.
//
//   node connect_client.js --host ADDRESS shorten URL   (the C api plugin)
//   node connect_client.js --host ADDRESS resolve CODE  (the C api plugin)
//   node connect_client.js --host ADDRESS get CODE      (the storage plugin)
//   node connect_client.js --host ADDRESS watch TYPE    (first event only)
//
// ADDRESS is the host's "host:port" (plaintext, h2c). Prints the answer on
// stdout; a failed call prints "<code name>: <message>" on stderr and exits
// 1.
'use strict';
const {execFileSync} = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {status: grpcStatus} = require('@grpc/grpc-js');
const {createClient, Code, ConnectError} = require('@connectrpc/connect');
const {createGrpcTransport} = require('@connectrpc/connect-node');
const {createFileRegistry, fromBinary} = require('@bufbuild/protobuf');
const {FileDescriptorSetSchema} = require('@bufbuild/protobuf/wkt');
const {COOKIE_KEY, COOKIE_VALUE} = require('./cplugin_link');
const protos = require('./protos');

// Service descriptors from the .proto files (protoc writes the descriptor
// set; no generated code).
function registry() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cplugin-connect-'));
  try {
    const out = path.join(dir, 'descriptors.binpb');
    execFileSync('protoc', [
      ...protos.includeDirs.map((d) => '-I' + d),
      '--include_imports', `--descriptor_set_out=${out}`, ...protos.files,
    ]);
    const set = fromBinary(FileDescriptorSetSchema, fs.readFileSync(out));
    return createFileRegistry(set);
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
}

async function main() {
  const [flag, address, command, arg] = process.argv.slice(2);
  if (flag !== '--host' || !address || !command || arg === undefined) {
    console.error('usage: connect_client.js --host ADDRESS ' +
        '(shorten URL | resolve CODE | get CODE | watch TYPE)');
    return 2;
  }
  const reg = registry();
  const service = (name) => reg.getService(name);
  const transport = createGrpcTransport({baseUrl: `http://${address}`});

  const handshake = createClient(
      service('connectplugin.v1.HandshakeService'), transport);
  const hello = await handshake.handshake({
    coreProtocolVersion: 1, appProtocolVersion: 1,
    magicCookieKey: COOKIE_KEY, magicCookieValue: COOKIE_VALUE,
    selfId: 'connect-client', selfVersion: '1.0.0',
  });
  const identity = {
    'x-plugin-runtime-id': hello.runtimeId,
    'authorization': `Bearer ${hello.runtimeToken}`,
  };
  // A routed call: the method's own path, plus the provider's service type.
  const routed = (type) => ({
    headers: {...identity, 'x-cplugin-service-type': type},
    timeoutMs: 5000,
  });

  const api = createClient(service('api.v1.API'), transport);
  const storage = createClient(service('storage.v1.Storage'), transport);
  if (command === 'shorten') {
    console.log((await api.shorten({url: arg}, routed('api'))).code);
  } else if (command === 'resolve') {
    console.log((await api.resolve({code: arg}, routed('api'))).url);
  } else if (command === 'get') {
    const reply = await storage.get({code: arg}, routed('storage'));
    console.log(reply.found ? reply.url : 'not found');
  } else if (command === 'watch') {
    const registryClient = createClient(
        service('connectplugin.v1.ServiceRegistry'), transport);
    const abort = new AbortController();
    const events = registryClient.watchService({serviceType: arg},
        {headers: identity, signal: abort.signal});
    for await (const event of events) {
      const states = ['UNSPECIFIED', 'AVAILABLE', 'UNAVAILABLE', 'DEGRADED'];
      console.log(`WATCH ${event.serviceType} ${states[event.state]} ${
        (event.endpoint && event.endpoint.providerId) || '-'}`);
      abort.abort();
      break;
    }
  } else {
    console.error(`connect_client.js: unknown command ${command}`);
    return 2;
  }
  return 0;
}

main().then((code) => process.exit(code), (err) => {
  const e = ConnectError.from(err);
  // Connect's codes have gRPC's numbers: print gRPC's names.
  console.error(`${grpcStatus[e.code] || Code[e.code]}: ${e.rawMessage}`);
  process.exit(1);
});
