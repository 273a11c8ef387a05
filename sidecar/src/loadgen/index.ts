export { EventStream, padToSize, STREAM_CLIENT_MIX, type Arrival, type EventSize, type EventStreamOptions, type StreamRecord } from './event-stream.ts';
export { KafkaSink, type KafkaSinkOptions } from './kafka-sink.ts';
export { fromNdjsonLine, NdjsonWriter, readNdjson, toNdjsonLine, type NdjsonLine } from './ndjson.ts';
export { Pacer } from './pacer.ts';
export { runLoad, type LoadRunOptions, type LoadSummary, type RecordSink } from './run-load.ts';
export { generateWorkload, hex, pick, prng, uuid, type WorkloadOptions, type WorkloadRecord } from './workload.ts';
