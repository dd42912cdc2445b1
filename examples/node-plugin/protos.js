// The services and messages the Node examples use, loaded from the .proto
// files at start with @grpc/proto-loader (no generated code).
'use strict';
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const repo = path.resolve(__dirname, '..', '..');
const includeDirs = [
  path.join(repo, 'proto'),
  path.join(repo, 'examples', 'urlshortener', 'proto'),
];
const files = [
  'plugin/v1/handshake.proto',
  'plugin/v1/registry.proto',
  'plugin/v1/lifecycle.proto',
  'plugin/v1/health.proto',
  'grpc/health/v1/health.proto',
  'capability/logger/v1/logger.proto',
  'kv/v1/kv.proto',
  'storage/v1/storage.proto',
  'api/v1/api.proto',
];

// Field names as in the .proto files; enums as numbers; 64-bit integers as
// strings; unset fields present with their defaults (as proto3 reads them).
function load() {
  const definition = protoLoader.loadSync(files, {
    includeDirs,
    keepCase: true,
    longs: String,
    enums: Number,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition);
}

module.exports = { load, includeDirs, files };
