export * from './side-topic-sender.ts';
export * from './topics.ts';
