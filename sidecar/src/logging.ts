import { pino, type Logger } from 'pino';
import { logLevel as KafkaLogLevel, type logCreator } from 'kafkajs';

/** The process logger: JSON lines; level from CHURNFEAT_LOG_LEVEL (default info; tests use warn). */
export const logger: Logger = pino({ name: 'churnfeat', level: process.env.CHURNFEAT_LOG_LEVEL ?? 'info' });

const KAFKA_LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [KafkaLogLevel.ERROR]: 'error',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'info',
  [KafkaLogLevel.DEBUG]: 'debug',
};

/** Routes kafkajs' own logs into the process logger (one sink, one format). */
export const kafkaLogCreator: logCreator = () => ({ namespace, level, log }) => {
  const { message, ...extra } = log;
  logger[KAFKA_LEVELS[level] ?? 'info']({ kafkajs: namespace, ...extra }, message);
};
