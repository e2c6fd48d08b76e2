import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common';
import { retry, throwError, timer, type Observable } from 'rxjs';
import { counter } from '@volt/telemetry';
import { isDatabaseUnavailable } from './error-handling';

const retried = counter('volt_gateway_read_retries_total', 'GET handlers run again because their database session ended under them');

/**
 * A GET changes nothing, so one whose database session ended under it (a PostgreSQL restart or
 * failover, a killed backend) runs once more on a fresh connection rather than answer 503: a
 * moment's cut costs the caller a few milliseconds, not a retry of their own. Writes are not
 * repeated here; commands carry their own ids and are redelivered by JetStream.
 */
export class RetryReadsInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.switchToHttp().getRequest<{ method: string }>().method !== 'GET') return next.handle();
    // Nest defers the handler, so subscribing again runs it again.
    return next.handle().pipe(
      retry({
        count: 1,
        delay: (error: unknown) => {
          if (!isDatabaseUnavailable(error)) return throwError(() => error);
          retried.inc();
          return timer(20);
        },
      }),
    );
  }
}
