export * from './volume-detector.ts';
