import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { Telemetry } from "../core/ports";
import { TELEMETRY_NAMES } from "./telemetry-names";

export interface LambdaTelemetry extends Telemetry {
  /** Emits the invocation's metrics (CloudWatch embedded metric format, through the log). */
  flush(): void;
}

/**
 * Structured JSON logs and EMF metrics through Powertools. The core only ever passes keys, counts and
 * error messages here, never record contents.
 */
export function powertoolsTelemetry(): LambdaTelemetry {
  const logger = new Logger({ serviceName: TELEMETRY_NAMES.service });
  const metrics = new Metrics({ namespace: TELEMETRY_NAMES.namespace, serviceName: TELEMETRY_NAMES.service });
  return {
    info: (message, fields) => logger.info(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    error: (message, fields) => logger.error(message, fields ?? {}),
    count: (metric, value) => metrics.addMetric(metric, MetricUnit.Count, value),
    milliseconds: (metric, value) => metrics.addMetric(metric, MetricUnit.Milliseconds, value),
    bytes: (metric, value) => metrics.addMetric(metric, MetricUnit.Bytes, value),
    flush: () => metrics.publishStoredMetrics(),
  };
}
