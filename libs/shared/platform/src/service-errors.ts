import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { ApiErrorBody } from '@volt/contracts';
import type { Logger } from '@volt/telemetry';

/**
 * Every service's HTTP errors in the API's error body (seed 000's shape) rather than Nest's own:
 * an internal service serves only its ops endpoints, so most of what reaches this is a path it
 * does not have. The gateway registers its own filter after this one, and Nest lets the last
 * registered global filter answer.
 */
@Catch()
export class ServiceExceptionFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const status = exception instanceof HttpException ? exception.getStatus() : 500;
    const body: ApiErrorBody =
      status === 404
        ? { error: true, status, message: 'Not found. This service serves GET /health, /ready and /metrics.', code: 'NOT_FOUND' }
        : status < 500
          ? { error: true, status, message: 'Bad request.', code: 'VALIDATION_ERROR' }
          : { error: true, status: 500, message: 'Unexpected server error.', code: 'INTERNAL_ERROR' };
    if (status >= 500) this.logger.error({ err: exception }, 'request failed');
    void host.switchToHttp().getResponse<FastifyReply>().status(body.status).header('content-type', 'application/json; charset=utf-8').send(body);
  }
}
