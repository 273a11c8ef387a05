import { pino, type Logger } from 'pino';
import { logLevel as KafkaLogLevel, type logCreator } from 'kafkajs';
import { COMMON_OPTIONS, readEnvOptions } from './config/index.ts';

const LOG_LEVEL = { logLevel: COMMON_OPTIONS.logLevel } as const;

/** The process logger: JSON lines; level from CHURNFEAT_LOG_LEVEL (default in config/option-table.ts; tests use fatal). */
export const logger: Logger = pino({ name: 'churnfeat', level: readEnvOptions(LOG_LEVEL).logLevel ?? COMMON_OPTIONS.logLevel.default });

const KAFKA_LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [KafkaLogLevel.ERROR]: 'error',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'info',
  [KafkaLogLevel.DEBUG]: 'debug',
};

/** Routes kafkajs' own logs into the process logger (one sink, one format). */
export const kafkaLogCreator: logCreator =
  () =>
  ({ namespace, level, log }) => {
    const { message, ...extra } = log;
    logger[KAFKA_LEVELS[level] ?? 'info']({ kafkajs: namespace, ...extra }, message);
  };
