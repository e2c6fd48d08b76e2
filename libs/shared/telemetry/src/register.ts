// Loaded with `node --require @volt/telemetry/register` so the SDK starts before anything is imported.
import { startTelemetry } from './sdk';

startTelemetry(process.env.OTEL_SERVICE_NAME ?? process.env.VOLT_SERVICE ?? 'volt');
