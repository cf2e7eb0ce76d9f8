/**
 * Names the processor's logs and EMF metrics are published under. Infra sets them in the function's
 * environment and alarms on metrics by them, so they are defined once here.
 */
export const TELEMETRY_NAMES = { service: "facility-pipeline", namespace: "FacilityPipeline" } as const;
